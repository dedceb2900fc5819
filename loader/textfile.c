// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "spec.h"
#include "textfile.h"

int read_file_bytes(const char *path, size_t max_bytes, char **bytes, size_t *len, char *err)
{
	struct stat st;
	size_t got = 0;
	int fd;

	*bytes = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int ret = -errno;

		snprintf(err, ERR_LEN, "cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
		snprintf(err, ERR_LEN, "'%s' is not a regular file of at most %zu MiB", path,
			 max_bytes >> 20);
		close(fd);
		return -EINVAL;
	}
	*bytes = malloc(st.st_size + 1);
	if (!*bytes) {
		snprintf(err, ERR_LEN, "'%s': out of memory", path);
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *bytes + got, st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	(*bytes)[got] = '\0';
	if (got != (size_t)st.st_size) {
		snprintf(err, ERR_LEN, "'%s' could not be read whole", path);
		free(*bytes);
		*bytes = NULL;
		return -EIO;
	}
	*len = got;
	return 0;
}

int read_text_file(const char *path, size_t max_bytes, char **text, char *err)
{
	size_t len;
	int ret = read_file_bytes(path, max_bytes, text, &len, err);

	if (!ret && *text && strlen(*text) != len) {
		snprintf(err, ERR_LEN, "'%s' holds a NUL byte: it is not a text file", path);
		free(*text);
		*text = NULL;
		ret = -EINVAL;
	}
	return ret;
}
