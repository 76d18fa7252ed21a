#!/usr/bin/env bash
# t_gc_stress.sh — garbage collection races pushes.  For STRESS_SECONDS
# (default 40) several writers push in parallel with `ociregd gc` in a
# loop ([gc] grace = 0s, untagged = delete, untagged_grace = 0s):
#   - curl writers: images of a unique layer, a config and a layer of the
#     current "epoch" (the same bytes pushed by every writer for a few
#     seconds, then garbage), pushed monolithically, in chunks, or by
#     mount from another repository; some images are untagged again at
#     once (DELETE of the tag), so their layers become garbage while other
#     writers push the same bytes;
#   - an index writer: two children by digest, then the index by tag;
#   - a churn writer: one tag overwritten again and again;
#   - skopeo copies of small OCI layouts made by mkimage (if installed).
# Afterwards every push that succeeded (2xx / exit 0) pulls back intact:
# the tag resolves to the pushed digest and every manifest and blob it
# reaches has the bytes of its digest.  So do all remaining tags.  fsck
# finds no row without its file, no corrupt blob and no manifest whose
# blobs are missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
SECONDS_TOTAL=${STRESS_SECONDS:-40}
E2E_WORKERS=${E2E_WORKERS:-2}
E2E_SYNC=${E2E_SYNC:-false}
e2e_config
cat >>"$CONF" <<EOF
[gc]
untagged = delete
untagged_grace = 0s
grace = 0s
EOF
daemon_start

W=$TMP/w
RES=$TMP/results
mkdir -p "$W" "$RES"
REPOS=(stress/a stress/b stress/c)
DEADLINE=$(($(date +%s) + SECONDS_TOTAL))

# ---------------------------------------------------------------- helpers (writers)
V=$TMP/v
mkdir -p "$V"
# check_ref REPO REF [WANT]: the manifest REF resolves (to WANT) and every
# manifest and blob it reaches has the bytes of its digest.  Prints one
# line per problem.
check_ref() {
	local repo=$1 ref=$2 want=${3:-} f=$V/m.$BASHPID bf=$V/b.$BASHPID st got b ct
	st=$(curl -s --max-time 30 -o "$f" -w '%{http_code}' \
		-H "Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX" "$BASE/v2/$repo/manifests/$ref")
	if [ "$st" != 200 ]; then
		echo "$repo:$ref: manifest GET $st"
		return
	fi
	got=$(sha256_of "$f")
	if [ -n "$want" ] && [ "$got" != "$want" ]; then
		echo "$repo:$ref: manifest is $got, pushed $want"
		return
	fi
	case $ref in sha256:*) [ "$got" = "$ref" ] || { echo "$repo@$ref: bytes hash to $got"; return; } ;; esac
	ct=$(jq -r .mediaType "$f")
	if [ "$ct" = "$MT_OCI_INDEX" ]; then
		for b in $(jq -r '.manifests[].digest' "$f"); do
			check_ref "$repo" "$b"
		done
		return
	fi
	for b in $(jq -r '.config.digest, .layers[].digest' "$f"); do
		st=$(curl -s --max-time 30 -o "$bf" -w '%{http_code}' "$BASE/v2/$repo/blobs/$b")
		if [ "$st" != 200 ]; then
			echo "$repo:$ref: blob $b GET $st"
		elif [ "$(sha256_of "$bf")" != "$b" ]; then
			echo "$repo:$ref: blob $b has other bytes"
		fi
	done
}

# http METHOD URL [curl args...]: prints the status code; headers in $H.
http() {
	local m=$1 u=$2
	shift 2
	curl -s -o /dev/null -D "$H" -w '%{http_code}' --max-time 30 -X "$m" "$@" "$u" </dev/null
}
hget() { awk -v n="$1" 'BEGIN{n=tolower(n)} {sub(/\r$/,"")} tolower($0) ~ "^"n":" {sub(/^[^:]*:[ \t]*/,""); v=$0} END{print v}' "$H"; }

