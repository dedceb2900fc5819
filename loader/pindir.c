// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * `ip netns exec` runs its command in a new mount namespace with a fresh
 * /sys, where /sys/fs/bpf is an empty directory. A bpffs mounted there would
 * vanish with the command, and the pins with it. So when the pin directory's
 * parent is not a bpffs, xdpfwd looks for the nearest ancestor process in
 * another mount namespace (the shell that ran `ip netns exec`) that has a
 * bpffs at that path, and pins there through /proc/PID/root: the pins outlive
 * the command, as they must. Only when there is none does it mount a bpffs
 * itself; in the host's mount namespace that mount stays.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
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

static int ensure_bpffs(struct pindir *pd)
{
	char parent[PATH_MAX], via[PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", pd->path);
	slash = strrchr(parent, '/');
	if (pd->path[0] != '/' || !slash || slash == parent) {
		pr_warn("pin directory '%s': give an absolute path below a bpffs mount, like %s\n",
			pd->path, XDPFWD_DEFAULT_PIN_DIR);
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
	if (mount("bpf", parent, "bpf", 0, "mode=0700")) {
		pr_warn("pin directory '%s': %s is not a bpffs and mounting one failed: %s\n",
			pd->path, parent, strerror(errno));
		return -errno;
	}
	pr_info("mounted a bpffs at %s\n", parent);
	return 0;
}

int pindir_open(struct pindir *pd, const char *requested, bool create)
{
	const char *path = requested ? requested : getenv("XDPFWD_PIN_DIR");
	int err;

	pd->lock_fd = -1;
	if (!path || !*path)
		path = XDPFWD_DEFAULT_PIN_DIR;
	if (strlen(path) >= sizeof(pd->path) - 16) {
		pr_warn("pin directory '%s' is too long\n", path);
		return -ENAMETOOLONG;
	}
	snprintf(pd->path, sizeof(pd->path), "%s", path);
	err = ensure_bpffs(pd);
	if (err)
		return err;
	if (create && mkdir(pd->path, 0700) && errno != EEXIST) {
		err = -errno;
		pr_warn("pin directory '%s': cannot create it: %s\n", pd->path, strerror(errno));
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
		pr_warn("pin directory '%s': cannot lock it: %s\n", pd->path, strerror(errno));
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

__u64 current_netns_ino(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : st.st_ino;
}

#define XDPFWD_MAP_PIN(field, name) {name, offsetof(struct xdpfwd_maps, field)},
static const struct {
	const char *name;
	size_t offset; /* of its file descriptor in struct xdpfwd_maps */
} user_maps[] = {XDPFWD_USER_MAPS(XDPFWD_MAP_PIN)};
#undef XDPFWD_MAP_PIN
#define USER_MAPS (sizeof(user_maps) / sizeof(user_maps[0]))

static int *map_fd(struct xdpfwd_maps *maps, size_t i)
{
	return (int *)((char *)maps + user_maps[i].offset);
}

void maps_close(struct xdpfwd_maps *maps)
{
	for (size_t i = 0; i < USER_MAPS; i++) {
		if (*map_fd(maps, i) >= 0)
			close(*map_fd(maps, i));
		*map_fd(maps, i) = -1;
	}
}

int maps_open(const struct pindir *pd, struct xdpfwd_maps *maps, struct xdpfwd_config *config)
{
	char path[PATH_MAX + 32];
	__u32 zero = 0;

	for (size_t i = 0; i < USER_MAPS; i++)
		*map_fd(maps, i) = -1;
	for (size_t i = 0; i < USER_MAPS; i++) {
		pindir_file(pd, user_maps[i].name, path, sizeof(path));
		*map_fd(maps, i) = bpf_obj_get(path);
		if (*map_fd(maps, i) < 0) {
			int err = -errno;

			if (err == -ENOENT)
				pr_warn(
				    "no xdpfwd state in %s: run 'xdpfwd attach IFACE --tunnel IFACE' first\n",
				    pd->path);
			else
				pr_warn("cannot open %s: %s\n", path, strerror(-err));
			maps_close(maps);
			return err;
		}
	}
	if (bpf_map_lookup_elem(maps->config, &zero, config)) {
		pr_warn("cannot read %s/%s: %s\n", pd->path, XDPFWD_MAP_CONFIG, strerror(errno));
		maps_close(maps);
		return -EIO;
	}
	if (config->netns_ino && config->netns_ino != current_netns_ino()) {
		pr_warn(
		    "the state in %s belongs to another network namespace: give this one its own --pin-dir\n",
		    pd->path);
		maps_close(maps);
		return -EXDEV;
	}
	return 0;
}

int local_addrs_read(unsigned int ifindex, struct local_addrs *out)
{
	char name[IF_NAMESIZE];
	struct ifaddrs *ifa, *it;

	memset(out, 0, sizeof(*out));
	if (!ifindex || !if_indextoname(ifindex, name))
		return -ENODEV;
	if (getifaddrs(&ifa))
		return -errno;
	/* Two passes: IPv4 first, so a wildcard answers from the first of each. */
	for (int pass = 0; pass < 2; pass++) {
		int family = pass == 0 ? AF_INET : AF_INET6;

		for (it = ifa; it; it = it->ifa_next) {
			size_t n = out->count;

			if (!it->ifa_addr || it->ifa_addr->sa_family != family ||
			    strcmp(it->ifa_name, name) ||
			    n == sizeof(out->entry) / sizeof(out->entry[0]))
				continue;
			if (family == AF_INET) {
				out->entry[n].addr.v4 =
				    ((struct sockaddr_in *)it->ifa_addr)->sin_addr.s_addr;
			} else {
				const struct in6_addr *a =
				    &((struct sockaddr_in6 *)it->ifa_addr)->sin6_addr;

				if (IN6_IS_ADDR_LINKLOCAL(a))
					continue; /* not an address anyone outside can use */
				memcpy(out->entry[n].addr.bytes, a, 16);
			}
			out->entry[n].family = family;
			out->count++;
		}
	}
	freeifaddrs(ifa);
	return 0;
}
