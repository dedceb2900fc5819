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
	struct xdpfwd_replay note;
	struct xdpfwd_nat *nat;
	struct packet pkt;
	int stat, replay;

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
		if (pkt.frag != FRAG_LATER) {
			count_stat(XDPFWD_STAT_IN_PASS_NO_MAPPING);
			return XDP_PASS;
		}
		/* A later fragment unknown here came before its first or is
		 * not ours: it goes on as it is, and a copy waits for a first
		 * that may come (frag.h). */
		count_stat(XDPFWD_STAT_IN_PASS_FRAGMENT);
		count_stat(frag_hold(ctx, &pkt));
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
	replay = frag_ahead(&pkt, nat->slot, &note);
	frag_remember(&pkt, nat, false);
	rewrite_destination(&pkt, nat);
	count_rx(nat->slot, pkt.ip_bytes);
	count_stat(XDPFWD_STAT_IN_FORWARDED);
	if (replay) {
		frag_mark_via_stack(&note);
		return frag_replay_exit(ctx, &note);
	}
	/* A follower of a replayed first goes where it went (frag.h). */
	if (fast_path_on && (nat->policy & XDPFWD_NAT_VIA_STACK))
		return stack_exit(XDPFWD_STAT_IN_STACK_FRAGMENT_REPLAY);
	return send_inbound(ctx, &pkt);
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

/*
 * Where the stack would send the packet: the FIB's answer, with the egress in
 * *IFINDEX on BPF_FIB_LKUP_RET_SUCCESS and _NO_NEIGH. With TOT_LEN (IP bytes)
 * the FIB also checks the route's MTU (route metric, path MTU exception,
 * device: ip_mtu_from_fib_result()) and answers FRAG_NEEDED above it, without
 * the egress; bpf_ipv4_fib_lookup() and bpf_ipv6_fib_lookup() in
 * net/core/filter.c. NOT_FWDED is a destination the FIB does not forward to:
 * one of this server's addresses, broadcast, multicast, or none at all.
 */
static __always_inline int fib_egress(struct __sk_buff *skb, const struct packet *pkt,
				      __u16 tot_len, __u32 *ifindex)
{
	struct bpf_fib_lookup fib;
	int rc;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = pkt->family;
	fib.l4_protocol = pkt->proto;
	if (pkt->sport && pkt->dport) { /* a later fragment has no ports */
		fib.sport = *pkt->sport;
		fib.dport = *pkt->dport;
	}
	fib.tot_len = tot_len;
	fib.ifindex = tunnel_ifindex; /* where it came in: the rules' iif */
	if (pkt->family == AF_INET) {
		fib.tos = ((struct iphdr *)pkt->l3)->tos;
		fib.ipv4_src = pkt->saddr[0];
		fib.ipv4_dst = pkt->daddr[0];
	} else {
		fib.flowinfo = *(__be32 *)pkt->l3 & IPV6_FLOWINFO_MASK;
		__builtin_memcpy(fib.ipv6_src, pkt->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, pkt->daddr, 16);
	}
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	*ifindex = fib.ifindex;
	return rc;
}

/*
 * The IP bytes the egress must carry at once: the packet's, or for a GSO
 * packet (a TCP or UDP super-packet that the egress or the stack cuts into
 * segments) one segment's, counted as skb_gso_validate_network_len() does
 * (net/core/gso.c): IP headers, transport header, gso_size of payload.
 */
