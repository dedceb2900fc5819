/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * csum.h - incremental Internet checksum update (RFC 1624, eqn. 3):
 *     HC' = ~(~HC + ~m + m')
 * Start an accumulator with csum_start(check), feed every changed 16-bit word
 * pair, finish with csum_finish(). The sum is byte-order independent, so words
 * are fed as they lie in the packet. Only for full checksums: a partial
 * (CHECKSUM_PARTIAL) field is not a checksum yet, see the README.
 */
#ifndef XDPFWD_CSUM_H
#define XDPFWD_CSUM_H

#include <linux/types.h>

static __always_inline __u32 csum_start(__u16 check)
{
	return (__u16)~check;
}

static __always_inline __u32 csum_replace16(__u32 acc, __u16 old, __u16 new)
{
	return acc + (__u16)~old + new;
}

static __always_inline __u32 csum_replace32(__u32 acc, __u32 old, __u32 new)
{
	acc = csum_replace16(acc, old >> 16, new >> 16);
	return csum_replace16(acc, old & 0xffff, new & 0xffff);
}

static __always_inline __u16 csum_finish(__u32 acc)
{
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)~acc;
}

#endif /* XDPFWD_CSUM_H */
