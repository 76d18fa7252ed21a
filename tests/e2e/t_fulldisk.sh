#!/usr/bin/env bash
# t_fulldisk.sh — the storage root on a small filesystem that fills up.
#
# The test mounts a 24 MiB tmpfs (or, if that is not permitted, a 32 MiB
# loop-mounted ext2 image) and puts [storage] root on it.  Filler files it
# creates on that filesystem take the space away and give it back.
#   - Pushes that do not fit (monolithic POST, a chunked PATCH, a manifest
#     PUT) fail with 507 in the spec's error envelope; nothing of them is
#     visible (GET 404, no blob file, no row, no temporary file left in
#     uploads/), the space they took is given back, an upload session
#     keeps what was acknowledged before the failed PATCH;
#   - with the disk 100% full, writes that only need metadata (a tag PUT
#     of a stored manifest, an upload POST, a tag DELETE, a closing PUT
#     whose bytes are already spooled) fail with a clear 5xx in the
#     envelope (507 expected) and change nothing;
#   - pulls of what is stored keep working all along (digests verified);
#   - once space is freed, every one of those pushes succeeds (the session
#     resumes from its Range, the failed closing PUT is retried).
# If no small filesystem can be mounted (not root, no tmpfs or loop
# devices), the script fails with the reason; it does not skip.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init

MNT=$TMP/mnt
IMG=
FS_KIND=
mkdir -p "$MNT"
fd_cleanup() {
	local rc=$? n
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null
		wait_dead "$DAEMON_PID" 100 || kill -KILL "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	DAEMON_PID=
	if [ -n "$FS_KIND" ]; then
		for ((n = 0; n < 30; n++)); do
			mountpoint -q "$MNT" || break
			umount "$MNT" 2>/dev/null && break
			sleep 0.1
		done
		mountpoint -q "$MNT" && umount -l "$MNT" 2>/dev/null
	fi
	(exit "$rc")
	e2e_cleanup
}
trap fd_cleanup EXIT

why=
# FULLDISK_FS=loop skips the tmpfs attempt (to exercise the fallback).
if [ "${FULLDISK_FS:-}" != loop ] && mount -t tmpfs -o size=24m,mode=0755 tmpfs "$MNT" 2>"$TMP/mount.err"; then
	FS_KIND=tmpfs
else
	why="tmpfs: $(cat "$TMP/mount.err" 2>/dev/null)"
	IMG=$TMP/fs.img
	if ! command -v mkfs.ext2 >/dev/null; then
		why="$why; loop ext2: mkfs.ext2 not installed"
	elif truncate -s 32M "$IMG" && mkfs.ext2 -q -F "$IMG" >"$TMP/mkfs.err" 2>&1 &&
		mount -o loop "$IMG" "$MNT" 2>"$TMP/mount.err"; then
		FS_KIND=ext2-loop
	else
		why="$why; loop ext2: $(cat "$TMP/mkfs.err" "$TMP/mount.err" 2>/dev/null)"
	fi
fi
if [ -z "$FS_KIND" ]; then
	echo "not ok 1 - mount a small filesystem for the storage root (tmpfs or loop ext2; needs root)"
	diag "$why"
	echo "1..1"
	exit 1
fi
t_pass "storage root on a small $FS_KIND at $MNT ($(df -h --output=size "$MNT" | tail -n 1 | tr -d ' '))"

ROOT=$MNT/var
E2E_WORKERS=${E2E_WORKERS:-2}
e2e_config
daemon_start

R=full/repo
OCT=(-H 'Content-Type: application/octet-stream')
free_bytes() { df -B1 --output=avail "$MNT" | tail -n 1 | tr -d ' '; }
FILLERS=()
# fill NAME [BYTES]: a filler file on the filesystem; without BYTES it takes
# everything left (the write stops at ENOSPC).
fill() {
	local f=$MNT/$1
	FILLERS+=("$f")
	if [ -n "${2:-}" ]; then
		head -c "$2" /dev/zero >"$f" 2>/dev/null
	else
		dd if=/dev/zero of="$f" bs=64k 2>/dev/null
		dd if=/dev/zero of="$f" bs=4k oflag=append conv=notrunc 2>/dev/null
		dd if=/dev/zero of="$f" bs=1 count=4096 oflag=append conv=notrunc 2>/dev/null
	fi
	sync -f "$f" 2>/dev/null
	return 0
}
unfill() { rm -f "$MNT/$1"; }

