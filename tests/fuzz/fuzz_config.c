// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * A config file (load FILE, serve --config FILE). Whatever parses and
 * validates must come back rule for rule through its own lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spec.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct local_addrs local = {.count = 2};
	struct rule *rules = NULL, *back = NULL;
	struct strbuf again = STRBUF_INIT;
	size_t n = 0, nback = 0;
	char *text = malloc(size + 1), err[ERR_LEN];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	local.entry[0].family = AF_INET;
	local.entry[0].addr.v4 = htonl(0xcb00710a); /* 203.0.113.10 */
	local.entry[1].family = AF_INET6;
	local.entry[1].addr.bytes[0] = 0x20;
	local.entry[1].addr.bytes[15] = 0x10;
	if (parse_config(text, &rules, &n, err) || validate_table(rules, n, &local, err))
		goto out;
	for (size_t i = 0; i < n; i++) {
		format_rule_line(&again, &rules[i]);
		strbuf_append(&again, "\n");
	}
	if (again.failed)
		goto out;
	if (parse_config(strbuf_str(&again), &back, &nback, err) || nback != n ||
	    validate_table(back, nback, &local, err))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!same_rule(&back[i], &rules[i]))
			abort();
out:
	free(text);
	strbuf_free(&again);
	free(rules);
	free(back);
	return 0;
}
