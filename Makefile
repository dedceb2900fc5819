# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
# make            build build/xdpfwd (the BPF object is embedded through its skeleton)
# make test       install what is missing, build, run check, unit, fuzz-replay, install and
#                 e2e tests at the same time (root; TEST_JOBS=1: one after another)
# make demo       install what is missing, build, run the forwarder in a demo lab (root)
# make dist-test  the dashboard and alert rules in dist/ (promtool, no network)
# make check      clang-format, cppcheck, clang's analyzer, the command line's outputs
#                 (tests/cli), and the man page and completion against the command table
# make docs       rewrite the generated parts of xdpfwd.8 and tools/xdpfwd.bash from the table
# make bench      the benchmarks in bench/, results in bench/results/ (root)
# make fuzz       each libFuzzer target for FUZZ_SECONDS (60); corpus and crashes in tests/fuzz/
# make test SANITIZE=1   the same tests with the tool and unit tests built with ASan and UBSan
# make deb        the Debian package (dpkg-buildpackage), in build/deb/
# make V=1        show the full commands
.DELETE_ON_ERROR:
.PHONY: all deps test unit install-test e2e bench demo check install clean fuzz fuzz-replay \
	cli-test dist-test docs check-docs deb deb-if-possible check-format check-cppcheck check-funclen check-analyze

BUILD      := build
CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= bpftool
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DATADIR    ?= $(PREFIX)/share/xdpfwd
# The version has one place, debian/changelog's first line (dpkg-buildpackage
# reads nothing else); the commit is git's when this tree is a checkout of
# its own (a tarball inside another repository does not take that one's).
# `xdpfwd --version` prints "xdpfwd VERSION (git COMMIT)", or without the
# commit outside git; make deb passes XDPFWD_COMMIT to the copy it builds.
VERSION    := $(shell awk 'NR == 1 { gsub(/[()]/, "", $$2); print $$2; exit }' debian/changelog)
ifeq ($(origin XDPFWD_COMMIT),undefined)
XDPFWD_COMMIT := $(shell [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ] && \
		git describe --always --dirty 2>/dev/null)
endif

CFLAGS     ?= -O2 -g
CFLAGS     += -std=gnu11 -Wall -Wextra -Wshadow -Werror -Wno-format-truncation -Iinclude -I$(BUILD) -Iloader \
	      -DXDPFWD_VERSION='"$(VERSION)"' $(if $(XDPFWD_COMMIT),-DXDPFWD_COMMIT='"$(XDPFWD_COMMIT)"')
LDLIBS     := -lxdp -lbpf -ljson-c -lcurl -lpthread -lelf -lz
# clang 14 finds asm/types.h only in the multiarch directory when targeting BPF.
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Wshadow -Werror -Iinclude \
	      -I/usr/include/$(shell gcc -dumpmachine)

# A build of its own, so sanitized and plain objects never mix.
ifeq ($(SANITIZE),1)
BUILD      := build-san
CFLAGS     += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

ifeq ($(V),1)
Q   :=
msg :=
else
Q   := @
msg  = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LOADER_LIB := $(addprefix loader/,log.c strbuf.c failpoint.c txn.c spec.c table.c pindir.c conflict.c state.c journal.c persist.c change.c loadindex.c textfile.c leases.c)
LOADER_LIB += loader/ifkind.c loader/cli.c loader/cli_doc.c loader/pinned_maps.c loader/localaddr.c \
	      loader/bpfload.c loader/check.c loader/capacity.c
# The NAT-PMP/PCP server's parts (pure: no maps, no I/O), for serve and the unit tests.
LOADER_LIB += loader/pcp_wire.c loader/pcp_lease.c loader/pcp_server.c loader/pcp_daemon.c
LOADER_LIB += loader/pcp_hook.c loader/pcp_announce.c loader/wg_peers.c
# The fleet (issue 16): etcd's v3 JSON gateway, the keys, serve --fleet, xdpfwd fleet.
LOADER_LIB += loader/etcd.c loader/fleet.c loader/fleet_cli.c loader/fleet_pool.c
LOADER_SRC := $(LOADER_LIB) $(addprefix loader/,main.c hugeheap.c mhd.c attach.c restore.c migrate.c show.c serve.c metrics.c fleetd.c)
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
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LOADER_SRC) -o $@ $(LDLIBS)

