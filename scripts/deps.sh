#!/usr/bin/env bash
# Installs the Debian packages the project needs, idempotently: apt runs only when something is
# missing. Usage: scripts/deps.sh [run|test]   (run: enough to build and run the service;
# test: everything the README's test command needs, including mingw-w64, Wine and wixl).
set -euo pipefail

profile="${1:-test}"

run_packages=(
  cmake ninja-build g++ pkg-config python3 curl
  libasio-dev nlohmann-json3-dev libssl-dev zlib1g-dev libsqlite3-dev
  qt6-base-dev qt6-charts-dev
  libqt6opengl6-dev                              # Qt6Charts' CMake package requires Qt6OpenGL; not a Debian dependency
  libmodsecurity-dev modsecurity-crs             # the WAF (ModSecurity v3, OWASP CRS)
  libmimalloc-dev                                # proxy-service's allocator on Linux
)
test_packages=(
  "${run_packages[@]}"
  clang libclang-rt-14-dev                       # libFuzzer targets
  mingw-w64 g++-mingw-w64-x86-64-posix libz-mingw-w64-dev   # the Windows cross build
  wine wine64 wixl msitools                      # running it, and the MSI
  openssl testssl.sh procps psmisc xvfb xauth
  libnginx-mod-http-modsecurity                  # bench/: the WAF comparison against nginx
)

case "$profile" in
  run) wanted=("${run_packages[@]}") ;;
  test) wanted=("${test_packages[@]}") ;;
  *) echo "usage: $0 [run|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#wanted[@]} packages present"
  exit 0
fi

echo "deps: installing ${#missing[@]} package(s): ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
