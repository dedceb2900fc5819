/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * stack.h - flows the server's own stack owns on a mapped public endpoint.
 *
 * A mapped public port can also carry flows that are not the mapping's: a
 * connection of one of the server's sockets from that port, or another
 * client's flow that the server masquerades and that kept its source port.
 * Their replies must reach their owner, as with DNAT and conntrack; only new
 * inbound flows follow the mapping.
 *
 * xdpfwd_out (tc egress of the public interface, after POSTROUTING and so
 * after masquerade) sees every such flow leave with the mapped endpoint as
 * its source, untranslated by xdpfwd: it remembers the flow in xdpfwd_stack
 * and marks the mapping's slot in xdpfwd_owned. Packets xdpfwd_from_tun
 * translated on the fast path carry XDPFWD_TC_INDEX_TRANSLATED and are not
 * learned. xdpfwd_in, for a mapping whose slot is marked, looks the packet's
 * flow up and hands it to the stack untouched if the stack owns it. A TCP
 * SYN without ACK opens a new flow whatever the table says: it follows the
 * mapping, and the entry is forgotten once it is forwarded. A UDP flow idle
 * for XDPFWD_STACK_UDP_IDLE_NS is over.
 */
#ifndef XDPFWD_STACK_H
#define XDPFWD_STACK_H

#include "addr.h"
#include "consts.h"
#include "icmp.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPFWD_MAX_STACK_FLOWS);
	__type(key, struct xdpfwd_stack_key);
	__type(value, __u64);
} xdpfwd_stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPFWD_DEFAULT_CAPACITY);
	__type(key, __u32);
	__type(value, __u64);
} xdpfwd_owned SEC(".maps");

/* The flow of PKT as xdpfwd_stack keys it: LOCAL is the public side. */
static __always_inline void stack_key_of(struct xdpfwd_stack_key *key, const struct packet *pkt,
					 const __be32 *local, __be16 local_port, const __be32 *peer,
					 __be16 peer_port)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->family = pkt->family;
	key->proto = pkt->proto;
	key->local_port = local_port;
	key->peer_port = peer_port;
	addr_copy(&key->local_addr, pkt->family, local);
	addr_copy(&key->peer_addr, pkt->family, peer);
}

/* What stack_flow_in() is asked. */
enum { STACK_OWNS, STACK_OWNS_ICMP_QUOTE, STACK_FORGET_ON_SYN };

/*
 * xdpfwd_in, for a packet whose lookup found the mapping in SLOT (not a later
 * fragment, the packet not yet rewritten). STACK_OWNS: 1 when the packet
 * belongs to a flow of the stack and must go on untouched; a TCP SYN without
 * ACK is a new flow, never the stack's. STACK_OWNS_ICMP_QUOTE: the same for
 * the flow an ICMP error quotes (its source is the public endpoint).
 * STACK_FORGET_ON_SYN, once a TCP SYN without ACK is forwarded to the
 * mapping: the peer opened a new connection, so the stack's old flow with it
 * is over. 0 otherwise.
 *
 * A mapping the stack never used costs one array read. A global function:
 * the verifier checks it once, not once for every path of its caller through
 * the parser and the policy (xdpfwd_in is near its limit); so it parses the
 * packet again itself, which only mappings with stack flows pay.
 */
__noinline int stack_flow_in(struct xdp_md *ctx, __u32 slot, int what)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct xdpfwd_stack_key key;
	struct icmp_quote q;
	struct packet pkt;
	__u64 *owned, *seen, now;
	bool syn = false;
	int res;

	owned = bpf_map_lookup_elem(&xdpfwd_owned, &slot);
	if (!owned || !*owned)
		return 0;
	res = parse_packet(data, data_end, &pkt);
	if (what == STACK_OWNS_ICMP_QUOTE) {
		if (res != PARSE_NOT_TCP_UDP || !is_icmp(&pkt) ||
		    parse_icmp_error(&pkt, data, data_end, &q))
			return 0;
		stack_key_of(&key, &pkt, q.saddr, *q.sport, q.daddr, *q.dport);
		key.proto = q.proto;
	} else {
		__be16 *sport = pkt.sport, *dport = pkt.dport;

		if (res != PARSE_OK || !sport)
			return 0;
		asm volatile("" : "+r"(dport)); /* tested on its own (see policy.h) */
		if (!dport)
			return 0;
		if (pkt.tcp)
			syn = pkt.tcp->syn && !pkt.tcp->ack;
		stack_key_of(&key, &pkt, pkt.daddr, *dport, pkt.saddr, *sport);
	}
	if (what == STACK_FORGET_ON_SYN) {
		if (syn)
			bpf_map_delete_elem(&xdpfwd_stack, &key);
		return 0;
	}
	if (syn)
		return 0;
	seen = bpf_map_lookup_elem(&xdpfwd_stack, &key);
	if (!seen)
		return 0;
	now = policy_now();
	if (key.proto == IPPROTO_UDP && now - *seen >= XDPFWD_STACK_UDP_IDLE_NS)
		return 0;
	if (now - *seen > XDPFWD_REFRESH_NS)
		*seen = now;
	return 1;
}

/*
 * xdpfwd_out, for a TCP or UDP packet (with ports) that no mapping
 * translated: if it leaves with a mapped public endpoint as its source, the
 * stack owns its flow. Returns true when it was learned.
 */
static __always_inline bool stack_learn_outbound(const struct packet *pkt)
{
	struct xdpfwd_stack_key key;
	struct xdpfwd_nat *nat;
	__u64 *seen, *owned, now;
	__be16 *sport = pkt->sport, *dport = pkt->dport;
	__u32 slot;

	if (!sport)
		return false;
	asm volatile("" : "+r"(dport));
	if (!dport)
		return false;
	nat = nat_lookup(false, pkt->family, pkt->proto, pkt->saddr, *sport);
	if (!nat)
		return false;
	slot = nat->slot;
	now = policy_now();
	stack_key_of(&key, pkt, pkt->saddr, *sport, pkt->daddr, *dport);
	seen = bpf_map_lookup_elem(&xdpfwd_stack, &key);
	if (!seen)
		bpf_map_update_elem(&xdpfwd_stack, &key, &now, BPF_ANY);
	else if (now - *seen > XDPFWD_REFRESH_NS)
		*seen = now;
	owned = bpf_map_lookup_elem(&xdpfwd_owned, &slot);
	if (owned && now - *owned > XDPFWD_REFRESH_NS)
		*owned = now;
	return true;
}

#endif /* XDPFWD_STACK_H */
