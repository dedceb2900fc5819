// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * xdpfwd.bpf.c - the entry points. xdpfwd_in runs as XDP on the public
 * interface and forwards mapped ports to their targets; xdpfwd_out runs as tc
 * on the public interface's egress and gives the targets' packets the public
 * endpoint as their source. With the fast path, xdpfwd_to_tun (tc, public
 * ingress) takes XDP's note and redirects into the tunnel, and
 * xdpfwd_from_tun (tc, tunnel ingress) rewrites the client's packets and
 * sends them out directly. Each entry point reads as its steps; the steps
 * that only one entry point takes sit above it, and the logic they call
 * lives in lib/, by concern. A step returns the verdict to end with, or
 * XDPFWD_GO_ON when the next step takes the packet.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "lib/consts.h"
#include "lib/fastpath.h"
#include "lib/hairpin.h"
#include "lib/icmp.h"
#include "lib/nat.h"
#include "lib/policy.h"
#include "lib/stack.h"
#include "lib/tunnel.h"

/* xdpfwd_in, an ICMP or ICMPv6 packet: an error about a mapped flow is
 * translated like the flow and forwarded (icmp.h); anything else goes on. */
static __always_inline int in_icmp_error(struct xdp_md *ctx, struct packet *pkt, void *data_end)
{
	struct xdpfwd_nat *nat;
	struct icmp_quote q;

	if (parse_icmp_error(pkt, (void *)(long)ctx->data, data_end, &q) ||
	    !(nat = icmp_lookup(pkt, &q, false)))
		return XDPFWD_GO_ON;
	/* About a packet of a flow the stack owns: its owner's. */
	if (stack_flow_in(ctx, nat->slot, STACK_OWNS_ICMP_QUOTE))
		return stack_exit(XDPFWD_STAT_IN_PASS_STACK_OWNED);
	/* The error is about a packet the client sent to the quoted
	 * destination: one the allowlist must admit. */
	if ((nat->policy & XDPFWD_POLICY_ALLOW) &&
	    !source_allowed(nat->slot, pkt->family, q.daddr)) {
		count_drop(nat->slot, false);
		count_stat(XDPFWD_STAT_IN_DROP_NOT_ALLOWED);
		return XDP_DROP;
	}
	translate_icmp_error(pkt, &q, nat, false);
	count_rx(nat->slot, pkt->ip_bytes);
	count_stat(XDPFWD_STAT_IN_ICMP_ERROR);
	count_stat(XDPFWD_STAT_IN_FORWARDED);
	return send_inbound(ctx, pkt);
}

/* xdpfwd_in, a packet no mapping takes. A later fragment unknown here came
 * before its first or is not ours: it goes on as it is, and a copy waits for
 * a first that may come (frag.h). */
static __always_inline int in_unmapped(struct xdp_md *ctx, const struct packet *pkt)
{
	if (pkt->frag != FRAG_LATER)
		return stack_exit(XDPFWD_STAT_IN_PASS_NO_MAPPING);
	count_stat(XDPFWD_STAT_IN_PASS_FRAGMENT);
	return stack_exit(frag_hold(ctx, pkt));
}

/* xdpfwd_in, a packet its mapping admitted: rewritten, counted, and on to the
 * target (fastpath.h), or through the stack with the fragments that came
 * ahead of it (frag.h). */
static __always_inline int in_forward(struct xdp_md *ctx, struct packet *pkt,
				      struct xdpfwd_nat *nat)
{
	struct xdpfwd_replay note;
	int replay;

	if (pkt->frag == FRAG_LATER)
		count_stat(XDPFWD_STAT_IN_FRAGMENT_FOLLOWED);
	else
		stack_flow_in(ctx, nat->slot, STACK_FORGET_ON_SYN);
	replay = frag_ahead(pkt, nat->slot, &note);
	frag_remember(pkt, nat, false);
	rewrite_destination(pkt, nat);
	count_rx(nat->slot, pkt->ip_bytes);
	count_stat(XDPFWD_STAT_IN_FORWARDED);
	if (replay) {
		frag_mark_via_stack(&note);
		return frag_replay_exit(ctx, &note);
	}
	/* A follower of a replayed first goes where it went (frag.h). */
	if (fast_path_on && (nat->policy & XDPFWD_NAT_VIA_STACK))
		return stack_exit(XDPFWD_STAT_IN_STACK_FRAGMENT_REPLAY);
	return send_inbound(ctx, pkt);
}

SEC("xdp")
int xdpfwd_in(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct xdpfwd_nat *nat;
	struct packet pkt;
	int res, verdict;

	res = parse_packet(data, data_end, &pkt);
	if (res == PARSE_NOT_TCP_UDP && is_icmp(&pkt)) {
		verdict = in_icmp_error(ctx, &pkt, data_end);
		if (verdict != XDPFWD_GO_ON)
			return verdict;
	}
	if (res != PARSE_OK)
		return stack_exit(parse_reason_in(res));
	nat = lookup_inbound(&pkt);
	if (!nat)
		return in_unmapped(ctx, &pkt);
	/* A later fragment follows its first, which was checked. */
	if (pkt.frag != FRAG_LATER && stack_flow_in(ctx, nat->slot, STACK_OWNS))
		return stack_exit(XDPFWD_STAT_IN_PASS_STACK_OWNED);
	verdict = policy_check(nat, &pkt);
	if (verdict) {
		count_stat(verdict);
		return XDP_DROP;
	}
	return in_forward(ctx, &pkt, nat);
}

