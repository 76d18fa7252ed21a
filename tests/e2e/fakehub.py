#!/usr/bin/env python3
"""fakehub.py UPSTREAM-BASE-URL -- a Docker-Hub-like front for the
pull-through cache tests: every /v2/ request needs a bearer token, which
/token hands out anonymously (as auth.docker.io does); blob GETs answer
307 to the real registry behind (the "CDN"); everything else is forwarded.
Two repositories misbehave on blob GETs: .../broken/blobs/... sends the
full Content-Length but half the body, then closes; .../slow/blobs/...
sends 256 KiB every 50 ms.

Listens on 127.0.0.1 with a kernel-chosen port and prints
"fakehub listening on port N"; one line per request on stdout:
"fakehub: METHOD PATH STATUS auth=yes|no".
"""
import http.server
import json
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request

UPSTREAM = sys.argv[1].rstrip("/")
TOKENS = set()
# Handler threads log concurrently: print() writes the text and the newline
# separately, so two lines could merge into one.  One write per line, under
# a lock.
LOG_LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def note(self, status):
        auth = "yes" if self.headers.get("Authorization") else "no"
        line = "fakehub: %s %s %d auth=%s\n" % (self.command, self.path, status, auth)
        with LOG_LOCK:
            sys.stdout.write(line)
            sys.stdout.flush()

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.note(status)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path
        if path.startswith("/token"):
            tok = "fake-" + secrets.token_hex(16)
            TOKENS.add(tok)
            body = json.dumps({"token": tok, "access_token": tok, "expires_in": 300,
                               "issued_at": "2024-01-01T00:00:00Z"}).encode()
            self.send(200, body, [("Content-Type", "application/json")])
            return
        if not path.startswith("/v2/"):
            self.send(404)
            return
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in TOKENS:
            m = re.match(r"^/v2/(.+)/(manifests|blobs|tags|referrers)/", path)
            scope = ',scope="repository:%s:pull"' % m.group(1) if m else ""
            host = self.headers.get("Host", "127.0.0.1")
            self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"token required","detail":null}]}',
                      [("Content-Type", "application/json"),
                       ("WWW-Authenticate",
                        'Bearer realm="http://%s/token",service="fakehub"%s' % (host, scope))])
            return
        blob = re.match(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$", path) and self.command == "GET"
        if blob and ("/broken/" in path or "/slow/" in path):
            with urllib.request.urlopen(UPSTREAM + path, timeout=30) as r:
                body = r.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.note(200)
            try:
                if "/broken/" in path:
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    for i in range(0, len(body), 256 << 10):
                        self.wfile.write(body[i:i + (256 << 10)])
                        self.wfile.flush()
                        time.sleep(0.05)
            except OSError:
                self.close_connection = True
            return
        if blob:
            self.send(307, b"", [("Location", UPSTREAM + path)])
            return
        req = urllib.request.Request(UPSTREAM + path, method=self.command)
        if self.headers.get("Accept"):
            req.add_header("Accept", self.headers.get("Accept"))
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, body, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, body, hdrs = e.code, e.read(), e.headers
        keep = [(k, hdrs[k]) for k in ("Content-Type", "Docker-Content-Digest", "Link",
                                      "OCI-Filters-Applied") if hdrs.get(k)]
        if self.command == "HEAD":
            self.send_response(status)
            for k, v in keep:
                self.send_header(k, v)
            self.send_header("Content-Length", hdrs.get("Content-Length", "0"))
            self.end_headers()
            self.note(status)
            return
        self.send(status, body, keep)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("fakehub listening on port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
