// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * pcp_daemon.c - the NAT-PMP/PCP server in serve: options, STATE.pcp and the
 * batch of a round (pure), then sockets, rounds and ticks; see pcp_daemon.h.
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include "change.h"
#include "conflict.h"
#include "leases.h"
#include "localaddr.h"
#include "log.h"
#include "pcp_announce.h"
#include "pcp_daemon.h"
#include "pcp_hook.h"
#include "pindir.h"
#include "state.h"
#include "textfile.h"
#include "wg_peers.h"

/* The owner record keeps the MAP nonce whole (include/xdpfwd.h). */
_Static_assert(sizeof(((struct xdpfwd_owner *)0)->nonce) == PCP_NONCE_LEN, "nonce length");

/* --- options ------------------------------------------------------------- */

/* S as a whole decimal number in MIN-MAX into *OUT; false otherwise. */
static bool parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "A:B" (B optional when OPTIONAL) into two numbers of MIN-MAX. */
static bool parse_pair(const char *s, uint64_t min, uint64_t max, bool optional, uint64_t *a,
		       uint64_t *b)
{
	char first[32];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);

	if (n >= sizeof(first) || (!colon && !optional))
		return false;
	memcpy(first, s, n);
	first[n] = 0;
	if (!parse_num(first, min, max, a))
		return false;
	if (!colon) {
		*b = 0;
		return true;
	}
	return parse_num(colon + 1, min, max, b);
}

int pcpd_parse_ports(const char *s, uint16_t **ports, size_t *n, char *err)
{
	uint8_t *seen = calloc(65536, 1);
	char *copy = strdup(s ? s : ""), *next = copy, *tok, why[ERR_LEN];
	size_t k = 0;

	*ports = NULL;
	*n = 0;
	if (!seen || !copy) {
		snprintf(err, ERR_LEN, "--pcp-pool: out of memory");
		goto bad;
	}
	/* strsep, not strtok: an empty element (",," or a trailing comma) is
	 * a mistake to name, not something to skip. */
	while ((tok = strsep(&next, ","))) {
		__u16 first, count;

		if (!*tok) {
			snprintf(err, ERR_LEN,
				 "--pcp-pool '%s': an empty range between commas: want ranges like "
				 "40000-49999,50100, ports 1-65535",
				 s);
			goto bad;
		}
		/* The table's own parser of ports, with its messages. */
		if (parse_port_range(tok, &first, &count, why)) {
			snprintf(err, ERR_LEN, "--pcp-pool '%s': %s", s, why);
			goto bad;
		}
		for (uint32_t p = first; p < (uint32_t)first + count; p++) {
			if (seen[p]) {
				snprintf(
				    err, ERR_LEN,
				    "--pcp-pool '%s': port %u is in two ranges: give each once", s,
				    p);
				goto bad;
			}
			seen[p] = 1, k++;
		}
	}
	*ports = malloc(k * sizeof(**ports));
	if (!*ports) {
		snprintf(err, ERR_LEN, "--pcp-pool: out of memory");
		goto bad;
	}
	for (uint32_t p = 1; p < 65536; p++)
		if (seen[p])
			(*ports)[(*n)++] = (uint16_t)p;
	free(seen);
	free(copy);
	return 0;
bad:
	free(seen);
	free(copy);
	return -1;
}

static int parse_addrs(const char *s, struct pcpd_config *c, char *err)
{
	char *copy = strdup(s), *next = copy, *tok;
	int ret = copy ? 0 : -1;

	if (!copy)
		snprintf(err, ERR_LEN, "--pcp: out of memory");
	while (!ret && (tok = strsep(&next, ","))) {
		struct pcp_addr *a = &c->addr[c->naddrs];
		struct in_addr v4;

		if (!*tok) {
			snprintf(err, ERR_LEN,
				 "--pcp '%s': an empty address between commas: want 1-%d addresses "
				 "of the tunnel interface, separated by commas",
				 s, PCPD_MAX_ADDRS);
			ret = -1;
		} else if (c->naddrs == PCPD_MAX_ADDRS) {
			snprintf(err, ERR_LEN, "--pcp: at most %d addresses", PCPD_MAX_ADDRS);
			ret = -1;
		} else if (inet_pton(AF_INET, tok, &v4) == 1) {
			pcp_addr_from_v4(a, v4.s_addr);
			c->naddrs++;
		} else if (inet_pton(AF_INET6, tok, a->b) == 1 && !pcp_addr_is_v4(a)) {
			c->naddrs++;
		} else {
			a = NULL;
		}
		for (size_t i = 0; !ret && a && i + 1 < c->naddrs; i++)
			if (!memcmp(&c->addr[i], a, sizeof(*a))) {
				snprintf(err, ERR_LEN,
					 "--pcp: the address '%s' is given twice: give it once",
					 tok);
				ret = -1;
			}
		if (!ret && !a) {
			snprintf(err, ERR_LEN,
				 "--pcp '%s': want 1-%d IPv4 or IPv6 addresses of the tunnel "
				 "interface, separated by commas",
				 tok, PCPD_MAX_ADDRS);
			ret = -1;
		}
	}
	if (!ret && !c->naddrs) {
		snprintf(err, ERR_LEN,
			 "--pcp '%s': want 1-%d IPv4 or IPv6 addresses of the tunnel interface", s,
			 PCPD_MAX_ADDRS);
		ret = -1;
	}
	free(copy);
	return ret;
}

/* The options other than --pcp and --pcp-pool. */
static int parse_limits(const struct pcpd_options *o, struct pcp_lease_config *l, char *err)
{
	uint64_t a, b;

	if (o->quota) {
		if (!parse_num(o->quota, 1, PCPD_QUOTA_LIMIT, &a))
			goto quota;
		l->quota = (uint32_t)a;
	}
	if (o->lifetime) {
		if (!parse_pair(o->lifetime, 1, PCPD_LIFE_LIMIT, false, &a, &b) || a > b)
			goto lifetime;
		l->life_min = (uint32_t)a;
		l->life_max = (uint32_t)b;
	}
	if (o->reuse_delay) {
		if (!parse_num(o->reuse_delay, 0, PCPD_DELAY_LIMIT, &a))
			goto delay;
		l->reuse_delay = (uint32_t)a;
	}
	if (o->rate) {
		if (!parse_pair(o->rate, 1, PCPD_RATE_LIMIT, true, &a, &b))
			goto rate;
		l->rate = (uint32_t)a;
		l->burst = b ? (uint32_t)b : (uint32_t)(a * 2 > PCPD_RATE_LIMIT ? a : a * 2);
	}
	if (o->port0 >= 0)
		l->port0_symmetric = o->port0;
	return 0;
quota:
	snprintf(err, ERR_LEN, "--pcp-quota '%s': want 1-%d mappings per client", o->quota,
		 PCPD_QUOTA_LIMIT);
	return -1;
lifetime:
	snprintf(err, ERR_LEN, "--pcp-lifetime '%s': want MIN:MAX seconds, 1 <= MIN <= MAX <= %d",
		 o->lifetime, PCPD_LIFE_LIMIT);
	return -1;
delay:
	snprintf(err, ERR_LEN, "--pcp-reuse-delay '%s': want 0-%d seconds", o->reuse_delay,
		 PCPD_DELAY_LIMIT);
	return -1;
rate:
	snprintf(err, ERR_LEN,
		 "--pcp-rate '%s': want PPS[:BURST] requests per client, each 1-%d (BURST "
		 "default 2 x PPS)",
		 o->rate, PCPD_RATE_LIMIT);
	return -1;
}

