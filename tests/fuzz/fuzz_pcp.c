// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * NAT-PMP and PCP requests (RFC 6886, RFC 6887). An input is a run of
 * datagrams, each "client byte, time step byte, length byte, bytes", sent to
 * one server that lives across inputs. Every reply must have a size the RFCs
 * allow and never be longer than 1100 bytes or (PCP) than the request (an
 * error copies it, whatever its length: RFC 6887 §8.2), and
 * after each datagram the lease index must hold: every dynamic lease's port
 * in the pool, at most one lease per (port, protocol), and every lease on a
 * port number the same client's (the companion rule).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "pcp_server.h"

#define POOL_LO	   1000
#define POOL_N	   64
#define MAX_LEASES 256

static struct pcp_server srv;
static uint64_t now;

static void setup(void)
{
	struct pcp_lease_config cfg = {.life_min = 2,
				       .life_max = 100,
				       .quota = 3,
				       .reuse_delay = 20,
				       .rate = 50,
				       .burst = 100,
				       .port0_symmetric = true,
				       .max_leases = MAX_LEASES,
				       .max_clients = 16,
				       .seed = 7};
	uint16_t pool[POOL_N];
	const char *err;

	for (int i = 0; i < POOL_N; i++)
		pool[i] = POOL_LO + i;
	srv.leases = pcp_lease_new(&cfg, pool, POOL_N, &err);
	if (!srv.leases)
		abort();
	pcp_addr_from_v4(&srv.external_v4, htonl(0xcb007101));
	srv.has_v4 = true;
}

static void check_reply(const uint8_t *req, size_t len, const uint8_t *out, size_t olen)
{
	if (!olen)
		return;
	if (olen > PCP_MAX_MSG)
		abort();
	if (out[0] == 0 && req[0] == 0 && req[1] <= 2 && olen != 12 && olen != 16)
		abort(); /* NAT-PMP replies: 12 or 16 bytes */
	if (out[0] == 2 && (olen > len || !(out[1] & 0x80)))
		abort();
}

static void check_index(void)
{
	static uint32_t owner[2][POOL_N];
	static struct pcp_addr who[POOL_N];
	struct pcp_lease_info li;

	memset(owner, 0, sizeof(owner));
	for (uint32_t i = 0; i < MAX_LEASES; i++) {
		int x, p;

		if (!pcp_lease_get(srv.leases, i, &li) || li.is_static)
			continue;
		p = li.external_port - POOL_LO;
		x = li.protocol == 6;
		if (p < 0 || p >= POOL_N || owner[x][p])
			abort();
		if (owner[!x][p] && memcmp(&who[p], &li.client, sizeof(li.client)))
			abort();
		owner[x][p] = i + 1;
		who[p] = li.client;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static uint8_t out[PCP_MAX_MSG];
	static struct pcp_change ch[16];

	if (!srv.leases)
		setup();
	while (size >= 3) {
		size_t len = data[2] < size - 3 ? data[2] : size - 3, olen;
		struct pcp_addr src;

		pcp_addr_from_v4(&src, htonl(0x0a080000 | (data[0] & 7)));
		now += data[1] & 15;
		if (data[1] & 0x80)
			pcp_lease_expire(srv.leases, now, ch, 16);
		pcp_handle(&srv, data + 3, len, &src, !(data[0] & 0x80), now, out, &olen, ch);
		check_reply(data + 3, len, out, olen);
		check_index();
		data += 3 + len;
		size -= 3 + len;
	}
	return 0;
}
