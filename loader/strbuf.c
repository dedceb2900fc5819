// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "strbuf.h"

#define STRBUF_FIRST 256

int strbuf_reserve(struct strbuf *b, size_t more)
{
	size_t need, cap;
	char *grown;

	if (b->failed)
		return -ENOMEM;
	if (more > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + more + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : b->hint > STRBUF_FIRST ? b->hint : STRBUF_FIRST;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	grown = realloc(b->data, cap);
	if (!grown)
		goto fail;
	if (!b->data)
		grown[0] = '\0';
	b->data = grown;
	b->cap = cap;
	return 0;
fail:
	b->failed = true;
	return -ENOMEM;
}

void strbuf_appendn(struct strbuf *b, const char *s, size_t n)
{
	if (strbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void strbuf_append(struct strbuf *b, const char *s)
{
	strbuf_appendn(b, s, strlen(s));
}

void strbuf_vappendf(struct strbuf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	/* Whatever fits in the room there is; the rest after growing once. */
	if (strbuf_reserve(b, 0))
		return;
	va_copy(again, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	if (n >= 0 && (size_t)n >= b->cap - b->len && !strbuf_reserve(b, n))
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, again);
	va_end(again);
	if (n < 0 || b->failed) {
		b->failed = true;
		b->data[b->len] = '\0';
		return;
	}
	b->len += n;
}

void strbuf_appendf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strbuf_vappendf(b, fmt, ap);
	va_end(ap);
}

const char *strbuf_str(const struct strbuf *b)
{
	return b->data ? b->data : "";
}

void strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

char *strbuf_detach(struct strbuf *b, size_t *len)
{
	char *text = b->data;

	if (b->failed) {
		free(text);
		text = NULL;
	} else if (!text) {
		text = calloc(1, 1);
	}
	if (len)
		*len = text ? b->len : 0;
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
	return text;
}

void strbuf_free(struct strbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}
