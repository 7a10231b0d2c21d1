#!/usr/bin/env bash
# User-space instructions per proxied request, counted by valgrind's callgrind: proxy-service
# against nginx and HAProxy, one worker each, keep-alive, a 1 KiB body from an nginx origin.
#
# Why: bench/run.sh's headline (perf stat task-clock per request) moves by ±20% on this shared
# 2-core box whenever someone compiles, and the VM exposes no hardware counters. Instruction
# counts under callgrind are repeatable for the same binary and input whatever else runs, so
# they show whether a change to the hot path made user-space work smaller. They say nothing
# about the kernel's share (two thirds of the proxy's CPU: see docs/performance.md), so read
# them beside the system-call counts of `bench/run.sh --profile`, and confirm wins with run.sh.
#
# Method: each proxy runs under `valgrind --tool=callgrind --instr-atstart=no`; a warm-up load
# (pools filled, caches built) runs uninstrumented; then instrumentation is switched on with
# callgrind_control, wrk sends keep-alive requests for --duration seconds, and instrumentation
# is switched off and dumped. Instructions per request = Ir of that window / requests wrk saw.
# nginx runs with `master_process off` (the worker's work in one process); HAProxy with -db.
#
# usage: bench/instructions.sh [--duration S] [--connections N]
#                              [--proxies "proxy-service nginx haproxy"] (also: proxy-service-log,
#                              the same with the SQLite access log on: the logging cost)
#                              [--proxy-bin PATH] [--annotate N] [--close] [--keep-tmp]
#   --close       every request on a new client connection (wrk -H "Connection: close"): what a
#                 connection's accept, set-up and close add
#   --annotate N  print proxy-service's (and proxy-service-log's) top N functions by self
#                 instructions (default 25; 0: none)
# Results: a table on stdout and bench/results/<stamp>-instructions.json (+ the callgrind files
# with --keep-tmp). Nothing here is a test.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=10
CONNS=50
PROXIES="proxy-service nginx haproxy"
PROXY_BIN=$ROOT/build/h-bench/service/proxy-service
ANNOTATE=25
KEEP_TMP=0
WRK_HEADERS=()
MODE=keep-alive

die() { echo "instructions.sh: $*" >&2; exit 1; }
while (($#)); do
    case $1 in
        --duration) DURATION=${2:?}; shift ;;
        --connections) CONNS=${2:?}; shift ;;
        --proxies) PROXIES=${2:?}; shift ;;
        --proxy-bin) PROXY_BIN=${2:?}; shift ;;
        --annotate) ANNOTATE=${2:?}; shift ;;
        --keep-tmp) KEEP_TMP=1 ;;
        --close) WRK_HEADERS=(-H "Connection: close"); MODE=close ;;
        -h|--help) sed -n '2,/^# Results/p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
[[ $DURATION =~ ^[1-9][0-9]*$ && $DURATION -le 120 ]] || die "--duration must be 1..120 seconds"
[[ $CONNS =~ ^[1-9][0-9]*$ && $CONNS -le 1000 ]] || die "--connections must be 1..1000"
[[ $ANNOTATE =~ ^[0-9]+$ ]] || die "--annotate must be a number"
for p in $PROXIES; do
    [[ $p =~ ^(proxy-service|proxy-service-log|nginx|haproxy)$ ]] || die "unknown proxy '$p'"
done

"$HERE/setup.sh" >/dev/null
for tool in valgrind callgrind_control callgrind_annotate; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian package valgrind; bench/setup.sh installs it)"
done
[[ -x $PROXY_BIN ]] || die "no proxy-service at $PROXY_BIN (see bench/run.sh --help for the Release build)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$HERE/results
mkdir -p "$RESULTS"
TMP=$(mktemp -d /tmp/proxy-instr.XXXXXX)

declare -A STARTED=()
track() { STARTED[$1]=$2; }
stopPid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${!STARTED[@]}"; do stopPid "$pid"; done
    if ((KEEP_TMP)); then echo "instructions.sh: temp files kept in $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "instructions.sh: interrupted" >&2; exit 130' INT TERM

waitPort() {  # port pid label: up to 60 s (valgrind starts slowly)
    local i
    for i in $(seq 1 600); do
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up; log: $(tail -n 5 "$TMP/$3.log" 2>/dev/null)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "$3 does not accept on port $1 after 60 s"
}

read -r ORIGIN_PORT P_PORT N_PORT H_PORT < <(python3 "$HERE/benchlib.py" free-ports 4)
BODY_1K=$(head -c 1024 /dev/zero | tr '\0' 'x')

# ---- the origin: nginx, one worker, not instrumented ----------------------------------------------
mkdir -p "$TMP/origin/logs"
cat >"$TMP/origin/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/origin/nginx.pid;
error_log $TMP/origin/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/origin/tmp_body;
    proxy_temp_path $TMP/origin/tmp_proxy;
    fastcgi_temp_path $TMP/origin/tmp_fcgi;
    uwsgi_temp_path $TMP/origin/tmp_uwsgi;
    scgi_temp_path $TMP/origin/tmp_scgi;
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        location / { default_type text/plain; return 200 "$BODY_1K"; }
    }
}
EOF
"$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" -g 'daemon off;' >"$TMP/origin.log" 2>&1 &
track $! origin
waitPort "$ORIGIN_PORT" $! origin

