#!/usr/bin/env bash
# WAF benchmark: proxy-service with its WAF (ModSecurity v3 + OWASP CRS 3.3 at paranoia 1, block
# mode) against nginx with libnginx-mod-http-modsecurity and the same rules, in the same run.
# Layout as bench/run.sh: the proxy under test alone on CPU 0; wrk and the origin (nginx, one
# worker, a 1 KiB answer) on CPU 1. Each proxy runs one worker. The figure that matters is the
# proxy's CPU per request (user+system time of its worker process from /proc/PID/stat over the
# measured run, divided by the requests wrk completed), and the ratio proxy-service : nginx.
#
# Scenarios (each proxy, WAF on and WAF off, so the WAF's own cost shows):
#   benign   GET /products?category=shoes&size=42&sort=price_asc&page=2 with browser headers (200)
#   attack   GET /item?id=1%27%20OR%201%3D1-- (403 from both, the CRS anomaly score)
#   post     POST /login, a 120-byte urlencoded form (the body is inspected; 200)
#
# usage: bench/waf_bench.sh [--rounds N] [--duration S] [--connections C] [--proxy-bin PATH]
# Needs: wrk, nginx, libnginx-mod-http-modsecurity, modsecurity-crs,
# and a release proxy-service built with PROXY_WITH_MODSECURITY=ON:
#   cmake -S . -B build/h-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DPROXY_BUILD_TESTS=OFF \
#         -DPROXY_BUILD_CONSOLE=OFF && cmake --build build/h-bench --target proxy-service
# Results: a table on stdout and bench/results/waf-<stamp>.json. Nothing here is a test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ROUNDS=3
DURATION=10
CONNS=50
PROXY_BIN=$ROOT/build/h-bench/service/proxy-service
CRS=/usr/share/modsecurity-crs
MODULE=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so

die() { echo "waf_bench.sh: $*" >&2; exit 1; }
while (($#)); do
    case $1 in
        --rounds) ROUNDS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --connections) CONNS=${2:?}; shift ;;
        --proxy-bin) PROXY_BIN=${2:?}; shift ;;
        -h|--help) sed -n '2,/^# Results/p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ && $DURATION -le 60 ]] || die "--duration must be 1..60 seconds"
[[ -x $PROXY_BIN ]] || die "no proxy-service at $PROXY_BIN (see --help for the build)"
[[ -f $MODULE ]] || die "no $MODULE: apt install libnginx-mod-http-modsecurity"
[[ -d $CRS/rules ]] || die "no $CRS/rules: apt install modsecurity-crs"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || die "no wrk (bench/setup.sh installs it)"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$HERE/results"
TMP=$(mktemp -d /tmp/proxy-waf-bench.XXXXXX)
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
        kill -0 "$pid" 2>/dev/null || die "process $pid exited during start-up: $(tail -n 5 "$TMP"/*.log 2>/dev/null)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "nothing accepts on port $port after 30 s"
}
childPid() {
    local i c
    for i in $(seq 1 50); do
        c=$(pgrep -P "$1" | head -n 1 || true)
        [[ -n $c ]] && { echo "$c"; return 0; }
        sleep 0.1
    done
    return 1
}

read -r ORIGIN_PORT P_PORT N_PORT < <(python3 "$HERE/benchlib.py" free-ports 3)

# ---- origin: nginx, one worker, CPU 1 ----------------------------------------------------------
BODY_1K=$(head -c 1024 /dev/zero | tr '\0' 'x')
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
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        location / { default_type text/plain; return 200 "$BODY_1K"; }
    }
}
EOF
taskset -c 1 "$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" -g 'daemon off;' >"$TMP/origin.log" 2>&1 &
STARTED[$!]=origin
waitPort "$ORIGIN_PORT" $!

