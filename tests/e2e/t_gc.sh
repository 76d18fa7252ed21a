#!/usr/bin/env bash
# t_gc.sh — garbage collection over HTTP with `ociregd gc` while the daemon
# runs: tagged, untagged (old and young), index children, referrers whose
# subject is alive or dead, a layer shared between repositories (mounted),
# an unreferenced blob, retention (keep_last, keep_tags), a stale upload
# session.  `gc --dry-run` changes nothing and lists exactly what the real
# run then removes; afterwards removed things are 404 and gone from disk,
# and everything still referenced pulls with the right digest.  Then the
# daemon's own collector ([gc] interval) and a prompt SIGTERM.  Ages are set
# with sqlite3 while the daemon is stopped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
e2e_config
cat >>"$CONF" <<EOF
[gc]
untagged = delete
untagged_grace = 1h
grace = 1h
[storage]
upload_expiry = 1h
[retention "ret/*"]
keep_last = 1
keep_tags = keep-*
EOF
daemon_start

W=$TMP/w
mkdir -p "$W"
A=team/app
O=team/other
RT=ret/x

# mkimg OUT CONFIG LAYER...: an image manifest for these files.
mkimg() {
	local out=$1 cfg=$2 layers= f
	shift 2
	for f; do layers="$layers${layers:+,}$(desc $MT_OCI_LAYER "$f")"; done
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc $MT_OCI_CONFIG "$cfg")" "$layers" >"$out"
}
# mkindex OUT MANIFEST...: an index of these manifest files.
mkindex() {
	local out=$1 ms= f
	shift
	for f; do ms="$ms${ms:+,}$(desc $MT_OCI_MANIFEST "$f")"; done
	printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_OCI_INDEX" "$ms" >"$out"
}
# mkref OUT SUBJECT-FILE DATA-FILE: an artifact whose subject is SUBJECT.
mkref() {
	local fmt='{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig",'
	fmt+='"config":{"mediaType":"%s","digest":"%s","size":2},"layers":[%s],"subject":%s}'
	# shellcheck disable=SC2059
	printf "$fmt" "$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" \
		"$(desc application/vnd.example.data "$3")" "$(desc $MT_OCI_MANIFEST "$2")" >"$1"
}
d() { sha256_of "$W/$1"; }

# ---------------------------------------------------------------- the registry
blob_json $A "$W/cfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
blob_json $A "$W/empty" '{}'
for i in 1 2 3 4 5; do
	mkblob "$W/l$i" $((3000 + i))
	push_blob $A "$W/l$i"
done
mkblob "$W/x" 5000
push_blob $A "$W/x"			# referenced by nothing
mkblob "$W/sig1" 100
mkblob "$W/sig2" 101
push_blob $A "$W/sig1"
push_blob $A "$W/sig2"

mkimg "$W/m1" "$W/cfg" "$W/l1" "$W/l2"
push_manifest $A v1 "$W/m1"		# tagged
mkimg "$W/m2" "$W/cfg" "$W/l3"
push_manifest $A "$(d m2)" "$W/m2"	# untagged
mkimg "$W/k1" "$W/cfg" "$W/l4"
mkimg "$W/k2" "$W/cfg" "$W/l1"
push_manifest $A "$(d k1)" "$W/k1"
push_manifest $A "$(d k2)" "$W/k2"
mkindex "$W/i1" "$W/k1" "$W/k2"
push_manifest $A multi "$W/i1"		# tagged index: children live
mkimg "$W/k3" "$W/cfg" "$W/l5"
push_manifest $A "$(d k3)" "$W/k3"
mkindex "$W/i2" "$W/k3"
push_manifest $A "$(d i2)" "$W/i2"	# untagged index: it and its child go
mkref "$W/r1" "$W/m1" "$W/sig1"
push_manifest $A "$(d r1)" "$W/r1"	# subject alive
mkref "$W/r2" "$W/m2" "$W/sig2"
push_manifest $A "$(d r2)" "$W/r2"	# subject dead

# A layer shared with another repository (mounted).
req POST "/v2/$O/blobs/uploads/?mount=$(d l1)&from=$A"
assert_status 201 "mount l1 into $O"
blob_json $O "$W/cfg2" '{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
mkimg "$W/o1" "$W/cfg2" "$W/l1"
push_manifest $O latest "$W/o1"

