/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
#ifndef XDPFWD_HUGEHEAP_H
#define XDPFWD_HUGEHEAP_H

#include <stddef.h>

/*
 * Lets malloc() serve the next BYTES from the brk heap backed by
 * transparent huge pages, and keep what is freed for the next allocation.
 * What glibc's glibc.malloc.hugetlb=1 tunable does (madvise(MADV_HUGEPAGE)
 * on the heap it grows; malloc/arena.c, sysmalloc()), which only the
 * environment can set. A table of 65,536 mappings takes about 100 MB of
 * arrays (struct rule is 420 bytes); as 4 KiB pages that is 24,000 page
 * faults, most of the time of a load on a virtual machine
 * (bench/results/control.md). Only pages touched are used; the rest stays
 * address space. Best effort: without THP (or with "never") nothing changes.
 */
void hugeheap_reserve(size_t bytes);
/* For a process that lives on (serve): freed memory goes back to the system
 * again, as by default. */
void hugeheap_release(void);

#endif
