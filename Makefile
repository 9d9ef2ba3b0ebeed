# Sluice build. Plain GNU make; `make help` lists the targets.
# SAN=1 builds everything with AddressSanitizer + UBSan into build-asan/.
# FUZZ=1 builds the daemon objects with clang for libFuzzer into build-fuzz/
# (`make fuzz` does that and links tests/fuzz/fuzz_*.c).

# The one place the version is set: sluiced --version prints it, and
# `make deb` refuses to build when packaging/debian/changelog disagrees.
VERSION := 0.1.0

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
SAN     ?= 0
FUZZ    ?= 0

ifeq ($(FUZZ),1)
# Our objects get coverage hooks (fuzzer-no-link); only the fuzz targets
# link libFuzzer's main. libconfig and protobuf-c are the system's, not
# instrumented: their bugs show only where our code touches their output.
CC      := $(or $(FUZZ_CC),clang)
BUILD   ?= build-fuzz
OPT     ?= -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=all
else ifeq ($(SAN),1)
BUILD   ?= build-asan
OPT     ?= -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD   ?= build
OPT     ?= -O2
endif

CC      ?= cc
PKGS    := libzmq libpq libprotobuf-c libconfig libsystemd libmicrohttpd
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
           -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -MMD -MP \
           $(LAYER_INC) -I$(BUILD)/gen $(shell pkg-config --cflags $(PKGS))
LDFLAGS += $(filter -fsanitize%,$(OPT)) -pthread
CFLAGS  += -pthread # config.c reads store files on several threads
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm
CMOCKA  := $(shell pkg-config --libs cmocka)

# The floors, enforced by the include path: base/ sees only itself, and
# adapters/ see base/ and themselves, so a daemon header included below the
# daemon fails the build. Everything else sees all three.
LAYER_INC = -Ibase -Idaemon -Iadapters
$(BUILD)/base/%.o: LAYER_INC = -Ibase
$(BUILD)/adapters/%.o: LAYER_INC = -Ibase -Iadapters

