#!/usr/bin/env bash
# Engine benchmark: proxy-service against nginx and HAProxy, one worker each, in the layout of
# /work/shared/PERFORMANCE-ANCHORS.md ("layout D"): every proxy alone on CPU 0, wrk and the origin
# (nginx, one worker) on CPU 1. The figure that matters is the proxy's CPU per request
# (perf stat -e task-clock -p PID): rps saturates on CPU 1 long before a good proxy does.
#
# Scenarios: c50 / c256 (keep-alive, 1 KiB body), close (a connection per request), 1mib (a 1 MiB
# body), gzip20k (a 20 KiB HTML page compressed with gzip level 6 by the proxy: proxy-service's
# compression filter against nginx's "gzip on" at the same level, min length and buffers as
# configured below; HAProxy sits this one out). Compressed sizes are checked and recorded. rr4
# (keep-alive c50, round robin over four origins with pooled connections: proxy-service's
# round_robin upstream against nginx's upstream block with keepalive 64 and HAProxy's balance
# roundrobin; the origins are four listening ports of the origin nginx).
# hit1k / hit100k: cache hits of a 1 KiB and a 100 KiB response (Cache-Control: max-age=3600 from
# the origin): proxy-service's memory cache against nginx's proxy_cache (keys zone + cache files
# in the page cache, as shipped); HAProxy sits these out. Both caches are checked to answer hits
# before anything is measured; c50 (the same 1 KiB, proxied) is the "plain response" reference.
#
# usage: bench/run.sh [--quick] [--rounds N] [--duration S]
#                     [--scenarios "c50 c256 close 1mib gzip20k rr4 hit1k hit100k"]
#                     [--proxies "proxy-service nginx haproxy"] [--proxy-bin PATH]
#   proxies: proxy-service, nginx, haproxy, and proxy-service-log (proxy-service with the SQLite
#              access log on, for the logging-cost figure: --proxies "proxy-service proxy-service-log")
#                     [--idle-connections N] [--no-idle | --idle-only] [--profile] [--nice N]
#                     [--keep-tmp]
#   --quick    1 round of 3 s per scenario (a smoke check, ~1 minute)
#   --profile  after the measured rounds, perf record proxy-service under the c50 load, and count
#              every proxy's system calls per request; writes bench/results/<stamp>-profile.txt
#              (separate runs, not part of the measured figures)
#   --nice N   run the proxies, the origin and wrk at this nice level (e.g. -10, needs root) so
#              that other work on a shared machine disturbs the figures less; recorded in the JSON
#   SYSCALL_CONNS=256 (environment) makes --profile's system-call count use 256 connections;
#   SYSCALL_CLOSE=1 makes it send "Connection: close" (the close scenario's mix);
#   BENCH_CPU=proc forces the /proc/PID/stat CPU fallback that is used when perf is unavailable
# Results: a table on stdout and bench/results/<stamp>.json. Nothing here is a test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
ROUNDS=3
DURATION=10
SCENARIOS="c50 c256 close 1mib gzip20k rr4 hit1k hit100k"
PROXIES="proxy-service nginx haproxy"
PROXY_BIN=$ROOT/build/h-bench/service/proxy-service
IDLE=1
IDLE_CONNS=10000
PROFILE=0
KEEP_TMP=0
NICE=0
PROXY_CPU=0   # the proxy under test
LOAD_CPU=1    # wrk, the origin, perf

die() { echo "run.sh: $*" >&2; exit 1; }
while (($#)); do
    case $1 in
        --quick) ROUNDS=1; DURATION=3 ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --scenarios) SCENARIOS=${2?}; shift ;;
        --idle-only) SCENARIOS=""; PROXIES="proxy-service"; IDLE=1 ;;
        --proxies) PROXIES=${2:?}; shift ;;
        --proxy-bin) PROXY_BIN=${2:?}; shift ;;
        --idle-connections) IDLE_CONNS=${2:?}; shift ;;
        --no-idle) IDLE=0 ;;
        --profile) PROFILE=1 ;;
        --nice) NICE=${2:?}; shift ;;
        --keep-tmp) KEEP_TMP=1 ;;
        -h|--help) sed -n '2,/^# Results/p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
    shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ && $DURATION -le 60 ]] || die "--duration must be 1..60 seconds"
