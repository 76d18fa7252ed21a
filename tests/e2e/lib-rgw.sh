#!/usr/bin/env bash
# shellcheck shell=bash
# lib-rgw.sh — a throwaway one-node Ceph RADOS Gateway (S3) on 127.0.0.1 for
# the tests of an S3 blob backend.  Source it:
#
#   . tests/e2e/lib-rgw.sh
#   trap rgw_stop EXIT  # the caller installs the trap
#   rgw_start DIR       # one mon, one osd, one radosgw, all under DIR;
#                       # exports RGW_ENDPOINT (http://127.0.0.1:PORT),
#                       # RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_REGION (us-east-1)
#   rgw_mkbucket NAME   # create a bucket (name >= 3 chars), 0 or 1
#   rgw_s3 CURL-ARGS... # curl signed with SigV4 as the test user
#   RGW_START_SECONDS   how long rgw_start took; RGW_PIDS: the daemons
#   rgw_stop            # stop every daemon rgw_start started (bounded);
#                       # DIR itself is left to the caller
#
# Needs the Debian 12 packages (Ceph 16.2), installed with
# --no-install-recommends (~67 MB): radosgw ceph-mon ceph-osd ceph-base
# (ceph-authtool, monmaptool, ceph, radosgw-admin, uuidgen from uuid-runtime
# or util-linux), plus curl >= 7.75 (--aws-sigv4) and python3 (free ports).
# No ceph-mgr, systemd, block device or kernel module: the osd stores its
# objects in memory (memstore, the default: starts in ~1-2 s, holds about
# twice the data in RAM) or, with RGW_STORE=bluestore, in a sparse file under
# DIR (a few seconds more; survives kill -9).  Everything is on 127.0.0.1;
# the daemons run in the foreground as children of this shell, with pid
# files under DIR/run, logs under DIR/log.  Every wait is bounded.
#
# Environment:
#   RGW_STORE          memstore (default) or bluestore
#   RGW_STORE_BYTES    capacity of the store (default 4 GiB: memstore's
#                      accounting limit, or the sparse file's size)
#   RGW_START_TIMEOUT  seconds for each step of rgw_start (default 60)

: "${RGW_STORE:=memstore}"
: "${RGW_STORE_BYTES:=4294967296}"
: "${RGW_START_TIMEOUT:=60}"

# Fixed test credentials (a throwaway gateway on 127.0.0.1).
RGW_ACCESS_KEY=OCIREGDTESTACCESSKEY
RGW_SECRET_KEY=ociregdTestSecretKey0123456789abcdefghij
RGW_REGION=us-east-1
RGW_ENDPOINT=
RGW_DIR=
RGW_CONF=
RGW_PIDS=()