int pcpd_parse(const struct pcpd_options *o, struct pcpd_config *c, char *err)
{
	memset(c, 0, sizeof(*c));
	c->lease = (struct pcp_lease_config){.life_min = 60,
					     .life_max = 7200,
					     .quota = 5,
					     .reuse_delay = 600,
					     .rate = 10,
					     .burst = 20,
					     .port0_symmetric = true,
					     .max_leases = 65536,
					     .max_clients = 65536};
	if (!o->addrs) {
		const char *given = o->pool	     ? "--pcp-pool"
				    : o->quota	     ? "--pcp-quota"
				    : o->lifetime    ? "--pcp-lifetime"
				    : o->reuse_delay ? "--pcp-reuse-delay"
				    : o->rate	     ? "--pcp-rate"
				    : o->hook	     ? "--pcp-hook"
				    : o->port0 >= 0  ? "--pcp-internal-port-0"
						     : NULL;

		if (!given)
			return 0;
		snprintf(err, ERR_LEN, "%s: only with --pcp ADDR[,ADDR] (the server's addresses)",
			 given);
		return -1;
	}
	c->enabled = true;
	if (!o->pool) {
		snprintf(err, ERR_LEN,
			 "--pcp-pool: required with --pcp: the public ports to hand out, like "
			 "40000-49999,50100");
		return -1;
	}
	if (parse_addrs(o->addrs, c, err) || pcpd_parse_ports(o->pool, &c->pool, &c->npool, err) ||
	    parse_limits(o, &c->lease, err)) {
		pcpd_config_free(c);
		return -1;
	}
	if (o->hook && !*o->hook) {
		snprintf(err, ERR_LEN, "--pcp-hook: want a command for /bin/sh -c, not empty");
		pcpd_config_free(c);
		return -1;
	}
	c->hook = o->hook;
	return 0;
}

void pcpd_config_free(struct pcpd_config *c)
{
	free(c->pool);
	c->pool = NULL;
	c->npool = 0;
}

/* --- STATE.pcp ------------------------------------------------------------ */

static void format_paddr(char *buf, size_t len, const struct pcp_addr *a)
{
	if (pcp_addr_is_v4(a))
		inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
}

static bool parse_paddr(const char *s, struct pcp_addr *a)
{
	struct in_addr v4;

	if (inet_pton(AF_INET, s, &v4) == 1) {
		pcp_addr_from_v4(a, v4.s_addr);
		return true;
	}
	return inet_pton(AF_INET6, s, a->b) == 1 && !pcp_addr_is_v4(a);
}

void pcpd_saved_format(const struct pcpd_saved *s, struct strbuf *out)
{
	char a[INET6_ADDRSTRLEN];
	size_t start = out->len;

	strbuf_appendf(out, "xdpfwd-pcp 1\norigin %" PRIu64 "\n", s->origin_unix);
	format_paddr(a, sizeof(a), &s->ext_v4);
	strbuf_appendf(out, "external ipv4 %s\n", s->has_v4 ? a : "-");
	format_paddr(a, sizeof(a), &s->ext_v6);
	strbuf_appendf(out, "external ipv6 %s\n", s->has_v6 ? a : "-");
	for (size_t i = 0; i < s->nquar; i++) {
		format_paddr(a, sizeof(a), &s->quar[i].client);
		strbuf_appendf(out, "quarantine %u %u %s %" PRIu64 "\n", s->quar[i].port,
			       s->quar[i].key_port, a, s->quar[i].until);
	}
	if (!out->failed)
		strbuf_appendf(out, "end crc32=%08x\n",
			       text_crc32(out->data + start, out->len - start));
}

static int saved_line(char *line, struct pcpd_saved *s, unsigned int *seen, char *why)
{
	char f[5][64];
	int n = sscanf(line, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]);
	uint64_t a, b, u;

	if (n == 2 && !strcmp(f[0], "origin") && parse_num(f[1], 0, UINT64_MAX / 2, &a)) {
		s->origin_unix = a;
		*seen |= 1;
	} else if (n == 3 && !strcmp(f[0], "external") && !strcmp(f[1], "ipv4")) {
		s->has_v4 = strcmp(f[2], "-") && parse_paddr(f[2], &s->ext_v4);
		*seen |= 2;
		return strcmp(f[2], "-") && !s->has_v4 ? -1 : 0;
	} else if (n == 3 && !strcmp(f[0], "external") && !strcmp(f[1], "ipv6")) {
		s->has_v6 = strcmp(f[2], "-") && parse_paddr(f[2], &s->ext_v6);
		*seen |= 4;
		return strcmp(f[2], "-") && !s->has_v6 ? -1 : 0;
	} else if (n == 5 && !strcmp(f[0], "quarantine") && parse_num(f[1], 1, 65535, &a) &&
		   parse_num(f[2], 0, 65535, &b) && parse_num(f[4], 0, UINT64_MAX / 2, &u) &&
		   s->nquar < PCPD_MAX_QUAR) {
		struct pcp_quar_info *q = &s->quar[s->nquar];

		if (!parse_paddr(f[3], &q->client))
			return -1;
		q->port = (uint16_t)a;
		q->key_port = (uint16_t)b;
		q->until = u;
		s->nquar++;
	} else {
		snprintf(why, 64, "unknown or malformed record");
		return -1;
	}
	return 0;
}

int pcpd_saved_parse(const char *text, struct pcpd_saved *s, char *err)
{
	const char *end = strstr(text, "end crc32=");
	unsigned int seen = 0, lineno = 1, crc;
	char *body = NULL, *line, *save = NULL, why[64] = "malformed record";

	memset(s, 0, sizeof(*s));
	if (strncmp(text, "xdpfwd-pcp 1\n", 13)) {
		snprintf(err, ERR_LEN, "line 1: not an xdpfwd-pcp 1 file");
		return -1;
	}
	while (end && end != text && end[-1] != '\n')
		end = strstr(end + 1, "end crc32=");
	if (!end || sscanf(end, "end crc32=%8x", &crc) != 1 ||
	    crc != text_crc32(text, (size_t)(end - text)) || strcmp(end + 18, "\n")) {
		snprintf(err, ERR_LEN, "no end line, or its CRC does not match: torn or damaged");
		return -1;
	}
	body = strndup(text + 13, (size_t)(end - text - 13));
	s->quar = calloc(PCPD_MAX_QUAR, sizeof(*s->quar));
	if (!body || !s->quar) {
		snprintf(err, ERR_LEN, "out of memory");
		goto fail;
	}
	for (line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (saved_line(line, s, &seen, why)) {
			snprintf(err, ERR_LEN, "line %u: %s", lineno, why);
			goto fail;
		}
	}
	if (seen != 7) {
		snprintf(err, ERR_LEN, "an origin or external line is missing");
		goto fail;
	}
	free(body);
	return 0;
fail:
	free(body);
	pcpd_saved_free(s);
	return -1;
}

void pcpd_saved_free(struct pcpd_saved *s)
{
	free(s->quar);
	s->quar = NULL;
	s->nquar = 0;
}

/* --- the batch of a round ------------------------------------------------- */

int pcpd_batch_init(struct pcpd_batch *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->put = calloc(cap, sizeof(*b->put));
	b->put_is_add = calloc(cap, sizeof(*b->put_is_add));
	b->drop = calloc(cap, sizeof(*b->drop));
	b->renew = calloc(cap, sizeof(*b->renew));
	b->added = calloc(cap, sizeof(*b->added));
	b->touched = calloc(4 * 65536 / 8, 1);
	b->cap = cap;
	if (!b->put || !b->put_is_add || !b->drop || !b->renew || !b->added || !b->touched) {
		pcpd_batch_free(b);
		return -ENOMEM;
	}
	return 0;
}

void pcpd_batch_reset(struct pcpd_batch *b)
{
	b->nput = b->ndrop = b->nrenew = b->nadded = 0;
	if (b->touched)
		memset(b->touched, 0, 4 * 65536 / 8);
}

void pcpd_batch_free(struct pcpd_batch *b)
{
	free(b->put);
	free(b->put_is_add);
	free(b->drop);
	free(b->renew);
	free(b->added);
	free(b->touched);
	memset(b, 0, sizeof(*b));
}

static void to_xaddr(const struct pcp_addr *a, __u8 *family, union xdpfwd_addr *x)
{
	memset(x, 0, sizeof(*x));
	if (pcp_addr_is_v4(a)) {
		*family = AF_INET;
		memcpy(&x->v4, a->b + 12, 4);
	} else {
		*family = AF_INET6;
		memcpy(x->bytes, a->b, 16);
	}
}

/* A FILTER prefix (RFC 6887 §13.3: 128-bit form) as an allowlist entry,
 * its host bits cleared. */
