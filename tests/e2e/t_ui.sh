#!/usr/bin/env bash
# t_ui.sh — the web page (issue 18) in a real browser: headless Chromium
# driven by tests/e2e/ui_browser.py (python3-selenium + chromium-driver)
# against a daemon filled with skopeo (an image, a two-platform index) and
# curl (a signature-like referrer with a subject, a hostile annotation, a
# markup-like repository name, 1,000 tags, UI_BULK repositories for
# paging).  First over plain HTTP without [auth]: headers (CSP, nosniff,
# framing, ETag/304, Content-Types), the list, paging, filter, a
# repository, an index, referrers, the hostile strings shown as text, the
# first screen of 1,000 tags timed.  Then with [auth]: a wrong password,
# per-user listings, delete offered only with the right and working after
# confirming.  Finally [ui] enabled = false: 404.  Screenshots land in
# $TMP/shots (E2E_KEEP=1 keeps them).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init

PY=/usr/bin/python3
for tool in skopeo chromium chromedriver; do
	if ! command -v $tool >/dev/null; then
		t_pass "$tool is not installed # SKIP"
		e2e_finish
	fi
done
if ! "$PY" -c 'import selenium' 2>/dev/null; then
	t_pass "python3-selenium is not installed # SKIP"
	e2e_finish
fi

UI_BULK=${UI_BULK:-10000}
E2E_SYNC=false
SHOTS=$TMP/shots
W=$TMP/w
CL=$TMP/clients
mkdir -p "$SHOTS" "$W" "$CL"/{home,cfg,tmp}
export HOME=$CL/home XDG_CONFIG_HOME=$CL/cfg TMPDIR=$CL/tmp
MKIMAGE=$E2E_DIR/mkimage
XSS='<img src=x onerror=alert(1)>'
MARKUP_REPO=x/script-alert-1-img-src.onerror
MARKUP_TAG=b--img-onerror-alert
SIG_TYPE=application/vnd.dev.cosign.simplesigning.v1+json
SIG_NOTE=signed-by-t_ui
CREATED=2024-05-01T12:00:00Z
NEWER=2025-02-03T04:05:06Z

daemon_start
REG=127.0.0.1:$PORT

