// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * The state file. What parses must format and parse again to the same
 * attachment and the same mappings; everything else is refused with a
 * message. A fuzzer rarely gets a checksum right, so each input is also
 * tried sealed with a correct end line, which lets it reach the records
 * behind the check. Input with a line "xdpfwd-journal ..." is a snapshot
 * and the journal after it: the journal must be read or refused, and what
 * it replays to must compact (format, parse) to the same table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "journal.h"
#include "state.h"

static void parse_and_compare(const char *text)
{
	const struct clocks now = {.real_ns = 1800000000ULL * 1000000000ULL,
				   .boot_ns = 1000ULL * 1000000000ULL};
	struct saved_state s, back;
	char err[ERR_LEN], *again;

	if (state_parse(text, &now, &s, err))
		return;
	again = state_format(&s, &now, NULL);
	if (!again || state_parse(again, &now, &back, err) || back.count != s.count ||
	    back.npending != s.npending || back.attached != s.attached ||
	    strcmp(back.iface, s.iface) || strcmp(back.tunnel, s.tunnel) ||
	    back.client_count != s.client_count)
		abort();
	for (size_t i = 0; i < s.count; i++)
		if (!same_rule(&back.rules[i], &s.rules[i]))
			abort();
	for (size_t i = 0; i < s.npending; i++)
		if (!same_rule(&back.pending[i], &s.pending[i]))
			abort();
	free(again);
	state_free(&s);
	state_free(&back);
}

/* The journal JTEXT (JLEN bytes, a NUL after them) read again up to its
 * last whole record: the same records, nothing torn. */
static void whole_part_reads_same(const char *jtext, const struct journal *j,
				  const struct clocks *now)
{
	char err[ERR_LEN], *part = strndup(jtext, j->good_len);
	struct journal again;

	if (!part)
		return;
	if (memchr(jtext, '\0', j->good_len) ||
	    journal_parse(part, j->good_len, now, &again, err) || again.torn ||
	    again.records != j->records || again.nops != j->nops || again.count != j->count)
		abort();
	journal_free(&again);
	free(part);
}

/* The snapshot TEXT with the journal JTEXT (JLEN bytes) replayed, compacted
 * and read back: the same mappings. */
static void replay_and_compact(const char *text, const char *jtext, size_t jlen)
{
	const struct clocks now = {.real_ns = 1800000000ULL * 1000000000ULL,
				   .boot_ns = 1000ULL * 1000000000ULL};
	struct saved_state s, back;
	struct journal j;
	char err[ERR_LEN], *again;

	if (journal_parse(jtext, jlen, &now, &j, err))
		return;
	if (j.good_len > jlen || j.torn != (j.good_len < jlen))
		abort();
	{
		/* The check before a rewrite sees the same records. */
		struct journal scanned;

		if (journal_scan(jtext, jlen, &scanned, err) || scanned.good_len != j.good_len ||
		    scanned.records != j.records || scanned.torn != j.torn)
			abort();
		journal_free(&scanned);
	}
	whole_part_reads_same(jtext, &j, &now);
	if (state_parse(text, &now, &s, err)) {
		journal_free(&j);
		return;
	}
	if (journal_replay(&s, &j, err))
		abort();
	again = state_format(&s, &now, NULL);
	if (!again || state_parse(again, &now, &back, err) || back.count != s.count ||
	    back.npending != s.npending)
		abort();
	for (size_t i = 0; i < s.count; i++)
		if (!same_rule(&back.rules[i], &s.rules[i]))
			abort();
	free(again);
	journal_free(&j);
	state_free(&s);
	state_free(&back);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *text = malloc(size + 64);
	size_t body, records = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	{
		char *journal = strstr(text, "xdpfwd-journal");

		if (journal && journal > text && journal[-1] == '\n') {
			char *snapshot = strndup(text, journal - text);

			if (snapshot)
				replay_and_compact(snapshot, journal, size - (journal - text));
			free(snapshot);
		}
	}
	parse_and_compare(text);
	/* The same body, sealed with a correct end line. */
	body = strlen(text);
	if (body && text[body - 1] == '\n') {
		for (size_t i = 0; i < body; i++)
			records += text[i] == '\n';
		snprintf(text + body, 64, "end %zu crc32=%08lx\n", records ? records - 1 : 0,
			 crc32(crc32(0L, Z_NULL, 0), (const Bytef *)text, body));
		parse_and_compare(text);
	}
	free(text);
	return 0;
}
