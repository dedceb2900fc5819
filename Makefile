# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# make            build build/xdpfwd (the BPF object is embedded through its skeleton)
# make test       install what is missing, build, run check, unit and e2e tests (root)
# make demo       install what is missing, build, run the forwarder in a demo lab (root)
# make check      clang-format, cppcheck and clang's analyzer
# make bench      the benchmarks in bench/, results in bench/results/ (root)
# make V=1        show the full commands
.DELETE_ON_ERROR:
.PHONY: all deps test unit install-test e2e bench demo check install clean

BUILD      := build
CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= bpftool
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
VERSION    := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 -Wall -Wextra -Werror -Wno-format-truncation -Iinclude -I$(BUILD) -Iloader \
	      -DXDPFWD_VERSION='"$(VERSION)"'
LDLIBS     := -lxdp -lbpf -ljson-c -lmicrohttpd -lpthread -lelf -lz
# clang 14 finds asm/types.h only in the multiarch directory when targeting BPF.
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Werror -Iinclude \
	      -I/usr/include/$(shell gcc -dumpmachine)

ifeq ($(V),1)
Q   :=
msg :=
else
Q   := @
msg  = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LOADER_LIB := $(addprefix loader/,log.c spec.c table.c pindir.c conflict.c state.c persist.c change.c)
LOADER_SRC := $(LOADER_LIB) $(addprefix loader/,main.c attach.c show.c serve.c metrics.c)
UNIT_SRC   := $(wildcard tests/unit/*.c)
BPF_HDRS   := $(wildcard bpf/lib/*.h) include/xdpfwd.h
HDRS       := $(wildcard loader/*.h) include/xdpfwd.h $(BUILD)/xdpfwd.skel.h

all: $(BUILD)/xdpfwd

$(BUILD):
	$(Q)mkdir -p $@

$(BUILD)/xdpfwd.bpf.o: bpf/xdpfwd.bpf.c $(BPF_HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/xdpfwd.skel.h: $(BUILD)/xdpfwd.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name xdpfwd_bpf > $@

$(BUILD)/xdpfwd: $(LOADER_SRC) $(HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(LOADER_SRC) -o $@ $(LDLIBS)

$(BUILD)/unit_tests: $(UNIT_SRC) $(LOADER_LIB) $(HDRS) $(wildcard tests/unit/*.h)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-missing-field-initializers -Itests/unit $(UNIT_SRC) $(LOADER_LIB) -o $@ $(LDLIBS)

deps:
	$(Q)tools/install-deps.sh

test: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/xdpfwd $(BUILD)/unit_tests $(BUILD)/xdpgen
	$(Q)$(MAKE) --no-print-directory check unit install-test e2e

unit: $(BUILD)/unit_tests
	$(Q)$(BUILD)/unit_tests

install-test: $(BUILD)/xdpfwd
	$(Q)tests/install/run.sh

e2e: $(BUILD)/xdpfwd
	$(Q)tests/e2e/run.sh

$(BUILD)/trafgen.bpf.o: bench/bpf/trafgen.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/trafgen.skel.h: $(BUILD)/trafgen.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name trafgen_bpf > $@

$(BUILD)/xdpgen: bench/xdpgen.c $(BUILD)/trafgen.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lbpf -lelf -lz

bench: $(BUILD)/xdpfwd $(BUILD)/xdpgen
	$(Q)tools/install-deps.sh --bench
	$(Q)bench/scrape.sh
	$(Q)bench/micro.sh
	$(Q)bench/control.sh
	$(Q)bench/forward.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/xdpfwd
	$(Q)tools/demo.sh

check: $(BUILD)/xdpfwd.skel.h
	$(Q)clang-format --dry-run --Werror bpf/*.c bpf/lib/*.h include/*.h loader/*.[ch] tests/unit/*.[ch] \
		bench/*.c bench/bpf/*.c
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--suppress=missingIncludeSystem --suppress=unknownMacro -Iinclude -Iloader -I$(BUILD) loader tests/unit
	$(Q)for f in $(LOADER_SRC); do \
		$(CLANG) --analyze -Xclang -analyzer-output=text $(CFLAGS) $$f -o /dev/null || exit 1; \
	done >$(BUILD)/analyzer.txt 2>&1; \
	if grep 'warning:' $(BUILD)/analyzer.txt | grep -v '\.skel\.h:'; then \
		cat $(BUILD)/analyzer.txt; exit 1; fi  # the skeleton is bpftool's code

$(BUILD)/xdpfwd.service: tools/xdpfwd.service.in | $(BUILD)
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g' $< >$@

# Honours DESTDIR (staging for packages) and PREFIX, SBINDIR, UNITDIR.
install: $(BUILD)/xdpfwd $(BUILD)/xdpfwd.service
	install -D -m 0755 $(BUILD)/xdpfwd $(DESTDIR)$(SBINDIR)/xdpfwd
	install -D -m 0644 $(BUILD)/xdpfwd.service $(DESTDIR)$(UNITDIR)/xdpfwd.service

clean:
	rm -rf $(BUILD)
