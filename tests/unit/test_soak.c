// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The packet soak: SOAK_PACKETS (default 1,000,000) random and mutated frames
 * through xdpfwd_in by BPF_PROG_TEST_RUN against a table of mappings, judged
 * by a parser of its own (this file's, not parse.h). Every frame that comes
 * out changed must be one that exactly matches a mapping, changed only in its
 * destination address and port (a later fragment: its address) and the
 * checksums over them, to the mapping's target; and its checksums must verify
 * whenever the input's did (an incremental update keeps a bad sum exactly as
 * bad). A generated, unmutated frame that matches must come out translated;
 * a frame the allowlist refuses must be dropped. SOAK_SEED picks another run.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "fixture.h"
#include "harness.h"
#include "packet.h"
#include "xdpfwd.skel.h"

static const char *const soak_table = "tcp 203.0.113.10:40000 10.8.0.2\n"
				      "udp 203.0.113.10:5353 10.8.0.2:53\n"
				      "tcp 41000 10.8.0.3\n"
				      "udp 6000-6009 10.8.0.5:7000-7009\n"
				      "tcp [2001:db8:1::10]:40000 [fd00:8::2]\n"
				      "udp 5353 [fd00:8::2]:53\n"
				      "udp 203.0.113.10:6100 10.8.0.6 allow=198.51.100.0/24\n"
				      "tcp 6101 [fd00:8::6] allow=2001:db8:2::/48\n";

static __u64 rng_state;

static __u32 rnd(__u32 n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? rng_state % n : 0;
}

static __u16 get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

/* What this file's parser finds in a frame. */
struct ref {
	int family, proto;
	size_t l3, l4, addr_len, ip_end;
	bool later, first;
	__u32 id;
	bool translatable; /* TCP/UDP with its header, or a later fragment */
};

/* The extension headers parse.h walks (XDPFWD_MAX_EXT_HEADERS of them). */
static bool is_ext(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_AH || next == IPPROTO_FRAGMENT;
}

static bool ref_parse(const __u8 *p, size_t len, struct ref *r)
{
	size_t off = 12;
	__u16 type;

	memset(r, 0, sizeof(*r));
	if (len < 14)
		return false;
	type = get16(p + 12);
	for (int i = 0; i < 2 && (type == ETH_P_8021Q || type == ETH_P_8021AD); i++) {
		if (off + 6 > len)
			return false;
		type = get16(p + off + 4);
		off += 4;
	}
	r->l3 = off + 2;
	if (type == ETH_P_IP) {
		size_t ihl;
		__u16 fo;

		if (r->l3 + 20 > len || p[r->l3] >> 4 != 4 || (p[r->l3] & 15) < 5)
			return false;
		ihl = (p[r->l3] & 15) * 4;
		if (r->l3 + ihl > len)
			return false;
		r->family = AF_INET;
		r->addr_len = 4;
		r->proto = p[r->l3 + 9];
		fo = get16(p + r->l3 + 6);
		r->later = fo & 0x1fff;
		r->first = !r->later && (fo & 0x2000);
		r->id = get16(p + r->l3 + 4);
		r->l4 = r->l3 + ihl;
		r->ip_end = r->l3 + get16(p + r->l3 + 2);
	} else if (type == ETH_P_IPV6) {
		__u8 next;
		int i;

		if (r->l3 + 40 > len || p[r->l3] >> 4 != 6)
			return false;
		r->family = AF_INET6;
		r->addr_len = 16;
		next = p[r->l3 + 6];
		r->l4 = r->l3 + 40;
		r->ip_end = r->l4 + get16(p + r->l3 + 4);
		/* As parse.h: at most 6, and a later fragment ends the walk. */
		for (i = 0; i < 6 && is_ext(next) && !r->later; i++) {
			size_t hlen = 8;

			if (r->l4 + (next == IPPROTO_FRAGMENT ? 8 : 2) > len)
				return false;
			if (next == IPPROTO_FRAGMENT) {
				__u16 fo = get16(p + r->l4 + 2);

				r->later = fo & 0xfff8;
				/* offset 0 is a first fragment, with M or without
				 * (an atomic fragment, RFC 6946), as in parse.h */
				r->first = !r->later;
				r->id = (__u32)get16(p + r->l4 + 4) << 16 | get16(p + r->l4 + 6);
			} else {
				hlen = next == IPPROTO_AH ? (p[r->l4 + 1] + 2) * 4
							  : (p[r->l4 + 1] + 1) * 8;
			}
			next = p[r->l4];
			r->l4 += hlen;
		}
		if ((!r->later && (i == 6 || is_ext(next))) || r->l4 > len)
			return false; /* too many, or cut */
		r->proto = next;
	} else {
		return false;
	}
	if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP)
		return false;
	r->translatable = r->later || r->l4 + (r->proto == IPPROTO_TCP ? 20 : 8) <= len;
	return r->translatable;
}

