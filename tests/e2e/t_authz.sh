#!/usr/bin/env bash
# t_authz.sh — the repository that is authorized is the repository that is
# served or written (issue 13, finding 1).  A cache with auth in front of an
# upstream ociregd: [proxy "up"] prefix = hub, push = true; [proxy "mir"]
# mirror = true; rules hub/* = alice only, lib/* pull = alice, * pull/push =
# bob.  Every route (manifest GET/HEAD/PUT/DELETE, blob GET/HEAD/DELETE,
# upload start, mount from=, tags list, referrers) is tried under every way
# of naming a repository (the plain <prefix>/ path, containerd's ?ns=, the
# mirror) by alice (allowed), bob (denied: Basic, and a bearer token that
# /token really grants for the URL's name) and anonymous (challenged); then
# nothing a refused request could touch (meta.db rows, blob and upload
# files) has changed.  The catalog and mounts never show bob hub/*.
# Finding 4: a token ends with its user (password changed, user removed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
. "$(dirname "$0")/lib-proxy.sh"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
e2e_init
proxy_init
W=$TMP/w
mkdir -p "$W"
USERS=$TMP/users
PW_ALICE='alice-authz-pw-1'
PW_BOB='bob-authz-pw-2'

# ---------------------------------------------------------------- upstream
UP_LISTEN=127.0.0.1:0
up_config
up_start
UPH=127.0.0.1:$UP_PORT
# lib/app:v1 upstream: config + layer + manifest, pushed anonymously.
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$W/up.cfg"
mkblob "$W/up.layer" 2000
for f in up.cfg up.layer; do
	req POST "$UP_BASE/v2/lib/app/blobs/uploads/?digest=$(sha256_of "$W/$f")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$W/$f"
	assert_status 201 "upstream: push $f to lib/app"
done
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$W/up.cfg")" "$(desc "$MT_OCI_LAYER" "$W/up.layer")" >"$W/up.manifest"
req PUT "$UP_BASE/v2/lib/app/manifests/v1" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/up.manifest"
assert_status 201 "upstream: PUT lib/app:v1"
UP_M=$(sha256_of "$W/up.manifest")
UP_L=$(sha256_of "$W/up.layer")