# assert_full_error DESC [STATUSES-ERE]: a 5xx (by default exactly 507) in
# the spec's envelope {"errors":[{"code","message",...}]}.
assert_full_error() {
	local want=${2:-507}
	if [[ $STATUS =~ ^($want)$ ]]; then
		t_pass "$1 (status $STATUS)"
	else
		t_fail "$1 (status $want)" "got $STATUS$(curl_why); body: $(head -c 300 "$BODY")"
	fi
	if jq -e '(.errors|type)=="array" and (.errors|length)>=1 and
	    (.errors[0].code|type)=="string" and (.errors[0].code|test("^[A-Z_]+$")) and
	    (.errors[0]|has("message"))' "$BODY" >/dev/null 2>&1; then
		t_pass "$1 (error envelope, code $(err_code))"
	else
		t_fail "$1 (error envelope)" "body: $(head -c 300 "$BODY")"
	fi
}

# Everything stored so far, pulled and checked: "blob|manifest|tag REF DIGEST".
STORED=()
check_pulls() {
	local e kind ref d bad=()
	for e in "${STORED[@]}"; do
		read -r kind ref d <<<"$e"
		case $kind in
		blob) req GET "/v2/$R/blobs/$d" ;;
		manifest) req GET "/v2/$R/manifests/$d" -H "Accept: $MT_OCI_MANIFEST" ;;
		tag) req GET "/v2/$R/manifests/$ref" -H "Accept: $MT_OCI_MANIFEST" ;;
		esac
		if [ "$STATUS" != 200 ]; then
			bad+=("$kind $ref $d: status $STATUS $(head -c 200 "$BODY")")
		elif [ "$(body_sha256)" != "$d" ]; then
			bad+=("$kind $ref: bytes hash to $(body_sha256), stored $d")
		fi
	done
	req GET "/v2/$R/tags/list"
	[ "$STATUS" = 200 ] || bad+=("tags/list: status $STATUS")
	req HEAD "/v2/$R/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
	[ "$STATUS" = 200 ] || bad+=("HEAD manifest v1: status $STATUS")
	if [ ${#bad[@]} -eq 0 ]; then
		t_pass "$1: ${#STORED[@]} stored blobs/manifests/tags pull with their digests"
	else
		t_fail "$1: stored content keeps being served" "$(printf '%s\n' "${bad[@]}")"
	fi
}

# no_trace DESC DIGEST: nothing of a failed blob push is visible.
no_trace() {
	local d=$2
	req GET "/v2/$R/blobs/$d"
	assert_status 404 "$1: GET of the failed blob"
	req HEAD "/v2/$R/blobs/$d"
	assert_status 404 "$1: HEAD of the failed blob"
	assert_file_absent "$(blob_path "$d")" "$1: no blob file"
	assert_rows "SELECT count(*) FROM blobs WHERE digest='$d'" 0 "$1: no blobs row"
	assert_rows "SELECT count(*) FROM repo_blobs WHERE digest='$d'" 0 "$1: no repository link"
}

# no_temp DESC: no temporary file (put-*, ready-*) left in uploads/, and
# every spool file belongs to a session (row).
no_temp() {
	local f id bad=()
	for f in "$ROOT"/uploads/*; do
		[ -e "$f" ] || continue
		id=${f##*/}
		case $id in
		put-* | ready-*) bad+=("temporary file uploads/$id ($(fsize "$f") bytes)") ;;
		*) [ "$(db "SELECT count(*) FROM uploads WHERE id=$(sqlq "$id")")" = 1 ] ||
			bad+=("spool uploads/$id ($(fsize "$f") bytes) without a session row") ;;
		esac
	done
	if [ ${#bad[@]} -eq 0 ]; then
		t_pass "$1: no temporary or orphan file in uploads/"
	else
		t_fail "$1: no temporary or orphan file in uploads/" "$(printf '%s\n' "${bad[@]}")"
	fi
}

# space_back DESC BEFORE: the free space is (nearly) what it was before the
# failed push: a rejected push keeps no bytes on the disk.
space_back() {
	local now
	now=$(free_bytes)
	if [ "$now" -ge $(($2 - 262144)) ]; then
		t_pass "$1: the space is given back ($now bytes free, $2 before)"
	else
		t_fail "$1: the space is given back" "free before the push: $2 bytes, after the 507: $now bytes ($((($2 - now) / 1024)) KiB kept); uploads/: $(ls -l "$ROOT/uploads" | tail -n +2 | awk '{print $5, $9}' | tr '\n' ';')"
	fi
}

# ---------------------------------------------------------------- stored content
for n in 1 2 3; do
	mkblob "$TMP/base$n" $((n * 400000))
	push_blob "$R" "$TMP/base$n"
	STORED+=("blob - $(sha256_of "$TMP/base$n")")
done
blob_json "$R" "$TMP/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
STORED+=("blob - $(sha256_of "$TMP/cfg")")
mkmanifest() { # mkmanifest FILE NOTE
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s,%s],"annotations":{"note":"%s"}}' \
		"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_CONFIG" "$TMP/cfg")" "$(desc "$MT_OCI_LAYER" "$TMP/base1")" \
		"$(desc "$MT_OCI_LAYER" "$TMP/base2")" "$2" >"$1"
}
mkmanifest "$TMP/m1" "stored before the disk filled"
M1=$(sha256_of "$TMP/m1")
push_manifest "$R" v1 "$TMP/m1"
STORED+=("manifest - $M1" "tag v1 $M1")
check_pulls "before filling"
echo "# $(free_bytes) bytes free on $MNT after the stored content"

