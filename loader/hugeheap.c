// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include "hugeheap.h"

#define HUGE_PAGE (2UL << 20)
/* glibc's default M_TRIM_THRESHOLD (malloc/malloc.c). */
#define DEFAULT_TRIM_THRESHOLD (128 * 1024)
/* The largest M_MMAP_THRESHOLD glibc takes (DEFAULT_MMAP_THRESHOLD_MAX):
 * blocks above it still get their own mmap(). */
#define MMAP_THRESHOLD_MAX (4 * 1024 * 1024 * (int)sizeof(long))

/* MADV_HUGEPAGE on the 2 MiB pages inside [P, P + LEN). */
static void advise(uintptr_t p, size_t len)
{
	uintptr_t start = (p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	uintptr_t end = (p + len) & ~(HUGE_PAGE - 1);

	if (end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE);
}

void hugeheap_reserve(size_t bytes)
{
	enum { CHUNKS = 16 };
	size_t chunk = MMAP_THRESHOLD_MAX - 4096, n = 0;
	void *held[CHUNKS];

	/* Blocks up to the threshold from the heap rather than each its own
	 * mmap(), and freed memory kept: the heap grown here, advised once,
	 * serves them all. */
	if (!mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) || !mallopt(M_TRIM_THRESHOLD, 1 << 30))
		return;
	while (n < CHUNKS && n * chunk < bytes && (held[n] = malloc(chunk))) {
		advise((uintptr_t)held[n], chunk);
		n++;
	}
	while (n)
		free(held[--n]);
}

void hugeheap_release(void)
{
	mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD);
	malloc_trim(0);
}
