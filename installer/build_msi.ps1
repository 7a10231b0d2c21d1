# Builds proxy-<version>-x64.msi on Windows with the WiX Toolset v3 (candle + light), from the
# windows-msvc build tree. The Linux twin is build_msi.sh (wixl); both compile proxy.wxs.
#
#   installer\build_msi.ps1 -BuildDir build\windows-msvc -Version 0.1.0 -Out dist [-Config Release]
param(
    [Parameter(Mandatory = $true)][string]$BuildDir,
    [Parameter(Mandatory = $true)][ValidatePattern('^\d+\.\d+\.\d+$')][string]$Version,
    [Parameter(Mandatory = $true)][string]$Out,
    [string]$Config = 'Release'
)
$ErrorActionPreference = 'Stop'

$wixBin = if ($env:WIX) { Join-Path $env:WIX 'bin' } else { $null }
$candle = if ($wixBin) { Join-Path $wixBin 'candle.exe' } else { 'candle.exe' }
$light = if ($wixBin) { Join-Path $wixBin 'light.exe' } else { 'light.exe' }
if (-not (Get-Command $candle -ErrorAction SilentlyContinue)) {
    throw 'WiX Toolset v3 not found (set WIX or put candle.exe on PATH; choco install wixtoolset)'
}

# Visual Studio generators put executables in a per-configuration folder.
function Find-Exe([string]$relative, [string]$name) {
    foreach ($candidate in @((Join-Path $BuildDir "$relative\$Config\$name"), (Join-Path $BuildDir "$relative\$name"))) {
        if (Test-Path $candidate) { return (Resolve-Path $candidate).Path }
    }
    return $null
}
$serviceExe = Find-Exe 'service' 'proxy-service.exe'
$proxyctlExe = Find-Exe 'service\proxyctl' 'proxyctl.exe'
$consoleExe = Find-Exe 'console' 'proxy-console.exe'
if (-not $serviceExe -or -not $proxyctlExe) { throw "proxy-service.exe or proxyctl.exe missing under $BuildDir" }

$heat = if ($wixBin) { Join-Path $wixBin 'heat.exe' } else { 'heat.exe' }

# The x64-windows triplet links OpenSSL, SQLite, zlib and Qt as DLLs, and MSVC's C++ runtime
# dynamically: everything the executables load goes into 'runtime', which heat turns into the
# RuntimeFiles component group installed beside them (docs/windows.md, "What the MSI installs").
$stage = Join-Path ([System.IO.Path]::GetTempPath()) ("proxy-msi-" + [guid]::NewGuid())
$runtime = Join-Path $stage 'runtime'
New-Item -ItemType Directory -Path (Join-Path $stage 'bin'), $runtime | Out-Null
try {
    Copy-Item $serviceExe, $proxyctlExe (Join-Path $stage 'bin')
    Copy-Item (Join-Path $PSScriptRoot 'proxy.wxs'), (Join-Path $PSScriptRoot 'config.default.json') $stage
    $defines = @("-dProductVersion=$Version", '-dBinDir=bin', '-dInstallerDir=.', '-dRuntimeDir=runtime')
    # vcpkg's applocal step copied each executable's DLLs (libssl, libcrypto, sqlite3, zlib1, and
    # Qt for the console) next to it in the build tree.
    $exeDirs = @($serviceExe, $proxyctlExe) | ForEach-Object { Split-Path $_ -Parent }
    if ($consoleExe) { $exeDirs += (Split-Path $consoleExe -Parent) }
    foreach ($dir in ($exeDirs | Sort-Object -Unique)) {
        Get-ChildItem -Path $dir -Filter '*.dll' | Copy-Item -Destination $runtime -Force
    }
    if ($consoleExe) {
        Copy-Item $consoleExe (Join-Path $stage 'bin\proxy-console.exe')
        $defines += '-dConsoleExe=bin\proxy-console.exe'
        # Qt's platform plugin (qwindows), styles and image formats: windeployqt from the same Qt.
        $windeployqt = @(
            (Join-Path $BuildDir 'vcpkg_installed\x64-windows\tools\Qt6\bin\windeployqt.exe'),
            (Join-Path $BuildDir 'vcpkg_installed\x64-windows\tools\qtbase\bin\windeployqt.exe')
        ) | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $windeployqt) {
            $found = Get-Command 'windeployqt.exe' -ErrorAction SilentlyContinue
            if ($found) { $windeployqt = $found.Source }
        }
        if (-not $windeployqt) { throw 'windeployqt.exe not found (vcpkg_installed tools or PATH)' }
        & $windeployqt --release --no-translations --no-compiler-runtime --no-system-d3d-compiler `
            --no-opengl-sw --dir $runtime (Join-Path $stage 'bin\proxy-console.exe')
        if ($LASTEXITCODE -ne 0) { throw "windeployqt failed ($LASTEXITCODE)" }
    }
    # The MSVC C++ runtime, app-local (vcruntime140, msvcp140, ...), from the Visual Studio
    # developer environment this script runs in.
    if (-not $env:VCToolsRedistDir) { throw 'VCToolsRedistDir is not set: run from a "x64 Native Tools" developer prompt' }
    $crt = Get-ChildItem -Path (Join-Path $env:VCToolsRedistDir 'x64') -Directory -Filter 'Microsoft.VC*.CRT' |
        Select-Object -First 1
    if (-not $crt) { throw "no Microsoft.VC*.CRT folder under $env:VCToolsRedistDir\x64" }
    Get-ChildItem -Path $crt.FullName -Filter '*.dll' | Copy-Item -Destination $runtime -Force

    New-Item -ItemType Directory -Force -Path $Out | Out-Null
    $msi = Join-Path (Resolve-Path $Out).Path "proxy-$Version-x64.msi"
    Push-Location $stage
    try {
        # -srd: the folder's contents go straight into INSTALLDIR; -gg: generated component GUIDs.
        & $heat dir runtime -nologo -cg RuntimeFiles -dr INSTALLDIR -srd -gg -sfrag -scom -sreg `
            -var var.RuntimeDir -platform x64 -out runtime.wxs
        if ($LASTEXITCODE -ne 0) { throw "heat failed ($LASTEXITCODE)" }
        & $candle -nologo -arch x64 @defines proxy.wxs runtime.wxs
        if ($LASTEXITCODE -ne 0) { throw "candle failed ($LASTEXITCODE)" }
        & $light -nologo -out $msi proxy.wixobj runtime.wixobj
        if ($LASTEXITCODE -ne 0) { throw "light failed ($LASTEXITCODE)" }
    } finally { Pop-Location }
    Write-Output $msi
} finally {
    Remove-Item -Recurse -Force $stage
}
