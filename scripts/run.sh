#!/usr/bin/env bash
# The README's run command: from a fresh Debian 12 machine, installs what is needed, builds, starts
# two demo origins and runs proxy-service in the foreground with examples/demo.json.
# Ctrl+C stops the service (gracefully) and the demo origins.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh run
cmake --preset linux-release -DPROXY_BUILD_TESTS=OFF -DPROXY_BUILD_CONSOLE=ON >/dev/null
cmake --build --preset linux-release --target proxy-service proxyctl proxy-console -j "$(nproc)"

bin=build/linux-release/service
proxyctl=$bin/proxyctl/proxyctl
console=build/linux-release/console/proxy-console
mkdir -p /tmp/proxy-demo
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
python3 examples/demo-origin.py 9001 origin-1 & pids+=($!)
python3 examples/demo-origin.py 9002 origin-2 & pids+=($!)

"$bin/proxy-service" --check examples/demo.json
cat <<TEXT

proxy-service is starting on http://127.0.0.1:8080 with two demo origins (ports 9001, 9002).
Try, in another terminal:
  curl -s http://127.0.0.1:8080/hello          # run it twice: origin-1, then origin-2
  curl -si http://127.0.0.1:8080/ | head -20   # X-Request-Id and Via headers
  $proxyctl --endpoint /tmp/proxy-demo/control.sock status
  $bin/proxy-service --check examples/demo.json
The admin console (a desktop session is needed; it is not started here):
  $console --endpoint /tmp/proxy-demo/control.sock &
Edit examples/demo.json and send SIGHUP (kill -HUP <pid>) to reload it live. Ctrl+C stops.

TEXT
"$bin/proxy-service" --config examples/demo.json
