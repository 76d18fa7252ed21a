#!/usr/bin/env bash
# t_auth.sh — authentication, authorization and TLS, all over HTTPS with a
# self-signed certificate made here (curl --cacert):
#   `ociregd passwd` (password on stdin, atomic users file, a last line
#   without newline, long passwords, a user named like a group); the 401
#   challenge (exact WWW-Authenticate per route); GET /token (JSON fields,
#   expires_in, the grant = asked ∩ allowed, '+'-separated scopes, the
#   32-entry cap, wrong passwords); bearer tokens (pull, push,
#   insufficient_scope, DENIED, edited / alg none / HS256 / foreign-key /
#   wrong-audience tokens refused); Basic directly on /v2/; catalog
#   filtering and paging; mounts with and without pull on the source (201 /
#   202); upload sessions bound to their repository; delete and referrers
#   rights; a 20 MB blob, a chunked 8 MB upload and a slow reader over TLS;
#   idle / stalled TLS connections closed; SIGHUP reloading users, rules and
#   the certificate (bad configs refused); anonymous = pull; the
#   failed-login limit (429 + an honest Retry-After); no secret in the log;
#   TLS 1.0/1.1 refused, 1.2 and 1.3 accepted; check-config errors.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
command -v openssl >/dev/null || bail "openssl is required"

W=$TMP/w
mkdir -p "$W" "$TMP/tls"
CERT=$TMP/tls/cert.pem
KEY=$TMP/tls/key.pem
USERS=$TMP/users
TOKKEY1=$TMP/token1.key
TOKKEY2=$TMP/token2.key
# Distinctive passwords so a leak into the log is easy to find.
PW_ALICE='Alice-pw-7f3a9c1e'
PW_BOB='Bob-pw-2d8e6b40'
PW_CAROL='Carol-pw-91c5aa07'
SVC=ociregd

# ---------------------------------------------------------------- helpers

# mkcert CERT KEY: a self-signed P-256 certificate for 127.0.0.1.
mkcert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -days 2 \
		-keyout "$2" -out "$1" >"$TMP/openssl.out" 2>&1
}

# mkconf ANONYMOUS TOKEN_KEY MAX_FAILURES FAILURE_WINDOW [EXTRA-AUTH-LINES]:
# the whole config: TLS, three users, groups and access rules ($SERVER_EXTRA:
# more [server] lines, $ACCESS_EXTRA: more sections at the end).
mkconf() {
	cat >"$CONF" <<EOF
[server]
listen = 127.0.0.1:0
workers = ${E2E_WORKERS:-1}
log_level = debug
${SERVER_EXTRA:-}
[storage]
root = $ROOT
sync = true
[auth]
users = $USERS
anonymous = $1
token_key = $2
max_failures = $3
failure_window = $4
${5:-}
[tls]
certificate = $CERT
key = $KEY
[group "devs"]
members = alice, carol
[access "team/*"]
pull = *
push = @devs
delete = alice
[access "team/secret/*"]
pull = alice
push = alice
[access "pub/*"]
pull = *
push = alice
${ACCESS_EXTRA:-}
EOF
}

# tls_start: daemon_start, then talk HTTPS to it.
tls_start() {
	daemon_start
	BASE=https://127.0.0.1:$PORT
	REALM=$BASE/token
}

# treq METHOD PATH [curl args...]: req over TLS, verifying our certificate.
treq() {
	local method=$1 target=$2
	shift 2
	req "$method" "$target" --cacert "$CERT" "$@"
}

