#!/usr/bin/env python3
"""A tiny demo origin for scripts/run.sh: answers every request with its own name and what it saw,
so a first curl through the proxy shows load balancing and the forwarding headers."""
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-origin"

    def _answer(self, with_body=True):
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        body = json.dumps({
            "origin": self.server.origin_name,
            "method": self.command,
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body_bytes": len(body_in),
        }, indent=2).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer()

    def do_HEAD(self):
        self._answer(with_body=False)

    def log_message(self, fmt, *args):
        pass


def main():
    port = int(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else f"origin-{port}"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.origin_name = name
    server.serve_forever()


if __name__ == "__main__":
    main()
