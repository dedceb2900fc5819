/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * failpoint.h - failure injection, for the tests that prove every multi-step
 * operation (attach, attach --replace, detach, serve's rebuild, add, del,
 * load) either completes or leaves maps, pins, hooks and state file as they
 * were. Each step that changes something outside the process (a map write,
 * a pin, an XDP or tc hook, a write of the state file) first passes a named
 * failpoint; the environment chooses one to fail as if its syscall had:
 *
 *   XDPFWD_FAIL_AT=N          the Nth step of the process fails (from 1)
 *   XDPFWD_FAIL_AT=NAME:N     the Nth step called NAME fails
 *   XDPFWD_FAIL_TRACE=1       every step is logged: "xdpfwd: step N: NAME"
 *   XDPFWD_PAUSE_AT=NAME      before the first step called NAME, the process
 *                             prints "xdpfwd: paused before NAME (pid PID)"
 *                             and stops itself (SIGSTOP) until SIGCONT, so a
 *                             test can act in the middle of an operation
 *
 * A test runs an operation with the trace to count its steps, then once for
 * each N with XDPFWD_FAIL_AT=N. Unset (production), a failpoint costs one
 * compare. Undoing a failed operation passes no failpoint.
 */
#ifndef XDPFWD_FAILPOINT_H
#define XDPFWD_FAILPOINT_H

/* 0, or -EIO (errno EIO) when the environment chose this step to fail. */
int failpoint(const char *name);

#endif
