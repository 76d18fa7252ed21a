# ociregd — plain GNU Makefile; every library through pkg-config.
#   make            build build/ociregd
#   make asan       build build-asan/ociregd (ASan + UBSan)
#   make check      unit tests, end-to-end tests, style check (SAN=1: under ASan/UBSan)
#   make check-pg   the API e2e suites on the postgres metadata backend (a throwaway server)
#   make check-s3   the API e2e suites on the S3 blob backend (a throwaway radosgw), on
#                   SQLite and on postgres metadata; t_s3.sh and t_cluster.sh on S3
#   make tsan       build build-tsan/ociregd (ThreadSanitizer), run the multi-worker e2e suites
#   make fuzz       libFuzzer targets with clang under build-fuzz/
#   make fuzz-smoke run each fuzz target for FUZZ_SECONDS (default 20)
#   make fuzz-replay build each fuzz target with $(CC) + replay.c, run it over its corpus

PREFIX ?= /usr/local
CC ?= cc
PKG_CONFIG ?= pkg-config

PKGS := libevent libevent_pthreads libevent_openssl libcjson sqlite3 libsodium inih openssl libcrypt
# libcurl: headers only; src/curl_dl.c loads it when a [proxy] section needs it.
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) libcurl)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lhttp_parser -lpthread -ldl
# libpq: headers only; src/meta_pg.c (its only user) loads libpq.so.5 when a
# postgres backend is opened, so a daemon on SQLite does not map it.
PKG_CFLAGS += $(shell $(PKG_CONFIG) --cflags libpq)

WARN := -std=c11 -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wwrite-strings -Wundef -Werror
BASE_CFLAGS := $(WARN) -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS)
OPT := -O2 -g

ifeq ($(SAN),1)
BUILD := build-asan
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANLD := -fsanitize=address,undefined
else ifeq ($(SAN),thread)
BUILD := build-tsan
OPT := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
SANLD := -fsanitize=thread
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

