/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * frag.h - fragments follow their first.
 *
 * Only the first fragment of a datagram carries the ports, so it is looked up
 * like any packet, and the translation it gets is remembered in an LRU map
 * under {family, proto, direction, id, source, destination} as it arrived.
 * The later fragments take the same translation (addresses only: they have
 * no transport header). The L4 checksum covers the whole datagram, and its
 * incremental update in the first fragment is exactly what the whole
 * datagram needs.
 *
 * A later fragment whose first was not seen is never rewritten by guess: it
 * may come before its first (the network reordered them) or belong to a
 * datagram that is not ours. XDP cannot hold a packet, so it goes on to the
 * stack untouched as it always did (where, if it is not ours, the stack
 * reassembles it with its first as usual), and a copy of its frame is kept
 * (frag_hold). If the first fragment then arrives and is translated, it
 * leaves XDP with a note (frag_replay_exit); the tc program on the same
 * interface's ingress sees the note and sends the copies, translated like
 * followers, into the stack, then the first (frag_replay), so the client
 * reassembles the whole datagram. The untouched originals wait in the
 * stack's reassembly queue for a first that never comes and expire there
 * (net.ipv4.ipfrag_time; without their first no ICMP is sent, RFC 792 and
 * ip_expire()). In-order datagrams never touch the copies; the first fragment
 * of every datagram pays one lookup.
 */
#ifndef XDPFWD_FRAG_H
#define XDPFWD_FRAG_H

#include <linux/pkt_cls.h>
#include "addr.h"
#include "consts.h"
#include "csum.h"
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
	addr_copy(&key->saddr, pkt->family, pkt->saddr);
	addr_copy(&key->daddr, pkt->family, pkt->daddr);
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

/* Datagrams with fragments ahead of their first: how many copies. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPFWD_MAX_AHEAD);
	__type(key, struct xdpfwd_frag_key);
	__type(value, struct xdpfwd_ahead);
} xdpfwd_ahead SEC(".maps");

/* The copies, by datagram and index. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPFWD_MAX_HELD);
	__type(key, struct xdpfwd_held_key);
	__type(value, struct xdpfwd_held);
} xdpfwd_held SEC(".maps");

/* Where a copy is built before it goes into xdpfwd_held: too big for the
 * BPF stack. Per CPU, so no two programs share it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpfwd_held);
} xdpfwd_held_buf SEC(".maps");

/* Unit tests set a fixed "now" here; the loader never does. */
volatile __u64 frag_clock_ns;

static __always_inline __u64 frag_now(void)
{
	__u64 fixed = frag_clock_ns;

	return fixed ? fixed : bpf_ktime_get_ns();
}

/*
 * A later fragment of inbound TCP or UDP that follows no first: keep a copy
 * of the frame for frag_replay. Returns the counter that says whether it was
 * kept (in_fragment_held), or not: larger than XDPFWD_HELD_BYTES, multi-buffer,
 * more than XDPFWD_MAX_HELD_PER_DGRAM for its datagram (in_fragment_not_held).
 */
