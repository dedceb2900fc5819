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
#include "lib/policy.h"
#include "lib/stack.h"

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
			/* About a packet of a flow the stack owns: its owner's. */
			if (stack_flow_in(ctx, nat->slot, STACK_OWNS_ICMP_QUOTE)) {
				count_stat(XDPFWD_STAT_IN_PASS_STACK_OWNED);
				return XDP_PASS;
			}
			/* The error is about a packet the client sent to the
			 * quoted destination: one the allowlist must admit. */
			if ((nat->policy & XDPFWD_POLICY_ALLOW) &&
			    !source_allowed(nat->slot, pkt.family, q.daddr)) {
				count_drop(nat->slot, false);
				count_stat(XDPFWD_STAT_IN_DROP_NOT_ALLOWED);
				return XDP_DROP;
			}
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
	/* A later fragment follows its first, which was checked. */
	if (pkt.frag != FRAG_LATER && stack_flow_in(ctx, nat->slot, STACK_OWNS)) {
		count_stat(XDPFWD_STAT_IN_PASS_STACK_OWNED);
		return XDP_PASS;
	}
	stat = policy_check(nat, &pkt);
	if (stat) {
		count_stat(stat);
		return XDP_DROP;
	}
	if (pkt.frag == FRAG_LATER)
		count_stat(XDPFWD_STAT_IN_FRAGMENT_FOLLOWED);
	else
		stack_flow_in(ctx, nat->slot, STACK_FORGET_ON_SYN);
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
		bool translated = skb->tc_index == XDPFWD_TC_INDEX_TRANSLATED;

		/* Leaving with a mapped public endpoint as source, and not
		 * translated by xdpfwd: a flow of the stack (stack.h). */
		if (!translated && pkt.frag != FRAG_LATER && stack_learn_outbound(&pkt)) {
			count_stat(XDPFWD_STAT_OUT_STACK_FLOW);
			return TC_ACT_UNSPEC;
		}
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