b64url_dec() {
	local s=${1//-/+}
	s=${s//_/\/}
	case $((${#s} % 4)) in
	2) s="$s==" ;;
	3) s="$s=" ;;
	esac
	printf '%s' "$s" | base64 -d 2>/dev/null
}
b64url_enc() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
jwt_part() { cut -d. -f"$2" <<<"$1"; }
jwt_payload() { b64url_dec "$(jwt_part "$1" 2)"; }

# token CREDS SCOPE...: GET /token with Basic CREDS ("-" for none) and the
# scopes (URL-encoded by curl).  Sets TOKEN ("" unless 200) and leaves the
# response in $BODY / $STATUS.
TOKENS=()
token() {
	local creds=$1 s
	shift
	local args=(-G --data-urlencode "service=$SVC")
	for s in "$@"; do args+=(--data-urlencode "scope=$s"); done
	[ "$creds" != - ] && args+=(-u "$creds")
	treq GET /token "${args[@]}"
	TOKEN=
	if [ "$STATUS" = 200 ]; then
		TOKEN=$(jq -r .token "$BODY" 2>/dev/null)
		TOKENS+=("$TOKEN")
	fi
}

# grants TOKEN: the access claim as "name=actions,..;" sorted, e.g.
# "team/app=pull,push;"
grants() {
	jwt_payload "$1" | jq -r '[.access[] | "\(.name)=\(.actions | join(","))"] | join(";")' 2>/dev/null
}

bearer() { printf 'Authorization: Bearer %s' "$1"; }

# push_blob_as FILE REPO [curl args (credentials)...]: monolithic POST.
push_blob_as() {
	local f=$1 repo=$2
	shift 2
	treq POST "/v2/$repo/blobs/uploads/?digest=$(sha256_of "$f")" \
		-H 'Content-Type: application/octet-stream' --data-binary "@$f" "$@"
}

# push_image REPO TAG PREFIX [curl args...]: config + one layer + manifest,
# asserting each 201.  Sets IMG_M, IMG_LAYER (digests).
push_image() {
	local repo=$1 tag=$2 p=$W/$3
	shift 3
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"x":"%s"}' "$p" >"$p.cfg"
	mkblob "$p.layer" 3000
	push_blob_as "$p.cfg" "$repo" "$@"
	assert_status 201 "push config blob to $repo"
	push_blob_as "$p.layer" "$repo" "$@"
	assert_status 201 "push layer blob to $repo"
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc "$MT_OCI_CONFIG" "$p.cfg")" "$(desc "$MT_OCI_LAYER" "$p.layer")" >"$p.manifest"
	treq PUT "/v2/$repo/manifests/$tag" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$p.manifest" "$@"
	assert_status 201 "PUT manifest $repo:$tag"
	IMG_M=$(sha256_of "$p.manifest")
	IMG_LAYER=$(sha256_of "$p.layer")
}

# assert_challenge SCOPE-OR-EMPTY DESC [ERROR]: 401 UNAUTHORIZED with exactly
# this WWW-Authenticate.
assert_challenge() {
	local want="Bearer realm=\"$REALM\",service=\"$SVC\""
	[ -n "$1" ] && want="$want,scope=\"$1\""
	[ -n "${3:-}" ] && want="$want,error=\"$3\""
	assert_status 401 "$2"
	assert_error UNAUTHORIZED "$2"
	assert_header WWW-Authenticate "$want" "$2"
}

# passwd USER PASSWORD: `ociregd passwd` with the password on stdin.
PASSWD_OUT=$TMP/passwd.out
passwd_user() {
	printf '%s\n' "$2" | timeout 60 "$OCIREGD" passwd -c "$CONF" "$1" >"$PASSWD_OUT" 2>&1
}

# ---------------------------------------------------------------- certificate, users
mkcert "$CERT" "$KEY" || bail "openssl made a self-signed certificate" "$(cat "$TMP/openssl.out")"
t_pass "openssl made a self-signed P-256 certificate for 127.0.0.1"
mkconf none "$TOKKEY1" 1000 1m

passwd_user alice 'first-password-x'
assert_eq "$?" 0 "ociregd passwd alice (password on stdin): exit 0"
assert_match "$(cat "$PASSWD_OUT")" "added alice" "ociregd passwd reports 'added alice'"
assert_match "$(cat "$USERS" 2>&1)" '^alice:\$argon2id\$' "users file has an Argon2id line for alice"
assert_eq "$(stat -c %a "$USERS" 2>&1)" 600 "users file is mode 0600"
passwd_user alice "$PW_ALICE"
assert_eq "$?" 0 "ociregd passwd alice again (change): exit 0"
assert_match "$(cat "$PASSWD_OUT")" "changed alice" "ociregd passwd reports 'changed alice'"
passwd_user bob "$PW_BOB"
assert_eq "$?" 0 "ociregd passwd bob: exit 0"
passwd_user carol "$PW_CAROL"
assert_eq "$?" 0 "ociregd passwd carol: exit 0"
assert_eq "$(cut -d: -f1 "$USERS" | tr '\n' ' ')" "alice bob carol " "users file: one line per user, in order"
assert_file_absent "$USERS.tmp" "ociregd passwd leaves no temporary file"
if grep -qF -e "$PW_ALICE" -e "$PW_BOB" -e "$PW_CAROL" -e first-password-x "$USERS"; then
	t_fail "users file holds no password in clear"
else
	t_pass "users file holds no password in clear"
fi
SUM=$(sha256sum "$USERS")
printf '' | timeout 60 "$OCIREGD" passwd -c "$CONF" dave >"$PASSWD_OUT" 2>&1
assert_ne "$?" 0 "ociregd passwd with an empty password fails"
timeout 60 "$OCIREGD" passwd -c "$CONF" 'bad/name' <<<"pw" >"$PASSWD_OUT" 2>&1
assert_ne "$?" 0 "ociregd passwd with an invalid user name fails"
assert_eq "$(sha256sum "$USERS")" "$SUM" "failed passwd runs leave the users file unchanged"

# A users file whose last line has no newline (edited by hand): passwd
# must not glue the new line onto it.
printf '[storage]\nroot = %s\n[auth]\nusers = %s\ntoken_key = %s\n' "$W/nonl-root" "$W/users-nonl" "$W/nonl.key" >"$W/nonl.ini"
printf 'dave:$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW' >"$W/users-nonl"
printf 'pw-for-erin\n' | timeout 60 "$OCIREGD" passwd -c "$W/nonl.ini" erin >"$PASSWD_OUT" 2>&1
assert_eq "$?" 0 "ociregd passwd on a users file without a final newline: exit 0"
assert_eq "$(cut -d: -f1 "$W/users-nonl" | tr '\n' ' ')" "dave erin " \
	"ociregd passwd keeps the last line of a file without a final newline separate ($(head -c 300 "$W/users-nonl" | tr '\n' '|'))"
timeout 60 "$OCIREGD" check-config -c "$W/nonl.ini" >"$W/cc.out" 2>&1
assert_eq "$?" 0 "the users file is still valid after passwd ($(head -c 200 "$W/cc.out"))"

# Long passwords (600, 1022, 1023, 3000 characters) are either refused by
# passwd or work as typed (checked on daemon #1); never silently cut.
LONG_LENS="600 1022 1023 3000"
declare -A LONG_RC
for n in $LONG_LENS; do
	{
		head -c "$n" /dev/zero | tr '\0' 'L'
		printf '\n'
	} >"$W/pwlong"
	timeout 60 "$OCIREGD" passwd -c "$CONF" "long$n" <"$W/pwlong" >"$PASSWD_OUT" 2>&1
	LONG_RC[$n]=$?
done

# A user named like a group reference ('@' is allowed in names, for
# e-mail-like users): refused by passwd, or no member of that group
# (checked on daemon #1).
printf 'Fake-devs-pw\n' | timeout 60 "$OCIREGD" passwd -c "$CONF" '@devs' >"$PASSWD_OUT" 2>&1
FAKE_RC=$?

timeout 60 "$OCIREGD" check-config -c "$CONF" >"$W/cc.out" 2>&1
assert_eq "$?" 0 "check-config accepts the TLS + auth config ($(head -c 200 "$W/cc.out"))"

# ---------------------------------------------------------------- daemon #1
tls_start
assert_file_exists "$TOKKEY1" "token key file created on first start"
assert_eq "$(stat -c %a "$TOKKEY1" 2>&1)" 600 "token key file is mode 0600"

# TLS: our certificate, verified.
treq GET /v2/
assert_eq "$CURL_RC" 0 "curl --cacert: TLS handshake and certificate verification succeed"
req GET /v2/
assert_eq "$STATUS" 000 "without --cacert the self-signed certificate is not trusted (curl exit $CURL_RC)"

# ---- challenges
treq GET /v2/
assert_challenge "" "GET /v2/ without credentials"
treq GET /v2/team/app/manifests/latest
assert_challenge "repository:team/app:pull" "GET manifest without credentials"
treq HEAD /v2/team/app/manifests/latest
assert_status 401 "HEAD manifest without credentials"
assert_header WWW-Authenticate "Bearer realm=\"$REALM\",service=\"$SVC\",scope=\"repository:team/app:pull\"" "HEAD manifest without credentials"
treq GET "/v2/team/app/blobs/$EMPTY_SHA256"
assert_challenge "repository:team/app:pull" "GET blob without credentials"
treq POST /v2/team/app/blobs/uploads/
assert_challenge "repository:team/app:pull,push" "POST upload without credentials"
treq PUT /v2/team/app/manifests/v1 -H "Content-Type: $MT_OCI_MANIFEST" --data-binary '{}'
assert_challenge "repository:team/app:pull,push" "PUT manifest without credentials"
treq DELETE "/v2/team/app/manifests/$EMPTY_SHA256"
assert_challenge "repository:team/app:delete" "DELETE manifest without credentials"
treq GET /v2/team/app/tags/list
assert_challenge "repository:team/app:pull" "GET tags/list without credentials"
treq GET /v2/_catalog
assert_challenge "registry:catalog:*" "GET /v2/_catalog without credentials"
treq GET /v2/localhost:5000/a/b/manifests/x
# (a name with a colon is not a valid repository name; either way no 2xx)
assert_match "$STATUS" '^(400|401|404)$' "GET with an invalid repository name is refused without 2xx"
# The realm is built from Host; a Host that could break the header is not echoed.
treq GET /v2/ -H 'Host: evil"x, Basic realm="y'
assert_status 401 "GET /v2/ with a hostile Host header"
assert_match "$(hdr WWW-Authenticate)" '^Bearer realm="https://[^"]*/token",service="ociregd"$' "hostile Host header does not break WWW-Authenticate"

# ---- the token endpoint
token "alice:$PW_ALICE" "repository:team/app:pull,push"
assert_status 200 "GET /token as alice"
assert_match "$(hdr Content-Type)" '^application/json' "GET /token: Content-Type application/json"
assert_eq "$(jq -r '[has("token"),has("access_token"),has("expires_in"),has("issued_at")] | all' "$BODY" 2>&1)" true \
	"token response has token, access_token, expires_in, issued_at"
assert_eq "$(jq -r '.token == .access_token' "$BODY" 2>&1)" true "token == access_token"
assert_eq "$(jq -r '(.expires_in|type) == "number" and .expires_in >= 60' "$BODY" 2>&1)" true "expires_in is a number >= 60"
assert_eq "$(jq -r .expires_in "$BODY")" 300 "expires_in is the default token_ttl (5m = 300)"
ISSUED=$(jq -r .issued_at "$BODY")
assert_match "$ISSUED" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$' "issued_at is RFC 3339"
SKEW=$(($(date -u +%s) - $(date -u -d "$ISSUED" +%s 2>/dev/null || echo 0)))
assert_match "${SKEW#-}" '^([0-9]|[1-5][0-9])$' "issued_at is now (skew ${SKEW}s)"
TOK_ALICE=$TOKEN
assert_eq "$(b64url_dec "$(jwt_part "$TOK_ALICE" 1)" | jq -r .alg 2>&1)" EdDSA "token header: alg EdDSA"
P=$(jwt_payload "$TOK_ALICE")
assert_eq "$(jq -r '.sub + " " + .aud' <<<"$P" 2>&1)" "alice ociregd" "token claims: sub alice, aud ociregd"
assert_eq "$(jq -r '.exp - .iat' <<<"$P" 2>&1)" 300 "token claims: exp - iat = expires_in"
assert_eq "$(grants "$TOK_ALICE")" "team/app=pull,push" "alice is granted pull,push on team/app"

# The grant is what was asked ∩ what is allowed; partial is not an error.
token "bob:$PW_BOB" "repository:team/app:pull,push"
assert_status 200 "GET /token as bob asking pull,push (partial grant is not an error)"
TOK_BOB=$TOKEN
assert_eq "$(grants "$TOK_BOB")" "team/app=pull" "bob (read-only) is granted only pull on team/app"
token "bob:$PW_BOB" "repository:team/app:pull" "repository:team/secret/x:pull,push" "registry:catalog:*"
assert_status 200 "GET /token as bob with three scope parameters"
assert_eq "$(grants "$TOKEN")" "team/app=pull;team/secret/x=;catalog=pull,push,delete,*" \
	"bob: team/app pull, nothing on team/secret/x, the catalog"
token "carol:$PW_CAROL" "repository:team/app:pull,push repository:team/secret/x:pull"
assert_status 200 "GET /token as carol with two space-separated scopes in one parameter"
assert_eq "$(grants "$TOKEN")" "team/app=pull,push;team/secret/x=" "carol: pull,push on team/app, nothing on team/secret/x"
TOK_CAROL=$TOKEN
token "alice:$PW_ALICE" "repository:team/secret/x:pull,push,delete" "repository:pub/p:*"
assert_eq "$(grants "$TOKEN")" "team/secret/x=pull,push;pub/p=pull,push" "alice: pull,push on team/secret/x (no delete there), pull,push on pub/p"
TOK_ALICE_SECRET=$TOKEN

# Wrong credentials: 401, no token.
token "alice:wrong-password" "repository:team/app:pull"
assert_status 401 "GET /token with a wrong password"
assert_eq "$(jq -r '.token // empty' "$BODY" 2>/dev/null)" "" "no token for a wrong password"
assert_match "$(hdr WWW-Authenticate)" '^(Bearer|Basic) realm=' "GET /token with a wrong password: a challenge"
token "mallory:$PW_ALICE" "repository:team/app:pull"
assert_status 401 "GET /token for an unknown user"
token "alice:" "repository:team/app:pull"
assert_status 401 "GET /token with an empty password"
token "alice:${PW_ALICE}x" "repository:team/app:pull"
assert_status 401 "GET /token with the password plus one character"
treq GET "/token?service=$SVC" -H 'Authorization: Basic !!!notbase64'
assert_status 401 "GET /token with malformed Basic credentials"
# Form encoding: '+' is a space, so two scopes in one parameter.
treq GET "/token?service=$SVC&scope=repository:team/app:pull+repository:pub/p:pull,push" -u "bob:$PW_BOB"
assert_eq "$(grants "$(jq -r .token "$BODY" 2>/dev/null)")" "team/app=pull;pub/p=pull" "scope with '+' between two scopes (form encoding)"
TOKENS+=("$(jq -r .token "$BODY" 2>/dev/null)")
# Long passwords: if passwd accepted one, it logs in as typed (Basic and
# /token), and a prefix of it does not.
for n in $LONG_LENS; do
	PW_LONG=$(head -c "$n" /dev/zero | tr '\0' 'L')
	if [ "${LONG_RC[$n]}" = 0 ]; then
		treq GET /v2/ -u "long$n:$PW_LONG"
		assert_status 200 "a $n-character password accepted by 'ociregd passwd' logs in as typed (Basic)"
		token "long$n:$PW_LONG" "repository:team/app:pull"
		assert_status 200 "a $n-character password: GET /token"
		treq GET /v2/ -u "long$n:${PW_LONG:0:$((n - 1))}"
		assert_status 401 "the first $((n - 1)) characters of the $n-character password are not the password"
	else
		t_pass "ociregd passwd refuses a $n-character password (exit ${LONG_RC[$n]})"
		treq GET /v2/ -u "long$n:${PW_LONG:0:1000}"
		assert_status 401 "no user long$n was created by the refused passwd"
	fi
done

# Anonymous (anonymous = none): whatever it gets, it grants nothing.
token - "repository:team/app:pull"
if [ "$STATUS" = 200 ]; then
	assert_eq "$(grants "$TOKEN")" "team/app=" "anonymous token (anonymous = none) grants nothing"
	treq GET /v2/team/app/tags/list -H "$(bearer "$TOKEN")"
	assert_status 401 "anonymous token cannot pull (anonymous = none)"
else
	assert_status 401 "anonymous GET /token (anonymous = none) is refused"
fi

# The user called "@devs" (if passwd took the name) is not the group @devs.
if [ "$FAKE_RC" = 0 ]; then
	treq POST /v2/team/fake/blobs/uploads/ -u '@devs:Fake-devs-pw'
	assert_status_error 403 DENIED "a user named '@devs' does not get the push right of the group @devs (push = @devs on team/*)"
	token '@devs:Fake-devs-pw' "repository:team/fake:pull,push"
	assert_eq "$(grants "$TOKEN")" "team/fake=pull" "a user named '@devs' gets only pull (pull = *) in a token"
else
	t_pass "ociregd passwd refuses the user name '@devs' (exit $FAKE_RC)"
fi

# ---- push and pull with tokens
push_image team/app v1 app -H "$(bearer "$TOK_ALICE")"
M_APP=$IMG_M
L_APP=$IMG_LAYER
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_ALICE")"
assert_status 200 "alice pulls team/app:v1 with her token"
assert_body_digest "$M_APP" "alice pulls team/app:v1"
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_BOB")"
assert_status 200 "bob pulls team/app:v1 with his pull token"
assert_header Docker-Content-Digest "$M_APP" "bob pulls team/app:v1"
treq GET "/v2/team/app/blobs/$L_APP" -H "$(bearer "$TOK_BOB")"
assert_status 200 "bob GETs a layer with his pull token"
assert_body_digest "$L_APP" "bob GETs a layer"
treq GET /v2/team/app/tags/list -H "$(bearer "$TOK_BOB")"
assert_status 200 "bob lists tags with his pull token"
assert_json .tags '["v1"]' "bob lists tags"

# A read-only user's token cannot push: he could never have push -> 403.
treq POST /v2/team/app/blobs/uploads/ -H "$(bearer "$TOK_BOB")"
assert_status_error 403 DENIED "bob (read-only) POST upload with his token"
treq PUT /v2/team/app/manifests/bob -H "$(bearer "$TOK_BOB")" -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/app.manifest"
assert_status_error 403 DENIED "bob (read-only) PUT manifest with his token"
treq DELETE "/v2/team/app/manifests/$M_APP" -H "$(bearer "$TOK_BOB")"
assert_status_error 403 DENIED "bob DELETE manifest with his token"

# A token lacking a scope the user could have: 401 insufficient_scope.
token "alice:$PW_ALICE" "repository:team/app:pull"
TOK_ALICE_PULL=$TOKEN
treq POST /v2/team/app/blobs/uploads/ -H "$(bearer "$TOK_ALICE_PULL")"
assert_challenge "repository:team/app:pull,push" "alice POST upload with a pull-only token" insufficient_scope
treq GET /v2/team/other/manifests/v1 -H "$(bearer "$TOK_ALICE")"
assert_challenge "repository:team/other:pull" "alice GET team/other with a token for team/app" insufficient_scope
treq DELETE "/v2/team/app/manifests/$M_APP" -H "$(bearer "$TOK_ALICE")"
assert_challenge "repository:team/app:delete" "alice DELETE with a pull,push token" insufficient_scope
treq GET /v2/team/secret/x/tags/list -H "$(bearer "$TOK_BOB")"
assert_status_error 403 DENIED "bob GET team/secret/x (not allowed) with a token for team/app"
# A token is not limited to /v2/ checks: GET /v2/ with any valid token.
treq GET /v2/ -H "$(bearer "$TOK_BOB")"
assert_status 200 "GET /v2/ with bob's token"

# ---- Basic credentials directly
treq GET /v2/ -u "alice:$PW_ALICE"
assert_status 200 "GET /v2/ with Basic alice"
treq GET /v2/team/app/manifests/v1 -u "bob:$PW_BOB"
assert_status 200 "GET manifest with Basic bob"
assert_body_digest "$M_APP" "GET manifest with Basic bob"
treq GET /v2/team/app/manifests/v1 -u "bob:wrong"
assert_challenge "repository:team/app:pull" "GET manifest with Basic bob and a wrong password"
treq GET /v2/team/app/manifests/v1 -u "nobody:$PW_BOB"
assert_status 401 "GET manifest with Basic for an unknown user"
treq POST /v2/team/app/blobs/uploads/ -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob (read-only) POST upload with Basic"
mkblob "$W/bobblob" 1000
push_blob_as "$W/bobblob" team/app -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob (read-only) monolithic blob push with Basic"
treq HEAD "/v2/team/app/blobs/$(sha256_of "$W/bobblob")" -u "alice:$PW_ALICE"
assert_status 404 "bob's refused blob is not in team/app"
treq GET /v2/team/secret/x/tags/list -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob GET team/secret/x with Basic"
push_image team/secret/x s1 secret -u "alice:$PW_ALICE"
M_SECRET=$IMG_M
L_SECRET=$IMG_LAYER
push_image team/carol c1 carol -u "carol:$PW_CAROL"
treq GET "/v2/team/secret/x/manifests/s1" -u "carol:$PW_CAROL"
assert_status_error 403 DENIED "carol (devs) cannot pull team/secret/x"
push_image pub/p p1 pub -u "alice:$PW_ALICE"
push_blob_as "$W/bobblob" pub/p -u "carol:$PW_CAROL"
assert_status_error 403 DENIED "carol cannot push to pub/p (push = alice)"
treq GET /v2/pub/p/manifests/p1 -u "carol:$PW_CAROL"
assert_status 200 "carol pulls pub/p (pull = *)"
treq GET /v2/team/secret/x/manifests/s1 -H "$(bearer "$TOK_ALICE_SECRET")"
assert_status 200 "alice pulls team/secret/x with her token"
treq DELETE "/v2/team/secret/x/manifests/$M_SECRET" -u "alice:$PW_ALICE"
assert_status_error 403 DENIED "alice cannot delete in team/secret/x (no delete list there)"

# delete = alice on team/*; referrers need pull.
push_image team/carol c2 carol2 -u "carol:$PW_CAROL"
M_CAROL=$IMG_M
treq DELETE "/v2/team/carol/manifests/$M_CAROL" -u "carol:$PW_CAROL"
assert_status_error 403 DENIED "carol (push, no delete) cannot delete in team/carol"
treq DELETE "/v2/team/carol/manifests/$M_CAROL" -u "alice:$PW_ALICE"
assert_status 202 "alice (delete = alice) deletes a manifest in team/carol"
treq GET /v2/team/carol/manifests/c2 -u "alice:$PW_ALICE"
assert_status 404 "the deleted manifest is gone"
treq GET /v2/team/carol/manifests/c1 -u "bob:$PW_BOB"
assert_status 200 "the other manifest of team/carol stays"
treq GET "/v2/team/secret/x/referrers/$M_SECRET" -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob GET referrers in team/secret/x"
treq GET "/v2/team/secret/x/referrers/$M_SECRET"
assert_challenge "repository:team/secret/x:pull" "GET referrers without credentials"
treq GET "/v2/team/secret/x/referrers/$M_SECRET" -u "alice:$PW_ALICE"
assert_status 200 "alice GET referrers in team/secret/x"

# Upload sessions belong to their repository and need push.
treq POST /v2/team/secret/x/blobs/uploads/ -u "alice:$PW_ALICE"
assert_status 202 "alice starts an upload session in team/secret/x"
SECRET_UL=$(loc_url "$(hdr Location)")
treq GET "$SECRET_UL" -u "carol:$PW_CAROL"
assert_status_error 403 DENIED "carol cannot look at alice's team/secret/x upload session"
treq PATCH "${SECRET_UL/team\/secret\/x/team\/app}" -u "carol:$PW_CAROL" -H 'Content-Type: application/octet-stream' --data-binary "@$W/bobblob"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "carol cannot reach alice's team/secret/x session through team/app (where she may push)"
treq PUT "$(with_query "${SECRET_UL/team\/secret\/x/team\/app}" "digest=$(sha256_of "$W/bobblob")")" -u "carol:$PW_CAROL"
assert_status_error 404 BLOB_UPLOAD_UNKNOWN "carol cannot close alice's session through team/app"
treq POST /v2/team/app/blobs/uploads/ -u "alice:$PW_ALICE"
APP_UL=$(loc_url "$(hdr Location)")
treq GET "$APP_UL" -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob (pull only) cannot look at an upload session in team/app"
treq DELETE "$APP_UL" -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob (pull only) cannot cancel an upload session in team/app"
treq DELETE "$APP_UL" -u "alice:$PW_ALICE"
assert_status 204 "alice cancels her upload session"

# A token for the most scopes the endpoint grants (long names) still fits
# what the daemon accepts in a request.
SC=("repository:team/app:pull")
for i in $(seq 1 34); do SC+=("repository:team/$(printf '%0150d' "$i"):pull,push"); done
token "alice:$PW_ALICE" "${SC[@]}"
assert_status 200 "GET /token with 35 scopes of long names"
assert_eq "$(jwt_payload "$TOKEN" | jq '.access | length' 2>&1) $(jwt_payload "$TOKEN" | jq -r '.access[0].name + "=" + (.access[0].actions|join(","))' 2>&1)" \
	"32 team/app=pull" "the grant is capped at 32 entries, team/app first (token ${#TOKEN} bytes)"
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOKEN")"
assert_status 200 "the largest token works on a request"

# ---- 20 MB blob over TLS
mkblob "$W/big" $((20 * 1024 * 1024))
BIG=$(sha256_of "$W/big")
push_blob_as "$W/big" team/app -u "alice:$PW_ALICE"
assert_status 201 "push a 20 MB blob over TLS"
treq GET "/v2/team/app/blobs/$BIG" -H "$(bearer "$TOK_BOB")"
assert_status 200 "GET the 20 MB blob over TLS with bob's token"
assert_eq "$DLSIZE" $((20 * 1024 * 1024)) "20 MB blob: every byte received"
assert_header Content-Length $((20 * 1024 * 1024)) "20 MB blob over TLS"
assert_body_digest "$BIG" "20 MB blob over TLS"
treq GET "/v2/team/app/blobs/$BIG" -H "$(bearer "$TOK_BOB")" -H 'Range: bytes=10485760-10551295'
assert_status 206 "range of the 20 MB blob over TLS"
slice "$W/big" 10485760 65536 "$W/big.slice"
assert_body_digest "$(sha256_of "$W/big.slice")" "range of the 20 MB blob over TLS"
treq HEAD "/v2/team/app/blobs/$BIG" -H "$(bearer "$TOK_BOB")"
assert_status 200 "HEAD the 20 MB blob over TLS"
assert_header Content-Length $((20 * 1024 * 1024)) "HEAD the 20 MB blob over TLS"
# Several transfers on one TLS connection (keep-alive).
OUTS=$(curl -s --cacert "$CERT" -H "$(bearer "$TOK_BOB")" -o "$W/k1" "$BASE/v2/team/app/blobs/$BIG" \
	--next --cacert "$CERT" -H "$(bearer "$TOK_BOB")" -o "$W/k2" "$BASE/v2/team/app/blobs/$BIG" \
	-w '%{http_code} %{num_connects}\n' 2>&1)
assert_eq "$OUTS" "200 0" "second 20 MB GET reuses the TLS connection"
assert_eq "$(sha256_of "$W/k1") $(sha256_of "$W/k2")" "$BIG $BIG" "both keep-alive 20 MB downloads are intact"
# A chunked (Transfer-Encoding: chunked) PATCH upload of 8 MB over TLS.
mkblob "$W/big2" $((8 * 1024 * 1024))
BIG2=$(sha256_of "$W/big2")
treq POST /v2/team/app/blobs/uploads/ -u "carol:$PW_CAROL"
assert_status 202 "carol starts an upload session over TLS"
UL=$(loc_url "$(hdr Location)")
treq PATCH "$UL" -u "carol:$PW_CAROL" -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' --data-binary "@$W/big2"
assert_status 202 "chunked PATCH of 8 MB over TLS"
UL=$(loc_url "$(hdr Location)")
treq PUT "$(with_query "$UL" "digest=$BIG2")" -u "carol:$PW_CAROL"
assert_status 201 "PUT ?digest closes the 8 MB upload over TLS"
treq GET "/v2/team/app/blobs/$BIG2" -u "bob:$PW_BOB"
assert_body_digest "$BIG2" "8 MB blob uploaded with chunked PATCH over TLS"
# A slow reader of the 20 MB blob neither blocks other clients (one
# worker) nor makes the daemon buffer the blob in memory.
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$DAEMON_PID/status"; }
RSS0=$(rss_kb)
curl -s --cacert "$CERT" --limit-rate 100k --max-time 60 -H "$(bearer "$TOK_BOB")" -o "$W/slow" "$BASE/v2/team/app/blobs/$BIG" &
SLOW=$!
sleep 1.5
T0=$(date +%s%N)
treq GET /v2/team/app/tags/list -H "$(bearer "$TOK_BOB")"
T1=$(date +%s%N)
assert_status 200 "another request while a slow client reads 20 MB over TLS"
assert_match "$(((T1 - T0) / 1000000))" '^[0-9]{1,3}$' "it is answered in under a second ($(((T1 - T0) / 1000000)) ms)"
treq GET "/v2/team/app/blobs/$BIG" -H "$(bearer "$TOK_BOB")"
assert_body_digest "$BIG" "a full 20 MB GET while the slow client reads"
RSS1=$(rss_kb)
if grep -qa __asan_init "$OCIREGD" 2>/dev/null; then
	# ASan's quarantine and shadow memory grow with what is freed: a
	# looser bound, still far below the 20 MB a buffered blob would add
	# on top of them.
	assert_match "$(((RSS1 - RSS0) / 1024))" '^-?([0-9]|[1-3][0-9])$' "daemon RSS (ASan build) grows < 40 MB during the slow 20 MB TLS download ($RSS0 -> $RSS1 kB)"
else
	assert_match "$(((RSS1 - RSS0) / 1024))" '^-?([0-9]|1[0-5])$' "daemon RSS grows < 16 MB during the slow 20 MB TLS download ($RSS0 -> $RSS1 kB)"
fi
kill "$SLOW" 2>/dev/null
wait "$SLOW" 2>/dev/null
treq GET /v2/ -u "bob:$PW_BOB"
assert_status 200 "daemon fine after the slow TLS client went away"

# ---- catalog filtering
treq GET /v2/_catalog -u "bob:$PW_BOB"
assert_status 200 "catalog as bob"
assert_json .repositories '["pub/p","team/app","team/carol"]' "catalog as bob lists only what he may pull"
treq GET /v2/_catalog -u "carol:$PW_CAROL"
assert_json .repositories '["pub/p","team/app","team/carol"]' "catalog as carol hides team/secret/x"
treq GET /v2/_catalog -u "alice:$PW_ALICE"
assert_json .repositories '["pub/p","team/app","team/carol","team/secret/x"]' "catalog as alice lists everything she may pull"
token "bob:$PW_BOB" "registry:catalog:*"
treq GET /v2/_catalog -H "$(bearer "$TOKEN")"
assert_status 200 "catalog with bob's catalog token"
assert_json .repositories '["pub/p","team/app","team/carol"]' "catalog with bob's token: same filtering"
treq GET '/v2/_catalog?n=1' -u "bob:$PW_BOB"
assert_json .repositories '["pub/p"]' "catalog page 1 (n=1) as bob"
treq GET '/v2/_catalog?n=2&last=team/app' -u "bob:$PW_BOB"
assert_json .repositories '["team/carol"]' "catalog after team/app as bob skips team/secret/x"
# Following Link rel="next" with n=1 as bob: exactly his three repositories.
: >"$W/pages"
NEXT='/v2/_catalog?n=1'
for ((i = 0; i < 10; i++)); do
	treq GET "$NEXT" -u "bob:$PW_BOB"
	[ "$STATUS" = 200 ] || break
	jq -r '.repositories[]' "$BODY" >>"$W/pages"
	NEXT=$(hdr Link | sed -n 's/^<\([^>]*\)>.*rel="next".*/\1/p')
	[ -n "$NEXT" ] || break
done
assert_eq "$(tr '\n' ' ' <"$W/pages")" "pub/p team/app team/carol " "catalog pages (n=1) as bob, following Link: his three repositories"

# ---- cross-repository mounts
# carol may push team/app but not pull team/secret/x: no mount, a session.
treq POST "/v2/team/app/blobs/uploads/?mount=$L_SECRET&from=team/secret/x" -u "carol:$PW_CAROL"
assert_status 202 "carol mount from team/secret/x (no pull there) falls back to an upload session"
assert_no_header Docker-Content-Digest "carol's refused mount"
treq HEAD "/v2/team/app/blobs/$L_SECRET" -u "alice:$PW_ALICE"
assert_status 404 "the secret layer did not reach team/app"
treq POST "/v2/team/app/blobs/uploads/?mount=$L_SECRET&from=team/secret/x" -H "$(bearer "$TOK_CAROL")"
assert_status 202 "carol's token mount from team/secret/x falls back to an upload session"
treq POST "/v2/team/app/blobs/uploads/?mount=$L_SECRET" -u "carol:$PW_CAROL"
assert_status 202 "carol mount without from= (automatic discovery) does not find the secret layer"
treq HEAD "/v2/team/app/blobs/$L_SECRET" -u "alice:$PW_ALICE"
assert_status 404 "the secret layer still is not in team/app"
# bob may pull team/app but not push pub/p, carol may push team/carol.
treq POST "/v2/pub/p/blobs/uploads/?mount=$L_APP&from=team/app" -u "bob:$PW_BOB"
assert_status_error 403 DENIED "bob mount into pub/p (no push there)"
treq POST "/v2/team/carol/blobs/uploads/?mount=$L_APP&from=team/app" -u "carol:$PW_CAROL"
assert_status 201 "carol mount from team/app (pull allowed) into team/carol"
assert_header Location "/v2/team/carol/blobs/$L_APP" "carol's mount"
# alice may pull team/secret/x and push team/app: a real mount.
treq POST "/v2/team/app/blobs/uploads/?mount=$L_SECRET&from=team/secret/x" -u "alice:$PW_ALICE"
assert_status 201 "alice mount from team/secret/x into team/app"
assert_header Docker-Content-Digest "$L_SECRET" "alice's mount"
treq GET "/v2/team/app/blobs/$L_SECRET" -u "bob:$PW_BOB"
assert_status 200 "the mounted layer is in team/app"

# ---- forged and foreign tokens
H=$(jwt_part "$TOK_BOB" 1)
S=$(jwt_part "$TOK_BOB" 3)
PB=$(jwt_payload "$TOK_BOB")
P2=$(jq -c '.access[0].actions = ["pull","push","delete"]' <<<"$PB" | tr -d '\n' | b64url_enc)
treq POST /v2/team/app/blobs/uploads/ -H "Authorization: Bearer $H.$P2.$S"
assert_status 401 "bob's token with push added to the claims (old signature) is refused"
assert_match "$(hdr WWW-Authenticate)" "^Bearer realm=\"$REALM\",service=\"$SVC\"" "edited token: a Bearer challenge"
assert_match "$(hdr WWW-Authenticate)" 'error="invalid_token"' "edited token: error=\"invalid_token\" (RFC 6750)"
P2=$(jq -c '.sub = "alice" | .access[0].name = "team/secret/x"' <<<"$PB" | tr -d '\n' | b64url_enc)
treq GET /v2/team/secret/x/manifests/s1 -H "Authorization: Bearer $H.$P2.$S"
assert_status 401 "bob's token re-labelled as alice's for team/secret/x is refused"
P2=$(jq -c '.exp = .exp + 86400' <<<"$PB" | tr -d '\n' | b64url_enc)
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer $H.$P2.$S"
assert_status 401 "bob's token with exp pushed a day further is refused"
NONE=$(printf '{"alg":"none","typ":"JWT"}' | b64url_enc)
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer $NONE.$(jwt_part "$TOK_BOB" 2)."
assert_status 401 "bob's claims with alg none and no signature are refused"
HS=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url_enc)
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer $HS.$(jwt_part "$TOK_BOB" 2).$S"
assert_status 401 "bob's claims with alg HS256 are refused"
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer garbage"
assert_status 401 "Bearer garbage is refused"
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer "
assert_status 401 "an empty Bearer token is refused"
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer $TOK_BOB.x"
assert_status 401 "a token with a fourth part is refused"
treq GET /v2/team/app/manifests/v1 -H "Authorization: Bearer $TOK_BOB"
assert_status 200 "bob's untouched token still works"

