/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * xdpfwd.h - the ABI shared by the BPF programs and the xdpfwd tool.
 *
 * Every struct that crosses the kernel/user boundary lives here and nowhere
 * else: map keys and values, counter records and counter names. Fields are
 * fixed width, padding is explicit, byte order is in the name or the comment,
 * and each size is pinned by a _Static_assert so both compilers agree.
 *
 * A mapping forwards PORT_COUNT consecutive public ports of one protocol and
 * family to as many consecutive target ports. The data path never sees a
 * range: the tool writes one forward entry per public port and one reverse
 * entry per target port, so every packet costs one hash lookup. A wildcard
 * mapping (no public address) is written under the one address it answers
 * from, so it takes only what is addressed to the server (see
 * xdpfwd_endpoint).
 */
#ifndef XDPFWD_H
#define XDPFWD_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

/*
 * The capacity: how many mappings the maps hold, chosen at attach
 * (--capacity N, XDPFWD_MIN_CAPACITY..XDPFWD_MAX_CAPACITY) and set on every
 * map of XDPFWD_CAPACITY_MAPS before the load (bpf_map__set_max_entries()).
 * The fact lives in one place: max_entries of the pinned xdpfwd_mappings,
 * which every command reads back (loader/capacity.h). Slots index the
 * counter and policy arrays; one mapping owns one slot, below the capacity.
 * The BPF object's own sizes (maps.h) are the default's; unit tests load it
 * as it is.
 */
#define XDPFWD_DEFAULT_CAPACITY 65536
#define XDPFWD_MIN_CAPACITY	1
#define XDPFWD_MAX_CAPACITY	1048576
/* Forward and reverse entries, one per port of every mapping: a capacity of
 * N mappings holds 2N of each, room for mappings of two ports on average
 * (most forward one; a range takes several). */
#define XDPFWD_PORTS_PER_MAPPING    2
#define XDPFWD_DEFAULT_PORT_ENTRIES (XDPFWD_PORTS_PER_MAPPING * XDPFWD_DEFAULT_CAPACITY)
/* The maps sized by the capacity: X(name, entries per mapping). Per-flow
 * maps (LRU) and the fragment maps keep their own fixed sizes. */
#define XDPFWD_CAPACITY_MAPS(X)                   \
	X("xdpfwd_fwd", XDPFWD_PORTS_PER_MAPPING) \
	X("xdpfwd_rev", XDPFWD_PORTS_PER_MAPPING) \
	X("xdpfwd_mappings", 1)                   \
	X(XDPFWD_MAP_OWNER, 1)                    \
	X("xdpfwd_counters", 1)                   \
	X("xdpfwd_policy", 1)                     \
	X("xdpfwd_allow", 1)                      \
	X("xdpfwd_owned", 1)

/*
 * The pinned maps the tool opens, once: X(field of struct xdpfwd_maps, pin
 * name). A pin name is the map's name in bpf/lib/maps.h (15 chars at most).
 */
#define XDPFWD_USER_MAPS(X)            \
	X(fwd, "xdpfwd_fwd")           \
	X(rev, "xdpfwd_rev")           \
	X(mappings, "xdpfwd_mappings") \
	X(counters, "xdpfwd_counters") \
	X(stats, "xdpfwd_stats")       \
	X(config, XDPFWD_MAP_CONFIG)   \
	X(policy, "xdpfwd_policy")     \
	X(allow, "xdpfwd_allow")       \
	X(owner, XDPFWD_MAP_OWNER)
/* Also the probe of whether the state in a pin directory is there. */
#define XDPFWD_MAP_CONFIG "xdpfwd_config"
/* New with NAT-PMP/PCP (issue 15): a pin directory made by an older build
 * lacks it until attach --replace pins it, so opening it is optional. */
#define XDPFWD_MAP_OWNER "xdpfwd_owner"
/* Ethernet devices XDP may redirect to; more are taken by the stack. */
#define XDPFWD_MAX_EGRESS 64

/* An IPv4 address sits in the first 4 bytes, the other 12 are zero. */
union xdpfwd_addr {
	__be32 v4;
	__be32 v6_words[4];
	__u8 bytes[16];
};

