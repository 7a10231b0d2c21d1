#!/usr/bin/env python3
"""Sends raw bytes to host:port and prints the status line of the reply (for requests curl
refuses to make: both Content-Length and Transfer-Encoding, no Host header, ...).

  rawhttp.py PORT 'GET / HTTP/1.1\\r\\n\\r\\n'    (\\r \\n escapes are expanded)
Exit 0 with the status line on stdout; exit 1 if the connection closed without a reply.
"""
import socket
import sys


def main():
    port = int(sys.argv[1])
    payload = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(payload)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data:
        print("(connection closed without a response)")
        return 1
    print(data.split(b"\r\n", 1)[0].decode("latin-1"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