# The token's audience is the service: a token for another service name
# (same key) is refused — checked by restarting with service = other below.

# ---- secrets never reach the log
check_no_secrets() {
	local t leaked=
	for p in "$PW_ALICE" "$PW_BOB" "$PW_CAROL" first-password-x wrong-password; do
		grep -qF -- "$p" "$TMP"/daemon.*.log && leaked="$leaked password:$p"
	done
	for t in "${TOKENS[@]}"; do
		[ -n "$t" ] || continue
		grep -qF -- "$(jwt_part "$t" 3)" "$TMP"/daemon.*.log && leaked="$leaked token-signature:${t:0:20}..."
		grep -qF -- "$(jwt_part "$t" 2)" "$TMP"/daemon.*.log && leaked="$leaked token-claims:${t:0:20}..."
	done
	for p in "$(printf 'alice:%s' "$PW_ALICE" | base64 -w0)" "$(printf 'bob:%s' "$PW_BOB" | base64 -w0)"; do
		grep -qF -- "$p" "$TMP"/daemon.*.log && leaked="$leaked basic:$p"
	done
	if [ -z "$leaked" ]; then
		t_pass "$1"
	else
		t_fail "$1" "found in the log:$leaked"
	fi
}
check_no_secrets "no password, Basic credential or token in the daemon log (log_level debug)"
assert_log 'auth: .*(failed|refused)' "failed logins are logged (without the secret)"