rgw_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rgw_port_free PORT: 0 if PORT can be bound on 127.0.0.1 right now.
rgw_port_free() {
	python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

rgw_log() { echo "lib-rgw: $*" >&2; }

# The ceph CLI as client.admin, bounded.
rgw_ceph() { timeout 30 ceph -c "$RGW_CONF" --connect-timeout 20 "$@"; }

# rgw_fail MSG [LOG...]: report, show the logs' tails, stop what started.
rgw_fail() {
	local f
	rgw_log "$1"
	shift
	for f in "$@"; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
	done
	rgw_stop
	return 1
}

# rgw_alive NAME: the daemon NAME (mon.a, osd.0, rgw) is still running.
rgw_alive() {
	local pid
	pid=$(cat "$RGW_DIR/run/$1.fgpid" 2>/dev/null) || return 1
	kill -0 "$pid" 2>/dev/null
}

# rgw_spawn NAME CMD...: start a foreground daemon in the background.  With
# setpriv (util-linux), the daemon gets SIGKILL when this shell dies, so a
# test killed with -9 leaves no daemon behind (call rgw_start in the shell
# that lives as long as the cluster, not in a $(...) or ( ) subshell).
rgw_spawn() {
	local name=$1 pds=()
	shift
	command -v setpriv >/dev/null 2>&1 && pds=(setpriv --pdeathsig KILL)
	"${pds[@]}" "$@" >"$RGW_DIR/log/$name.out" 2>&1 &
	echo $! >"$RGW_DIR/run/$name.fgpid"
	RGW_PIDS+=($!)
}

rgw_write_conf() {
	local fsid=$1 monport=$2 rgwport=$3 d=$RGW_DIR
	cat >"$RGW_CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$monport
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $d/keyring
run dir = $d/run
pid file = $d/run/\$name.pid
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
mon cluster log file = $d/log/cluster.log
crash dir = $d/crash
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0

[mon]
mon data = $d/mon/\$cluster-\$id
paxos propose interval = 0.01

[osd]
osd data = $d/osd/\$cluster-\$id
keyring = $d/osd/\$cluster-\$id/keyring
osd objectstore = $RGW_STORE
memstore device bytes = $RGW_STORE_BYTES
bluestore block path = $d/osd/\$cluster-\$id/block.file
bluestore block size = $RGW_STORE_BYTES
bluestore block create = true
bluestore fsck on mount = false
osd memory target = 939524096
osd fast shutdown = false
osd op num shards = 1
osd op num threads per shard = 2
osd crush update on start = true

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgwport
rgw data = $d/rgw
rgw thread pool size = 32
rgw enable usage log = false
rgw dns name = 127.0.0.1
# Deleted and overwritten objects keep their space until RGW's own garbage
# collection (2 h by default): reclaim within seconds, or a run that
# overwrites the same keys fills the OSD, which then blocks writes.
rgw gc obj min wait = 2
rgw gc processor period = 5
rgw gc processor max time = 5
EOF
}

# rgw_start DIR: 0 with RGW_ENDPOINT etc. exported, or 1 with the reason on
# stderr (and nothing left running).
rgw_start() {
	local dir=${1:?usage: rgw_start DIR} fsid monport rgwport osduuid osdkey id i t0 _
	local tmo=$RGW_START_TIMEOUT
	for i in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool uuidgen curl python3; do
		command -v "$i" >/dev/null 2>&1 || {
			rgw_log "no $i (apt-get install --no-install-recommends radosgw ceph-mon ceph-osd ceph-base)"
			return 1
		}
	done
	case $RGW_STORE in
	memstore | bluestore) ;;
	*)	# ceph-osd would silently fall back to bluestore
		rgw_log "RGW_STORE must be memstore or bluestore, not '$RGW_STORE'"
		return 1
		;;
	esac
	if [ ${#RGW_PIDS[@]} -gt 0 ]; then
		rgw_log "already started"
		return 1
	fi
	t0=$(date +%s.%N)
	mkdir -p "$dir" || return 1
	RGW_DIR=$(cd "$dir" && pwd)
	RGW_CONF=$RGW_DIR/ceph.conf
	mkdir -p "$RGW_DIR"/{run,log,crash,mon,osd/ceph-0,rgw} || return 1
	fsid=$(uuidgen)
	# Two distinct free ports (bind-tested); the osd picks its own ports in
	# the usual 6800-7300 range on 127.0.0.1.
	for _ in 1 2 3 4 5; do
		monport=$(rgw_free_port) && rgwport=$(rgw_free_port) || return 1
		[ "$monport" != "$rgwport" ] && rgw_port_free "$monport" && rgw_port_free "$rgwport" && break
	done
	rgw_write_conf "$fsid" "$monport" "$rgwport"

	# The monitor speaks msgr2 only: monmaptool --add would make a port
	# other than 6789 a v2 address anyway, which a "v1:" mon host misses.
	# Keys: mon., client.admin and client.rgw in one keyring, which
	# ceph-mon --mkfs imports into its auth database.
	if ! { ceph-authtool --create-keyring "$RGW_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' &&
		ceph-authtool "$RGW_DIR/keyring" --gen-key -n client.admin \
			--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' &&
		ceph-authtool "$RGW_DIR/keyring" --gen-key -n client.rgw \
			--cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' &&
		monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$monport]" \
			"$RGW_DIR/monmap"; } >/dev/null; then
		rgw_log "keyring/monmap failed"
		return 1
	fi
	timeout "$tmo" ceph-mon -c "$RGW_CONF" --mkfs -i a --monmap "$RGW_DIR/monmap" \
		--keyring "$RGW_DIR/keyring" >"$RGW_DIR/log/mon-mkfs.out" 2>&1 ||
		{ rgw_fail "ceph-mon --mkfs failed" "$RGW_DIR/log/mon-mkfs.out"; return 1; }
	rgw_spawn mon.a ceph-mon -f -c "$RGW_CONF" -i a

	# The monitor answers.
	rgw_wait "$tmo" rgw_ceph_quiet mon stat ||
		{ rgw_fail "ceph-mon died or did not answer within ${tmo}s" "$RGW_DIR/log/mon.a.out" "$RGW_DIR/log/mon.a.log"; return 1; }

	# One osd: registered with its own cephx key, mkfs, start, up.
	osduuid=$(uuidgen)
	osdkey=$(ceph-authtool --gen-print-key) || { rgw_fail "gen key failed"; return 1; }
	id=$(printf '{"cephx_secret": "%s"}' "$osdkey" | rgw_ceph osd new "$osduuid" -i - 2>"$RGW_DIR/log/osd-new.out") ||
		{ rgw_fail "ceph osd new failed" "$RGW_DIR/log/osd-new.out"; return 1; }
	[ "$id" = 0 ] || { rgw_fail "ceph osd new gave id '$id', expected 0"; return 1; }
	printf '[osd.0]\n\tkey = %s\n' "$osdkey" >"$RGW_DIR/osd/ceph-0/keyring"
	timeout "$tmo" ceph-osd -c "$RGW_CONF" -i 0 --mkfs --key "$osdkey" --osd-uuid "$osduuid" \
		>"$RGW_DIR/log/osd-mkfs.out" 2>&1 ||
		{ rgw_fail "ceph-osd --mkfs failed" "$RGW_DIR/log/osd-mkfs.out"; return 1; }
	rgw_spawn osd.0 ceph-osd -f -c "$RGW_CONF" -i 0
	rgw_wait "$tmo" rgw_osd_up ||
		{ rgw_fail "ceph-osd died or was not up within ${tmo}s" "$RGW_DIR/log/osd.0.out" "$RGW_DIR/log/osd.0.log"; return 1; }

	# The gateway: it creates its pools, then listens.
	rgw_spawn rgw radosgw -f -c "$RGW_CONF" -n client.rgw
	RGW_ENDPOINT=http://127.0.0.1:$rgwport
	rgw_wait "$tmo" rgw_http_up ||
		{ rgw_fail "radosgw died or did not answer on $RGW_ENDPOINT within ${tmo}s" "$RGW_DIR/log/rgw.out" "$RGW_DIR/log/client.rgw.log"; return 1; }

	# The S3 user, with fixed keys.
	timeout "$tmo" radosgw-admin -c "$RGW_CONF" -n client.admin user create --uid=ociregd \
		--display-name=ociregd --access-key="$RGW_ACCESS_KEY" --secret="$RGW_SECRET_KEY" \
		>"$RGW_DIR/log/user-create.out" 2>&1 ||
		{ rgw_fail "radosgw-admin user create failed" "$RGW_DIR/log/user-create.out"; return 1; }
	export RGW_ENDPOINT RGW_ACCESS_KEY RGW_SECRET_KEY RGW_REGION
	# shellcheck disable=SC2034  # for the caller
	RGW_START_SECONDS=$(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" \
		"$t0" "$(date +%s.%N)")
	return 0
}

rgw_ceph_quiet() { rgw_ceph "$@" >/dev/null 2>&1; }

rgw_osd_up() {
	rgw_alive osd.0 || return 2
	rgw_ceph osd dump 2>/dev/null | grep -q '^osd\.0 up '
}

rgw_http_up() {
	rgw_alive rgw || return 2
	curl -s -o /dev/null --max-time 2 "$RGW_ENDPOINT/"
}

# rgw_wait SECONDS CMD...: poll CMD every 0.1 s for at most SECONDS; give up
# at once when CMD returns 2 (its daemon died) or the monitor died.
rgw_wait() {
	local deadline rc
	deadline=$(($(date +%s) + $1))
	shift
	while [ "$(date +%s)" -lt "$deadline" ]; do
		"$@"
		rc=$?
		[ $rc = 0 ] && return 0
		[ $rc = 2 ] && return 1
		rgw_alive mon.a || return 1
		sleep 0.1
	done
	return 1
}

# rgw_stop: TERM each daemon (gateway, osd, monitor), wait up to 15 s for it,
# then KILL.  Safe to call twice, or when rgw_start failed half-way.
rgw_stop() {
	local name pid i
	for name in rgw osd.0 mon.a; do
		pid=$(cat "$RGW_DIR/run/$name.fgpid" 2>/dev/null) || continue
		kill -TERM "$pid" 2>/dev/null || { rm -f "$RGW_DIR/run/$name.fgpid"; continue; }
		for i in $(seq 150); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			rgw_log "$name ($pid) ignored TERM for 15 s; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		rm -f "$RGW_DIR/run/$name.fgpid"
	done
	RGW_PIDS=()
	return 0
}

# rgw_s3 CURL-ARGS...: curl, signed (SigV4) as the test user.  curl 7.88
# does not send x-amz-content-sha256 itself, which radosgw requires: the
# payload is declared unsigned.  Query strings need "=" (?uploads=), or
# the signature does not match.
rgw_s3() {
	curl -sS --aws-sigv4 "aws:amz:$RGW_REGION:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
		-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"
}

# rgw_mkbucket NAME: create the bucket NAME (>= 3 chars); 0 on 200.
rgw_mkbucket() {
	local code
	code=$(rgw_s3 -o /dev/null -w '%{http_code}' -X PUT "$RGW_ENDPOINT/$1") || return 1
	[ "$code" = 200 ] || { rgw_log "PUT bucket $1: HTTP $code"; return 1; }
}
