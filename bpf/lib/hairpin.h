/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * hairpin.h - a client's packet to a public endpoint of this server.
 *
 * It gets the mapping's target as destination and goes back into the tunnel
 * (hairpin_in). Another client's service sees the real client address. A
 * client reaching its own mapped port would answer itself directly, so its
 * source becomes the tunnel's own address (port kept) and the flow is
 * remembered in xdpfwd_hairpin; its answer to that address (own_hairpin_answer)
 * goes back to the client it came from, from the public endpoint
 * (hairpin_to_client, then the usual source rewrite in xdpfwd_from_tun).
 * Every rewrite is through the skb helpers, in tc on the tunnel's ingress.
 */
#ifndef XDPFWD_HAIRPIN_H
#define XDPFWD_HAIRPIN_H

#include <linux/pkt_cls.h>
#include "addr.h"
#include "fastpath.h"
#include "frag.h"
#include "maps.h"
#include "nat.h"
#include "parse.h"
#include "policy.h"
#include "tunnel.h"

/* The tunnel's own addresses (zero: none of that family), set by attach: the
 * source a client reaching its own mapped port is given, so the answer comes
 * back here. */
const volatile union xdpfwd_addr tunnel_addr4 = {};
const volatile union xdpfwd_addr tunnel_addr6 = {};

/* The own-port hairpin flows (struct xdpfwd_hairpin_key): written when a
 * client's packet to its own public endpoint is given the tunnel's address as
 * source, read when a mapped client sends to the tunnel's address. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPFWD_MAX_HAIRPIN_FLOWS);
	__type(key, struct xdpfwd_hairpin_key);
	__type(value, __u32); /* the mapping's slot */
} xdpfwd_hairpin SEC(".maps");

/* The tunnel's own address of the packet's family, or NULL: none. */
static __always_inline const volatile union xdpfwd_addr *tunnel_addr(const struct packet *pkt)
{
	const volatile union xdpfwd_addr *a =
	    pkt->family == AF_INET ? &tunnel_addr4 : &tunnel_addr6;

	return a->v6_words[0] || a->v6_words[1] || a->v6_words[2] || a->v6_words[3] ? a : NULL;
}

/* The source (DST false) or destination (DST true) address of the packet
 * becomes NEW, its port kept. 0, or -1 for a later fragment (no port) or a
 * negative errno from the helpers. */
static __always_inline int rewrite_skb_addr(struct __sk_buff *skb, struct packet *pkt, bool dst,
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

/* The key of a client's own-port hairpin flow, as its answer carries it:
 * from CLIENT (1 or 4 words):CLIENT_PORT to the tunnel's address and
 * PEER_PORT (network order). */
static __always_inline void hairpin_key(struct xdpfwd_hairpin_key *key, const struct packet *pkt,
					const __be32 *client, __be16 client_port, __be16 peer_port)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->family = pkt->family;
	key->proto = pkt->proto;
	key->client_port = client_port;
	key->peer_port = peer_port;
	addr_copy(&key->client, pkt->family, client);
}

/* A mapped client's packet to the tunnel's own address: the answer of an
 * own-port hairpin flow (true), or one for the server itself (false). */
static __always_inline bool own_hairpin_answer(const struct packet *pkt)
{
	const volatile union xdpfwd_addr *own = tunnel_addr(pkt);
	struct xdpfwd_hairpin_key key;
	union xdpfwd_addr to;

	if (!own || !pkt->sport || !pkt->dport)
		return false; /* a later fragment has no ports */
			      /* Read: the loader's value, which the compiler must not fold. */
#pragma unroll
	for (int i = 0; i < 4; i++)
		to.v6_words[i] = own->v6_words[i];
	if (!addr_equal(pkt->family, pkt->daddr, to.v6_words))
		return false;
	hairpin_key(&key, pkt, pkt->saddr, *pkt->sport, *pkt->dport);
	return bpf_map_lookup_elem(&xdpfwd_hairpin, &key) != NULL;
}

/*
 * The answer of an own-port hairpin flow goes back to the client it came
 * from, which is the one answering: its destination becomes its own source
 * (xdpfwd_from_tun then gives it the public endpoint as source). 0, or -1
 * when a helper failed.
 */
static __always_inline int hairpin_to_client(struct __sk_buff *skb, struct packet *pkt)
{
	union xdpfwd_addr client = {};

	addr_copy(&client, pkt->family, pkt->saddr);
	if (rewrite_skb_addr(skb, pkt, true, &client) || reparse(skb, pkt))
		return -1;
	return 0;
}

/*
 * A client's packet to a public endpoint of this server, whose mapping is
 * NAT: it passes the mapping's policy, gets the target as destination and,
 * for another client's target, goes on through the stack, which routes it
 * into the tunnel. To the client's own target, its source becomes the
 * tunnel's address, the flow is remembered, and it goes straight back into
 * the tunnel. A tc action.
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
	if (!addr_equal(pkt->family, pkt->saddr, nat->addr.v6_words)) {
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
	if (rewrite_skb_addr(skb, pkt, false, own) || reparse(skb, pkt))
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

#endif /* XDPFWD_HAIRPIN_H */
