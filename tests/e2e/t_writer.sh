#!/bin/bash
# t_writer.sh — metadata writes run off the worker's event loop (issue 19).
# Another process holds the metadata's write lock for a few seconds (as a
# collection's batch or a slow commit would).  The pushes that arrive
# meanwhile -- a session's POST, a monolithic blob, a PATCH, the closing
# PUT, a manifest, a tag and a blob link deleted -- wait for it and then
# succeed; the same worker's reads are answered at once while they wait.
# One worker, so the reads and the writes share its loop.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
E2E_WORKERS=1

e2e_init
daemon_start

LOCK_S=4

# hold_lock SECONDS: take the metadata's write lock in the background for
# SECONDS (LOCK_PID); returns once it is held.
hold_lock() {
	rm -f "$TMP/locked"
	if [ -n "$E2E_PG_DB_URL" ]; then
		# SHARE ROW EXCLUSIVE: every writer waits, readers go on.
		psql -X -q -v ON_ERROR_STOP=1 "$E2E_PG_DB_URL" >"$TMP/lock.out" 2>&1 <<-EOF &
			BEGIN;
			LOCK TABLE repositories, blobs, repo_blobs, uploads, manifests, manifest_refs, tags
			    IN SHARE ROW EXCLUSIVE MODE;
			\! touch $TMP/locked
			SELECT pg_sleep($1);
			COMMIT;
		EOF
	else
		printf 'BEGIN IMMEDIATE;\n.shell touch %s/locked\n.shell sleep %s\nCOMMIT;\n' \
			"$TMP" "$1" | sqlite3 -batch "$ROOT/meta.db" >"$TMP/lock.out" 2>&1 &
	fi
	LOCK_PID=$!
	for _ in $(seq 1 100); do
		[ -e "$TMP/locked" ] && return 0
		sleep 0.05
	done
	bail "the write lock was not taken in 5 s: $(cat "$TMP/lock.out")"
}

# in_bg NAME METHOD URL CURL-ARGS...: a request in the background; its
# status and time go to $TMP/NAME.out, its headers to $TMP/NAME.hdrs.
in_bg() {
	local name=$1 method=$2 url=$3
	shift 3
	curl -s -o "$TMP/$name.body" -D "$TMP/$name.hdrs" --max-time 30 -X "$method" \
		-w '%{http_code} %{time_total}\n' "$@" "$BASE$url" >"$TMP/$name.out" </dev/null &
	BG_PIDS+=($!)
}

# --- an image to read while the lock is held, and a session to write to.
blob_json app/web "$TMP/config" '{"architecture":"amd64","os":"linux"}'
mkblob "$TMP/layer" 70000
push_blob app/web "$TMP/layer"
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc application/vnd.oci.image.config.v1+json "$TMP/config")" \
	"$(desc application/vnd.oci.image.layer.v1.tar "$TMP/layer")" >"$TMP/m1"
push_manifest app/web v1 "$TMP/m1"
M1=$(sha256_of "$TMP/m1")
upload_start app/web || bail "upload session"
SESSION=$UPLOAD_LOC
mkblob "$TMP/chunk" 40000
CHUNK=$(sha256_of "$TMP/chunk")
# a tag and a blob link to delete while the lock is held
req PUT /v2/app/web/manifests/gone -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/m1"
assert_status 201 "tag 'gone' set"
mkblob "$TMP/doomed" 3000
push_blob app/web "$TMP/doomed"
DOOMED=$(sha256_of "$TMP/doomed")

# --- the pushes, each waiting for the lock.
hold_lock $LOCK_S
t0=$(date +%s.%N)
BG_PIDS=()
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s],"annotations":{"n":"2"}}' \
	"$MT_OCI_MANIFEST" "$(desc application/vnd.oci.image.config.v1+json "$TMP/config")" \
	"$(desc application/vnd.oci.image.layer.v1.tar "$TMP/layer")" >"$TMP/m2"
M2=$(sha256_of "$TMP/m2")
in_bg manifest PUT /v2/app/web/manifests/v2 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/m2"
mkblob "$TMP/mono" 50000
MONO=$(sha256_of "$TMP/mono")
in_bg mono POST "/v2/app/web/blobs/uploads/?digest=$MONO" -H 'Content-Type: application/octet-stream' \
	--data-binary "@$TMP/mono"
