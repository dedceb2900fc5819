// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The command line's arguments: NUL-separated fields PROTO, PUBLIC, TARGET,
 * then KEY, VALUE pairs of policy (what add's --allow, --rate, --new-rate
 * and --ttl hand to parse_policy()), as an operator's script could pass
 * them. Whatever is accepted must validate or be refused with a message, and
 * must come back the same through its config-file line.
 */
#include <stdlib.h>
#include <string.h>
#include "conflict.h"
#include "spec.h"

#define MAX_FIELDS 16

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *copy = malloc(size + 1), *field[MAX_FIELDS], err[ERR_LEN];
	struct xdpfwd_prefix prefix;
	struct sockaddr_storage ss;
	struct local_addrs local = {.count = 1};
	struct rule r[2];
	__u8 reserved[65536 / 8];
	size_t n = 0;
	int got;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *p = copy; n < MAX_FIELDS && p <= copy + size; p += strlen(p) + 1)
		field[n++] = p;
	/* Each field alone, through every parser of outside text. */
	for (size_t i = 0; i < n; i++) {
		__u16 first, count;

		parse_port_range(field[i], &first, &count, err);
		parse_prefix(field[i], "prefix", &prefix, err);
		parse_listen(field[i], &ss, err);
		parse_port_set(field[i], reserved);
	}
	got = n >= 3 ? parse_rule(field[0], field[1], field[2], r, err) : -1;
	for (int k = 0; k < got; k++) {
		for (size_t i = 3; i + 1 < n; i += 2)
			if (parse_policy(&r[k], field[i], field[i + 1], err))
				goto out;
		if (!validate_table(&r[k], 1, &local, err)) {
			struct rule *back = NULL;
			size_t nback = 0;
			struct strbuf line = STRBUF_INIT;

			format_rule_line(&line, &r[k]);
			if (line.failed || parse_config(line.data, &back, &nback, err) ||
			    nback != 1 || validate_table(back, 1, &local, err) ||
			    !same_rule(&back[0], &r[k]))
				abort(); /* a mapping that does not survive its own line */
			free(back);
			strbuf_free(&line);
		}
	}
out:
	free(copy);
	return 0;
}