# Retention: keep the newest tag and keep-*.
blob_json $RT "$W/rcfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
for t in old1 old2 new keep-me; do
	mkblob "$W/rl-$t" 2000
	push_blob $RT "$W/rl-$t"
	mkimg "$W/rm-$t" "$W/rcfg" "$W/rl-$t"
	push_manifest $RT $t "$W/rm-$t"
done

# A session that was started and abandoned.
upload_start $A
STALE=$UPLOAD_ID
req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' --data-binary "@$W/l1"
assert_status 202 "a chunk to the session that will be abandoned"

# ---------------------------------------------------------------- ages
daemon_stop
NOW=$(date +%s)
db "UPDATE manifests SET created = $NOW - 2*86400; UPDATE repo_blobs SET created = $NOW - 2*86400;
    UPDATE blobs SET created = $NOW - 2*86400; UPDATE tags SET updated = $NOW - 2*86400;
    UPDATE uploads SET updated = $NOW - 7200" >/dev/null
rid=$(repo_id $RT)
for tv in old1:4 old2:3 new:2 keep-me:5; do
	db "UPDATE tags SET updated = $NOW - ${tv#*:}*86400 WHERE repo_id = $rid AND name = '${tv%%:*}'" >/dev/null
done
daemon_start
# Young: pushed now, for a manifest that has not come yet.
mkblob "$W/y" 700
push_blob $A "$W/y"
# (issue 20) Young, and kept only by a grace period, which --dry-run says:
# an untagged manifest (untagged_grace, from its push), and a blob whose
# only link was deleted (grace, from when the content was stored).
mkimg "$W/ym" "$W/cfg" "$W/l2"
push_manifest $A "$(d ym)" "$W/ym"
mkblob "$W/yb" 600
push_blob $A "$W/yb"
req DELETE "/v2/$A/blobs/$(d yb)"
assert_status 202 "delete the only link of a young blob"
# 150 s old: what was written in the collection's first second counts as
# pushed during the run, not as young.
NOW=$(date +%s)
db "UPDATE manifests SET created = $NOW - 150 WHERE digest = '$(d ym)';
    UPDATE repo_blobs SET created = $NOW - 150 WHERE digest IN ('$(d y)', '$(d ym)');
    UPDATE blobs SET created = $NOW - 150 WHERE digest IN ('$(d y)', '$(d yb)', '$(d ym)')" >/dev/null

# What goes: in team/app m2, k3, i2, r2 and their own bytes, l3, l5, x,
# sig2; in ret/x the tags old1 and old2 and their images.
GONE_MANIFESTS="$A@$(d m2) $A@$(d k3) $A@$(d i2) $A@$(d r2) $RT@$(d rm-old1) $RT@$(d rm-old2)"
GONE_BLOBS="$(d l3) $(d l5) $(d x) $(d sig2) $(d m2) $(d k3) $(d i2) $(d r2) $(d rl-old1) $(d rl-old2) $(d rm-old1) $(d rm-old2)"
KEPT_BLOBS="$(d cfg) $(d empty) $(d l1) $(d l2) $(d l4) $(d y) $(d ym) $(d yb) $(d sig1) $(d m1) $(d k1) $(d k2) $(d i1) $(d r1) $(d o1) $(d cfg2) $(d rcfg) $(d rl-new) $(d rl-keep-me) $(d rm-new) $(d rm-keep-me)"

snapshot() {
	db "SELECT (SELECT count(*) FROM manifests), (SELECT count(*) FROM tags),
	    (SELECT count(*) FROM repo_blobs), (SELECT count(*) FROM blobs), (SELECT count(*) FROM uploads)"
	store_listing | md5sum
}

# ---------------------------------------------------------------- dry run
before=$(snapshot)
DRY=$("$OCIREGD" gc -c "$CONF" --dry-run 2>"$TMP/gc.err")
assert_eq "$?" 0 "gc --dry-run exits 0"
assert_eq "$(snapshot)" "$before" "gc --dry-run changes no row and no file"
assert_match "$DRY" '^gc: dry run, nothing is changed' "gc --dry-run says so first"
assert_match "$DRY" "gc: would remove 2 tags, 6 manifests, [0-9]+ blob links, 12 blobs \\([0-9.]+ KiB\\), 1 upload" "gc --dry-run summary"
printf '%s\n' "$DRY" >"$TMP/dry.out"
# What only a grace period keeps, with its age and which grace.
assert_match "$DRY" "^kept: manifest $(d ym) [0-9.]+ (B|KiB) $A: untagged, 2m since pushed \\(untagged_grace 1h\\)$" \
	"--dry-run lists the young untagged manifest as kept by untagged_grace, with its age"
