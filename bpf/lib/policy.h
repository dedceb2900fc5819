/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * policy.h - what a packet to a mapped port must pass before it is
 * forwarded: the source allowlist, the lifetime, the new-connection rate and
 * the packet rate, in that order. The allowlist comes first so that a source
 * it refuses cannot spend the tokens of those it admits, and new connections
 * before packets so that a SYN flood is held by --new-rate while established
 * flows keep their --rate.
 */
#ifndef XDPFWD_POLICY_H
#define XDPFWD_POLICY_H

#include "addr.h"
#include "bucket.h"
#include "consts.h"
#include "maps.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPFWD_DEFAULT_CAPACITY);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* most mappings have no allowlist */
	__type(key, __u32);
	__type(value, struct xdpfwd_allowlist);
} xdpfwd_allow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XDPFWD_DEFAULT_CAPACITY);
	__type(key, __u32);
	__type(value, struct xdpfwd_policy);
} xdpfwd_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XDPFWD_MAX_FLOWS);
	__type(key, struct xdpfwd_flow_key);
	__type(value, __u64);
} xdpfwd_flows SEC(".maps");

/* Unit tests set a fixed "now" here; the loader never does. */
volatile __u64 policy_clock_ns;

static __always_inline __u64 policy_now(void)
{
	__u64 fixed = policy_clock_ns;

	return fixed ? fixed : bpf_ktime_get_boot_ns();
}

static __always_inline bool source_allowed(__u32 slot, __u8 family, const __be32 *saddr)
{
	struct xdpfwd_allowlist *list = bpf_map_lookup_elem(&xdpfwd_allow, &slot);
	union xdpfwd_addr src = {};

	if (!list)
		return false;
	addr_copy(&src, family, saddr);
#pragma unroll
	for (int i = 0; i < XDPFWD_MAX_ALLOW; i++) {
		const struct xdpfwd_allow_entry *e = &list->entry[i];

		if ((__u32)i >= list->count)
			break;
		if (!((src.v6_words[0] ^ e->addr[0]) & e->mask[0]) &&
		    !((src.v6_words[1] ^ e->addr[1]) & e->mask[1]) &&
		    !((src.v6_words[2] ^ e->addr[2]) & e->mask[2]) &&
		    !((src.v6_words[3] ^ e->addr[3]) & e->mask[3]))
			return true;
	}
	return false;
}

static __always_inline void count_drop(__u32 slot, bool rate_limited)
{
	struct xdpfwd_counters *c = bpf_map_lookup_elem(&xdpfwd_counters, &slot);

	if (!c)
		return;
	if (rate_limited)
		c->rate_limited++;
	else
		c->not_allowed++;
}

enum { CONN_OLD, CONN_NEW_TCP, CONN_NEW_UDP };

/* TCP: a SYN without ACK opens a connection. UDP: a flow (source address and
 * port to one of the mapping's ports) not seen for XDPFWD_FLOW_IDLE_NS. */
static __always_inline int connection_state(const struct packet *pkt, __u32 slot, __u64 now,
					    struct xdpfwd_flow_key *flow)
{
	__be16 *sport = pkt->sport, *dport = pkt->dport;
	__u64 *seen;

	/* Only a later fragment has no ports (see parse.h). Each pointer is
	 * tested on its own: clang would merge the tests into one the
	 * verifier cannot follow. */
	if (pkt->frag == FRAG_LATER || !sport)
		return CONN_OLD;
	asm volatile("" : "+r"(dport));
	if (!dport)
		return CONN_OLD;
	if (pkt->tcp)
		return pkt->tcp->syn && !pkt->tcp->ack ? CONN_NEW_TCP : CONN_OLD;
	__builtin_memset(flow, 0, sizeof(*flow));
	flow->slot = slot;
	flow->sport = *sport;
	flow->dport = *dport;
	addr_copy(&flow->saddr, pkt->family, pkt->saddr);
	seen = bpf_map_lookup_elem(&xdpfwd_flows, flow);
	if (seen && now - *seen < XDPFWD_FLOW_IDLE_NS) {
		if (now - *seen > XDPFWD_REFRESH_NS)
			*seen = now;
		return CONN_OLD;
	}
	return CONN_NEW_UDP;
}

/* 0 when the packet may be forwarded, else the XDPFWD_STAT_IN_DROP_* reason,
 * already counted for the mapping. */
static __always_inline int policy_check(const struct xdpfwd_nat *nat, const struct packet *pkt)
{
	struct xdpfwd_flow_key flow;
	struct xdpfwd_policy *pol;
	__u32 slot = nat->slot;
	__u16 policy = nat->policy;
	int conn = CONN_OLD;
	bool ok = true;
	__u64 now;

	if (!policy)
		return 0;
	if ((policy & XDPFWD_POLICY_ALLOW) && !source_allowed(slot, pkt->family, pkt->saddr)) {
		count_drop(slot, false);
		return XDPFWD_STAT_IN_DROP_NOT_ALLOWED;
	}
	if (!(policy & (XDPFWD_POLICY_RATE | XDPFWD_POLICY_NEW_RATE | XDPFWD_POLICY_EXPIRES)))
		return 0;
	pol = bpf_map_lookup_elem(&xdpfwd_policy, &slot);
	if (!pol)
		return 0;
	now = policy_now();
	if ((policy & XDPFWD_POLICY_EXPIRES) && now >= pol->expires_ns)
		return XDPFWD_STAT_IN_DROP_EXPIRED;
	if (policy & XDPFWD_POLICY_NEW_RATE)
		conn = connection_state(pkt, slot, now, &flow);
	if (conn != CONN_OLD || (policy & XDPFWD_POLICY_RATE)) {
		bpf_spin_lock(&pol->lock);
		if (conn != CONN_OLD)
			ok = bucket_take(&pol->new_rate, now);
		if (ok && (policy & XDPFWD_POLICY_RATE))
			ok = bucket_take(&pol->rate, now);
		bpf_spin_unlock(&pol->lock);
	}
	if (!ok) {
		count_drop(slot, true);
		return XDPFWD_STAT_IN_DROP_RATE_LIMITED;
	}
	if (conn == CONN_NEW_UDP)
		bpf_map_update_elem(&xdpfwd_flows, &flow, &now, BPF_ANY);
	return 0;
}

#endif /* XDPFWD_POLICY_H */