static __always_inline int frag_hold(struct xdp_md *ctx, const struct packet *pkt)
{
	void *data = (void *)(long)ctx->data;
	struct xdpfwd_ahead *ahead, fresh = {};
	struct xdpfwd_held_key hk;
	struct xdpfwd_held *buf;
	__u64 now = frag_now(), len; /* 64 bits: the checks bound the register passed */
	__u32 zero = 0, index;

	len = (void *)(long)ctx->data_end - data;
	if (len > XDPFWD_HELD_BYTES || len < sizeof(struct ethhdr) ||
	    bpf_xdp_get_buff_len(ctx) != len)
		return XDPFWD_STAT_IN_FRAGMENT_NOT_HELD;
	__builtin_memset(&hk, 0, sizeof(hk));
	frag_key_of(&hk.dgram, pkt, false);
	ahead = bpf_map_lookup_elem(&xdpfwd_ahead, &hk.dgram);
	if (!ahead || now - ahead->since_ns > XDPFWD_HELD_TIMEOUT_NS) {
		/* The first copy, or the id's earlier datagram expired. */
		fresh.since_ns = now;
		bpf_map_update_elem(&xdpfwd_ahead, &hk.dgram, &fresh, BPF_ANY);
		ahead = bpf_map_lookup_elem(&xdpfwd_ahead, &hk.dgram);
		if (!ahead)
			return XDPFWD_STAT_IN_FRAGMENT_NOT_HELD;
	}
	/* Not atomic: the fragments of one datagram share their addresses,
	 * which is all RSS can hash them by, so they come on one CPU. */
	index = ahead->count;
	if (index >= XDPFWD_MAX_HELD_PER_DGRAM)
		return XDPFWD_STAT_IN_FRAGMENT_NOT_HELD;
	ahead->count = index + 1;
	buf = bpf_map_lookup_elem(&xdpfwd_held_buf, &zero);
	/* Bounded again where the verifier needs it: the compiler may reuse
	 * an unchecked copy of len for the call. */
	asm volatile("" : "+r"(len));
	if (!buf || len > XDPFWD_HELD_BYTES || len < sizeof(struct ethhdr) ||
	    bpf_xdp_load_bytes(ctx, 0, buf->frame, len))
		return XDPFWD_STAT_IN_FRAGMENT_NOT_HELD;
	buf->since_ns = ahead->since_ns;
	buf->len = len;
	buf->l3_off = pkt->l3 - data;
	buf->family = pkt->family;
	hk.index = index;
	if (bpf_map_update_elem(&xdpfwd_held, &hk, buf, BPF_ANY))
		return XDPFWD_STAT_IN_FRAGMENT_NOT_HELD;
	return XDPFWD_STAT_IN_FRAGMENT_HELD;
}

/*
 * A first fragment, before it is rewritten: if fragments of its datagram
 * came ahead of it and were kept, fill NOTE for frag_replay_exit and forget
 * the datagram there (from now on its fragments follow this one). 0 when
 * there is nothing to replay.
 */
static __always_inline int frag_ahead(const struct packet *pkt, __u32 slot,
				      struct xdpfwd_replay *note)
{
	struct xdpfwd_ahead *ahead;

	if (pkt->frag != FRAG_FIRST)
		return 0;
	frag_key_of(&note->dgram, pkt, false);
	ahead = bpf_map_lookup_elem(&xdpfwd_ahead, &note->dgram);
	if (!ahead)
		return 0;
	note->magic = XDPFWD_REPLAY_MAGIC;
	note->count = ahead->count;
	note->slot = slot;
	note->pad = 0;
	note->since_ns = ahead->since_ns;
	bpf_map_delete_elem(&xdpfwd_ahead, &note->dgram);
	if (frag_now() - note->since_ns > XDPFWD_HELD_TIMEOUT_NS || !note->count)
		return 0;
	if (note->count > XDPFWD_MAX_HELD_PER_DGRAM)
		note->count = XDPFWD_MAX_HELD_PER_DGRAM;
	return 1;
}

/* The first of a replayed datagram goes through the stack, so its followers
 * must too: with conntrack loaded, nf_defrag reassembles them at PREROUTING,
 * which the fast path would skip, and the datagram would never complete. */
static __always_inline void frag_mark_via_stack(const struct xdpfwd_replay *note)
{
	struct xdpfwd_nat *nat = bpf_map_lookup_elem(&xdpfwd_frags, &note->dgram);

	if (nat)
		nat->policy |= XDPFWD_NAT_VIA_STACK;
}

/* The translated first fragment leaves XDP for tc ingress with NOTE; both
 * fast-path modes: the replay goes through the stack. */
static __always_inline int frag_replay_exit(struct xdp_md *ctx, const struct xdpfwd_replay *note)
{
	struct xdpfwd_replay *meta;

	count_stat(XDPFWD_STAT_IN_STACK_FRAGMENT_REPLAY);
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*meta)))
		return XDP_PASS; /* no room: the first goes on alone, as before */
	meta = (void *)(long)ctx->data_meta;
	if ((void *)(meta + 1) > (void *)(long)ctx->data)
		return XDP_PASS;
	*meta = *note;
	return XDP_PASS;
}

