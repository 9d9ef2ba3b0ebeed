# Sluice build. Plain GNU make; `make help` lists the targets.
# SAN=1 builds everything with AddressSanitizer + UBSan into build-asan/.

PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?= 0

ifeq ($(SAN),1)
BUILD   ?= build-asan
OPT     ?= -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else
BUILD   ?= build
OPT     ?= -O2
endif

CC      ?= cc
PKGS    := libzmq libpq libprotobuf-c libconfig libsystemd
CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror -Wshadow \
           -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -MMD -MP \
           -Idaemon -I$(BUILD)/gen $(shell pkg-config --cflags $(PKGS))
LDFLAGS += $(filter -fsanitize%,$(OPT)) -pthread
CFLAGS  += -pthread # config.c reads store files on several threads
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lm
CMOCKA  := $(shell pkg-config --libs cmocka)

PROTO_C := $(BUILD)/gen/proto/sluice.pb-c.c
PROTO_O := $(BUILD)/gen/proto/sluice.pb-c.o
MIGR_C  := $(BUILD)/gen/migrations.c
MIGR_O  := $(BUILD)/gen/migrations.o

LIB_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(PROTO_O) $(MIGR_O)
LIB      := $(BUILD)/libsluice.a

BINS := $(BUILD)/sluiced $(BUILD)/sluice-load $(BUILD)/sluice-rawbench $(BUILD)/sluice-configbench

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
INTEG_HELPER_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(INTEG_SRCS),$(wildcard tests/integration/*.c)))

.SECONDARY:
.PHONY: all check unit integration asan asan-check bench demo install clean help format
all: $(BINS) $(UNIT_BINS) $(INTEG_BINS)

help:
	@echo "make            build sluiced, tools and tests into $(BUILD)/"
	@echo "make check      unit tests, then integration tests against a throwaway PostgreSQL"
	@echo "make asan-check the same suite built with ASan+UBSan (build-asan/)"
	@echo "make bench      raw PostgreSQL insert limit vs sluiced, same run"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)"

$(BUILD)/gen/proto/sluice.pb-c.c $(BUILD)/gen/proto/sluice.pb-c.h: proto/sluice.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen $<

# Migrations are embedded in sluiced so `--migrate` needs no file layout.
$(MIGR_C): $(sort $(wildcard migrations/*.sql)) tools/embed-migrations.sh
	@mkdir -p $(dir $@)
	sh tools/embed-migrations.sh $(sort $(wildcard migrations/*.sql)) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/%.o: %.c | $(BUILD)/gen/proto/sluice.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/sluiced: $(BUILD)/daemon/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-load: $(BUILD)/tools/load.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-rawbench: $(BUILD)/tools/rawbench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sluice-configbench: $(BUILD)/tools/configbench.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(INTEG_HELPER_OBJS) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA) $(LDLIBS)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BINS) $(INTEG_BINS)
	BUILD=$(BUILD) sh tests/run-integration.sh $(INTEG_BINS)

check: unit integration

asan asan-check:
	$(MAKE) SAN=1 check

bench: $(BINS)
	BUILD=$(BUILD) sh tools/bench.sh

install: $(BUILD)/sluiced $(BUILD)/sluice-load
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/sluice
	install -m 0755 $(BUILD)/sluiced $(BUILD)/sluice-load $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 packaging/sluice.conf $(DESTDIR)$(PREFIX)/share/sluice/sluice.conf.example

format:
	clang-format -i daemon/*.c daemon/*.h tools/*.c tests/*/*.c

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
