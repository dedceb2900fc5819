// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * trafgen.bpf.c - the benchmark's traffic, made in the kernel.
 *
 * gen_udp runs under BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: every run
 * writes a whole Ethernet + IPv4 + UDP header (the kernel recycles frames
 * without resetting them, and the forwarder rewrites them) for a flow picked
 * at random from FLOWS, and returns XDP_TX, which sends the frame out of the
 * generator's veth. A flow is one 5-tuple: flow i comes from address
 * saddr_base + i / 256, port 40000 + i % 256, and goes to mapped endpoint
 * i mod (ndaddr x ndports).
 * drop_all is the sink, and the baseline that measures the generator alone.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

const volatile __u8 dmac[ETH_ALEN], smac[ETH_ALEN];
const volatile __u32 flows = 1;		 /* distinct (source address, port) pairs */
const volatile __u32 saddr_base;	 /* host order */
const volatile __u32 daddr[2];		 /* network order */
const volatile __u32 ndaddr = 1;	 /* how many of daddr are used */
const volatile __u16 dport_base = 10000; /* host order */
const volatile __u32 ndports = 1;	 /* destination ports dport_base... */
const volatile __u16 ip_len = 46;	 /* IP total length: frame size - 14 */

SEC("xdp")
int gen_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 flow = bpf_get_prandom_u32() % flows, dst = flow % (ndaddr * ndports);
	__u16 *word = (void *)ip;
	__u32 sum = 0;

	if ((void *)(udp + 1) > data_end)
		return XDP_ABORTED;
		/* Byte by byte: a memcpy from the volatile array would be folded to
		 * the zeros it holds at compile time. */
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = dmac[i];
		eth->h_source[i] = smac[i];
	}
	eth->h_proto = bpf_htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(ip_len);
	ip->id = 0;
	ip->frag_off = bpf_htons(0x4000);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->check = 0;
	ip->saddr = bpf_htonl(saddr_base + (flow >> 8));
	ip->daddr = dst >= ndports ? daddr[1] : daddr[0];
#pragma unroll
	for (int i = 0; i < 10; i++)
		sum += word[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = ~sum;
	udp->source = bpf_htons(40000 + (flow & 0xff));
	udp->dest = bpf_htons(dport_base + dst % ndports);
	udp->len = bpf_htons(ip_len - sizeof(*ip));
	udp->check = 0; /* none: legal on IPv4, and no payload to sum */
	return XDP_TX;
}

SEC("xdp")
int drop_all(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
