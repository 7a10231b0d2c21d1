#!/usr/bin/env bash
# Checks the tables of the MSIs built by installer/build_msi.sh (0.1.0, and 0.1.1 with a stand-in
# console exe) with msiinfo: files, the service and how it is controlled, the Event Log
# source, the never-overwritten permanent config, the major upgrade and its scheduling, the
# custom actions standing in for util: extensions, and the conditional Start-menu shortcut.
set -euo pipefail
: "${PROXY_WINDOWS_BUILD_DIR:?}" "${PROXY_SOURCE_DIR:?}"
: "${PROXY_MSI_DIR:?}"  # built by build_msis.sh (the ctest fixture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

a=$PROXY_MSI_DIR/plain/proxy-0.1.0-x64.msi
b=$PROXY_MSI_DIR/console/proxy-0.1.1-x64.msi  # with a stand-in console exe
[[ -f $a && -f $b ]] || fail "missing MSIs in $PROXY_MSI_DIR (run the installer_msi_build fixture)"

# table MSI TABLE: the rows, tab-separated, without the three header lines and CRs.
table() { msiinfo export "$1" "$2" | tail -n +4 | tr -d '\r'; }
# cell MSI TABLE KEY COLUMN: one cell of the row whose first column is KEY.
cell() { table "$1" "$2" | awk -F'\t' -v k="$3" -v c="$4" '$1 == k { print $c }'; }
# field N < ROW: the N-th tab-separated field (read would merge empty fields).
field() { awk -F'\t' -v n="$1" '{ print $n }'; }
expect() {  # WHAT EXPECTED ACTUAL
    [[ "$2" == "$3" ]] || fail "$1: expected '$2', got '$3'"
    ok "$1"
}

# Files
files=$(table "$a" File | cut -f3 | sort | tr '\n' ' ')
expect "files in the MSI" "config.json proxy-service.exe proxyctl.exe " "$files"
expect "proxy-service.exe goes to INSTALLDIR" INSTALLDIR "$(cell "$a" Component ServiceExe 3)"
expect "INSTALLDIR is Program Files\\proxy" "ProgramFiles64Folder proxy" \
    "$(table "$a" Directory | awk -F'\t' '$1 == "INSTALLDIR" { print $2, $3 }')"
expect "the config goes to CommonAppDataFolder\\proxy" "CommonAppDataFolder proxy" \
    "$(table "$a" Directory | awk -F'\t' '$1 == "DATADIR" { print $2, $3 }')"

# The config: 64-bit (256) + Permanent (16) + NeverOverwrite (128) = 400.
expect "config component attributes (64-bit, permanent, never overwrite)" 400 \
    "$(cell "$a" Component DefaultConfig 4)"
expect "logs folder component attributes (64-bit, permanent)" 272 "$(cell "$a" Component LogsFolder 4)"
msiextract -C "$work/x" "$a" >/dev/null
extracted=$(find "$work/x" -name config.json | head -n 1)
[[ -n $extracted ]] && cmp -s "$extracted" "$PROXY_SOURCE_DIR/installer/config.default.json" ||
    fail "the MSI's config.json differs from installer/config.default.json"
ok "the MSI carries installer/config.default.json"
if [[ -n ${PROXY_SERVICE_LINUX:-} ]]; then
    "$PROXY_SERVICE_LINUX" --check "$PROXY_SOURCE_DIR/installer/config.default.json" >/dev/null ||
        fail "installer/config.default.json is not a valid config"
    ok "the default config passes proxy-service --check"
fi

# The service: own process (16), auto start (2), normal errors (1), NetworkService, the config.
row=$(table "$a" ServiceInstall)
name=$(field 2 <<<"$row") display=$(field 3 <<<"$row") type=$(field 4 <<<"$row")
start=$(field 5 <<<"$row") errctl=$(field 6 <<<"$row") account=$(field 9 <<<"$row")
arguments=$(field 11 <<<"$row") component=$(field 12 <<<"$row") description=$(field 13 <<<"$row")
expect "service name" proxy "$name"
expect "service type own process" 16 "$type"
expect "service start auto" 2 "$start"
expect "service error control normal" 1 "$errctl"
expect "service account" 'NT AUTHORITY\NetworkService' "$account"
expect "service arguments" '--config "[CommonAppDataFolder]proxy\config.json"' "$arguments"
expect "service belongs to the exe's component" ServiceExe "$component"
[[ -n $display && $description == *"reverse proxy"* ]] || fail "service display name/description"
ok "service display name and description"