/*
 * Key of both lookup maps. Forward (xdpfwd_fwd): the public address and port
 * a packet is sent to; a wildcard mapping's entries carry the address it
 * answers from (xdpfwd_mapping.source_addr), never an all-zero address, so a
 * packet to any other destination (transit, broadcast, multicast, another
 * address of the server) matches nothing, as with nftables' "fib daddr type
 * local". Reverse (xdpfwd_rev): the client address and port a packet comes
 * from.
 */
struct xdpfwd_endpoint {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__be16 port;
	union xdpfwd_addr addr;
};
_Static_assert(sizeof(struct xdpfwd_endpoint) == 20, "xdpfwd_endpoint layout");

/*
 * Value of both lookup maps: what the address and port are rewritten to
 * (forward: the target's; reverse: the public ones), and the slot of the
 * mapping the entry belongs to.
 */
struct xdpfwd_nat {
	union xdpfwd_addr addr;
	__be16 port;
	__u16 policy; /* XDPFWD_POLICY_* the forward entry's packets must pass */
	__u32 slot;
};
_Static_assert(sizeof(struct xdpfwd_nat) == 24, "xdpfwd_nat layout");

/*
 * Policy bits of a forward entry: the data path looks further only where a
 * bit is set, so a mapping without policy costs nothing more.
 */
#define XDPFWD_POLICY_ALLOW    0x1 /* source must match xdpfwd_allow */
#define XDPFWD_POLICY_RATE     0x2 /* packets pass xdpfwd_policy's rate bucket */
#define XDPFWD_POLICY_NEW_RATE 0x4 /* new connections pass its new_rate bucket */
#define XDPFWD_POLICY_EXPIRES  0x8 /* dropped from xdpfwd_policy's expires_ns on */
/* Only in xdpfwd_frags: the datagram's first fragment was replayed through
 * the stack with the fragments that came ahead of it (frag.h), so the ones
 * after it go there too. With conntrack loaded, nf_defrag reassembles them at
 * PREROUTING, which the fast path would skip: the datagram would be lost. */
#define XDPFWD_NAT_VIA_STACK 0x8000

/* A token bucket as the operator wrote it: PPS tokens a second, BURST deep. */
struct xdpfwd_rate {
	__u32 pps; /* 0: no limit */
	__u32 burst;
};

/* An address prefix: allowlists and the client networks of attach. */
struct xdpfwd_prefix {
	__u8 family;
	__u8 len; /* 0..32 or 0..128 */
	__u16 pad;
	union xdpfwd_addr addr; /* bits past len are zero */
};
_Static_assert(sizeof(struct xdpfwd_prefix) == 20, "xdpfwd_prefix layout");

/* Source prefixes one mapping may allow. */
#define XDPFWD_MAX_ALLOW 16

/* Who asked for a mapping, when it was not the operator (struct
 * xdpfwd_owner.kind). */
enum xdpfwd_owner_kind {
	XDPFWD_OWNER_OPERATOR = 0, /* add, load, a config file: no owner record */
	XDPFWD_OWNER_NATPMP = 1,   /* a NAT-PMP client's lease (RFC 6886) */
	XDPFWD_OWNER_PCP = 2,	   /* a PCP client's MAP lease (RFC 6887) */
};

/*
 * Value of xdpfwd_owner (hash by slot, control plane only: no BPF program
 * reads it): the lease a NAT-PMP or PCP client holds on the mapping in that
 * slot, so that the maps alone say which mappings are dynamic and which
 * nonce owns each, and a restart or a reboot (through the state file's
 * owner= field) gives every client its mapping back. Operator mappings have
 * no entry. The client's address is the mapping's target address.
 */
struct xdpfwd_owner {
	__u8 kind; /* enum xdpfwd_owner_kind */
	__u8 pad;
	__u16 key_port; /* the internal port the client asked for, host order:
			 * the lease's key; 0 when NAT-PMP's internal port 0
			 * was mapped symmetrically (target port = public port) */
	__u8 nonce[12]; /* PCP: the MAP nonce (RFC 6887 §11.1); NAT-PMP: zero */
};
_Static_assert(sizeof(struct xdpfwd_owner) == 16, "xdpfwd_owner layout");