# ---- who is in the log: the text access line names the user (escaped,
# like a failed login's user name, so no name can forge a line)
treq GET /v2/ -u "alice:$PW_ALICE"
assert_log "access: 127\.0\.0\.1:[0-9]+ GET /v2/ 200 in=0 out=[0-9]+ [0-9]+us w=[0-9]+ user=alice$" \
	"text access log: a Basic login's line ends in user=alice"
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_BOB")"
assert_log "access: 127\.0\.0\.1:[0-9]+ GET /v2/team/app/manifests/v1 200 .* user=bob$" \
	"text access log: a bearer token's line names its user (user=bob)"
treq GET /v2/pub/p/tags/list
assert_log "access: 127\.0\.0\.1:[0-9]+ GET /v2/pub/p/tags/list [0-9]{3} in=0 out=[0-9]+ [0-9]+us w=[0-9]+$" \
	"text access log: an anonymous request has no user= field"
treq GET /v2/ -u "mallory:not-the-password"
assert_status 401 "Basic login as mallory on /v2/ fails"
assert_log 'info: auth: 127\.0\.0\.1: failed Basic login as "mallory"$' "a failed Basic login on /v2/ names the user tried"
token "mallory2:not-the-password" "repository:team/app:pull"
assert_status 401 "GET /token as mallory2 fails"
assert_log 'info: auth: 127\.0\.0\.1: failed token login as "mallory2"$' "a failed token login names the user tried"
# A name carrying a newline and a fake access line, a quote and a terminal
# escape (no ':', which ends a Basic user name): it stays inside one line,
# escaped.
FORGE=$(printf 'eve\nforged-line access 10.0.0.1 GET /v2/ 200\r"\033[2J\x9b\\:wrong')
FORGE64=$(printf '%s' "$FORGE" | base64 -w0)
treq GET /v2/ -H "Authorization: Basic $FORGE64"
assert_status 401 "Basic login with a newline in the user name fails"
treq GET "/token?service=$SVC" -H "Authorization: Basic $FORGE64"
assert_status 401 "GET /token with a newline in the user name fails"
assert_log 'info: auth: 127\.0\.0\.1: failed Basic login as "eve\\x0aforged-line\\x20access\\x2010\.0\.0\.1\\x20GET\\x20/v2/\\x20200\\x0d\\x22\\x1b\[2J\\x9b\\x5c"$' \
	"a user name's newline, CR, quote, ESC, C1 byte and backslash are escaped (\\xHH) in the failed-login line"
