#!/usr/bin/env bash
# t_backup.sh — `ociregd backup [-c FILE] DEST` while the daemon serves:
# images in two repositories, a blob-only repository and an open upload
# session are copied into DEST (metadata by SQLite's online backup, blobs
# hard-linked on the same file system); a fresh daemon on DEST serves every
# tag and blob with the same digests, fsck on DEST is clean, the session is
# gone from the copy.  A backup taken while a push loop runs is consistent
# (every row's blob is there, fsck clean).  A non-empty DEST is refused
# (exit 73) and left alone.  Onto another file system the blobs are copied.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
daemon_start

W=$TMP/w
mkdir -p "$W"

# push_image REPO TAG NAME [SHARED-LAYER-FILE]: a config, one new layer (and
# the shared one if given), a manifest tagged TAG.
push_image() {
	local repo=$1 tag=$2 name=$3 shared=${4:-} layers
	blob_json "$repo" "$W/$name.cfg" "{\"architecture\":\"amd64\",\"os\":\"linux\",\"name\":\"$name\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"
	mkblob "$W/$name.l" 30000
	push_blob "$repo" "$W/$name.l"
	layers=$(desc $MT_OCI_LAYER "$W/$name.l")
	if [ -n "$shared" ]; then
		push_blob "$repo" "$shared"
		layers="$layers,$(desc $MT_OCI_LAYER "$shared")"
	fi
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc $MT_OCI_CONFIG "$W/$name.cfg")" "$layers" >"$W/$name.m"
	push_manifest "$repo" "$tag" "$W/$name.m"
}

mkblob "$W/shared" 50000
push_image team/app v1 app1 "$W/shared"
push_image team/app v2 app2 "$W/shared"
push_image lib/base 1.0 base1
# A repository that holds only blobs (no manifest, no tag).
mkblob "$W/only1" 12345
mkblob "$W/only2" 54321
push_blob blobs/only "$W/only1"
push_blob blobs/only "$W/only2"
# An upload session left open: it has a spool in uploads/ and a row.
upload_start team/app
req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' --data-binary 'partial bytes'
assert_status 202 "a chunk into the open session"
OPEN_LOC=$UPLOAD_LOC

NBLOBS=$(db "SELECT count(*) FROM blobs")
assert_eq "$NBLOBS" 12 "the source holds 12 blobs (3 configs, 3 layers, the shared one, 3 manifests, 2 blob-only)"

# backup DEST [extra args]: sets OUT, ERR, RC.
backup() {
	OUT=$("$OCIREGD" backup -c "$CONF" "$@" 2>"$TMP/backup.err")
	RC=$?
	ERR=$(cat "$TMP/backup.err")
}

# ---------------------------------------------------------------- usage
backup
assert_eq "$RC" 64 "backup without DEST is a usage error (64)"
"$OCIREGD" --help | grep -q '^       ociregd backup \[-c FILE\] DEST$'
assert_eq "$?" 0 "--help shows 'ociregd backup [-c FILE] DEST'"

# ---------------------------------------------------------------- a backup while serving
BK=$TMP/bk
backup "$BK"
assert_eq "$RC" 0 "backup while the daemon serves exits 0" "$ERR"
assert_match "$OUT" "^backup: $BK: 3 manifests, 3 tags, 12 blobs \\([0-9.]+ KiB, [0-9]+ bytes\\): 12 linked, 0 copied; 1 upload session dropped; [0-9.]+ s$" \
	"the summary counts manifests, tags, blobs, bytes, linked and copied, sessions dropped, time"
BYTES=$(db "SELECT sum(size) FROM blobs")
assert_match "$OUT" " KiB, $BYTES bytes\\)" "the summary's bytes are the blobs' bytes"
assert_file_exists "$BK/meta.db" "the copy has its metadata"
bdb() { sqlite3 -batch -noheader -cmd '.timeout 3000' "$1/meta.db" "$2" 2>&1; }
assert_eq "$(bdb "$BK" "SELECT count(*) FROM manifests") $(bdb "$BK" "SELECT count(*) FROM tags") $(bdb "$BK" "SELECT count(*) FROM blobs")" \
	"3 3 12" "the copy's metadata has the manifests, tags and blobs"
assert_eq "$(db "SELECT count(*) FROM uploads")" 1 "the live registry still has its open session"
assert_eq "$(bdb "$BK" "SELECT count(*) FROM uploads")" 0 "the copy has no upload sessions"
assert_eq "$(find "$BK/uploads" -type f | wc -l)" 0 "the upload spool is not copied"

