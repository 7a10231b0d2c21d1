# Sourced by the Wine tests (tests/windows/*.sh, tests/installer/*.sh). Gives each test its own
# copy of one cached Wine prefix, its own wineserver, free ports, a Linux origin, and on failure
# the service's logs plus a traced re-run of the failing Wine step.
#
# Environment (set by tests/windows/CMakeLists.txt):
#   PROXY_WINDOWS_BUILD_DIR  the mingw build tree (service/proxy-service.exe, service/proxyctl/...)
#   PROXY_WINE_CACHE         where the template prefix and the per-test prefixes live
#   PROXY_KEEP_WINE=1        keep the per-test prefix and logs after a successful run
#
# Wine facts this relies on (docs/windows.md): `wineserver -p` keeps services.exe alive between
# commands; SIGINT never reaches a Wine program and SIGTERM kills it hard, so services stop
# through the SCM and everything else ends with `wineserver -k`; `localhost` is only 127.0.0.1.

set -euo pipefail

: "${PROXY_WINDOWS_BUILD_DIR:?PROXY_WINDOWS_BUILD_DIR must name the mingw build tree}"
: "${PROXY_WINE_CACHE:?PROXY_WINE_CACHE must name a cache folder}"

TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}
WINE_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVICE_EXE=$PROXY_WINDOWS_BUILD_DIR/service/proxy-service.exe
PROXYCTL_EXE=$PROXY_WINDOWS_BUILD_DIR/service/proxyctl/proxyctl.exe
WINE_TRACE_CHANNELS=${WINE_TRACE_CHANNELS:-err+all,warn+seh,+service}

export WINEDEBUG=-all
# No Mono or Gecko: nothing here needs them, and their installers would stall a headless run.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY

# The system interpreter: a version-manager shim costs a second per call, and these helpers run
# dozens of times per test.
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

BG_PIDS=()
WORK=""
C=""
T0_MS=$(( ${EPOCHREALTIME/./} / 1000 ))

elapsed_ms() { echo $(( ${EPOCHREALTIME/./} / 1000 - T0_MS )); }
log() {
    local ms
    ms=$(elapsed_ms)
    printf '[%s +%d.%01ds] %s\n' "$TEST_NAME" $((ms / 1000)) $((ms % 1000 / 100)) "$*" >&2
}

# --- the template prefix ------------------------------------------------------------------------

# Creates (once per Wine version) the prefix every test copies. A lock makes parallel callers wait
# for the first one instead of racing it.
wine_template_prepare() {
    local template=$PROXY_WINE_CACHE/template want
    want=$(wine --version 2>/dev/null)
    mkdir -p "$PROXY_WINE_CACHE"
    exec 9>"$PROXY_WINE_CACHE/template.lock"
    flock -w 300 9 || { echo "cannot lock $PROXY_WINE_CACHE/template.lock" >&2; return 1; }
    if [[ -f $template/.proxy-stamp && $(cat "$template/.proxy-stamp") == "$want" ]]; then
        flock -u 9
        return 0
    fi
    rm -rf "$template"
    local started=$SECONDS
    WINEPREFIX=$template timeout --kill-after=10 180 wineboot -i >/dev/null 2>&1 || {
        echo "wineboot -i failed for $template" >&2; flock -u 9; return 1; }
    WINEPREFIX=$template timeout --kill-after=10 120 wineserver -w || true
    echo "$want" > "$template/.proxy-stamp"
    echo "created Wine prefix template in $((SECONDS - started)) s ($want)" >&2
    flock -u 9
}

# --- per-test setup and teardown ----------------------------------------------------------------

wine_setup() {
    [[ -f $SERVICE_EXE ]] || { echo "missing $SERVICE_EXE (build the mingw-release preset)" >&2; exit 1; }
    wine_template_prepare
    WORK=$PROXY_WINE_CACHE/run-$TEST_NAME
    rm -rf "$WORK"
    mkdir -p "$WORK"
    export WINEPREFIX=$WORK/prefix
    cp -a "$PROXY_WINE_CACHE/template" "$WINEPREFIX"
    C=$WINEPREFIX/drive_c
    mkdir -p "$C/proxy"
    trap wine_teardown EXIT
    # Keep the wineserver (and so services.exe) alive between our commands; see the notes above.
    timeout 30 wineserver -p
    # Start Wine's system processes (services.exe, winedevice, ...) now, with their output in a
    # file: whatever Wine command comes first lends them its stdout, and a $(...) capture would
    # then wait for them forever. Services inherit it too, so a service's stderr lands here.
    WINEDEBUG=-all,+eventlog timeout --kill-after=5 60 wine cmd /c exit </dev/null \
        >>"$WORK/wine-system.log" 2>&1 || true
    log "prefix ready: $WINEPREFIX"
}

wine_teardown() {
    local rc=$?
    set +e
    local pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    timeout 30 wineserver -k 2>/dev/null
    for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    if [[ $rc -eq 0 && -z ${PROXY_KEEP_WINE:-} ]]; then
        rm -rf "$WORK"
    else
        log "kept $WORK for inspection"
    fi
    log "finished with exit code $rc"
    exit "$rc"
}

