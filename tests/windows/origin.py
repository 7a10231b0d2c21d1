#!/usr/bin/env python3
"""A small HTTP/1.1 origin for the Wine tests: keep-alive, chunked request bodies, chunked
responses, slow responses. Every response says which origin answered, so a test can see routing.

  origin.py --name A --port 8081 [--ready-file PATH]

GET  /health            200 "ok"
ANY  /echo or any path  200 JSON: origin, method, path, headers, body length and sha256
GET  /chunked?parts=N&size=S  200, Transfer-Encoding: chunked, N chunks of S bytes of 'a'..'z'
GET  /slow?ms=N         waits N ms, then 200 JSON (shows a graceful drain keeps it alive)
"""
import argparse
import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 64 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "test-origin"

    def log_message(self, fmt, *args):  # quiet unless debugging
        if self.server.verbose:
            sys.stderr.write("origin %s: %s\n" % (self.server.name, fmt % args))

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body), True
                if len(body) + size > MAX_BODY:
                    raise ValueError("body too large")
                body += self.rfile.read(size)
                self.rfile.readline(8)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(length) if length else b"", False

    def send_json(self, status, payload):
        data = (json.dumps(payload, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Origin", self.server.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            body, chunked = self.read_body()
        except ValueError as error:
            self.send_json(400, {"error": str(error)})
            return
        if url.path == "/health":
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if url.path == "/chunked":
            parts = int(query.get("parts", ["5"])[0])
            size = int(query.get("size", ["1000"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Origin", self.server.name)
            self.end_headers()
            for i in range(parts):
                chunk = bytes([97 + i % 26]) * size
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000.0)
        self.send_json(200, {
            "origin": self.server.name,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "request_chunked": chunked,
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        })

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready-file")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.name = args.name
    server.verbose = args.verbose
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(str(args.port))
    server.serve_forever()


if __name__ == "__main__":
    main()
