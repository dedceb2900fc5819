/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * fixture.h - a loaded BPF object with a table installed by the tool's own
 * parse, validate and apply code, as the data path tests start from.
 */
#ifndef XDPFWD_TEST_FIXTURE_H
#define XDPFWD_TEST_FIXTURE_H

#include <bpf/libbpf.h>
#include "table.h"

/* "Now" when the test table is installed: a lease (ttl=) ends TTL seconds
 * after it, on the clock the tests give the programs (policy_clock_ns). */
#define TEST_CLOCK_NS 1000000000000000ULL

/* Fills MAPS from OBJ's maps and installs TABLE (config file text) as if the
 * public interface held 203.0.113.10 and 2001:db8:1::10. RULES (freed by the
 * caller) keep the lines. 0, or -1 after a failed check. */
int install_test_table(struct bpf_object *obj, const char *table, struct xdpfwd_maps *maps,
		       struct rule **rules, size_t *n);

#endif
