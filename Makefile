# synfin - TCP connection lifecycle observer (eBPF)
#
#   sudo make run    install what is missing, build, run the daemon
#   sudo make test   install what is missing, build, run every test
#   (on a machine without make or sudo: sh setup.sh run / sh setup.sh test)
#   make test-fresh  the README's commands on a fresh Debian root (root)
#   make bench       the benchmark (root)
#   make install     binary, service unit, config, man page, docs (PREFIX, DESTDIR)
#   make deb         the Debian package, into build/deb/
#   make fuzz        the fuzz targets, FUZZ_SECONDS in all (default 600)
#   make asan-check  unit, replay and CLI tests built with ASan+UBSan
#   make V=1         show the commands

.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

OUT      := build
CLANG    ?= clang
CC       ?= cc
BPFTOOL  ?= $(or $(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
VERSION  := 0.1.0

CFLAGS   ?= -O2 -g

PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/synfin
SYSCONFDIR ?= /etc
# where systemd looks: its own directory for PREFIX=/usr, else PREFIX/lib/systemd/system
UNITDIR  ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system),$(PREFIX)/lib/systemd/system)
INSTALL  ?= install
DOCS     := README.md docs/schema.md docs/service.md docs/show.md docs/top.md
# shipped in systemd/ : installed as, under SYSCONFDIR
CONFIGS  := synfin.conf:synfin.conf synfin.default:default/synfin
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
DEB      := $(OUT)/deb/synfin_$(VERSION)_$(DEB_ARCH).deb
WARN     := -Wall -Wextra -Wno-missing-field-initializers $(if $(WERROR),-Werror)
DCFLAGS  := $(CPPFLAGS) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -DSYNFIN_VERSION='"$(VERSION)"' -I$(OUT) -Iinclude
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
	      $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
LIBS     := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf) -lmnl -lelf -lz
# synfin show reads flow records back with jansson
LIBS     += $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
LIBS     += $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
# synfin top draws with ncurses
LIBS     += $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
# --metrics: the HTTP side of the Prometheus exposition
LIBS     += $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# the pure core: no libbpf, shared by the daemon and the unit tests
CORE_SRC := daemon/aggregate.c daemon/cgroup_path.c daemon/flow.c daemon/flow_life.c daemon/flow_segs.c daemon/flow_stuck.c daemon/flow_round.c daemon/flow_summary.c daemon/pileup.c daemon/timewait.c daemon/json.c daemon/record_json.c daemon/stats.c daemon/recorder.c
# the filter spec (parsing, and the daemon's test on records)
CORE_SRC += daemon/filter.c
# synfin show: a flow record read back (jansson), its diagram (pure)
CORE_SRC += daemon/flowrec.c daemon/ladder.c
# synfin top's model of the socket's stream (pure)
CORE_SRC += daemon/top_model.c
# the last finished flows, kept whole for the socket's requests (pure)
CORE_SRC += daemon/recent.c
CORE_OBJ := $(patsubst daemon/%.c,$(OUT)/%.o,$(CORE_SRC))
# kernel-facing: BPF loading and rings, tc, netlink, namespaces, /proc
KERNEL_OBJ := $(OUT)/capture.o $(OUT)/ring.o $(OUT)/tc.o $(OUT)/nl.o $(OUT)/netns.o $(OUT)/sockdiag.o \
	      $(OUT)/procfs.o $(OUT)/procowner.o $(OUT)/cgroup.o
# outputs, and the daemon's frame: loop, logging, options (the unit tests link these too)
FRAME_OBJ := $(OUT)/output.o $(OUT)/out_jsonl.o $(OUT)/out_socket.o $(OUT)/loop.o $(OUT)/log.o $(OUT)/options.o \
	     $(OUT)/filter_cgroup.o
# the daemon's top level: one job per file (daemon/daemon.h)
DAEMON_OBJ := $(CORE_OBJ) $(KERNEL_OBJ) $(FRAME_OBJ) $(OUT)/daemon.o $(OUT)/live.o $(OUT)/replay.o \
	      $(OUT)/reconcile.o $(OUT)/loss.o $(OUT)/notify.o $(OUT)/metrics.o $(OUT)/serve.o $(OUT)/query.o $(OUT)/main.o