# Every blob row of the copy has its file, hard-linked to the source's.
same=0 diff=0 missing=0
while read -r d; do
	hex=${d#*:}
	f=$BK/blobs/sha256/${hex:0:2}/$hex
	if [ ! -f "$f" ]; then
		missing=$((missing + 1))
	elif [ "$(stat -c %i "$f")" = "$(stat -c %i "$(blob_path "$d")")" ]; then
		same=$((same + 1))
	else
		diff=$((diff + 1))
	fi
done < <(bdb "$BK" "SELECT digest FROM blobs")
assert_eq "$same/$diff/$missing" "12/0/0" "every blob file of the backup shares its inode with the source's (same file system)"

# ---------------------------------------------------------------- non-empty DEST
before=$(find "$BK" -printf '%p %s %T@\n' | sort | sha256sum)
backup "$BK"
assert_eq "$RC" 73 "a second backup into the non-empty DEST is refused with 73 (EX_CANTCREAT)"
assert_match "$ERR" "$BK: exists and is not empty" "the refusal names DEST and why"
assert_eq "$(find "$BK" -printf '%p %s %T@\n' | sort | sha256sum)" "$before" "the refused backup left DEST untouched"
printf 'x' >"$TMP/afile"
backup "$TMP/afile"
assert_eq "$RC" 73 "a DEST that is a file is refused with 73"
backup "$TMP/no/such/parent"
assert_eq "$RC" 73 "a DEST whose parent does not exist is refused with 73"

# ---------------------------------------------------------------- restore: a fresh daemon on DEST
CONF2=$TMP/restored.ini
sed "s|^root = .*|root = $BK|" "$CONF" >"$CONF2"
LOG2=$TMP/restored.log
PID2=
stop2() {
	if [ -n "$PID2" ]; then
		kill -TERM "$PID2" 2>/dev/null
		wait_dead "$PID2" 100 || kill -KILL "$PID2" 2>/dev/null
		wait "$PID2" 2>/dev/null
		PID2=
	fi
}
trap 'stop2; e2e_cleanup' EXIT
"$OCIREGD" -c "$CONF2" </dev/null >"$LOG2" 2>&1 &
PID2=$!
PORT2=
for ((n = 0; n < 150; n++)); do
	PORT2=$(sed -n 's/.*listening on .* (port \([0-9][0-9]*\), .*/\1/p' "$LOG2" | head -n 1)
	[ -n "$PORT2" ] && break
	sleep 0.1
done
[ -n "$PORT2" ] || bail "a daemon starts on the backup" "$(cat "$LOG2")"
B2=http://127.0.0.1:$PORT2
assert_ne "$PORT2" "$PORT" "the restored daemon serves on another port while the first one runs"

req GET "$B2/v2/_catalog"
assert_eq "$(jq -c .repositories "$BODY")" '["blobs/only","lib/base","team/app"]' "the restored catalog has every repository, the blob-only one included"
ok=0 bad=""
for rt in team/app:v1 team/app:v2 lib/base:1.0; do
	repo=${rt%%:*} tag=${rt#*:}
	req GET "/v2/$repo/manifests/$tag" -H "Accept: $MT_OCI_MANIFEST"
	want=$(hdr Docker-Content-Digest)
	req GET "$B2/v2/$repo/manifests/$tag" -H "Accept: $MT_OCI_MANIFEST"
	if [ "$STATUS" = 200 ] && [ "$(hdr Docker-Content-Digest)" = "$want" ] && [ "$(body_sha256)" = "$want" ]; then
		ok=$((ok + 1))
	else
		bad="$bad $rt:$STATUS:$(hdr Docker-Content-Digest)/$want"
	fi
done
assert_eq "$ok" 3 "every tag is served by the restored daemon with the source's digest" "$bad"
for repo in team/app lib/base; do
	req GET "$B2/v2/$repo/tags/list"
	got=$(jq -c .tags "$BODY")
	req GET "/v2/$repo/tags/list"
	assert_eq "$got" "$(jq -c .tags "$BODY")" "$repo: the restored tag list is the source's"
done
ok=0 n=0 bad=""
while IFS='|' read -r repo d; do
	n=$((n + 1))
	req GET "$B2/v2/$repo/blobs/$d"
	if [ "$STATUS" = 200 ] && [ "$(body_sha256)" = "$d" ]; then
		ok=$((ok + 1))
	else
		bad="$bad $repo@$d:$STATUS"
	fi
done < <(db "SELECT r.name, rb.digest FROM repo_blobs rb JOIN repositories r ON r.id = rb.repo_id")
assert_eq "$ok/$n" "12/12" "every blob of every repository is served by the restored daemon with its digest" "$bad"
req PATCH "$B2${OPEN_LOC#"$BASE"}" -H 'Content-Type: application/octet-stream' --data-binary 'more'
assert_eq "$STATUS $(err_code)" "404 BLOB_UPLOAD_UNKNOWN" "the session open at backup time is unknown to the restored daemon"
stop2
"$OCIREGD" fsck -c "$CONF2" >"$TMP/fsck.out" 2>&1
assert_eq "$?" 0 "fsck on the backup exits 0" "$(cat "$TMP/fsck.out")"
assert_match "$(cat "$TMP/fsck.out")" '^fsck: 12 blobs .*: no problems$' "fsck on the backup: 12 blobs, no problems"

# ---------------------------------------------------------------- a backup during a push loop
# Pushes a fresh image (config, layer, manifest) per turn until told to
# stop; counts the manifests it got a 201 for.
push_loop() {
	local i=0 cfg lay m
	while [ ! -e "$W/stop" ]; do
		i=$((i + 1))
		cfg=$W/loop$i.cfg lay=$W/loop$i.l m=$W/loop$i.m
		printf '{"architecture":"amd64","os":"linux","loop":%d,"rootfs":{"type":"layers","diff_ids":[]}}' "$i" >"$cfg"
		head -c 20000 /dev/urandom >"$lay"
		curl -s -o /dev/null -X POST --data-binary "@$cfg" "$BASE/v2/loop/app/blobs/uploads/?digest=$(sha256_of "$cfg")"
		curl -s -o /dev/null -X POST --data-binary "@$lay" "$BASE/v2/loop/app/blobs/uploads/?digest=$(sha256_of "$lay")"
		printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
			"$(desc $MT_OCI_CONFIG "$cfg")" "$(desc $MT_OCI_LAYER "$lay")" >"$m"
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $MT_OCI_MANIFEST" \
			--data-binary "@$m" "$BASE/v2/loop/app/manifests/t$i")" = 201 ] && echo "$i" >"$W/pushed"
	done
}
rm -f "$W/stop" "$W/pushed"
push_loop &
LOOP=$!
for ((n = 0; n < 100; n++)); do
	[ -s "$W/pushed" ] && break
	sleep 0.1
done
sleep 1
BK2=$TMP/bk2
mkdir "$BK2" # an empty directory is a fine DEST
backup "$BK2"
RC2=$RC OUT2=$OUT ERR2=$ERR
sleep 1
touch "$W/stop"
wait "$LOOP"
assert_eq "$RC2" 0 "backup during a push loop exits 0" "$ERR2"
assert_match "$OUT2" "^backup: $BK2: [0-9]+ manifests, [0-9]+ tags, [0-9]+ blobs .*: [0-9]+ linked, 0 copied;" "backup during a push loop: summary"
loop_copy=$(bdb "$BK2" "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = 'loop/app'")
loop_live=$(db "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = 'loop/app'")
if [ "$loop_copy" -ge 1 ] && [ "$loop_live" -gt "$loop_copy" ]; then
	t_pass "the copy is a snapshot taken mid-loop ($loop_copy of the loop's $loop_live tags)"
else
	t_fail "the copy is a snapshot taken mid-loop" "copy $loop_copy tags, live $loop_live"
fi
# Every manifest row's references and own bytes have a blob row and a file
# of the recorded size in the copy.
lacking=$(bdb "$BK2" "SELECT f.ref FROM manifest_refs f WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = f.ref)
	UNION ALL SELECT m.digest FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = m.digest)")
assert_eq "$lacking" "" "every reference of every manifest in the copy has its blob row"
bad=0
while IFS='|' read -r d size; do
	hex=${d#*:}
	f=$BK2/blobs/sha256/${hex:0:2}/$hex
	[ -f "$f" ] && [ "$(stat -c %s "$f")" = "$size" ] || bad=$((bad + 1))
done < <(bdb "$BK2" "SELECT digest, size FROM blobs")
assert_eq "$bad" 0 "every blob row of the copy has its file, of its size"
sed "s|^root = .*|root = $BK2|" "$CONF" >"$TMP/bk2.ini"
"$OCIREGD" fsck -c "$TMP/bk2.ini" >"$TMP/fsck.out" 2>&1
assert_eq "$?" 0 "fsck on the backup taken during the push loop is clean" "$(cat "$TMP/fsck.out")"

# ---------------------------------------------------------------- another file system: copied
OTHER=/dev/shm
if [ -d "$OTHER" ] && [ -w "$OTHER" ] && [ "$(stat -c %d "$OTHER")" != "$(stat -c %d "$TMP")" ]; then
	BK3=$(mktemp -u "$OTHER/ociregd-e2e-bk.XXXXXX")
	backup "$BK3"
	assert_eq "$RC" 0 "backup onto another file system exits 0" "$ERR"
	n=$(bdb "$BK3" "SELECT count(*) FROM blobs")
	assert_match "$OUT" "^backup: $BK3: .* $n blobs .*: 0 linked, $n copied;" "onto another file system every blob is copied, none linked"
	bad=0
	while read -r d; do
		hex=${d#*:}
		cmp -s "$BK3/blobs/sha256/${hex:0:2}/$hex" "$(blob_path "$d")" || bad=$((bad + 1))
	done < <(bdb "$BK3" "SELECT digest FROM blobs")
	assert_eq "$bad" 0 "the copied blob files have the source's bytes"
	assert_eq "$(find "$BK3/uploads" -type f | wc -l)" 0 "no temporary files left in the copy's uploads/"
	sed "s|^root = .*|root = $BK3|" "$CONF" >"$TMP/bk3.ini"
	"$OCIREGD" fsck -c "$TMP/bk3.ini" >"$TMP/fsck.out" 2>&1
	assert_eq "$?" 0 "fsck on the copied backup is clean" "$(cat "$TMP/fsck.out")"
	rm -rf "$BK3"
else
	t_pass "backup onto another file system # SKIP no writable $OTHER on another file system"
fi

e2e_finish