static __always_inline __u16 wire_len(const struct __sk_buff *skb, const struct packet *pkt)
{
	__u32 seg = skb->gso_size, hdr;

	if (!seg || pkt->frag == FRAG_LATER || !pkt->l4_check)
		return pkt->ip_bytes;
	hdr = pkt->l4 - pkt->l3;
	if (pkt->proto == IPPROTO_TCP)
		hdr += ((struct tcphdr *)pkt->l4)->doff * 4;
	else
		hdr += sizeof(struct udphdr);
	seg += hdr;
	return seg < pkt->ip_bytes ? seg : pkt->ip_bytes;
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

/*
 * The packet as it came out of the tunnel: after its Ethernet header on an
 * Ethernet tunnel, from the IP header on an L3 one. By tc ingress the stack
 * has moved an outer VLAN tag out of the frame (skb_vlan_untag() in
 * __netif_receive_skb_core()); a tagged packet belongs to a VLAN device on
 * top of the tunnel, not to the tunnel, and a frame with a further tag is no
 * IP packet here: both are left alone.
 */
static __always_inline int parse_tunnel(struct __sk_buff *skb, struct packet *pkt)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if (!tunnel_ethernet) {
		pkt->vlan_tagged = false;
		return parse_ip(data, data_end, skb->protocol, pkt);
	}
	if ((void *)(eth + 1) > data_end)
		return XDPFWD_STAT_IN_PASS_TRUNCATED;
	pkt->vlan_tagged = skb->vlan_present;
	return parse_ip(eth + 1, data_end, eth->h_proto, pkt);
}

static __always_inline int reparse(struct __sk_buff *skb, struct packet *pkt)
{
	return parse_tunnel(skb, pkt) == XDPFWD_STAT_IN_FORWARDED ? 0 : -1;
}

/* What the fast path leaves to the stack, untouched: counted by its reason
 * (with the fast path off every such packet goes there, uncounted). */
static __always_inline int stack_out(__u32 reason)
{
	if (fast_path_on)
		count_stat(reason);
	return TC_ACT_UNSPEC;
}

/* The key of a client's own-port hairpin flow, as its answer carries it:
 * from CLIENT (4 words; one for IPv4):CLIENT_PORT to the tunnel's address and
 * PEER_PORT. */
static __always_inline void hairpin_key(struct xdpfwd_hairpin_key *key, const struct packet *pkt,
					const __be32 *client, __be16 client_port, __be16 peer_port)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->family = pkt->family;
	key->proto = pkt->proto;
	key->client_port = client_port;
	key->peer_port = peer_port;
	key->client.v4 = client[0];
	if (pkt->family == AF_INET6) {
		key->client.v6_words[1] = client[1];
		key->client.v6_words[2] = client[2];
		key->client.v6_words[3] = client[3];
	}
}

/* A mapped client's packet to the tunnel's own address: the answer of an
 * own-port hairpin flow (true), or one for the server itself (false). */
static __always_inline bool own_hairpin_answer(const struct packet *pkt)
{
	const volatile union xdpfwd_addr *own = tunnel_addr(pkt);
	struct xdpfwd_hairpin_key key;

	if (!own || !pkt->sport || !pkt->dport || !same_addr(pkt, pkt->daddr, own))
		return false; /* a later fragment has no ports */
	hairpin_key(&key, pkt, pkt->saddr, *pkt->sport, *pkt->dport);
	return bpf_map_lookup_elem(&xdpfwd_hairpin, &key) != NULL;
}

/*
 * A client's packet to a public endpoint of this server (NAT, its mapping):
 * it gets the mapping's target as destination and goes back into the tunnel
 * through the stack. Another client's service sees the real client address; a
 * client reaching its own mapped port would answer itself directly, so its
 * source becomes the tunnel's own address (port kept), the flow is
 * remembered in xdpfwd_hairpin, and its answer to that address goes back to
 * the client it came from (xdpfwd_from_tun).
 */
static __always_inline int hairpin_in(struct __sk_buff *skb, struct packet *pkt,
				      struct xdpfwd_nat *nat)
{
	const volatile union xdpfwd_addr *own;
	struct xdpfwd_hairpin_key key;
	__be16 peer_port;
	int rc;