DAEMON_OBJ += $(OUT)/show.o $(OUT)/top.o $(OUT)/top_standalone.o $(OUT)/ask.o
HDRS := $(wildcard daemon/*.h include/*.h)

all: $(OUT)/synfin $(OUT)/tcpctl $(OUT)/storm

$(OUT):
	$(Q)mkdir -p $@

# what both BPF objects (and the floor's) include
BPF_DEPS := bpf/shared.bpf.h bpf/filter.bpf.h include/sf_filter.h bpf/vmlinux_min.h include/synfin.h include/sf_net.h

$(OUT)/state.bpf.o: bpf/state.bpf.c $(BPF_DEPS) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/state.skel.h: $(OUT)/state.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name state_bpf > $@

$(OUT)/capture.o: daemon/capture.c $(OUT)/state.skel.h $(HDRS) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(DCFLAGS) -c $< -o $@

$(OUT)/segment.bpf.o: bpf/segment.bpf.c $(BPF_DEPS) | $(OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/segment.skel.h: $(OUT)/segment.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name segment_bpf > $@

$(OUT)/tc.o: daemon/tc.c $(OUT)/segment.skel.h $(HDRS) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(DCFLAGS) -c $< -o $@

$(OUT)/%.o: daemon/%.c $(HDRS) | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(DCFLAGS) -c $< -o $@

$(OUT)/synfin: $(DAEMON_OBJ)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

$(OUT)/tcpctl: tests/helpers/tcpctl.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 $< -o $@

$(OUT)/storm: bench/storm.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -pthread $< -o $@

# make bench's floor: synfin with its BPF programs cut to one ring record per
# event, nothing else (SF_FLOOR in bpf/): what any design that sends a record
# per transition and per control segment costs before it does anything
FLOOR := $(OUT)/floor

$(FLOOR):
	$(Q)mkdir -p $@

# kept: not intermediate files to delete after each build
.SECONDARY: $(FLOOR)/state.bpf.o $(FLOOR)/segment.bpf.o

$(FLOOR)/%.bpf.o: bpf/%.bpf.c $(BPF_DEPS) | $(FLOOR)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -DSF_FLOOR -c $< -o $@

$(FLOOR)/%.skel.h: $(FLOOR)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(FLOOR)/capture.o: daemon/capture.c $(FLOOR)/state.skel.h $(HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) -I$(FLOOR) $(DCFLAGS) -c $< -o $@

$(FLOOR)/tc.o: daemon/tc.c $(FLOOR)/segment.skel.h $(HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) -I$(FLOOR) $(DCFLAGS) -c $< -o $@

$(FLOOR)/synfin: $(filter-out $(OUT)/capture.o $(OUT)/tc.o,$(DAEMON_OBJ)) $(FLOOR)/capture.o $(FLOOR)/tc.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

# test helper: prints the segment events of one namespace (tests/kernel/test_segments.sh)
SEGDUMP_OBJ := $(OUT)/tc.o $(OUT)/ring.o $(OUT)/nl.o $(OUT)/netns.o $(OUT)/procfs.o
$(OUT)/segdump: tests/helpers/segdump.c $(SEGDUMP_OBJ) $(HDRS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(DCFLAGS) -Idaemon tests/helpers/segdump.c $(SEGDUMP_OBJ) $(LIBS) -o $@

# unit tests: one file per area, each TEST() found by the runner (unit.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
$(OUT)/test_unit: $(UNIT_SRC) tests/unit/unit.h $(CORE_OBJ) $(OUT)/ring.o $(FRAME_OBJ) $(HDRS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(DCFLAGS) -Idaemon $(UNIT_SRC) $(CORE_OBJ) $(OUT)/ring.o $(FRAME_OBJ) $(LIBS) -o $@

# ---- fuzzing and sanitizers (clang: libFuzzer, ASan, UBSan) ----------------
# Any sanitizer finding aborts: UBSan does not carry on after reporting.
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OUT := $(OUT)/fuzz
FUZZ_TARGETS := replay flow ring show top
FUZZ_SECONDS ?= 600
FUZZ_CFLAGS := -g -O1 $(SAN_FLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Idaemon
FUZZ_CORE := $(patsubst daemon/%.c,$(FUZZ_OUT)/%.o,$(CORE_SRC)) $(FUZZ_OUT)/ring.o \
	     $(FUZZ_OUT)/fuzz_common.o $(FUZZ_OUT)/json_check.o
FUZZ_BINS := $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_OUT):
	$(Q)mkdir -p $@

# instrumented for coverage, without libFuzzer's main()
$(FUZZ_OUT)/%.o: daemon/%.c $(HDRS) | $(FUZZ_OUT)
	$(call msg,FUZZCC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

# the harnesses' own checks: not instrumented for coverage
$(FUZZ_OUT)/%.o: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(HDRS) | $(FUZZ_OUT)
	$(call msg,FUZZCC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_CORE) $(wildcard tests/fuzz/*.h)
	$(call msg,FUZZLD,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_CORE) $(LIBS) -o $@

# objects made by pattern rules: keep them between builds
.SECONDARY: $(FUZZ_CORE)

fuzz-build: $(FUZZ_BINS)

# FUZZ_SECONDS split between the targets; new inputs collect in
# $(FUZZ_OUT)/corpus/, crashes in $(FUZZ_OUT)/crashes/
fuzz: $(FUZZ_BINS)
	$(Q)tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) --keep

# The same daemon and unit tests, with ASan+UBSan, in their own tree
ASAN_OUT := $(OUT)/asan
asan-build:
	$(Q)$(MAKE) --no-print-directory OUT=$(ASAN_OUT) CC=$(CLANG) CFLAGS='-g -O1 $(SAN_FLAGS)' \
		$(ASAN_OUT)/synfin $(ASAN_OUT)/test_unit

asan-check: asan-build
	$(Q)tests/asan.sh

deps:
	$(Q)scripts/install-deps.sh

# stdout carries the records and nothing else (sudo make run | jq): the
# installer, the build and make's own messages go to stderr
run:
	@scripts/install-deps.sh >&2
	@$(MAKE) --no-print-directory all >&2
	@exec ./$(OUT)/synfin $(ARGS)

test:
	$(Q)scripts/install-deps.sh
	$(Q)$(MAKE) --no-print-directory all $(OUT)/test_unit $(OUT)/segdump $(FLOOR)/synfin fuzz-build asan-build
	$(Q)tests/run.sh

# the README's two commands on a fresh Debian root (root; CI runs it)
test-fresh:
	$(Q)tests/fresh/run.sh

# no root, no kernel: unit + replay + CLI tests, again with ASan+UBSan, a
# short fuzz run
# (the floor is built so that it keeps compiling; make test runs it)
check: all $(OUT)/test_unit $(OUT)/segdump $(FLOOR)/synfin fuzz-build asan-build
	$(Q)tests/run.sh --no-kernel

bench:
	$(Q)scripts/install-deps.sh
	$(Q)$(MAKE) --no-print-directory all $(FLOOR)/synfin
	$(Q)bench/run.sh

# The unit names the binary, docs and config by their /usr and /etc paths:
# rewritten for another PREFIX or SYSCONFDIR. A config file already there
# is the admin's: kept.
install: $(OUT)/synfin
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)$(INSTALL) -D -m 0755 $(OUT)/synfin $(DESTDIR)$(SBINDIR)/synfin
	$(Q)$(INSTALL) -d $(DESTDIR)$(UNITDIR)
	$(Q)sed -e 's|/usr/sbin/synfin|$(SBINDIR)/synfin|' -e 's|/usr/share/doc/synfin|$(DOCDIR)|' \
		-e 's|/etc/synfin.conf|$(SYSCONFDIR)/synfin.conf|' -e 's|/etc/default/synfin|$(SYSCONFDIR)/default/synfin|' \
		systemd/synfin.service >$(DESTDIR)$(UNITDIR)/synfin.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/synfin.service
	$(Q)for f in $(CONFIGS); do \
		dst=$(DESTDIR)$(SYSCONFDIR)/$${f#*:}; \
		if [ -e "$$dst" ]; then echo "  kept     $$dst (yours; the shipped one is systemd/$${f%%:*})"; \
		else $(INSTALL) -D -m 0644 systemd/$${f%%:*} "$$dst"; fi; \
	done
	$(Q)$(INSTALL) -D -m 0644 man/synfin.8 $(DESTDIR)$(MANDIR)/man8/synfin.8
	$(Q)$(INSTALL) -D -m 0644 -t $(DESTDIR)$(DOCDIR) $(DOCS)

# Config files go only while they are as shipped (then they are not yours).
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/synfin $(DESTDIR)$(UNITDIR)/synfin.service $(DESTDIR)$(MANDIR)/man8/synfin.8
	$(Q)rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	$(Q)-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	$(Q)for f in $(CONFIGS); do \
		dst=$(DESTDIR)$(SYSCONFDIR)/$${f#*:}; \
		if cmp -s systemd/$${f%%:*} "$$dst"; then rm -f "$$dst"; \
		elif [ -e "$$dst" ]; then echo "  kept     $$dst (changed: yours)"; fi; \
	done

# The Debian package, built from a copy of the tree (dpkg-buildpackage
# writes next to its source: build/deb/ holds it all), then lintian: every
# tag left is overridden with its reason (debian/synfin.lintian-overrides).
# Rebuilt when any file of the tree changes.
DEB_SRC = $(shell find . \( -path ./$(OUT) -o -path ./.git -o -name __pycache__ \) -prune -o -type f -print)

deb: $(DEB)

$(DEB): $(DEB_SRC)
	$(call msg,DEB,$@)
	$(Q)rm -rf $(OUT)/deb && mkdir -p $(OUT)/deb/src
	$(Q)tar -c --exclude=./$(OUT) --exclude=./.git --exclude=__pycache__ -f - . | tar -x -C $(OUT)/deb/src
	$(Q)cd $(OUT)/deb/src && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || { tail -n 40 ../build.log; exit 1; }
	$(Q)rm -rf $(OUT)/deb/src
	$(call msg,LINTIAN,$(OUT)/deb)
	$(Q)if command -v lintian >/dev/null; then \
		lintian --fail-on error,warning,info $(@:.deb=.changes) || { rm -f $@; exit 1; }; \
	else echo "  lintian not installed: the package is not checked" >&2; fi

format:
	clang-format -i daemon/*.c daemon/*.h include/*.h bpf/*.c bpf/*.h tests/unit/*.c tests/fuzz/*.c tests/fuzz/*.h

clean:
	rm -rf $(OUT)

.PHONY: all deps run test test-fresh check bench install uninstall deb format clean fuzz fuzz-build asan-build asan-check
