#!/usr/bin/env bash
# shellcheck shell=bash
# lib-s3.sh — the S3 blob backend in the tests ([storage] backend = s3): a
# throwaway one-node Ceph RADOS Gateway (tests/e2e/lib-rgw.sh) and the
# bucket helpers the suites use.  Run it, or source it:
#
#   tests/e2e/lib-s3.sh run CMD [ARG...]
#                       # start one radosgw on 127.0.0.1 (free ports, a temp
#                       # dir), run CMD with E2E_STORE=s3 and E2E_S3_* in its
#                       # environment, stop the gateway and remove the dir
#                       # (even on failure or a signal); exits with CMD's
#                       # status.  Composes with lib-pg.sh:
#                       #   lib-pg.sh run lib-s3.sh run run-all t_base.sh
#
#   . tests/e2e/lib-s3.sh
#   s3_start            # the same gateway, in this shell (trap s3_stop EXIT)
#   s3_stop
#   s3_attach           # point rgw_s3 & co at the gateway E2E_S3_* names
#   s3_list PREFIX      # the keys under PREFIX in E2E_S3_BUCKET, one a line
#   s3_list_sizes PREFIX  # "KEY SIZE" lines
#   s3_uploads PREFIX   # "KEY UPLOADID" of unfinished multipart uploads
#   s3_get KEY OUT | s3_put KEY FILE | s3_delete KEY | s3_head KEY
#                       # each 0 on a 2xx; s3_head prints the headers
#   s3_bucket_purge NAME  # remove a bucket and everything in it (bounded)
#   s3_gw_down / s3_gw_up # stop / restart the gateway alone (same port,
#                       # data kept): an outage of the endpoint (s3_start's)
#
# Environment exported by `run` / s3_start (read by lib.sh):
#   E2E_STORE=s3, E2E_S3_ENDPOINT, E2E_S3_ACCESS_KEY, E2E_S3_SECRET_KEY,
#   E2E_S3_REGION, E2E_S3_CONF (its ceph.conf, for radosgw-admin),
#   E2E_S3_DIR (its temp dir)
# E2E_S3_BUCKET is the bucket the helpers work on (lib.sh sets it per
# e2e_init); E2E_S3_PREFIX the daemon's key prefix (default none).

E2E_S3_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# lib-rgw.sh resets RGW_ENDPOINT when sourced: keep a gateway named by the
# environment.
_s3_ep=${E2E_S3_ENDPOINT:-}
# shellcheck source=tests/e2e/lib-rgw.sh
. "$E2E_S3_LIB_DIR/lib-rgw.sh"
E2E_S3_ENDPOINT=$_s3_ep
unset _s3_ep
: "${E2E_S3_PREFIX:=}" "${E2E_S3_BUCKET:=}"
S3_OWNED=0

# s3_attach: rgw_s3 and rgw_mkbucket on the gateway of E2E_S3_*.
s3_attach() {
	[ -n "${E2E_S3_ENDPOINT:-}" ] || return 1
	RGW_ENDPOINT=$E2E_S3_ENDPOINT
	RGW_ACCESS_KEY=${E2E_S3_ACCESS_KEY:-$RGW_ACCESS_KEY}
	RGW_SECRET_KEY=${E2E_S3_SECRET_KEY:-$RGW_SECRET_KEY}
	RGW_REGION=${E2E_S3_REGION:-$RGW_REGION}
	[ -n "${E2E_S3_CONF:-}" ] && RGW_CONF=$E2E_S3_CONF
	return 0
}

# s3_start: a gateway of this shell's own; 0 with E2E_S3_* exported, or 1
# with the reason on stderr.  Call it in the shell that lives as long as the
# gateway (its daemons die with that shell).
s3_start() {
	E2E_S3_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ociregd-s3.XXXXXX") || return 1
	S3_OWNED=1
	rgw_start "$E2E_S3_DIR/rgw" || return 1
	E2E_S3_ENDPOINT=$RGW_ENDPOINT
	E2E_S3_ACCESS_KEY=$RGW_ACCESS_KEY
	E2E_S3_SECRET_KEY=$RGW_SECRET_KEY
	E2E_S3_REGION=$RGW_REGION
	E2E_S3_CONF=$RGW_CONF
	export E2E_S3_ENDPOINT E2E_S3_ACCESS_KEY E2E_S3_SECRET_KEY E2E_S3_REGION E2E_S3_CONF E2E_S3_DIR
	return 0
}

s3_stop() {
	[ "$S3_OWNED" = 1 ] || return 0
	rgw_stop
	[ -n "${E2E_S3_DIR:-}" ] && [ "${E2E_KEEP:-0}" != 1 ] && rm -rf "$E2E_S3_DIR"
	E2E_S3_DIR=
	S3_OWNED=0
}

# s3_gw_down / s3_gw_up: stop the gateway alone (the monitor and the osd,
# hence the data, stay) and start it again on the same port: an outage of
# the S3 endpoint.  Only on a gateway this shell started.
s3_gw_down() {
	local pid
	[ "$S3_OWNED" = 1 ] || return 1
	pid=$(cat "$RGW_DIR/run/rgw.fgpid" 2>/dev/null) || return 1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$RGW_DIR/run/rgw.fgpid"
	! curl -s -o /dev/null --max-time 2 "$RGW_ENDPOINT/"
}