assert_match "$DRY" "^kept: link +$(d y) 700 B $A: no manifest in the repository references it, 2m since linked \\(grace 1h\\)$" \
	"--dry-run lists the young unreferenced link as kept by grace, with its age"
assert_match "$DRY" "^kept: blob +$(d yb) 600 B -: no repository holds it, 2m since stored \\(grace 1h\\)$" \
	"--dry-run lists the young unlinked blob as kept by grace, with its age"
assert_eq "$(grep -c '^kept: ' "$TMP/dry.out")" 3 "--dry-run lists nothing else as kept"
assert_match "$DRY" "would be freed in [0-9.]+ s; kept by grace: 1 manifest, 1 blob link, 1 blob$" \
	"--dry-run's summary counts what grace keeps"

# On a terminal, progress (items and bytes of the total, rate) on one line.
if command -v script >/dev/null; then
	script -qec "$OCIREGD gc -c $CONF --dry-run" /dev/null >"$TMP/tty.out" 2>&1
	if grep -q $'\r''gc: manifests: [0-9]*/6, ' "$TMP/tty.out" && grep -q $'\r''gc: blobs: [0-9]*/12, [0-9.]* [KM]\?i\?B/' "$TMP/tty.out"; then
		t_pass "on a terminal gc shows progress"
	else
		t_fail "on a terminal gc shows progress" "$(od -c "$TMP/tty.out" | head -n 10)"
	fi
	assert_eq "$(snapshot)" "$before" "gc --dry-run on a terminal changes nothing either"
	grep -q $'\r' "$TMP/dry.out" && t_fail "without a terminal gc prints no progress"
fi

# ---------------------------------------------------------------- the run
OUT=$("$OCIREGD" gc -c "$CONF" 2>"$TMP/gc.err")
assert_eq "$?" 0 "gc exits 0 while the daemon runs"
printf '%s\n' "$OUT" >"$TMP/gc.out"
assert_match "$OUT" "gc: removed 2 tags, 6 manifests, [0-9]+ blob links, 12 blobs \\([0-9.]+ KiB\\), 1 upload" "gc summary"
assert_eq "$(grep -v '^gc:\|^kept: ' "$TMP/gc.out" | LC_ALL=C sort)" "$(grep -v '^gc:\|^kept: ' "$TMP/dry.out" | LC_ALL=C sort)" \
	"the dry run listed exactly what the run removed"
assert_eq "$(tail -n 1 "$TMP/gc.out" | sed 's/ in [0-9.]* s//; s/removed/X/; s/ freed//')" \
	"$(tail -n 1 "$TMP/dry.out" | sed 's/ in [0-9.]* s//; s/would remove/X/; s/ would be freed//')" \
	"the dry run's totals are the run's"
[ -s "$TMP/gc.err" ] && t_fail "gc writes nothing to stderr" "$(head -n 5 "$TMP/gc.err")"
assert_match "$OUT" "; kept by grace: 1 manifest, 1 blob link, 1 blob$" "the run's summary counts what grace kept"
assert_eq "$(grep '^kept: ' "$TMP/gc.out" | LC_ALL=C sort)" \
	"$(grep '^kept: ' "$TMP/dry.out" | LC_ALL=C sort)" "the run kept what the dry run said grace keeps"