# ---------------------------------------------------------------- a session spooled, to close later
# Its blob goes into an existing blobs/sha256/XX directory, so its closing
# PUT (below, on a full disk) needs no new directory, only the rename and
# the metadata rows.
mkdir -p "$TMP/cand"
head -c 16000000 /dev/urandom | (cd "$TMP/cand" && split -b 20000 -a 3 - c)
SP_F=
while read -r h f; do
	if [ -d "$ROOT/blobs/sha256/${h:0:2}" ]; then
		SP_F=$f
		break
	fi
done < <(cd "$TMP/cand" && sha256sum -- *)
[ -n "$SP_F" ] || SP_F=caa
cp "$TMP/cand/$SP_F" "$TMP/spooled"
rm -rf "$TMP/cand"
DSP=$(sha256_of "$TMP/spooled")
upload_start "$R" || bail "cannot start the spooled session"
SLOC=$UPLOAD_LOC
req PATCH "$SLOC" "${OCT[@]}" -H "Content-Range: 0-19999" --data-binary "@$TMP/spooled"
assert_status 202 "spooled session: its 20000 bytes are PATCHed"

# ---------------------------------------------------------------- a blob that does not fit
# Leave ~3 MiB; the pushes below are 3 MiB larger than what is free.
fill filler1 $(($(free_bytes) - 3 * 1048576))
FREE0=$(free_bytes)
echo "# filler1: $(fsize "$MNT/filler1") bytes; $FREE0 bytes free"
BIG=$((FREE0 + 3 * 1048576))
mkblob "$TMP/big" "$BIG"
DBIG=$(sha256_of "$TMP/big")
mkblob "$TMP/bigc" "$BIG"
DBIGC=$(sha256_of "$TMP/bigc")

NUP0=$(db "SELECT count(*) FROM uploads")
req POST "/v2/$R/blobs/uploads/?digest=$DBIG" "${OCT[@]}" --data-binary "@$TMP/big"
assert_full_error "monolithic push of $BIG bytes with $FREE0 free"
assert_log "No space left on device|insufficient storage|ENOSPC" "the daemon log names the full disk"
no_trace "monolithic push that did not fit" "$DBIG"
assert_rows "SELECT count(*) FROM uploads" "$NUP0" "monolithic push that did not fit: no upload session row left"
no_temp "monolithic push that did not fit"
space_back "monolithic push that did not fit" "$FREE0"
check_pulls "after the failed monolithic push"

# ---------------------------------------------------------------- a chunk that does not fit
HEAD1=1048576
slice "$TMP/bigc" 0 "$HEAD1" "$TMP/bigc.1"
slice "$TMP/bigc" "$HEAD1" $((BIG - HEAD1)) "$TMP/bigc.2"
upload_start "$R" || bail "cannot start the chunked session"
CLOC=$UPLOAD_LOC
req PATCH "$CLOC" "${OCT[@]}" -H "Content-Range: 0-$((HEAD1 - 1))" --data-binary "@$TMP/bigc.1"
assert_status 202 "chunked session: first 1 MiB fits"
FREE1=$(free_bytes)
req PATCH "$CLOC" "${OCT[@]}" -H "Content-Range: $HEAD1-$((BIG - 1))" --data-binary "@$TMP/bigc.2"
assert_full_error "chunked PATCH of $((BIG - HEAD1)) bytes with $FREE1 free"
req GET "$CLOC"
assert_status 204 "chunked session survives the failed PATCH"
assert_header Range "0-$((HEAD1 - 1))" "chunked session keeps only the acknowledged chunk"
no_trace "chunked push that did not fit" "$DBIGC"
no_temp "chunked push that did not fit"
space_back "chunked PATCH that did not fit" "$FREE1"
check_pulls "after the failed chunked PATCH"