# --- running Wine programs ----------------------------------------------------------------------

# w SECONDS PROGRAM ARGS...: one Wine command under a timeout.
w() {
    local seconds=$1
    shift
    timeout --kill-after=5 "$seconds" wine "$@"
}

dump_diagnostics() {
    local f
    for f in "$WORK"/*.log "$C"/proxy/*.log "$C"/ProgramData/proxy/*.log "$C"/ProgramData/proxy/logs/*; do
        [[ -f $f ]] || continue
        echo "----- $f (last 60 lines) -----" >&2
        tail -n 60 "$f" >&2
    done
}

fail() {
    log "FAIL: $*"
    dump_diagnostics
    exit 1
}

# Re-runs a Wine command with tracing channels on and prints the end of the trace.
wine_trace_rerun() {
    log "re-running with WINEDEBUG=$WINE_TRACE_CHANNELS: $*"
    WINEDEBUG=$WINE_TRACE_CHANNELS timeout --kill-after=5 60 wine "$@" \
        >"$WORK/trace.stdout" 2>"$WORK/trace.stderr"
    echo "exit code of the traced run: $?" >&2
    echo "----- Wine trace (last 80 lines of $WORK/trace.stderr) -----" >&2
    tail -n 80 "$WORK/trace.stderr" >&2
}

# wstep "what" SECONDS PROGRAM ARGS...: runs a Wine command; its output is left in STEP_OUT. On
# failure prints the output, re-runs it traced, dumps the logs and fails the test.
STEP_OUT=""
wstep() {
    local what=$1 seconds=$2
    shift 2
    local rc=0
    STEP_OUT=$(w "$seconds" "$@" 2>&1) || rc=$?
    if [[ $rc -eq 0 ]]; then return 0; fi
    log "step failed (exit $rc): $what"
    printf '%s\n' "$STEP_OUT" >&2
    wine_trace_rerun "$@"
    fail "$what"
}

# --- ports, origins, the service in the foreground ----------------------------------------------

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for_port() {  # PORT SECONDS
    local port=$1 deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    return 1
}

# start_origin NAME: a Linux origin on a free port; sets ORIGIN_PORT.
start_origin() {
    local name=$1
    ORIGIN_PORT=$(free_port)
    "$PYTHON" "$WINE_TESTS_DIR/origin.py" --name "$name" --port "$ORIGIN_PORT" \
        >"$WORK/origin-$name.log" 2>&1 &
    BG_PIDS+=($!)
    wait_for_port "$ORIGIN_PORT" 10 || fail "origin $name did not start"
}

# Copies the Windows binaries into C:\proxy.
install_binaries() {
    cp "$SERVICE_EXE" "$C/proxy/"
    if [[ -f $PROXYCTL_EXE ]]; then cp "$PROXYCTL_EXE" "$C/proxy/"; fi
}

# write_config FILE LISTEN_PORT PIPE_NAME UPSTREAM_SERVERS_JSON [EXTRA_UPSTREAMS_JSON]
# FILE is under C:\proxy; the servers are a JSON array body such as {"address":"127.0.0.1:81"}.
write_config() {
    local file=$1 port=$2 pipe=$3 servers=$4
    cat >"$C/proxy/$file" <<JSON
{
  "control": { "endpoint": "\\\\\\\\.\\\\pipe\\\\$pipe" },
  "logging": {
    "error_log_file": "C:\\\\proxy\\\\error.log",
    "access_log_file": "C:\\\\proxy\\\\access.log",
    "level": "info"
  },
  "timeouts": { "shutdown_ms": 5000, "upstream_connect_ms": 2000 },
  "listeners": [ { "name": "web", "address": "127.0.0.1:$port" } ],
  "upstreams": [
    { "name": "origin", "servers": [ $servers ] }
  ],
  "routes": [ { "name": "all", "upstream": "origin" } ]
}
JSON
}

# start_console CONFIG_FILE LISTEN_PORT: proxy-service.exe --console in the background.
start_console() {
    local config=$1 port=$2
    w 600 'C:\proxy\proxy-service.exe' --console --config "C:\\proxy\\$config" \
        >"$WORK/console.log" 2>&1 &
    CONSOLE_PID=$!
    BG_PIDS+=("$CONSOLE_PID")
    if ! wait_for_port "$port" 40; then
        if ! kill -0 "$CONSOLE_PID" 2>/dev/null; then
            log "proxy-service.exe exited early"
            wine_trace_rerun 'C:\proxy\proxy-service.exe' --console --config "C:\\proxy\\$config"
        fi
        fail "proxy-service.exe --console did not listen on $port"
    fi
}

# The JSON value of KEY in a one-object-per-line response body.
json_field() {  # KEY < JSON
    "$PYTHON" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print(v if v is not None else "")' "$1"
}

expect_eq() {  # WHAT EXPECTED ACTUAL
    [[ "$2" == "$3" ]] || fail "$1: expected '$2', got '$3'"
    log "ok: $1"
}

expect_contains() {  # WHAT NEEDLE HAYSTACK
    [[ "$3" == *"$2"* ]] || fail "$1: expected to find '$2' in: $3"
    log "ok: $1"
}