# Lines explain themselves.
assert_match "$OUT" "manifest $(d m2) [0-9.]+ (B|KiB) $A: untagged for more than 1h \\(untagged = delete\\)" "m2: untagged"
assert_match "$OUT" "manifest $(d k3) .* $A: child of index $(d i2), which is removed" "k3: child of a removed index"
assert_match "$OUT" "manifest $(d r2) .* $A: referrer of $(d m2), which is removed" "r2: referrer of a removed subject"
assert_match "$OUT" "tag +$(d rm-old1) - $RT:old1: retention \"ret/\\*\": not among the newest keep_last=1" "old1: retention"
assert_match "$OUT" "manifest $(d rm-old2) .* $RT: its last tag goes by retention \"ret/\\*\"" "old2's image: retention"
assert_match "$OUT" "link +$(d x) .* $A: no manifest in the repository references it" "x: unreferenced link"
assert_match "$OUT" "link +$(d m2) .* $A: the bytes of a manifest removed above" "m2's own bytes leave $A"
assert_match "$OUT" "blob +$(d x) 4.9 KiB -: no repository holds it" "x: blob removed"
assert_match "$OUT" "upload +$STALE .* $A: upload session idle for more than 1h" "stale upload session"

# ---------------------------------------------------------------- after
for rm in $GONE_MANIFESTS; do
	req GET "/v2/${rm%@*}/manifests/${rm#*@}"
	assert_status_error 404 MANIFEST_UNKNOWN "removed manifest ${rm#*@} is gone from ${rm%@*}"
done
for b in $GONE_BLOBS; do
	assert_blob_absent "$b" "file of removed blob ${b:7:12} is gone"
	assert_rows "SELECT count(*) FROM blobs WHERE digest = '$b'" 0 "row of removed blob ${b:7:12} is gone"
done
for f in l3 l5 x; do
	req GET "/v2/$A/blobs/$(d $f)"
	assert_status_error 404 BLOB_UNKNOWN "removed blob $f is 404"
done
for b in $KEPT_BLOBS; do
	assert_blob_stored "$b" "file of kept blob ${b:7:12} is there"
done
# Everything still referenced pulls, with the right bytes.
pull() {	# REPO REF FILE
	req GET "/v2/$1/manifests/$2" -H "Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX"
	assert_status 200 "pull $1:${2:0:19}"
	assert_body_digest "$(sha256_of "$3")" "pull $1:${2:0:19}"
}
pullblob() {	# REPO FILE
	req GET "/v2/$1/blobs/$(sha256_of "$2")"
	assert_status 200 "blob $(basename "$2") in $1"
	assert_body_digest "$(sha256_of "$2")" "blob $(basename "$2") in $1"
}
pull $A v1 "$W/m1"
pull $A multi "$W/i1"
pull $A "$(d k1)" "$W/k1"
pull $A "$(d k2)" "$W/k2"
pull $A "$(d r1)" "$W/r1"
pull $O latest "$W/o1"
pull $RT new "$W/rm-new"
pull $RT keep-me "$W/rm-keep-me"
for f in cfg empty l1 l2 l4 sig1 y; do pullblob $A "$W/$f"; done
for f in cfg2 l1; do pullblob $O "$W/$f"; done
for f in rcfg rl-new rl-keep-me; do pullblob $RT "$W/$f"; done
req GET "/v2/$A/referrers/$(d m1)"
assert_json '[.manifests[].digest]' "[\"$(d r1)\"]" "the live subject keeps its referrer"
req GET "/v2/$RT/tags/list"
assert_json '.tags' '["keep-me","new"]' "retention left the newest tag and keep-*"
req GET "/v2/$A/blobs/uploads/$STALE"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "the stale upload session is gone"
assert_upload_absent "$STALE" "the stale session's spool (upload objects, multipart upload) is gone"
assert_rows "SELECT count(*) FROM manifest_refs f WHERE NOT EXISTS (SELECT 1 FROM manifests m
    WHERE m.repo_id = f.repo_id AND m.digest = f.digest)" 0 "no references of removed manifests remain"

# A second run finds nothing.
OUT=$("$OCIREGD" gc -c "$CONF" 2>&1)
assert_match "$OUT" '^gc: removed 0 tags, 0 manifests, 0 blob links, 0 blobs \(0 B\), 0 uploads' "a second gc removes nothing"
assert_no_5xx "no 5xx during the collections"

# ---------------------------------------------------------------- fsck agrees
OUT=$("$OCIREGD" fsck -c "$CONF" 2>&1)
assert_eq "$?" 0 "fsck after gc: exit 0"
assert_match "$OUT" 'no problems$' "fsck after gc: no problems"

