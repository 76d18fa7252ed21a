#!/usr/bin/env bash
# t_base.sh — the API base endpoint, the version header on every response,
# 404 for unknown endpoints with the JSON envelope, 405 UNSUPPORTED, and the
# access log.
. "$(dirname "$0")/lib.sh"
E2E_EXTRA_LIMITS="chunk_min_length = 4k"
e2e_init
daemon_start

API='registry/2.0'

# ---- GET /v2/
req GET /v2/
assert_status 200 "GET /v2/"
assert_header Docker-Distribution-API-Version "$API" "GET /v2/"
if jq -e . "$BODY" >/dev/null 2>&1; then
	t_pass "GET /v2/ body is JSON"
else
	t_fail "GET /v2/ body is JSON" "body: $(head -c 200 "$BODY")"
fi
assert_header Content-Length "$(fsize "$BODY")" "GET /v2/ Content-Length matches the body"
assert_log "access: 127\.0\.0\.1:[0-9]+ GET /v2/ 200 in=0 out=$(fsize "$BODY") [0-9]+us" \
	"access log line for GET /v2/ (peer, method, target, status, in, out, time)"

# ---- unknown endpoints: 404 + envelope + version header
# (/ is the web page's redirect to /ui/ since issue 18: t_ui.sh.)
for path in /foo /v1/ /v2/foo /v2/a/b/unknown/x /v2/library/alpine/blobz/sha256:abc; do
	req GET "$path"
	assert_status 404 "GET $path"
	assert_header Docker-Distribution-API-Version "$API" "GET $path"
	if jq -e '(.errors|length)==1 and (.errors[0].code|type)=="string" and
	    (.errors[0].code|length)>0 and (.errors[0].message|type)=="string" and
	    (.errors[0]|has("detail"))' "$BODY" >/dev/null 2>&1; then
		t_pass "GET $path: body is {errors:[{code,message,detail}]}"
	else
		t_fail "GET $path: body is {errors:[{code,message,detail}]}" "body: $(head -c 300 "$BODY")"
	fi
	assert_header Content-Type application/json "GET $path error body"
done
req GET /v2/foo
# The spec: "The code field MUST be one of the following" (the 14 codes).
assert_code_in_spec "GET /v2/foo: 404 error body"
assert_log "access: 127\.0\.0\.1:[0-9]+ GET /v2/a/b/unknown/x 404 in=0 out=[1-9][0-9]* [0-9]+us" \
	"access log line for a 404"

# ---- known routes, wrong method: 405 UNSUPPORTED
D=sha256:$(printf '%064d' 0)
UUID=0b8f6a4e-2a8e-4c1e-9d2b-2f4a6e8c0a1b
for mr in "PUT /v2/" "DELETE /v2/" "POST /v2/" "PATCH /v2/" \
	"POST /v2/a/b/blobs/$D" "PUT /v2/a/b/blobs/$D" "PATCH /v2/a/b/blobs/$D" \
	"PUT /v2/a/blobs/uploads/" "GET /v2/a/blobs/uploads/" "DELETE /v2/a/blobs/uploads/" \
	"POST /v2/a/blobs/uploads/$UUID"; do
	set -- $mr
	req "$1" "$2"
	assert_status_error 405 UNSUPPORTED "$1 $2"
	assert_header Docker-Distribution-API-Version "$API" "$1 $2"
done
assert_log "access: 127\.0\.0\.1:[0-9]+ PATCH /v2/ 405 in=0 out=[1-9][0-9]* [0-9]+us" \
	"access log line for a 405"

# ---- the header on success responses of other kinds too
req POST /v2/base/test/blobs/uploads/
assert_status 202 "POST upload start"
assert_header Docker-Distribution-API-Version "$API" "POST upload start"
assert_header OCI-Chunk-Min-Length 4096 "POST upload start with chunk_min_length = 4k"
req HEAD "/v2/base/test/blobs/$D"
assert_status 404 "HEAD unknown blob"
assert_header Docker-Distribution-API-Version "$API" "HEAD unknown blob"
assert_eq "$DLSIZE" 0 "HEAD unknown blob has no body"

# ---- keep-alive: two requests on one connection both answered
out=$(curl -s --max-time 10 -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
	"$BASE/v2/" "$BASE/v2/" </dev/null | tr '\n' ' ')
assert_eq "$out" "200 1 200 0 " "two GET /v2/ over one kept-alive connection"

# ---- every access line so far has the documented shape
bad=$(grep 'access: ' "$LOG" | grep -Ev 'access: 127\.0\.0\.1:[0-9]+ [A-Z]+ /[^ ]* [0-9]{3} in=[0-9]+ out=[0-9]+ [0-9]+us( [a-z_]+=[^ ]*)*$' | head -n 3)
assert_eq "$bad" "" "every access log line is 'access: PEER METHOD TARGET STATUS in=N out=N Nus'"
assert_no_5xx "no 5xx answered"

e2e_finish