$(BUILD)/unit_tests: $(UNIT_SRC) $(LOADER_LIB) $(HDRS) $(wildcard tests/unit/*.h)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-missing-field-initializers -Itests/unit $(UNIT_SRC) $(LOADER_LIB) -o $@ $(LDLIBS)

deps:
	$(Q)tools/install-deps.sh

# The parts at the same time, each part's output printed whole when it ends
# (e2e runs its two fast-path modes as two labs at once, tests/e2e/run.sh),
# every part run even when another fails, and make test fails if any did.
# TEST_JOBS=1 runs them one after another.
TEST_JOBS ?= 5
test: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/xdpfwd $(BUILD)/unit_tests $(BUILD)/xdpgen $(BUILD)/ctlbench \
		deb-if-possible
	$(Q)start=$$(date +%s); \
	$(MAKE) --no-print-directory -k -j$(TEST_JOBS) --output-sync=target e2e check unit fuzz-replay install-test dist-test; \
	rc=$$?; echo "  make test: $$([ $$rc = 0 ] && echo passed || echo FAILED) in $$(($$(date +%s) - start)) s"; \
	exit $$rc

unit: $(BUILD)/unit_tests
	$(Q)$(BUILD)/unit_tests

# make install into a staging directory, then the package: installed into a
# scratch root with dpkg --root, removed, purged (skipped, saying so, without
# dpkg-buildpackage and debhelper).
install-test: $(BUILD)/xdpfwd deb-if-possible
	$(Q)tests/install/run.sh
	$(Q)XDPFWD_DEB=$(DEB) tests/install/deb.sh

# The package, built by dpkg-buildpackage -us -uc -b from a copy of the tree
# (the files git tracks and the untracked ones it does not ignore, as they are
# now), so the tree's build/ is never cleaned: the .deb, .buildinfo and
# .changes land in build/deb/, the build's log in build/deb/build.log. 50 to
# 100 s on this shared 2-core machine: make deb builds it always; make test and
# make e2e build it when there is none or its packaging changed (debian/, the
# unit, dist/'s files, this Makefile), not for every change of the code: their
# upgrade test goes from that package to a build of the tree as it is.
# What dist/ holds for operators, as data in $(DATADIR): dashboards (.json),
# alert rules and their promtool tests (.yml, .yaml), whatever their names;
# dist/'s own test scripts stay in the tree.
DIST_DATA := $(shell find dist -type f \( -name '*.json' -o -name '*.yml' -o -name '*.yaml' \) 2>/dev/null | sort)

DEB_DIR   := $(BUILD)/deb
DEB       := $(CURDIR)/$(DEB_DIR)/xdpfwd_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null).deb
DEB_INPUT := $(wildcard debian/* debian/source/*) Makefile tools/xdpfwd.service.in $(DIST_DATA)
HAVE_DEB_TOOLS := $(shell command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && echo 1)

deb:
	$(Q)rm -f $(DEB_DIR)/.built
	$(Q)$(MAKE) --no-print-directory $(DEB_DIR)/.built

deb-if-possible:
	$(Q)$(if $(HAVE_DEB_TOOLS),$(MAKE) --no-print-directory $(DEB_DIR)/.built,\
		echo "  (no dpkg-buildpackage or debhelper: the package's tests are skipped)")

$(DEB_DIR)/.built: $(DEB_INPUT)
	$(Q)[ -n "$(HAVE_DEB_TOOLS)" ] || \
		{ echo "deb: needs dpkg-buildpackage and debhelper: run tools/install-deps.sh" >&2; exit 1; }
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/xdpfwd-$(VERSION)
	$(Q)git ls-files -z -c -o --exclude-standard | grep -zv '^debian/xdpfwd/' | \
		xargs -0 cp --parents -t $(DEB_DIR)/xdpfwd-$(VERSION) --
	$(call msg,DEB,$(DEB))
	$(Q)cd $(DEB_DIR)/xdpfwd-$(VERSION) && XDPFWD_COMMIT='$(XDPFWD_COMMIT)' \
		dpkg-buildpackage -us -uc -b >../build.log 2>&1 || { tail -30 ../build.log; exit 1; }
	$(Q)rm -rf $(DEB_DIR)/xdpfwd-$(VERSION)
	$(Q)ls $(DEB) >/dev/null && touch $@

# The Grafana dashboard and the Prometheus alert rules in dist/: their shape,
# promtool's checks and unit tests, and every expression reading only metrics
# xdpfwd exports (e2e's test_dashboard_queries runs them on a real Prometheus).
dist-test:
	$(Q)dist/test.sh

e2e: $(BUILD)/xdpfwd $(BUILD)/ctlbench deb-if-possible
	$(Q)$(MAKE) --no-print-directory $(BUILD)/xdpfwd-previous || \
		echo "  (no previous release: the upgrade test is skipped)"
	$(Q)XDPFWD=$(CURDIR)/$(BUILD)/xdpfwd XDPFWD_PREVIOUS=$(CURDIR)/$(BUILD)/xdpfwd-previous XDPFWD_DEB=$(DEB) \
		tests/e2e/run.sh

# The previous release, built from git, for the upgrade test: its programs and
# maps are replaced by this build's with attach --replace.
PREVIOUS_RELEASE := c9294da
$(BUILD)/xdpfwd-previous: | $(BUILD)
	$(call msg,BUILD,$@ from $(PREVIOUS_RELEASE))
	$(Q)rm -rf $(BUILD)/previous && mkdir -p $(BUILD)/previous && \
		git archive $(PREVIOUS_RELEASE) | tar -x -C $(BUILD)/previous && \
		$(MAKE) --no-print-directory -C $(BUILD)/previous build/xdpfwd VERSION=$(PREVIOUS_RELEASE) \
			>$(BUILD)/previous.log 2>&1 && \
		cp $(BUILD)/previous/build/xdpfwd $@ && rm -rf $(BUILD)/previous

# The parsers of outside input under libFuzzer (clang, libclang-rt-14-dev).
FUZZ_TARGETS := cli config state pcp
FUZZ_SECONDS ?= 60
FUZZ_SRC     := loader/strbuf.c loader/failpoint.c loader/spec.c loader/state.c loader/journal.c loader/conflict.c loader/textfile.c \
		loader/pcp_wire.c loader/pcp_lease.c loader/pcp_server.c
FUZZ_BINS    := $(addprefix $(BUILD)/fuzz_,$(FUZZ_TARGETS))

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRC) $(wildcard loader/*.h) include/xdpfwd.h | $(BUILD)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iinclude -Iloader $< $(FUZZ_SRC) -o $@ -lz

# New inputs are merged into the corpus (kept minimal); a crash leaves its
# reproducer in tests/fuzz/crashes/, which fuzz-replay runs from then on.
fuzz: $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do \
		work=$$(mktemp -d) && \
		$(BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/crashes/$$t- $$work tests/fuzz/corpus/$$t; rc=$$?; \
		mkdir -p $$work.min && $(BUILD)/fuzz_$$t -merge=1 $$work.min tests/fuzz/corpus/$$t $$work \
			>/dev/null 2>&1 && rm -rf tests/fuzz/corpus/$$t && mv $$work.min tests/fuzz/corpus/$$t; \
		rm -rf $$work $$work.min; [ $$rc = 0 ] || exit $$rc; \
	done

# Every corpus input and every reproducer, once: what make test runs.
fuzz-replay: $(FUZZ_BINS)
	$(Q)for t in $(FUZZ_TARGETS); do \
		$(BUILD)/fuzz_$$t -runs=0 tests/fuzz/corpus/$$t 2>$(BUILD)/fuzz_$$t.log || \
			{ cat $(BUILD)/fuzz_$$t.log; exit 1; }; \
		for c in tests/fuzz/crashes/$$t-*; do [ -e "$$c" ] || continue; \
			$(BUILD)/fuzz_$$t "$$c" 2>>$(BUILD)/fuzz_$$t.log || { cat $(BUILD)/fuzz_$$t.log; exit 1; }; done; \
		printf '  %-8s %s\n' REPLAY "fuzz_$$t: $$(ls tests/fuzz/corpus/$$t | wc -l) inputs, $$(ls tests/fuzz/crashes 2>/dev/null | grep -c "^$$t-") reproducers"; \
	done

$(BUILD)/trafgen.bpf.o: bench/bpf/trafgen.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/trafgen.skel.h: $(BUILD)/trafgen.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name trafgen_bpf > $@

$(BUILD)/xdpgen: bench/xdpgen.c $(BUILD)/trafgen.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lbpf -lelf -lz

$(BUILD)/ctlbench: bench/ctlbench.c $(LOADER_LIB) $(HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Iloader bench/ctlbench.c $(LOADER_LIB) -o $@ $(LDLIBS)

# What loading the BPF object costs (bench/verifier.sh).
$(BUILD)/verifier: bench/verifier.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lbpf

# NAT-PMP requests per second and their latency (bench/pcp.sh).
$(BUILD)/pcpload: bench/pcpload.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

bench: $(BUILD)/xdpfwd $(BUILD)/xdpgen $(BUILD)/ctlbench
	$(Q)tools/install-deps.sh --bench
	$(Q)bench/scrape.sh
	$(Q)bench/micro.sh
	$(Q)bench/control.sh
	$(Q)bench/forward.sh
	$(Q)bench/rate.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/xdpfwd
	$(Q)tools/demo.sh

# The man page's SYNOPSIS, OPTIONS and COMMANDS and the bash completion are
# printed by the binary from its command table; the tree holds them so that
# `man ./xdpfwd.8` works, and check-docs fails when they are stale.
$(BUILD)/xdpfwd.8: xdpfwd.8 $(BUILD)/xdpfwd tools/man-splice.sh
	$(call msg,GEN,$@)
	$(Q)tools/man-splice.sh $(BUILD)/xdpfwd <xdpfwd.8 >$@

$(BUILD)/xdpfwd.bash: $(BUILD)/xdpfwd
	$(call msg,GEN,$@)
	$(Q)$(BUILD)/xdpfwd help bash-completion >$@

docs: $(BUILD)/xdpfwd.8 $(BUILD)/xdpfwd.bash
	$(Q)cp $(BUILD)/xdpfwd.8 xdpfwd.8
	$(Q)cp $(BUILD)/xdpfwd.bash tools/xdpfwd.bash

check-docs: $(BUILD)/xdpfwd.8 $(BUILD)/xdpfwd.bash
	$(Q)diff -u xdpfwd.8 $(BUILD)/xdpfwd.8 && diff -u tools/xdpfwd.bash $(BUILD)/xdpfwd.bash || \
		{ echo "xdpfwd.8 or tools/xdpfwd.bash is stale: run make docs" >&2; exit 1; }
	$(Q)groff -man -ww -z xdpfwd.8 2>$(BUILD)/groff.log && [ ! -s $(BUILD)/groff.log ] || \
		{ cat $(BUILD)/groff.log; exit 1; }
	$(Q)lexgrog xdpfwd.8 >/dev/null
	$(Q)bash -n tools/xdpfwd.bash

cli-test: $(BUILD)/xdpfwd
	$(Q)tests/cli/run.sh $(BUILD)/xdpfwd
	$(Q)tests/cli/completion.sh tools/xdpfwd.bash

# make check runs its parts side by side on every core (make -j from inside,
# so a plain `make check` uses them too), and a second run redoes only the
# analyzer reports of files that changed.
NPROC      := $(shell nproc 2>/dev/null || echo 1)
ANALYZE    := $(patsubst loader/%.c,$(BUILD)/analyze/%.txt,$(LOADER_SRC))

check: $(BUILD)/xdpfwd.skel.h
	$(Q)$(MAKE) --no-print-directory -k -j$(NPROC) --output-sync=target check-docs cli-test \
		check-format check-cppcheck check-funclen check-analyze

check-format:
	$(Q)clang-format --dry-run --Werror bpf/*.c bpf/lib/*.h include/*.h loader/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c \
		bench/*.c bench/bpf/*.c

# cppcheck reads the skeleton without the BPF object embedded in it (1.8 MB of
# string literal, which took it minutes); the declarations are the same.
$(BUILD)/cppcheck/xdpfwd.skel.h: $(BUILD)/xdpfwd.skel.h
	$(Q)mkdir -p $(@D)
	$(Q)awk '/^\treturn \(const void \*\)"\\$$/ { skip = 1; print "\treturn (const void *)\"\";"; next } \
		skip { if (/";$$/) skip = 0; next } { print }' $< >$@

check-cppcheck: $(BUILD)/cppcheck/xdpfwd.skel.h
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--suppress=missingIncludeSystem --suppress=unknownMacro -Iinclude -Iloader -I$(BUILD)/cppcheck loader tests/unit

# No function in loader/ over 80 lines, no BPF entry point over 60 (pmccabe).
check-funclen:
	$(Q)tools/funclen.sh

check-analyze: $(ANALYZE)

# clang's analyzer, one report per file; a warning fails the check, except in
# the skeleton, which is bpftool's code.
$(BUILD)/analyze/%.txt: loader/%.c $(HDRS)
	$(Q)mkdir -p $(@D)
	$(call msg,ANALYZE,$<)
	$(Q)$(CLANG) --analyze -Xclang -analyzer-output=text $(CFLAGS) $< -o /dev/null >$@ 2>&1 || \
		{ cat $@; exit 1; }
	$(Q)if grep 'warning:' $@ | grep -qv '\.skel\.h:'; then cat $@; exit 1; fi

$(BUILD)/xdpfwd.service: tools/xdpfwd.service.in | $(BUILD)
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g' $< >$@

# Honours DESTDIR (staging for packages) and PREFIX, SBINDIR, UNITDIR, MANDIR,
# BASHCOMPDIR, DATADIR.
install: $(BUILD)/xdpfwd $(BUILD)/xdpfwd.service
	install -D -m 0755 $(BUILD)/xdpfwd $(DESTDIR)$(SBINDIR)/xdpfwd
	install -D -m 0644 $(BUILD)/xdpfwd.service $(DESTDIR)$(UNITDIR)/xdpfwd.service
	install -D -m 0644 xdpfwd.8 $(DESTDIR)$(MANDIR)/man8/xdpfwd.8
	install -D -m 0644 tools/xdpfwd.bash $(DESTDIR)$(BASHCOMPDIR)/xdpfwd
	$(Q)for f in $(patsubst dist/%,%,$(DIST_DATA)); do \
		install -D -m 0644 "dist/$$f" "$(DESTDIR)$(DATADIR)/$$f" || exit 1; done

clean:
	rm -rf build build-san