# ServiceControl events: start on install (1), stop on install and uninstall (2|32), delete on
# uninstall (128) = 163; wait for each (1).
row=$(table "$a" ServiceControl)
name=$(field 2 <<<"$row") events=$(field 3 <<<"$row") wait=$(field 5 <<<"$row")
expect "service control name" proxy "$name"
expect "service control events (start install, stop both, remove uninstall)" 163 "$events"
expect "service control waits" 1 "$wait"

# The Event Log source.
key='SYSTEM\CurrentControlSet\Services\EventLog\Application\proxy\'
reg=$(table "$a" Registry | awk -F'\t' -v k="$key" '$2 == 2 && $3 == k { print $4 "=" $5 }' | sort | tr '\n' ' ')
expect "Event Log source registry values" 'EventMessageFile=[#ProxyServiceExe] TypesSupported=#7 ' "$reg"

# Major upgrade: one stable UpgradeCode, new ProductCode per build, old product removed before
# the new one is installed.
upgrade_code='{F8EC292D-5B13-4148-98C3-76A85C65A272}'
expect "UpgradeCode (stable)" "$upgrade_code" "$(cell "$a" Property UpgradeCode 2)"
expect "UpgradeCode unchanged in the next version" "$upgrade_code" "$(cell "$b" Property UpgradeCode 2)"
[[ $(cell "$a" Property ProductCode 2) != "$(cell "$b" Property ProductCode 2)" ]] ||
    fail "both builds have the same ProductCode"
ok "each build has its own ProductCode"
expect "ProductVersion" 0.1.1 "$(cell "$b" Property ProductVersion 2)"
table "$b" Upgrade | grep -q "^$upgrade_code"$'\t\t'"0.1.1"$'\t.*WIX_UPGRADE_DETECTED$' ||
    fail "no Upgrade row finding older versions: $(table "$b" Upgrade)"
ok "Upgrade table finds older versions"
table "$b" Upgrade | grep -q 'WIX_DOWNGRADE_DETECTED$' || fail "no downgrade detection row"
seq() { cell "$1" InstallExecuteSequence "$2" 3; }
(( $(seq "$a" RemoveExistingProducts) > $(seq "$a" InstallValidate) &&
   $(seq "$a" RemoveExistingProducts) < $(seq "$a" InstallInitialize) )) ||
    fail "RemoveExistingProducts must run between InstallValidate and InstallInitialize"
ok "old version removed before anything is installed (afterInstallValidate)"

# Custom actions standing in for util:ServiceConfig, util:PermissionEx and the firewall.
(( $(seq "$a" SetRecoveryActions) > $(seq "$a" InstallServices) )) || fail "recovery actions before InstallServices"
(( $(seq "$a" GrantDataAccess) < $(seq "$a" StartServices) )) || fail "ACL granted after StartServices"
(( $(seq "$a" GrantDataAccess) > $(seq "$a" InstallFiles) )) || fail "ACL granted before the files exist"
ok "custom actions scheduled around InstallServices/StartServices"
expect "recovery command" 'failure proxy reset= 86400 actions= restart/5000/restart/30000//' \
    "$(cell "$a" CustomAction SetRecoveryActions 4)"
expect "firewall rule only on request" 'FIREWALL_RULE="1" AND NOT REMOVE' \
    "$(cell "$a" InstallExecuteSequence AddFirewallRule 2)"
[[ $(cell "$a" Property SecureCustomProperties 2) == *FIREWALL_RULE* ]] ||
    fail "FIREWALL_RULE is not a secure property"
ok "FIREWALL_RULE is a secure public property"
# Deferred (1024) and not impersonated (2048): they run as LocalSystem.
for ca in GrantDataAccess SetRecoveryActions AddFirewallRule RemoveFirewallRule; do
    t=$(cell "$a" CustomAction "$ca" 2)
    (( (t & 1024) && (t & 2048) )) || fail "$ca is not deferred and elevated (type $t)"
done
ok "system-changing custom actions are deferred, not impersonated"

# Shortcut only when the build has a console.
expect "no Start-menu shortcut without a console" "" "$(table "$a" Shortcut)"
shortcut=$(table "$b" Shortcut)
dir=$(field 2 <<<"$shortcut") target=$(field 5 <<<"$shortcut")
expect "console shortcut folder" ProgramMenuDir "$dir"
expect "console shortcut target" '[#ConsoleExe]' "$target"
expect "console file in the console build" proxy-console.exe "$(cell "$b" File ConsoleExe 3)"
echo "PASS"