for s in $SCENARIOS; do
    [[ $s =~ ^(c50|c256|close|1mib|gzip20k|rr4|hit1k|hit100k)$ ]] ||
        die "unknown scenario '$s' (c50 c256 close 1mib gzip20k rr4 hit1k hit100k)"
done
for p in $PROXIES; do
    [[ $p =~ ^(proxy-service|proxy-service-log|nginx|haproxy)$ ]] || die "unknown proxy '$p'"
done
[[ $NICE =~ ^-?[0-9]+$ && $NICE -ge -20 && $NICE -le 19 ]] || die "--nice must be -20..19"
PRIO=()
AUTOGROUP_OLD=""
if ((NICE != 0)); then
    PRIO=(nice -n "$NICE")
fi

"$HERE/setup.sh" >/dev/null
[[ -x $PROXY_BIN ]] || die "no proxy-service at $PROXY_BIN; build it with:
  cmake -S $ROOT -B $ROOT/build/h-bench -G Ninja -DCMAKE_BUILD_TYPE=Release \\
        -DPROXY_BUILD_TESTS=OFF -DPROXY_BUILD_CONSOLE=OFF
  cmake --build $ROOT/build/h-bench --target proxy-service -j2"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
(( $(nproc) >= 2 )) || die "needs at least 2 CPUs (proxy on CPU $PROXY_CPU, load on CPU $LOAD_CPU)"

# 10k idle connections need file descriptors on both ends; children inherit this limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= IDLE_CONNS + 512 )) || {
    echo "run.sh: ulimit -n is $(ulimit -n); idle test lowered to $(( $(ulimit -n) - 512 ))" >&2
    IDLE_CONNS=$(( $(ulimit -n) - 512 ))
}

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$HERE/results
mkdir -p "$RESULTS"
TMP=$(mktemp -d /tmp/proxy-bench.XXXXXX)
RUNS=$TMP/runs.jsonl
: >"$RUNS"

# ---- process bookkeeping: everything we start is recorded by PID and stopped in cleanup ------
declare -A STARTED=()   # pid -> label
track() { STARTED[$1]=$2; }
forget() { unset "STARTED[$1]"; }
stopPid() {  # TERM, then KILL after a bound; only PIDs this script started
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    # Children before parents doesn't matter for correctness: nginx masters stop their workers,
    # and the worker PIDs are tracked too in case a master is gone first.
    for pid in "${!STARTED[@]}"; do stopPid "$pid"; done
    [[ -z $AUTOGROUP_OLD ]] || echo "$AUTOGROUP_OLD" >"/proc/$$/autogroup" 2>/dev/null || true
    if ((KEEP_TMP)); then echo "run.sh: temp files kept in $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM
if ((NICE != 0)); then
    # With sched_autogroup on, nice only ranks processes inside one session's group; the group's
    # own nice ranks it against other sessions (other engineers' compiles). cleanup() restores it.
    if [[ -w /proc/$$/autogroup && $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null) == 1 ]]; then
        AUTOGROUP_OLD=$(sed -E 's/.* nice (-?[0-9]+).*/\1/' "/proc/$$/autogroup")
        echo "$NICE" >"/proc/$$/autogroup" || AUTOGROUP_OLD=""
    fi
fi

