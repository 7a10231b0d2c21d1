#!/usr/bin/env bash
# Installs what bench/run.sh needs (Debian packages). Idempotent: when every tool is already
# present it makes no apt call at all, so it is cheap to run before every benchmark.
set -euo pipefail

# command -> Debian package that provides it
declare -A needed=(
    [wrk]=wrk
    [nginx]=nginx
    [haproxy]=haproxy
    [perf]=linux-perf
    [taskset]=util-linux
    [python3]=python3
    [valgrind]=valgrind
    [callgrind_control]=valgrind
)

missing=()
for cmd in "${!needed[@]}"; do
    # nginx lives in /usr/sbin, which may not be on a non-root PATH.
    if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd ]]; then
        missing+=("${needed[$cmd]}")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "bench/setup.sh: all tools present"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    SUDO=sudo
else
    SUDO=
fi
echo "bench/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps nginx from pulling extra modules; the Debian nginx and haproxy
# packages start system services on install, which we stop again below because run.sh runs its own
# instances on its own ports and must not compete with them for CPU.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
for svc in nginx haproxy; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        $SUDO systemctl stop "$svc" || true
    fi
done
echo "bench/setup.sh: done"
