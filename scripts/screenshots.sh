#!/usr/bin/env bash
# Renders the console's main screens with real data, for the README: starts two demo origins and
# proxy-service with a copy of examples/demo.json (free ports, its own endpoint and log database
# in a temporary folder, plus a route to a dead server so errors show), sends traffic for a while,
# and runs `proxy-console --screenshots` under Xvfb (offscreen when xvfb-run is missing).
# Usage: scripts/screenshots.sh [BUILD_DIR] [OUT_DIR]   (build/linux-release, docs/screenshots)
# Re-run it whenever the UI changes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/linux-release}
out=${2:-docs/screenshots}
service="$build/service/proxy-service"
console="$build/console/proxy-console"
for exe in "$service" "$console"; do
  [[ -x "$exe" ]] || { echo "screenshots: $exe is missing; build the console and the service first" >&2; exit 2; }
done

work=$(mktemp -d /tmp/proxy-shots.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
web=$(free_port); o1=$(free_port); o2=$(free_port); dead=$(free_port); tls=$(free_port)

# Two certificates for a TLS listener, so the certificates view has something to say: one that
# expires in 12 days (a warning) and one valid for a year.
for cert in "shop.example 12" "api.example 365"; do
  set -- $cert
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$work/$1.key" -out "$work/$1.pem" -days "$2" -subj "/CN=$1/O=Example Shop" \
    -addext "subjectAltName=DNS:$1,DNS:www.$1" 2>/dev/null
done

python3 - "$work" "$web" "$o1" "$o2" "$dead" "$tls" <<'PY'
import json, sys
work, web, o1, o2, dead, tls = sys.argv[1:]
c = json.load(open("examples/demo.json"))
c["control"]["endpoint"] = f"{work}/control.sock"
c["logging"]["database"] = f"{work}/logs.db"
c["listeners"][0]["address"] = f"127.0.0.1:{web}"
c["upstreams"][0]["servers"] = [{"address": f"127.0.0.1:{o1}"}, {"address": f"127.0.0.1:{o2}", "weight": 2}]
c["upstreams"].append({"name": "legacy", "servers": [{"address": f"127.0.0.1:{dead}"}]})
c["routes"].insert(0, {"name": "legacy", "match": {"path_prefix": "/legacy/"}, "upstream": "legacy"})
c["listeners"].append({"name": "secure", "address": f"127.0.0.1:{tls}", "tls": {"certificates": [
    {"cert": f"{work}/{n}.pem", "key": f"{work}/{n}.key"} for n in ("shop.example", "api.example")]}})
json.dump(c, open(f"{work}/config.json", "w"), indent=2)
PY

python3 examples/demo-origin.py "$o1" origin-1 & pids+=($!)
python3 examples/demo-origin.py "$o2" origin-2 & pids+=($!)
"$service" --config "$work/config.json" >"$work/service.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$web/" && break; sleep 0.2; done

# Traffic: mostly successes, some 502s from the dead server, for the whole run.
(
  paths=(/ /api/orders /api/users/42 /img/logo.png /legacy/report /health /api/orders?page=2)
  end=$((SECONDS + 40))
  while ((SECONDS < end)); do
    for p in "${paths[@]}"; do curl -s -o /dev/null "http://127.0.0.1:$web$p" || true; done
    sleep 0.1
  done
) & pids+=($!)

mkdir -p "$out"
run=("$console" --endpoint "$work/control.sock" --screenshots "$out")
if command -v xvfb-run >/dev/null; then
  xvfb-run -a -s "-screen 0 1600x1000x24" "${run[@]}"
else
  QT_QPA_PLATFORM=offscreen "${run[@]}"
fi
echo "screenshots: written to $out"
