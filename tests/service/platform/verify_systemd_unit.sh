#!/usr/bin/env bash
# Runs `systemd-analyze verify` on service/platform/linux/proxy.service with /usr/local/bin/
# proxy-service replaced by the freshly built binary; fails on any complaint about the unit.
set -euo pipefail
analyze=$1 unit=$2 exe=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s#/usr/local/bin/proxy-service#${exe}#g" "$unit" > "$work/proxy.service"
out=$("$analyze" verify "$work/proxy.service" 2>&1) || { echo "$out"; exit 1; }
# verify exits 0 on some warnings (unknown directives, bad values): treat any output as failure,
# except complaints about the system's own units.
problems=$(printf '%s\n' "$out" | grep -v '^$' | grep 'proxy.service' || true)
if [[ -n "$problems" ]]; then
  echo "$problems"
  exit 1
fi
grep -q '^Type=notify$' "$work/proxy.service"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$work/proxy.service"
echo "proxy.service verified"
