# ociregd — plain GNU Makefile; every library through pkg-config.
#   make            build build/ociregd
#   make asan       build build-asan/ociregd (ASan + UBSan)
#   make check      unit tests, end-to-end tests, style check (SAN=1: under ASan/UBSan)
#   make fuzz       libFuzzer targets with clang under build-fuzz/
#   make fuzz-smoke run each fuzz target for FUZZ_SECONDS (default 20)

PREFIX ?= /usr/local
CC ?= cc
PKG_CONFIG ?= pkg-config

PKGS := libevent libevent_pthreads libevent_openssl libcjson sqlite3 libsodium inih openssl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lhttp_parser -lpthread

WARN := -std=c11 -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wwrite-strings -Wundef -Werror
BASE_CFLAGS := $(WARN) -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
OPT := -O2 -g

ifeq ($(SAN),1)
BUILD := build-asan
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANLD := -fsanitize=address,undefined
else
BUILD := build
SANLD :=
endif

ALL_CFLAGS := $(BASE_CFLAGS) $(OPT) $(CFLAGS)
ALL_LDFLAGS := $(SANLD) $(LDFLAGS)

SRCS := $(wildcard src/*.c)
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
OBJS := $(SRCS:src/%.c=$(BUILD)/obj/%.o)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 20

.PHONY: all asan check unit e2e style fuzz fuzz-smoke clean install bench

all: $(BUILD)/ociregd

asan:
	$(MAKE) SAN=1 build-asan/ociregd

$(BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj $(BUILD)/tests build-fuzz:
	mkdir -p $@

$(BUILD)/ociregd: $(OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

$(BUILD)/libociregd.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $(LIB_OBJS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libociregd.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags cmocka) -o $@ $< \
		$(ALL_LDFLAGS) $(BUILD)/libociregd.a $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

e2e: $(BUILD)/ociregd
	OCIREGD=$(CURDIR)/$(BUILD)/ociregd tests/e2e/run-all

style:
	scripts/check-style

check: style unit e2e

# Fuzz targets: each tests/fuzz/fuzz_X.c links against the library objects
# built with clang, libFuzzer, ASan and UBSan.
FUZZ_CFLAGS := $(BASE_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -Wno-missing-prototypes
build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard include/*.h) | build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS)

fuzz: $(FUZZ_BINS)

fuzz-smoke: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
		mkdir -p build-fuzz/corpus-$$n; \
		echo "== $$n ($(FUZZ_SECONDS)s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 build-fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>&1 | tail -n 2; done

bench: $(BUILD)/ociregd
	scripts/bench

install: $(BUILD)/ociregd
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/ociregd $(DESTDIR)$(PREFIX)/bin/ociregd

clean:
	rm -rf build build-asan build-fuzz var
