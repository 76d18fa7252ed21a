#!/usr/bin/env bash
# shellcheck shell=bash
# lib-pg.sh — a throwaway PostgreSQL for the tests of the postgres metadata
# backend ([metadata] backend = postgres).  Source it, or run it:
#
#   . tests/e2e/lib-pg.sh
#   pg_start            # initdb + start; exports E2E_PG_URL, E2E_PG_DIR
#   pg_createdb NAME    # an empty database: $E2E_PG_URL/NAME
#   pg_dropdb NAME
#   pg_down             # stop the server, keep its data (pg_start's own only)
#   pg_up               # start it again on the same port
#   pg_stop             # stop the server and remove its directory
#
#   tests/e2e/lib-pg.sh run CMD [ARG...]
#                       # pg_start, CMD with E2E_PG_URL and E2E_META=postgres
#                       # in its environment, pg_stop (even on failure);
#                       # exits with CMD's status
#
# The cluster lives in a temp dir, owned by an unprivileged user (the
# server refuses to run as root; tests run as root in CI): as root, the
# system user ociregd-test, created if missing.  It listens on 127.0.0.1 on
# a free port and on a socket in its own directory, trusts local
# connections (a throwaway), and has the superuser `ociregd`.  Never a
# system-wide cluster.  E2E_PG_URL is postgresql://ociregd@127.0.0.1:PORT
# (append /DBNAME).  PG_BIN overrides where initdb and pg_ctl are.

: "${PG_BIN:=}"
E2E_PG_DIR=
E2E_PG_PORT=
E2E_PG_USER=
PG_OWNED=0

pg_bin() {
	local d
	if [ -z "$PG_BIN" ]; then
		if command -v pg_ctl >/dev/null 2>&1; then
			PG_BIN=$(dirname "$(command -v pg_ctl)")
		else
			for d in /usr/lib/postgresql/*/bin; do
				[ -x "$d/pg_ctl" ] && PG_BIN=$d
			done
		fi
	fi
	[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]
}

# pg_as CMD...: run CMD as the cluster's owner.
pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$E2E_PG_USER" -- "$@"
	else
		"$@"
	fi
}

pg_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# pg_start: 0 with E2E_PG_URL exported, or 1 with the reason on stderr.
pg_start() {
	local tries
	pg_bin || {
		echo "lib-pg: no initdb/pg_ctl (install postgresql, or set PG_BIN)" >&2
		return 1
	}
	command -v psql >/dev/null 2>&1 || {
		echo "lib-pg: no psql (install postgresql-client)" >&2
		return 1
	}
	if [ "$(id -u)" -eq 0 ]; then
		E2E_PG_USER=ociregd-test
		if ! id "$E2E_PG_USER" >/dev/null 2>&1; then
			useradd -r -M -d /nonexistent -s /usr/sbin/nologin "$E2E_PG_USER" || {
				echo "lib-pg: useradd $E2E_PG_USER failed" >&2
				return 1
			}
		fi
	else
		E2E_PG_USER=$(id -un)
	fi
	E2E_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ociregd-pg.XXXXXX") || return 1
	PG_OWNED=1
	chmod 0755 "$E2E_PG_DIR"
	[ "$(id -u)" -eq 0 ] && chown "$E2E_PG_USER" "$E2E_PG_DIR"
	# fsync off: a throwaway cluster; the tests measure ociregd, not disks.
	if ! pg_as "$PG_BIN/initdb" -D "$E2E_PG_DIR/data" -U ociregd --auth=trust \
		-E UTF8 --no-sync >"$E2E_PG_DIR/initdb.log" 2>&1; then
		echo "lib-pg: initdb failed:" >&2
		cat "$E2E_PG_DIR/initdb.log" >&2
		return 1
	fi
	for tries in 1 2 3; do
		E2E_PG_PORT=$(pg_free_port) || return 1
		if pg_as "$PG_BIN/pg_ctl" -D "$E2E_PG_DIR/data" -l "$E2E_PG_DIR/server.log" -w -t 30 \
			-o "$(pg_opts)" start >/dev/null 2>&1; then
			E2E_PG_URL=postgresql://ociregd@127.0.0.1:$E2E_PG_PORT
			export E2E_PG_URL E2E_PG_DIR
			return 0
		fi
	done
	echo "lib-pg: pg_ctl start failed:" >&2
	tail -n 20 "$E2E_PG_DIR/server.log" >&2
	return 1
}

# The options the server runs with (pg_start, pg_up).
pg_opts() {
	printf '%s' "-k $E2E_PG_DIR -c listen_addresses=127.0.0.1 -p $E2E_PG_PORT -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
}

# pg_down / pg_up: an outage of the server this shell started (t_cluster.sh:
# the nodes must answer 503 meanwhile and recover by themselves).  Fast
# shutdown: sessions are cut as a crashed or restarted server would cut them.
pg_down() {
	[ "$PG_OWNED" = 1 ] || return 1
	pg_as "$PG_BIN/pg_ctl" -D "$E2E_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1
}

pg_up() {
	[ "$PG_OWNED" = 1 ] || return 1
	pg_as "$PG_BIN/pg_ctl" -D "$E2E_PG_DIR/data" -l "$E2E_PG_DIR/server.log" -w -t 30 \
		-o "$(pg_opts)" start >/dev/null 2>&1
}

pg_stop() {
	[ "$PG_OWNED" = 1 ] || return 0
	if [ -n "$E2E_PG_DIR" ] && [ -d "$E2E_PG_DIR/data" ]; then
		pg_as "$PG_BIN/pg_ctl" -D "$E2E_PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1
	fi
	[ -n "$E2E_PG_DIR" ] && rm -rf "$E2E_PG_DIR"
	E2E_PG_DIR=
	PG_OWNED=0
}

# psql on the maintenance database of the server E2E_PG_URL names.
pg_admin() { psql -X -q -v ON_ERROR_STOP=1 "$E2E_PG_URL/postgres" "$@"; }

pg_createdb() { pg_admin -c "CREATE DATABASE \"$1\"" >/dev/null; }

pg_dropdb() { pg_admin -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case ${1:-} in
	run)
		shift
		[ $# -gt 0 ] || { echo "usage: lib-pg.sh run CMD [ARG...]" >&2; exit 2; }
		trap pg_stop EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		pg_start || exit 1
		echo "# lib-pg: PostgreSQL at $E2E_PG_URL ($E2E_PG_DIR)"
		E2E_META=postgres "$@"
		exit $?
		;;
	*)
		echo "usage: lib-pg.sh run CMD [ARG...]" >&2
		exit 2
		;;
	esac
fi
