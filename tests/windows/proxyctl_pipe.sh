#!/usr/bin/env bash
# proxyctl.exe talks to proxy-service.exe over the named pipe, both under Wine: status, a config
# apply that changes routing live (curl sees the new upstream, the file on disk is the new
# version), a refused invalid config that changes nothing, and an upstream drain/enable.
source "$(dirname "$0")/wine_env.sh"
wine_setup
install_binaries
[[ -f $C/proxy/proxyctl.exe ]] || fail "missing $PROXYCTL_EXE (build the proxyctl target)"

start_origin A
a=$ORIGIN_PORT
start_origin B
b=$ORIGIN_PORT
port=$(free_port)
pipe=proxy-test-$$
write_config config.json "$port" "$pipe" "{ \"address\": \"127.0.0.1:$a\" }"
start_console config.json "$port"
url=http://127.0.0.1:$port
origin_of() { curl -sS --max-time 15 "$url/$1" | json_field origin; }

ctl() {  # proxyctl.exe against this test's pipe; output in STEP_OUT, fails the test on error
    wstep "proxyctl $*" 60 'C:\proxy\proxyctl.exe' --endpoint "\\\\.\\pipe\\$pipe" "$@"
}

# status (readable, then --json parsed)
ctl status
log "proxyctl status:"$'\n'"$STEP_OUT"
expect_contains "status names the version" "0.1.0" "$STEP_OUT"
ctl --json status
printf '%s' "$STEP_OUT" | "$PYTHON" -c 'import json,sys; json.load(sys.stdin)' ||
    fail "proxyctl --json status is not JSON: $STEP_OUT"
expect_contains "status lists the listener" "127.0.0.1:$port" "$STEP_OUT"
expect_eq "routing before apply" A "$(origin_of before)"

# config apply: origin -> B, live.
write_config config-b.json "$port" "$pipe" "{ \"address\": \"127.0.0.1:$b\" }"
ctl config apply 'C:\proxy\config-b.json' --note "switch to B"
log "config apply: $(tr '\n' ' ' <<<"$STEP_OUT")"
expect_eq "routing after apply (same connection-less curl)" B "$(origin_of after-apply)"
grep -q "127.0.0.1:$b" "$C/proxy/config.json" ||
    fail "the applied config was not persisted to C:\\proxy\\config.json"
log "ok: applied config persisted to the config file"
ctl config history
expect_contains "history shows the note" "switch to B" "$STEP_OUT"

# An invalid config is refused with exit code 1 and changes nothing.
printf '{ "listeners": [ { "name": "web", "address": "127.0.0.1:nope" } ] }' >"$C/proxy/bad.json"
rc=0
out=$(w 60 'C:\proxy\proxyctl.exe' --endpoint "\\\\.\\pipe\\$pipe" config apply 'C:\proxy\bad.json' 2>&1) || rc=$?
expect_eq "invalid config apply exit code" 1 "$rc"
expect_contains "invalid config apply explains why" "address" "$out"
expect_eq "routing unchanged after the refused apply" B "$(origin_of after-refused)"

# Drain: both servers in the upstream, then drain A: every new request goes to B.
write_config config-ab.json "$port" "$pipe" \
    "{ \"address\": \"127.0.0.1:$a\" }, { \"address\": \"127.0.0.1:$b\" }"
ctl config apply 'C:\proxy\config-ab.json'
seen=""
for i in 1 2 3 4; do seen+=$(origin_of "rr$i"); done
[[ $seen == *A* && $seen == *B* ]] || fail "round robin over A and B expected, got $seen"
log "ok: round robin over both servers ($seen)"
ctl upstreams drain origin "127.0.0.1:$a"
ctl upstreams list
expect_contains "upstreams list shows the drained server" "draining" "$STEP_OUT"
seen=""
for i in 1 2 3 4 5 6; do seen+=$(origin_of "drained$i"); done
expect_eq "after draining A every request goes to B" BBBBBB "$seen"
ctl upstreams enable origin "127.0.0.1:$a"
seen=""
for i in 1 2 3 4; do seen+=$(origin_of "enabled$i"); done
[[ $seen == *A* ]] || fail "A gets traffic again after enable, got $seen"
log "ok: A back in rotation after enable ($seen)"

kill -0 "$CONSOLE_PID" 2>/dev/null || fail "proxy-service.exe exited"
log "PASS"
