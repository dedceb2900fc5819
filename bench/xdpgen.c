// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * xdpgen - the benchmark's generator and sinks.
 *
 *   xdpgen send IFACE SECONDS SIZE FLOWS SADDR DADDR[,DADDR] DPORT NDPORTS SMAC DMAC
 *       sends UDP frames of SIZE bytes out of IFACE for SECONDS with BPF_PROG_RUN
 *       and BPF_F_TEST_XDP_LIVE_FRAMES on the calling CPU, then prints how many.
 *   xdpgen drop IFACE      XDP_DROP everything arriving on IFACE until SIGTERM.
 *   xdpgen tun-sink NAME   create the TUN device NAME and read it empty until SIGTERM.
 *
 * No xdp-trafficgen: the Debian one does not load on this kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "trafgen.skel.h"

/* Frames per batch inside BPF_PROG_RUN (one NAPI budget). Every call swaps
 * the XDP dispatcher twice, each time waiting for an RCU grace period (the
 * CPU idles ~10 ms): calls are sized to last about a second. */
#define BATCH	     64
#define FIRST_CALL   (1 << 16)
#define MAX_CALL     (1 << 24)
#define CALL_SECONDS 1.0

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_mac(const char *s, volatile __u8 *mac)
{
	unsigned int b[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd_send(char **argv)
{
	unsigned int ifindex = if_nametoindex(argv[0]), size = atoi(argv[2]);
	double seconds = atof(argv[1]), start, end, t;
	struct trafgen_bpf *skel = trafgen_bpf__open();
	char daddrs[64], *second;
	struct in_addr a;
	unsigned long long sent = 0, repeat = FIRST_CALL;
	static __u8 frame[2048];
	struct xdp_md ctx = {0};
	int err;

	if (!ifindex || !skel || size < 42 || size > sizeof(frame)) {
		fprintf(stderr, "xdpgen: bad interface, size (42-2048) or BPF object\n");
		return 1;
	}
	skel->rodata->flows = atoi(argv[3]);
	inet_pton(AF_INET, argv[4], &a);
	skel->rodata->saddr_base = ntohl(a.s_addr);
	snprintf(daddrs, sizeof(daddrs), "%s", argv[5]);
	second = strchr(daddrs, ',');
	if (second)
		*second++ = '\0';
	inet_pton(AF_INET, daddrs, (void *)&skel->rodata->daddr[0]);
	if (second)
		inet_pton(AF_INET, second, (void *)&skel->rodata->daddr[1]);
	skel->rodata->ndaddr = second ? 2 : 1;
	skel->rodata->dport_base = atoi(argv[6]);
	skel->rodata->ndports = atoi(argv[7]);
	skel->rodata->ip_len = size - 14;
	if (parse_mac(argv[8], skel->rodata->smac) || parse_mac(argv[9], skel->rodata->dmac) ||
	    !skel->rodata->flows || !skel->rodata->ndports) {
		fprintf(stderr, "xdpgen: bad MAC address, flow or port count\n");
		return 1;
	}
	if (trafgen_bpf__load(skel)) {
		fprintf(stderr, "xdpgen: cannot load the generator: %s\n", strerror(errno));
		return 1;
	}
	ctx.data_end = size;
	ctx.ingress_ifindex = ifindex;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = size, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = BATCH);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	start = now();
	end = start + seconds;
	while (!stop && (t = now()) < end) {
		double left = end - t, rate = t > start ? sent / (t - start) : 0;

		if (rate > 0)
			repeat = rate * (left < CALL_SECONDS ? left : CALL_SECONDS);
		repeat = repeat < BATCH ? BATCH : repeat > MAX_CALL ? MAX_CALL : repeat;
		opts.repeat = repeat;
		err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.gen_udp), &opts);
		if (err) {
			fprintf(stderr, "xdpgen: BPF_PROG_RUN: %s\n", strerror(-err));
			return 1;
		}
		sent += repeat;
	}
	printf("%llu\n", sent);
	trafgen_bpf__destroy(skel);
	return 0;
}

static int cmd_drop(char **argv)
{
	unsigned int ifindex = if_nametoindex(argv[0]);
	struct trafgen_bpf *skel = trafgen_bpf__open_and_load();
	int err;

	if (!ifindex || !skel) {
		fprintf(stderr, "xdpgen: no interface '%s' or no BPF object\n", argv[0]);
		return 1;
	}
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.drop_all), XDP_FLAGS_DRV_MODE,
			     NULL);
	if (err) {
		fprintf(stderr, "xdpgen: cannot attach to %s: %s\n", argv[0], strerror(-err));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	printf("dropping on %s\n", argv[0]);
	fflush(stdout);
	while (!stop)
		pause();
	bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	trafgen_bpf__destroy(skel);
	return 0;
}

static int cmd_tun_sink(char **argv)
{
	struct ifreq ifr = {.ifr_flags = IFF_TUN | IFF_NO_PI};
	static char buf[65536];
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: read() returns */
	int fd = open("/dev/net/tun", O_RDWR);

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", argv[0]);
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr)) {
		fprintf(stderr, "xdpgen: cannot create TUN %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	printf("reading %s\n", argv[0]);
	fflush(stdout);
	while (!stop)
		if (read(fd, buf, sizeof(buf)) < 0 && errno != EINTR)
			break;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 12 && !strcmp(argv[1], "send"))
		return cmd_send(argv + 2);
	if (argc == 3 && !strcmp(argv[1], "drop"))
		return cmd_drop(argv + 2);
	if (argc == 3 && !strcmp(argv[1], "tun-sink"))
		return cmd_tun_sink(argv + 2);
	fprintf(stderr, "usage: xdpgen send IFACE SECONDS SIZE FLOWS SADDR DADDR[,DADDR] DPORT "
			"NDPORTS SMAC DMAC | drop IFACE | tun-sink NAME\n");
	return 2;
}