waitPort() {  # port, pid, label: wait until it accepts, up to 10 s, while pid lives
    local port=$1 pid=$2 label=$3 i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || die "$label exited during start-up; log: $(tail -n 5 "$TMP/$label.log" 2>/dev/null)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "$label does not accept on port $port after 10 s"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }

childPid() {  # the first child of an nginx master: its worker, which forks just after listening
    local i c
    for i in $(seq 1 50); do
        c=$(pgrep -P "$1" | head -n 1 || true)
        [[ -n $c ]] && { echo "$c"; return 0; }
        sleep 0.1
    done
    return 1
}

read -r ORIGIN_PORT P_PORT N_PORT H_PORT IDLE_PORT L_PORT O2_PORT O3_PORT O4_PORT < <(python3 "$HERE/benchlib.py" free-ports 9)
# rr4: four origins (four listening ports of the origin nginx; each a server of its own upstream).
RR4_PORTS=("$ORIGIN_PORT" "$O2_PORT" "$O3_PORT" "$O4_PORT")

# ---- the origin: nginx, one worker, CPU 1 -------------------------------------------------------
mkdir -p "$TMP/origin/www" "$TMP/origin/logs"
BODY_1K=$(head -c 1024 /dev/zero | tr '\0' 'x')
head -c $((1024 * 1024)) /dev/zero | tr '\0' 'y' >"$TMP/origin/www/big.bin"
# gzip20k: 20 KiB of HTML that compresses like a real page (about 6:1), the same bytes every run.
mkdir -p "$TMP/origin/www/gz"
python3 "$HERE/benchlib.py" html-page --bytes 20480 --out "$TMP/origin/www/gz/page.html"
chmod 755 "$TMP/origin/www/gz"
chmod 644 "$TMP/origin/www/gz/page.html"
# hit1k / hit100k: what the caches store (the origin says max-age=3600).
mkdir -p "$TMP/origin/www/cached"
head -c $((100 * 1024)) /dev/zero | tr '\0' 'c' >"$TMP/origin/www/cached/100k.bin"
chmod 755 "$TMP/origin/www/cached"
chmod 644 "$TMP/origin/www/cached/100k.bin"
# nginx started as root serves files as its unprivileged worker user: let it read the docroot.
chmod 755 "$TMP" "$TMP/origin" "$TMP/origin/www"
chmod 644 "$TMP/origin/www/big.bin"
cat >"$TMP/origin/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $TMP/origin/nginx.pid;
error_log $TMP/origin/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/origin/tmp_body;
    proxy_temp_path $TMP/origin/tmp_proxy;
    fastcgi_temp_path $TMP/origin/tmp_fcgi;
    uwsgi_temp_path $TMP/origin/tmp_uwsgi;
    scgi_temp_path $TMP/origin/tmp_scgi;
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        listen 127.0.0.1:$O2_PORT backlog=4096;
        listen 127.0.0.1:$O3_PORT backlog=4096;
        listen 127.0.0.1:$O4_PORT backlog=4096;
        location = /big.bin { root $TMP/origin/www; default_type application/octet-stream; }
        location = /gz/page.html { root $TMP/origin/www; default_type text/html; }
        location = /cached/100k.bin {
            root $TMP/origin/www; default_type application/octet-stream;
            add_header Cache-Control "max-age=3600";
        }
        location = /cached/1k { default_type text/plain; add_header Cache-Control "max-age=3600"; return 200 "$BODY_1K"; }
        location / { default_type text/plain; add_header X-Origin-Port \$server_port; return 200 "$BODY_1K"; }
    }
}
EOF
"${PRIO[@]}" taskset -c $LOAD_CPU "$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" -g 'daemon off;' \
    >"$TMP/origin.log" 2>&1 &
ORIGIN_PID=$!
track $ORIGIN_PID origin
waitPort "$ORIGIN_PORT" $ORIGIN_PID origin
ORIGIN_WORKER=$(childPid $ORIGIN_PID) || die "the origin nginx has no worker process"
track "$ORIGIN_WORKER" origin-worker

# ---- the three proxies, one worker each, CPU 0 ---------------------------------------------------
writeProxyServiceConfig() {  # port file [log]
    local logging='"database": "", "access_log_file": ""'
    # "log": the SQLite access log as shipped (WAL, writer thread, default queue and retention).
    [[ ${3:-} == log ]] && logging='"database": "'"$TMP/access-$1.db"'", "access_log_file": ""'
    cat >"$2" <<EOF
{
  "workers": 1,
  "control": { "endpoint": "$TMP/control-$1.sock" },
  "logging": { $logging, "level": "warn" },
  "timeouts": { "shutdown_ms": 2000 },
  "forwarded": { "x_forwarded": false, "via": false },
  "cache": { "memory_mb": 64 },
  "listeners": [ { "name": "bench", "address": "127.0.0.1:$1" } ],
  "upstreams": [ { "name": "origin", "servers": [ { "address": "127.0.0.1:$ORIGIN_PORT" } ],
                   "keepalive": { "max_idle": 64 } },
                 { "name": "four", "balance": "round_robin",
                   "servers": [ { "address": "127.0.0.1:${RR4_PORTS[0]}" }, { "address": "127.0.0.1:${RR4_PORTS[1]}" },
                                { "address": "127.0.0.1:${RR4_PORTS[2]}" }, { "address": "127.0.0.1:${RR4_PORTS[3]}" } ],
                   "keepalive": { "max_idle": 64 } } ],
  "routes": [ { "name": "rr4", "match": { "path_prefix": "/rr4/" }, "upstream": "four" },
              { "name": "gz", "match": { "path_prefix": "/gz/" }, "upstream": "origin",
                "compression": { "enabled": true, "level": 6, "min_size": 1024,
                                 "formats": ["gzip"] } },
              { "name": "cached", "match": { "path_prefix": "/cached/" }, "upstream": "origin",
                "cache": { "enabled": true } },
              { "name": "all", "upstream": "origin" } ]
}
EOF
}
declare -A PORT=([proxy-service]=$P_PORT [proxy-service-log]=$L_PORT [nginx]=$N_PORT [haproxy]=$H_PORT)
declare -A CPU_PID=()  # the process whose CPU we count (nginx: its worker, not the master)
declare -A MAIN_PID=()

