// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * verifier.c - what loading a BPF object costs: for each program, the
 * verifier's own statistics (instructions processed, states, its time), and
 * the wall time of the whole load with and without the programs (the rest is
 * creating the maps). Used by bench/verifier.sh.
 *
 * Usage: verifier OBJECT [RUNS]. Prints one line per program, then
 * "maps-only MS" and "load MS" per run. Needs CAP_BPF and CAP_PERFMON
 * (root); nothing is pinned or attached.
 */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PROGS 8
#define LOG_BYTES (1 << 16)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The last line of LOG that starts with PREFIX, without its newline. */
static int print_stat(const char *log, const char *prefix)
{
	const char *s = strstr(log, prefix);

	if (!s)
		return -1;
	printf(" %.*s", (int)strcspn(s, "\n"), s);
	return 0;
}

/* One load of PATH: with the programs (their statistics printed) or not. */
static int load_once(const char *path, int with_programs, int print)
{
	static char logs[MAX_PROGS][LOG_BYTES];
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog;
	double started;
	int n = 0, err;

	if (!obj) {
		fprintf(stderr, "verifier: cannot open %s\n", path);
		return -1;
	}
	bpf_object__for_each_program (prog, obj) {
		if (n == MAX_PROGS || !with_programs) {
			bpf_program__set_autoload(prog, 0);
			continue;
		}
		logs[n][0] = '\0';
		bpf_program__set_log_level(prog, 4); /* statistics only */
		bpf_program__set_log_buf(prog, logs[n++], LOG_BYTES);
	}
	started = now_ms();
	err = bpf_object__load(obj);
	printf("%s %.0f\n", with_programs ? "load" : "maps-only", now_ms() - started);
	n = 0;
	bpf_object__for_each_program (prog, obj) {
		if (!with_programs || !print || n == MAX_PROGS)
			break;
		printf("program %s", bpf_program__name(prog));
		if (print_stat(logs[n], "processed") || print_stat(logs[n], "verification time"))
			err = err ? err : -1;
		printf("\n");
		n++;
	}
	bpf_object__close(obj);
	return err;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 1;

	if (argc < 2 || runs < 1) {
		fprintf(stderr, "usage: verifier OBJECT [RUNS]\n");
		return 2;
	}
	for (int i = 0; i < runs; i++) {
		if (load_once(argv[1], 1, i == 0) || load_once(argv[1], 0, 0))
			return 1;
	}
	return 0;
}