/*
 * The mapping as the operator wrote it, keyed by slot in xdpfwd_mappings.
 * Only user space reads it; it is the pinned record that list, del and load
 * work from, so the tool needs no state outside bpffs.
 */
struct xdpfwd_mapping {
	__u8 family;		       /* AF_INET or AF_INET6 */
	__u8 proto;		       /* IPPROTO_TCP or IPPROTO_UDP */
	__u16 port_count;	       /* ports in the range, 1..65535 */
	__u16 public_port;	       /* first public port, host order */
	__u16 target_port;	       /* first target port, host order */
	union xdpfwd_addr public_addr; /* all zero: every address */
	union xdpfwd_addr target_addr;
	/* Source written on the way out, and the address the forward entries
	 * are keyed by: public_addr, or for the wildcard the public
	 * interface's one global address of the family when it was added (a
	 * wildcard is refused while the interface has two). */
	union xdpfwd_addr source_addr;
	__u32 flags;	   /* none defined yet: must be zero */
	__u32 allow_count; /* its prefixes in xdpfwd_allow; 0: every source */
	struct xdpfwd_rate rate;
	struct xdpfwd_rate new_rate;
	__u32 ttl; /* seconds a lease lasts from add; 0: never expires */
	__u32 reserved;
	__u64 expires_ns; /* CLOCK_BOOTTIME, like bpf_ktime_get_boot_ns(); 0: never */
};
_Static_assert(sizeof(struct xdpfwd_mapping) == 96, "xdpfwd_mapping layout");

/*
 * Value of xdpfwd_allow (hash, by slot; only mappings with an allowlist have
 * one): the prefixes as the data path scans them. A source is admitted when,
 * for some entry below COUNT, every word of it masked by MASK equals ADDR
 * (an IPv4 source is word 0, the mask's other words zero). The cost is one
 * lookup and at most XDPFWD_MAX_ALLOW compares, whatever the number of
 * mappings; an LPM trie keyed by slot and prefix, measured first, cost 40 ns
 * with one mapping and 126 ns with 65,536 (bench/results/micro.md).
 */
struct xdpfwd_allow_entry {
	__be32 addr[4]; /* bits past the prefix are zero */
	__be32 mask[4];
};

struct xdpfwd_allowlist {
	__u32 count;
	__u32 pad;
	struct xdpfwd_allow_entry entry[XDPFWD_MAX_ALLOW];
};
_Static_assert(sizeof(struct xdpfwd_allowlist) == 8 + 32 * XDPFWD_MAX_ALLOW,
	       "xdpfwd_allowlist layout");

/*
 * A token bucket as GCRA: a packet at NOW conforms if the bucket's
 * theoretical arrival time TAT is at most NOW + LIMIT - INTERVAL, and moves
 * TAT one INTERVAL on. User space turns a rate into INTERVAL = 1 s / PPS and
 * LIMIT = BURST * INTERVAL, so the data path never divides.
 */
struct xdpfwd_bucket {
	__u64 interval_ns;
	__u64 limit_ns;
	__u64 tat_ns;
};

/* Value of xdpfwd_policy, by slot: what the data path enforces beyond the
 * allowlist. The lock covers both buckets, which every CPU shares. */
struct xdpfwd_policy {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 expires_ns; /* as in xdpfwd_mapping */
	struct xdpfwd_bucket rate;
	struct xdpfwd_bucket new_rate;
};
_Static_assert(sizeof(struct xdpfwd_policy) == 64, "xdpfwd_policy layout");

/* Key of xdpfwd_flows (LRU): a UDP flow seen by a mapping with --new-rate.
 * A flow unseen for XDPFWD_FLOW_IDLE_NS counts as new again. */
struct xdpfwd_flow_key {
	__u32 slot;
	__be16 sport;
	__be16 dport;
	union xdpfwd_addr saddr;
};
_Static_assert(sizeof(struct xdpfwd_flow_key) == 24, "xdpfwd_flow_key layout");
#define XDPFWD_MAX_FLOWS    131072
#define XDPFWD_FLOW_IDLE_NS 30000000000ULL /* like conntrack's UDP timeout */

