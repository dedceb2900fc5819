// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * xdpfwd.bpf.c - the entry points. xdpfwd_in runs as XDP on the public
 * interface and forwards mapped ports to their targets; xdpfwd_out runs as tc
 * on the public interface's egress and gives the targets' packets the public
 * endpoint as their source. With the fast path, xdpfwd_to_tun (tc, public
 * ingress) takes XDP's note and redirects into the tunnel, and
 * xdpfwd_from_tun (tc, tunnel ingress) rewrites the client's packets and
 * sends them out directly. The logic lives in lib/, by concern.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lib/fastpath.h"
#include "lib/icmp.h"
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
	if (stat == XDPFWD_STAT_IN_PASS_NOT_TCP_UDP && is_icmp(&pkt)) {
		struct icmp_quote q;

		if (!parse_icmp_error(&pkt, data_end, &q) && (nat = icmp_lookup(&pkt, &q, false))) {
			translate_icmp_error(&pkt, &q, nat, false);
			count_rx(nat->slot, pkt.ip_bytes);
			count_stat(XDPFWD_STAT_IN_ICMP_ERROR);
			count_stat(XDPFWD_STAT_IN_FORWARDED);
			return send_inbound(ctx, &pkt);
		}
	}
	if (stat != XDPFWD_STAT_IN_FORWARDED) {
		count_stat(stat);
		return XDP_PASS;
	}
	nat = lookup_inbound(&pkt);
	if (!nat) {
		/* A later fragment unknown here came before its first or is
		 * not ours: it goes on as it is. */
		count_stat(pkt.frag == FRAG_LATER ? XDPFWD_STAT_IN_PASS_FRAGMENT
						  : XDPFWD_STAT_IN_PASS_NO_MAPPING);
		return XDP_PASS;
	}
	if (pkt.frag == FRAG_LATER)
		count_stat(XDPFWD_STAT_IN_FRAGMENT_FOLLOWED);
	frag_remember(&pkt, nat, false);
	rewrite_destination(&pkt, nat);
	count_rx(nat->slot, pkt.ip_bytes);
	count_stat(XDPFWD_STAT_IN_FORWARDED);
	return send_inbound(ctx, &pkt);
}

/* Metadata is only ever written by xdpfwd_in, which sees every frame first. */
SEC("tc")
int xdpfwd_to_tun(struct __sk_buff *skb)
{
	struct xdpfwd_meta *meta = (void *)(long)skb->data_meta;

	if ((void *)(meta + 1) > (void *)(long)skb->data || meta->magic != XDPFWD_META_MAGIC)
		return TC_ACT_UNSPEC;
	count_stat(XDPFWD_STAT_IN_TUNNEL_REDIRECTED);
	return bpf_redirect(meta->ifindex, 0);
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
	/* An ICMP error's quote must be in the linear area to be read. */
	if ((stat == XDPFWD_STAT_IN_PASS_TRUNCATED ||
	     (stat == XDPFWD_STAT_IN_PASS_NOT_TCP_UDP && is_icmp(&pkt))) &&
	    skb->data_end - skb->data < skb->len) {
		bpf_skb_pull_data(skb, skb->len < XDPFWD_PULL_LEN ? skb->len : XDPFWD_PULL_LEN);
		stat = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &pkt);
	}
	if (stat == XDPFWD_STAT_IN_PASS_NOT_TCP_UDP && is_icmp(&pkt)) {
		struct icmp_quote q;

		if (!parse_icmp_error(&pkt, (void *)(long)skb->data_end, &q) &&
		    (nat = icmp_lookup(&pkt, &q, true))) {
			translate_icmp_error(&pkt, &q, nat, true);
			count_tx(nat->slot, pkt.ip_bytes);
			count_stat(XDPFWD_STAT_OUT_ICMP_ERROR);
			return TC_ACT_UNSPEC;
		}
	}
	if (stat != XDPFWD_STAT_IN_FORWARDED) {
		count_stat(stat + XDPFWD_STAT_OUT_OFFSET);
		return TC_ACT_UNSPEC;
	}
	nat = lookup_outbound(&pkt);
	if (!nat) {
		/* With the fast path, what comes from the tunnel unmatched here
		 * is mostly what xdpfwd_from_tun already translated and sent. */
		count_stat(fast_path_on && skb->ingress_ifindex == tunnel_ifindex
			       ? XDPFWD_STAT_OUT_PASS_FROM_TUNNEL
			   : pkt.frag == FRAG_LATER ? XDPFWD_STAT_OUT_PASS_FRAGMENT
						    : XDPFWD_STAT_OUT_PASS_NO_MAPPING);
		return TC_ACT_UNSPEC;
	}
	if (pkt.frag == FRAG_LATER)
		count_stat(XDPFWD_STAT_OUT_FRAGMENT_FOLLOWED);
	frag_remember(&pkt, nat, true);
	if (rewrite_source(skb, &pkt, nat) == 0) {
		count_tx(nat->slot, pkt.ip_bytes);
		count_stat(XDPFWD_STAT_OUT_REWRITTEN);
	} else {
		count_stat(XDPFWD_STAT_OUT_ERROR);
	}
	return TC_ACT_UNSPEC;
}

/* The client's packets as they leave the tunnel, before routing. Whatever
 * this program does not send is left untouched for the stack, and
 * xdpfwd_out translates it on the way out as without the fast path. */
SEC("tc")
int xdpfwd_from_tun(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct xdpfwd_nat *nat;
	struct packet pkt;
	__u32 ttl_off;
	__u8 ttl;

	if (parse_ip(data, (void *)(long)skb->data_end, skb->protocol, &pkt) !=
	    XDPFWD_STAT_IN_FORWARDED)
		return TC_ACT_UNSPEC;
	nat = lookup_outbound(&pkt);
	if (!nat)
		return TC_ACT_UNSPEC;
	if (pkt.frag == FRAG_LATER)
		count_stat(XDPFWD_STAT_OUT_FRAGMENT_FOLLOWED);
	frag_remember(&pkt, nat, true);
	ttl = *hop_limit(&pkt);
	if (ttl <= 1) {
		count_stat(XDPFWD_STAT_OUT_STACK_TTL);
		return TC_ACT_UNSPEC;
	}
	ttl_off = (void *)hop_limit(&pkt) - data;
	if (pkt.family == AF_INET) {
		/* TTL and protocol share the checksummed 16-bit word. */
		__u32 check_off = pkt.l3 + offsetof(struct iphdr, check) - data;
		__be16 old = bpf_htons(ttl << 8 | pkt.proto),
		       new = bpf_htons((ttl - 1) << 8 | pkt.proto);

		if (bpf_l3_csum_replace(skb, check_off, old, new, sizeof(__be16)))
			goto error;
	}
	ttl--;
	if (bpf_skb_store_bytes(skb, ttl_off, &ttl, 1, 0))
		goto error;
	/* The stores moved the packet: find the fields again. */
	data = (void *)(long)skb->data;
	if (parse_ip(data, (void *)(long)skb->data_end, skb->protocol, &pkt) !=
	    XDPFWD_STAT_IN_FORWARDED)
		goto error;
	if (rewrite_source(skb, &pkt, nat))
		goto error;
	count_tx(nat->slot, pkt.ip_bytes);
	return send_outbound(skb, skb->protocol);
error:
	count_stat(XDPFWD_STAT_OUT_FAST_ERROR);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