s3_gw_up() {
	[ "$S3_OWNED" = 1 ] || return 1
	rgw_spawn rgw radosgw -f -c "$RGW_CONF" -n client.rgw
	rgw_wait "$RGW_START_TIMEOUT" rgw_http_up
}

# s3_enc VALUE: percent-encoded for a signed query (all but A-Za-z0-9-._~).
s3_enc() { jq -rn --arg v "$1" '$v|@uri'; }

# s3_list_raw PREFIX: the ListObjectsV2 pages of E2E_S3_BUCKET under PREFIX,
# concatenated (follows continuation tokens; at most 1000 pages).
s3_list_raw() {
	local tok="" page i
	for ((i = 0; i < 1000; i++)); do
		# curl 7.88 signs the query as given: parameters sorted, values
		# encoded as SigV4 wants ("/" too).
		page=$(rgw_s3 --max-time 30 "$RGW_ENDPOINT/$E2E_S3_BUCKET?${tok:+continuation-token=$(s3_enc "$tok")&}list-type=2&max-keys=1000&prefix=$(s3_enc "$1")") || return 1
		case $page in
		*'<ListBucketResult'*) ;;
		*) echo "lib-s3: list $E2E_S3_BUCKET/$1: $page" >&2; return 1 ;;
		esac
		printf '%s\n' "$page"
		case $page in
		*'<IsTruncated>true</IsTruncated>'*) ;;
		*) return 0 ;;
		esac
		tok=$(printf '%s' "$page" | sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p')
		[ -n "$tok" ] || return 1
	done
	return 1
}

# One "KEY SIZE" a line; KEY is the whole key (with the prefix).
s3_list_sizes() {
	s3_list_raw "$1" | grep -o '<Contents>.*</Contents>' | sed 's:</Contents>:&\n:g' |
		sed -n 's:.*<Key>\([^<]*\)</Key>.*<Size>\([0-9]*\)</Size>.*:\1 \2:p'
}

s3_list() { s3_list_sizes "$1" | cut -d' ' -f1; }

# s3_uploads PREFIX: "KEY UPLOADID" for each multipart upload begun and not
# completed nor aborted under PREFIX.
s3_uploads() {
	local page
	page=$(rgw_s3 --max-time 30 "$RGW_ENDPOINT/$E2E_S3_BUCKET?max-uploads=1000&prefix=$(s3_enc "$1")&uploads=") || return 1
	case $page in
	*'<ListMultipartUploadsResult'*) ;;
	*) echo "lib-s3: list uploads $E2E_S3_BUCKET/$1: $page" >&2; return 1 ;;
	esac
	printf '%s' "$page" | sed 's:</Upload>:&\n:g' |
		sed -n 's:.*<Upload>.*<Key>\([^<]*\)</Key>.*<UploadId>\([^<]*\)</UploadId>.*:\1 \2:p'
}

# s3_code CURL-ARGS...: the HTTP status of a signed request.
s3_code() { rgw_s3 --max-time 60 -o /dev/null -w '%{http_code}' "$@"; }

s3_get() { [ "$(rgw_s3 --max-time 120 -o "$2" -w '%{http_code}' "$RGW_ENDPOINT/$E2E_S3_BUCKET/$1")" = 200 ]; }
s3_put() { [ "$(s3_code -X PUT --data-binary "@$2" "$RGW_ENDPOINT/$E2E_S3_BUCKET/$1")" = 200 ]; }
s3_delete() { [ "$(s3_code -X DELETE "$RGW_ENDPOINT/$E2E_S3_BUCKET/$1")" = 204 ]; }
s3_head() {
	local h
	h=$(rgw_s3 --max-time 30 -I "$RGW_ENDPOINT/$E2E_S3_BUCKET/$1" | tr -d '\r') || return 1
	case $h in HTTP/*\ 200*) printf '%s\n' "$h" ;; *) return 1 ;; esac
}

# s3_bucket_purge NAME: the bucket and every object and multipart upload in
# it, gone (radosgw-admin: far faster than deleting key by key).
s3_bucket_purge() {
	[ -n "${E2E_S3_CONF:-$RGW_CONF}" ] || return 1
	timeout 60 radosgw-admin -c "${E2E_S3_CONF:-$RGW_CONF}" -n client.admin bucket rm \
		--bucket="$1" --purge-objects --bypass-gc >/dev/null 2>&1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case ${1:-} in
	run)
		shift
		[ $# -gt 0 ] || { echo "usage: lib-s3.sh run CMD [ARG...]" >&2; exit 2; }
		trap s3_stop EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		s3_start || exit 1
		echo "# lib-s3: radosgw at $E2E_S3_ENDPOINT ($RGW_STORE, ${RGW_START_SECONDS}s, $E2E_S3_DIR)"
		E2E_STORE=s3 "$@"
		exit $?
		;;
	*)
		echo "usage: lib-s3.sh run CMD [ARG...]" >&2
		exit 2
		;;
	esac
fi
