/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * bucket.h - the token bucket of --rate and --new-rate, as GCRA on one
 * timestamp (see struct xdpfwd_bucket). Plain C with time as a parameter:
 * the BPF programs call it under the policy's spin lock, the unit tests call
 * it directly with the clock they choose.
 */
#ifndef XDPFWD_BUCKET_H
#define XDPFWD_BUCKET_H

#include <stdbool.h>
#include "xdpfwd.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/* Whether a packet at NOW conforms; if it does, it takes its token. An idle
 * bucket refills at one token per interval up to its burst. */
static __always_inline bool bucket_take(struct xdpfwd_bucket *b, __u64 now)
{
	__u64 tat = b->tat_ns > now ? b->tat_ns : now;

	if (tat + b->interval_ns - now > b->limit_ns)
		return false;
	b->tat_ns = tat + b->interval_ns;
	return true;
}

#endif /* XDPFWD_BUCKET_H */