assert_log 'info: auth: 127\.0\.0\.1: failed token login as "eve\\x0aforged-line' "the token endpoint's failed login escapes the name too"
assert_eq "$(grep -c 'forged-line' "$LOG")" 2 "the forged text appears only inside the two failed-login lines"
assert_eq "$(grep -c '^forged-line' "$LOG")" 0 "no log line starts with the forged text"
assert_eq "$(grep -c $'\033' "$LOG")" 0 "no raw ESC byte reaches the log"

# ---- TLS versions
curl -s -o /dev/null --max-time 20 --cacert "$CERT" --tlsv1.1 --tls-max 1.1 -v "$BASE/v2/" >"$W/tls11.out" 2>&1
RC=$?
assert_ne "$RC" 0 "curl --tlsv1.1 --tls-max 1.1 fails (exit $RC)"
assert_match "$(cat "$W/tls11.out")" 'alert protocol version|unsupported protocol|no protocols available|wrong version' "TLS 1.1 fails on protocol version"
if command -v openssl >/dev/null; then
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >"$W/s11.out" 2>&1
	assert_match "$(cat "$W/s11.out")" 'alert protocol version|no protocols available|unsupported protocol' \
		"openssl s_client -tls1_1 (client permits 1.1): the server refuses it"
	if grep -qE 'Protocol *: TLSv1(\.1)?$' "$W/s11.out" && ! grep -qE 'Cipher is \(NONE\)|Cipher *: 0000' "$W/s11.out"; then
		t_fail "no TLS 1.1 session is established" "$(grep -E 'Protocol|Cipher' "$W/s11.out")"
	else
		t_pass "no TLS 1.1 session is established"
	fi
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -tls1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >"$W/s10.out" 2>&1
	if grep -qE 'Protocol *: TLSv1$' "$W/s10.out" && ! grep -qE 'Cipher is \(NONE\)|Cipher *: 0000' "$W/s10.out"; then
		t_fail "no TLS 1.0 session is established" "$(grep -E 'Protocol|Cipher' "$W/s10.out")"
	else
		t_pass "no TLS 1.0 session is established"
	fi