struct replay_ctx {
	struct __sk_buff *skb;
	struct xdpfwd_held_key hk;
	__u64 since_ns;
	union xdpfwd_addr daddr; /* the first fragment's, translated */
	__u32 l3_off;
	__u32 slot;
};

/* One copy, by index: translated like a follower in the map's memory (the
 * copy is used once), then written over the skb and cloned into the stack. */
static long replay_one(__u32 index, void *arg)
{
	struct replay_ctx *c = arg;
	struct xdpfwd_held *h;
	__u32 len, l3, size;

	c->hk.index = index;
	h = bpf_map_lookup_elem(&xdpfwd_held, &c->hk);
	if (!h)
		goto lost;
	len = h->len;
	l3 = h->l3_off;
	if (h->since_ns != c->since_ns || l3 != c->l3_off || l3 > XDPFWD_MAX_L3_OFF ||
	    len > XDPFWD_HELD_BYTES || len < l3 + sizeof(struct ipv6hdr))
		goto lost;
	if (h->family == AF_INET) {
		struct iphdr *ip = (void *)h->frame + l3;
		__u32 acc = csum_start(ip->check);

		acc = csum_replace32(acc, ip->daddr, c->daddr.v4);
		ip->check = csum_finish(acc);
		ip->daddr = c->daddr.v4;
	} else {
		struct ipv6hdr *ip6 = (void *)h->frame + l3;

		__builtin_memcpy(ip6->daddr.in6_u.u6_addr32, c->daddr.v6_words, 16);
	}
	size = len - l3;
	if (size > XDPFWD_HELD_BYTES - XDPFWD_MAX_L3_OFF)
		goto lost;
	/* Both keep a CHECKSUM_COMPLETE sum right: the stack may check it. */
	if (bpf_skb_change_tail(c->skb, len, 0) ||
	    bpf_skb_store_bytes(c->skb, l3, h->frame + l3, size, BPF_F_RECOMPUTE_CSUM))
		goto lost;
	count_rx(c->slot, size);
	count_stat(XDPFWD_STAT_IN_FRAGMENT_REPLAYED);
	bpf_clone_redirect(c->skb, c->skb->ifindex, BPF_F_INGRESS);
	bpf_map_delete_elem(&xdpfwd_held, &c->hk);
	return 0;
lost:
	count_stat(XDPFWD_STAT_IN_FRAGMENT_LOST);
	return 0;
}

/*
 * tc ingress of the public interface, for a packet with a replay note: the
 * translated first fragment goes into the stack, then each kept copy,
 * translated, with bpf_clone_redirect(BPF_F_INGRESS) (the stack routes and
 * forwards them as any translated packet; the clones are not run through
 * generic XDP again only if they were marked redirected, which an ingress
 * redirect does not do: see the README). The note is cleared first, so the
 * clones, which share it, are not replayed again. A copy that is gone
 * (evicted, or of another datagram) is counted lost: the client's reassembly
 * then times out, as it did before.
 */
static __always_inline int frag_replay(struct __sk_buff *skb)
{
	struct xdpfwd_replay *note = (void *)(long)skb->data_meta;
	struct replay_ctx c = {.skb = skb};
	struct packet pkt;
	__u32 count;

	if ((void *)(note + 1) > (void *)(long)skb->data)
		return TC_ACT_UNSPEC;
	note->magic = 0;
	count = note->count;
	c.slot = note->slot;
	c.since_ns = note->since_ns;
	c.hk.dgram = note->dgram;
	if (parse_packet((void *)(long)skb->data, (void *)(long)skb->data_end, &pkt) != PARSE_OK)
		return TC_ACT_UNSPEC;
	c.l3_off = pkt.l3 - (void *)(long)skb->data;
	addr_copy(&c.daddr, pkt.family, pkt.daddr);
	if (bpf_clone_redirect(skb, skb->ifindex, BPF_F_INGRESS))
		return TC_ACT_UNSPEC; /* the first goes on alone, as before */
	if (count > XDPFWD_MAX_HELD_PER_DGRAM)
		count = XDPFWD_MAX_HELD_PER_DGRAM;
	bpf_loop(count, replay_one, &c, 0);
	return TC_ACT_STOLEN; /* what is left is a copy already sent */
}

#endif /* XDPFWD_FRAG_H */