startProxyService() {  # label port config
    "${PRIO[@]}" taskset -c $PROXY_CPU "$PROXY_BIN" --config "$3" >>"$TMP/$1.log" 2>&1 &
    local pid=$!
    track $pid "$1"
    waitPort "$2" $pid "$1"
    MAIN_PID[$1]=$pid
    CPU_PID[$1]=$pid
}

startNginxProxy() {
    mkdir -p "$TMP/nginx/logs"
    cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path $TMP/nginx/tmp_body;
    proxy_temp_path $TMP/nginx/tmp_proxy;
    fastcgi_temp_path $TMP/nginx/tmp_fcgi;
    uwsgi_temp_path $TMP/nginx/tmp_uwsgi;
    scgi_temp_path $TMP/nginx/tmp_scgi;
    # hit1k / hit100k: nginx's own cache, as documented (keys in shared memory, bodies in files
    # that stay in the page cache).
    proxy_cache_path $TMP/nginx/cache levels=1:2 keys_zone=bench:16m max_size=256m inactive=1h
                     use_temp_path=off;
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
        keepalive_requests 100000000;
    }
    upstream four {
        server 127.0.0.1:${RR4_PORTS[0]};
        server 127.0.0.1:${RR4_PORTS[1]};
        server 127.0.0.1:${RR4_PORTS[2]};
        server 127.0.0.1:${RR4_PORTS[3]};
        keepalive 64;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$N_PORT backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Stream large bodies instead of spilling them to a temp file, like the others do.
            proxy_max_temp_file_size 0;
        }
        location /rr4/ {
            proxy_pass http://four;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }
        location /cached/ {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_lock on;
            add_header X-Cache-Status \$upstream_cache_status;
        }
        # gzip20k: the same compression as proxy-service's "gz" route (level 6, min 1024 bytes).
        location /gz/ {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
            gzip on;
            gzip_comp_level 6;
            gzip_min_length 1024;
            gzip_types text/html;
            gzip_proxied any;
            gzip_vary on;
        }
    }
}
EOF
    "${PRIO[@]}" taskset -c $PROXY_CPU "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' \
        >"$TMP/nginx.log" 2>&1 &
    local pid=$! worker
    track $pid nginx
    waitPort "$N_PORT" $pid nginx
    worker=$(childPid $pid) || die "the nginx proxy has no worker process"
    track "$worker" nginx-worker
    MAIN_PID[nginx]=$pid
    CPU_PID[nginx]=$worker
}

startHaproxy() {
    cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    http-reuse always
frontend fe
    bind 127.0.0.1:$H_PORT
    use_backend four if { path_beg /rr4/ }
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN_PORT
backend four
    balance roundrobin
    server o1 127.0.0.1:${RR4_PORTS[0]}
    server o2 127.0.0.1:${RR4_PORTS[1]}
    server o3 127.0.0.1:${RR4_PORTS[2]}
    server o4 127.0.0.1:${RR4_PORTS[3]}
EOF
    "$HAPROXY" -c -q -f "$TMP/haproxy.cfg" || die "haproxy rejects its config"
    "${PRIO[@]}" taskset -c $PROXY_CPU "$HAPROXY" -f "$TMP/haproxy.cfg" -db >"$TMP/haproxy.log" 2>&1 &
    local pid=$!
    track $pid haproxy
    waitPort "$H_PORT" $pid haproxy
    MAIN_PID[haproxy]=$pid
    CPU_PID[haproxy]=$pid
}