fi
treq GET /v2/ -u "alice:$PW_ALICE" --tlsv1.2 --tls-max 1.2
assert_status 200 "TLS 1.2 works (curl --tlsv1.2 --tls-max 1.2)"
treq GET /v2/ -u "alice:$PW_ALICE" --tlsv1.3
assert_status 200 "TLS 1.3 works"
# Plain HTTP to the TLS port: no HTTP answer, and the daemon carries on.
OUTS=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/" 2>&1)
assert_ne "$OUTS" 200 "plain HTTP on the TLS port gets no 200"
printf 'GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 5 openssl s_client -quiet -connect "127.0.0.1:$PORT" >/dev/null 2>&1
head -c 3000 /dev/urandom | timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$PORT" 2>/dev/null
treq GET /v2/ -u "alice:$PW_ALICE"
assert_status 200 "daemon still serves TLS after plain HTTP and garbage on its port"

# ---------------------------------------------------------------- daemon #2: same config, short timeouts, SIGHUP
daemon_stop
SERVER_EXTRA="header_timeout = 2s
read_timeout = 3s"
mkconf none "$TOKKEY1" 1000 1m
tls_start
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_BOB")"
assert_status 200 "after a restart with the same token key, bob's token still works"
treq GET /v2/team/app/manifests/v1
assert_challenge "repository:team/app:pull" "after a restart: still no anonymous pull"