# Every proto/*.proto is compiled by protoc-c into $(BUILD)/gen/proto/ and
# linked into libsluice.a (sluice.proto: ingress; network.proto: platforms).
PROTOS  := $(wildcard proto/*.proto)
PROTO_C := $(PROTOS:%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_H := $(PROTOS:%.proto=$(BUILD)/gen/%.pb-c.h)
PROTO_O := $(PROTO_C:.c=.o)
MIGR_C  := $(BUILD)/gen/migrations.c
MIGR_O  := $(BUILD)/gen/migrations.o

# adapters/: the delivery-platform interface and registry (adapter.c), one
# directory per transport (adapters/zmq/).
LIB_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c)) $(wildcard adapters/*.c adapters/*/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(PROTO_O) $(MIGR_O)
LIB      := $(BUILD)/libsluice.a
# base/: what every program stands on (logging, clocks, routing envelopes,
# PostgreSQL arrays, Prometheus text, child processes). It uses nothing of daemon/ or
# adapters/, so it is its own library, linked after libsluice.a.
BASE_SRCS := $(wildcard base/*.c)
BASE_OBJS := $(BASE_SRCS:%.c=$(BUILD)/%.o)
BASE_LIB  := $(BUILD)/libsluicebase.a
LIBS      := $(LIB) $(BASE_LIB)

BINS := $(BUILD)/sluiced $(BUILD)/sluice-load $(BUILD)/sluice-rawbench $(BUILD)/sluice-configbench \
        $(BUILD)/sluice-sim $(BUILD)/sluicectl $(BUILD)/sluice-ctlbench $(BUILD)/sluice-drill
# tools/: one folder per program; a program is the objects of its folder.
# The file named after the program holds main(); the rest are also linked
# into the program's unit tests.
tool_objs = $(patsubst %.c,$(BUILD)/%.o,$(filter-out tools/$(1)/$(2).c,$(wildcard tools/$(1)/*.c)))
# sluicectl: the commands, the support reads' JSON and text, the control
# socket client and reconcile (the comparison, settlement reports, its
# PostgreSQL side).
CTL_OBJS   := $(call tool_objs,sluicectl,sluicectl)
# sluice-sim: its model, ledger, map and grid of idle riders.
SIM_OBJS   := $(call tool_objs,sim,sim)
# sluice-drill: the chaos schedule, the processes it runs, the load it
# offers, its world (stores, demand, config) and its report. The world and
# the report stand alone, for their unit test.
DRILL_OBJS := $(call tool_objs,drill,drill)
DRILL_MODEL_OBJS := $(BUILD)/tools/drill/drill_world.o $(BUILD)/tools/drill/drill_report.o

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
INTEG_HELPER_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(INTEG_SRCS),$(wildcard tests/integration/*.c)))
# One libFuzzer target per thing that parses bytes from outside: ingress
# frames, config files, a platform gateway's frames (fuzz_network.c), control
# frames (fuzz_control.c).
FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)

.SECONDARY:
.PHONY: all programs check unit integration asan asan-check fuzz fuzz-bins fuzz-run bench bench-ctl \
        install deb deb-check unit-check clean help format
all: $(BINS) $(UNIT_BINS) $(INTEG_BINS)

help:
	@echo "make            build sluiced, the tools (tools/<program>/) and the tests into $(BUILD)/"
	@echo "make programs   only what \`make install\` copies: sluiced, sluicectl, sluice-load, man page"
	@echo "make unit       build and run the unit tests (tests/unit/)"
	@echo "make integration  the integration tests against a throwaway PostgreSQL (tests/integration/)"
	@echo "make check      unit tests, then integration tests"
	@echo "make asan-check the same suite built with ASan+UBSan (build-asan/; SAN=1 for any target)"
	@echo "make fuzz       libFuzzer targets (clang, ASan+UBSan) into build-fuzz/tests/fuzz/"
	@echo "make fuzz-run   make fuzz, then each target for FUZZ_SECONDS (tests/fuzz/run.sh)"
	@echo "make bench      sluiced beside PostgreSQL's own ceiling measured in the same run; then bench-ctl"
	@echo "make bench-ctl  sluicectl order/store on 10 million orders (minutes; not in check)"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) (sluiced in SBINDIR=$(SBINDIR), sluicectl in BINDIR)"
	@echo "make deb        Debian package from packaging/debian into build-deb/"
	@echo "make deb-check  make deb, lintian; as root also install, run under systemd, purge"
	@echo "make unit-check systemd-analyze verify of packaging/sluice.service from the source tree"
	@echo "make format     clang-format every C file of base/, daemon/, adapters/, tools/, tests/"
	@echo "make clean      remove build/, build-asan/, build-fuzz/ and build-deb/"

$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen $<

# Migrations are embedded in sluiced so `--migrate` needs no file layout.
$(MIGR_C): $(sort $(wildcard migrations/*.sql)) tools/scripts/embed-migrations.sh
	@mkdir -p $(dir $@)
	sh tools/scripts/embed-migrations.sh $(sort $(wildcard migrations/*.sql)) > $@.tmp && mv $@.tmp $@

# CPPFLAGS is empty here; dpkg-buildflags fills it (_FORTIFY_SOURCE) in `make deb`.
$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Only main.c and sluicectl.c see the version; they depend on the Makefile so
# a bump rebuilds them.
$(BUILD)/daemon/main.o $(BUILD)/tools/sluicectl/sluicectl.o: CFLAGS += -DSLUICE_VERSION='"$(VERSION)"'
$(BUILD)/daemon/main.o $(BUILD)/tools/sluicectl/sluicectl.o: Makefile

$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BASE_LIB): $(BASE_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/sluiced: $(BUILD)/daemon/main.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-load: $(BUILD)/tools/load/load.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-rawbench: $(BUILD)/tools/bench/rawbench.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-configbench: $(BUILD)/tools/bench/configbench.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-ctlbench: $(BUILD)/tools/bench/ctlbench.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-sim: $(BUILD)/tools/sim/sim.o $(SIM_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluicectl: $(BUILD)/tools/sluicectl/sluicectl.o $(CTL_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-drill: $(BUILD)/tools/drill/drill.o $(DRILL_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/test_drill_world: $(BUILD)/tests/unit/test_drill_world.o $(DRILL_MODEL_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/unit/test_ctl_json: $(BUILD)/tests/unit/test_ctl_json.o $(BUILD)/tools/sluicectl/ctl_json.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/unit/test_reconcile: $(BUILD)/tests/unit/test_reconcile.o $(BUILD)/tools/sluicectl/reconcile.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/unit/test_ctl_format: $(BUILD)/tests/unit/test_ctl_format.o $(BUILD)/tools/sluicectl/ctl_format.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/unit/test_ctl_config: $(BUILD)/tests/unit/test_ctl_config.o $(BUILD)/tools/sluicectl/ctl_config.o \
        $(BUILD)/tools/sluicectl/ctl_error.o $(BUILD)/tools/sluicectl/ctl_json.o \
        $(BUILD)/tools/sluicectl/ctl_text.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/unit/test_sim_%: $(BUILD)/tests/unit/test_sim_%.o $(SIM_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(INTEG_HELPER_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIBS)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(BUILD)/tests/fuzz/seeds: $(BUILD)/tests/fuzz/seeds.o $(PROTO_O)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BINS) $(INTEG_BINS)
	BUILD=$(BUILD) sh tests/run-integration.sh $(INTEG_BINS)

check: unit integration

asan asan-check:
	$(MAKE) SAN=1 check

fuzz:
	$(MAKE) FUZZ=1 fuzz-bins

# The seed corpora are assembled anew in $(BUILD)/corpus/ (tests/fuzz/seeds.sh).
ifneq ($(filter fuzz-bins,$(MAKECMDGOALS)),)
ifneq ($(FUZZ),1)
$(error fuzz-bins is built by `make fuzz` (FUZZ=1, clang))
endif
endif
fuzz-bins: $(FUZZ_BINS) $(BUILD)/tests/fuzz/seeds
	sh tests/fuzz/seeds.sh $(BUILD)

fuzz-run:
	sh tests/fuzz/run.sh

bench: $(BINS)
	BUILD=$(BUILD) sh tools/bench/bench.sh

bench-ctl: $(BUILD)/sluiced $(BUILD)/sluicectl $(BUILD)/sluice-ctlbench
	BUILD=$(BUILD) sh tools/bench/bench.sh ctl

# sluice.conf(5) lists every key from the daemon's own table (--config-keys),
# so the man page cannot drift from the code; the prose around it is static.
$(BUILD)/man/sluice.conf.5: packaging/sluice.conf.5.in packaging/config-keys-man.awk $(BUILD)/sluiced
	@mkdir -p $(dir $@)
	{ sed '/^@CONFIG_KEYS@$$/,$$d' packaging/sluice.conf.5.in && \
	  $(BUILD)/sluiced --config-keys | awk -f packaging/config-keys-man.awk && \
	  sed '1,/^@CONFIG_KEYS@$$/d' packaging/sluice.conf.5.in; } > $@.tmp && mv $@.tmp $@

# What `make install` copies; debian/rules builds exactly this.
programs: $(BUILD)/sluiced $(BUILD)/sluice-load $(BUILD)/sluicectl $(BUILD)/sluice-sim $(BUILD)/man/sluice.conf.5

# Program files only. The systemd unit, the sysusers file and /etc/sluice are
# Debian's business (packaging/debian/rules), because the unit names fixed
# paths (/usr/sbin, /etc) that a PREFIX install would not match.
install: programs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)/sluice/migrations \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(BUILD)/sluiced $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(BUILD)/sluice-load $(BUILD)/sluicectl $(BUILD)/sluice-sim $(DESTDIR)$(BINDIR)/
	install -m 0644 packaging/sluice.conf $(DESTDIR)$(DATADIR)/sluice/sluice.conf.example
	install -m 0644 $(sort $(wildcard migrations/*.sql)) $(DESTDIR)$(DATADIR)/sluice/migrations/
	install -m 0644 packaging/sluice-load.1 packaging/sluice-sim.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(BUILD)/man/sluice.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 packaging/sluiced.8 packaging/sluicectl.8 $(DESTDIR)$(MANDIR)/man8/

# deb: dpkg-buildpackage on a copy of the tree in build-deb/sluice-VERSION/,
# with packaging/debian as its debian/. The copy keeps our build/ out of the
# source package, and the .deb/.changes files (which dpkg-buildpackage writes
# next to the tree it builds) inside build-deb/. It is not under build/ so
# the copy's own build/*.d files are never included here. MAKEFLAGS is
# dropped so our make's variables and jobserver do not leak into
# debian/rules; -J sets DEB_BUILD_OPTIONS=parallel=N.
DEB_DIR := build-deb
DEB_SRC := $(DEB_DIR)/sluice-$(VERSION)
deb:
	@v=$$(dpkg-parsechangelog -l packaging/debian/changelog -S Version); \
	if [ "$$v" != "$(VERSION)" ]; then \
	    echo "deb: packaging/debian/changelog says $$v, Makefile VERSION is $(VERSION)" >&2; exit 1; fi
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRC)
	tar -cf - --exclude-vcs --exclude=./build --exclude=./build-asan --exclude=./build-deb --exclude=./tmp \
	    --exclude=./packaging/debian . | tar -xf - -C $(DEB_SRC)
	cp -a packaging/debian $(DEB_SRC)/debian
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    dpkg-buildpackage --build=full -us -uc -J$$(nproc 2>/dev/null || echo 2)
	@ls -1 $(DEB_DIR)/*.deb $(DEB_DIR)/*.changes

deb-check:
	sh tests/package/run.sh

# The unit as it is in the tree, with the built sluiced and man pages
# standing in for the installed ones (tests/package/unit-check.sh).
unit-check: $(BUILD)/sluiced $(BUILD)/man/sluice.conf.5
	sh tests/package/unit-check.sh $(BUILD)

# The layout is pinned in .clang-format for Debian 12's clang-format 14
# (apt-get install clang-format-14); another version may format differently.
CLANG_FORMAT ?= clang-format-14
format:
	$(CLANG_FORMAT) --style=file -i base/*.[ch] daemon/*.[ch] adapters/*.[ch] adapters/*/*.[ch] tools/*/*.[ch] \
	    tests/*/*.[ch]

clean:
	rm -rf build build-asan build-fuzz build-deb

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
