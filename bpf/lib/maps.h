/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * maps.h - every map of the data path, and the counting helpers.
 * The loader pins all of them under one bpffs directory; see include/xdpfwd.h
 * for what their keys and values mean.
 */
#ifndef XDPFWD_MAPS_H
#define XDPFWD_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "xdpfwd.h"

/* Public endpoint -> target: read by the XDP program for every packet.
 * Not preallocated (like xdpfwd_rev): only user space writes it, and a
 * lookup costs the same either way (htab_map_lookup_elem() in
 * kernel/bpf/hashtab.c), but a capacity of N then reserves only the bucket
 * array (16 bytes a bucket, N rounded up to a power of two) instead of N
 * preallocated entries of 112 bytes: an entry's memory is taken when a
 * mapping is written (bench/results/memory.md). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPFWD_DEFAULT_PORT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpfwd_endpoint);
	__type(value, struct xdpfwd_nat);
} xdpfwd_fwd SEC(".maps");

/* Client endpoint -> public endpoint: read by the tc program on the way out. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPFWD_DEFAULT_PORT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xdpfwd_endpoint);
	__type(value, struct xdpfwd_nat);
} xdpfwd_rev SEC(".maps");

/* Slot -> mapping as configured. User space only; lives here so that it is
 * pinned with the rest and the tool needs no other state. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPFWD_DEFAULT_CAPACITY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xdpfwd_mapping);
} xdpfwd_mappings SEC(".maps");

/* Slot -> the NAT-PMP/PCP lease that mapping is (struct xdpfwd_owner), for
 * dynamic mappings only. User space only, like xdpfwd_mappings: pinned with
 * the rest so that the maps alone say which mappings clients hold and with
 * which nonce, and a restart or a reboot (through the state file) gives
 * every client its mapping back. No program reads it: it costs the data
 * path nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XDPFWD_DEFAULT_CAPACITY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct xdpfwd_owner);
} xdpfwd_owner SEC(".maps");

/* Slot -> traffic of that mapping; per-CPU so the hot path never contends. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPFWD_DEFAULT_CAPACITY);
	__type(key, __u32);
	__type(value, struct xdpfwd_counters);
} xdpfwd_counters SEC(".maps");

/* enum xdpfwd_stat -> packets with that outcome; room to append more. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPFWD_STATS_CAPACITY);
	__type(key, __u32);
	__type(value, __u64);
} xdpfwd_stats SEC(".maps");

/* What attach recorded, for the tool. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xdpfwd_config);
} xdpfwd_config SEC(".maps");

static __always_inline void count_stat(__u32 stat)
{
	__u64 *packets = bpf_map_lookup_elem(&xdpfwd_stats, &stat);

	if (packets)
		*packets += 1;
}

static __always_inline void count_rx(__u32 slot, __u32 bytes)
{
	struct xdpfwd_counters *c = bpf_map_lookup_elem(&xdpfwd_counters, &slot);

	if (c) {
		c->rx_packets++;
		c->rx_bytes += bytes;
	}
}

static __always_inline void count_tx(__u32 slot, __u32 bytes)
{
	struct xdpfwd_counters *c = bpf_map_lookup_elem(&xdpfwd_counters, &slot);

	if (c) {
		c->tx_packets++;
		c->tx_bytes += bytes;
	}
}

#endif /* XDPFWD_MAPS_H */
