#!/usr/bin/env bash
# ctest fixture: creates the cached Wine prefix template once, before the Wine tests copy it.
TEST_NAME=prepare_prefix
source "$(dirname "$0")/wine_env.sh"
wine_template_prepare
[[ -f $SERVICE_EXE ]] || { echo "missing $SERVICE_EXE: build the mingw-release preset first" >&2; exit 1; }
log "template ready; $(wine --version); testing $SERVICE_EXE"
w 60 "$SERVICE_EXE" --version >&2 || { echo "proxy-service.exe --version failed under Wine" >&2; exit 1; }
