// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "log.h"
#include "show.h"

static json_object *json_addr(__u8 family, const union xdpfwd_addr *addr)
{
	char buf[ADDR_STR_LEN];

	format_addr(buf, sizeof(buf), family, addr);
	return buf[0] ? json_object_new_string(buf) : NULL;
}

static json_object *json_mapping(const struct slot_mapping *sm)
{
	const struct xdpfwd_mapping *m = &sm->m;
	json_object *o = json_object_new_object();

	json_object_object_add(o, "proto", json_object_new_string(proto_name(m->proto)));
	json_object_object_add(o, "family",
			       json_object_new_string(m->family == AF_INET ? "ipv4" : "ipv6"));
	json_object_object_add(o, "public_addr", json_addr(m->family, &m->public_addr));
	json_object_object_add(o, "public_port", json_object_new_int(m->public_port));
	json_object_object_add(o, "public_port_end",
			       json_object_new_int(m->public_port + m->port_count - 1));
	json_object_object_add(o, "target_addr", json_addr(m->family, &m->target_addr));
	json_object_object_add(o, "target_port", json_object_new_int(m->target_port));
	json_object_object_add(o, "target_port_end",
			       json_object_new_int(m->target_port + m->port_count - 1));
	json_object_object_add(o, "source_addr", json_addr(m->family, &m->source_addr));
	return o;
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						   JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void text_row(const struct xdpfwd_mapping *m, char *pub, size_t plen, char *target,
		     size_t tlen)
{
	format_endpoint(pub, plen, m->family, &m->public_addr, m->public_port, m->port_count);
	if (!pub[strspn(pub, "0123456789-")])
		snprintf(pub + strlen(pub), plen - strlen(pub), " (%s)",
			 m->family == AF_INET ? "any IPv4" : "any IPv6");
	format_endpoint(target, tlen, m->family, &m->target_addr, m->target_port, m->port_count);
}

int show_list(const struct xdpfwd_maps *maps, bool json)
{
	struct slot_mapping *list;
	size_t n;
	int err = table_read(maps, &list, &n);

	if (err) {
		pr_warn("cannot read the mappings: %s\n", strerror(-err));
		return err;
	}
	if (json) {
		json_object *arr = json_object_new_array();

		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, json_mapping(&list[i]));
		print_json(arr);
	} else {
		printf("%-5s %-36s %s\n", "PROTO", "PUBLIC", "TARGET");
		for (size_t i = 0; i < n; i++) {
			char pub[ADDR_STR_LEN + 16], target[ADDR_STR_LEN];

			text_row(&list[i].m, pub, sizeof(pub), target, sizeof(target));
			printf("%-5s %-36s %s\n", proto_name(list[i].m.proto), pub, target);
		}
	}
	free(list);
	return 0;
}

int show_stats(const struct xdpfwd_maps *maps, bool json)
{
	__u64 stats[XDPFWD_STAT_MAX];
	json_object *arr = NULL, *global;
	struct xdpfwd_counters *sums = NULL;
	struct slot_mapping *list = NULL;
	size_t n = 0;
	int err = table_read(maps, &list, &n);

	err = err ?: stats_read(maps, stats);
	if (!err) {
		sums = calloc(n ? n : 1, sizeof(*sums));
		err = sums ? counters_read_many(maps, list, n, sums) : -ENOMEM;
	}
	if (err) {
		free(sums);
		free(list);
		pr_warn("cannot read the counters: %s\n", strerror(-err));
		return err;
	}
	if (json)
		arr = json_object_new_array();
	else
		printf("%-5s %-36s %-26s %10s %12s %10s %12s\n", "PROTO", "PUBLIC", "TARGET",
		       "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES");
	for (size_t i = 0; i < n; i++) {
		struct xdpfwd_counters c = sums[i];
		char pub[ADDR_STR_LEN + 16], target[ADDR_STR_LEN];

		if (json) {
			json_object *o = json_mapping(&list[i]);

			json_object_object_add(o, "rx_packets",
					       json_object_new_uint64(c.rx_packets));
			json_object_object_add(o, "rx_bytes", json_object_new_uint64(c.rx_bytes));
			json_object_object_add(o, "tx_packets",
					       json_object_new_uint64(c.tx_packets));
			json_object_object_add(o, "tx_bytes", json_object_new_uint64(c.tx_bytes));
			json_object_array_add(arr, o);
			continue;
		}
		text_row(&list[i].m, pub, sizeof(pub), target, sizeof(target));
		printf("%-5s %-36s %-26s %10llu %12llu %10llu %12llu\n",
		       proto_name(list[i].m.proto), pub, target, (unsigned long long)c.rx_packets,
		       (unsigned long long)c.rx_bytes, (unsigned long long)c.tx_packets,
		       (unsigned long long)c.tx_bytes);
	}
	free(list);
	free(sums);

	if (json) {
		json_object *top = json_object_new_object();

		global = json_object_new_object();
		for (int s = 0; s < XDPFWD_STAT_MAX; s++)
			json_object_object_add(global, xdpfwd_stat_names[s],
					       json_object_new_uint64(stats[s]));
		json_object_object_add(top, "mappings", arr);
		json_object_object_add(top, "global", global);
		print_json(top);
		return 0;
	}
	printf("\n");
	for (int s = 0; s < XDPFWD_STAT_MAX; s++)
		printf("%-24s %llu\n", xdpfwd_stat_names[s], (unsigned long long)stats[s]);
	return 0;
}