in_bg patch PATCH "${SESSION#"$BASE"}" -H 'Content-Type: application/octet-stream' \
	-H 'Content-Range: 0-39999' --data-binary "@$TMP/chunk"
in_bg open POST /v2/app/other/blobs/uploads/
in_bg untag DELETE /v2/app/web/manifests/gone
in_bg unlink DELETE "/v2/app/web/blobs/$DOOMED"
sleep 0.5

# --- the reads, on the same worker, while the pushes wait.
slow=0
for i in $(seq 1 5); do
	out=$(curl -s -o "$TMP/get.body" --max-time 30 -w '%{http_code} %{time_total}' \
		"$BASE/v2/app/web/manifests/v1" -H "Accept: $MT_OCI_MANIFEST")
	[ "${out%% *}" = 200 ] || t_fail "GET manifest $i while the lock is held" "$out"
	awk -v t="${out#* }" 'BEGIN{exit !(t < 0.5)}' || slow=$((slow + 1))
	out=$(curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}' "$BASE/v2/")
	awk -v t="${out#* }" 'BEGIN{exit !(t < 0.5)}' || slow=$((slow + 1))
	sleep 0.2
done
assert_eq "$slow" 0 "10 reads on the pushes' worker each answered within 0.5 s while the lock is held"
assert_body_digest_file() { [ "$(sha256_of "$1")" = "$2" ]; }
if assert_body_digest_file "$TMP/get.body" "$M1"; then
	t_pass "the manifest read during the lock has the pushed bytes"
else
	t_fail "the manifest read during the lock has the pushed bytes" "got $(head -c 200 "$TMP/get.body")"
fi
pending=0
for n in manifest mono patch open untag unlink; do [ -s "$TMP/$n.out" ] || pending=$((pending + 1)); done
assert_eq "$pending" 6 "the 4 pushes and 2 deletes still wait for the lock after the reads ($(date +%s.%N | awk -v a="$t0" '{printf "%.1f", $1 - a}') s)"

# --- the lock goes; every push completes.
wait "$LOCK_PID"
wait "${BG_PIDS[@]}"
t1=$(date +%s.%N)
assert_eq "$(cut -d' ' -f1 "$TMP/manifest.out")" 201 "the manifest PUT that waited gets 201"
assert_eq "$(cut -d' ' -f1 "$TMP/mono.out")" 201 "the monolithic blob POST that waited gets 201"
assert_eq "$(cut -d' ' -f1 "$TMP/patch.out")" 202 "the PATCH that waited gets 202"
assert_eq "$(cut -d' ' -f1 "$TMP/open.out")" 202 "the session POST that waited gets 202"
assert_eq "$(cut -d' ' -f1 "$TMP/untag.out")" 202 "the tag DELETE that waited gets 202"
assert_eq "$(cut -d' ' -f1 "$TMP/unlink.out")" 202 "the blob DELETE that waited gets 202"
assert_eq "$(awk -v a="$t0" -v b="$t1" -v l=$LOCK_S 'BEGIN{print (b - a >= l - 1) ? "yes" : "no"}')" yes \
	"they ended after the lock was released ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s)"
assert_match "$(tr -d '\r' <"$TMP/patch.hdrs" | sed -n 's/^Range: //Ip')" '^0-39999$' "the PATCH's Range is 0-39999"
req GET /v2/app/web/manifests/v2 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "the manifest pushed during the lock is served"
assert_body_digest "$M2" "... with its bytes"
assert_eq "$(db "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = 'app/web' AND t.name = 'v2'")" \
	"$M2" "its tag row points at it"
req GET "/v2/app/web/blobs/$MONO"
assert_status 200 "the blob pushed during the lock is served"
assert_body_digest "$MONO" "... with its bytes"
req PUT "$(with_query "$SESSION" "digest=$CHUNK")"
assert_status 201 "the session written during the lock closes with the chunk's digest"
req GET /v2/app/web/manifests/gone -H "Accept: $MT_OCI_MANIFEST"
assert_status 404 "the tag deleted during the lock is gone"
req GET "/v2/app/web/blobs/$DOOMED"
assert_status 404 "the blob link deleted during the lock is gone"
OPEN_ID=$(tr -d '\r' <"$TMP/open.hdrs" | sed -n 's/^Docker-Upload-UUID: //Ip')
assert_eq "$(db "SELECT count(*) FROM uploads WHERE id = $(sqlq "$OPEN_ID")")" 1 \
	"the session opened during the lock has its row"

e2e_finish
