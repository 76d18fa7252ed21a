#!/usr/bin/env bash
# t_cache_tls.sh — the pull-through cache in front of a registry whose
# certificate a private CA signed (issue 20): a CA and certificates made
# here with openssl; an upstream ociregd speaking TLS with a certificate of
# that CA; the cache with [proxy] ca_file pulls an image through it (the
# manifest and blobs with their digests), while a section without ca_file
# fails (503, and a log line saying the certificate is not trusted);
# SSL_CERT_FILE is honoured for a section without ca_file; mutual TLS
# against a small python3 ssl server that requires a client certificate
# (a blob pulls with client_certificate / client_key and fails without);
# check-config errors for unreadable files and a certificate without key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
. "$(dirname "$0")/lib-proxy.sh"
# The daemons' libcurl honours proxy variables: everything here is local.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
# The cache must see the CA only where the test says so.
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE
e2e_init
proxy_init
command -v openssl >/dev/null || bail "openssl is required"

W=$TMP/w
PKI=$TMP/pki
mkdir -p "$W" "$PKI"
CA=$PKI/ca.pem

# ---------------------------------------------------------------- the PKI

# ossl DESC ARGS...: run openssl, bail with its output on failure.
ossl() {
	local what=$1
	shift
	openssl "$@" >"$PKI/openssl.out" 2>&1 || bail "openssl: $what" "$(cat "$PKI/openssl.out")"
}
# issue NAME EXT: a P-256 key and a certificate NAME signed by the CA.
issue() {
	ossl "$1 request" req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=$1" -keyout "$PKI/$1.key" -out "$PKI/$1.csr"
	printf '%s\n' "$2" >"$PKI/$1.ext"
	ossl "$1 certificate" x509 -req -in "$PKI/$1.csr" -CA "$CA" -CAkey "$PKI/ca.key" \
		-CAcreateserial -days 2 -extfile "$PKI/$1.ext" -out "$PKI/$1.pem"
}
ossl "the CA" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj "/CN=ociregd test CA" -days 2 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign -keyout "$PKI/ca.key" -out "$CA"
issue server 'subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth'
issue client 'extendedKeyUsage=clientAuth'
# A CA nobody signed anything with: trusting it is not trusting ours.
ossl "another CA" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj "/CN=other CA" -days 2 -keyout "$PKI/other.key" -out "$PKI/other.pem"

# ---------------------------------------------------------------- check-config

cfgcheck() { # cfgcheck NAME INI-TEXT -> $OUT, $CFG_RC
	printf '[storage]\nroot = %s\n%s\n' "$TMP/cc" "$2" >"$W/$1.ini"
	timeout 30 "$OCIREGD" check-config -c "$W/$1.ini" >"$OUT" 2>&1 </dev/null
	CFG_RC=$?
}
cfgcheck noca "[proxy \"a\"]
url = https://a.example
ca_file = $PKI/no-such-ca.pem"
assert_eq "$CFG_RC" 78 "check-config: an unreadable ca_file is a config error (exit 78)"
assert_match "$(cat "$OUT")" "noca.ini:5: proxy \"a\".ca_file: .*no-such-ca.pem: No such file" \
	"check-config: FILE:LINE: proxy \"NAME\".ca_file: the path and why"
: >"$PKI/empty.pem"
cfgcheck emptyca "[proxy \"a\"]
url = https://a.example
ca_file = $PKI/empty.pem"
assert_match "$(cat "$OUT")" "emptyca.ini:5: proxy \"a\".ca_file: .*empty.pem: is empty" "check-config: an empty ca_file"
cfgcheck certonly "[proxy \"a\"]
url = https://a.example
client_certificate = $PKI/client.pem"
assert_match "$(cat "$OUT")" "certonly.ini:5: proxy \"a\".client_certificate: needs client_key" \
	"check-config: client_certificate without client_key"
cfgcheck keyonly "[proxy \"a\"]
url = https://a.example
client_key = $PKI/client.key"
assert_match "$(cat "$OUT")" "keyonly.ini:5: proxy \"a\".client_key: needs client_certificate" \
	"check-config: client_key without client_certificate"
cfgcheck nokey "[proxy \"a\"]
url = https://a.example
client_certificate = $PKI/client.pem
client_key = $PKI/no-such.key"
assert_match "$(cat "$OUT")" "nokey.ini:6: proxy \"a\".client_key: .*no-such.key: No such file" \
	"check-config: an unreadable client_key"
