#!/usr/bin/env bash
# proxy-service.exe --console under Wine proxies Linux curl to a Linux origin: plain GET,
# keep-alive (two requests on one connection), chunked request and response bodies, and the
# hostile cases (Content-Length with Transfer-Encoding -> 400, no Host -> 400).
source "$(dirname "$0")/wine_env.sh"
wine_setup
install_binaries

wstep "proxy-service.exe --version" 60 'C:\proxy\proxy-service.exe' --version
expect_contains "--version names the platform" "platform: windows x64" "$STEP_OUT"
expect_contains "asio runs on I/O completion ports" "io: iocp" "$STEP_OUT"

# Not started by the SCM and no --console: the foreground fallback, not a hang in the dispatcher.
printf '{ "listeners": [ { "name": "web", "address": "127.0.0.1:notaport" } ] }' >"$C/proxy/bad.json"
rc=0
out=$(w 60 'C:\proxy\proxy-service.exe' --config 'C:\proxy\bad.json' 2>&1) || rc=$?
expect_eq "without --console outside the SCM: runs in the foreground and fails to start" 1 "$rc"
expect_contains "the start failure is explained (rendered from the message table)" "The proxy service could not start: cannot use the configuration" "$out"

start_origin A
origin=$ORIGIN_PORT
port=$(free_port)
write_config config.json "$port" "proxy-test-$$" "{ \"address\": \"127.0.0.1:$origin\" }"
start_console config.json "$port"
log "proxy-service.exe --console listens on 127.0.0.1:$port -> origin on $origin"

url=http://127.0.0.1:$port
body=$(curl -sS --max-time 15 "$url/hello?x=1") || fail "GET through the proxy failed"
expect_eq "GET answered by origin A" A "$(json_field origin <<<"$body")"
expect_eq "path and query forwarded" "/hello?x=1" "$(json_field path <<<"$body")"

# Keep-alive: curl reuses the connection for the second URL only if the proxy kept it open.
out=$(curl -sS -v --max-time 15 "$url/one" "$url/two" 2>&1) || fail "keep-alive requests failed: $out"
expect_contains "second request reused the connection" "Re-using existing connection" "$out"
[[ $(grep -c '"origin": "A"' <<<"$out") -eq 2 ]] || fail "keep-alive: expected two answers: $out"
log "ok: both keep-alive requests answered"

# Chunked request body (100 KB), checked by length and hash at the origin.
head -c 100000 /dev/urandom >"$WORK/upload.bin"
want=$(sha256sum "$WORK/upload.bin" | cut -d' ' -f1)
body=$(curl -sS --max-time 30 -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/upload.bin" \
    "$url/upload") || fail "chunked upload failed"
expect_eq "chunked request body length at the origin" 100000 "$(json_field body_length <<<"$body")"
expect_eq "chunked request body hash at the origin" "$want" "$(json_field body_sha256 <<<"$body")"

# Chunked response body: 20 chunks of 4 KB, reassembled intact by curl.
curl -sS --max-time 30 -D "$WORK/chunked.headers" -o "$WORK/chunked.body" \
    "$url/chunked?parts=20&size=4096" || fail "chunked response failed"
expect_eq "chunked response size" 81920 "$(stat -c %s "$WORK/chunked.body")"
want=$("$PYTHON" -c 'import sys,hashlib; print(hashlib.sha256(b"".join(bytes([97+i%26])*4096 for i in range(20))).hexdigest())')
expect_eq "chunked response content" "$want" "$(sha256sum "$WORK/chunked.body" | cut -d' ' -f1)"
grep -qi '^HTTP/1.1 200' "$WORK/chunked.headers" || fail "chunked response status: $(cat "$WORK/chunked.headers")"

# Hostile: request smuggling shape and a missing Host.
status=$("$PYTHON" "$WINE_TESTS_DIR/rawhttp.py" "$port" \
    'POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n') \
    || fail "CL+TE: no response"
expect_contains "Content-Length with Transfer-Encoding is refused" " 400" "$status"
status=$("$PYTHON" "$WINE_TESTS_DIR/rawhttp.py" "$port" 'GET / HTTP/1.1\r\n\r\n') || fail "no Host: no response"
expect_contains "HTTP/1.1 without Host is refused" " 400" "$status"

# The service is still healthy after the hostile requests.
body=$(curl -sS --max-time 15 "$url/after") || fail "GET after the hostile requests failed"
expect_eq "still serving after hostile input" A "$(json_field origin <<<"$body")"
kill -0 "$CONSOLE_PID" 2>/dev/null || fail "proxy-service.exe exited"
log "PASS"