/* Where the stack would send the packet: the FIB's answer and egress. */
static __always_inline int fib_egress(struct __sk_buff *skb, const struct packet *pkt,
				      __u32 *ifindex)
{
	struct bpf_fib_lookup fib;
	int rc;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = pkt->family;
	fib.l4_protocol = pkt->proto;
	fib.ifindex = skb->ingress_ifindex;
	if (pkt->family == AF_INET) {
		fib.ipv4_src = pkt->saddr[0];
		fib.ipv4_dst = pkt->daddr[0];
	} else {
		__builtin_memcpy(fib.ipv6_src, pkt->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, pkt->daddr, 16);
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	*ifindex = fib.ifindex;
	return rc;
}

static __always_inline bool same_addr(const struct packet *pkt, const __be32 *a,
				      const volatile union xdpfwd_addr *b)
{
	if (pkt->family == AF_INET)
		return a[0] == b->v4;
	return a[0] == b->v6_words[0] && a[1] == b->v6_words[1] && a[2] == b->v6_words[2] &&
	       a[3] == b->v6_words[3];
}

static __always_inline const volatile union xdpfwd_addr *tunnel_addr(const struct packet *pkt)
{
	const volatile union xdpfwd_addr *a =
	    pkt->family == AF_INET ? &tunnel_addr4 : &tunnel_addr6;

	return a->v6_words[0] || a->v6_words[1] || a->v6_words[2] || a->v6_words[3] ? a : NULL;
}

/* The address at ADDR (source or destination, DST) becomes NEW, port kept. */
static __always_inline int set_addr(struct __sk_buff *skb, struct packet *pkt, bool dst,
				    const volatile union xdpfwd_addr *new)
{
	__be16 *port = dst ? pkt->dport : pkt->sport;
	struct xdpfwd_nat nat = {};

	if (!port)
		return -1; /* a later fragment */
	nat.port = *port;

#pragma unroll
	for (int i = 0; i < 4; i++)
		nat.addr.v6_words[i] = new->v6_words[i];
	return rewrite_skb_endpoint(skb, pkt, &nat, dst);
}

static __always_inline int reparse(struct __sk_buff *skb, struct packet *pkt)
{
	return parse_ip((void *)(long)skb->data, (void *)(long)skb->data_end, skb->protocol, pkt) ==
		       XDPFWD_STAT_IN_FORWARDED
		   ? 0
		   : -1;
}

/*
 * The client's packets as they leave the tunnel, before routing; attached in
 * both modes. Hairpin, both ways: a client's packet to a public endpoint of
 * this server gets the mapping's target as destination and goes back into the
 * tunnel through the stack; the target's answer gets the public endpoint as
 * source and is redirected into the tunnel (the stack would take that source
 * for a martian). Another client's service sees the real client address; a
 * client reaching its own mapped port would answer itself directly, so its
 * source becomes the tunnel's own address (port kept), and the answer to that
 * address goes back to the client it came from. With the fast path,
 * everything else from a mapped endpoint is rewritten and sent out of the
 * public interface; whatever this program does not send is left untouched for
 * the stack, and xdpfwd_out translates it on the way out.
 */
SEC("tc")
int xdpfwd_from_tun(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	const volatile union xdpfwd_addr *own;
	struct xdpfwd_nat *nat;
	struct packet pkt;
	__u32 ttl_off, egress = 0;
	bool hairpin, own_hairpin;
	__u8 ttl;
	int rc;

	if (parse_ip(data, (void *)(long)skb->data_end, skb->protocol, &pkt) !=
	    XDPFWD_STAT_IN_FORWARDED)
		return TC_ACT_UNSPEC;
	nat = lookup_outbound(&pkt);
	if (!nat) {
		/* Exact mappings name the address; a wildcard's port matches
		 * any, so the destination must be this server's own. */
		nat = lookup_inbound(&pkt);
		if (!nat || fib_egress(skb, &pkt, &egress) != BPF_FIB_LKUP_RET_NOT_FWDED)
			return TC_ACT_UNSPEC;
		rc = policy_check(nat, &pkt);
		if (rc) {
			count_stat(rc);
			return TC_ACT_SHOT;
		}
		frag_remember(&pkt, nat, false);
		if (rewrite_skb_endpoint(skb, &pkt, nat, true) || reparse(skb, &pkt))
			goto error;
		if (same_addr(&pkt, pkt.saddr, (const volatile union xdpfwd_addr *)&nat->addr)) {
			const volatile union xdpfwd_addr *own = tunnel_addr(&pkt);

			if (!own || pkt.frag == FRAG_LATER || set_addr(skb, &pkt, false, own))
				goto error;
			/* From this server's own address now: the stack would
			 * drop it as a martian, so straight back in. */
			count_rx(nat->slot, pkt.ip_bytes);
			count_stat(XDPFWD_STAT_IN_HAIRPIN);
			return bpf_redirect(skb->ingress_ifindex, 0);
		}
		count_rx(nat->slot, pkt.ip_bytes);
		count_stat(XDPFWD_STAT_IN_HAIRPIN);
		return TC_ACT_UNSPEC; /* the stack routes it into the tunnel */
	}
	/* The answer to a client that reached its own port (see above). */
	own = tunnel_addr(&pkt);
	own_hairpin = own && pkt.frag != FRAG_LATER && same_addr(&pkt, pkt.daddr, own);
	rc = fib_egress(skb, &pkt, &egress);
	hairpin =
	    own_hairpin || ((rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH ||
			     rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) &&
			    egress == skb->ingress_ifindex);
	if (!fast_path_on && !hairpin)
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
	if (own_hairpin) {
		/* The client it goes back to is the one answering. */
		union xdpfwd_addr client = {};

		client.v4 = pkt.saddr[0];
		if (pkt.family == AF_INET6) {
			client.v6_words[1] = pkt.saddr[1];
			client.v6_words[2] = pkt.saddr[2];
			client.v6_words[3] = pkt.saddr[3];
		}
		if (set_addr(skb, &pkt, true, &client) || reparse(skb, &pkt))
			goto error;
	}
	if (rewrite_source(skb, &pkt, nat))
		goto error;
	count_tx(nat->slot, pkt.ip_bytes);
	if (hairpin) {
		count_stat(XDPFWD_STAT_OUT_HAIRPIN);
		return bpf_redirect(skb->ingress_ifindex, 0);
	}
	skb->tc_index = XDPFWD_TC_INDEX_TRANSLATED; /* not the stack's flow (stack.h) */
	return send_outbound(skb, skb->protocol);
error:
	count_stat(XDPFWD_STAT_OUT_FAST_ERROR);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