cfgcheck okcheck "[proxy \"a\"]
url = https://a.example
ca_file = $CA
client_certificate = $PKI/client.pem
client_key = $PKI/client.key"
assert_eq "$CFG_RC" 0 "check-config: ca_file and the client pair readable: accepted ($(head -c 300 "$OUT"))"
SSL_CERT_FILE=$PKI/no-such-env.pem timeout 30 "$OCIREGD" check-config -c "$W/okcheck.ini" >"$OUT" 2>&1 </dev/null
assert_eq "$?" 0 "check-config: SSL_CERT_FILE is not read where ca_file is set"
cfgcheck envca "[proxy \"a\"]
url = https://a.example"
SSL_CERT_FILE=$PKI/no-such-env.pem timeout 30 "$OCIREGD" check-config -c "$W/envca.ini" >"$OUT" 2>&1 </dev/null
assert_match "$(cat "$OUT")" "envca.ini:4: proxy \"a\".ca_file: unset, and SSL_CERT_FILE names .*no-such-env.pem: No such file" \
	"check-config: without ca_file, SSL_CERT_FILE is the CA file (and checked)"

# ---------------------------------------------------------------- the upstream

up_config "[tls]
certificate = $PKI/server.pem
key = $PKI/server.key"
up_start
UPS=https://127.0.0.1:$UP_PORT
req GET "$UPS/v2/" --cacert "$CA"
assert_status 200 "the upstream speaks TLS with a certificate of the private CA"

# An image on the upstream: a config, a 300 KiB layer, a manifest.
CACHE_BASE=
push_image() {
	local BASE=$UPS
	printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$W/config.json"
	mkblob "$W/layer" 307200
	CURL_CA_BUNDLE=$CA push_blob team/app "$W/config.json"
	CURL_CA_BUNDLE=$CA push_blob team/app "$W/layer"
	printf '{"schemaVersion":2,"mediaType":"%s","config":%s,"layers":[%s]}' "$MT_OCI_MANIFEST" \
		"$(desc "$MT_OCI_CONFIG" "$W/config.json")" "$(desc "$MT_OCI_LAYER" "$W/layer")" >"$W/manifest.json"
	CURL_CA_BUNDLE=$CA push_manifest team/app v1 "$W/manifest.json"
}
push_image
MDIG=$(sha256_of "$W/manifest.json")
LDIG=$(sha256_of "$W/layer")

# ---------------------------------------------------------------- mutual TLS server

# A registry that requires a client certificate of the CA: /v2/ and one
# blob (GET and HEAD), nothing else.
MT_PORT=
MT_PID=
MT_LOG=$TMP/mtls.log
mkblob "$W/mblob" 65536
MBDIG=$(sha256_of "$W/mblob")
if command -v python3 >/dev/null; then
	cat >"$W/mtls.py" <<'EOF'
import http.server, os, ssl, sys
pki, blobfile, digest = sys.argv[1], sys.argv[2], sys.argv[3]
blob = open(blobfile, "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, body):
        if self.path == "/v2/":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            if body:
                self.wfile.write(b"{}")
        elif self.path == "/v2/mt/blobs/" + digest:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            if body:
                self.wfile.write(blob)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
    def do_GET(self):
        self.answer(True)
    def do_HEAD(self):
        self.answer(False)
    def log_message(self, fmt, *args):
        sys.stderr.write("mtls: %s %s\n" % (self.client_address[0], fmt % args))
        sys.stderr.flush()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))
ctx.load_verify_locations(os.path.join(pki, "ca.pem"))
ctx.verify_mode = ssl.CERT_REQUIRED
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
sys.stderr.write("mtls listening on %d\n" % srv.server_address[1])
sys.stderr.flush()
srv.serve_forever()
EOF
	python3 "$W/mtls.py" "$PKI" "$W/mblob" "$MBDIG" </dev/null >"$MT_LOG" 2>&1 &
	MT_PID=$!
	for ((n = 0; n < 100; n++)); do
		MT_PORT=$(sed -n 's/^mtls listening on \([0-9]*\)$/\1/p' "$MT_LOG" | head -n 1)
		[ -n "$MT_PORT" ] && break
		sleep 0.1
	done
	[ -n "$MT_PORT" ] || bail "the mutual-TLS server starts" "$(cat "$MT_LOG")"
	trap 'tls_rc=$?; stop_pid "$MT_PID"; proxy_rc=$tls_rc; proxy_cleanup; (exit $tls_rc); e2e_cleanup' EXIT
	req GET "https://127.0.0.1:$MT_PORT/v2/" --cacert "$CA"
	assert_ne "$STATUS" 200 "the mutual-TLS server refuses a client without a certificate"
	req GET "https://127.0.0.1:$MT_PORT/v2/" --cacert "$CA" --cert "$PKI/client.pem" --key "$PKI/client.key"
	assert_status 200 "the mutual-TLS server accepts the CA's client certificate"