/*
 * Key of xdpfwd_frags (LRU): one fragmented datagram in one direction, with
 * the addresses as it arrives. The first fragment stores the translation it
 * got; the later ones, which carry no ports, take the same.
 */
struct xdpfwd_frag_key {
	__u8 family;
	__u8 proto;
	__u8 outbound; /* 0: internet -> client, 1: client -> internet */
	__u8 pad;
	__be32 id; /* IPv4: the 16-bit id; IPv6: the fragment header's */
	union xdpfwd_addr saddr;
	union xdpfwd_addr daddr;
};
_Static_assert(sizeof(struct xdpfwd_frag_key) == 40, "xdpfwd_frag_key layout");
/* Datagrams in flight whose fragments are followed; the oldest make room. */
#define XDPFWD_MAX_FRAGS 16384

/*
 * Fragments that arrive before their first (frag.h). XDP cannot hold a
 * packet, so such a fragment goes on to the stack untouched as before, and a
 * copy of its frame is kept: xdpfwd_ahead (LRU, keyed like xdpfwd_frags) says
 * how many copies a datagram has, xdpfwd_held (LRU) holds them. When the
 * first fragment arrives and is translated, it leaves XDP with a
 * struct xdpfwd_replay note, and the tc program on the public interface's
 * ingress sends it and the translated copies into the stack, so the client
 * gets the whole datagram. Both maps are preallocated and LRU: a flood of
 * orphan fragments evicts older copies and never grows memory; the
 * fragments of datagrams in order never touch them.
 */
struct xdpfwd_ahead {
	__u64 since_ns; /* bpf_ktime_get_ns() of its first copy */
	__u32 count;	/* copies written, indexes 0..count-1 of xdpfwd_held */
	__u32 pad;
};
_Static_assert(sizeof(struct xdpfwd_ahead) == 16, "xdpfwd_ahead layout");

struct xdpfwd_held_key {
	struct xdpfwd_frag_key dgram; /* as in xdpfwd_ahead */
	__u32 index;
};
_Static_assert(sizeof(struct xdpfwd_held_key) == 44, "xdpfwd_held_key layout");

/* A whole frame of up to 1500 bytes of IP with Ethernet and two VLAN tags;
 * larger (jumbo) fragments are not copied (in_fragment_not_held). */
#define XDPFWD_HELD_BYTES 1528
struct xdpfwd_held {
	__u64 since_ns; /* the datagram's since_ns when copied: older is stale */
	__u16 len;	/* bytes of FRAME */
	__u8 l3_off;	/* where the IP header starts in FRAME */
	__u8 family;
	__u32 pad;
	__u8 frame[XDPFWD_HELD_BYTES];
};
_Static_assert(sizeof(struct xdpfwd_held) == 16 + XDPFWD_HELD_BYTES, "xdpfwd_held layout");
/* Copies kept: 4,096 frames (6 MiB); a datagram has at most 64 of them (a
 * 64 KiB datagram in 1,500-byte fragments has 45). */
#define XDPFWD_MAX_HELD		  4096
#define XDPFWD_MAX_AHEAD	  1024
#define XDPFWD_MAX_HELD_PER_DGRAM 64
/* Copies older than the kernel's reassembly timeout (net.ipv4.ipfrag_time,
 * default 30 s) would not be reassembled by the client either. */
#define XDPFWD_HELD_TIMEOUT_NS 30000000000ULL

/*
 * Key of xdpfwd_stack (LRU): a flow the server's own stack owns on a mapped
 * public endpoint: a connection of one of its sockets from that address and
 * port, or a flow its masquerade gave that source (another client's, which
 * kept its port). xdpfwd_out learns it from the packets that leave the public
 * interface with the endpoint as source but were not translated by xdpfwd
 * (POSTROUTING, and so masquerade, has run by then); xdpfwd_in hands that
 * flow's packets to the stack untouched, so its replies reach their owner
 * as with DNAT and conntrack. Only new inbound flows follow the mapping: a
 * TCP SYN without ACK forwarded to the mapping forgets the entry. Value: the
 * last time (CLOCK_BOOTTIME ns) a packet of the flow was seen.
 */