static void filter_prefix(const struct pcp_filter *f, struct xdpfwd_prefix *p)
{
	bool v4 = pcp_addr_is_v4(&f->addr);
	unsigned int len = v4 ? f->prefix_len - 96u : f->prefix_len, bytes = v4 ? 4 : 16;

	memset(p, 0, sizeof(*p));
	to_xaddr(&f->addr, &p->family, &p->addr);
	p->len = (__u8)len;
	for (unsigned int i = 0; i < bytes; i++) {
		unsigned int keep = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;

		p->addr.bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
}

/* The public side of CH: what table_find() and renew_batch() look up. */
static void public_key(const struct pcp_change *ch, const struct pcp_addr *ext,
		       struct xdpfwd_mapping *m)
{
	__u8 family;

	memset(m, 0, sizeof(*m));
	to_xaddr(ext, &m->family, &m->public_addr);
	m->source_addr = m->public_addr;
	m->proto = ch->protocol;
	m->port_count = 1;
	m->public_port = ch->external_port;
	m->target_port = ch->internal_port;
	to_xaddr(&ch->client, &family, &m->target_addr);
	m->ttl = ch->lifetime;
}

void pcpd_change_rule(const struct pcp_change *ch, const struct pcp_addr *ext,
		      const struct xdpfwd_owner *owner, struct rule *r)
{
	memset(r, 0, sizeof(*r));
	public_key(ch, ext, &r->m);
	for (unsigned int i = 0; ch->filter_set && i < ch->nfilters && i < XDPFWD_MAX_ALLOW; i++)
		filter_prefix(&ch->filter[i], &r->allow[r->m.allow_count++]);
	if (r->m.allow_count > 1)
		qsort(r->allow, r->m.allow_count, sizeof(r->allow[0]), compare_prefixes);
	r->owner = *owner;
}

/* The bit of M's public side in B->touched (one public address per family:
 * the daemon's external one). */
static size_t touched_bit(const struct xdpfwd_mapping *m)
{
	return ((size_t)(m->family == AF_INET6) * 2 + (m->proto == IPPROTO_UDP)) * 65536 +
	       m->public_port;
}

static bool bit_test(const uint8_t *bits, size_t i)
{
	return bits[i / 8] & (1u << (i % 8));
}

static void bit_put(uint8_t *bits, size_t i, bool on)
{
	if (on)
		bits[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* Undoes the first K changes of CH a failed pcpd_batch_add() took. */
static void batch_undo(struct pcpd_batch *b, const struct pcp_change *ch, size_t k,
		       const struct pcp_addr *ext4, const struct pcp_addr *ext6, const size_t *was)
{
	for (size_t i = 0; i < k; i++) {
		struct xdpfwd_mapping key;

		public_key(&ch[i], pcp_addr_is_v4(&ch[i].client) ? ext4 : ext6, &key);
		bit_put(b->touched, touched_bit(&key), false);
	}
	b->nput = was[0], b->ndrop = was[1], b->nrenew = was[2], b->nadded = was[3];
}

int pcpd_batch_add(struct pcpd_batch *b, const struct pcp_change *ch, size_t n,
		   const struct xdpfwd_owner *owner, const struct pcp_addr *ext4,
		   const struct pcp_addr *ext6)
{
	const size_t was[4] = {b->nput, b->ndrop, b->nrenew, b->nadded};

	/* Renewals become puts at commit (renewals_to_puts()): they share room. */
	if (b->nput + b->nrenew + n > b->cap || b->ndrop + n > b->cap)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++) {
		const struct pcp_addr *ext = pcp_addr_is_v4(&ch[i].client) ? ext4 : ext6;
		struct xdpfwd_mapping key;

		if (!ext) {
			batch_undo(b, ch, i, ext4, ext6, was);
			return -EINVAL;
		}
		public_key(&ch[i], ext, &key);
		if (bit_test(b->touched, touched_bit(&key))) {
			batch_undo(b, ch, i, ext4, ext6, was);
			return -EAGAIN;
		}
		bit_put(b->touched, touched_bit(&key), true);
		if (ch[i].op == PCP_CH_DEL) {
			b->drop[b->ndrop++] = key;
		} else if (ch[i].op == PCP_CH_RENEW && !ch[i].filter_set) {
			b->renew[b->nrenew++] = key;
		} else {
			b->put_is_add[b->nput] = ch[i].op == PCP_CH_ADD;
			pcpd_change_rule(&ch[i], ext, owner, &b->put[b->nput++]);
			if (ch[i].op == PCP_CH_ADD)
				b->added[b->nadded++] = ch[i];
		}
	}
	return 0;
}

/* --- the server ----------------------------------------------------------- */

/* One datagram of a round: the request as read, then its reply. */
struct pcpd_reply {
	int fd;
	bool segment_ok; /* its changes were written (or it had none) */
	size_t segment;
	struct sockaddr_storage to;
	socklen_t tolen;
	size_t inlen, len;
	uint8_t in[PCP_MAX_MSG + 4]; /* longer than any request: one too long is seen so */
	uint8_t buf[PCP_MAX_MSG];
};

struct pcpd {
	struct pcpd_config cfg;
	const struct xdpfwd_maps *maps;
	struct xdpfwd_config att;
	char state[PATH_MAX + 64], file[PATH_MAX + 80], tunnel[IF_NAMESIZE];
	int fd[PCPD_MAX_ADDRS];
	struct pcp_server srv;
	struct pcpd_batch batch;
	struct pcp_change *ch;
	size_t maxch;
	struct pcpd_reply *reply;
	struct mmsghdr *mm;	 /* PCPD_ROUND_MAX, for recvmmsg() and sendmmsg() */
	struct iovec *iov;	 /* PCPD_ROUND_MAX */
	struct state_watch seen; /* the state file as the index last followed it */
	uint64_t origin_unix, last_save;
	char *saved_text; /* STATE.pcp as last written */
	uint64_t commit_failures;
	struct pcp_hook *hook;	   /* --pcp-hook, or NULL */
	struct pcp_hook_event *ev; /* the hook events of the batch, posted once written */
	size_t nev;
	struct pcp_announce *announce; /* epoch announcements */
	struct wg_peers *peers;	       /* the tunnel's WireGuard peers */
	uint64_t peers_gen;	       /* wg_peers_generation() last acted on */
	bool kept;		       /* the epoch was kept at start */
	size_t unfit_said;	       /* table ports the index could not take, as last said */
};

static uint64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

uint64_t pcpd_now(void)
{
	return boot_clock_ns() / 1000000000ULL + PCPD_CLOCK_BIAS;
}

int64_t pcpd_unix_offset_at(uint64_t real_ns, uint64_t boot_ns)
{
	int64_t diff = (int64_t)(real_ns - boot_ns);

	/* Rounded, not the difference of two truncated second counts: those
	 * differ by one or not as the two clocks' fractions fall, which moved
	 * every Unix time written and rewrote STATE.pcp once a second. */
	return (diff >= 0 ? diff + 500000000 : diff - 500000000) / 1000000000 - PCPD_CLOCK_BIAS;
}

/* Unix time minus pcpd_now(): converts between the two. */
static int64_t unix_offset(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return pcpd_unix_offset_at((uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec,
				   boot_clock_ns());
}

static void from_xaddr(__u8 family, const union xdpfwd_addr *x, struct pcp_addr *a)
{
	if (family == AF_INET)
		pcp_addr_from_v4(a, x->v4);
	else
		memcpy(a->b, x->bytes, 16);
}

/* The public interface's first address of each family: the one NAT-PMP
 * opcode 0 reports and every grant of that family answers on. */
static void read_externals(struct pcpd *d)
{
	struct local_addrs local;

	d->srv.has_v4 = d->srv.has_v6 = false;
	if (local_addrs_read(d->att.public_ifindex, &local))
		return;
	for (size_t i = 0; i < local.count; i++) {
		bool v4 = local.entry[i].family == AF_INET;

		if (v4 ? d->srv.has_v4 : d->srv.has_v6)
			continue;
		from_xaddr(local.entry[i].family, &local.entry[i].addr,
			   v4 ? &d->srv.external_v4 : &d->srv.external_v6);
		*(v4 ? &d->srv.has_v4 : &d->srv.has_v6) = true;
	}
}

/* Every ADDR an address of the tunnel interface: 0, or -EINVAL after one
 * line naming --pcp and the tunnel's addresses. */
static int check_addrs(const struct pcpd *d)
{
	struct local_addrs local;
	struct strbuf have = STRBUF_INIT;
	char a[INET6_ADDRSTRLEN];

	if (local_addrs_read(d->att.tunnel_ifindex, &local))
		local.count = 0;
	for (size_t i = 0; i < d->cfg.naddrs; i++) {
		bool found = false;

		for (size_t k = 0; k < local.count && !found; k++) {
			struct pcp_addr x;

			from_xaddr(local.entry[k].family, &local.entry[k].addr, &x);
			found = !memcmp(&x, &d->cfg.addr[i], sizeof(x));
		}
		if (found)
			continue;
		for (size_t k = 0; k < local.count; k++) {
			format_addr(a, sizeof(a), local.entry[k].family, &local.entry[k].addr);
			strbuf_appendf(&have, "%s%s", k ? ", " : "", a);
		}
		format_paddr(a, sizeof(a), &d->cfg.addr[i]);
		pr_warn("serve: --pcp %s: not an address of the tunnel %s: allowed: %s\n", a,
			d->tunnel, have.len ? strbuf_str(&have) : "none (it has no address)");
		strbuf_free(&have);
		return -EINVAL;
	}
	return 0;
}

/* UDP 5351 on ADDR, bound to it and to the tunnel device, non-blocking. */
static int open_socket(const struct pcpd *d, const struct pcp_addr *addr)
{
	bool v4 = pcp_addr_is_v4(addr);
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (v4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(PCP_SERVER_PORT);
		memcpy(&s->sin_addr, addr->b + 12, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(PCP_SERVER_PORT);
		memcpy(&s->sin6_addr, addr->b, 16);
		s->sin6_scope_id = d->att.tunnel_ifindex;
		len = sizeof(*s);
	}
	if (fd < 0 || (!v4 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, d->tunnel, (socklen_t)strlen(d->tunnel)) ||
	    bind(fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;
		char a[INET6_ADDRSTRLEN];

		format_paddr(a, sizeof(a), addr);
		pr_warn("serve: --pcp %s: cannot listen on UDP %d: %s\n", a, PCP_SERVER_PORT,
			strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

/* --- sync with the table --------------------------------------------------- */

/* One port of a mapping of the table, for lookups by (proto, port, client). */
struct held {
	uint8_t proto;
	bool dynamic;
	uint16_t port;
	struct pcp_addr client;
};

static int compare_held(const void *pa, const void *pb)
{
	const struct held *a = pa, *b = pb;

	if (a->proto != b->proto)
		return a->proto - b->proto;
	if (a->port != b->port)
		return a->port - b->port;
	return memcmp(&a->client, &b->client, sizeof(a->client));
}

/* Each port of each mapping in RULES, sorted; at most 4 x 65536. */
static struct held *held_list(const struct rule *rules, size_t n, size_t *nheld)
{
	size_t cap = 4 * 65536, k = 0;
	struct held *h = calloc(cap, sizeof(*h));

	for (size_t i = 0; h && i < n; i++)
		for (uint32_t p = 0; p < rules[i].m.port_count && k < cap; p++, k++) {
			h[k].proto = rules[i].m.proto;
			h[k].dynamic = rules[i].owner.kind != XDPFWD_OWNER_OPERATOR;
			h[k].port = (uint16_t)(rules[i].m.public_port + p);
			from_xaddr(rules[i].m.family, &rules[i].m.target_addr, &h[k].client);
		}
	if (h)
		qsort(h, k, sizeof(*h), compare_held);
	*nheld = k;
	return h;
}

/* Index entries the table no longer holds: dynamic ones forgotten (the
 * port goes to quarantine for its client), operator ones unmarked. */
static void drop_missing(struct pcpd *d, const struct held *h, size_t nh, uint64_t now)
{
	struct pcp_lease_info info;

	for (uint32_t i = 0; i < d->cfg.lease.max_leases; i++) {
		struct held key;
		const struct held *f;

		if (!pcp_lease_get(d->srv.leases, i, &info))
			continue;
		key = (struct held){
		    .proto = info.protocol, .port = info.external_port, .client = info.client};
		f = bsearch(&key, h, nh, sizeof(*h), compare_held);
		if (f && f->dynamic == !info.is_static)
			continue;
		if (info.is_static)
			pcp_lease_del_static(d->srv.leases, &info.client, info.protocol,
					     info.key_port);
		else
			pcp_lease_forget(d->srv.leases, &info.client, info.protocol, info.key_port,
					 now);
	}
}

/* Mappings of the table the index lacks: owned ones restored, operator ones
 * marked port by port. */
static void add_present(struct pcpd *d, const struct rule *rules, size_t n)
{
	size_t refused = 0;

	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		struct pcp_lease_info info = {.protocol = r->m.proto};
		int err;

		from_xaddr(r->m.family, &r->m.target_addr, &info.client);
		if (r->owner.kind == XDPFWD_OWNER_OPERATOR) {
			for (uint32_t p = 0; p < r->m.port_count; p++) {
				err = pcp_lease_add_static(d->srv.leases, &info.client, r->m.proto,
							   (uint16_t)(r->m.target_port + p),
							   (uint16_t)(r->m.public_port + p));
				refused += err && err != -EEXIST;
			}
			continue;
		}
		info.pcp = r->owner.kind == XDPFWD_OWNER_PCP;
		info.key_port = r->owner.key_port;
		info.internal_port = r->m.target_port;
		info.external_port = r->m.public_port;
		memcpy(info.nonce, r->owner.nonce, PCP_NONCE_LEN);
		info.expires = r->m.expires_ns ? r->m.expires_ns / 1000000000ULL + PCPD_CLOCK_BIAS
					       : UINT64_MAX / 2;
		err = pcp_lease_restore(d->srv.leases, &info);
		refused += err && err != -EEXIST;
	}
	/* Said when it changes, not at every sync. */
	if (refused && refused != d->unfit_said)
		pr_warn("serve: NAT-PMP/PCP: %zu port(s) of the table's mappings do not fit the "
			"lease index (outside --pcp-pool, over --pcp-quota, or no room): clients "
			"cannot ask for them\n",
			refused);
	d->unfit_said = refused;
}

/* Makes the index follow the table (under the lock). */
static int sync_table(struct pcpd *d, uint64_t now)
{
	struct rule *rules = NULL;
	struct held *h;
	size_t n = 0, nh = 0;
	int err = table_live(d->maps, &rules, &n, 0);

	if (err)
		return err;
	h = held_list(rules, n, &nh);
	if (!h) {
		free(rules);
		return -ENOMEM;
	}
	drop_missing(d, h, nh, now);
	add_present(d, rules, n);
	free(h);
	free(rules);
	state_watch_take(&d->seen, d->state);
	return 0;
}

/* Ports the host holds: listening TCP and bound UDP sockets (/proc/net),
 * and the ephemeral range (net.ipv4.ip_local_port_range). */
static void block_host_ports(struct pcpd *d)
{
	uint8_t *in_pool = calloc(65536, 1), *held = calloc(65536, 1);
	struct host_ports host;
	int err = host_ports_read(&host); /* what add's checks read too */
	size_t lost = 0;

	if (err || !in_pool || !held) {
		pr_warn("serve: NAT-PMP/PCP: cannot read the host's ports: %s; none is blocked\n",
			strerror(err ? -err : ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < host.listener_count; i++)
		held[host.listeners[i].port] = 1;
	/* The kernel draws source ports from the ephemeral range, except the
	 * reserved ones (ip_local_reserved_ports), as add's check has it. */
	for (uint32_t p = host.ephemeral_first; p && p <= host.ephemeral_last && p < 65536; p++)
		if (!(host.reserved[p / 8] & (1u << (p % 8))))
			held[p] = 1;
	for (size_t i = 0; i < d->cfg.npool; i++)
		in_pool[d->cfg.pool[i]] = 1;
	for (uint32_t p = 1; p < 65536; p++)
		if (held[p]) {
			pcp_lease_block(d->srv.leases, (uint16_t)p);
			lost += in_pool[p];
		}
	/* Said once, at start: such ports are never handed out. */
	if (lost)
		pr_warn(
		    "serve: --pcp-pool: %zu of its %zu ports are the host's (listening sockets, "
		    "or net.ipv4.ip_local_port_range and not reserved): never handed out%s\n",
		    lost, d->cfg.npool, lost == d->cfg.npool ? "; every request is refused" : "");
out:
	if (!err)
		host_ports_free(&host);
	free(in_pool);
	free(held);
}

/* --- STATE.pcp: the epoch and the quarantine -------------------------------- */

static bool same_addr(bool has_a, const struct pcp_addr *a, bool has_b, const struct pcp_addr *b)
{
	return has_a == has_b && (!has_a || !memcmp(a, b, sizeof(*a)));
}

/* The epoch's origin and the quarantine from STATE.pcp: kept when the file
 * is whole and was for the same public addresses, else a new epoch (RFC
 * 6887 §8.5: the state was lost or the address changed). True when kept. */
static bool load_saved(struct pcpd *d, uint64_t now)
{
	int64_t off = unix_offset();
	struct pcpd_saved s;
	char err[ERR_LEN];
	char *text = NULL;
	int rc = read_text_file(d->file, 16 << 20, &text, err);

	d->origin_unix = (uint64_t)((int64_t)now + off);
	d->srv.epoch_origin = now;
	if (rc) {
		if (rc != -ENOENT)
			pr_warn("serve: %s; a new NAT-PMP/PCP epoch begins\n", err);
		return false;
	}
	rc = pcpd_saved_parse(text, &s, err);
	free(text);
	if (rc) {
		pr_warn("serve: %s: %s; a new NAT-PMP/PCP epoch begins\n", d->file, err);
		return false;
	}
	if (!same_addr(s.has_v4, &s.ext_v4, d->srv.has_v4, &d->srv.external_v4) ||
	    !same_addr(s.has_v6, &s.ext_v6, d->srv.has_v6, &d->srv.external_v6)) {
		pr_warn("serve: the public address changed since %s was written; a new NAT-PMP/PCP "
			"epoch begins\n",
			d->file);
		pcpd_saved_free(&s);
		return false;
	}
	d->origin_unix = s.origin_unix;
	d->srv.epoch_origin = (uint64_t)((int64_t)s.origin_unix - off);
	for (size_t i = 0; i < s.nquar; i++) {
		s.quar[i].until = (uint64_t)((int64_t)s.quar[i].until - off);
		pcp_lease_quar_restore(d->srv.leases, &s.quar[i]);
	}
	pcpd_saved_free(&s);
	return true;
}

/* STATE.pcp from the server as it is now, written when it changed. */
static void save(struct pcpd *d)
{
	struct pcpd_saved s = {.origin_unix = d->origin_unix,
			       .has_v4 = d->srv.has_v4,
			       .has_v6 = d->srv.has_v6,
			       .ext_v4 = d->srv.external_v4,
			       .ext_v6 = d->srv.external_v6};
	int64_t off = unix_offset();
	struct strbuf text = STRBUF_INIT;
	char err[ERR_LEN];

	s.quar = calloc(PCPD_MAX_QUAR, sizeof(*s.quar));
	for (uint32_t p = 1; s.quar && p < 65536; p++)
		if (pcp_lease_quar_get(d->srv.leases, (uint16_t)p, &s.quar[s.nquar])) {
			s.quar[s.nquar].until = (uint64_t)((int64_t)s.quar[s.nquar].until + off);
			s.nquar++;
		}
	if (s.quar)
		pcpd_saved_format(&s, &text);
	free(s.quar);
	/* The Unix times move with the clock's offset; a change of a second
	 * alone is not worth a write. */
	if (!s.quar || text.failed ||
	    (d->saved_text && !strcmp(d->saved_text, strbuf_str(&text)))) {
		strbuf_free(&text);
		return;
	}
	if (file_write_atomic(d->file, text.data, text.len, false, err)) {
		pr_warn("serve: %s\n", err);
		strbuf_free(&text);
		return;
	}
	free(d->saved_text);
	d->saved_text = strbuf_detach(&text, NULL);
}

/* --- a round ----------------------------------------------------------------- */

/* Whether SRC may ask: inside attach --clients (none declared: anyone
 * behind the tunnel) and, once known, a live peer's allowed IPs. */
static bool authorized(const struct pcpd *d, const struct pcp_addr *src)
{
	bool inside = !d->att.client_count;
	union xdpfwd_addr x;
	__u8 family;

	to_xaddr(src, &family, &x);
	for (__u32 i = 0; !inside && i < d->att.client_count && i < XDPFWD_MAX_CLIENT_NETS; i++)
		inside = prefix_contains(&d->att.clients[i], family, &x);
	/* And a live WireGuard peer's allowed IPs, when they are known. */
	return inside && (!d->peers || wg_peers_allowed(d->peers, src) != 0);
}

/* The owner record the grants of request BUF (LEN bytes from SRC) carry. */
static void request_owner(const uint8_t *buf, size_t len, const struct pcp_addr *src,
			  struct xdpfwd_owner *o)
{
	struct pcp_request req;

	memset(o, 0, sizeof(*o));
	if (pcp_parse(buf, len, src, &req) != PCP_HANDLE)
		return;
	o->kind = req.version == PCP_VERSION ? XDPFWD_OWNER_PCP : XDPFWD_OWNER_NATPMP;
	o->key_port = req.internal_port;
	if (req.version == PCP_VERSION)
		memcpy(o->nonce, req.nonce, PCP_NONCE_LEN);
}

/* The hook events of the N changes CH of one request or expiry, queued
 * until they are written: an ADD is a grant, or a change when the same
 * request removed the client's mapping of that protocol on another port;
 * a DEL is DEL_KIND. */
static void queue_events(struct pcpd *d, const struct pcp_change *ch, size_t n,
			 enum pcp_hook_kind del_kind)
{
	for (size_t i = 0; d->hook && i < n; i++) {
		struct pcp_hook_event *e = &d->ev[d->nev];
		bool paired = false;
		bool v4 = pcp_addr_is_v4(&ch[i].client);

		if (ch[i].op == PCP_CH_RENEW || d->nev == d->batch.cap)
			continue;
		for (size_t k = 0; k < n && !paired; k++)
			paired = k != i && ch[k].op != PCP_CH_RENEW && ch[k].op != ch[i].op &&
				 ch[k].protocol == ch[i].protocol &&
				 !memcmp(&ch[k].client, &ch[i].client, sizeof(ch[i].client));
		if (paired && ch[i].op == PCP_CH_DEL)
			continue;
		*e = (struct pcp_hook_event){.kind = ch[i].op == PCP_CH_DEL ? del_kind
						     : paired		    ? PCP_HOOK_CHANGE
									    : PCP_HOOK_GRANT,
					     .protocol = ch[i].protocol,
					     .public_addr =
						 v4 ? d->srv.external_v4 : d->srv.external_v6,
					     .public_port = ch[i].external_port,
					     .internal_addr = ch[i].client,
					     .internal_port = ch[i].internal_port};
		d->nev++;
	}
}

/* The renewals become puts of the live mapping with the lifetime granted,
 * so that the whole batch is one apply_batch(): one journal record, all or
 * nothing (a renewal still writes only the policy and mapping records). A
 * renewal whose mapping is gone is dropped; the next sync tells the index. */
static int renewals_to_puts(struct pcpd *d)
{
	struct pcpd_batch *b = &d->batch;

	for (size_t i = 0; i < b->nrenew; i++) {
		struct rule r;
		int rc = table_find(d->maps, false, &b->renew[i], 0, &r);

		if (rc < 0)
			return rc;
		if (rc == 1 && b->nput < b->cap) {
			r.m.ttl = b->renew[i].ttl;
			b->put_is_add[b->nput] = false;
			b->put[b->nput++] = r;
		}
	}
	b->nrenew = 0;
	return 0;
}

/* The live mappings the DELs name, each to the client that held it (an
 * operator mapping never is: the index marks those static); those gone
 * already are skipped. */
static int drops_found(struct pcpd *d, struct rule *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < d->batch.ndrop; i++) {
		const struct xdpfwd_mapping *key = &d->batch.drop[i];
		int rc = table_find(d->maps, false, key, 0, &out[*n]);

		if (rc < 0)
			return rc;
		if (rc == 1 &&
		    !memcmp(&out[*n].m.target_addr, &key->target_addr, sizeof(key->target_addr)))
			(*n)++;
	}
	return 0;
}

/* Writes the batch (under the lock) as one apply_batch(): adds, deletes
 * and renewals in one journal record and one fdatasync, all or nothing.
 * Hook events are posted only once it is written. On failure nothing was
 * written, and the index is made to follow the table again (the grants it
 * made are forgotten, the deletes put back). 0 or -errno. */
static int commit(struct pcpd *d)
{
	struct pcpd_batch *b = &d->batch;
	bool stale = state_watch_changed(&d->seen, d->state);
	struct rule *drop = calloc(b->ndrop + 1, sizeof(*drop));
	struct apply_summary sum;
	size_t ndrop = 0, nchanges = b->nput + b->ndrop + b->nrenew;
	int err = drop ? renewals_to_puts(d) : -ENOMEM;

	err = err ?: drops_found(d, drop, &ndrop);
	if (!err && (b->nput || ndrop))
		err = apply_batch(
		    d->maps, &d->att,
		    &(struct batch){
			.put = b->put, .nput = b->nput, .drop = drop, .ndrop = ndrop, .renew = true},
		    &(struct change){
			.what = "serve: NAT-PMP/PCP", .state = d->state, .daemon = true},
		    &sum);
	free(drop);
	for (size_t i = 0; !err && i < d->nev; i++)
		pcp_hook_post(d->hook, &d->ev[i]);
	d->nev = 0;
	if (err) {
		d->commit_failures++;
		pr_warn("serve: NAT-PMP/PCP: writing %zu changes failed: %s; no reply was sent\n",
			nchanges, strerror(-err));
	}
	/* After a failure, or when another process changed the table since the
	 * index followed it, the index follows the table; else it is the table. */
	if (err || stale)
		sync_table(d, pcpd_now());
	else
		state_watch_take(&d->seen, d->state);
	pcpd_batch_reset(b);
	return err;
}

/* Commits the batch of segment SEG (taking the lock if not held) and marks
 * the replies of that segment. */
static void commit_segment(struct pcpd *d, struct pindir *pd, bool *locked, size_t seg, size_t nr)
{
	bool ok = true;

	if (d->batch.nput || d->batch.ndrop || d->batch.nrenew) {
		if (!*locked)
			*locked = !pindir_lock(pd);
		ok = *locked && !commit(d);
		if (!*locked) { /* nothing written: the index follows the table next tick */
			pcpd_batch_reset(&d->batch);
			d->nev = 0;
			d->seen.taken = false;
		}
	}
	for (size_t i = 0; i < nr; i++)
		if (d->reply[i].segment == seg)
			d->reply[i].segment_ok = ok;
}

/* Reads up to MAX datagrams waiting on FD into d->reply[NR..] with one
 * recvmmsg() (a syscall per socket and round, not per datagram): their
 * number. */
static size_t read_batch(struct pcpd *d, int fd, size_t nr, size_t max)
{
	int got;

	for (size_t i = 0; i < max; i++) {
		struct pcpd_reply *r = &d->reply[nr + i];

		d->iov[i] = (struct iovec){.iov_base = r->in, .iov_len = sizeof(r->in)};
		d->mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &r->to,
							.msg_namelen = sizeof(r->to),
							.msg_iov = &d->iov[i],
							.msg_iovlen = 1}};
	}
	got = recvmmsg(fd, d->mm, (unsigned int)max, MSG_DONTWAIT, NULL);
	for (int i = 0; i < got; i++) {
		struct pcpd_reply *r = &d->reply[nr + (size_t)i];

		r->fd = fd;
		r->tolen = d->mm[i].msg_hdr.msg_namelen;
		/* A datagram longer than the buffer: MSG_TRUNC, and too long. */
		r->inlen =
		    d->mm[i].msg_hdr.msg_flags & MSG_TRUNC ? sizeof(r->in) : d->mm[i].msg_len;
	}
	return got > 0 ? (size_t)got : 0;
}

/* The datagram d->reply[NR], handled: its reply in place, its changes in
 * the batch (the batch committed first when it cannot take them). */
static void handle_one(struct pcpd *d, struct pindir *pd, size_t nr, size_t *seg, bool *locked)
{
	struct pcpd_reply *r = &d->reply[nr];
	const struct pcp_addr *e4 = d->srv.has_v4 ? &d->srv.external_v4 : NULL;
	const struct pcp_addr *e6 = d->srv.has_v6 ? &d->srv.external_v6 : NULL;
	struct xdpfwd_owner owner;
	struct pcp_addr src;
	size_t n;
	int rc;

	if (r->to.ss_family == AF_INET)
		pcp_addr_from_v4(&src, ((struct sockaddr_in *)&r->to)->sin_addr.s_addr);
	else
		memcpy(src.b, &((struct sockaddr_in6 *)&r->to)->sin6_addr, 16);
	n = pcp_handle(&d->srv, r->in, r->inlen, &src, authorized(d, &src), pcpd_now(), r->buf,
		       &r->len, d->ch);
	r->segment = *seg;
	r->segment_ok = true;
	if (!n)
		return;
	request_owner(r->in, r->inlen, &src, &owner);
	rc = pcpd_batch_add(&d->batch, d->ch, n, &owner, e4, e6);
	if (rc == -EAGAIN || rc == -ENOSPC) {
		commit_segment(d, pd, locked, (*seg)++, nr);
		r->segment = *seg;
		rc = pcpd_batch_add(&d->batch, d->ch, n, &owner, e4, e6);
	}
	if (rc) {
		r->len = 0; /* cannot be written: the client asks again, and the
			     * index follows the table next tick */
		d->seen.taken = false;
	} else
		queue_events(d, d->ch, n, PCP_HOOK_DELETE);
}

/* The replies of the round (NR datagrams) that are to go, each from the
 * socket its request came to: one sendmmsg() per socket. */
static void send_replies(struct pcpd *d, size_t nr)
{
	for (size_t a = 0; a < d->cfg.naddrs; a++) {
		unsigned int k = 0;

		for (size_t i = 0; i < nr; i++) {
			struct pcpd_reply *r = &d->reply[i];

			if (r->fd != d->fd[a] || !r->len || !r->segment_ok)
				continue;
			d->iov[k] = (struct iovec){.iov_base = r->buf, .iov_len = r->len};
			d->mm[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &r->to,
								.msg_namelen = r->tolen,
								.msg_iov = &d->iov[k],
								.msg_iovlen = 1}};
			k++;
		}
		/* A reply the socket cannot take now is dropped, as a lost one
		 * would be: the client asks again. */
		for (unsigned int sent = 0; sent < k;) {
			int rc = sendmmsg(d->fd[a], d->mm + sent, k - sent, MSG_DONTWAIT);

			sent += rc > 0 ? (unsigned int)rc : 1;
		}
	}
}

size_t pcpd_round(struct pcpd *d, struct pindir *pd)
{
	size_t nr = 0, seg = 0, got = 1;
	bool locked = false;

	/* Each socket in turn, a share of the round each, until none has more. */
	while (got && nr < PCPD_ROUND_MAX) {
		size_t share = (PCPD_ROUND_MAX - nr + d->cfg.naddrs - 1) / d->cfg.naddrs;

		got = 0;
		for (size_t i = 0; i < d->cfg.naddrs && nr < PCPD_ROUND_MAX; i++) {
			size_t k =
			    read_batch(d, d->fd[i], nr,
				       share < PCPD_ROUND_MAX - nr ? share : PCPD_ROUND_MAX - nr);

			for (size_t j = 0; j < k; j++)
				handle_one(d, pd, nr + j, &seg, &locked);
			nr += k, got += k;
		}
	}
	commit_segment(d, pd, &locked, seg, nr);
	if (locked)
		pindir_unlock(pd);
	send_replies(d, nr);
	return nr;
}

/* --- ticks -------------------------------------------------------------------- */

/* Adds the DEL CH to the batch (committing a full one first), with its
 * hook event of KIND. */
static void add_del(struct pcpd *d, struct pindir *pd, bool *locked, const struct pcp_change *ch,
		    enum pcp_hook_kind kind)
{
	const struct pcp_addr *e4 = d->srv.has_v4 ? &d->srv.external_v4 : NULL;
	const struct pcp_addr *e6 = d->srv.has_v6 ? &d->srv.external_v6 : NULL;
	struct xdpfwd_owner none = {0};
	int rc = pcpd_batch_add(&d->batch, ch, 1, &none, e4, e6);

	if (rc == -EAGAIN || rc == -ENOSPC) {
		if (!*locked)
			*locked = !pindir_lock(pd);
		if (*locked)
			commit(d);
		pcpd_batch_reset(&d->batch);
		d->nev = 0;
		rc = pcpd_batch_add(&d->batch, ch, 1, &none, e4, e6);
	}
	if (!rc)
		queue_events(d, ch, 1, kind);
}

/* The dynamic mappings of clients whose WireGuard peer was removed at the
 * latest poll: forgotten, and their DELs added. */
static void drop_lost_peers(struct pcpd *d, struct pindir *pd, bool *locked, uint64_t now)
{
	struct pcp_lease_info info;

	if (!d->peers || wg_peers_generation(d->peers) == d->peers_gen)
		return;
	d->peers_gen = wg_peers_generation(d->peers);
	for (uint32_t i = 0; i < d->cfg.lease.max_leases; i++) {
		struct pcp_change ch;

		if (!pcp_lease_get(d->srv.leases, i, &info) || info.is_static ||
		    !wg_peers_lost(d->peers, &info.client))
			continue;
		ch = (struct pcp_change){.op = PCP_CH_DEL,
					 .protocol = info.protocol,
					 .external_port = info.external_port,
					 .internal_port = info.internal_port,
					 .client = info.client};
		pcp_lease_forget(d->srv.leases, &info.client, info.protocol, info.key_port, now);
		add_del(d, pd, locked, &ch, PCP_HOOK_DELETE);
	}
}

/* The leases that ended, those of removed peers, and a re-sync when
 * another process changed the table, in one commit under the lock. */
static void expire(struct pcpd *d, struct pindir *pd, uint64_t now)
{
	bool stale = state_watch_changed(&d->seen, d->state), locked = false;
	size_t n;

	do {
		n = pcp_lease_expire(d->srv.leases, now, d->ch, d->maxch);
		for (size_t i = 0; i < n; i++)
			add_del(d, pd, &locked, &d->ch[i], PCP_HOOK_EXPIRE);
	} while (n == d->maxch);
	drop_lost_peers(d, pd, &locked, now);
	if (d->batch.ndrop || stale) {
		if (!locked)
			locked = !pindir_lock(pd);
		if (locked && stale)
			sync_table(d, now);
		if (locked && d->batch.ndrop)
			commit(d);
	}
	pcpd_batch_reset(&d->batch);
	d->nev = 0;
	if (locked)
		pindir_unlock(pd);
}

/* Tells the clients of the new epoch (RFC 6886 §3.2.1, RFC 6887 §14.1.3):
 * multicast, and unicast to each client that holds a mapping. */
static void announce(struct pcpd *d, uint64_t now)
{
	struct pcp_addr *clients;
	struct pcp_lease_info info;
	size_t n = 0;

	if (!d->announce)
		return;
	clients = calloc(PCP_ANNOUNCE_MAX_CLIENT, sizeof(*clients));
	for (uint32_t i = 0; clients && i < d->cfg.lease.max_leases; i++)
		if (n < PCP_ANNOUNCE_MAX_CLIENT && pcp_lease_get(d->srv.leases, i, &info) &&
		    !info.is_static)
			clients[n++] = info.client;
	if (clients)
		pcp_announce_start(d->announce, mono_ms(), pcp_epoch(&d->srv, now),
				   d->srv.has_v4 ? &d->srv.external_v4 : NULL, clients, n);
	free(clients);
}

/* A new public address starts a new epoch (RFC 6886 §3.6, RFC 6887 §8.5). */
static void follow_externals(struct pcpd *d, uint64_t now)
{
	struct pcp_addr v4 = d->srv.external_v4, v6 = d->srv.external_v6;
	bool h4 = d->srv.has_v4, h6 = d->srv.has_v6;

	read_externals(d);
	if (same_addr(h4, &v4, d->srv.has_v4, &d->srv.external_v4) &&
	    same_addr(h6, &v6, d->srv.has_v6, &d->srv.external_v6))
		return;
	d->srv.epoch_origin = now;
	d->origin_unix = (uint64_t)((int64_t)now + unix_offset());
	pr_warn("serve: the public address changed: a new NAT-PMP/PCP epoch begins\n");
	announce(d, now);
}

void pcpd_tick(struct pcpd *d, struct pindir *pd)
{
	uint64_t now = pcpd_now();

	if (d->peers)
		wg_peers_tick(d->peers, mono_ms());
	expire(d, pd, now);
	if (d->hook)
		pcp_hook_tick(d->hook, mono_ms());
	if (d->announce)
		pcp_announce_tick(d->announce, mono_ms());
	if (now >= d->last_save + PCPD_SAVE_EVERY_S) {
		follow_externals(d, now);
		save(d);
		d->last_save = now;
	}
}

void pcpd_forget_gone(struct pcpd *d, const struct rule *gone, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		struct pcp_addr client;

		if (gone[i].owner.kind == XDPFWD_OWNER_OPERATOR)
			continue;
		from_xaddr(gone[i].m.family, &gone[i].m.target_addr, &client);
		pcp_lease_forget(d->srv.leases, &client, gone[i].m.proto, gone[i].owner.key_port,
				 pcpd_now());
	}
}

/* --- open and close ------------------------------------------------------------ */

static int pcpd_alloc(struct pcpd *d)
{
	const char *why = NULL;
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	d->cfg.lease.seed = seed;
	d->srv.leases = pcp_lease_new(&d->cfg.lease, d->cfg.pool, d->cfg.npool, &why);
	if (!d->srv.leases) {
		pr_warn("serve: NAT-PMP/PCP: %s\n", why ? why : "out of memory");
		return why ? -EINVAL : -ENOMEM;
	}
	d->maxch = pcp_lease_max_changes(d->srv.leases);
	if (d->maxch < 64)
		d->maxch = 64;
	d->ch = calloc(d->maxch, sizeof(*d->ch));
	d->reply = calloc(PCPD_ROUND_MAX, sizeof(*d->reply));
	d->mm = calloc(PCPD_ROUND_MAX, sizeof(*d->mm));
	d->iov = calloc(PCPD_ROUND_MAX, sizeof(*d->iov));
	/* Room for the largest request's changes (a delete-all of a full
	 * quota) besides a round's worth of ordinary ones. */
	if (!d->ch || !d->reply || !d->mm || !d->iov ||
	    pcpd_batch_init(&d->batch, PCPD_BATCH_MIN + d->maxch))
		return -ENOMEM;
	d->ev = calloc(d->batch.cap, sizeof(*d->ev));
	return d->ev ? 0 : -ENOMEM;
}

/* The side modules: --pcp-hook, the WireGuard peers, the announcements
 * (after the sockets: it sends through them). */
static int open_modules(struct pcpd *d)
{
	struct pcp_announce_config ac = {.fd4 = -1, .fd6 = -1, .ifindex = d->att.tunnel_ifindex};
	const char *why = NULL;
	int rc = 0;

	if (d->cfg.hook)
		d->hook =
		    pcp_hook_new(&(struct pcp_hook_config){.command = d->cfg.hook}, &why, &rc);
	if (!rc)
		d->peers = wg_peers_new(&(struct wg_peers_config){.ifname = d->tunnel}, &why, &rc);
	for (size_t i = 0; i < d->cfg.naddrs; i++) {
		int *fd = pcp_addr_is_v4(&d->cfg.addr[i]) ? &ac.fd4 : &ac.fd6;

		if (*fd < 0)
			*fd = d->fd[i];
	}
	if (!rc)
		d->announce = pcp_announce_new(&ac, &why, &rc);
	if (rc)
		pr_warn("serve: NAT-PMP/PCP: %s\n", why ? why : strerror(-rc));
	return rc;
}

struct pcpd *pcpd_open(const struct pcpd_config *cfg, const struct xdpfwd_maps *maps,
		       const struct xdpfwd_config *att, const char *state, int *rc)
{
	struct pcpd *d = calloc(1, sizeof(*d));
	bool kept;

	*rc = -ENOMEM;
	if (!d)
		return NULL;
	for (size_t i = 0; i < PCPD_MAX_ADDRS; i++)
		d->fd[i] = -1;
	d->cfg = *cfg;
	d->maps = maps;
	d->att = *att;
	snprintf(d->state, sizeof(d->state), "%s", state);
	snprintf(d->file, sizeof(d->file), "%s.pcp", state);
	if (!if_indextoname(att->tunnel_ifindex, d->tunnel)) {
		pr_warn("serve: --pcp: the tunnel interface (index %u) is gone\n",
			att->tunnel_ifindex);
		*rc = -ENODEV;
		goto fail;
	}
	*rc = check_addrs(d) ?: pcpd_alloc(d);
	if (*rc)
		goto fail;
	read_externals(d);
	block_host_ports(d);
	*rc = sync_table(d, pcpd_now());
	if (*rc) {
		pr_warn("serve: NAT-PMP/PCP: cannot read the table: %s\n", strerror(-*rc));
		goto fail;
	}
	kept = load_saved(d, pcpd_now());
	for (size_t i = 0; i < cfg->naddrs; i++) {
		d->fd[i] = open_socket(d, &cfg->addr[i]);
		if (d->fd[i] < 0) {
			*rc = d->fd[i];
			goto fail;
		}
	}
	*rc = open_modules(d);
	if (*rc)
		goto fail;
	d->kept = kept;
	if (!kept)
		announce(d, pcpd_now());
	d->last_save = 0;
	save(d);
	d->last_save = pcpd_now();
	printf("NAT-PMP/PCP on UDP %d of %zu tunnel address%s, %zu pool ports, epoch %u%s\n",
	       PCP_SERVER_PORT, cfg->naddrs, cfg->naddrs == 1 ? "" : "es", cfg->npool,
	       pcp_epoch(&d->srv, pcpd_now()), kept ? " (kept)" : " (new)");
	fflush(stdout);
	*rc = 0;
	return d;
fail:
	pcpd_close(d);
	return NULL;
}

void pcpd_close(struct pcpd *d)
{
	if (!d)
		return;
	if (d->srv.leases && d->last_save)
		save(d);
	for (size_t i = 0; i < PCPD_MAX_ADDRS; i++)
		if (d->fd[i] >= 0)
			close(d->fd[i]);
	pcp_hook_free(d->hook);
	wg_peers_free(d->peers);
	pcp_announce_free(d->announce);
	free(d->ev);
	pcp_lease_free(d->srv.leases);
	pcpd_batch_free(&d->batch);
	free(d->ch);
	free(d->reply);
	free(d->mm);
	free(d->iov);
	free(d->saved_text);
	free(d);
}

size_t pcpd_fds(const struct pcpd *d, int *fds)
{
	size_t n = 0;

	for (size_t i = 0; d && i < d->cfg.naddrs; i++)
		if (d->fd[i] >= 0)
			fds[n++] = d->fd[i];
	return n;
}

/* --- metrics -------------------------------------------------------------------- */

void pcpd_publish(struct pcpd *d, struct pcpd_metrics *m)
{
	struct pcp_lease_stats ls;

	pcp_lease_stats(d->srv.leases, &ls);
	pthread_mutex_lock(&m->lock);
	m->enabled = true;
	m->srv = d->srv.stats;
	m->leases = ls;
	m->epoch = pcp_epoch(&d->srv, pcpd_now());
	m->commit_failures = d->commit_failures;
	m->has_hook = d->hook != NULL;
	m->has_peers = d->peers != NULL;
	m->has_announce = d->announce != NULL;
	if (d->hook)
		pcp_hook_get_stats(d->hook, &m->hook);
	if (d->peers)
		wg_peers_get_stats(d->peers, &m->peers);
	if (d->announce)
		pcp_announce_get_stats(d->announce, &m->announce);
	pthread_mutex_unlock(&m->lock);
}

static const char *const result_names[2][14] = {
    {"success", "unsupp_version", "not_authorized", "network_failure", "out_of_resources",
     "unsupp_opcode"},
    {"success", "unsupp_version", "not_authorized", "malformed_request", "unsupp_opcode",
     "unsupp_option", "malformed_option", "network_failure", "no_resources", "unsupp_protocol",
     "user_ex_quota", "cannot_provide_external", "address_mismatch", "excessive_remote_peers"}};
static const char *const opcode_names[2][4] = {{"address", "map_udp", "map_tcp", "other"},
					       {"announce", "map", "peer", "other"}};

static void gauge(struct strbuf *b, const char *name, const char *help, unsigned long long v,
		  bool counter)
{
	strbuf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
		       counter ? "counter" : "gauge", name, v);
}

/* A counter of one label with N values. */
static void labelled(struct strbuf *b, const char *name, const char *help, const char *label,
		     const char *const *values, const uint64_t *v, size_t n)
{
	strbuf_appendf(b, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (size_t i = 0; i < n; i++)
		strbuf_appendf(b, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
			       (unsigned long long)v[i]);
}

/* The side modules' counters: --pcp-hook's runs, the WireGuard peer polls,
 * the epoch announcements (each only when the module runs). */
static void render_modules(const struct pcpd_metrics *c, struct strbuf *out)
{
	static const char *const runs[] = {"ok", "failed", "killed", "spawn_failed"};
	static const char *const polls[] = {"ok", "failed", "killed"};
	static const char *const sent[] = {"sent", "error"};

	if (c->has_hook) {
		/* failed counts spawn_failed too (pcp_hook.h): apart here. */
		const uint64_t v[] = {c->hook.ok, c->hook.failed - c->hook.spawn_failed,
				      c->hook.killed, c->hook.spawn_failed};

		gauge(out, "xdpfwd_pcp_hook_events_total",
		      "Events queued for --pcp-hook (grant, change, expire, delete).",
		      c->hook.queued, true);
		gauge(out, "xdpfwd_pcp_hook_dropped_total",
		      "Events dropped: --pcp-hook's queue was full.", c->hook.dropped, true);
		labelled(out, "xdpfwd_pcp_hook_runs_total",
			 "--pcp-hook runs ended: exit 0, another exit or a signal, killed at the "
			 "timeout, or the shell could not start.",
			 "result", runs, v, 4);
	}
	if (c->has_peers) {
		const uint64_t v[] = {c->peers.polls, c->peers.failures - c->peers.killed,
				      c->peers.killed};

		labelled(
		    out, "xdpfwd_pcp_wg_polls_total",
		    "Polls of the tunnel's WireGuard peers (wg show IFACE dump): read, failed, "
		    "killed at the timeout.",
		    "result", polls, v, 3);
		gauge(out, "xdpfwd_pcp_wg_peers", "WireGuard peers in the last good poll.",
		      c->peers.peers, false);
		gauge(out, "xdpfwd_pcp_wg_peer_removals_total",
		      "Polls that found a peer removed or an allowed IP moved (its clients' "
		      "mappings end).",
		      c->peers.removals, true);
	}
	if (c->has_announce) {
		const uint64_t v[] = {c->announce.sent, c->announce.send_errors};

		gauge(out, "xdpfwd_pcp_announcements_total",
		      "Epoch announcements begun (a new epoch: RFC 6886 3.2.1, RFC 6887 14.1.3).",
		      c->announce.starts, true);
		labelled(out, "xdpfwd_pcp_announce_datagrams_total",
			 "Announcement datagrams sent, or skipped on a send error.", "result", sent,
			 v, 2);
	}
}

void pcpd_metrics_render(struct pcpd_metrics *m, struct strbuf *out)
{
	struct pcpd_metrics c;
	const char *req = "xdpfwd_pcp_requests_total";

	pthread_mutex_lock(&m->lock);
	c = *m;
	pthread_mutex_unlock(&m->lock);
	if (!c.enabled)
		return;
	strbuf_appendf(out,
		       "# HELP %s NAT-PMP (version 0) and PCP (version 2) requests answered, by "
		       "opcode and result.\n# TYPE %s counter\n",
		       req, req);
	for (int v = 0; v < 2; v++)
		for (int o = 0; o < 4; o++)
			for (int r = 0; r < 14; r++)
				if (c.srv.answered[v][o][r] && result_names[v][r])
					strbuf_appendf(
					    out,
					    "%s{version=\"%d\",opcode=\"%s\",result=\"%s\"} %llu\n",
					    req, v ? 2 : 0, opcode_names[v][o], result_names[v][r],
					    (unsigned long long)c.srv.answered[v][o][r]);
	strbuf_appendf(out,
		       "%s{version=\"other\",opcode=\"other\",result=\"unsupp_version\"} %llu\n",
		       req, (unsigned long long)c.srv.unsupp_version);
	gauge(out, "xdpfwd_pcp_dropped_total", "Requests dropped unanswered as the RFCs say.",
	      c.srv.dropped, true);
	gauge(out, "xdpfwd_pcp_rate_limited_total", "Requests dropped over a client's --pcp-rate.",
	      c.srv.rate_limited, true);
	gauge(out, "xdpfwd_pcp_quota_refusals_total", "Maps refused over a client's --pcp-quota.",
	      c.srv.quota_refusals, true);
	gauge(out, "xdpfwd_pcp_commit_failures_total",
	      "Rounds whose table changes could not be written (nothing was answered).",
	      c.commit_failures, true);
	gauge(out, "xdpfwd_pcp_dynamic_mappings", "Mappings granted to clients.", c.leases.leases,
	      false);
	gauge(out, "xdpfwd_pcp_pool_free_ports", "Pool ports free to give to any client.",
	      c.leases.pool_free, false);
	gauge(out, "xdpfwd_pcp_quarantined_ports",
	      "Pool ports waiting --pcp-reuse-delay for the client that held them.",
	      c.leases.quarantined, false);
	gauge(out, "xdpfwd_pcp_epoch_seconds", "The epoch the server answers with.", c.epoch,
	      false);
	render_modules(&c, out);
}
