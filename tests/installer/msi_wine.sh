#!/usr/bin/env bash
# The MSI under Wine's msiexec, end to end:
#   1. a config provisioned in %ProgramData%\proxy beforehand is kept (NeverOverwrite);
#      msiexec /i /qn exits 0, the service is RUNNING with the MSI's command line, HTTP goes
#      through it, and proxyctl.exe status answers on the default pipe;
#   2. the config is edited live (proxyctl config apply, persisted by the service), then an
#      upgrade to a newer build (another ProductVersion) keeps the edited config, replaces the
#      product and starts the service again with that config;
#   3. msiexec /x /qn stops and removes the service, the program files and the Event Log source,
#      and leaves %ProgramData%\proxy (config and logs) as documented.
source "$(dirname "$0")/../windows/wine_env.sh"
wine_setup

: "${PROXY_MSI_DIR:?}"  # built by build_msis.sh (the ctest fixture)
mkdir -p "$C/msi"
cp "$PROXY_MSI_DIR/plain/proxy-0.1.0-x64.msi" "$PROXY_MSI_DIR/plain/proxy-0.1.1-x64.msi" "$C/msi/"

data=$C/ProgramData/proxy
program=$C/Program\ Files/proxy
msiexec_step() {  # WHAT ARGS...: msiexec with a verbose log; on failure the log's tail is shown
    local what=$1
    shift
    local logfile=$WORK/msiexec-$(date +%s%N).log rc=0
    w 180 msiexec "$@" /qn /l*v "$(winepath -w "$logfile")" >/dev/null 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        log "msiexec failed ($rc): $what"
        iconv -f UTF-16LE -t UTF-8 "$logfile" 2>/dev/null | tr -d '\r' | grep -E 'Return value 3|Error|error' | tail -n 30 >&2 || true
        iconv -f UTF-16LE -t UTF-8 "$logfile" 2>/dev/null | tr -d '\r' | tail -n 40 >&2 || tail -n 40 "$logfile" >&2
        wine_trace_rerun msiexec "$@" /qn
        fail "$what"
    fi
    log "ok: $what (msiexec exit 0)"
}
sc_state() { w 30 sc query proxy 2>/dev/null | tr -d '\r' | awk '/STATE/ { print $4 }'; }
wait_state() {  # STATE SECONDS
    local want=$1 deadline=$((SECONDS + $2)) state=""
    while ((SECONDS < deadline)); do
        state=$(sc_state)
        [[ $state == "$want" ]] && { log "ok: service is $want"; return 0; }
        sleep 0.3
    done
    fail "service did not reach $want (last state: ${state:-none})"
}
ctl() { wstep "proxyctl $*" 60 'C:\Program Files\proxy\proxyctl.exe' "$@"; }
origin_of() { curl -sS --max-time 15 "http://127.0.0.1:$port/$1" | json_field origin; }

start_origin A
a=$ORIGIN_PORT
start_origin B
b=$ORIGIN_PORT
port=$(free_port)

# --- 1. install over a provisioned config -------------------------------------------------------
mkdir -p "$data"
cat >"$data/config.json" <<JSON
{
  "timeouts": { "shutdown_ms": 5000 },
  "listeners": [ { "name": "web", "address": "127.0.0.1:$port" } ],
  "upstreams": [ { "name": "app", "servers": [ { "address": "127.0.0.1:$a" } ] } ],
  "routes": [ { "name": "all", "upstream": "app" } ]
}
JSON
cp "$data/config.json" "$WORK/provisioned.json"

msiexec_step "install 0.1.0" /i 'C:\msi\proxy-0.1.0-x64.msi'
wait_state RUNNING 40
[[ -f $program/proxy-service.exe && -f $program/proxyctl.exe ]] || fail "program files missing"
cmp -s "$data/config.json" "$WORK/provisioned.json" || fail "the install overwrote a provisioned config"
log "ok: the provisioned config was kept (NeverOverwrite)"
[[ -d $data/logs ]] || fail "%ProgramData%\\proxy\\logs was not created"
image=$(w 30 reg query 'HKLM\SYSTEM\CurrentControlSet\Services\proxy' /v ImagePath | tr -d '\r')
# Windows Installer quotes the exe path in ImagePath; Wine's msiexec does not (docs/windows.md).
[[ $image == *'C:\Program Files\proxy\proxy-service.exe'*' --config "C:\ProgramData\proxy\config.json"'* ]] ||
    fail "service command line from ServiceInstall: $image"
log "ok: service command line from ServiceInstall"
account=$(w 30 reg query 'HKLM\SYSTEM\CurrentControlSet\Services\proxy' /v ObjectName | tr -d '\r')
expect_contains "service account" 'NT AUTHORITY\NetworkService' "$account"
source_key=$(w 30 reg query 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\proxy' | tr -d '\r')
expect_contains "Event Log source registered" 'C:\Program Files\proxy\proxy-service.exe' "$source_key"

wait_for_port "$port" 20 || fail "the installed service does not listen on $port"
expect_eq "HTTP through the installed service" A "$(origin_of installed)"
ctl status
expect_contains "proxyctl.exe status answers on the default pipe" "version: 0.1.0" "$STEP_OUT"

# --- 2. edit the config live, then upgrade ------------------------------------------------------
sed "s/127.0.0.1:$a/127.0.0.1:$b/" "$data/config.json" >"$C/edited.json"
ctl config apply 'C:\edited.json' --note "edited before the upgrade"
expect_eq "HTTP after the live edit" B "$(origin_of edited)"
grep -q "127.0.0.1:$b" "$data/config.json" || fail "the service did not persist the edited config"
cp "$data/config.json" "$WORK/edited-persisted.json"

msiexec_step "upgrade to 0.1.1" /i 'C:\msi\proxy-0.1.1-x64.msi'
wait_state RUNNING 40
cmp -s "$data/config.json" "$WORK/edited-persisted.json" || {
    diff "$WORK/edited-persisted.json" "$data/config.json" >&2 || true
    fail "the upgrade changed the edited config"
}
log "ok: the edited config survived the upgrade"
wait_for_port "$port" 20 || fail "the upgraded service does not listen on $port"
expect_eq "HTTP after the upgrade uses the edited config" B "$(origin_of upgraded)"
products=$(w 30 reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s /v DisplayName 2>/dev/null |
    tr -d '\r' | grep -c 'REG_SZ *proxy$' || true)
expect_eq "exactly one proxy product registered after the upgrade" 1 "$products"
versions=$(w 30 reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s /v DisplayVersion 2>/dev/null | tr -d '\r')
expect_contains "the registered version is the new one" "0.1.1" "$versions"
[[ $versions != *"0.1.0"* ]] || fail "0.1.0 is still registered: $versions"

# --- 3. uninstall ---------------------------------------------------------------------------------
msiexec_step "uninstall" /x 'C:\msi\proxy-0.1.1-x64.msi'
if w 30 sc query proxy >/dev/null 2>&1; then fail "the service still exists after uninstall"; fi
log "ok: service removed"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port still open after uninstall"; fi
[[ ! -e $program/proxy-service.exe && ! -e $program/proxyctl.exe ]] || fail "program files left behind"
log "ok: program files removed"
if w 30 reg query 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\proxy' >/dev/null 2>&1; then
    fail "the Event Log source is still registered"
fi
log "ok: Event Log source removed"
cmp -s "$data/config.json" "$WORK/edited-persisted.json" || fail "uninstall changed or removed the config"
[[ -d $data/logs ]] || fail "uninstall removed %ProgramData%\\proxy\\logs"
log "ok: %ProgramData%\\proxy kept (config and logs), as documented"
log "PASS"