# set_created DIR TIME: give the image in OCI layout DIR a config "created"
# time, rewriting config, manifest and index.json digests.  Prints the new
# manifest digest.
set_created() {
	local dir=$1 t=$2 mf cf nc nm
	mf=$dir/blobs/sha256/$(jq -r '.manifests[0].digest' "$dir/index.json" | cut -c8-)
	cf=$dir/blobs/sha256/$(jq -r '.config.digest' "$mf" | cut -c8-)
	jq -c --arg t "$t" '. + {created: $t}' "$cf" | tr -d '\n' >"$W/cfg.tmp"
	nc=$(sha256_of "$W/cfg.tmp")
	mv "$W/cfg.tmp" "$dir/blobs/sha256/${nc#sha256:}"
	jq -c --arg d "$nc" --argjson s "$(fsize "$dir/blobs/sha256/${nc#sha256:}")" \
		'.config.digest = $d | .config.size = $s' "$mf" | tr -d '\n' >"$W/mf.tmp"
	nm=$(sha256_of "$W/mf.tmp")
	mv "$W/mf.tmp" "$dir/blobs/sha256/${nm#sha256:}"
	jq -c --arg d "$nm" --argjson s "$(fsize "$dir/blobs/sha256/${nm#sha256:}")" \
		'.manifests[0].digest = $d | .manifests[0].size = $s' "$dir/index.json" >"$W/ix.tmp"
	mv "$W/ix.tmp" "$dir/index.json"
	echo "$nm"
}
sk() {
	timeout 120 skopeo copy --dest-tls-verify=false --src-tls-verify=false "$@" >"$W/sk.out" 2>&1 ||
		bail "skopeo copy $*" "$(tail -n 5 "$W/sk.out")"
}

# ---------------------------------------------------------------- headers
req GET /
assert_status 302 "/ redirects"
assert_header Location /ui/ "/ redirects to /ui/"
req GET /ui/
assert_status 200 "GET /ui/"
assert_header Content-Type "text/html; charset=utf-8" "/ui/ is HTML"
assert_header Content-Security-Policy "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" "/ui/ has the strict CSP"
assert_header X-Content-Type-Options nosniff "/ui/ nosniff"
assert_header X-Frame-Options DENY "/ui/ may not be framed"
assert_header Cache-Control no-cache "/ui/ revalidates"
ETAG=$(hdr ETag)
assert_match "$ETAG" '^"[0-9a-f]{16}"$' "/ui/ has a strong ETag"
if grep -qiE '<script>|<style|[[:space:]](style|on[a-z]+)=|https?://' "$BODY"; then
	t_fail "index.html has no inline script, style, handler or absolute URL" "$(grep -iE '<script>|<style|[[:space:]](style|on[a-z]+)=|https?://' "$BODY")"
else
	t_pass "index.html has no inline script, style, handler or absolute URL"
fi
req GET /ui/ -H "If-None-Match: $ETAG"
assert_status 304 "If-None-Match with the ETag: 304"
req GET /ui/app.js
assert_status 200 "GET /ui/app.js"
assert_header Content-Type "text/javascript; charset=utf-8" "app.js Content-Type"
if grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function|localStorage|sessionStorage|https?://' "$BODY"; then
	t_fail "app.js builds no markup from strings and stores nothing" "see above"
else
	t_pass "app.js builds no markup from strings and stores nothing"
fi
req GET /ui/app.css
assert_header Content-Type "text/css; charset=utf-8" "app.css Content-Type"
req GET /ui/nope.js
assert_status 404 "unknown UI file: 404"
req GET /ui/../v2/
assert_status 404 "no path walking under /ui/"
req POST /ui/ --data x
assert_status 405 "POST /ui/: 405"

# ---------------------------------------------------------------- content
"$MKIMAGE" "$W/app" 2 32 amd64 >/dev/null
APP=$(set_created "$W/app" "$CREATED")
sk "oci:$W/app:latest" "docker://$REG/team/app:1"
req GET /v2/team/app/manifests/1 -H "Accept: $MT_OCI_MANIFEST"
assert_header Docker-Content-Digest "$APP" "skopeo pushed team/app:1"
cp "$BODY" "$W/app.json"
APP_SIZE=$(jq '[.layers[].size] | add + 0' "$W/app.json")
APP_SIZE=$((APP_SIZE + $(jq .config.size "$W/app.json")))
APP_CONFIG=$(jq -r .config.digest "$W/app.json")
push_manifest team/app 2 "$W/app.json"
jq -c --arg x "$XSS" '. + {annotations: {"org.example.note": $x}}' "$W/app.json" | tr -d '\n' >"$W/xss.json"
push_manifest team/app xss "$W/xss.json"

# A signature-like referrer: an artifact manifest with a subject.
printf '{}' >"$W/empty.json"
push_blob team/app "$W/empty.json"
printf 'not really a signature' >"$W/sig.bin"
push_blob team/app "$W/sig.bin"
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"%s","config":%s,"layers":[%s],"subject":%s,"annotations":{"dev.example.note":"%s"}}' \
	"$MT_OCI_MANIFEST" "$SIG_TYPE" "$(desc "$MT_OCI_EMPTY" "$W/empty.json")" \
	"$(desc application/octet-stream "$W/sig.bin")" "$(desc "$MT_OCI_MANIFEST" "$W/app.json")" \
	"$SIG_NOTE" >"$W/sig.json"
SIG=$(sha256_of "$W/sig.json")
push_manifest team/app "$SIG" "$W/sig.json"

# A two-platform index: the images with skopeo, the index with curl.
"$MKIMAGE" "$W/amd" 1 16 amd64 >/dev/null
"$MKIMAGE" "$W/arm" 1 16 arm64 >/dev/null
sk "oci:$W/amd:latest" "docker://$REG/team/multi:amd64"
sk "oci:$W/arm:latest" "docker://$REG/team/multi:arm64"
ix='{"schemaVersion":2,"mediaType":"'$MT_OCI_INDEX'","manifests":['
first=1
for a in amd arm; do
	req GET "/v2/team/multi/manifests/${a}64" -H "Accept: $MT_OCI_MANIFEST"
	[ $first = 1 ] || ix=$ix,
	first=0
	ix=$ix'{"mediaType":"'$MT_OCI_MANIFEST'","digest":"'$(hdr Docker-Content-Digest)'","size":'$(fsize "$BODY")',"platform":{"architecture":"'${a}64'","os":"linux"}}'
done
printf '%s]}' "$ix" >"$W/index.json"
push_manifest team/multi v1 "$W/index.json"

sk "docker://$REG/team/app:1" "docker://$REG/$MARKUP_REPO:$MARKUP_TAG"

# 1,000 tags: one image under t0000..t0999, a newer one under t0500.
sk "docker://$REG/team/app:1" "docker://$REG/big/repo:t0000"
jq -c --arg t "$NEWER" '. + {created: $t}' "$W/app/blobs/sha256/${APP_CONFIG#sha256:}" | tr -d '\n' >"$W/newcfg.json"
push_blob big/repo "$W/newcfg.json"
jq -c --arg d "$(sha256_of "$W/newcfg.json")" --argjson s "$(fsize "$W/newcfg.json")" \
	'.config.digest = $d | .config.size = $s' "$W/app.json" | tr -d '\n' >"$W/newer.json"
: >"$W/tags.curl"
for i in $(seq 1 999); do
	t=$(printf 't%04d' "$i")
	f=$W/app.json
	[ "$t" = t0500 ] && f=$W/newer.json
	printf 'url = "%s/v2/big/repo/manifests/%s"\nrequest = PUT\nheader = "Content-Type: %s"\ndata-binary = "@%s"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nnext\n' \
		"$BASE" "$t" "$MT_OCI_MANIFEST" "$f" >>"$W/tags.curl"
done
t0=$(date +%s)
curl -s -K "$W/tags.curl" >"$W/tags.out" 2>&1
assert_eq "$(grep -c '^201$' "$W/tags.out")" 999 "999 more tags on big/repo"

# UI_BULK repositories for paging (after the others in lexical order):
# each a mount of the empty blob and a tiny manifest.
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/vnd.example.bulk","config":%s,"layers":[%s]}' \
	"$MT_OCI_MANIFEST" "$(desc "$MT_OCI_EMPTY" "$W/empty.json")" "$(desc "$MT_OCI_EMPTY" "$W/empty.json")" >"$W/bulk.json"
: >"$W/bulk.curl"
for i in $(seq 1 "$UI_BULK"); do
	r=$(printf 'zbulk/r%05d' "$i")
	printf 'url = "%s/v2/%s/blobs/uploads/?mount=%s&from=team/app"\nrequest = POST\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nnext\nurl = "%s/v2/%s/manifests/v1"\nrequest = PUT\nheader = "Content-Type: %s"\ndata-binary = "@%s"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nnext\n' \
		"$BASE" "$r" "$EMPTY_JSON_DIGEST" "$BASE" "$r" "$MT_OCI_MANIFEST" "$W/bulk.json" >>"$W/bulk.curl"
done
curl -s -K "$W/bulk.curl" >"$W/bulk.out" 2>&1
assert_eq "$(grep -c '^201$' "$W/bulk.out")" $((2 * UI_BULK)) "$UI_BULK bulk repositories pushed"
echo "# filling took $(($(date +%s) - t0)) s"

NREPOS=$((UI_BULK + 4))
req GET "/ui/api/repos?n=3"
assert_status 200 "GET /ui/api/repos"
assert_header Cache-Control no-store "the listing is not cached"
assert_eq "$(jq -c '[.auth, (.repositories | map(.name)), .next]' "$BODY")" \
	'[false,["big/repo","team/app","team/multi"],"team/multi"]' "/ui/api/repos pages like the catalog"
req GET "/ui/api/repos?q=multi"
assert_eq "$(jq -c '[.repositories[].name, .next]' "$BODY")" '["team/multi",null]' "/ui/api/repos?q= filters"

# ---------------------------------------------------------------- browser, no auth
SPEC=$W/spec.json
jq -n --arg app "$APP" --argjson size "$APP_SIZE" --arg created "${CREATED/T/ }" \
	--arg cfg "$APP_CONFIG" --arg sig "$SIG" --arg sigtype "$SIG_TYPE" --arg signote "$SIG_NOTE" \
	--arg xss "$XSS" --arg mrepo "$MARKUP_REPO" --arg mtag "$MARKUP_TAG" \
	--argjson pages $(((NREPOS + 99) / 100)) \
	'{repos: ["big/repo", "team/app", "team/multi", $mrepo], app_digest: $app, app_size: $size,
	  app_created: $created, app_config: $cfg, app_layers: 2, sig_digest: $sig, sig_type: $sigtype,
	  sig_note: $signote, xss: $xss, markup_repo: $mrepo, markup_tag: $mtag, pages: $pages,
	  big_tags: 1000, big_last_tag: "t0999", big_newest_tag: "t0500",
	  pw_alice: "Alice-ui-pw-1", pw_bob: "Bob-ui-pw-2", delete_tag: "2",
	  bob_repos: ["team/app", "team/multi"],
	  alice_repos: ["big/repo", "team/app", "team/multi", $mrepo]}' >"$SPEC"

