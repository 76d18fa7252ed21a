# shellcheck shell=bash
# shellcheck disable=SC2034 # the media-type constants are used by the scripts that source this
# lib-oci.sh — manifest-plane helpers for the ociregd e2e tests.  Source it
# after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib-oci.sh"

MT_OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json
MT_OCI_INDEX=application/vnd.oci.image.index.v1+json
MT_OCI_CONFIG=application/vnd.oci.image.config.v1+json
MT_OCI_LAYER=application/vnd.oci.image.layer.v1.tar+gzip
MT_OCI_EMPTY=application/vnd.oci.empty.v1+json
MT_DOCKER_MANIFEST=application/vnd.docker.distribution.manifest.v2+json
MT_DOCKER_LIST=application/vnd.docker.distribution.manifest.list.v2+json
MT_DOCKER_CONFIG=application/vnd.docker.container.image.v1+json
MT_DOCKER_LAYER=application/vnd.docker.image.rootfs.diff.tar.gzip
MT_DOCKER_V1=application/vnd.docker.distribution.manifest.v1+json
MT_DOCKER_V1_SIGNED=application/vnd.docker.distribution.manifest.v1+prettyjws
EMPTY_JSON_DIGEST=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a

# desc MEDIATYPE FILE: a compact descriptor JSON for FILE.
desc() {
	printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$(sha256_of "$2")" "$(fsize "$2")"
}

# desc_d MEDIATYPE DIGEST SIZE
desc_d() {
	printf '{"mediaType":"%s","digest":"%s","size":%s}' "$1" "$2" "$3"
}

# put_manifest REPO REF FILE [CONTENT-TYPE]: PUT the exact bytes of FILE.
# CONTENT-TYPE "-" sends no Content-Type header at all; empty/absent uses
# the body's mediaType (or the OCI manifest type if it has none).
put_manifest() {
	local repo=$1 ref=$2 file=$3 ct=${4:-}
	if [ -z "$ct" ]; then
		ct=$(jq -r '.mediaType // empty' "$file" 2>/dev/null)
		[ -n "$ct" ] || ct=$MT_OCI_MANIFEST
	fi
	if [ "$ct" = - ]; then
		req PUT "/v2/$repo/manifests/$ref" -H 'Content-Type:' --data-binary "@$file"
	else
		req PUT "/v2/$repo/manifests/$ref" -H "Content-Type: $ct" --data-binary "@$file"
	fi
}

# push_manifest REPO REF FILE [CONTENT-TYPE]: put_manifest + assert 201 with
# the digest of FILE in Docker-Content-Digest.
push_manifest() {
	local d
	d=$(sha256_of "$3")
	put_manifest "$@"
	assert_status 201 "PUT manifest $1:$2 ($(fsize "$3") bytes)"
	if [ "$(hdr Docker-Content-Digest)" != "$d" ]; then
		t_fail "PUT manifest $1:$2 returns Docker-Content-Digest $d" "got '$(hdr Docker-Content-Digest)'"
	fi
}

# blob_json REPO FILE CONTENT: write CONTENT (exact) to FILE and push it.
blob_json() {
	printf '%s' "$3" >"$2"
	push_blob "$1" "$2"
}

# assert_envelope DESC: the body is the spec's error envelope with a spec code.
assert_envelope() {
	if jq -e '(.errors|type)=="array" and (.errors|length)>=1 and
	    (.errors[0]|has("code") and has("message"))' "$BODY" >/dev/null 2>&1; then
		t_pass "$1 (error envelope)"
	else
		t_fail "$1 (error envelope)" "body: $(head -c 400 "$BODY")"
	fi
	assert_code_in_spec "$1"
}

# assert_detail_has STRING DESC: errors[0].detail (whatever its JSON type)
# mentions STRING.
assert_detail_has() {
	local d
	d=$(jq -c '.errors[0].detail' "$BODY" 2>/dev/null)
	case $d in
	*"$1"*) t_pass "$2 (detail names $1)" ;;
	*) t_fail "$2 (detail names $1)" "detail: $d" ;;
	esac
}

# assert_json JQ-FILTER EXPECTED DESC: jq -c output on $BODY.
assert_json() {
	assert_eq "$(jq -c "$1" "$BODY" 2>&1)" "$2" "$3"
}

# repo_id NAME
repo_id() { db "SELECT id FROM repositories WHERE name=$(sqlq "$1")"; }

# follow_pages FIRST-PATH KEY PAGESIZE OUTFILE: GET FIRST-PATH, append
# .KEY[] to OUTFILE, follow Link rel="next" until there is none (bounded).
# Sets PAGES (count) and PAGE_ERR (a description of the first problem).
follow_pages() {
	local path=$1 key=$2 n=$3 out=$4 link cnt i
	: >"$out"
	PAGES=0
	PAGE_ERR=
	for ((i = 0; i < 200; i++)); do
		req GET "$path"
		if [ "$STATUS" != 200 ]; then
			PAGE_ERR="page $((PAGES + 1)) GET $path: status $STATUS $(head -c 200 "$BODY")"
			return 1
		fi
		PAGES=$((PAGES + 1))
		jq -r ".${key}[]" "$BODY" >>"$out" 2>/dev/null || {
			PAGE_ERR="page $PAGES: not JSON with .$key: $(head -c 200 "$BODY")"
			return 1
		}
		cnt=$(jq ".${key} | length" "$BODY")
		link=$(hdr Link)
		if [ -z "$link" ]; then
			return 0
		fi
		if [ "$cnt" -gt "$n" ]; then
			PAGE_ERR="page $PAGES has $cnt entries for n=$n"
			return 1
		fi
		if [ "$cnt" -ne "$n" ]; then
			PAGE_ERR="page $PAGES has $cnt entries (< n=$n) but a Link: $link"
			return 1
		fi
		case $link in
		'<'*'>; rel="next"') ;;
		*)
			PAGE_ERR="page $PAGES: malformed Link '$link'"
			return 1
			;;
		esac
		path=${link#<}
		path=${path%%>*}
	done
	PAGE_ERR="more than 200 pages"
	return 1
}

# head_then_get PATH OUT: a HEAD and then a GET of PATH on one kept-alive
# connection (curl --next); prints "<GET status> <connects of the GET>".  A
# HEAD answered with a body would corrupt the GET that follows it.
head_then_get() {
	curl -s --max-time 30 -o /dev/null -I "$BASE$1" \
		--next -s --max-time 30 -o "$2" -w '%{http_code} %{num_connects}' "$BASE$1" </dev/null
}
