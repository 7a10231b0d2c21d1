#!/usr/bin/env bash
# ctest fixture: builds the MSIs the installer tests use, once, from the mingw build tree.
#   $PROXY_MSI_DIR/plain/proxy-0.1.0-x64.msi, plain/proxy-0.1.1-x64.msi (the upgrade), and
#   console/proxy-0.1.1-x64.msi (with a stand-in console exe, for the table checks only).
set -euo pipefail
: "${PROXY_WINDOWS_BUILD_DIR:?}" "${PROXY_SOURCE_DIR:?}" "${PROXY_MSI_DIR:?}"
build=$PROXY_SOURCE_DIR/installer/build_msi.sh
rm -rf "$PROXY_MSI_DIR"
started=$SECONDS
"$build" --build-dir "$PROXY_WINDOWS_BUILD_DIR" --version 0.1.0 --out "$PROXY_MSI_DIR/plain" &
"$build" --build-dir "$PROXY_WINDOWS_BUILD_DIR" --version 0.1.1 --out "$PROXY_MSI_DIR/plain" &
"$build" --build-dir "$PROXY_WINDOWS_BUILD_DIR" --version 0.1.1 --out "$PROXY_MSI_DIR/console" \
    --console-exe "$PROXY_WINDOWS_BUILD_DIR/service/proxyctl/proxyctl.exe" &
status=0
for job in $(jobs -p); do wait "$job" || status=1; done
((status == 0)) || { echo "build_msi.sh failed" >&2; exit 1; }
echo "built 3 MSIs in $((SECONDS - started)) s"
