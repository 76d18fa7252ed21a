#!/usr/bin/env python3
"""pushstorm.py BASE REPO MODE CLIENTS COUNT -- concurrent manifest PUTs to
one repository (t_pg_concurrent.sh).  CLIENTS threads, each on its own
keep-alive connection, start together (a barrier) and each PUT COUNT image
manifests by tag to /v2/REPO/manifests/TAG.  Every manifest names the config
and layer blobs that setup() pushes first (so the references are checked),
and differs from the others by an annotation where the mode says so:

  same      every PUT sends one manifest; client i's tags are s<i>-<j>
  distinct  every PUT its own manifest; tags d<i>-<j>
  move      every PUT its own manifest, all to the one tag "moving"
  churn     client i PUTs its own manifest to tags c<i>-<j>; after the
            PUT of j = 1 (mod 4) it DELETEs that tag, after j = 3 (mod 4)
            the manifest by digest (its tags go with it)
  blob      every request pushes the one layer blob again (monolithic
            POST; TAG is "-")

Prints one line per request, "STATUS OP TAG DIGEST" (OP: PUT, DELTAG or
DELMAN), in no particular order; a request that got no answer has status
000.  Exits 0 once every thread ended.
"""
import hashlib
import http.client
import json
import sys
import threading
from urllib.parse import urlsplit

BASE, REPO, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENTS, COUNT = int(sys.argv[4]), int(sys.argv[5])
URL = urlsplit(BASE)
MT = "application/vnd.oci.image.manifest.v1+json"
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
LAYER = b"pushstorm layer\n"
OUT = threading.Lock()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def conn():
    return http.client.HTTPConnection(URL.hostname, URL.port, timeout=60)


def setup():
    c = conn()
    for b in (CONFIG, LAYER):
        c.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (REPO, sha(b)), body=b,
                  headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            sys.exit("pushstorm: blob push: status %d" % r.status)
    c.close()


def manifest(note):
    m = {
        "schemaVersion": 2,
        "mediaType": MT,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha(LAYER), "size": len(LAYER)}],
    }
    if note:
        m["annotations"] = {"pushstorm": note}
    return json.dumps(m, sort_keys=True).encode()


def send(c, method, path, body=None):
    """(status, connection): "000" and a new connection if none came."""
    try:
        c.request(method, path, body=body, headers={"Content-Type": MT} if body else {})
        r = c.getresponse()
        r.read()
        return "%03d" % r.status, c
    except (OSError, http.client.HTTPException):
        c.close()
        return "000", conn()


def client(i, start):
    c = conn()
    lines = []
    start.wait()
    for j in range(COUNT):
        if MODE == "blob":
            status, c = send(c, "POST", "/v2/%s/blobs/uploads/?digest=%s" % (REPO, sha(LAYER)),
                             LAYER)
            lines.append("%s POST - %s" % (status, sha(LAYER)))
            continue
        if MODE == "same":
            tag, body = "s%d-%d" % (i, j), manifest("")
        elif MODE == "distinct":
            tag, body = "d%d-%d" % (i, j), manifest("%d-%d" % (i, j))
        elif MODE == "move":
            tag, body = "moving", manifest("m%d-%d" % (i, j))
        else:
            tag, body = "c%d-%d" % (i, j), manifest("c%d" % i)
        d = sha(body)
        status, c = send(c, "PUT", "/v2/%s/manifests/%s" % (REPO, tag), body)
        lines.append("%s PUT %s %s" % (status, tag, d))
        if MODE == "churn" and j % 4 == 1:
            status, c = send(c, "DELETE", "/v2/%s/manifests/%s" % (REPO, tag))
            lines.append("%s DELTAG %s %s" % (status, tag, d))
        elif MODE == "churn" and j % 4 == 3:
            status, c = send(c, "DELETE", "/v2/%s/manifests/%s" % (REPO, d))
            lines.append("%s DELMAN %s %s" % (status, tag, d))
    c.close()
    with OUT:
        sys.stdout.write("".join(line + "\n" for line in lines))


def main():
    setup()
    start = threading.Barrier(CLIENTS)
    threads = [threading.Thread(target=client, args=(i, start)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


main()