# push_file REPO FILE MODE: 0 if the blob is in REPO afterwards (201).
push_file() {
	local repo=$1 f=$2 mode=$3 d st loc other
	d=$(sha256_of "$f")
	case $mode in
	mount)
		other=${REPOS[RANDOM % ${#REPOS[@]}]}
		st=$(http POST "$BASE/v2/$repo/blobs/uploads/?mount=$d&from=$other")
		[ "$st" = 201 ] && return 0
		[ "$st" = 202 ] || return 1
		loc=$(loc_url "$(hget Location)")
		st=$(http PUT "$(with_query "$loc" "digest=$d")" -H 'Content-Type: application/octet-stream' \
			--data-binary "@$f")
		;;
	chunked)
		st=$(http POST "$BASE/v2/$repo/blobs/uploads/")
		[ "$st" = 202 ] || return 1
		loc=$(loc_url "$(hget Location)")
		st=$(http PATCH "$loc" -H 'Content-Type: application/octet-stream' --data-binary "@$f")
		[ "$st" = 202 ] || return 1
		loc=$(loc_url "$(hget Location)")
		st=$(http PUT "$(with_query "$loc" "digest=$d")")
		;;
	*)
		st=$(http POST "$BASE/v2/$repo/blobs/uploads/?digest=$d" \
			-H 'Content-Type: application/octet-stream' --data-binary "@$f")
		;;
	esac
	[ "$st" = 201 ]
}

# epoch_layer K FILE: the K-th layer of the current 3-second epoch: the
# same bytes for every writer during the epoch.
epoch_layer() {
	local e=$(($(date +%s) / 3))
	yes "epoch $e layer $1" | head -c $((1500 + $1 * 100)) >"$2"
}

# mkimg OUT CONFIG LAYER...
mkimg() {
	local out=$1 cfg=$2 layers= f
	shift 2
	for f; do layers="$layers${layers:+,}$(desc $MT_OCI_LAYER "$f")"; done
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc $MT_OCI_CONFIG "$cfg")" "$layers" >"$out"
}

# put REPO REF FILE: 0 on 201.
put() {
	local ct
	ct=$(jq -r .mediaType "$3")
	[ "$(http PUT "$BASE/v2/$1/manifests/$2" -H "Content-Type: $ct" --data-binary "@$3")" = 201 ]
}

# image WD REPO: build and push one image's blobs; its manifest in WD/m.
image() {
	local wd=$1 repo=$2 modes=(mono mono chunked mount) k
	head -c $((1000 + RANDOM % 3000)) /dev/urandom >"$wd/u"
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":"%s"}' \
		"$wd-$RANDOM-$RANDOM" >"$wd/c"
	k=$((RANDOM % 3))
	epoch_layer $k "$wd/e"
	push_file "$repo" "$wd/c" mono &&
		push_file "$repo" "$wd/u" "${modes[RANDOM % 3]}" &&
		push_file "$repo" "$wd/e" "${modes[RANDOM % 4]}" || return 1
	mkimg "$wd/m" "$wd/c" "$wd/u" "$wd/e"
}