writeProxyServiceConfig "$P_PORT" "$TMP/proxy-service.json"
"$PROXY_BIN" --check "$TMP/proxy-service.json" >/dev/null || die "proxy-service rejects the bench config"
writeProxyServiceConfig "$L_PORT" "$TMP/proxy-service-log.json" log
for p in $PROXIES; do
    case $p in
        proxy-service) startProxyService proxy-service "$P_PORT" "$TMP/proxy-service.json" ;;
        proxy-service-log) startProxyService proxy-service-log "$L_PORT" "$TMP/proxy-service-log.json" ;;
        nginx) startNginxProxy ;;
        haproxy) startHaproxy ;;
    esac
done

# Sanity: every proxy returns the origin's bodies intact before anything is measured.
for p in $PROXIES; do
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${PORT[$p]}/")
    [[ $got == "200 1024" ]] || die "$p: GET / gave '$got', expected '200 1024'"
    got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:${PORT[$p]}/big.bin")
    [[ $got == "200 1048576" ]] || die "$p: GET /big.bin gave '$got', expected '200 1048576'"
    if [[ " $SCENARIOS " == *" rr4 "* ]]; then  # round robin reaches all four origins
        seen=$(for i in 1 2 3 4 5 6 7 8; do
                   curl -s -D - -o /dev/null "http://127.0.0.1:${PORT[$p]}/rr4/"
               done | tr -d '\r' | awk -F': ' 'tolower($1) == "x-origin-port" { print $2 }' | sort -u | wc -l)
        [[ $seen == 4 ]] || die "$p: 8 GETs of /rr4/ reached $seen origin(s), expected 4"
    fi
done
# gzip20k: each compressing proxy sends gzip that inflates to the page; the sizes go in the JSON.
GZIP_SIZES=""
if [[ " $SCENARIOS " == *" gzip20k "* ]]; then
    for p in $PROXIES; do
        [[ $p == haproxy ]] && continue
        curl -s -H 'Accept-Encoding: gzip' -D "$TMP/gz-$p.head" -o "$TMP/gz-$p.body" \
            "http://127.0.0.1:${PORT[$p]}/gz/page.html" || die "$p: GET /gz/page.html failed"
        grep -qi '^content-encoding: *gzip' "$TMP/gz-$p.head" || die "$p: /gz/page.html is not gzip"
        gunzip -c "$TMP/gz-$p.body" | cmp -s - "$TMP/origin/www/gz/page.html" ||
            die "$p: /gz/page.html does not inflate to the page"
        GZIP_SIZES+="${GZIP_SIZES:+ }$p=$(stat -c %s "$TMP/gz-$p.body")"
    done
    echo "run.sh: gzip20k: page $(stat -c %s "$TMP/origin/www/gz/page.html") bytes; compressed: $GZIP_SIZES"
fi

# hit1k / hit100k: the second GET of each object must be a hit in every caching proxy.
if [[ " $SCENARIOS " == *" hit1k "* || " $SCENARIOS " == *" hit100k "* ]]; then
    for p in $PROXIES; do
        [[ $p == haproxy ]] && continue
        for obj in 1k:1024 100k.bin:102400; do
            url="http://127.0.0.1:${PORT[$p]}/cached/${obj%%:*}"
            curl -s -o /dev/null "$url" || die "$p: GET $url failed"
            got=$(curl -s -D "$TMP/hit-$p.head" -o /dev/null -w '%{http_code} %{size_download}' "$url")
            [[ $got == "200 ${obj##*:}" ]] || die "$p: GET $url gave '$got'"
            grep -qiE '^(cache-status: proxy; hit|x-cache-status: HIT)' "$TMP/hit-$p.head" ||
                die "$p: the second GET $url was not a cache hit: $(tr -d '\r' <"$TMP/hit-$p.head")"
        done
    done
fi

# ---- CPU accounting ----------------------------------------------------------------------------
CPU_METHOD=perf
if [[ ${BENCH_CPU:-} == proc ]]; then
    CPU_METHOD=proc  # to exercise the fallback on a machine that has perf
    echo "run.sh: BENCH_CPU=proc: CPU from /proc/PID/stat utime+stime (10 ms resolution)" >&2