# ---------------------------------------------------------------- a manifest that does not fit
fill filler2
echo "# filler2: $(fsize "$MNT/filler2") bytes; $(free_bytes) bytes free"
mkmanifest "$TMP/m2" "pushed while the disk was full $RANDOM$RANDOM"
M2=$(sha256_of "$TMP/m2")
put_manifest "$R" v2 "$TMP/m2"
assert_full_error "manifest PUT on a full disk"
req GET "/v2/$R/manifests/$M2" -H "Accept: $MT_OCI_MANIFEST"
assert_status 404 "the failed manifest is not served by digest"
req GET "/v2/$R/manifests/v2" -H "Accept: $MT_OCI_MANIFEST"
assert_status 404 "the failed manifest's tag does not exist"
assert_file_absent "$(blob_path "$M2")" "no blob file for the failed manifest"
assert_rows "SELECT count(*) FROM manifests WHERE digest='$M2'" 0 "no manifests row for the failed manifest"
assert_rows "SELECT count(*) FROM tags WHERE name='v2'" 0 "no tags row for the failed manifest"
no_temp "manifest PUT on a full disk"

# ---------------------------------------------------------------- metadata writes on a full disk
# The database cannot grow either: writes that need no blob bytes at all.
# If the write-ahead log still has room, rows go in until it has none
# (bounded); those tags must then stay.
for ((NMETA = 0; NMETA < 300; NMETA++)); do
	req PUT "/v2/$R/manifests/meta-$NMETA" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/m1"
	[ "$STATUS" = 201 ] || break
	STORED+=("tag meta-$NMETA $M1")
done
echo "# the database took $NMETA tag rows on the full disk before failing"
assert_full_error "tag PUT of a stored manifest (a metadata-only write) on a full disk"
assert_rows "SELECT count(*) FROM tags WHERE name='meta-$NMETA'" 0 "the failed tag PUT left no tags row"
assert_log "meta: .*(database or disk is full|disk I/O error)" "the daemon log names the database write that failed"

nup=$(db "SELECT count(*) FROM uploads")
req POST "/v2/$R/blobs/uploads/"
assert_full_error "upload POST (a session row only) on a full disk"
assert_rows "SELECT count(*) FROM uploads" "$nup" "the failed POST left no session row"
no_temp "upload POST on a full disk"

req DELETE "/v2/$R/manifests/v1"
assert_full_error "tag DELETE on a full disk" "507|500|503"
req GET "/v2/$R/manifests/v1" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "the tag whose DELETE failed is still there"

req PUT "$(with_query "$SLOC" "digest=$DSP")"
assert_full_error "closing PUT of a spooled session on a full disk"
req GET "/v2/$R/blobs/$DSP"
assert_status 404 "the blob of the failed closing PUT is not served"
assert_rows "SELECT count(*) FROM blobs WHERE digest='$DSP'" 0 "no blobs row for the failed closing PUT"
if [ -f "$(blob_path "$DSP")" ]; then
	assert_eq "$(sha256_of "$(blob_path "$DSP")")" "$DSP" "a blob file the failed closing PUT left (no row, not served) has the bytes of its name"
fi
req GET "$SLOC"
SP_STATUS=$STATUS SP_RANGE=$(hdr Range)
echo "# after the failed closing PUT the session answers $SP_STATUS, Range '$SP_RANGE'"

check_pulls "on a 100% full disk"
req GET "/v2/"
assert_status 200 "GET /v2/ on a full disk"

