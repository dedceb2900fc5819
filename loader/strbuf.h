/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * strbuf.h - the one way loader/ builds text: a growable, NUL-terminated
 * buffer. Every append either fits or grows the buffer; nothing is cut short
 * and nothing writes past the end. An allocation that fails marks the buffer
 * failed: later appends do nothing, and the owner reports it (state files are
 * then not written, a scrape is answered with 500).
 *
 * Zero-initialise (STRBUF_INIT). strbuf_reset() empties it and keeps the
 * memory, for a buffer reused scrape after scrape; strbuf_detach() hands the
 * text over (to be free()d) and leaves the buffer empty.
 */
#ifndef XDPFWD_STRBUF_H
#define XDPFWD_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data;  /* NUL-terminated once anything was appended; NULL before */
	size_t len;  /* bytes of text, without the NUL */
	size_t cap;  /* bytes allocated */
	size_t hint; /* the first allocation's size, e.g. the last scrape's length */
	bool failed; /* an allocation failed: the text is incomplete */
};

#define STRBUF_INIT \
	{           \
		0   \
	}

/* Room for MORE bytes of text (and the NUL) without another allocation:
 * 0, or -ENOMEM (and the buffer failed). */
int strbuf_reserve(struct strbuf *b, size_t more);
void strbuf_append(struct strbuf *b, const char *s);
void strbuf_appendn(struct strbuf *b, const char *s, size_t n);
void strbuf_appendf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vappendf(struct strbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The text so far: "" for an empty buffer, never NULL. */
const char *strbuf_str(const struct strbuf *b);
/* Empty again (and no longer failed); the memory stays for the next text. */
void strbuf_reset(struct strbuf *b);
/* The text, malloc'd and NUL-terminated, for the caller to free(); LEN (when
 * not NULL) gets its length. NULL when the buffer failed (it is freed). The
 * buffer is left empty, with HINT kept. */
char *strbuf_detach(struct strbuf *b, size_t *len);
void strbuf_free(struct strbuf *b);

#endif