# Idle and stalled TLS connections are closed (read_timeout 3s,
# header_timeout 2s), whatever stage they stall in.
if command -v python3 >/dev/null; then
	python3 - "$PORT" "$CERT" >"$W/timeouts.out" 2>&1 <<'PY'
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
def probe(name, stage):
    s = socket.create_connection(("127.0.0.1", port))
    t = time.time()
    try:
        if stage == "partial-hello":
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        elif stage != "tcp":
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
            if stage == "partial-header":
                s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(12)
        d = s.recv(200)
        print("%s closed=%s after=%.1f first=%r" % (name, "yes", time.time() - t, d[:12]))
    except socket.timeout:
        print("%s closed=no after=%.1f" % (name, time.time() - t))
    except Exception as e:
        print("%s closed=yes after=%.1f (%s)" % (name, time.time() - t, type(e).__name__))
probe("tcp-idle", "tcp")
probe("partial-clienthello", "partial-hello")
probe("idle-after-handshake", "handshake")
probe("partial-header", "partial-header")
PY
	for p in tcp-idle partial-clienthello idle-after-handshake partial-header; do
		assert_match "$(grep "^$p " "$W/timeouts.out")" "^$p closed=yes after=[0-9]\\." "TLS port: a $p connection is closed by the server's timeouts"
	done
	assert_match "$(grep '^partial-header ' "$W/timeouts.out")" "first=b'HTTP/1.1 4" "header timeout over TLS answers 4xx before closing"
else
	t_pass "python3 not installed: TLS timeout probes # SKIP"
fi
treq GET /v2/ -u "alice:$PW_ALICE"
assert_status 200 "daemon fine after the timeout probes"