# ---- the same ModSecurity configuration for both (mirrors service/waf/waf_rules.cpp) ----------
cat >"$TMP/waf.conf" <<EOF
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 1048577
SecRequestBodyNoFilesLimit 1048577
SecRequestBodyLimitAction ProcessPartial
SecResponseBodyAccess Off
SecAuditEngine Off
SecArgumentSeparator &
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%{reqbody_error_msg}',severity:2"
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=1"
SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"
Include $CRS/rules/*.conf
EOF

# ---- the proxies under test, one at a time on CPU 0 ----------------------------------------------
startNginx() {  # waf: on|off
    local waf=$1
    mkdir -p "$TMP/nginx"
    local modsec=""
    [[ $waf == on ]] && modsec="modsecurity on; modsecurity_rules_file $TMP/waf.conf;"
    cat >"$TMP/nginx/nginx.conf" <<EOF
load_module $MODULE;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $TMP/nginx/tmp_body;
    proxy_temp_path $TMP/nginx/tmp_proxy;
    fastcgi_temp_path $TMP/nginx/tmp_fcgi;
    uwsgi_temp_path $TMP/nginx/tmp_uwsgi;
    scgi_temp_path $TMP/nginx/tmp_scgi;
    upstream app { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        $modsec
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
    taskset -c 0 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' >"$TMP/nginx.log" 2>&1 &
    local master=$!
    STARTED[$master]=nginx
    waitPort "$N_PORT" "$master"
    WORKER_PID=$(childPid "$master")
    MASTER_PID=$master
}
startProxy() {  # waf: on|off
    local waf=$1 mode=off
    [[ $waf == on ]] && mode=block
    cat >"$TMP/proxy.json" <<EOF
{"workers": 1,
 "control": {"endpoint": "$TMP/control.sock"},
 "logging": {"level": "error", "database": "", "access_log_file": ""},
 "listeners": [{"name": "web", "address": "127.0.0.1:$P_PORT"}],
 "upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:$ORIGIN_PORT"}]}],
 "security": {"waf": {"mode": "$mode", "paranoia": 1}},
 "routes": [{"name": "all", "upstream": "app"}]}
EOF
    taskset -c 0 "$PROXY_BIN" --config "$TMP/proxy.json" >"$TMP/proxy.log" 2>&1 &
    local pid=$!
    STARTED[$pid]=proxy-service
    waitPort "$P_PORT" "$pid"
    WORKER_PID=$pid
    MASTER_PID=$pid
}

cat >"$TMP/benign.lua" <<'EOF'
wrk.method = "GET"
wrk.path = "/products?category=shoes&size=42&sort=price_asc&page=2"
wrk.headers["Host"] = "shop.example.com"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
wrk.headers["Accept-Language"] = "en-US,en;q=0.5"
wrk.headers["Cookie"] = "session=3f9a1c0b7e5d4a2f; theme=dark"
EOF
cat >"$TMP/attack.lua" <<'EOF'
wrk.method = "GET"
wrk.path = "/item?id=1%27%20OR%201%3D1--"
wrk.headers["Host"] = "shop.example.com"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
wrk.headers["Accept"] = "text/html"
EOF
cat >"$TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.path = "/login"
wrk.headers["Host"] = "shop.example.com"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "username=alice%40example.com&password=correct+horse+battery+staple&remember=on&next=%2Faccount%2Forders%3Fpage%3D2"
EOF

cpuMs() {  # pid -> utime+stime in ms from /proc (fallback when perf cannot count)
    awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)*1000/hz}' "/proc/$1/stat"
}
RUNS=$TMP/runs.jsonl
: >"$RUNS"
measure() {  # proxy waf scenario port round
    local proxy=$1 waf=$2 scenario=$3 port=$4 round=$5
    taskset -c 1 wrk -t1 -c"$CONNS" -d2s -s "$TMP/$scenario.lua" "http://127.0.0.1:$port" >/dev/null 2>&1 || true  # warm-up
    local before after
    before=$(cpuMs "$WORKER_PID")
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/$scenario.lua" "http://127.0.0.1:$port" >"$TMP/wrk.out" 2>&1 || true
    after=$(cpuMs "$WORKER_PID")
    python3 -c '
import json, sys
sys.path.insert(0, sys.argv[1])
from benchlib import parseWrk
w = parseWrk(open(sys.argv[2]).read())
cpu = float(sys.argv[4]) - float(sys.argv[3])
req = w["requests"] or 0
print(json.dumps({"proxy": sys.argv[5], "waf": sys.argv[6], "scenario": sys.argv[7], "round": int(sys.argv[8]),
                  "requests": req, "rps": w["rps"], "p50_ms": w["p50_ms"], "p99_ms": w["p99_ms"],
                  "non_2xx": w["non_2xx"], "errors": sum(w["socket_errors"].values()),
                  "cpu_ms": cpu, "cpu_us_per_req": (cpu * 1000 / req) if req else None}))
' "$HERE" "$TMP/wrk.out" "$before" "$after" "$proxy" "$waf" "$scenario" "$round" >>"$RUNS"
}

for round in $(seq 1 "$ROUNDS"); do
    for waf in on off; do
        for proxy in proxy-service nginx; do
            if [[ $proxy == nginx ]]; then startNginx "$waf"; port=$N_PORT; else startProxy "$waf"; port=$P_PORT; fi
            for scenario in benign attack post; do
                echo "round $round: $proxy waf=$waf $scenario" >&2
                measure "$proxy" "$waf" "$scenario" "$port" "$round"
            done
            stopPid "$MASTER_PID"
            unset "STARTED[$MASTER_PID]"
        done
    done
done

python3 - "$RUNS" "$HERE/results/waf-$STAMP.json" "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
rows = {}
for r in runs:
    rows.setdefault((r["proxy"], r["waf"], r["scenario"]), []).append(r)
summary = []
print(f"{'proxy':14} {'waf':4} {'scenario':8} {'rps':>9} {'cpu us/req':>11} {'p99 ms':>8} {'non-2xx':>8}")
for key in sorted(rows):
    rs = rows[key]
    s = {"proxy": key[0], "waf": key[1], "scenario": key[2], "rps": med([r["rps"] for r in rs]),
         "cpu_us_per_req": med([r["cpu_us_per_req"] for r in rs]), "p99_ms": med([r["p99_ms"] for r in rs]),
         "non_2xx": med([r["non_2xx"] for r in rs]), "rounds": len(rs)}
    summary.append(s)
    print(f"{s['proxy']:14} {s['waf']:4} {s['scenario']:8} {s['rps'] or 0:9.0f} {s['cpu_us_per_req'] or 0:11.1f} {s['p99_ms'] or 0:8.2f} {s['non_2xx'] or 0:8.0f}")
print()
for waf in ("on", "off"):
    for scenario in ("benign", "attack", "post"):
        p = next((s for s in summary if s["proxy"] == "proxy-service" and s["waf"] == waf and s["scenario"] == scenario), None)
        n = next((s for s in summary if s["proxy"] == "nginx" and s["waf"] == waf and s["scenario"] == scenario), None)
        if p and n and p["cpu_us_per_req"] and n["cpu_us_per_req"]:
            print(f"waf={waf} {scenario}: CPU/request proxy-service : nginx = {p['cpu_us_per_req'] / n['cpu_us_per_req']:.2f}, "
                  f"rps ratio = {p['rps'] / n['rps']:.2f}")
json.dump({"loadavg_at_end": sys.argv[3], "runs": runs, "summary": summary}, open(sys.argv[2], "w"), indent=1)
print("results:", sys.argv[2])
EOF
