/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * frag.h - fragments follow their first.
 *
 * Only the first fragment of a datagram carries the ports, so it is looked up
 * like any packet, and the translation it gets is remembered in an LRU map
 * under {family, proto, direction, id, source, destination} as it arrived.
 * The later fragments take the same translation (addresses only: they have
 * no transport header). A later fragment whose first was not seen (it came
 * first, or its datagram is not mapped) is counted and passed as it is:
 * never rewritten by guess. The L4 checksum covers the whole datagram, and
 * its incremental update in the first fragment is exactly what the whole
 * datagram needs.
 */
#ifndef XDPFWD_FRAG_H
#define XDPFWD_FRAG_H

#include "maps.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPFWD_MAX_FRAGS);
	__type(key, struct xdpfwd_frag_key);
	__type(value, struct xdpfwd_nat);
} xdpfwd_frags SEC(".maps");

static __always_inline void frag_key_of(struct xdpfwd_frag_key *key, const struct packet *pkt,
					bool outbound)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->family = pkt->family;
	key->proto = pkt->proto;
	key->outbound = outbound;
	key->id = pkt->frag_id;
	key->saddr.v4 = pkt->saddr[0];
	key->daddr.v4 = pkt->daddr[0];
	if (pkt->family == AF_INET6) {
#pragma unroll
		for (int i = 1; i < 4; i++) {
			key->saddr.v6_words[i] = pkt->saddr[i];
			key->daddr.v6_words[i] = pkt->daddr[i];
		}
	}
}

/* Before the first fragment is rewritten: its addresses as they arrived. */
static __always_inline void frag_remember(const struct packet *pkt, const struct xdpfwd_nat *nat,
					  bool outbound)
{
	struct xdpfwd_frag_key key;

	if (pkt->frag != FRAG_FIRST)
		return;
	frag_key_of(&key, pkt, outbound);
	bpf_map_update_elem(&xdpfwd_frags, &key, nat, BPF_ANY);
}

static __always_inline struct xdpfwd_nat *frag_lookup(const struct packet *pkt, bool outbound)
{
	struct xdpfwd_frag_key key;

	frag_key_of(&key, pkt, outbound);
	return bpf_map_lookup_elem(&xdpfwd_frags, &key);
}

#endif /* XDPFWD_FRAG_H */
