#!/usr/bin/env bash
# Builds proxy-<version>-x64.msi from a Windows build tree with wixl (msitools) on Linux.
#
#   installer/build_msi.sh --build-dir build/mingw-release --version 0.1.0 --out dist/ \
#       [--console-exe path/proxy-console.exe]
#
# On Windows the same proxy.wxs builds with the WiX Toolset v3 (docs/windows.md):
#   candle -arch x64 -dProductVersion=0.1.0 -dBinDir=bin -dInstallerDir=. proxy.wxs
#   light -out proxy.msi proxy.wixobj
# wixl 0.101 ignores Component/@NeverOverwrite, Component/@Permanent and Property/@Secure (it
# warns), so this script writes those into the tables afterwards with msibuild; the result has
# the same tables the WiX Toolset would produce. tests/installer/ checks them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build_dir="" version="" out="" console_exe=""
while (($#)); do
    case $1 in
        --build-dir) build_dir=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --console-exe) console_exe=$2; shift 2 ;;
        *) echo "build_msi.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -n $build_dir && -n $version && -n $out ]] ||
    { echo "usage: build_msi.sh --build-dir DIR --version X.Y.Z --out DIR [--console-exe EXE]" >&2; exit 2; }
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "build_msi.sh: version must be X.Y.Z" >&2; exit 2; }
for tool in wixl msibuild msiinfo; do
    command -v "$tool" >/dev/null || { echo "build_msi.sh: $tool not found (apt-get install wixl msitools)" >&2; exit 1; }
done

service_exe=$build_dir/service/proxy-service.exe
proxyctl_exe=$build_dir/service/proxyctl/proxyctl.exe
for f in "$service_exe" "$proxyctl_exe" ${console_exe:+"$console_exe"}; do
    [[ -f $f ]] || { echo "build_msi.sh: missing $f" >&2; exit 1; }
done

# wixl resolves Source paths relative to the current folder only, so everything is staged.
mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
cp "$service_exe" "$proxyctl_exe" "$stage/bin/"
cp "$here/proxy.wxs" "$here/config.default.json" "$stage/"
defines=(-D "ProductVersion=$version" -D BinDir=bin -D InstallerDir=.)
if [[ -n $console_exe ]]; then
    cp "$console_exe" "$stage/bin/proxy-console.exe"
    defines+=(-D ConsoleExe=bin/proxy-console.exe)
fi

msi=$out/proxy-$version-x64.msi
rm -f "$msi"
(cd "$stage" && wixl -a x64 "${defines[@]}" -o "$msi" proxy.wxs) 2> >(
    grep -v -e "has no property named 'NeverOverwrite'" -e "has no property named 'Permanent'" \
            -e "has no property named 'Secure'" -e "has no property named 'KeyPath'" \
            -e "has no property named 'Schedule'" \
            -e '^(wixl:[0-9]*): GLib-GObject-WARNING' -e '^$' >&2 || true)
[[ -f $msi ]] || { echo "build_msi.sh: wixl produced no $msi" >&2; exit 1; }

# Component attributes (msidbComponentAttributes*): 64-bit 256, Permanent 16, NeverOverwrite 128.
msibuild "$msi" -q "UPDATE \`Component\` SET \`Attributes\` = 400 WHERE \`Component\` = 'DefaultConfig'"
msibuild "$msi" -q "UPDATE \`Component\` SET \`Attributes\` = 272 WHERE \`Component\` = 'LogsFolder'"
# MajorUpgrade Schedule="afterInstallValidate" (wixl orders RemoveExistingProducts anywhere after
# InstallValidate, which can land after InstallServices and delete the new service).
validate=$(msiinfo export "$msi" InstallExecuteSequence | awk -F'\t' '$1 == "InstallValidate" { print $3 }' | tr -d '\r')
msibuild "$msi" -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = $((validate + 1)) WHERE \`Action\` = 'RemoveExistingProducts'"
# FIREWALL_RULE must reach the elevated (server-side) install: a secure public property.
secure=$(msiinfo export "$msi" Property | awk -F'\t' '$1 == "SecureCustomProperties" { print $2 }' | tr -d '\r')
if [[ -n $secure ]]; then
    msibuild "$msi" -q "UPDATE \`Property\` SET \`Value\` = '$secure;FIREWALL_RULE' WHERE \`Property\` = 'SecureCustomProperties'"
else
    msibuild "$msi" -q "INSERT INTO \`Property\` (\`Property\`, \`Value\`) VALUES ('SecureCustomProperties', 'FIREWALL_RULE')"
fi
echo "$msi"