# SIGHUP reloads users, groups, access rules and the TLS certificate;
# a bad configuration is refused and the old one stays.
nlines() { grep -c -- "$1" "$LOG"; }
hup_wait() {	# PATTERN COUNT-BEFORE: SIGHUP, wait until PATTERN has one more line
	local n
	kill -HUP "$DAEMON_PID"
	for ((n = 0; n < 50; n++)); do
		[ "$(nlines "$1")" -gt "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
passwd_user dave 'Dave-pw-55aa11'
treq GET /v2/ -u 'dave:Dave-pw-55aa11'
assert_status 401 "dave, added with passwd while running, is unknown before SIGHUP"
ACCESS_EXTRA='[access "pub/dave/*"]
pull = dave
push = dave'
mkconf none "$TOKKEY1" 1000 1m
C=$(nlines 'info: reloaded ')
hup_wait 'info: reloaded ' "$C"
assert_eq "$?" 0 "SIGHUP: 'reloaded' logged"
treq GET /v2/ -u 'dave:Dave-pw-55aa11'
assert_status 200 "after SIGHUP dave logs in"
mkblob "$W/daveblob" 500
push_blob_as "$W/daveblob" pub/dave/x -u 'dave:Dave-pw-55aa11'
assert_status 201 "after SIGHUP the new access rule for pub/dave lets dave push"
treq GET /v2/ -u "alice:$PW_ALICE"
assert_status 200 "after SIGHUP alice still logs in"
cp "$USERS" "$W/users.before-bad"
NU=$(($(wc -l <"$USERS") + 1))
printf 'broken line\n' >>"$USERS"
C=$(nlines 'reload refused')
hup_wait 'reload refused' "$C"
assert_eq "$?" 0 "SIGHUP with a broken users file: 'reload refused' logged"
assert_match "$(grep 'reload refused' "$LOG" | tail -n 1)" "$USERS:$NU: " "reload refused names the users file line"
treq GET /v2/ -u 'dave:Dave-pw-55aa11'
assert_status 200 "after a refused reload the old users stay (dave)"
cp "$W/users.before-bad" "$USERS"
ACCESS_EXTRA='[access "x/*"]
pull = @nosuchgroup'
mkconf none "$TOKKEY1" 1000 1m
C=$(nlines 'reload refused')
hup_wait 'reload refused' "$C"
assert_eq "$?" 0 "SIGHUP with an unknown @group: 'reload refused' logged"
assert_match "$(grep 'reload refused' "$LOG" | tail -n 1)" "@nosuchgroup" "reload refused names the unknown group"
push_blob_as "$W/daveblob" pub/dave/y -u 'dave:Dave-pw-55aa11'
assert_status 201 "after a refused reload the old access rules stay"
ACCESS_EXTRA=
# Certificate rotation.
ROT_CERT=$TMP/tls/rot-cert.pem
ROT_KEY=$TMP/tls/rot-key.pem
mkcert "$ROT_CERT" "$ROT_KEY"
OLD_CERT=$CERT OLD_KEY=$KEY
CERT=$ROT_CERT KEY=$ROT_KEY
mkconf none "$TOKKEY1" 1000 1m
C=$(nlines 'info: reloaded ')
hup_wait 'info: reloaded ' "$C"
assert_eq "$?" 0 "SIGHUP with a new certificate: reloaded"
treq GET /v2/ -u "alice:$PW_ALICE"
assert_status 200 "after the certificate rotation a new connection verifies with the new certificate"
req GET /v2/ -u "alice:$PW_ALICE" --cacert "$OLD_CERT"
assert_eq "$STATUS" 000 "after the rotation the old certificate is no longer presented (curl exit $CURL_RC)"
KEY=$OLD_KEY	# the new certificate with the old key: mismatch
mkconf none "$TOKKEY1" 1000 1m
C=$(nlines 'reload refused')
hup_wait 'reload refused' "$C"
assert_eq "$?" 0 "SIGHUP with a mismatched key: 'reload refused' logged"
treq GET /v2/ -u "alice:$PW_ALICE"
assert_status 200 "after the refused reload the rotated certificate is still served"
CERT=$OLD_CERT KEY=$OLD_KEY SERVER_EXTRA=

# ---------------------------------------------------------------- daemon #3: anonymous = pull, another token key
daemon_stop
mkconf pull "$TOKKEY2" 1000 1m
tls_start
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_BOB")"
assert_status 401 "a token signed with another daemon's key (same service) is refused"
assert_match "$(hdr WWW-Authenticate)" "^Bearer realm=\"$REALM\",service=\"$SVC\"" "foreign token: a Bearer challenge"
treq GET /v2/team/app/manifests/v1
assert_status 200 "anonymous = pull: GET manifest without credentials"
assert_body_digest "$M_APP" "anonymous pull"
treq GET "/v2/team/app/blobs/$L_APP"
assert_status 200 "anonymous = pull: GET blob without credentials"
assert_body_digest "$L_APP" "anonymous blob pull"
treq GET /v2/team/app/tags/list
assert_status 200 "anonymous = pull: GET tags/list without credentials"
treq POST /v2/team/app/blobs/uploads/
assert_challenge "repository:team/app:pull,push" "anonymous = pull: POST upload without credentials"
treq PUT /v2/team/app/manifests/anon -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/app.manifest"
assert_challenge "repository:team/app:pull,push" "anonymous = pull: PUT manifest without credentials"
treq DELETE "/v2/team/app/manifests/$M_APP"
assert_challenge "repository:team/app:delete" "anonymous = pull: DELETE without credentials"
treq POST "/v2/pub/p/blobs/uploads/?mount=$L_APP&from=team/app"
assert_challenge "repository:pub/p:pull,push" "anonymous = pull: mount without credentials"
treq GET /v2/
# /v2/ challenges even with anonymous pull: that is where clients learn to
# fetch a token (anonymous for pulls, with credentials for pushes).
assert_challenge "" "anonymous = pull: GET /v2/ without credentials still challenges"
treq GET /v2/_catalog
assert_status 200 "anonymous = pull: GET /v2/_catalog without credentials"
# pub/dave/x and pub/dave/y hold only dave's blob: listed too (issue 14)
assert_json .repositories '["pub/dave/x","pub/dave/y","pub/p","team/app","team/carol","team/secret/x"]' "anonymous catalog: every repository anonymous may pull"
token - "repository:team/app:pull,push"
assert_status 200 "anonymous = pull: GET /token without credentials"
assert_eq "$(grants "$TOKEN")" "team/app=pull" "anonymous token: pull only"
TOK_ANON=$TOKEN
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_ANON")"
assert_status 200 "anonymous token pulls"
treq POST /v2/team/app/blobs/uploads/ -H "$(bearer "$TOK_ANON")"
assert_challenge "repository:team/app:pull,push" "anonymous token cannot push" insufficient_scope
treq POST /v2/team/app/blobs/uploads/ -u "bob:$PW_BOB"
assert_status_error 403 DENIED "anonymous = pull: bob still cannot push"
token "alice:$PW_ALICE" "repository:team/app:pull,push"
assert_eq "$(grants "$TOKEN")" "team/app=pull,push" "alice's token from the new key"
treq HEAD "/v2/team/app/blobs/$L_APP" -H "$(bearer "$TOKEN")"
assert_status 200 "alice's new token works"
TOK_ALICE2=$TOKEN
assert_eq "$(stat -c %a "$TOKKEY2" 2>&1)" 600 "second token key file is mode 0600"
assert_ne "$(cat "$TOKKEY2")" "$(cat "$TOKKEY1")" "the second token key differs from the first"

# ---------------------------------------------------------------- daemon #4: first key again, another service and realm
daemon_stop
mkconf none "$TOKKEY1" 1000 1m "service = other-svc
realm = https://auth.example.test/token"
tls_start
REALM=https://auth.example.test/token
SVC=other-svc
treq HEAD "/v2/team/app/blobs/$L_APP" -H "$(bearer "$TOK_ALICE2")"
assert_status 401 "a token of the second key is refused by the first key again"
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOK_BOB")"
assert_status 401 "right key, wrong audience (token for 'ociregd', service 'other-svc'): refused"
treq GET /v2/team/app/manifests/v1
assert_challenge "repository:team/app:pull" "configured realm and service in the challenge"
token "bob:$PW_BOB" "repository:team/app:pull"
assert_eq "$(jwt_payload "$TOKEN" | jq -r .aud)" other-svc "token aud is the configured service"
treq GET /v2/team/app/manifests/v1 -H "$(bearer "$TOKEN")"
assert_status 200 "a token for other-svc works"
REALM=$BASE/token
SVC=ociregd

# ---------------------------------------------------------------- daemon #5: failed-login limit
daemon_stop
mkconf none "$TOKKEY1" 3 8s
tls_start
T_FIRST=$(date +%s%N)
for i in 1 2 3; do
	token "bob:wrong-password-$i" "repository:team/app:pull"
	assert_status 401 "failed login $i of 3 (GET /token)"
done
token "bob:wrong-password-4" "repository:team/app:pull"
assert_status_error 429 TOOMANYREQUESTS "4th failed login within the window"
assert_match "$(hdr Retry-After)" '^[0-9]+$' "429 has a Retry-After (seconds): '$(hdr Retry-After)'"
token "bob:$PW_BOB" "repository:team/app:pull"
assert_status_error 429 TOOMANYREQUESTS "even the right password is refused while limited (GET /token)"
treq GET /v2/team/app/manifests/v1 -u "bob:$PW_BOB"
assert_status_error 429 TOOMANYREQUESTS "Basic on /v2/ is limited too"
assert_match "$(hdr Retry-After)" '^[0-9]+$' "Basic on /v2/: 429 has a Retry-After"
RA=$(hdr Retry-After)
# Retry-After says when to try again: after waiting that long (+1 s) the
# right password must work (failure_window is 8s here).
sleep "$((${RA:-5} + 1))"
token "bob:$PW_BOB" "repository:team/app:pull"
assert_status 200 "right password after waiting Retry-After ($RA s) + 1 s"
while [ $(($(date +%s%N) - T_FIRST)) -lt 8600000000 ]; do sleep 0.2; done
token "bob:$PW_BOB" "repository:team/app:pull"
assert_status 200 "after failure_window (8s) the right password works again"
for i in 1 2 3; do
	treq GET /v2/ -u "carol:wrong-$i"
	assert_status 401 "failed Basic login $i of 3 on /v2/"
done
treq GET /v2/ -u "carol:wrong-4"
assert_status_error 429 TOOMANYREQUESTS "4th failed Basic login on /v2/"
check_no_secrets "still no password or token in the daemon logs"

# ---------------------------------------------------------------- check-config
daemon_stop
check_config_fails() {	# DESC ERE
	timeout 60 "$OCIREGD" check-config -c "$CONF" >"$W/cc.out" 2>&1
	local rc=$?
	assert_ne "$rc" 0 "check-config: $1 -> non-zero exit"
	assert_match "$(cat "$W/cc.out")" "$2" "check-config: $1 -> message"
}
CERT2=$TMP/tls/cert2.pem
KEY2=$TMP/tls/key2.pem
mkcert "$CERT2" "$KEY2"
GOODCERT=$CERT GOODKEY=$KEY
KEY=$KEY2
mkconf none "$TOKKEY1" 10 1m
check_config_fails "key of another certificate" "$KEY2.*(match|mismatch)|(match|mismatch).*$KEY2"
# The daemon refuses to start with it as well.
timeout 20 "$OCIREGD" -c "$CONF" >"$W/start.out" 2>&1 </dev/null
RC=$?
assert_eq "$([ $RC -ne 0 ] && [ $RC -ne 124 ] && echo refused)" refused "daemon refuses to start with a mismatched key (exit $RC)"
KEY=$TMP/tls/missing.pem
mkconf none "$TOKKEY1" 10 1m
check_config_fails "missing key file" "missing\.pem"
CERT=$TMP/tls/missing-cert.pem KEY=$GOODKEY
mkconf none "$TOKKEY1" 10 1m
check_config_fails "missing certificate file" "missing-cert\.pem"
CERT=$GOODCERT KEY=$GOODKEY
mkconf none "$TOKKEY1" 10 1m
sed -i '/^key = /d' "$CONF"
check_config_fails "certificate without key" "key"
mkconf none "$TOKKEY1" 10 1m
printf '[access "lib/*"]\npull = *\npush = @devs, @nosuchgroup\n' >>"$CONF"
LINE=$(grep -n '@nosuchgroup' "$CONF" | cut -d: -f1)
check_config_fails "unknown group" "^$CONF:$LINE: .*@nosuchgroup"
printf 'not a key\n' >"$W/garbage.key"
mkconf none "$W/garbage.key" 10 1m
check_config_fails "a token_key file that is not a key" "garbage\.key"
mkconf none "$TOKKEY1" 10 1m
cp "$USERS" "$W/users.good"
NU=$(($(wc -l <"$USERS") + 1))
printf 'frank\n' >>"$USERS"
check_config_fails "users file line without a hash" "^$USERS:$NU: "
cp "$W/users.good" "$USERS"
printf 'frank:plaintext\n' >>"$USERS"
check_config_fails "users file line with a plaintext password" "^$USERS:$NU: "
cp "$W/users.good" "$USERS"
# htpasswd -B style bcrypt lines are accepted.
printf 'frank:$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW\n' >>"$USERS"
timeout 60 "$OCIREGD" check-config -c "$CONF" >"$W/cc.out" 2>&1
assert_eq "$?" 0 "check-config accepts a bcrypt (\$2y\$) users line ($(head -c 200 "$W/cc.out"))"
tls_start
treq GET /v2/team/app/tags/list -u 'frank:U*U'
assert_status 200 "bcrypt user frank logs in with Basic (pull = *)"
token 'frank:U*U' "repository:team/app:pull"
assert_eq "$(grants "$TOKEN")" "team/app=pull" "bcrypt user frank gets a token"
token 'frank:U*V' "repository:team/app:pull"
assert_status 401 "bcrypt user frank with a wrong password"

assert_no_5xx "no 5xx in any access log"
e2e_finish