# ---------------------------------------------------------------- space freed
unfill filler2
truncate -s -2M "$MNT/filler1"
echo "# filler2 removed, filler1 2 MiB shorter: $(free_bytes) bytes free"
put_manifest "$R" v2 "$TMP/m2"
assert_status 201 "after freeing space: the manifest PUT that failed succeeds"
STORED+=("manifest - $M2" "tag v2 $M2")
req PUT "/v2/$R/manifests/meta-$NMETA" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$TMP/m1"
assert_status 201 "after freeing space: the tag PUT that failed succeeds"
STORED+=("tag meta-$NMETA $M1")
upload_start "$R" && t_pass "after freeing space: an upload POST succeeds (status 202)"
req DELETE "$UPLOAD_LOC"
assert_status 204 "after freeing space: an upload session is cancelled"
req DELETE "/v2/$R/manifests/meta-$NMETA"
assert_status 202 "after freeing space: a tag DELETE succeeds"
unset 'STORED[-1]'
req GET "/v2/$R/manifests/meta-$NMETA"
assert_status 404 "the deleted tag is gone"

# the failed closing PUT, retried: the session said where it stands
if [ "$SP_STATUS" = 204 ]; then
	req PUT "$(with_query "$SLOC" "digest=$DSP")"
	assert_status 201 "after freeing space: the closing PUT that failed, retried (the session answered 204 Range $SP_RANGE)"
fi
if [ "$STATUS" != 201 ]; then
	# what a client does when its session is gone: push again
	upload_start "$R" && req PUT "$(with_query "$UPLOAD_LOC" "digest=$DSP")" "${OCT[@]}" --data-binary "@$TMP/spooled"
	assert_status 201 "after freeing space: the blob of the failed closing PUT is pushed again in a new session"
fi
req GET "/v2/$R/blobs/$DSP"
assert_status 200 "after freeing space: the spooled blob is served"
assert_body_digest "$DSP" "after freeing space: the spooled blob"
[ "$STATUS" = 200 ] && STORED+=("blob - $DSP")

mkblob "$TMP/small" 300000
push_blob "$R" "$TMP/small"
STORED+=("blob - $(sha256_of "$TMP/small")")

unfill filler1
echo "# filler1 removed: $(free_bytes) bytes free"
# the monolithic push that did not fit, again
push_blob "$R" "$TMP/big"
req GET "/v2/$R/blobs/$DBIG"
assert_body_digest "$DBIG" "after freeing space: the big monolithic push"
[ "$STATUS" = 200 ] && STORED+=("blob - $DBIG")

# the chunked session resumes from its Range
req GET "$CLOC"
assert_status 204 "the chunked session is still there"
got=$(hdr Range)
end=${got#0-}
slice "$TMP/bigc" $((end + 1)) $((BIG - end - 1)) "$TMP/bigc.rest"
req PATCH "$CLOC" "${OCT[@]}" -H "Content-Range: $((end + 1))-$((BIG - 1))" --data-binary "@$TMP/bigc.rest"
assert_status 202 "after freeing space: the chunked session resumes from Range $got"
req PUT "$(with_query "$CLOC" "digest=$DBIGC")"
assert_status 201 "after freeing space: the chunked session closes"
assert_header Docker-Content-Digest "$DBIGC" "after freeing space: the chunked session closes"
req GET "/v2/$R/blobs/$DBIGC"
assert_body_digest "$DBIGC" "after freeing space: the chunked blob"
[ "$STATUS" = 200 ] && STORED+=("blob - $DBIGC")

check_pulls "after freeing space"
no_temp "at the end"

# ---------------------------------------------------------------- the store is consistent
bad=()
while IFS='|' read -r d sz; do
	f=$(blob_path "$d")
	if [ ! -f "$f" ]; then
		bad+=("blobs row $d: no file")
	elif [ "$(fsize "$f")" != "$sz" ] || [ "$(sha256_of "$f")" != "$d" ]; then
		bad+=("blobs row $d: the file has $(fsize "$f") bytes hashing to $(sha256_of "$f")")
	fi
done < <(db "SELECT digest, size FROM blobs")
while read -r d; do
	[ -f "$(blob_path "$d")" ] || bad+=("manifests row $d: no file")
done < <(db "SELECT DISTINCT digest FROM manifests")
while IFS='|' read -r id sz; do
	[ -f "$ROOT/uploads/$id" ] || bad+=("uploads row $id (size $sz): no spool file")
done < <(db "SELECT id, size FROM uploads")
if [ ${#bad[@]} -eq 0 ]; then
	t_pass "no blobs, manifests or uploads row points at a missing file; blob files hash to their names"
else
	t_fail "no blobs, manifests or uploads row points at a missing file; blob files hash to their names" "$(printf '%s\n' "${bad[@]}")"
fi
assert_eq "$(db 'PRAGMA integrity_check')" ok "meta.db integrity_check"

e2e_finish
