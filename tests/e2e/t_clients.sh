#!/usr/bin/env bash
# t_clients.sh — real clients against the daemon, no network: skopeo copy
# (OCI layout -> registry -> OCI layout), a multi-arch index with --all,
# inspect, list-tags, cross-repository mounts, delete; podman pull / tag /
# push / rmi / pull (as root, vfs storage in the temp dir); a curl-pushed
# artifact in the referrers API.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init

if ! command -v skopeo >/dev/null; then
	t_pass "skopeo is not installed # SKIP"
	e2e_finish
fi
daemon_start

W=$TMP/w
CL=$TMP/clients
mkdir -p "$W" "$CL"/{home,cfg,data,cache,tmp}
mkdir -m 700 "$CL/xdgrt"
# Keep every client's config, cache and temp files inside the temp dir.
export HOME=$CL/home XDG_CONFIG_HOME=$CL/cfg XDG_DATA_HOME=$CL/data XDG_CACHE_HOME=$CL/cache
export XDG_RUNTIME_DIR=$CL/xdgrt TMPDIR=$CL/tmp
printf 'unqualified-search-registries = []\n' >"$CL/registries.conf"
export CONTAINERS_REGISTRIES_CONF=$CL/registries.conf
printf '[engine]\nevents_logger = "file"\nevents_logfile_path = "%s"\ncgroup_manager = "cgroupfs"\n' "$CL/events.log" >"$CL/containers.conf"
export CONTAINERS_CONF=$CL/containers.conf

REG=127.0.0.1:$PORT
MKIMAGE=$E2E_DIR/mkimage

