// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * `ip netns exec` runs its command in a new mount namespace with a fresh
 * /sys, where /sys/fs/bpf is an empty directory. A bpffs mounted there would
 * vanish with the command, and the pins with it. So when the pin directory's
 * parent is not a bpffs, xdpfwd looks for the nearest ancestor process in
 * another mount namespace (the shell that ran `ip netns exec`) that has a
 * bpffs at that path, and pins there through /proc/PID/root: the pins outlive
 * the command, as they must. Only when there is none does attach or serve
 * (PINDIR_CREATE) mount a bpffs itself; in the host's mount namespace that
 * mount stays. Every other command only opens what is pinned: with no bpffs
 * there, nothing is, and it says so without mounting one.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include "log.h"
#include "pindir.h"

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *close;
	FILE *f;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	/* "pid (comm) state ppid ...": comm may hold spaces, so skip to its ')'. */
	if (fgets(buf, sizeof(buf), f) && (close = strrchr(buf, ')')))
		sscanf(close + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid;
}

static ino_t mount_ns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	return stat(path, &st) ? 0 : st.st_ino;
}

/* PIN as seen through the root of the nearest ancestor in another mount
 * namespace, when PARENT is a bpffs there. */
static bool ancestor_bpffs(const char *parent, const char *pin, char *out, size_t len)
{
	ino_t self = mount_ns_of(getpid());
	char probe[PATH_MAX + 32];

	for (pid_t pid = getppid(); pid > 1; pid = parent_of(pid)) {
		ino_t ns = mount_ns_of(pid);

		if (!ns || ns == self)
			continue;
		snprintf(probe, sizeof(probe), "/proc/%d/root%s", (int)pid, parent);
		if (!is_bpffs(probe))
			return false;
		snprintf(out, len, "/proc/%d/root%s", (int)pid, pin);
		return true;
	}
	return false;
}

static int ensure_bpffs(struct pindir *pd, enum pindir_use use)
{
	char parent[PATH_MAX], via[PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", pd->path);
	slash = strrchr(parent, '/');
	if (pd->path[0] != '/' || !slash || slash == parent) {
		pr_warn("pin directory '%s': give an absolute path below a bpffs mount, like %s\n",
			pd->shown, XDPFWD_DEFAULT_PIN_DIR);
		return -EINVAL;
	}
	*slash = '\0';
	if (is_bpffs(parent))
		return 0;
	if (ancestor_bpffs(parent, pd->path, via, sizeof(via))) {
		pr_info("%s is not a bpffs in this mount namespace; using %s\n", parent, via);
		snprintf(pd->path, sizeof(pd->path), "%s", via);
		return 0;
	}
	if (use != PINDIR_CREATE) {
		pr_warn("nothing is pinned in the pin directory %s: %s is not a bpffs: run "
			"'xdpfwd attach IFACE --tunnel IFACE' first\n",
			pd->shown, parent);
		return -ENOENT;
	}
	if (mount("bpf", parent, "bpf", 0, "mode=0700")) {
		pr_warn("pin directory '%s': %s is not a bpffs and mounting one failed: %s\n",
			pd->shown, parent, strerror(errno));
		return -errno;
	}
	pr_info("mounted a bpffs at %s\n", parent);
	return 0;
}

int pindir_open(struct pindir *pd, const char *requested, enum pindir_use use)
{
	const char *path = requested ? requested : getenv("XDPFWD_PIN_DIR");
	int err;

	pd->lock_fd = -1;
	if (!path || !*path)
		path = XDPFWD_DEFAULT_PIN_DIR;
	if (strlen(path) >= sizeof(pd->path) - 64) {
		pr_warn("pin directory '%s' is too long: at most %zu characters\n", path,
			sizeof(pd->path) - 65);
		return -ENAMETOOLONG;
	}
	snprintf(pd->path, sizeof(pd->path), "%s", path);
	snprintf(pd->shown, sizeof(pd->shown), "%s", path);
	err = ensure_bpffs(pd, use);
	if (err)
		return err;
	if (use == PINDIR_CREATE && mkdir(pd->path, 0700) && errno != EEXIST) {
		err = -errno;
		pr_warn("pin directory '%s': cannot create it: %s\n", pd->shown, strerror(errno));
		return err;
	}
	return 0;
}

void pindir_close(struct pindir *pd)
{
	if (pd->lock_fd >= 0)
		close(pd->lock_fd);
	pd->lock_fd = -1;
}

int pindir_lock(struct pindir *pd)
{
	if (pd->lock_fd >= 0)
		return 0; /* held already: a second flock would wait for ourselves */
	pd->lock_fd = open(pd->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pd->lock_fd < 0 || flock(pd->lock_fd, LOCK_EX)) {
		pr_warn("pin directory '%s': cannot lock it: %s\n", pd->shown, strerror(errno));
		return -errno;
	}
	return 0;
}

void pindir_unlock(struct pindir *pd)
{
	if (pd->lock_fd >= 0)
		close(pd->lock_fd); /* the flock goes with it */
	pd->lock_fd = -1;
}

void pindir_file(const struct pindir *pd, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pd->path, name);
}
