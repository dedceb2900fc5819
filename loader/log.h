/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * log.h - messages to stderr. pr_warn always shows, pr_info with -v, pr_debug
 * with -vv. libbpf's and libxdp's own messages are demoted one level.
 */
#ifndef XDPFWD_LOG_H
#define XDPFWD_LOG_H

enum log_level { LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_level;
struct strbuf;
/* While set, pr_warn's messages go here instead of stderr, without the
 * "xdpfwd: " prefix (xdpfwd check quotes them in its report). */
extern struct strbuf *log_capture;

void log_init(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