struct xdpfwd_stack_key {
	__u8 family;
	__u8 proto;
	__be16 local_port; /* the mapped public port */
	__be16 peer_port;
	__u16 pad;
	union xdpfwd_addr local_addr; /* the public address */
	union xdpfwd_addr peer_addr;
};
_Static_assert(sizeof(struct xdpfwd_stack_key) == 40, "xdpfwd_stack_key layout");
#define XDPFWD_MAX_STACK_FLOWS 16384
/* A UDP flow of the stack idle this long is over, as conntrack's UDP stream
 * timeout (nf_conntrack_udp_timeout_stream); a TCP one lasts until a new SYN
 * or eviction, as conntrack keeps an established connection for days. */
#define XDPFWD_STACK_UDP_IDLE_NS 120000000000ULL
/*
 * xdpfwd_owned (array, by slot): when xdpfwd_out last learned a stack flow on
 * one of the mapping's public endpoints (boot ns; 0: never). xdpfwd_in looks in
 * xdpfwd_stack only for mappings where this is set, so a mapping the stack
 * never used pays one array read (inlined by the verifier) and no hash lookup.
 */

/*
 * skb->tc_index that xdpfwd_from_tun gives a packet it translated and sends
 * out with bpf_redirect_neigh (fast path), so that xdpfwd_out, which sees it
 * with the public endpoint as source, does not take it for a flow of the
 * stack. Nothing else in the kernel sets tc_index since dsmark went (6.3);
 * received packets carry 0.
 */
#define XDPFWD_TC_INDEX_TRANSLATED 0x7866

/* Per-CPU, per slot. rx: internet -> client, tx: client -> internet.
 * Bytes are IP bytes (header and payload), without the link layer. */
struct xdpfwd_counters {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 not_allowed;  /* dropped: source outside the allowlist */
	__u64 rate_limited; /* dropped: over --rate or --new-rate */
};
_Static_assert(sizeof(struct xdpfwd_counters) == 48, "xdpfwd_counters layout");

#define XDPFWD_MAX_CLIENT_NETS 8

/* What attach recorded; the one entry of xdpfwd_config. */
struct xdpfwd_config {
	__u32 public_ifindex;
	__u32 tunnel_ifindex;
	__u64 netns_ino; /* inode of the network namespace attach ran in */
	__u32 xdp_mode;	 /* enum xdp_attach_mode of libxdp */
	__u32 tc_handle; /* tc filter on the public interface's egress */
	__u32 tc_priority;
	__u32 attached;	 /* 1 while programs are attached */
	__u32 fast_path; /* 1: attach --fast-path on */
	__u32 client_count;
	/* attach --clients: where targets may be; none declared: anywhere */
	struct xdpfwd_prefix clients[XDPFWD_MAX_CLIENT_NETS];
};
_Static_assert(sizeof(struct xdpfwd_config) == 200, "xdpfwd_config layout");

/*
 * Key of xdpfwd_hairpin (LRU): a flow of a client that reached its own mapped
 * port through the public address. Its packets reach the client from the
 * tunnel's own address and the client's source port (port kept); the key is
 * the answer as it leaves the client: from CLIENT:CLIENT_PORT (the mapping's
 * target) to the tunnel's address and PEER_PORT. Only answers of such flows
 * are turned back into the tunnel; any other packet to the tunnel's address
 * (a resolver on the server, say) is the server's own.
 */
struct xdpfwd_hairpin_key {
	__u8 family;
	__u8 proto;
	__be16 client_port;
	__be16 peer_port;
	__u16 pad;
	union xdpfwd_addr client;
};
_Static_assert(sizeof(struct xdpfwd_hairpin_key) == 24, "xdpfwd_hairpin_key layout");
/* Such flows in flight; the least recently used make room. */
#define XDPFWD_MAX_HAIRPIN_FLOWS 4096

/*
 * The note xdpfwd_in leaves in XDP metadata for a packet whose target is
 * behind the tunnel, which XDP does not transmit to (an L3 device has no XDP
 * transmit; an Ethernet one may not either, and a failed XDP redirect drops
 * silently): the tc program on the same interface's ingress redirects the
 * skb there, past routing, netfilter and conntrack.
 */