fi

# ---------------------------------------------------------------- the cache

cache_ini() {
	echo "[proxy \"priv\"]"
	echo "url = $UPS"
	echo "prefix = priv"
	echo "ca_file = $CA"
	echo "[proxy \"noca\"]"
	echo "url = $UPS"
	echo "prefix = noca"
	echo "[proxy \"wrongca\"]"
	echo "url = $UPS"
	echo "prefix = wrongca"
	echo "ca_file = $PKI/other.pem"
	if [ -n "$MT_PORT" ]; then
		echo "[proxy \"mtls\"]"
		echo "url = https://127.0.0.1:$MT_PORT"
		echo "prefix = mtls"
		echo "ca_file = $CA"
		echo "client_certificate = $PKI/client.pem"
		echo "client_key = $PKI/client.key"
		echo "[proxy \"mtlsno\"]"
		echo "url = https://127.0.0.1:$MT_PORT"
		echo "prefix = mtlsno"
		echo "ca_file = $CA"
	fi
}
E2E_EXTRA_INI=$(cache_ini)
daemon_start

req GET /v2/priv/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "ca_file: the manifest pulls through from the private-CA upstream"
assert_eq "$(hdr Docker-Content-Digest)" "$MDIG" "ca_file: the manifest's digest is the upstream's"
assert_body_digest "$MDIG" "ca_file: the manifest's bytes are the upstream's"
req GET "/v2/priv/team/app/blobs/$LDIG"
assert_status 200 "ca_file: the layer pulls through"
assert_body_digest "$LDIG" "ca_file: the layer's bytes hash to its digest"
assert_eq "$(db "SELECT count(*) FROM repositories WHERE name='priv/team/app'")" 1 \
	"ca_file: the pulled image is cached under priv/team/app"

req GET /v2/noca/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_match "$STATUS" '^50[23]$' "no ca_file: the system's CAs do not trust the upstream (502/503, got $STATUS)"
assert_log "proxy noca: GET $UPS/v2/team/app/manifests/v1: upstream noca: .*certificate.* \(the upstream's certificate is not trusted: set ca_file to its CA\)" \
	"no ca_file: the log says the certificate is not trusted and what to set"
req GET /v2/wrongca/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_match "$STATUS" '^50[23]$' "ca_file of another CA: the upstream is not trusted (got $STATUS)"
assert_log "proxy wrongca: .*not trusted by ca_file" "ca_file of another CA: the log says so"

if [ -n "$MT_PORT" ]; then
	req GET "/v2/mtls/mt/blobs/$MBDIG"
	assert_status 200 "client_certificate/client_key: a blob pulls from an upstream that requires a client certificate"
	assert_body_digest "$MBDIG" "mutual TLS: the blob's bytes hash to its digest"
	req GET "/v2/mtlsno/mt/blobs/$MBDIG"
	assert_match "$STATUS" '^50[23]$' "without client_certificate the mutual-TLS upstream refuses the cache (got $STATUS)"
	assert_log "proxy mtlsno: GET https://127.0.0.1:$MT_PORT/v2/mt/blobs/$MBDIG: upstream mtlsno: " \
		"without client_certificate: the failed fetch is logged"
	assert_eq "$(grep -c "GET /v2/mt/blobs/$MBDIG HTTP/1.1\" 200" "$MT_LOG")" 1 \
		"mutual TLS: the server answered exactly one blob GET with 200 (the one with the certificate)"
else
	t_pass "python3 is not installed: no mutual-TLS server # SKIP"
fi
daemon_stop

# SSL_CERT_FILE stands in for a missing ca_file (read at load).
SSL_CERT_FILE=$CA daemon_start
req GET /v2/noca/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_status 200 "SSL_CERT_FILE: a section without ca_file trusts the CA it names"
assert_eq "$(hdr Docker-Content-Digest)" "$MDIG" "SSL_CERT_FILE: the right manifest"
req GET /v2/wrongca/team/app/manifests/v1 -H "Accept: $MT_OCI_MANIFEST"
assert_match "$STATUS" '^50[23]$' "SSL_CERT_FILE does not override a section's ca_file (got $STATUS)"

up_stop
stop_pid "$MT_PID"
MT_PID=
e2e_finish