/* The mapping a frame to ADDR:PORT matches: the one whose forward entries
 * carry that address (a wildcard's: the address it answers from). */
static const struct rule *ref_lookup(const struct rule *rules, size_t n, const struct ref *r,
				     const __u8 *daddr, __u16 port)
{
	for (size_t i = 0; i < n; i++) {
		const struct xdpfwd_mapping *m = &rules[i].m;

		if (m->family != r->family || m->proto != r->proto || port < m->public_port ||
		    port >= m->public_port + m->port_count)
			continue;
		if (!memcmp(m->source_addr.bytes, daddr, r->addr_len))
			return &rules[i];
	}
	return NULL;
}

static bool ref_allowed(const struct rule *rule, const struct ref *r, const __u8 *saddr)
{
	union xdpfwd_addr a = {0};

	if (!rule->m.allow_count)
		return true;
	memcpy(a.bytes, saddr, r->addr_len);
	for (__u32 i = 0; i < rule->m.allow_count; i++)
		if (prefix_contains(&rule->allow[i], r->family, &a))
			return true;
	return false;
}

/* The folded sum the receiver checks: 0xffff (all ones) when it verifies. */
static __u16 residual(const __u8 *p, size_t len, __u32 acc)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc;
}

static __u16 l4_residual(const __u8 *p, const struct ref *r)
{
	size_t l4len = r->ip_end - r->l4;
	size_t saddr = r->l3 + (r->family == AF_INET ? 12 : 8);
	__u32 acc = residual(p + saddr, 2 * r->addr_len, 0) + r->proto + l4len;

	return residual(p + r->l4, l4len, acc);
}

/* The first fragments translated so far, for their later ones: a hash table
 * far larger than the program's LRU map, so it forgets nothing that the map
 * still knows; the newest translation of a key wins, as in the map. */
struct first_frag {
	bool used;
	int family, proto;
	__u32 id;
	__u8 saddr[16], daddr[16];
	const struct rule *rule;
};
#define FIRSTS (1 << 18)
#define PROBES 16

struct soak {
	const struct rule *rules;
	size_t nrules;
	struct first_frag *firsts;
	__u64 rewritten, verified, dropped, later_rewritten, replays;
};

static struct first_frag *first_slot(struct soak *s, const struct ref *r, const __u8 *sa,
				     const __u8 *da, bool insert)
{
	__u32 h = r->id * 2654435761u ^ r->family * 31 ^ r->proto;

	for (size_t i = 0; i < r->addr_len; i++)
		h = (h ^ sa[i] ^ da[i] << 8) * 16777619u;
	for (int k = 0; k < PROBES; k++) {
		struct first_frag *f = &s->firsts[(h + k) & (FIRSTS - 1)];

		if (f->used && f->family == r->family && f->proto == r->proto && f->id == r->id &&
		    !memcmp(f->saddr, sa, r->addr_len) && !memcmp(f->daddr, da, r->addr_len))
			return f;
		if (!f->used)
			return insert ? f : NULL;
	}
	return insert ? &s->firsts[h & (FIRSTS - 1)] : NULL;
}

