#!/usr/bin/env bash
# TLS benchmark: proxy-service against nginx and HAProxy terminating TLS with the same ECDSA
# P-256 certificate, one worker each, in the layout of bench/run.sh: the proxy alone on CPU 0, the
# load tools and the origin (nginx, one worker, plain HTTP) on CPU 1. Three figures per proxy:
#   full     full handshakes per second    (openssl s_time -new, one connection at a time, GET /)
#   resumed  resumed handshakes per second (openssl s_time -reuse: session tickets)
#   https    keep-alive HTTPS requests/s   (wrk -c50, 1 KiB body)
# and proxy-service's ratio to each of the others. TLS 1.3, the client's default group (X25519).
# usage: bench/tls.sh [--duration S] [--proxy-bin PATH] [--proxies "proxy-service nginx haproxy"]
# Results: a table on stdout and bench/results/<stamp>-tls.json. Nothing here is a test.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
DURATION=10
PROXY_BIN=$ROOT/build/h-bench/service/proxy-service
PROXIES="proxy-service nginx haproxy"
while (($#)); do
    case $1 in
        --duration) DURATION=${2:?}; shift ;;
        --proxy-bin) PROXY_BIN=${2:?}; shift ;;
        --proxies) PROXIES=${2:?}; shift ;;
        *) echo "tls.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$PROXY_BIN" ] || { echo "tls.sh: no proxy-service at $PROXY_BIN (--proxy-bin)" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
freePort() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitPort() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/key.pem" \
    -out "$TMP/cert.pem" -days 2 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/haproxy.pem"
BODY=$(head -c 1024 /dev/zero | tr '\0' x)
ORIGIN=$(freePort)
mkdir -p "$TMP/origin/logs" "$TMP/nginx/logs"
chmod 755 "$TMP"
cat >"$TMP/origin/nginx.conf" <<CONF
worker_processes 1;
pid $TMP/origin/nginx.pid;
error_log $TMP/origin/logs/error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000000;
       server { listen 127.0.0.1:$ORIGIN; location / { default_type text/plain; return 200 "$BODY"; } } }
CONF
taskset -c 1 "$NGINX" -p "$TMP/origin" -c "$TMP/origin/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
PIDS+=($!)
waitPort "$ORIGIN"

declare -A PORT
start() {
    local p=$1 port
    port=$(freePort)
    PORT[$p]=$port
    case $p in
        proxy-service)
            cat >"$TMP/proxy.json" <<CONF
{ "workers": 1, "control": { "endpoint": "$TMP/control.sock" },
  "logging": { "database": "", "access_log_file": "", "level": "warn" },
  "forwarded": { "x_forwarded": false, "via": false },
  "listeners": [ { "name": "tls", "address": "127.0.0.1:$port",
                   "tls": { "certificates": [ { "cert": "$TMP/cert.pem", "key": "$TMP/key.pem" } ] } } ],
  "upstreams": [ { "name": "origin", "servers": [ { "address": "127.0.0.1:$ORIGIN" } ] } ],
  "routes": [ { "name": "all", "upstream": "origin" } ] }
CONF
            taskset -c 0 "$PROXY_BIN" --config "$TMP/proxy.json" >"$TMP/proxy.log" 2>&1 & ;;
        nginx)
            cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 100000000;
       upstream origin { server 127.0.0.1:$ORIGIN; keepalive 64; }
       server { listen 127.0.0.1:$port ssl; ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
                ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
                location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
            taskset -c 0 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 & ;;
        haproxy)
            cat >"$TMP/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend fe
    bind 127.0.0.1:$port ssl crt $TMP/haproxy.pem
    default_backend be
backend be
    server origin 127.0.0.1:$ORIGIN
CONF
            taskset -c 0 "$HAPROXY" -f "$TMP/haproxy.cfg" -db >/dev/null 2>&1 & ;;
    esac
    PIDS+=($!)
    waitPort "$port"
}

# "N connections in T real seconds" -> connections per second
stime() { awk '/connections in .* real seconds/ { printf "%.0f", $1 / $4; found = 1 } END { if (!found) print 0 }'; }
declare -A FULL RESUMED HTTPS
for p in $PROXIES; do
    start "$p"
    port=${PORT[$p]}
    FULL[$p]=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -new -www / -time "$DURATION" 2>/dev/null | stime)
    RESUMED[$p]=$(taskset -c 1 openssl s_time -connect "127.0.0.1:$port" -reuse -www / -time "$DURATION" 2>/dev/null | stime)
    HTTPS[$p]=$(taskset -c 1 wrk -t1 -c50 -d"${DURATION}s" "https://127.0.0.1:$port/" 2>/dev/null |
                awk '/Requests\/sec/ { printf "%.0f", $2 }')
    kill "${PIDS[-1]}" 2>/dev/null || true
done

printf '%-14s %10s %10s %10s\n' proxy full/s resumed/s https-rps
for p in $PROXIES; do printf '%-14s %10s %10s %10s\n' "$p" "${FULL[$p]}" "${RESUMED[$p]}" "${HTTPS[$p]}"; done
for other in nginx haproxy; do
    [[ " $PROXIES " == *" $other "* && " $PROXIES " == *" proxy-service "* ]] || continue
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
    printf 'proxy-service / %-8s %10s %10s %10s\n' "$other" "$(ratio "${FULL[proxy-service]}" "${FULL[$other]}")" \
        "$(ratio "${RESUMED[proxy-service]}" "${RESUMED[$other]}")" "$(ratio "${HTTPS[proxy-service]}" "${HTTPS[$other]}")"
done
mkdir -p "$HERE/results"
out="$HERE/results/$(date -u +%Y%m%d-%H%M%S)-tls.json"
{
    echo "{ \"duration_s\": $DURATION, \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"results\": {"
    first=1
    for p in $PROXIES; do
        [ $first = 1 ] || echo ","
        first=0
        printf '  "%s": { "full_handshakes_per_s": %s, "resumed_handshakes_per_s": %s, "https_rps": %s }' \
            "$p" "${FULL[$p]:-0}" "${RESUMED[$p]:-0}" "${HTTPS[$p]:-0}"
    done
    echo; echo "} }"
} >"$out"
echo "results: $out"
