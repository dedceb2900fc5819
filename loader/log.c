// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "log.h"
#include "strbuf.h"

enum log_level log_level = LOG_WARN;
struct strbuf *log_capture;

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	if (level == LOG_WARN && log_capture) {
		va_start(ap, fmt);
		strbuf_vappendf(log_capture, fmt, ap);
		va_end(ap);
		return;
	}
	if (level == LOG_WARN)
		fputs("xdpfwd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static int print_demoted(enum log_level level, const char *fmt, va_list ap)
{
	if (level > log_level)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return print_demoted(level == LIBBPF_WARN ? LOG_INFO : LOG_DEBUG, fmt, ap);
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	return print_demoted(level == LIBXDP_WARN ? LOG_INFO : LOG_DEBUG, fmt, ap);
}

void log_init(void)
{
	libbpf_set_print(libbpf_print);
	libxdp_set_print(libxdp_print);
}
