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

$stage = Join-Path ([System.IO.Path]::GetTempPath()) ("proxy-msi-" + [guid]::NewGuid())
New-Item -ItemType Directory -Path (Join-Path $stage 'bin') | Out-Null
try {
    Copy-Item $serviceExe, $proxyctlExe (Join-Path $stage 'bin')
    Copy-Item (Join-Path $PSScriptRoot 'proxy.wxs'), (Join-Path $PSScriptRoot 'config.default.json') $stage
    $defines = @("-dProductVersion=$Version", '-dBinDir=bin', '-dInstallerDir=.')
    if ($consoleExe) {
        Copy-Item $consoleExe (Join-Path $stage 'bin\proxy-console.exe')
        $defines += '-dConsoleExe=bin\proxy-console.exe'
    }
    New-Item -ItemType Directory -Force -Path $Out | Out-Null
    $msi = Join-Path (Resolve-Path $Out).Path "proxy-$Version-x64.msi"
    Push-Location $stage
    try {
        & $candle -nologo -arch x64 @defines proxy.wxs
        if ($LASTEXITCODE -ne 0) { throw "candle failed ($LASTEXITCODE)" }
        & $light -nologo -out $msi proxy.wixobj
        if ($LASTEXITCODE -ne 0) { throw "light failed ($LASTEXITCODE)" }
    } finally { Pop-Location }
    Write-Output $msi
} finally {
    Remove-Item -Recurse -Force $stage
}
