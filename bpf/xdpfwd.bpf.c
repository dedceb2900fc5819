// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * xdpfwd.bpf.c - the entry points. xdpfwd_in runs as XDP on the public
 * interface and forwards mapped ports to their targets; xdpfwd_out runs as tc
 * on the public interface's egress and gives the targets' packets the public
 * endpoint as their source. The logic lives in lib/, by concern.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lib/nat.h"

SEC("xdp")
int xdpfwd_in(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xdpfwd_nat *nat;
	struct packet pkt;
	int stat;

	stat = parse_packet(data, data_end, &pkt);
	if (stat != XDPFWD_STAT_IN_FORWARDED) {
		count_stat(stat);
		return XDP_PASS;
	}
	nat = lookup_inbound(&pkt);
	if (!nat) {
		count_stat(XDPFWD_STAT_IN_PASS_NO_MAPPING);
		return XDP_PASS;
	}
	rewrite_destination(&pkt, nat);
	count_rx(nat->slot, pkt.ip_bytes);
	count_stat(XDPFWD_STAT_IN_FORWARDED);
	return XDP_PASS;
}

/* Every packet goes on with TC_ACT_UNSPEC: any later filter still decides.
 * Headers a packet may need in the linear area: Ethernet, two VLAN tags, IPv6
 * with the longest extension chain we parse, TCP. */
#define XDPFWD_PULL_LEN 256

SEC("tc")
int xdpfwd_out(struct __sk_buff *skb)
{
	struct xdpfwd_nat *nat;
	struct packet pkt;
	int stat;

	stat = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &pkt);
	if (stat == XDPFWD_STAT_IN_PASS_TRUNCATED && skb->data_end - skb->data < skb->len) {
		bpf_skb_pull_data(skb, skb->len < XDPFWD_PULL_LEN ? skb->len : XDPFWD_PULL_LEN);
		stat = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &pkt);
	}
	if (stat != XDPFWD_STAT_IN_FORWARDED) {
		count_stat(stat + XDPFWD_STAT_OUT_OFFSET);
		return TC_ACT_UNSPEC;
	}
	nat = lookup_outbound(&pkt);
	if (!nat) {
		count_stat(XDPFWD_STAT_OUT_PASS_NO_MAPPING);
		return TC_ACT_UNSPEC;
	}
	if (rewrite_source(skb, &pkt, nat) == 0) {
		count_tx(nat->slot, pkt.ip_bytes);
		count_stat(XDPFWD_STAT_OUT_REWRITTEN);
	} else {
		count_stat(XDPFWD_STAT_OUT_ERROR);
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