# ---- proxy configs ---------------------------------------------------------------------------------
cat >"$TMP/proxy-service.json" <<EOF
{
  "workers": 1,
  "control": { "endpoint": "$TMP/control.sock" },
  "logging": { "database": "", "access_log_file": "", "level": "warn" },
  "timeouts": { "shutdown_ms": 2000 },
  "forwarded": { "x_forwarded": false, "via": false },
  "listeners": [ { "name": "bench", "address": "127.0.0.1:$P_PORT" } ],
  "upstreams": [ { "name": "origin", "servers": [ { "address": "127.0.0.1:$ORIGIN_PORT" } ],
                   "keepalive": { "max_idle": 64 } } ],
  "routes": [ { "name": "all", "upstream": "origin" } ]
}
EOF
# The same with the SQLite access log on, as shipped: the logging cost in instructions (the
# writer thread's included: callgrind counts every thread of the process).
sed 's|"database": ""|"database": "'"$TMP"'/access.db"|' "$TMP/proxy-service.json" >"$TMP/proxy-service-log.json"
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<EOF
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/nginx/tmp_body;
    proxy_temp_path $TMP/nginx/tmp_proxy;
    fastcgi_temp_path $TMP/nginx/tmp_fcgi;
    uwsgi_temp_path $TMP/nginx/tmp_uwsgi;
    scgi_temp_path $TMP/nginx/tmp_scgi;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; keepalive_requests 100000000; }
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }
    }
}
EOF
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    http-reuse always
frontend bench
    bind 127.0.0.1:$H_PORT
    default_backend origin
backend origin
    server o1 127.0.0.1:$ORIGIN_PORT
EOF

declare -A IR=() REQS=() PER=()
VG=(valgrind --tool=callgrind --instr-atstart=no --dump-instr=no --collect-jumps=no)

measure() {  # label port command...
    local label=$1 port=$2
    shift 2
    local out=$TMP/callgrind.$label
    "${VG[@]}" --callgrind-out-file="$out.%p" "$@" >"$TMP/$label.log" 2>&1 &
    local pid=$!
    track $pid "$label"
    waitPort "$port" $pid "$label"
    # Warm up uninstrumented: fills the upstream pool, grows buffers, faults in the code.
    wrk -t1 -c"$CONNS" -d3s "${WRK_HEADERS[@]}" "http://127.0.0.1:$port/" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    local wrkOut
    wrkOut=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "${WRK_HEADERS[@]}" "http://127.0.0.1:$port/")
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    local requests errors
    requests=$(awk '/requests in/ {print $1}' <<<"$wrkOut")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$wrkOut")
    [[ -z $errors ]] || die "$label: wrk saw errors: $errors"
    [[ $requests =~ ^[0-9]+$ && $requests -gt 0 ]] || die "$label: no requests counted: $wrkOut"
    stopPid "$pid"
    unset "STARTED[$pid]"
    # The dump made by -d is the newest numbered file of this pid (".1"); its totals line is the window.
    local dump
    dump=$(ls -t "$out.$pid"* 2>/dev/null | grep -v '\.'"$pid"'$' | head -n 1 || true)
    [[ -n $dump ]] || dump=$(ls -t "$out.$pid"* | head -n 1)
    local ir
    ir=$(awk '/^totals:/ {print $2; exit}' "$dump")
    [[ $ir =~ ^[0-9]+$ ]] || die "$label: no instruction total in $dump"
    IR[$label]=$ir
    REQS[$label]=$requests
    PER[$label]=$(python3 -c "print(round($ir / $requests))")
    printf '  %-14s %9d requests  %14d Ir  %8d instructions/request\n' "$label" "$requests" "$ir" "${PER[$label]}"
    if [[ $label == proxy-service* && $ANNOTATE -gt 0 ]]; then
        callgrind_annotate --threshold=100 "$dump" 2>/dev/null | sed -n '/^-\+$/,$p' | grep -E '^ *[0-9,]+ ' |
            head -n "$ANNOTATE" >"$TMP/top-$label.txt" || true
    fi
}

echo "instructions.sh: {$PROXIES}, $MODE c$CONNS, ${DURATION}s under callgrind; load average $(cut -d' ' -f1 /proc/loadavg)"
for p in $PROXIES; do
    case $p in
        proxy-service) measure proxy-service "$P_PORT" "$PROXY_BIN" --config "$TMP/proxy-service.json" ;;
        proxy-service-log) measure proxy-service-log "$P_PORT" "$PROXY_BIN" --config "$TMP/proxy-service-log.json" ;;
        nginx) measure nginx "$N_PORT" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' ;;
        haproxy) measure haproxy "$H_PORT" "$HAPROXY" -db -f "$TMP/haproxy.cfg" ;;
    esac
done

for label in proxy-service proxy-service-log; do
    if [[ -s $TMP/top-$label.txt ]]; then
        echo
        echo "$label, top functions by self instructions (whole window):"
        cat "$TMP/top-$label.txt"
    fi
done

python3 - "$RESULTS/$STAMP-instructions.json" "$CONNS" "$DURATION" "$PROXY_BIN" "$MODE" \
    "$(for p in "${!PER[@]}"; do echo "$p=${IR[$p]}/${REQS[$p]}"; done)" <<'EOF'
import json, sys
path, conns, duration, binary, mode, rows = sys.argv[1:7]
out = {"connections": int(conns), "mode": mode, "duration_s": int(duration), "proxy_bin": binary,
       "proxies": {}}
for row in rows.split():
    name, frac = row.split("=")
    ir, reqs = (int(x) for x in frac.split("/"))
    out["proxies"][name] = {"instructions": ir, "requests": reqs, "per_request": round(ir / reqs)}
if "nginx" in out["proxies"] and "proxy-service" in out["proxies"]:
    out["proxy_service_vs_nginx"] = round(out["proxies"]["nginx"]["per_request"] /
                                          out["proxies"]["proxy-service"]["per_request"], 3)
json.dump(out, open(path, "w"), indent=2)
print(f"\nwritten: {path}")
EOF
if ((KEEP_TMP)); then cp "$TMP"/callgrind.* "$RESULTS/" 2>/dev/null || true; fi