# run DESC CMD...: run CMD under `timeout 120`, output in $OUT; assert rc 0.
OUT=$TMP/client.out
run() {
	local desc=$1 rc
	shift
	timeout 120 "$@" >"$OUT" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		t_pass "$desc"
	else
		t_fail "$desc" "exit $rc: $*" "$(tail -n 15 "$OUT")"
	fi
	return $rc
}
blob_names() { (cd "$1/blobs/sha256" && ls | LC_ALL=C sort); }
# every blob of an OCI layout hashes to its file name
layout_ok() {
	local f bad=
	for f in "$1"/blobs/sha256/*; do
		[ "sha256:$(basename "$f")" = "$(sha256_of "$f")" ] || bad="$bad $(basename "$f")"
	done
	[ -z "$bad" ] && echo ok || echo "bad:$bad"
}

# ---------------------------------------------------------------- skopeo: OCI layout -> registry
M=$("$MKIMAGE" "$W/img" 3 64 amd64)
assert_match "$M" '^sha256:[0-9a-f]{64}$' "mkimage wrote a 3-layer OCI layout"
MF=$W/img/blobs/sha256/${M#sha256:}
CFG=$(jq -r .config.digest "$MF")
LAYERS=$(jq -r '.layers[].digest' "$MF")
MINLAYER=$(jq '[.layers[].size] | min' "$MF")

run "skopeo copy oci:img:latest -> docker://$REG/team/app:1" \
	skopeo copy --dest-tls-verify=false "oci:$W/img:latest" "docker://$REG/team/app:1"
req GET /v2/team/app/manifests/1
assert_status 200 "GET the skopeo-pushed manifest"
assert_header Docker-Content-Digest "$M" "registry keeps the layout's manifest digest"
assert_body_digest "$M" "skopeo-pushed manifest bytes"
assert_header Content-Type "$MT_OCI_MANIFEST" "skopeo-pushed manifest"
for d in $CFG $LAYERS; do
	req GET "/v2/team/app/blobs/$d"
	assert_status 200 "blob ${d:7:12} in team/app"
	assert_body_digest "$d" "blob ${d:7:12} in team/app"
done

# ---------------------------------------------------------------- registry -> fresh OCI layout
run "skopeo copy docker://$REG/team/app:1 -> oci:back:latest" \
	skopeo copy --src-tls-verify=false "docker://$REG/team/app:1" "oci:$W/back:latest"
assert_eq "$(jq -r '.manifests[0].digest' "$W/back/index.json")" "$M" "copied-back layout has the same manifest digest"
assert_eq "$(blob_names "$W/back")" "$(blob_names "$W/img")" "copied-back layout has exactly the same blob digests"
assert_eq "$(layout_ok "$W/back")" ok "every copied-back blob hashes to its name"
assert_eq "$(cmp -s "$W/back/blobs/sha256/${M#sha256:}" "$MF" && echo same)" same "copied-back manifest is byte-identical"

# ---------------------------------------------------------------- inspect / list-tags
run "skopeo inspect docker://$REG/team/app:1" skopeo inspect --tls-verify=false "docker://$REG/team/app:1"
assert_eq "$(jq -r .Digest "$OUT" 2>&1)" "$M" "skopeo inspect: Digest"
assert_eq "$(jq -r '.Layers | join(" ")' "$OUT" 2>&1)" "$(echo $LAYERS)" "skopeo inspect: Layers"
assert_eq "$(jq -r .Architecture "$OUT" 2>&1)" amd64 "skopeo inspect: Architecture"
run "skopeo inspect --raw" skopeo inspect --raw --tls-verify=false "docker://$REG/team/app:1"
assert_eq "$(sha256_of "$OUT")" "$M" "skopeo inspect --raw: the exact manifest bytes"
run "skopeo inspect --config" skopeo inspect --config --raw --tls-verify=false "docker://$REG/team/app:1"
assert_eq "$(sha256_of "$OUT")" "$CFG" "skopeo inspect --config --raw: the config blob"

put_manifest team/app latest "$MF"
assert_status 201 "curl: tag 'latest' on the same manifest"
put_manifest team/app 0.9-beta "$MF"
assert_status 201 "curl: tag '0.9-beta' on the same manifest"
run "skopeo list-tags docker://$REG/team/app" skopeo list-tags --tls-verify=false "docker://$REG/team/app"
assert_eq "$(jq -c .Tags "$OUT" 2>&1)" '["0.9-beta","1","latest"]' "skopeo list-tags: all tags, in order"

# ---------------------------------------------------------------- cross-repository copy: mounts
NLOG=$(wc -l <"$LOG")
run "skopeo copy docker://$REG/team/app:1 -> docker://$REG/team/copy:1" \
	skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$REG/team/app:1" "docker://$REG/team/copy:1"
req GET /v2/team/copy/manifests/1
assert_header Docker-Content-Digest "$M" "team/copy:1 has the same manifest digest"
tail -n +"$((NLOG + 1))" "$LOG" >"$W/copy.log"
for d in $LAYERS; do
	if grep -Eq "access: [^ ]+ POST /v2/team/copy/blobs/uploads/\?([^ ]*&)?mount=sha256(:|%3[Aa])${d#sha256:}(&[^ ]*)? 201 " "$W/copy.log" &&
		grep -Eq "access: [^ ]+ POST /v2/team/copy/blobs/uploads/\?[^ ]*from=team(/|%2[Ff])app[^ ]* 201 " "$W/copy.log"; then
		t_pass "layer ${d:7:12} was mounted from team/app (POST ?mount=&from= 201)"
	else
		t_fail "layer ${d:7:12} was mounted from team/app (POST ?mount=&from= 201)" "$(grep team/copy "$W/copy.log" | head -n 20)"
	fi
done
UPBYTES=$(grep -E "access: [^ ]+ (PATCH|PUT|POST) /v2/team/copy/blobs/uploads/" "$W/copy.log" | sed -n 's/.* in=\([0-9]*\) .*/\1/p' | awk '{s+=$1} END{print s+0}')
if [ "$UPBYTES" -lt "$MINLAYER" ]; then
	t_pass "no layer was re-uploaded to team/copy ($UPBYTES upload bytes < smallest layer $MINLAYER)"
else
	t_fail "no layer was re-uploaded to team/copy" "$UPBYTES bytes uploaded; smallest layer is $MINLAYER"
fi
for d in $CFG $LAYERS; do
	req HEAD "/v2/team/copy/blobs/$d"
	assert_status 200 "blob ${d:7:12} in team/copy"
done

# ---------------------------------------------------------------- multi-arch index, copy --all
MA=$("$MKIMAGE" "$W/amd" 2 32 amd64)
MR=$("$MKIMAGE" "$W/arm" 2 32 arm64)
mkdir -p "$W/multi/blobs/sha256"
cp "$W/amd/blobs/sha256/"* "$W/arm/blobs/sha256/"* "$W/multi/blobs/sha256/"
cp "$W/amd/oci-layout" "$W/multi/"
child() { jq -c '.manifests[0] | del(.annotations)' "$1/index.json"; }
printf '{"schemaVersion":2,"mediaType":"%s","manifests":[%s,%s]}' "$MT_OCI_INDEX" "$(child "$W/amd")" "$(child "$W/arm")" >"$W/ix"
IX=$(sha256_of "$W/ix")
cp "$W/ix" "$W/multi/blobs/sha256/${IX#sha256:}"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
	"$MT_OCI_INDEX" "$IX" "$(fsize "$W/ix")" >"$W/multi/index.json"
run "skopeo copy --all oci:multi:latest -> docker://$REG/team/multi:1" \
	skopeo copy --all --dest-tls-verify=false "oci:$W/multi:latest" "docker://$REG/team/multi:1"
req GET /v2/team/multi/manifests/1
assert_status 200 "GET the multi-arch tag"
assert_header Docker-Content-Digest "$IX" "multi-arch tag resolves to the index digest"
assert_header Content-Type "$MT_OCI_INDEX" "multi-arch tag"
assert_body_digest "$IX" "multi-arch index bytes"
for c in "$MA amd" "$MR arm"; do
	set -- $c
	req GET "/v2/team/multi/manifests/$1"
	assert_status 200 "child $2 ($1) is present"
	assert_body_digest "$1" "child $2"
	for d in $(jq -r '.config.digest, .layers[].digest' "$W/$2/blobs/sha256/${1#sha256:}"); do
		req HEAD "/v2/team/multi/blobs/$d"
		assert_status 200 "child $2: blob ${d:7:12}"
	done
done
assert_rows "SELECT count(*) FROM manifest_refs mr JOIN repositories r ON r.id=mr.repo_id WHERE r.name='team/multi' AND mr.digest='$IX' AND mr.is_manifest=1" 2 \
	"manifest_refs: the index references its two children"
run "skopeo inspect --override-arch arm64" skopeo inspect --override-arch arm64 --override-os linux --tls-verify=false "docker://$REG/team/multi:1"
# .Digest is the digest of the reference (the index); the rest is the child's
assert_eq "$(jq -r .Architecture "$OUT" 2>&1)" arm64 "skopeo inspect --override-arch arm64: Architecture"
assert_eq "$(jq -r '.Layers | join(" ")' "$OUT" 2>&1)" "$(jq -r '.layers[].digest' "$W/arm/blobs/sha256/${MR#sha256:}" | paste -sd' ')" \
	"skopeo inspect --override-arch arm64: the arm64 child's layers"
run "skopeo inspect --raw of the index" skopeo inspect --raw --tls-verify=false "docker://$REG/team/multi:1"
assert_eq "$(sha256_of "$OUT")" "$IX" "skopeo inspect --raw: the exact index bytes"

# ---------------------------------------------------------------- an artifact with a subject (curl)
blob_json team/app "$W/empty" '{}'
blob_json team/app "$W/sigdata" 'sig-of-the-image'
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.sig.v1","config":{"mediaType":"%s","digest":"%s","size":2},"layers":[%s],"subject":{"mediaType":"%s","digest":"%s","size":%s},"annotations":{"org.example.by":"e2e"}}' \
	"$MT_OCI_MANIFEST" "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" "$(desc application/vnd.example.sig "$W/sigdata")" "$MT_OCI_MANIFEST" "$M" "$(fsize "$MF")" >"$W/art"
ART=$(sha256_of "$W/art")
put_manifest team/app "$ART" "$W/art"
assert_status 201 "curl: PUT an artifact whose subject is the skopeo-pushed image"
assert_header OCI-Subject "$M" "artifact PUT"
req GET "/v2/team/app/referrers/$M"
assert_status 200 "referrers of the skopeo-pushed image"
assert_json '[.manifests[] | {digest, artifactType, annotations}]' \
	"[{\"digest\":\"$ART\",\"artifactType\":\"application/vnd.example.sig.v1\",\"annotations\":{\"org.example.by\":\"e2e\"}}]" "referrers lists the artifact"
req GET "/v2/team/app/referrers/$M?artifactType=application/vnd.example.sig.v1"
assert_header OCI-Filters-Applied artifactType "filtered referrers of the image"
assert_json '[.manifests[].digest]' "[\"$ART\"]" "filtered referrers of the image"
run "skopeo inspect --raw of the artifact by digest" skopeo inspect --raw --tls-verify=false "docker://$REG/team/app@$ART"
assert_eq "$(sha256_of "$OUT")" "$ART" "skopeo reads the artifact by digest"

# ---------------------------------------------------------------- podman
if ! command -v podman >/dev/null || [ "$(id -u)" != 0 ]; then
	t_pass "podman tests need podman and root # SKIP"
else
	PM=(podman --root "$CL/podman/root" --runroot "$CL/podman/run" --storage-driver vfs)
	run "podman pull $REG/team/app:1" "${PM[@]}" pull --tls-verify=false "$REG/team/app:1"
	run "podman image inspect" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/team/app:1"
	assert_eq "$(tail -n 1 "$OUT")" "$M" "podman: pulled image has the pushed manifest digest"
	run "podman tag -> $REG/team/pod:2" "${PM[@]}" tag "$REG/team/app:1" "$REG/team/pod:2"
	run "podman push $REG/team/pod:2" "${PM[@]}" push --tls-verify=false "$REG/team/pod:2"
	req GET /v2/team/pod/manifests/2
	assert_status 200 "the podman-pushed manifest is in team/pod"
	PD=$(hdr Docker-Content-Digest)
	assert_body_digest "$PD" "podman-pushed manifest"
	cp "$BODY" "$W/pod-manifest"
	for d in $(jq -r '.config.digest, .layers[].digest' "$W/pod-manifest"); do
		req GET "/v2/team/pod/blobs/$d"
		assert_status 200 "podman-pushed blob ${d:7:12}"
		assert_body_digest "$d" "podman-pushed blob ${d:7:12}"
	done
	assert_eq "$(jq -r .config.digest "$W/pod-manifest")" "$CFG" "podman-pushed image has the same config"
	run "podman rmi -a -f" "${PM[@]}" rmi -a -f
	run "podman images -q" "${PM[@]}" images -q
	assert_eq "$(cat "$OUT")" "" "podman storage is empty after rmi -a -f"
	run "podman pull $REG/team/pod:2" "${PM[@]}" pull --tls-verify=false "$REG/team/pod:2"
	run "podman image inspect (pulled back)" "${PM[@]}" image inspect --format '{{.Digest}}' "$REG/team/pod:2"
	assert_eq "$(tail -n 1 "$OUT")" "$PD" "podman: pulled-back image digest == registry manifest digest"
	run "podman image inspect (config id)" "${PM[@]}" image inspect --format '{{.Id}}' "$REG/team/pod:2"
	assert_eq "sha256:$(tail -n 1 "$OUT")" "$CFG" "podman: image id is the config digest"
fi

# ---------------------------------------------------------------- skopeo delete
run "skopeo delete docker://$REG/team/app:1" skopeo delete --tls-verify=false "docker://$REG/team/app:1"
req GET /v2/team/app/manifests/1
assert_status_error 404 MANIFEST_UNKNOWN "after skopeo delete: tag 1"
req GET "/v2/team/app/manifests/$M"
assert_status_error 404 MANIFEST_UNKNOWN "after skopeo delete: the digest"
req GET /v2/team/app/manifests/latest
assert_status 404 "after skopeo delete: other tag of the same digest"
req GET /v2/team/copy/manifests/1
assert_status 200 "after skopeo delete: team/copy:1 is untouched"
timeout 120 skopeo inspect --tls-verify=false "docker://$REG/team/app:1" >"$OUT" 2>&1 </dev/null
assert_ne "$?" 0 "skopeo inspect of the deleted image fails"
run "skopeo list-tags after delete" skopeo list-tags --tls-verify=false "docker://$REG/team/app"
assert_eq "$(jq -c .Tags "$OUT" 2>&1)" '[]' "skopeo list-tags: no tags left in team/app"

# ---------------------------------------------------------------- restart
daemon_restart
REG=127.0.0.1:$PORT
run "after restart: skopeo copy --all back from team/multi" \
	skopeo copy --all --src-tls-verify=false "docker://$REG/team/multi:1" "oci:$W/multiback:latest"
assert_eq "$(jq -r '.manifests[0].digest' "$W/multiback/index.json")" "$IX" "after restart: the index digest round-trips"
assert_eq "$(blob_names "$W/multiback")" "$(blob_names "$W/multi")" "after restart: all blobs of the multi-arch image round-trip"
req GET /v2/_catalog
assert_json .repositories "$(printf '%s\n' team/copy team/multi team/pod team/app | LC_ALL=C sort | jq -R . | jq -sc .)" "after restart: catalog"

assert_no_5xx "no 5xx in the access log"
e2e_finish
