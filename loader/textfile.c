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

int read_text_file(const char *path, size_t max_bytes, char **text, char *err)
{
	struct stat st;
	size_t got = 0;
	int fd, ret = 0;

	*text = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, ERR_LEN, "cannot open '%s': %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size > max_bytes) {
		snprintf(err, ERR_LEN, "'%s' is not a regular file of at most %zu MiB", path,
			 max_bytes >> 20);
		close(fd);
		return -EINVAL;
	}
	*text = malloc(st.st_size + 1);
	if (!*text) {
		snprintf(err, ERR_LEN, "'%s': out of memory", path);
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *text + got, st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	close(fd);
	(*text)[got] = '\0';
	if (strlen(*text) != got) {
		snprintf(err, ERR_LEN, "'%s' holds a NUL byte: it is not a text file", path);
		ret = -EINVAL;
	} else if (got != (size_t)st.st_size) {
		snprintf(err, ERR_LEN, "'%s' could not be read whole", path);
		ret = -EIO;
	}
	if (ret) {
		free(*text);
		*text = NULL;
	}
	return ret;
}