	rc = policy_check(nat, pkt);
	if (rc) {
		count_stat(rc);
		return TC_ACT_SHOT;
	}
	frag_remember(pkt, nat, false);
	if (rewrite_skb_endpoint(skb, pkt, nat, true) || reparse(skb, pkt))
		goto error;
	if (!same_addr(pkt, pkt->saddr, (const volatile union xdpfwd_addr *)&nat->addr)) {
		count_rx(nat->slot, pkt->ip_bytes);
		count_stat(XDPFWD_STAT_IN_HAIRPIN);
		return TC_ACT_UNSPEC; /* the stack routes it into the tunnel */
	}
	own = tunnel_addr(pkt);
	if (!own || !pkt->sport)
		goto error; /* a later fragment has no ports */
	peer_port = *pkt->sport;
	hairpin_key(&key, pkt, nat->addr.v6_words, nat->port, peer_port);
	if (!bpf_map_lookup_elem(&xdpfwd_hairpin, &key))
		bpf_map_update_elem(&xdpfwd_hairpin, &key, &nat->slot, BPF_ANY);
	if (set_addr(skb, pkt, false, own) || reparse(skb, pkt))
		goto error;
	/* From this server's own address now: the stack would drop it as a
	 * martian, so straight back in. */
	count_rx(nat->slot, pkt->ip_bytes);
	count_stat(XDPFWD_STAT_IN_HAIRPIN);
	return redirect_to_tunnel(tunnel_ifindex);
error:
	count_stat(XDPFWD_STAT_OUT_FAST_ERROR);
	return TC_ACT_SHOT;
}

/*
 * The client's packets as they leave the tunnel, before routing; attached in
 * both modes. A packet from a mapped endpoint goes where the routing table
 * says, and only what leaves through the public interface gets the public
 * endpoint as source:
 *  - to this server (the FIB does not forward it): the answer of an own-port
 *    hairpin flow goes back to its client, from the public endpoint; a
 *    packet to a public endpoint of this server is a hairpin (hairpin_in);
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
	void *data = (void *)(long)skb->data;
	struct xdpfwd_nat *nat, *in;
	struct packet pkt;
	__u32 ttl_off, egress = 0;
	bool hairpin, own_hairpin = false;
	__u8 ttl;
	int rc;

	if (parse_tunnel(skb, &pkt) != XDPFWD_STAT_IN_FORWARDED || pkt.vlan_tagged)
		return TC_ACT_UNSPEC;
	nat = lookup_outbound(&pkt);
	if (!nat) {
		/* Exact mappings name the address; a wildcard's port matches
		 * any, so the destination must be this server's own. */
		in = lookup_inbound(&pkt);
		if (!in || fib_egress(skb, &pkt, 0, &egress) != BPF_FIB_LKUP_RET_NOT_FWDED)
			return TC_ACT_UNSPEC;
		return hairpin_in(skb, &pkt, in);
	}
	rc = fib_egress(skb, &pkt, wire_len(skb, &pkt), &egress);
	if (rc == BPF_FIB_LKUP_RET_NOT_FWDED) {
		own_hairpin = own_hairpin_answer(&pkt);
		if (!own_hairpin) {
			in = lookup_inbound(&pkt);
			if (in)
				return hairpin_in(skb, &pkt, in);
			return stack_out(XDPFWD_STAT_OUT_STACK_LOCAL);
		}
	} else if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED) {
		/* Above the route's MTU, which the FIB's answer does not say
		 * the egress of: back into the tunnel it came through is a
		 * hairpin still; anywhere else is the stack's to cut or
		 * refuse. */
		rc = fib_egress(skb, &pkt, 0, &egress);
		if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
		     rc != BPF_FIB_LKUP_RET_FRAG_NEEDED) ||
		    egress != tunnel_ifindex)
			return stack_out(XDPFWD_STAT_OUT_STACK_MTU);
	} else if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		return stack_out(XDPFWD_STAT_OUT_STACK_NO_ROUTE);
	} else if (egress != tunnel_ifindex && egress != public_ifindex) {
		return stack_out(XDPFWD_STAT_OUT_STACK_NOT_PUBLIC);
	}
	hairpin = own_hairpin || egress == tunnel_ifindex;
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
	if (reparse(skb, &pkt))
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
		return redirect_to_tunnel(tunnel_ifindex);
	}
	skb->tc_index = XDPFWD_TC_INDEX_TRANSLATED; /* not the stack's flow (stack.h) */
	return send_outbound(skb);
error:
	count_stat(XDPFWD_STAT_OUT_FAST_ERROR);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
