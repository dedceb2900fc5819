// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * ctlbench - the control plane's library calls timed in one process, as the
 * daemon will make them (bench/control.sh runs it):
 *
 *   ctlbench renew RUNS BATCH   RUNS batches of BATCH lease renewals through
 *                               renew_batch(): each batch's microseconds
 *   ctlbench sync RUNS          a 100-byte append and fdatasync() in the state
 *                               directory: the sync's own microseconds
 *
 * The pin directory and state file are those of $XDPFWD_PIN_DIR and
 * $XDPFWD_STATE_DIR; the table must hold mappings with a lease (ttl=). Each
 * batch takes the pin directory's lock, as every writer does.
 * One number a line on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "change.h"
#include "log.h"
#include "pindir.h"
#include "pinned_maps.h"

static __u64 now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static int bench_sync(const char *state, int runs)
{
	char path[PATH_MAX + 16], rec[100];
	int fd;

	snprintf(path, sizeof(path), "%s.bench", state);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return 1;
	memset(rec, 'x', sizeof(rec));
	for (int r = 0; r < runs; r++) {
		__u64 t0 = now_us();

		if (write(fd, rec, sizeof(rec)) != sizeof(rec) || fdatasync(fd))
			break;
		printf("%llu\n", (unsigned long long)(now_us() - t0));
	}
	close(fd);
	unlink(path);
	return 0;
}

/* RUNS batches of BATCH renewals of the leased mappings of MAPS, from a
 * random place in the table each. */
static int bench_renew(struct pindir *pd, const struct xdpfwd_maps *maps,
		       const struct xdpfwd_config *config, const char *state, int runs,
		       size_t batch)
{
	struct xdpfwd_mapping *keys;
	struct slot_mapping *list;
	size_t n, leased = 0;

	if (table_read(maps, &list, &n))
		return 1;
	keys = calloc(n + 1, sizeof(*keys));
	for (size_t i = 0; keys && i < n; i++)
		if (list[i].m.ttl)
			keys[leased++] = list[i].m;
	free(list);
	if (!keys || leased < batch) {
		fprintf(stderr, "ctlbench: %zu leased mappings, fewer than a batch\n", leased);
		free(keys);
		return 1;
	}
	for (int r = 0; r < runs; r++) {
		size_t from = (size_t)random() % (leased - batch + 1);
		struct apply_summary sum;
		__u64 t0 = now_us();
		int err;

		/* As the daemon: the lock for each batch, so that commands
		 * interleave. A key the table lost since is skipped. */
		err = pindir_lock(pd);
		err = err ?: renew_batch(maps, config, state, keys + from, batch, &sum);
		pindir_unlock(pd);
		if (err || !sum.renewed) {
			fprintf(stderr, "ctlbench: a batch renewed %zu of %zu\n", sum.renewed,
				batch);
			free(keys);
			return 1;
		}
		printf("%llu\n", (unsigned long long)(now_us() - t0));
	}
	free(keys);
	return 0;
}

int main(int argc, char **argv)
{
	struct xdpfwd_config config;
	struct xdpfwd_maps maps;
	struct pindir pd;
	char state[PATH_MAX + 64];
	int runs = argc > 2 ? atoi(argv[2]) : 0, ret;

	if (argc < 3 || (strcmp(argv[1], "renew") && strcmp(argv[1], "sync")) || runs < 1 ||
	    (!strcmp(argv[1], "renew") && (argc < 4 || atoi(argv[3]) < 1))) {
		fprintf(stderr, "usage: ctlbench renew RUNS BATCH | ctlbench sync RUNS\n");
		return 2;
	}
	if (pindir_open(&pd, NULL, PINDIR_EXISTING) || maps_open(&pd, &maps, &config))
		return 1;
	state_path(state, sizeof(state), NULL, pd.path);
	ret = !strcmp(argv[1], "sync")
		  ? bench_sync(state, runs)
		  : bench_renew(&pd, &maps, &config, state, runs, (size_t)atoi(argv[3]));
	maps_close(&maps);
	pindir_close(&pd);
	return ret;
}