/* Metadata is only ever written by xdpfwd_in, which sees every frame first.
 * Attached in both modes: the fast path's note sends the packet into the
 * tunnel; a replay note (frag.h) sends a first fragment and the fragments
 * that came ahead of it into the stack. */
SEC("tc")
int xdpfwd_to_tun(struct __sk_buff *skb)
{
	struct xdpfwd_meta *meta = (void *)(long)skb->data_meta;

	if ((void *)(meta + 1) > (void *)(long)skb->data)
		return TC_ACT_UNSPEC;
	if (meta->magic != XDPFWD_META_MAGIC)
		return meta->magic == XDPFWD_REPLAY_MAGIC ? frag_replay(skb) : TC_ACT_UNSPEC;
	count_stat(XDPFWD_STAT_IN_TUNNEL_REDIRECTED);
	return redirect_to_tunnel(meta->ifindex);
}

/* xdpfwd_out: the packet parsed, its headers pulled into the linear area
 * first when an ICMP error's quote may lie past it. */
static __always_inline int out_parse(struct __sk_buff *skb, struct packet *pkt)
{
	int res = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, pkt);

	if ((res == PARSE_TRUNCATED || (res == PARSE_NOT_TCP_UDP && is_icmp(pkt))) &&
	    skb->data_end - skb->data < skb->len) {
		bpf_skb_pull_data(skb, skb->len < XDPFWD_PULL_LEN ? skb->len : XDPFWD_PULL_LEN);
		res = parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, pkt);
	}
	return res;
}

/* xdpfwd_out, a packet no mapping translates: a flow of the stack is learned
 * (stack.h), everything is counted by why it went untouched. */
static __always_inline int out_unmapped(struct __sk_buff *skb, const struct packet *pkt)
{
	bool translated = skb->tc_index == XDPFWD_TC_INDEX_TRANSLATED;

	/* Leaving with a mapped public endpoint as source, and not translated
	 * by xdpfwd: a flow of the stack. */
	if (!translated && pkt->frag != FRAG_LATER && stack_learn_outbound(pkt)) {
		count_stat(XDPFWD_STAT_OUT_STACK_FLOW);
		return TC_ACT_UNSPEC;
	}
	/* With the fast path, what comes from the tunnel unmatched here is
	 * mostly what xdpfwd_from_tun already translated and sent. */
	count_stat(fast_path_on && skb->ingress_ifindex == tunnel_ifindex
		       ? XDPFWD_STAT_OUT_PASS_FROM_TUNNEL
		   : pkt->frag == FRAG_LATER ? XDPFWD_STAT_OUT_PASS_FRAGMENT
					     : XDPFWD_STAT_OUT_PASS_NO_MAPPING);
	return TC_ACT_UNSPEC;
}

/* Every packet goes on with TC_ACT_UNSPEC: any later filter still decides. */
SEC("tc")
int xdpfwd_out(struct __sk_buff *skb)
{
	struct xdpfwd_nat *nat;
	struct packet pkt;
	int res;

	res = out_parse(skb, &pkt);
	if (res == PARSE_NOT_TCP_UDP && is_icmp(&pkt)) {
		struct icmp_quote q;

		if (!parse_icmp_error(&pkt, (void *)(long)skb->data, (void *)(long)skb->data_end,
				      &q) &&
		    (nat = icmp_lookup(&pkt, &q, true))) {
			translate_icmp_error(&pkt, &q, nat, true);
			count_tx(nat->slot, pkt.ip_bytes);
			count_stat(XDPFWD_STAT_OUT_ICMP_ERROR);
			return TC_ACT_UNSPEC;
		}
	}
	if (res != PARSE_OK) {
		count_stat(parse_reason_out(res));
		return TC_ACT_UNSPEC;
	}
	nat = lookup_outbound(&pkt);
	if (!nat)
		return out_unmapped(skb, &pkt);
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

/* Where tun_route() sends a mapped client's packet. */
enum { TUN_PUBLIC, TUN_TUNNEL, TUN_OWN_HAIRPIN, TUN_LOCAL, TUN_STACK };

/*
 * xdpfwd_from_tun, a mapped client's packet: where the routing table sends
 * it. TUN_PUBLIC: out of the public interface, within the route's MTU.
 * TUN_TUNNEL: back into the tunnel (another client), whatever its size.
 * TUN_OWN_HAIRPIN: to this server, the answer of an own-port hairpin flow.
 * TUN_LOCAL: to this server otherwise. TUN_STACK: anything the stack must
 * take untouched, with the counter saying why in *REASON.
 */
static __always_inline int tun_route(struct __sk_buff *skb, const struct packet *pkt, __u32 *reason)
{
	__u32 egress = 0;
	int rc;

	rc = fib_egress(skb, pkt, wire_len(skb, pkt), &egress);
	if (rc == BPF_FIB_LKUP_RET_NOT_FWDED)
		return own_hairpin_answer(pkt) ? TUN_OWN_HAIRPIN : TUN_LOCAL;
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* Above the route's MTU, which the FIB's answer does not say
		 * the egress of: back into the tunnel it came through is a
		 * hairpin still; anywhere else is the stack's to cut or
		 * refuse. */
		rc = fib_egress(skb, pkt, 0, &egress);
		if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
		     rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) ||
		    egress != tunnel_ifindex) {
			*reason = XDPFWD_STAT_OUT_STACK_MTU;
			return TUN_STACK;
		}
		return TUN_TUNNEL;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		*reason = XDPFWD_STAT_OUT_STACK_NO_ROUTE;
		return TUN_STACK;
	}
	if (egress == tunnel_ifindex)
		return TUN_TUNNEL;
	if (egress == public_ifindex)
		return TUN_PUBLIC;
	*reason = XDPFWD_STAT_OUT_STACK_NOT_PUBLIC;
	return TUN_STACK;
}