writer() {
	local id=$1 wd=$W/w$1 n=0 ok=0 fail=0 retired=0 repo tag d
	RANDOM=$((id * 7919 + $$))
	H=$wd/h
	mkdir -p "$wd"
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		n=$((n + 1))
		repo=${REPOS[RANDOM % ${#REPOS[@]}]}
		tag=w$id-$n
		if ! image "$wd" "$repo" || ! put "$repo" "$tag" "$wd/m"; then
			fail=$((fail + 1))
			continue
		fi
		d=$(sha256_of "$wd/m")
		if [ $((RANDOM % 2)) = 0 ]; then
			check_ref "$repo" "$tag" "$d" >>"$RES/problems.$id"
		fi
		if [ $((RANDOM % 2)) = 0 ] && [ "$(http DELETE "$BASE/v2/$repo/manifests/$tag")" = 202 ]; then
			# Untagged again at once: garbage for the next collection.
			retired=$((retired + 1))
			continue
		fi
		ok=$((ok + 1))
		echo "$repo $tag $d" >>"$RES/ok.$id"
	done
	echo "$n $ok $fail $retired" >"$RES/count.$id"
}

index_writer() {
	local wd=$W/ix n=0 ok=0 fail=0 repo tag d ms
	RANDOM=$$
	H=$wd/h
	mkdir -p "$wd"
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		n=$((n + 1))
		repo=${REPOS[RANDOM % ${#REPOS[@]}]}
		tag=ix-$n
		# Children by digest (untagged until the index comes: with
		# untagged_grace = 0s a collection may take them first, and
		# then the index push fails, which is fine).
		if ! image "$wd" "$repo" || ! cp "$wd/m" "$wd/m1" || ! put "$repo" "$(sha256_of "$wd/m1")" "$wd/m1" ||
			! image "$wd" "$repo" || ! cp "$wd/m" "$wd/m2" || ! put "$repo" "$(sha256_of "$wd/m2")" "$wd/m2"; then
			fail=$((fail + 1))
			continue
		fi
		ms="$(desc $MT_OCI_MANIFEST "$wd/m1"),$(desc $MT_OCI_MANIFEST "$wd/m2")"
		printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s]}' "$MT_OCI_INDEX" "$ms" >"$wd/i"
		if ! put "$repo" "$tag" "$wd/i"; then
			fail=$((fail + 1))
			continue
		fi
		ok=$((ok + 1))
		echo "$repo $tag $(sha256_of "$wd/i")" >>"$RES/ok.ix"
	done
	echo "$n $ok $fail 0" >"$RES/count.ix"
}

churn_writer() {
	local wd=$W/ch n=0 ok=0 fail=0 repo
	RANDOM=$(($$ + 17))
	H=$wd/h
	mkdir -p "$wd"
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		n=$((n + 1))
		repo=${REPOS[RANDOM % ${#REPOS[@]}]}
		if image "$wd" "$repo" && put "$repo" churn "$wd/m"; then
			ok=$((ok + 1))
		else
			fail=$((fail + 1))
		fi
	done
	echo "$n $ok $fail 0" >"$RES/count.ch"
}

# Layouts 0 and 1 stay tagged; 2 and 3 are checked and untagged again at
# once, so their blobs are garbage whenever skopeo pushes them again (and
# skopeo skips a blob the registry says it has: a HEAD, then the manifest).
skopeo_writer() {
	local id=$1 n=0 ok=0 fail=0 retired=0 repo tag k
	RANDOM=$(($$ + 31 * id))
	H=$W/sk$id.h
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		n=$((n + 1))
		repo=${REPOS[RANDOM % ${#REPOS[@]}]}
		tag=sk$id-$n
		k=$((RANDOM % NLAYOUTS))
		if ! timeout 60 skopeo copy --quiet --dest-tls-verify=false "oci:$W/layout$k:latest" \
			"docker://127.0.0.1:$PORT/$repo:$tag" >>"$RES/skopeo.$id.log" 2>&1 </dev/null; then
			fail=$((fail + 1))
			continue
		fi
		if [ $k -ge 2 ]; then
			check_ref "$repo" "$tag" "${LAYOUT_DIGEST[k]}" >>"$RES/problems.sk$id"
			http DELETE "$BASE/v2/$repo/manifests/$tag" >/dev/null
			retired=$((retired + 1))
			continue
		fi
		ok=$((ok + 1))
		echo "$repo $tag ${LAYOUT_DIGEST[k]}" >>"$RES/ok.sk$id"
	done
	echo "$n $ok $fail $retired" >"$RES/count.sk$id"
}

gc_loop() {
	local runs=0 bad=0 rc
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		"$OCIREGD" gc -c "$CONF" >>"$RES/gc.out" 2>>"$RES/gc.err" </dev/null
		rc=$?
		runs=$((runs + 1))
		[ $rc -eq 0 ] || { bad=$((bad + 1)); echo "gc run $runs: exit $rc" >>"$RES/gc.err"; }
	done
	echo "$runs $bad" >"$RES/count.gc"
}

# ---------------------------------------------------------------- go
SKOPEO=0
NLAYOUTS=0
declare -a LAYOUT_DIGEST
if command -v skopeo >/dev/null; then
	SKOPEO=1
	CL=$TMP/clients
	mkdir -p "$CL"/{home,cfg,tmp}
	export HOME=$CL/home XDG_CONFIG_HOME=$CL/cfg TMPDIR=$CL/tmp
	printf 'unqualified-search-registries = []\n' >"$CL/registries.conf"
	export CONTAINERS_REGISTRIES_CONF=$CL/registries.conf
	NLAYOUTS=4
	for k in 0 1 2 3; do
		LAYOUT_DIGEST[k]=$("$E2E_DIR/mkimage" "$W/layout$k" 2 16 amd64)
	done
fi
DEADLINE=$(($(date +%s) + SECONDS_TOTAL))
echo "# pushing and collecting for ${SECONDS_TOTAL}s"
pids=()
for id in 1 2 3; do
	writer $id &
	pids+=($!)
done
index_writer &
pids+=($!)
churn_writer &
pids+=($!)
if [ $SKOPEO = 1 ]; then
	skopeo_writer 1 &
	pids+=($!)
fi
gc_loop &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; done

# One more collection now that nothing pushes: it must not take anything
# a successful push left.
"$OCIREGD" gc -c "$CONF" >>"$RES/gc.out" 2>>"$RES/gc.err" </dev/null
assert_eq "$?" 0 "a last gc after the pushes"

read -r gcruns gcbad <"$RES/count.gc"
assert_eq "$gcbad" 0 "every one of $gcruns gc runs exited 0"
if [ -s "$RES/gc.err" ]; then
	t_fail "gc wrote nothing to stderr" "$(head -n 10 "$RES/gc.err")"
fi
tot_n=0 tot_ok=0 tot_fail=0 tot_ret=0
for c in "$RES"/count.*; do
	[ "$c" = "$RES/count.gc" ] && continue
	read -r n ok fail ret <"$c"
	echo "# $(basename "$c" | sed 's/count\.//'): $n pushes, $ok kept, $fail failed, $ret untagged again"
	tot_n=$((tot_n + n)) tot_ok=$((tot_ok + ok)) tot_fail=$((tot_fail + fail)) tot_ret=$((tot_ret + ret))
done
removed=$(grep -c '^manifest ' "$RES/gc.out")
rblobs=$(grep -c '^blob ' "$RES/gc.out")
echo "# $tot_n pushes ($tot_ok kept, $tot_fail failed, $tot_ret untagged again); $gcruns gc runs removed $removed manifests and $rblobs blobs"
[ "$tot_ok" -ge 20 ] && t_pass "at least 20 pushes succeeded ($tot_ok)" || t_fail "at least 20 pushes succeeded" "only $tot_ok"
[ "$removed" -ge 1 ] && [ "$rblobs" -ge 1 ] && t_pass "the collections removed manifests and blobs while pushes went on" ||
	t_fail "the collections removed manifests and blobs while pushes went on" "$removed manifests, $rblobs blobs"

# ---------------------------------------------------------------- verify
cat "$RES"/problems.* 2>/dev/null >"$TMP/problems"
if [ ! -s "$TMP/problems" ]; then
	t_pass "every image checked right after its push (before it was untagged) was intact"
else
	t_fail "every image checked right after its push (before it was untagged) was intact" \
		"$(wc -l <"$TMP/problems") problems:" "$(head -n 20 "$TMP/problems")"
fi
cat "$RES"/ok.* 2>/dev/null >"$TMP/all-ok"
nok=$(wc -l <"$TMP/all-ok")
: >"$TMP/problems"
# The same image in the same repository is checked in depth once; its
# other tags only have to resolve to it.
declare -A deep=()
while read -r repo tag dgst; do
	if [ -n "${deep[$repo@$dgst]+set}" ]; then
		[ "$(curl -s -I --max-time 30 -H "Accept: $MT_OCI_MANIFEST, $MT_OCI_INDEX" \
			"$BASE/v2/$repo/manifests/$tag" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')" = "$dgst" ] ||
			echo "$repo:$tag: does not resolve to $dgst" >>"$TMP/problems"
		continue
	fi
	deep[$repo@$dgst]=1
	check_ref "$repo" "$tag" "$dgst" >>"$TMP/problems"
done <"$TMP/all-ok"
if [ ! -s "$TMP/problems" ]; then
	t_pass "all $nok successful pushes pull back intact"
else
	t_fail "all $nok successful pushes pull back intact" "$(wc -l <"$TMP/problems") problems:" "$(head -n 20 "$TMP/problems")"
fi
: >"$TMP/problems"
ntags=0
for repo in "${REPOS[@]}"; do
	for t in $(curl -s "$BASE/v2/$repo/tags/list?n=10000" | jq -r '.tags[]?'); do
		ntags=$((ntags + 1))
		case $t in churn) check_ref "$repo" "$t" >>"$TMP/problems" ;; esac
	done
done
if [ ! -s "$TMP/problems" ]; then
	t_pass "the last churn pushes pull back intact ($ntags tags in all)"
else
	t_fail "the last churn pushes pull back intact" "$(head -n 20 "$TMP/problems")"
fi
[ "$ntags" -ge "$nok" ] && t_pass "every successful push still has its tag" ||
	t_fail "every successful push still has its tag" "$ntags tags, $nok successful pushes"

OUT=$("$OCIREGD" fsck -c "$CONF" 2>&1)
assert_match "$OUT" 'no problems$|\(0 corrupt, 0 missing, 0 wrong size, [0-9]+ stray, 0 manifest references\)' \
	"fsck: no row without its file, no corrupt blob, no manifest missing a blob"
assert_no_5xx "no 5xx while collecting"

e2e_finish