/* 0 when OUT is a correct outcome for IN, else what is wrong. */
static const char *judge(struct soak *s, const __u8 *in, const __u8 *out, size_t len, __u32 verdict,
			 bool generated)
{
	struct ref r;
	bool parsed = ref_parse(in, len, &r);
	size_t sa = r.l3 + (r.family == AF_INET ? 12 : 8), da = sa + r.addr_len;
	const struct rule *rule = NULL;
	const struct first_frag *first = NULL;
	bool changed = memcmp(in, out, len) != 0;
	__u16 target_port = 0, dport = 0;

	if (parsed && r.later) {
		first = first_slot(s, &r, in + sa, in + da, false);
		rule = first ? first->rule : NULL;
	} else if (parsed) {
		dport = get16(in + r.l4 + 2);
		rule = ref_lookup(s->rules, s->nrules, &r, in + da, dport);
	}
	if (rule && !ref_allowed(rule, &r, in + sa)) {
		if (changed || verdict != XDP_DROP)
			return "a source outside the allowlist was not dropped";
		s->dropped++;
		return NULL;
	}
	if (verdict != XDP_PASS)
		return "an unexpected verdict";
	if (!changed) {
		if (generated && rule && !r.later)
			return "a frame that matches a mapping was not translated";
		return NULL;
	}
	if (!rule)
		return "a frame that matches no mapping was changed";
	/* Changed: only the destination and the checksums over it. */
	for (size_t i = 0; i < len; i++) {
		bool field =
		    (i >= da && i < da + r.addr_len) ||
		    (r.family == AF_INET && (i == r.l3 + 10 || i == r.l3 + 11)) ||
		    (!r.later && (i == r.l4 + 2 || i == r.l4 + 3)) ||
		    (!r.later && r.proto == IPPROTO_TCP && (i == r.l4 + 16 || i == r.l4 + 17)) ||
		    (!r.later && r.proto == IPPROTO_UDP && (i == r.l4 + 6 || i == r.l4 + 7));

		if (in[i] != out[i] && !field)
			return "a byte outside the destination and its checksums changed";
	}
	if (memcmp(out + da, rule->m.target_addr.bytes, r.addr_len))
		return "the destination is not the mapping's target";
	if (!r.later) {
		target_port = rule->m.target_port + (dport - rule->m.public_port);
		if (get16(out + r.l4 + 2) != target_port)
			return "the destination port is not the mapping's target port";
	} else {
		s->later_rewritten++;
	}
	if (r.family == AF_INET && residual(out + r.l3, (in[r.l3] & 15) * 4, 0) !=
				       residual(in + r.l3, (in[r.l3] & 15) * 4, 0))
		return "the IPv4 header checksum does not follow the rewrite";
	/* The sum covers what the IP header says; one that ends inside the
	 * transport header (a mutated length) cannot be judged. */
	if (!r.later && r.ip_end <= len && r.ip_end >= r.l4 + (r.proto == IPPROTO_TCP ? 20 : 8)) {
		bool udp0 = r.proto == IPPROTO_UDP && !get16(in + r.l4 + 6);

		if (udp0 && get16(out + r.l4 + 6))
			return "a UDP checksum of 0 (none) was filled in";
		if (!udp0 && l4_residual(out, &r) != l4_residual(in, &r) &&
		    !(r.proto == IPPROTO_UDP && get16(out + r.l4 + 6) == 0xffff))
			return "the transport checksum does not follow the rewrite";
		if (!udp0 && l4_residual(in, &r) == 0xffff)
			s->verified++;
	}
	if (r.first) {
		struct first_frag *f = first_slot(s, &r, in + sa, in + da, true);

		*f = (struct first_frag){
		    .used = true, .family = r.family, .proto = r.proto, .id = r.id, .rule = rule};
		memcpy(f->saddr, in + sa, r.addr_len);
		memcpy(f->daddr, in + da, r.addr_len);
	}
	s->rewritten++;
	return NULL;
}

static void random_spec(struct pkt_spec *p, const struct pkt_spec *last_first)
{
	/* 203.0.113.99 is an address no mapping answers on, wildcards
	 * included: only a miss may meet it. */
	static const char *const d4[] = {"203.0.113.10", "203.0.113.10", "203.0.113.99", "10.8.0.2",
					 "198.51.100.7"};
	static const char *const d6[] = {"2001:db8:1::10", "2001:db8:1::99", "fd00:8::2"};
	static const char *const s4[] = {"198.51.100.7", "198.51.100.200", "192.0.2.1"};
	static const char *const s6[] = {"2001:db8:2::7", "2001:db8:9::1"};
	static const __u16 ports[] = {40000, 5353, 41000, 6000, 6005, 6009, 6010, 6100, 6101, 80};
	static const __u8 ext[] = {0, 43, 60, 51};
	bool v6 = rnd(2);

	memset(p, 0, sizeof(*p));
	if (last_first && rnd(4) == 0) {
		/* A later fragment of the last first fragment. */
		*p = *last_first;
		p->no_l4 = true;
		if (p->family == AF_INET)
			p->frag_off = 0x0010 | (rnd(2) ? 0x2000 : 0);
		else
			p->v6_frag_off = 0x0080 | rnd(2);
		return;
	}
	p->family = v6 ? AF_INET6 : AF_INET;
	p->proto = rnd(10) < 9 ? (rnd(2) ? IPPROTO_TCP : IPPROTO_UDP) : IPPROTO_GRE;
	p->daddr = v6 ? d6[rnd(3)] : d4[rnd(5)];
	p->saddr = v6 ? s6[rnd(2)] : s4[rnd(3)];
	p->dport = rnd(8) ? ports[rnd(10)] : 1 + rnd(65535);
	p->sport = 1 + rnd(65535);
	p->payload = 2 * rnd(100);
	if (rnd(10) == 0)
		p->tpid[0] = rnd(2) ? ETH_P_8021Q : ETH_P_8021AD;
	if (p->tpid[0] && rnd(2))
		p->tpid[1] = ETH_P_8021Q;
	if (!v6 && rnd(5) == 0)
		p->ip_options = 4 * (1 + rnd(10));
	if (v6 && rnd(4) == 0)
		for (int i = 0, n = 1 + rnd(3); i < n; i++)
			p->ext[i] = ext[rnd(4)];
	p->frag_id = 1 + rnd(0xffff);
	if (rnd(10) == 0) { /* a first fragment */
		if (v6) {
			int i = 0;

			while (p->ext[i])
				i++;
			p->ext[i] = IPPROTO_FRAGMENT;
			p->v6_frag_off = 1;
		} else {
			p->frag_off = 0x2000;
		}
	}
	p->udp_no_csum = !v6 && p->proto == IPPROTO_UDP && rnd(20) == 0;
	if (rnd(20) == 0)
		p->truncate = 14 + rnd(80);
}