# ---------------------------------------------------------------- zero grace is zero
# (issue 14) With untagged_grace = 0s and grace = 0s, deleting a tag and
# collecting in the same second removes the manifest and its blobs: ages are
# whole seconds, so a zero-grace collection starts at the next second.
# The young manifest kept by grace above would go too: out of the way.
req DELETE "/v2/$A/manifests/$(d ym)"
assert_status 202 "delete the young untagged manifest"
cp "$CONF" "$W/zero.ini"
sed -i 's/^untagged_grace = 1h$/untagged_grace = 0s/; s/^grace = 1h$/grace = 0s/' "$W/zero.ini"
blob_json zero/app "$W/zcfg" '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"z":0}'
mkblob "$W/zl" 1500
push_blob zero/app "$W/zl"
mkimg "$W/zm" "$W/zcfg" "$W/zl"
# Start right after a second boundary, so the push, the delete and the start
# of the collection share one second (the case whole-second ages got wrong).
for ((n = 0; n < 300; n++)); do
	[ "$((10#$(date +%N) / 1000000))" -lt 150 ] && break
	sleep 0.01
done
push_manifest zero/app now "$W/zm"
ZM=$(d zm)
ZL=$(d zl)
req DELETE /v2/zero/app/manifests/now
assert_status 202 "delete the tag zero/app:now"
s0=$(date +%s)
OUT=$("$OCIREGD" gc -c "$W/zero.ini" 2>&1)
s1=$(date +%s)
assert_match "$OUT" "manifest +$ZM [^:]* zero/app: untagged for more than 0s" "gc right after the delete (second $s0 -> $s1) removes the untagged manifest"
assert_match "$OUT" "blob +$ZL .*no repository holds it" "... and its layer"
assert_match "$OUT" "gc: removed 0 tags, 1 manifest," "... one manifest in all"
req GET "/v2/zero/app/manifests/$ZM"
assert_status 404 "the collected manifest is 404"
assert_blob_absent "$ZL" "the collected layer's file is gone"
assert_rows "SELECT count(*) FROM manifests WHERE digest = '$ZM'" 0 "no manifest row remains"

# (issue 19) The collection waits for the next second only when a row was
# written in the current one (one indexed lookup per table).  Written in
# this second: only a blob link and its blob row (no manifest, no tag), so
# a lookup that missed them would start in this second and spare them.
sed 's/^log_level = .*/log_level = debug/' "$W/zero.ini" >"$W/zerod.ini"
mkblob "$W/zb" 1700
ZB=$(d zb)
for ((n = 0; n < 300; n++)); do
	[ "$((10#$(date +%N) / 1000000))" -lt 150 ] && break
	sleep 0.01
done
push_blob zero/blob "$W/zb"
s0=$(date +%s)
OUT=$("$OCIREGD" gc -c "$W/zerod.ini" 2>&1)
s1=$(date +%s)
assert_match "$OUT" "rows written in the current second: the collection begins at the next" "a blob pushed in the collection's second makes it wait for the next (second $s0 -> $s1)"
assert_match "$OUT" "link +$ZB .*zero/blob: no manifest in the repository references it" "... and its link goes"
assert_match "$OUT" "blob +$ZB .*no repository holds it" "... and the blob"
assert_blob_absent "$ZB" "the blob pushed in the collection's second is gone"
assert_rows "SELECT count(*) FROM repo_blobs WHERE digest = '$ZB'" 0 "no link row remains"
# Nothing written since the last second began: no wait.
for ((n = 0; n < 300; n++)); do
	[ "$(date +%s)" -gt "$s1" ] && [ "$((10#$(date +%N) / 1000000))" -lt 500 ] && break
	sleep 0.01
done
t0=$(date +%s%N)
OUT=$("$OCIREGD" gc -c "$W/zerod.ini" 2>&1)
t1=$(date +%s%N)
assert_match "$OUT" "no row written in the current second: the collection begins in it" "nothing written in the current second: no wait"
# The deletions hold the database's write lock, which pushes wait for on
# their workers' loops: they run on a thread at the priority gc started
# with, the mark and listings 10 nice levels below it (at most 19).
n0=$(nice)
n1=$((n0 + 10 > 19 ? 19 : n0 + 10))
assert_match "$OUT" "gc: the deletions run at nice $n0, the rest at nice $n1\$" "the deletions at gc's own priority ($n0), the rest at $n1"
assert_match "$OUT" '^gc: removed 0 tags, 0 manifests, 0 blob links, 0 blobs' "... and nothing to remove"
assert_eq "$(( (t1 - t0) / 1000000 < 500 ))" 1 "... done within the second it began ($(( (t1 - t0) / 1000000 )) ms)"