struct xdpfwd_meta {
	__u32 magic; /* XDPFWD_META_MAGIC: metadata is not always ours */
	__u32 ifindex;
};
_Static_assert(sizeof(struct xdpfwd_meta) == 8, "xdpfwd_meta layout");
#define XDPFWD_META_MAGIC 0x78646677 /* "xdfw" */

/*
 * The note for a first fragment whose later fragments came before it (see
 * xdpfwd_ahead): the tc program on the public interface's ingress sends the
 * translated copies of DGRAM's fragments into the stack, then the packet.
 * MAGIC sits where xdpfwd_meta's does.
 */
struct xdpfwd_replay {
	__u32 magic; /* XDPFWD_REPLAY_MAGIC */
	__u32 count; /* copies in xdpfwd_held, at most XDPFWD_MAX_HELD_PER_DGRAM */
	__u32 slot;  /* the mapping, for its counters */
	__u32 pad;
	__u64 since_ns; /* copies older than this are another datagram's */
	struct xdpfwd_frag_key dgram;
};
_Static_assert(sizeof(struct xdpfwd_replay) == 64, "xdpfwd_replay layout");
#define XDPFWD_REPLAY_MAGIC 0x78646672 /* "xdfr" */

/*
 * Global counters, one per outcome, per-CPU in xdpfwd_stats.
 * X(enum suffix, name shown to users, hook that counts it): "xdp" is xdpfwd_in
 * on the public interface, "tc_ingress" xdpfwd_to_tun on its ingress,
 * "tc_egress" xdpfwd_out on its egress, "tc_tunnel" xdpfwd_from_tun on the
 * tunnel's ingress. in_forwarded counts every translated packet; each of them
 * then takes one exit: in_fast_* or in_stack_* (the reason it went the slow
 * way). Why a packet was not parsed is counted per hook (parse_reason_in() and
 * parse_reason_out() in bpf/lib/parse.h): no two counters need stay parallel.
 */