# The web page (issue 18): src/ui/* compiled into the binary by
# scripts/embed-ui (od + awk); the generated C file stays under build/.
UI_ASSETS := $(sort $(wildcard src/ui/*))
UI_GEN := build/gen/ui_assets.c
OBJS += $(BUILD)/obj/ui_assets.o
LIB_OBJS += $(BUILD)/obj/ui_assets.o

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 20
FUZZ_REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/replay/%)
FUZZ_REPLAY_SAN ?= -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

.PHONY: all asan check check-asan tsan unit e2e style fuzz fuzz-smoke clean install bench

all: $(BUILD)/ociregd

asan:
	$(MAKE) SAN=1 build-asan/ociregd

$(BUILD)/obj/%.o: src/%.c $(wildcard include/*.h) | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(UI_GEN): $(UI_ASSETS) scripts/embed-ui
	@mkdir -p $(@D)
	scripts/embed-ui $(UI_ASSETS) >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/ui_assets.o: $(UI_GEN) include/ui.h | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj $(BUILD)/tests build-fuzz:
	mkdir -p $@

$(BUILD)/ociregd: $(OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

$(BUILD)/libociregd.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $(LIB_OBJS)

# UNIT_LDFLAGS_<test>: extra link flags for one test.  test_store_durable
# interposes the store's file system calls to replay them under the POSIX
# durability model.
UNIT_LDFLAGS_test_store_durable := \
	-Wl,--wrap=mkdir,--wrap=link,--wrap=rename,--wrap=renameat2,--wrap=fsync,--wrap=fdatasync

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libociregd.a | $(BUILD)/tests
	$(CC) $(ALL_CFLAGS) $(shell $(PKG_CONFIG) --cflags cmocka) -o $@ $< \
		$(ALL_LDFLAGS) $(UNIT_LDFLAGS_$*) $(BUILD)/libociregd.a $(PKG_LIBS) \
		$(shell $(PKG_CONFIG) --libs cmocka)

unit: $(UNIT_BINS)
	@fail=0; for t in $(UNIT_BINS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# E2E_SUITES: which tests/e2e scripts (default: every t_*.sh).
e2e: $(BUILD)/ociregd
	OCIREGD=$(CURDIR)/$(BUILD)/ociregd E2E_WORKERS=$(or $(E2E_WORKERS),1) tests/e2e/run-all $(E2E_SUITES)

style:
	scripts/check-style

# The whole suite: the normal build with one worker, then unit and
# end-to-end tests again under ASan/UBSan with four workers (so both worker
# counts and the sanitizers are covered in one CI run), the multi-worker
# suites under ThreadSanitizer, then every fuzz target replayed over its
# corpus and fuzzed for CHECK_FUZZ_SECONDS (10).
# The passes run one after another even under `make -j check`: they are
# recipe lines of one target, not prerequisites, because they share the
# machine's two cores and several e2e suites measure wall time, RSS and
# descriptor counts that a concurrent pass would disturb.  Each sub-make
# still builds with the -j it was given.
check:
	$(MAKE) style
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) check-pg
	$(MAKE) check-s3
	$(MAKE) check-asan
	$(MAKE) tsan
	$(MAKE) fuzz-replay
	$(MAKE) fuzz-smoke FUZZ_SECONDS=$(or $(CHECK_FUZZ_SECONDS),10)

# The API suites again on the postgres metadata backend: one throwaway
# PostgreSQL (tests/e2e/lib-pg.sh, stopped even on failure), a fresh
# database per suite run.
PG_SUITES ?= t_base.sh t_blob_get.sh t_blob_upload.sh t_manifest.sh t_tags.sh t_referrers.sh \
	t_mount.sh t_validation.sh t_authz.sh t_sessions.sh t_spec14.sh t_nextspec.sh t_gc.sh \
	t_fsck.sh t_clients.sh t_hostile.sh t_cluster.sh t_migrate.sh t_crash.sh \
	t_pg_concurrent.sh
.PHONY: check-pg
check-pg: $(BUILD)/ociregd
	OCIREGD=$(CURDIR)/$(BUILD)/ociregd E2E_WORKERS=$(or $(E2E_WORKERS),1) \
		tests/e2e/lib-pg.sh run tests/e2e/run-all $(PG_SUITES)

# The API suites again on the S3 blob backend: one throwaway one-node Ceph
# RADOS Gateway per line (tests/e2e/lib-s3.sh, stopped even on failure), a
# fresh bucket per suite run; first on SQLite metadata with t_cluster.sh
# (three nodes, each its own root, one bucket and one PostgreSQL), then on
# PostgreSQL metadata with t_s3.sh (which also runs, on SQLite, in the
# normal pass, as do t_s3_loop.sh and t_s3_loop2.sh: one worker, a
# delaying proxy before the gateway, the loop must not stall).  Both lines run; either failing
# fails the target.
S3_SUITES ?= t_base.sh t_blob_get.sh t_blob_upload.sh t_manifest.sh t_tags.sh t_referrers.sh \
	t_mount.sh t_validation.sh t_authz.sh t_sessions.sh t_spec14.sh t_nextspec.sh t_gc.sh \
	t_fsck.sh t_clients.sh t_hostile.sh
.PHONY: check-s3
check-s3: $(BUILD)/ociregd
	@rc=0; \
	OCIREGD=$(CURDIR)/$(BUILD)/ociregd E2E_WORKERS=$(or $(E2E_WORKERS),1) \
		tests/e2e/lib-s3.sh run tests/e2e/run-all $(S3_SUITES) t_cluster.sh t_s3_loop.sh t_s3_loop2.sh || rc=1; \
	OCIREGD=$(CURDIR)/$(BUILD)/ociregd E2E_WORKERS=$(or $(E2E_WORKERS),1) \
		tests/e2e/lib-pg.sh run tests/e2e/lib-s3.sh run tests/e2e/run-all $(S3_SUITES) t_s3.sh || rc=1; \
	exit $$rc

# t_valgrind.sh needs the normal build (valgrind cannot run an ASan binary);
# it ran in the normal pass.
ASAN_E2E_SUITES := $(filter-out t_valgrind.sh,$(notdir $(wildcard tests/e2e/t_*.sh)))
check-asan:
	$(MAKE) SAN=1 unit
	$(MAKE) SAN=1 E2E_WORKERS=4 E2E_SUITES="$(ASAN_E2E_SUITES)" e2e

# ThreadSanitizer over the suites that run workers, proxy fetches and
# garbage collection concurrently, with four workers.  The first report
# stops the process with status 66, which fails the suite (daemon_stop
# asserts exit 0; a dead daemon fails the next request).
TSAN_SUITES ?= t_workers.sh t_proxy.sh t_gc_stress.sh t_writer.sh
tsan:
	$(MAKE) SAN=thread build-tsan/ociregd
	TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(TSAN_OPTIONS)" E2E_WORKERS=4 \
		OCIREGD=$(CURDIR)/build-tsan/ociregd tests/e2e/run-all $(TSAN_SUITES)

# Fuzz targets: each tests/fuzz/fuzz_X.c links against the library objects
# built with clang, libFuzzer, ASan and UBSan.
# UBSan findings abort, so libFuzzer keeps them as crashes.
FUZZ_CFLAGS := $(BASE_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Wno-missing-prototypes
build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(UI_GEN) $(wildcard include/*.h tests/fuzz/*.h) | build-fuzz
	clang $(FUZZ_CFLAGS) -o $@ $< $(LIB_SRCS) $(UI_GEN) $(PKG_LIBS)

# The same targets without libFuzzer: replay.c feeds them files, so the seed
# corpus (and saved crashes: build-fuzz/replay/fuzz_X tests/fuzz/crashes/...)
# replays with any compiler.  FUZZ_REPLAY_SAN= builds without sanitizers.
build-fuzz/replay/%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB_SRCS) $(UI_GEN) $(wildcard include/*.h tests/fuzz/*.h)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -g -O1 $(FUZZ_REPLAY_SAN) $(CFLAGS) -o $@ $< tests/fuzz/replay.c \
		$(LIB_SRCS) $(UI_GEN) $(FUZZ_REPLAY_SAN) $(LDFLAGS) $(PKG_LIBS)

fuzz: $(FUZZ_BINS)

# Every target runs even if one fails; crashes land in build-fuzz/artifacts-X/
# and the full log in build-fuzz/X.log.
fuzz-smoke: fuzz
	@fail=0; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
		mkdir -p build-fuzz/corpus-$$n build-fuzz/artifacts-$$n; \
		echo "== $$n ($(FUZZ_SECONDS)s)"; \
		if $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
		    -artifact_prefix=build-fuzz/artifacts-$$n/ \
		    build-fuzz/corpus-$$n tests/fuzz/corpus/$$n >build-fuzz/$$n.log 2>&1; then \
			tail -n 2 build-fuzz/$$n.log; \
		else tail -n 30 build-fuzz/$$n.log; echo "== $$n FAILED, see build-fuzz/$$n.log"; fail=1; fi; \
	done; exit $$fail

.PHONY: fuzz-replay
fuzz-replay: $(FUZZ_REPLAY_BINS)
	@set -e; for f in $(FUZZ_REPLAY_BINS); do $$f tests/fuzz/corpus/$$(basename $$f); done

bench: $(BUILD)/ociregd
	scripts/bench

# install: under $(DESTDIR)$(PREFIX), the binary, the man pages, the systemd
# units (ExecStart rewritten from /usr/local/bin to $(PREFIX)/bin), the
# sysusers.d file and the LICENSE (share/doc/ociregd/); the example config (etc/ociregd.ini with [storage] root =
# /var/lib/ociregd) as share/doc/ociregd/ociregd.ini.example, and as
# $(DESTDIR)/etc/ociregd/ociregd.ini only if that file does not exist yet.
# uninstall removes all of it except /etc/ociregd/ociregd.ini when it differs
# from the installed example (an admin's edits are kept); it leaves the
# ociregd user and /var/lib/ociregd alone.
INSTALL_UNITS := $(wildcard systemd/*.service systemd/*.socket systemd/*.timer)
INSTALL_MAN5 := $(wildcard man/*.5)
INSTALL_MAN8 := $(wildcard man/*.8)
UNITDIR := $(PREFIX)/lib/systemd/system
INSTALL_CONFIG := $(DESTDIR)/etc/ociregd/ociregd.ini
INSTALL_EXAMPLE := $(DESTDIR)$(PREFIX)/share/doc/ociregd/ociregd.ini.example

.PHONY: uninstall
install: $(BUILD)/ociregd
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(PREFIX)/lib/sysusers.d $(DESTDIR)$(PREFIX)/share/doc/ociregd \
		$(DESTDIR)/etc/ociregd
	install -m 0755 $(BUILD)/ociregd $(DESTDIR)$(PREFIX)/bin/ociregd
	install -m 0644 $(INSTALL_MAN5) $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0644 $(INSTALL_MAN8) $(DESTDIR)$(PREFIX)/share/man/man8
	set -e; for u in $(INSTALL_UNITS); do \
		d=$(DESTDIR)$(UNITDIR)/$$(basename $$u); \
		sed 's|/usr/local/bin/ociregd|$(PREFIX)/bin/ociregd|g' $$u >$$d.tmp; \
		chmod 0644 $$d.tmp; mv $$d.tmp $$d; \
	done
	install -m 0644 systemd/ociregd.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/ociregd.conf
	install -m 0644 LICENSE $(DESTDIR)$(PREFIX)/share/doc/ociregd/LICENSE
	sed 's|^root = .*|root = /var/lib/ociregd|' etc/ociregd.ini >$(INSTALL_EXAMPLE).tmp
	chmod 0644 $(INSTALL_EXAMPLE).tmp && mv $(INSTALL_EXAMPLE).tmp $(INSTALL_EXAMPLE)
	@if [ -e $(INSTALL_CONFIG) ]; then echo "install: keeping the existing $(INSTALL_CONFIG)"; \
	else echo "install -m 0644 $(INSTALL_EXAMPLE) $(INSTALL_CONFIG)"; \
		install -m 0644 $(INSTALL_EXAMPLE) $(INSTALL_CONFIG); fi
	@[ -n "$(DESTDIR)" ] || echo "install: then run systemd-sysusers and systemctl daemon-reload"

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ociregd \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man5/,$(notdir $(INSTALL_MAN5))) \
		$(addprefix $(DESTDIR)$(PREFIX)/share/man/man8/,$(notdir $(INSTALL_MAN8))) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(INSTALL_UNITS))) \
		$(DESTDIR)$(PREFIX)/lib/sysusers.d/ociregd.conf
	@if [ -e $(INSTALL_CONFIG) ] && ! cmp -s $(INSTALL_CONFIG) $(INSTALL_EXAMPLE); then \
		echo "uninstall: keeping $(INSTALL_CONFIG): it differs from the example"; \
	else echo "rm -f $(INSTALL_CONFIG)"; rm -f $(INSTALL_CONFIG); fi
	rm -f $(INSTALL_EXAMPLE) $(DESTDIR)$(PREFIX)/share/doc/ociregd/LICENSE
	rmdir $(DESTDIR)$(PREFIX)/share/doc/ociregd $(DESTDIR)/etc/ociregd 2>/dev/null || true

clean:
	rm -rf build build-asan build-tsan build-fuzz var