# ---------------------------------------------------------------- the cache
E2E_EXTRA_INI="[auth]
users = $USERS
[proxy \"up\"]
url = $UP_BASE
prefix = hub
push = true
tag_ttl = 1h
[proxy \"mir\"]
url = $UP_BASE
mirror = true
tag_ttl = 1h
[access \"hub/*\"]
pull = alice
push = alice
delete = alice
[access \"lib/*\"]
pull = alice
[access \"*\"]
pull = bob, alice
push = bob, alice
delete = bob"
e2e_config
passwd_user() { printf '%s\n' "$2" | timeout 60 "$OCIREGD" passwd -c "$CONF" "$1" >/dev/null 2>&1; }
passwd_user alice "$PW_ALICE" || bail "ociregd passwd alice"
passwd_user bob "$PW_BOB" || bail "ociregd passwd bob"
daemon_start
A=(-u "alice:$PW_ALICE")
B=(-u "bob:$PW_BOB")

# token CREDS SCOPE: TOKEN = a bearer token from /token (asserting 200).
token() {
	req GET /token -G --data-urlencode "service=ociregd" --data-urlencode "scope=$2" -u "$1"
	assert_status 200 "GET /token as ${1%%:*} for $2"
	TOKEN=$(jq -r .token "$BODY")
}
# claims JWT: the payload, as compact JSON.
claims() {
	local b64
	b64=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $((${#b64} % 4)) -ne 0 ]; do b64="$b64="; done
	base64 -d <<<"$b64" 2>/dev/null | jq -c .
}

# alice pushes hub/secret/img:t1 (a local push under the prefix: push = true).
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"s":1}' >"$W/s.cfg"
mkblob "$W/s.layer" 3000
for f in s.cfg s.layer; do
	req POST "/v2/hub/secret/img/blobs/uploads/?digest=$(sha256_of "$W/$f")" "${A[@]}" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$W/$f"
	assert_status 201 "alice pushes $f to hub/secret/img"
done
printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
	"$(desc "$MT_OCI_CONFIG" "$W/s.cfg")" "$(desc "$MT_OCI_LAYER" "$W/s.layer")" >"$W/s.manifest"
req PUT /v2/hub/secret/img/manifests/t1 "${A[@]}" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/s.manifest"
assert_status 201 "alice pushes hub/secret/img:t1"
S_M=$(sha256_of "$W/s.manifest")
S_L=$(sha256_of "$W/s.layer")
S_C=$(sha256_of "$W/s.cfg")
# A referrer of it (an artifact with subject), for the referrers route.
printf '{"schemaVersion":2,"mediaType":"%s","artifactType":"application/x.sig","config":%s,"layers":[],"subject":%s}' \
	"$MT_OCI_MANIFEST" "$(desc_d "$MT_OCI_EMPTY" "$EMPTY_JSON_DIGEST" 2)" \
	"$(desc "$MT_OCI_MANIFEST" "$W/s.manifest")" >"$W/sig.manifest"
printf '{}' >"$W/empty.json"
req POST "/v2/hub/secret/img/blobs/uploads/?digest=$EMPTY_JSON_DIGEST" "${A[@]}" \
	-H 'Content-Type: application/octet-stream' --data-binary "@$W/empty.json"
assert_status 201 "alice pushes the empty config to hub/secret/img"
req PUT "/v2/hub/secret/img/manifests/$(sha256_of "$W/sig.manifest")" "${A[@]}" \
	-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/sig.manifest"
assert_status 201 "alice pushes a referrer of hub/secret/img@t1"
# alice warms the cache: lib/app:v1 through ?ns= (stored as hub/lib/app)
# and through the mirror (stored as lib/app).
req GET "/v2/lib/app/manifests/v1?ns=$UPH" "${A[@]}" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "alice: GET lib/app:v1 ?ns=$UPH (fetched into hub/lib/app)"
assert_eq "$(sha256_of "$BODY")" "$UP_M" "alice: ?ns= manifest has the upstream digest"
req GET "/v2/lib/app/blobs/$UP_L?ns=$UPH" "${A[@]}"
assert_status 200 "alice: GET lib/app layer ?ns="
req GET /v2/lib/app/manifests/v1 "${A[@]}" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "alice: GET lib/app:v1 through the mirror"
assert_eq "$(db "SELECT count(*) FROM repositories WHERE name IN ('hub/lib/app','lib/app')")" 2 \
	"the cache holds hub/lib/app (?ns=) and lib/app (mirror)"

# ---------------------------------------------------------------- the table
# Each row: METHOD PATH-TEMPLATE KIND.  {R} is the repository as the naming
# form writes it, {Q} the form's query ("" or ns=...), {D} the subject /
# layer digest, {M} the manifest digest.  KIND read|write says which users
# may: hub/secret/img is alice's alone.
ROWS=(
	"GET /v2/{R}/manifests/t1 read"
	"HEAD /v2/{R}/manifests/t1 read"
	"GET /v2/{R}/manifests/{M} read"
	"GET /v2/{R}/blobs/{D} read"
	"HEAD /v2/{R}/blobs/{D} read"
	"GET /v2/{R}/tags/list read"
	"GET /v2/{R}/referrers/{M} read"
	"POST /v2/{R}/blobs/uploads/ write"
	"PUT /v2/{R}/manifests/t1 write"
	"DELETE /v2/{R}/manifests/t2 delete"
	"DELETE /v2/{R}/blobs/{C} delete"
)
# Naming forms of hub/secret/img: the prefix path, and ?ns=<upstream host>.
FORMS=("hub/secret/img|" "secret/img|ns=$UPH")
token "bob:$PW_BOB" "repository:secret/img:pull,push,delete"
BOB_TOKEN_URL=$TOKEN
assert_match "$(claims "$BOB_TOKEN_URL" | jq -c .access)" '"name":"secret/img".*"pull"' \
	"/token grants bob secret/img (the URL's name: the rules allow it)"
token "bob:$PW_BOB" "repository:hub/secret/img:pull,push,delete"
BOB_TOKEN_HUB=$TOKEN

url_of() { # url_of ROW-PATH FORM -> the URL
	local p=$1 r=${2%%|*} q=${2#*|}
	p=${p//\{R\}/$r}
	p=${p//\{M\}/$S_M}
	p=${p//\{D\}/$S_L}
	p=${p//\{C\}/$S_C}
	[ -n "$q" ] && p=$(with_query "$p" "$q")
	printf '%s' "$p"
}
body_args() { # body_args METHOD PATH: curl arguments for a body
	case "$1 $2" in
	"PUT "*manifests*) printf '%s\n' -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/s.manifest" ;;
	esac
}

state() { # everything a refused request could change: rows and files
	{
		sqlite3 -batch "$ROOT/meta.db" .dump 2>&1
		store_listing
	} | sha256sum | cut -c1-64
}
BEFORE=$(state)
NTAGS=$(db "SELECT count(*) FROM tags")

for row in "${ROWS[@]}"; do
	read -r method path kind <<<"$row"
	for form in "${FORMS[@]}"; do
		url=$(url_of "$path" "$form")
		mapfile -t extra < <(body_args "$method" "$path")
		req "$method" "$url" "${B[@]}" "${extra[@]}"
		assert_status 403 "bob (Basic) $method $url is refused"
		[ "$method" != HEAD ] && assert_error DENIED "bob (Basic) $method $url"
		# The token /token gave him for the URL's name: the rules
		# refuse the repository actually served.
		req "$method" "$url" -H "Authorization: Bearer $BOB_TOKEN_URL" "${extra[@]}"
		assert_status 403 "bob (bearer token for secret/img) $method $url is refused"
		# A token for hub/secret/img grants nothing; where the URL names
		# secret/img it is the wrong scope (401 insufficient_scope).
		req "$method" "$url" -H "Authorization: Bearer $BOB_TOKEN_HUB" "${extra[@]}"
		assert_match "$STATUS" '^40[13]$' "bob (bearer token for hub/secret/img) $method $url is refused ($STATUS)"
		req "$method" "$url" "${extra[@]}"
		assert_status 401 "anonymous $method $url is challenged"
	done
done
# Mirror: lib/* is alice's to pull; bob's rules for "*" must not reach it
# through the mirror either.
for url in /v2/lib/app/manifests/v1 "/v2/lib/app/blobs/$UP_L" /v2/lib/app/tags/list "/v2/lib/app/referrers/$UP_M"; do
	req GET "$url" "${B[@]}"
	assert_status 403 "bob GET $url (mirror) is refused"
done
AFTER=$(state)
assert_eq "$AFTER" "$BEFORE" "no row of meta.db and no blob or upload file changed after the refusals"
assert_eq "$(db "SELECT count(*) FROM tags")" "$NTAGS" "the tag count is unchanged"
assert_eq "$(db "SELECT count(*) FROM repositories WHERE name = 'secret/img'")" 0 "no repository secret/img was created"

# Mounts: from= names a repository bob may not pull; without from= the
# automatic discovery must not find alice's blob for him.
req POST "/v2/bob/x/blobs/uploads/?mount=$S_L&from=hub/secret/img" "${B[@]}"
assert_status 202 "bob: mount from hub/secret/img is not done (a session instead)"
req POST "/v2/bob/x/blobs/uploads/?mount=$S_L&from=secret/img&ns=$UPH" "${B[@]}"
assert_ne "$STATUS" 201 "bob: mount from=secret/img with ?ns= mounts nothing"
req POST "/v2/bob/x/blobs/uploads/?mount=$S_L" "${B[@]}"
assert_status 202 "bob: mount without from= does not find alice's blob"
req GET "/v2/bob/x/blobs/$S_L" "${B[@]}"
assert_status 404 "bob: the blob is not in bob/x"
# The catalog shows bob none of hub/* nor lib/*.
req GET "/v2/_catalog" "${B[@]}"
assert_status 200 "bob: GET /v2/_catalog"
assert_eq "$(jq -r '[.repositories[] | select(startswith("hub/") or startswith("lib/"))] | length' "$BODY")" 0 \
	"bob's catalog lists no hub/* or lib/* repository"
req GET "/v2/_catalog" "${A[@]}"
assert_match "$(jq -r '.repositories | join(" ")' "$BODY")" 'hub/secret/img' "alice's catalog lists hub/secret/img"

# ---------------------------------------------------------------- allowed
for row in "${ROWS[@]}"; do
	read -r method path kind <<<"$row"
	[ "$kind" = read ] || continue
	for form in "${FORMS[@]}"; do
		url=$(url_of "$path" "$form")
		req "$method" "$url" "${A[@]}" -H "Accept: $MT_OCI_MANIFEST"
		assert_status 200 "alice $method $url"
	done
done
req GET "/v2/secret/img/manifests/t1?ns=$UPH" "${A[@]}" -H "Accept: $MT_OCI_MANIFEST"
assert_eq "$(sha256_of "$BODY")" "$S_M" "alice: ?ns= serves hub/secret/img's own t1 (the authorized repository)"
req GET "/v2/secret/img/tags/list?ns=$UPH" "${A[@]}"
assert_eq "$(jq -r .name "$BODY")" secret/img "tags list via ?ns= names the repository as the client wrote it"
# alice's token for the URL's name works through ?ns= (containerd's flow).
token "alice:$PW_ALICE" "repository:secret/img:pull,push"
AT=$TOKEN
req GET "/v2/secret/img/manifests/t1?ns=$UPH" -H "Authorization: Bearer $AT" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "alice (bearer token for secret/img) GET via ?ns="
req PUT "/v2/secret/img/manifests/t2?ns=$UPH" -H "Authorization: Bearer $AT" \
	-H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/s.manifest"
assert_status 201 "alice (bearer token for secret/img) PUT t2 via ?ns= (push = true)"
assert_eq "$(db "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name='hub/secret/img' AND t.name='t2'")" 1 \
	"alice's ?ns= push wrote hub/secret/img:t2"
req POST "/v2/bob/x/blobs/uploads/?mount=$S_L&from=hub/secret/img" "${A[@]}"
assert_status 201 "alice (who may pull hub/secret/img) mounts from it"

# ---------------------------------------------------------------- revocation
# (finding 4) Tokens the daemon issued end with their user: a password
# change or a removal from the users file, then SIGHUP, refuses them at once
# instead of at token_ttl.
nlines() { grep -c -- "$1" "$LOG"; }
hup_wait() { # SIGHUP; wait until 'reloaded' has one more line
	local n c
	c=$(nlines 'info: reloaded ')
	kill -HUP "$DAEMON_PID"
	for ((n = 0; n < 50; n++)); do
		[ "$(nlines 'info: reloaded ')" -gt "$c" ] && return 0
		sleep 0.1
	done
	return 1
}
token "alice:$PW_ALICE" "repository:hub/secret/img:pull"
AT_OLD=$TOKEN
assert_match "$(claims "$AT_OLD" | jq -r .ocv)" '^[0-9a-f]{24}$' "alice's token carries the credential fingerprint (ocv)"
token "bob:$PW_BOB" "repository:bob/x:pull"
BT_OLD=$TOKEN
req GET /v2/hub/secret/img/manifests/t1 -H "Authorization: Bearer $AT_OLD" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "alice's token works before her password changes"
req GET /v2/bob/x/tags/list -H "Authorization: Bearer $BT_OLD"
assert_ne "$STATUS" 401 "bob's token is accepted before he is removed"
# A SIGHUP with nothing changed keeps both tokens.
hup_wait || t_fail "SIGHUP: 'reloaded' logged"
req GET /v2/hub/secret/img/manifests/t1 -H "Authorization: Bearer $AT_OLD" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "a reload that changes no user keeps alice's token"
passwd_user alice 'alice-new-pw-9' || t_fail "ociregd passwd alice (change)"
sed -i '/^bob:/d' "$USERS"
hup_wait || t_fail "SIGHUP after the users file changed: 'reloaded' logged"
req GET /v2/hub/secret/img/manifests/t1 -H "Authorization: Bearer $AT_OLD" -H "Accept: $MT_OCI_MANIFEST"
assert_status 401 "alice's token issued before her password changed is refused"
assert_match "$(hdr WWW-Authenticate)" 'error="invalid_token"' "the challenge says invalid_token"
req GET /v2/bob/x/tags/list -H "Authorization: Bearer $BT_OLD"
assert_status 401 "bob's token is refused once bob is no longer a user"
assert_match "$(grep 'bearer token of bob refused' "$LOG" | tail -n 1)" 'no such user' "the log says why bob's token was refused"
token "alice:alice-new-pw-9" "repository:hub/secret/img:pull"
req GET /v2/hub/secret/img/manifests/t1 -H "Authorization: Bearer $TOKEN" -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "a token issued with alice's new password works"

up_stop
e2e_finish