#define XDPFWD_STATS(X)                                                \
	X(IN_FORWARDED, "in_forwarded", "xdp")                         \
	X(IN_PASS_NOT_IP, "in_pass_not_ip", "xdp")                     \
	X(IN_PASS_NOT_TCP_UDP, "in_pass_not_tcp_udp", "xdp")           \
	X(IN_PASS_NO_MAPPING, "in_pass_no_mapping", "xdp")             \
	X(IN_PASS_FRAGMENT, "in_pass_fragment", "xdp")                 \
	X(IN_PASS_TRUNCATED, "in_pass_truncated", "xdp")               \
	X(IN_PASS_EXT_HEADERS, "in_pass_ext_headers", "xdp")           \
	X(IN_FAST_REDIRECT, "in_fast_redirect", "xdp")                 \
	X(IN_FAST_TUNNEL, "in_fast_tunnel", "xdp")                     \
	X(IN_STACK_FAST_PATH_OFF, "in_stack_fast_path_off", "xdp")     \
	X(IN_STACK_TTL, "in_stack_ttl", "xdp")                         \
	X(IN_STACK_NO_ROUTE, "in_stack_no_route", "xdp")               \
	X(IN_STACK_NO_NEIGH, "in_stack_no_neigh", "xdp")               \
	X(IN_STACK_MTU, "in_stack_mtu", "xdp")                         \
	X(IN_STACK_NO_XDP_EGRESS, "in_stack_no_xdp_egress", "xdp")     \
	X(IN_STACK_VLAN, "in_stack_vlan", "xdp")                       \
	X(IN_TUNNEL_REDIRECTED, "in_tunnel_redirected", "tc_ingress")  \
	X(IN_FRAGMENT_FOLLOWED, "in_fragment_followed", "xdp")         \
	X(IN_ICMP_ERROR, "in_icmp_error", "xdp")                       \
	X(IN_HAIRPIN, "in_hairpin", "tc_tunnel")                       \
	X(IN_DROP_NOT_ALLOWED, "in_drop_not_allowed", "xdp")           \
	X(IN_DROP_RATE_LIMITED, "in_drop_rate_limited", "xdp")         \
	X(IN_DROP_EXPIRED, "in_drop_expired", "xdp")                   \
	X(OUT_REWRITTEN, "out_rewritten", "tc_egress")                 \
	X(OUT_PASS_NOT_IP, "out_pass_not_ip", "tc_egress")             \
	X(OUT_PASS_NOT_TCP_UDP, "out_pass_not_tcp_udp", "tc_egress")   \
	X(OUT_PASS_NO_MAPPING, "out_pass_no_mapping", "tc_egress")     \
	X(OUT_PASS_FRAGMENT, "out_pass_fragment", "tc_egress")         \
	X(OUT_PASS_TRUNCATED, "out_pass_truncated", "tc_egress")       \
	X(OUT_PASS_EXT_HEADERS, "out_pass_ext_headers", "tc_egress")   \
	X(OUT_ERROR, "out_error", "tc_egress")                         \
	X(OUT_PASS_FROM_TUNNEL, "out_pass_from_tunnel", "tc_egress")   \
	X(OUT_FRAGMENT_FOLLOWED, "out_fragment_followed", "tc_egress") \
	X(OUT_ICMP_ERROR, "out_icmp_error", "tc_egress")               \
	X(OUT_FAST_REDIRECT, "out_fast_redirect", "tc_tunnel")         \
	X(OUT_STACK_TTL, "out_stack_ttl", "tc_tunnel")                 \
	X(OUT_FAST_ERROR, "out_fast_error", "tc_tunnel")               \
	X(OUT_HAIRPIN, "out_hairpin", "tc_tunnel")                     \
	X(IN_FRAGMENT_HELD, "in_fragment_held", "xdp")                 \
	X(IN_FRAGMENT_NOT_HELD, "in_fragment_not_held", "xdp")         \
	X(IN_STACK_FRAGMENT_REPLAY, "in_stack_fragment_replay", "xdp") \
	X(IN_FRAGMENT_REPLAYED, "in_fragment_replayed", "tc_ingress")  \
	X(IN_FRAGMENT_LOST, "in_fragment_lost", "tc_ingress")          \
	X(OUT_STACK_MTU, "out_stack_mtu", "tc_tunnel")                 \
	X(OUT_STACK_LOCAL, "out_stack_local", "tc_tunnel")             \
	X(OUT_STACK_NOT_PUBLIC, "out_stack_not_public", "tc_tunnel")   \
	X(OUT_STACK_NO_ROUTE, "out_stack_no_route", "tc_tunnel")       \
	X(IN_PASS_STACK_OWNED, "in_pass_stack_owned", "xdp")           \
	X(OUT_STACK_FLOW, "out_stack_flow", "tc_egress")

#define XDPFWD_STAT_ENUM(id, name, hook) XDPFWD_STAT_##id,
enum xdpfwd_stat { XDPFWD_STATS(XDPFWD_STAT_ENUM) XDPFWD_STAT_MAX };
#undef XDPFWD_STAT_ENUM

/*
 * Entries of xdpfwd_stats: room for counters later builds append, so the
 * pinned map keeps its size and attach --replace reuses it as it is (a build
 * with more counters than room would have to migrate it). A code is its
 * position in XDPFWD_STATS: entries are only ever appended, never moved or
 * reused, as Cilium keeps its drop reasons (bpf/lib/drop_reasons.h).
 */
#define XDPFWD_STATS_CAPACITY 256
_Static_assert(XDPFWD_STAT_MAX <= XDPFWD_STATS_CAPACITY, "xdpfwd_stats has no room left");

#ifndef __bpf__
#define XDPFWD_STAT_NAME(id, name, hook) [XDPFWD_STAT_##id] = name,
#define XDPFWD_STAT_HOOK(id, name, hook) [XDPFWD_STAT_##id] = hook,
static const char *const xdpfwd_stat_names[XDPFWD_STAT_MAX] = {XDPFWD_STATS(XDPFWD_STAT_NAME)};
static const char *const xdpfwd_stat_hooks[XDPFWD_STAT_MAX] = {XDPFWD_STATS(XDPFWD_STAT_HOOK)};
#undef XDPFWD_STAT_NAME
#undef XDPFWD_STAT_HOOK
#endif

#endif /* XDPFWD_H */
