#!/usr/bin/env bash
# Flood benchmark: one abusive client at full speed alongside a well-behaved one, through
# proxy-service with a per-client rate limit (100 requests/s, burst 200). The clients are told
# apart by X-Forwarded-For (the load comes from 127.0.0.1, a trusted proxy), as behind a load
# balancer. The abuser is wrk (50 connections, CPU 1); the good client sends 20 requests/s on one
# keep-alive connection and times each answer. First the good client alone (the baseline), then
# with the abuser. What should hold: the good client's success rate (100%) and latency; the abuser
# gets 429s for everything past its allowance.
#
# usage: bench/flood_bench.sh [--duration S] [--proxy-bin PATH] [--bans]
#   --bans  also turn security.bans on (10 strikes in 10 s ban for 60 s): the abuser is then
#           refused with 403 per request instead of 429
# Results: a summary on stdout and bench/results/flood-<stamp>.json. Nothing here is a test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
DURATION=10
PROXY_BIN=$ROOT/build/h-bench/service/proxy-service
BANS=0
die() { echo "flood_bench.sh: $*" >&2; exit 1; }
while (($#)); do
    case $1 in
        --duration) DURATION=${2:?}; shift ;;
        --proxy-bin) PROXY_BIN=${2:?}; shift ;;
        --bans) BANS=1 ;;
        -h|--help) sed -n '2,/^# Results/p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
[[ $DURATION =~ ^[1-9][0-9]*$ && $DURATION -le 120 ]] || die "--duration must be 1..120 seconds"
[[ -x $PROXY_BIN ]] || die "no proxy-service at $PROXY_BIN (bench/waf_bench.sh --help shows the build)"
command -v wrk >/dev/null || die "no wrk (bench/setup.sh installs it)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
TMP=$(mktemp -d /tmp/proxy-flood-bench.XXXXXX)
chmod 755 "$TMP"
declare -A STARTED=()
stopPid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${!STARTED[@]}"; do stopPid "$pid"; done
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
waitPort() {
    local port=$1 pid=$2 i
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || die "process $pid exited during start-up"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "nothing accepts on port $port"
}

read -r ORIGIN_PORT P_PORT < <(python3 "$HERE/benchlib.py" free-ports 2)
mkdir -p "$TMP/origin"
cat >"$TMP/origin/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/origin/nginx.pid;
error_log $TMP/origin/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $TMP/origin/tmp_body;
    proxy_temp_path $TMP/origin/tmp_proxy;
    fastcgi_temp_path $TMP/origin/tmp_fcgi;
    uwsgi_temp_path $TMP/origin/tmp_uwsgi;
    scgi_temp_path $TMP/origin/tmp_scgi;
    server { listen 127.0.0.1:$ORIGIN_PORT backlog=4096; location / { return 200 "ok"; } }
}
EOF
taskset -c 1 "$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" -g 'daemon off;' >"$TMP/origin.log" 2>&1 &
STARTED[$!]=origin
waitPort "$ORIGIN_PORT" $!

BANS_JSON=""
((BANS)) && BANS_JSON=', "bans": {"strikes": 10, "window_ms": 10000, "ban_ms": 60000}'
cat >"$TMP/proxy.json" <<EOF
{"workers": 1,
 "control": {"endpoint": "$TMP/control.sock"},
 "logging": {"level": "error", "database": "", "access_log_file": ""},
 "listeners": [{"name": "web", "address": "127.0.0.1:$P_PORT"}],
 "upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:$ORIGIN_PORT"}]}],
 "security": {"trusted_proxies": ["127.0.0.1"],
              "rate_limit": {"requests_per_second": 100, "burst": 200}$BANS_JSON},
 "routes": [{"name": "all", "upstream": "app"}]}
EOF
taskset -c 0 "$PROXY_BIN" --config "$TMP/proxy.json" >"$TMP/proxy.log" 2>&1 &
PROXY_PID=$!
STARTED[$PROXY_PID]=proxy-service
waitPort "$P_PORT" "$PROXY_PID"

cat >"$TMP/abuser.lua" <<'EOF'
wrk.headers["X-Forwarded-For"] = "203.0.113.66"
EOF
cat >"$TMP/good.py" <<'EOF'
import json, socket, sys, time
port, duration, rate = int(sys.argv[1]), float(sys.argv[2]), 20.0
req = (b"GET /page HTTP/1.1\r\nHost: shop.example.com\r\nX-Forwarded-For: 198.51.100.10\r\n\r\n")
lat, codes = [], {}
s = socket.create_connection(("127.0.0.1", port))
end = time.monotonic() + duration
nxt = time.monotonic()
while time.monotonic() < end:
    t0 = time.monotonic()
    try:
        s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d: raise OSError("closed")
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        code = int(head.split(b" ")[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length": length = int(v)
        while len(rest) < length:
            rest += s.recv(65536)
    except OSError:
        code = 0
        s = socket.create_connection(("127.0.0.1", port))
    lat.append((time.monotonic() - t0) * 1000)
    codes[code] = codes.get(code, 0) + 1
    nxt += 1 / rate
    time.sleep(max(0, nxt - time.monotonic()))
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] if lat else None
print(json.dumps({"requests": len(lat), "codes": codes, "success": codes.get(200, 0) / max(1, len(lat)),
                  "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": lat[-1] if lat else None}))
EOF

echo "baseline: the good client alone, ${DURATION}s" >&2
BASE=$(taskset -c 1 python3 "$TMP/good.py" "$P_PORT" "$DURATION")
echo "flood: the abuser (wrk, 50 connections) and the good client, ${DURATION}s" >&2
taskset -c 1 wrk -t1 -c50 -d"$((DURATION + 1))s" -s "$TMP/abuser.lua" "http://127.0.0.1:$P_PORT/page" >"$TMP/wrk.out" 2>&1 &
WRK=$!
STARTED[$WRK]=wrk
sleep 0.5
FLOOD=$(taskset -c 1 python3 "$TMP/good.py" "$P_PORT" "$DURATION")
wait "$WRK" || true
unset "STARTED[$WRK]"

python3 - "$HERE" "$TMP/wrk.out" "$BASE" "$FLOOD" "$HERE/results/flood-$STAMP.json" "$BANS" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
from benchlib import parseWrk
w = parseWrk(open(sys.argv[2]).read())
base, flood = json.loads(sys.argv[3]), json.loads(sys.argv[4])
abuser = {"requests": w["requests"], "rps": w["rps"], "refused": w["non_2xx"],
          "refused_share": (w["non_2xx"] / w["requests"]) if w["requests"] else None,
          "passed": (w["requests"] or 0) - (w["non_2xx"] or 0)}
print(f"good client alone : {base['requests']} requests, success {base['success']:.1%}, p50 {base['p50_ms']:.2f} ms, p99 {base['p99_ms']:.2f} ms")
print(f"good client, flood: {flood['requests']} requests, success {flood['success']:.1%}, p50 {flood['p50_ms']:.2f} ms, p99 {flood['p99_ms']:.2f} ms, codes {flood['codes']}")
print(f"abuser            : {abuser['requests']} requests ({abuser['rps']:.0f}/s), refused {abuser['refused']} ({abuser['refused_share']:.1%}), passed {abuser['passed']}")
json.dump({"bans": sys.argv[6] == "1", "loadavg_at_end": sys.argv[7], "baseline": base, "flood": flood,
           "abuser": abuser}, open(sys.argv[5], "w"), indent=1)
print("results:", sys.argv[5])
EOF