# browser PHASE: run ui_browser.py (bounded) and turn its lines into
# assertions; INFO lines become diagnostics.
browser() {
	local line rc
	timeout 600 "$PY" "$E2E_DIR/ui_browser.py" "$1" "$BASE" "$SHOTS" "$SPEC" >"$W/browser.$1" 2>"$W/browser.$1.err"
	rc=$?
	while IFS= read -r line; do
		case $line in
		PASS\|*) t_pass "ui ($1): ${line#PASS|}" ;;
		FAIL\|*) line=${line#FAIL|}; t_fail "ui ($1): ${line%%|*}" "${line#*|}" ;;
		INFO\|*) echo "# ${line#INFO|}" ;;
		esac
	done <"$W/browser.$1"
	[ $rc -eq 0 ] || t_fail "ui_browser.py $1 exited 0" "exit $rc: $(tail -n 5 "$W/browser.$1.err")"
	grep -q '^PASS|' "$W/browser.$1" || t_fail "ui_browser.py $1 checked something" "$(tail -n 5 "$W/browser.$1.err")"
}
browser anon

# ---------------------------------------------------------------- with [auth]
daemon_stop
USERS=$TMP/users
E2E_EXTRA_INI="[auth]
users = $USERS
anonymous = none
[access \"team/*\"]
pull = alice, bob
delete = alice
[access \"x/*\"]
pull = alice
[access \"big/*\"]
pull = alice"
e2e_config
for u in alice:Alice-ui-pw-1 bob:Bob-ui-pw-2; do
	printf '%s\n' "${u#*:}" | timeout 60 "$OCIREGD" passwd -c "$CONF" "${u%%:*}" >"$W/passwd.out" 2>&1 ||
		bail "ociregd passwd ${u%%:*}" "$(cat "$W/passwd.out")"
done
daemon_start
req GET /ui/api/repos
assert_status 401 "/ui/api/repos without credentials: 401 like the catalog"
assert_match "$(hdr WWW-Authenticate)" '^Bearer realm=' "/ui/api/repos challenges for a token"
req GET /ui/api/repos -u bob:Bob-ui-pw-2
assert_eq "$(jq -c '[.user, [.repositories[].name]]' "$BODY")" '["bob",["team/app","team/multi"]]' \
	"/ui/api/repos lists only what bob may pull"
req GET /v2/_catalog -u bob:Bob-ui-pw-2
assert_eq "$(jq -c '.repositories' "$BODY")" '["team/app","team/multi"]' "the catalog agrees"
browser auth
req GET /v2/team/app/manifests/2 -u alice:Alice-ui-pw-1
assert_status 404 "the tag deleted in the browser is gone"
req GET /v2/team/app/manifests/1 -u alice:Alice-ui-pw-1
assert_status 200 "the other tags stay"

# ---------------------------------------------------------------- [ui] enabled = false
daemon_stop
E2E_EXTRA_INI="[ui]
enabled = false"
e2e_config
daemon_start
req GET /ui/
assert_status 404 "[ui] enabled = false: /ui/ is 404"
req GET /
assert_status 404 "[ui] enabled = false: / is 404"
req GET /ui/api/repos
assert_status 404 "[ui] enabled = false: /ui/api/repos is 404"
req GET /v2/
assert_status 200 "[ui] enabled = false: /v2/ still answers"

echo "# screenshots in $SHOTS"
e2e_finish
