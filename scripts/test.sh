#!/usr/bin/env bash
# The README's test command: from a fresh Debian 12 machine, installs what is needed, builds every
# configuration and runs every ctest suite (unit, integration, console, windows under Wine,
# installer, fuzz smoke runs, and the service/shared suites under ASan+UBSan). Exits non-zero on
# any failure; ctest's summary of the full suite is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
started=$(date +%s)
step() { printf '\n=== %s (%ds)\n' "$1" $(( $(date +%s) - started )); }

step "dependencies"
scripts/deps.sh test

step "Windows cross build (mingw-release)"
cmake --preset mingw-release >/dev/null
cmake --build --preset mingw-release -j "$jobs"

step "ASan+UBSan build (linux-asan)"
cmake --preset linux-asan >/dev/null
cmake --build --preset linux-asan -j "$jobs"

step "libFuzzer build (linux-fuzz)"
cmake --preset linux-fuzz >/dev/null
cmake --build --preset linux-fuzz --target fuzzers -j "$jobs"

step "release build with every suite (linux-release)"
cmake --preset linux-release -DPROXY_WINDOWS_BUILD_DIR="$root/build/mingw-release" >/dev/null
cmake --build --preset linux-release -j "$jobs"

status=0
step "service and shared suites under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --preset linux-asan -L 'unit|integration' -j "$jobs" || status=1

step "fuzz smoke runs"
ctest --test-dir build/linux-fuzz -L fuzz --output-on-failure || status=1

step "every suite (linux-release): unit, integration, console, windows, installer"
ctest --preset linux-release -j 2 || status=1
# Nothing is printed after ctest's summary.
exit $status