UNIT_TEST(test_soak, 50)
{
	static struct soak s;
	struct xdpfwd_bpf *skel = NULL;
	struct xdpfwd_maps maps;
	struct rule *rules = NULL;
	struct pkt_spec spec, last_first = {0};
	const char *env = getenv("SOAK_PACKETS");
	__u64 packets = env ? strtoull(env, NULL, 10) : 1000000, mutated = 0, failures = 0;
	size_t n = 0;
	int prog;

	env = getenv("SOAK_SEED");
	rng_state = env ? strtoull(env, NULL, 10) : 0x5eed5eedULL;
	if (!rng_state)
		rng_state = 1;
	s.firsts = calloc(FIRSTS, sizeof(*s.firsts));
	skel = xdpfwd_bpf__open_and_load();
	if (!CHECK(skel != NULL && s.firsts, "loading the BPF object: %m"))
		goto out;
	if (install_test_table(skel->obj, soak_table, &maps, &rules, &n))
		goto out;
	s.rules = rules;
	s.nrules = n;
	prog = bpf_program__fd(skel->progs.xdpfwd_in);
	for (__u64 i = 0; i < packets && failures < 5; i++) {
		__u8 in[PKT_MAX], out[PKT_MAX + sizeof(struct xdpfwd_replay)];
		bool mutate = rnd(10) < 3;
		size_t len, note = 0;
		__u64 rewritten = s.rewritten;
		const char *why;

		random_spec(&spec, last_first.family ? &last_first : NULL);
		len = build_packet(&spec, in);
		if (spec.truncate && (size_t)spec.truncate < len)
			len = spec.truncate;
		if ((spec.frag_off == 0x2000 || spec.v6_frag_off == 1) && !spec.no_l4)
			last_first = spec;
		if (mutate) {
			for (int k = 0, m = 1 + rnd(3); k < m; k++)
				in[rnd(len)] ^= 1 << rnd(8);
			mutated++;
		}
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
		/* A first fragment whose later ones came ahead of it (a random
		 * id met again) leaves with a replay note before the frame. */
		if (!bpf_prog_test_run_opts(prog, &opts) &&
		    opts.data_size_out == len + sizeof(struct xdpfwd_replay) &&
		    ((struct xdpfwd_replay *)out)->magic == XDPFWD_REPLAY_MAGIC)
			note = sizeof(struct xdpfwd_replay);
		if (opts.data_size_out != len + note) {
			CHECK(false, "soak packet %llu: test run failed or changed the length: %m",
			      (unsigned long long)i);
			failures++;
			continue;
		}
		why = judge(&s, in, out + note, len, opts.retval, !mutate && !spec.truncate);
		if (!why && note && s.rewritten == rewritten)
			why = "a replay note on a frame that was not translated";
		s.replays += note != 0;
		if (why) { /* one check per failure, not per frame */
			CHECK(false, "soak frame %llu (%s): %s", (unsigned long long)i,
			      mutate ? "mutated" : "generated", why);
			hexdump("input", in, len);
			hexdump("output", out, len);
			failures++;
		}
	}
	printf("soak: %llu frames (%llu mutated): %llu rewritten (%llu later fragments, %llu first "
	       "with a replay note), %llu of them with transport sums verified, %llu dropped by an "
	       "allowlist, %llu wrong\n",
	       (unsigned long long)packets, (unsigned long long)mutated,
	       (unsigned long long)s.rewritten, (unsigned long long)s.later_rewritten,
	       (unsigned long long)s.replays, (unsigned long long)s.verified,
	       (unsigned long long)s.dropped, (unsigned long long)failures);
	CHECK(s.rewritten > packets / 20 && s.verified > packets / 40,
	      "the soak rewrote too little to mean anything: %llu",
	      (unsigned long long)s.rewritten);
out:
	free(rules);
	free(s.firsts);
	xdpfwd_bpf__destroy(skel);
	return 1;
}