/*
 * The client's packets as they leave the tunnel, before routing; attached in
 * both modes. A packet from a mapped endpoint goes where the routing table
 * says (tun_route), and only what leaves through the public interface gets
 * the public endpoint as source:
 *  - to this server (the FIB does not forward it): the answer of an own-port
 *    hairpin flow goes back to its client, from the public endpoint; a
 *    packet to a public endpoint of this server is a hairpin (hairpin.h);
 *    anything else (a resolver on the tunnel's address, say) reaches the
 *    server's own socket untouched (out_stack_local);
 *  - back into the tunnel (another client): hairpin, rewritten and
 *    redirected there (the stack would take the public source for a martian);
 *  - out of the public interface: with the fast path, rewritten and sent with
 *    bpf_redirect_neigh if it fits the route's MTU, else left to the stack
 *    untouched (out_stack_mtu), which fragments it or sends the client
 *    "fragmentation needed" / "packet too big" quoting its own packet, and
 *    xdpfwd_out translates what leaves;
 *  - out of another interface (a LAN the server routes), or nowhere (a
 *    blackhole, unreachable or prohibited route, forwarding off): the stack,
 *    untouched (out_stack_not_public, out_stack_no_route).
 * A packet from an unmapped endpoint to a public endpoint of this server is a
 * hairpin too; everything else is the stack's.
 */
SEC("tc")
int xdpfwd_from_tun(struct __sk_buff *skb)
{
	struct xdpfwd_nat *nat, *in;
	__u32 reason = 0, egress = 0;
	bool hairpin, own_hairpin;
	struct packet pkt;
	int route;

	if (parse_tunnel(skb, &pkt) != PARSE_OK || pkt.vlan_tagged)
		return TC_ACT_UNSPEC;
	nat = lookup_outbound(&pkt);
	if (!nat) {
		/* To a public endpoint, and to this server: the FIB says the
		 * destination is one of its own addresses. */
		in = lookup_inbound(&pkt);
		if (!in || fib_egress(skb, &pkt, 0, &egress) != BPF_FIB_LKUP_RET_NOT_FWDED)
			return TC_ACT_UNSPEC;
		return hairpin_in(skb, &pkt, in);
	}
	route = tun_route(skb, &pkt, &reason);
	if (route == TUN_LOCAL) {
		in = lookup_inbound(&pkt);
		return in ? hairpin_in(skb, &pkt, in) : stack_out(XDPFWD_STAT_OUT_STACK_LOCAL);
	}
	if (route == TUN_STACK)
		return stack_out(reason);
	own_hairpin = route == TUN_OWN_HAIRPIN;
	hairpin = route != TUN_PUBLIC;
	if (!fast_path_on && !hairpin)
		return TC_ACT_UNSPEC;
	if (pkt.frag == FRAG_LATER)
		count_stat(XDPFWD_STAT_OUT_FRAGMENT_FOLLOWED);
	frag_remember(&pkt, nat, true);
	if (*hop_limit(&pkt) <= 1) {
		count_stat(XDPFWD_STAT_OUT_STACK_TTL); /* the stack sends time exceeded */
		return TC_ACT_UNSPEC;
	}
	if (tun_decrement_ttl(skb, &pkt) || (own_hairpin && hairpin_to_client(skb, &pkt)) ||
	    rewrite_source(skb, &pkt, nat)) {
		count_stat(XDPFWD_STAT_OUT_FAST_ERROR);
		return TC_ACT_SHOT;
	}
	count_tx(nat->slot, pkt.ip_bytes);
	if (hairpin) {
		count_stat(XDPFWD_STAT_OUT_HAIRPIN);
		return redirect_to_tunnel(tunnel_ifindex);
	}
	skb->tc_index = XDPFWD_TC_INDEX_TRANSLATED; /* not the stack's flow (stack.h) */
	return send_outbound(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