elif ! perf stat -e task-clock -x, -o /dev/null -p "${CPU_PID[${PROXIES%% *}]}" \
        -- sleep 0.2 >/dev/null 2>&1; then
    CPU_METHOD=proc
    echo "run.sh: perf stat is unavailable here; falling back to /proc/PID/stat utime+stime" \
         "(10 ms resolution)" >&2
fi
procTicks() { sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

# ---- one measured run ---------------------------------------------------------------------------
declare -A CRASHES=()
runOne() {  # scenario proxy round
    local scenario=$1 proxy=$2 round=$3 conns=50 path=/ pid=${CPU_PID[$2]}
    local -a extra=()
    case $scenario in
        c256) conns=256 ;;
        close) extra=(-H "Connection: close") ;;
        1mib) path=/big.bin ;;
        gzip20k) path=/gz/page.html; extra=(-H "Accept-Encoding: gzip") ;;
        rr4) path=/rr4/ ;;
        hit1k) path=/cached/1k ;;
        hit100k) path=/cached/100k.bin ;;
    esac
    local tag="$scenario-$proxy-$round" perfPid="" cpuFile="$TMP/cpu-$scenario-$proxy-$round"
    local la
    la=$(loadavg)
    if [[ $CPU_METHOD == perf ]]; then
        taskset -c $LOAD_CPU perf stat -e task-clock -x, -o "$cpuFile" -p "$pid" >/dev/null 2>&1 &
        perfPid=$!
        track $perfPid perf
        sleep 0.3  # let perf attach before the load starts; an idle proxy costs ~nothing
    else
        procTicks "$pid" >"$cpuFile"
    fi
    "${PRIO[@]}" taskset -c $LOAD_CPU timeout $((DURATION + 30)) wrk -t1 -c$conns -d${DURATION}s --latency \
        --timeout 5s "${extra[@]}" "http://127.0.0.1:${PORT[$proxy]}$path" \
        >"$TMP/wrk-$tag.txt" 2>&1 || echo "run.sh: wrk failed for $tag" >&2
    if [[ -n $perfPid ]]; then
        kill -INT "$perfPid" 2>/dev/null || true
        wait "$perfPid" 2>/dev/null || true
        forget "$perfPid"
    else
        procTicks "$pid" >>"$cpuFile" 2>/dev/null || echo 0 >>"$cpuFile"
    fi
    local alive=1
    kill -0 "${MAIN_PID[$proxy]}" 2>/dev/null || alive=0
    python3 "$HERE/benchlib.py" record --out "$RUNS" --wrk-out "$TMP/wrk-$tag.txt" \
        --cpu-file "$cpuFile" --cpu-method $CPU_METHOD --scenario "$scenario" --proxy "$proxy" \
        --round "$round" --duration "$DURATION" --alive $alive --loadavg "$la"
    if ((!alive)); then
        CRASHES[$tag]=1
        echo "run.sh: $proxy DIED during $tag; last log lines:" >&2
        tail -n 20 "$TMP/$proxy.log" >&2 || true
        cp "$TMP/$proxy.log" "$RESULTS/$STAMP-$proxy-crash.log" 2>/dev/null || true
        cp "$TMP/wrk-$tag.txt" "$RESULTS/$STAMP-$tag-wrk.txt" 2>/dev/null || true
        forget "${MAIN_PID[$proxy]}"
        case $proxy in  # restart so the remaining runs still happen
            proxy-service) startProxyService proxy-service "$P_PORT" "$TMP/proxy-service.json" ;;
            proxy-service-log)
                startProxyService proxy-service-log "$L_PORT" "$TMP/proxy-service-log.json" ;;
            nginx) startNginxProxy ;;
            haproxy) startHaproxy ;;
        esac
    fi
    sleep 0.5
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
echo "run.sh: $ROUNDS round(s) x {$SCENARIOS} x {$PROXIES}, ${DURATION}s each; CPU via $CPU_METHOD;" \
     "load average $LOAD_START"

# Warm-up, not recorded: pools filled, pages touched, caches warm.
for p in $PROXIES; do
    "${PRIO[@]}" taskset -c $LOAD_CPU timeout 20 wrk -t1 -c50 -d2s "http://127.0.0.1:${PORT[$p]}/" >/dev/null 2>&1 || true
done

