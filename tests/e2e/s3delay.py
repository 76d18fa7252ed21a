#!/usr/bin/env python3
"""s3delay.py UPSTREAM-HOST:PORT DELAY-SECONDS -- a TCP proxy in front of an
S3 endpoint that holds back some requests: each PUT of a multipart
upload's part (?partNumber=) or of an upload session's state-<n> (n > 0)
or tail-<n> object waits DELAY seconds before it is passed on; everything
else flows at once.  Requests are framed by their Content-Length (libcurl
sends no chunked bodies to S3 here); answers are copied as they come.

Listens on 127.0.0.1 with a kernel-chosen port and prints
"s3delay listening on port N"; one line per delayed request on stdout:
"s3delay: held PUT PATH".

s3delay.py UPSTREAM-HOST:PORT DELAY-SECONDS PATTERN-FILE -- hold instead
each request whose request line ("METHOD PATH HTTP/1.1") matches a line
of PATTERN-FILE (Python regular expressions, searched; the file is read
again for every request, so a test may change what is held as it goes;
absent or empty: nothing is held).  A held request is noted as
"s3delay: held METHOD PATH".
"""
import re
import socket
import sys
import threading
import time

HOST, PORT = sys.argv[1].rsplit(":", 1)
DELAY = float(sys.argv[2])
HELD = re.compile(rb"^PUT [^ ]*(\?partNumber=|[?&]partNumber=|/state-[1-9][0-9]*[ ?]|/tail-[0-9]+[ ?])")
PATTERN_FILE = sys.argv[3] if len(sys.argv) > 3 else None
LOCK = threading.Lock()


def note(line):
    with LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def held(head):
    if PATTERN_FILE is None:
        return HELD.match(head) is not None
    line = head.split(b"\r\n", 1)[0]
    try:
        with open(PATTERN_FILE, "rb") as f:
            pats = [p.strip() for p in f.read().split(b"\n") if p.strip()]
    except OSError:
        return False
    return any(re.search(p, line) for p in pats)


def copy_answers(src, dst):
    try:
        while True:
            b = src.recv(1 << 16)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(client):
    try:
        up = socket.create_connection((HOST, int(PORT)))
    except OSError:
        client.close()
        return
    threading.Thread(target=copy_answers, args=(up, client), daemon=True).start()
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                b = client.recv(1 << 16)
                if not b:
                    raise EOFError
                buf += b
            head, buf = buf.split(b"\r\n\r\n", 1)
            head += b"\r\n\r\n"
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
            left = int(m.group(1)) if m else 0
            if held(head):
                note("s3delay: held " + head.split(b"\r\n", 1)[0].decode(errors="replace"))
                time.sleep(DELAY)
            up.sendall(head)
            while left > 0:
                if not buf:
                    buf = client.recv(1 << 16)
                    if not buf:
                        raise EOFError
                n = min(left, len(buf))
                up.sendall(buf[:n])
                buf = buf[n:]
                left -= n
    except (EOFError, OSError):
        pass
    for s in (client, up):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    note("s3delay listening on port %d" % ls.getsockname()[1])
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


main()