# ---------------------------------------------------------------- the daemon's collector
mkblob "$W/z" 900
push_blob $A "$W/z"
Z=$(d z)
daemon_stop
# A database nobody has open has no write-ahead log; the collector's own
# open creates an empty one, which is no write: no wait either.
s2=$(date +%s)
for ((n = 0; n < 300; n++)); do
	[ "$(date +%s)" -gt "$s2" ] && break
	sleep 0.01
done
OUT=$("$OCIREGD" gc --dry-run -c "$W/zerod.ini" 2>&1)
assert_match "$OUT" "no row written in the current second: the collection begins in it" "daemon stopped, a second later: the collection begins at once"
db "UPDATE repo_blobs SET created = created - 7200 WHERE digest = '$Z';
    UPDATE blobs SET created = created - 7200 WHERE digest = '$Z'" >/dev/null
printf '[gc]\ninterval = 1s\n' >>"$CONF"
daemon_start
assert_log 'gc: collecting every 1s' "the daemon starts its collector"
for ((n = 0; n < 50; n++)); do
	blob_exists "$Z" || break
	sleep 0.1
done
assert_blob_absent "$Z" "the daemon's collector removed an unreferenced blob"
assert_log "gc: removed blob $Z" "the daemon logs what it removed"
assert_log 'gc: removed 0 tags, 0 manifests, 1 blob link, 1 blob' "the daemon logs its summary"
# (issue 20) /metrics: the collector's runs, and what they removed in all.
T_SCRAPE=$(date +%s)
req GET /metrics
assert_status 200 "GET /metrics with the collector on"
cp "$BODY" "$TMP/gcm"
mv_() { awk -v k="$1" '$1 == k {v = $2} END {print (v == "" ? "absent" : v)}' "$TMP/gcm"; }
assert_match "$(mv_ ociregd_gc_runs_total)" '^[1-9][0-9]*$' "ociregd_gc_runs_total counts the collector's runs"
assert_eq "$(mv_ 'ociregd_gc_removed_total{kind="blob"}')" 1 "ociregd_gc_removed_total{kind=blob}: the one blob"
assert_eq "$(mv_ 'ociregd_gc_removed_total{kind="link"}')" 1 "ociregd_gc_removed_total{kind=link}: its one link"
assert_eq "$(mv_ 'ociregd_gc_removed_total{kind="manifest"}')" 0 "ociregd_gc_removed_total{kind=manifest}: none"
assert_eq "$(mv_ ociregd_gc_freed_bytes_total)" 900 "ociregd_gc_freed_bytes_total: the blob's 900 bytes"
GS=$(mv_ ociregd_gc_last_start_time_seconds)
GE=$(mv_ ociregd_gc_last_end_time_seconds)
GD=$(mv_ ociregd_gc_last_duration_seconds)
if awk -v s="$GS" -v e="$GE" -v d="$GD" -v now="$T_SCRAPE" 'BEGIN {
	exit !(s > now - 60 && e >= s && e <= now + 1 && d >= 0 && d <= e - s + 0.01) }'; then
	t_pass "last collection: start $GS <= end $GE <= the scrape, duration $GD"
else
	t_fail "last collection's times are sane" "start $GS, end $GE, duration $GD, scrape at $T_SCRAPE"
fi
assert_match "$(mv_ 'ociregd_gc_last_removed{kind="blob"}')" '^[01]$' "ociregd_gc_last_removed{kind=blob}: the last run's"
pullblob $A "$W/l1"
daemon_stop

# A long interval does not delay SIGTERM.
sed -i 's/^interval = 1s$/interval = 1h/' "$CONF"
daemon_start
t0=$(date +%s%N)
daemon_stop
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$ms" -lt 3000 ]; then
	t_pass "SIGTERM stops the daemon with a 1h collector interval at once (${ms} ms)"
else
	t_fail "SIGTERM stops the daemon with a 1h collector interval at once" "took ${ms} ms"
fi

e2e_finish