read -r -a PROXY_LIST <<<"$PROXIES"
NP=${#PROXY_LIST[@]}
for ((r = 1; r <= ROUNDS; r++)); do
    echo "  round $r/$ROUNDS (load average $(loadavg))"
    for s in $SCENARIOS; do
        # Rotate the order each round so no proxy always runs right after the same neighbour.
        for ((i = 0; i < NP; i++)); do
            p=${PROXY_LIST[$(((i + r - 1) % NP))]}
            [[ ($s == gzip20k || $s == hit1k || $s == hit100k) && $p == haproxy ]] &&
                continue  # compared with nginx only
            runOne "$s" "$p" "$r"
        done
    done
done

# ---- idle connections: a fresh proxy-service, N keep-alive connections after one request each ----
IDLE_JSON=""
if ((IDLE)) && [[ " $PROXIES " == *" proxy-service "* ]]; then
    echo "  idle connections: $IDLE_CONNS to a fresh proxy-service"
    writeProxyServiceConfig "$IDLE_PORT" "$TMP/proxy-service-idle.json"
    startProxyService proxy-service-idle "$IDLE_PORT" "$TMP/proxy-service-idle.json"
    for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$IDLE_PORT/" || true; done
    sleep 1
    IDLE_JSON=$TMP/idle.json
    taskset -c $LOAD_CPU timeout 180 python3 "$HERE/benchlib.py" idle --port "$IDLE_PORT" \
        --pid "${MAIN_PID[proxy-service-idle]}" --connections "$IDLE_CONNS" --out "$IDLE_JSON" \
        >/dev/null || echo "run.sh: the idle-connection test failed (see the summary)" >&2
    kill -0 "${MAIN_PID[proxy-service-idle]}" 2>/dev/null ||
        echo "run.sh: proxy-service DIED during the idle-connection test" >&2
    stopPid "${MAIN_PID[proxy-service-idle]}"
    forget "${MAIN_PID[proxy-service-idle]}"
fi

# ---- optional profile of proxy-service under the c50 load (after, so it doesn't skew figures) ----
if ((PROFILE)) && [[ -n ${CPU_PID[proxy-service]:-} ]]; then
    echo "  profiling proxy-service under c50 for ${DURATION}s"
    PROF=$RESULTS/$STAMP-profile.txt
    taskset -c $LOAD_CPU perf record -F 997 --call-graph dwarf,16384 -o "$TMP/perf.data" \
        -p "${CPU_PID[proxy-service]}" >/dev/null 2>"$TMP/perf-record.log" &
    recPid=$!
    track $recPid perf-record
    sleep 0.5
    "${PRIO[@]}" taskset -c $LOAD_CPU timeout $((DURATION + 30)) wrk -t1 -c50 -d${DURATION}s \
        "http://127.0.0.1:$P_PORT/" >"$TMP/wrk-profile.txt" 2>&1 || true
    kill -INT $recPid 2>/dev/null || true
    wait $recPid 2>/dev/null || true
    forget $recPid
    {
        echo "# perf record of proxy-service (1 worker, CPU $PROXY_CPU) under wrk -t1 -c50, $STAMP"
        grep -E 'Requests/sec' "$TMP/wrk-profile.txt" || true
        echo
        echo "## Summary (bench/benchlib.py profile-summary over perf script)"
        perf script -i "$TMP/perf.data" -F comm,tid,time,event,ip,sym,dso 2>/dev/null |
            python3 "$HERE/benchlib.py" profile-summary --binary "$(basename "$PROXY_BIN")" || true
        echo
        echo "## Share by DSO (kernel vs user space)"
        perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^$'
        echo
        echo "## Self time by symbol, all DSOs"
        perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio -g none \
            --percent-limit 0.3 2>/dev/null | grep -v '^$'
        echo
        echo "## User space only (percent of user-space samples: --percentage relative)"
        perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio -g none \
            --percentage relative --dsos "$(basename "$PROXY_BIN"),libc.so.6,libstdc++.so.6,libm.so.6" \
            --percent-limit 0.5 2>/dev/null | grep -v '^$'
        echo
    } | sed 's/[[:space:]]*$//' >"$PROF"
    # System calls per request for every proxy (tracepoints: separate runs, since counting them
    # costs a little on each call and would skew the CPU figures above).
    SC_SECONDS=$((DURATION < 5 ? DURATION : 5))
    SC_CONNS=${SYSCALL_CONNS:-50}  # environment knob: SYSCALL_CONNS=256 for the c256 mix
    SC_HEADER=()
    SC_MIX=""
    if [ "${SYSCALL_CLOSE:-0}" = 1 ]; then SC_HEADER=(-H "Connection: close"); SC_MIX=", Connection: close"; fi
    SC_EVENTS=""
    for sc in recvfrom sendto recvmsg sendmsg read write readv writev epoll_wait epoll_ctl \
              accept accept4 close connect shutdown setsockopt getsockopt ioctl socket getsockname; do
        SC_EVENTS+="${SC_EVENTS:+,}syscalls:sys_enter_$sc"
    done
    {
        echo
        echo "## System calls per request, $SC_CONNS connections$SC_MIX (${SC_SECONDS}s each)"
        echo "| proxy | requests | syscalls/req | by call |"
        echo "|---|---:|---:|---|"
    } >>"$PROF"
    for p in $PROXIES; do
        taskset -c $LOAD_CPU perf stat -e "$SC_EVENTS" -x, -o "$TMP/sc-$p.txt" -p "${CPU_PID[$p]}" \
            >/dev/null 2>&1 &
        scPid=$!
        track $scPid perf-syscalls
        sleep 0.3
        "${PRIO[@]}" taskset -c $LOAD_CPU timeout $((SC_SECONDS + 30)) wrk -t1 -c$SC_CONNS -d${SC_SECONDS}s \
            "${SC_HEADER[@]}" "http://127.0.0.1:${PORT[$p]}/" >"$TMP/wrk-sc-$p.txt" 2>&1 || true
        kill -INT $scPid 2>/dev/null || true
        wait $scPid 2>/dev/null || true
        forget $scPid
        python3 "$HERE/benchlib.py" syscalls --wrk-out "$TMP/wrk-sc-$p.txt" --perf "$TMP/sc-$p.txt" \
            --proxy "$p" >>"$PROF" || true
    done
    echo "  profile: $PROF"
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
META=$(python3 - "$ROUNDS" "$DURATION" "$CPU_METHOD" "$LOAD_START" "$LOAD_END" "$PROXY_BIN" \
    "$ROOT" "$IDLE_CONNS" "$NICE" "$GZIP_SIZES" <<'EOF'
import json, subprocess, sys, platform, datetime, os
rounds, duration, method, la0, la1, binp, root, idle, nice, gzipSizes = sys.argv[1:]
def out(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        lines = (r.stdout + r.stderr).strip().splitlines()
        return lines[0] if lines else ""
    except Exception as e:
        return "unknown (%s)" % e
cpu = "unknown"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
print(json.dumps({
    "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "rounds": int(rounds), "duration_s": int(duration), "cpu_method": method,
    "loadavg_start": la0, "loadavg_end": la1, "idle_connections": int(idle), "nice": int(nice),
    "layout": "proxy alone on CPU 0; wrk -t1 and the nginx origin (1 worker) on CPU 1",
    "proxy_service": binp,
    "proxy_service_built": datetime.datetime.fromtimestamp(
        os.path.getmtime(binp), datetime.timezone.utc).isoformat(timespec="seconds"),
    "git_commit": out(["git", "-C", root, "rev-parse", "--short", "HEAD"]),
    "git_dirty_service": bool(out(["git", "-C", root, "status", "--porcelain", "--", "service",
                                   "shared"]).strip()),
    "nginx": out(["nginx", "-v"]), "haproxy": out(["haproxy", "-v"]),
    "wrk": out(["wrk", "-v"]), "kernel": platform.release(), "cpu": cpu, "nproc": os.cpu_count(),
    "gzip20k_compressed_bytes": {k: int(v) for k, v in
                                 (item.split("=") for item in gzipSizes.split())},
}))
EOF
)
python3 "$HERE/benchlib.py" report --runs "$RUNS" --json "$RESULTS/$STAMP.json" --meta "$META" \
    ${IDLE_JSON:+--idle "$IDLE_JSON"}
if ((${#CRASHES[@]})); then
    echo "run.sh: CRASHES: ${!CRASHES[*]} (logs in $RESULTS/$STAMP-*-crash.log)" >&2
    exit 3
fi
