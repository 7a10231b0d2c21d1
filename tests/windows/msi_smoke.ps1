# Real-Windows check of the MSI (run by .github/workflows/windows.yml on an elevated runner): the
# things Wine cannot show. Installs the MSI, then checks the service account and its quoted
# ImagePath, the recovery actions, the ACL on %ProgramData%\proxy, the formatted Event Log
# entries, that the control pipe answers an elevated admin, a graceful stop through the SCM, and
# that uninstall removes the service but keeps the config.
#
#   tests\windows\msi_smoke.ps1 -Msi dist\proxy-0.1.0-x64.msi
param([Parameter(Mandatory = $true)][string]$Msi)
$ErrorActionPreference = 'Stop'
$failures = 0
function Check([bool]$ok, [string]$what) {
    if ($ok) { Write-Host "ok: $what" } else { Write-Host "FAIL: $what"; $script:failures++ }
}
function Wait-Service([string]$status, [int]$seconds) {
    $deadline = (Get-Date).AddSeconds($seconds)
    while ((Get-Date) -lt $deadline) {
        if ((Get-Service proxy -ErrorAction SilentlyContinue).Status -eq $status) { return $true }
        Start-Sleep -Milliseconds 300
    }
    return $false
}

$msiPath = (Resolve-Path $Msi).Path
$log = Join-Path $env:RUNNER_TEMP 'msi-install.log'
$p = Start-Process msiexec.exe -ArgumentList @('/i', "`"$msiPath`"", '/qn', '/l*v', "`"$log`"") -Wait -PassThru
Check ($p.ExitCode -eq 0) "msiexec /i exit code $($p.ExitCode)"
Check (Wait-Service 'Running' 60) 'service Running after install'

$svc = Get-CimInstance Win32_Service -Filter "Name='proxy'"
Check ($svc.StartName -eq 'NT AUTHORITY\NetworkService') "account is NetworkService ($($svc.StartName))"
Check ($svc.StartMode -eq 'Auto') "start mode Auto ($($svc.StartMode))"
Check ($svc.PathName.StartsWith('"')) "ImagePath is quoted: $($svc.PathName)"
$failure = (sc.exe qfailure proxy) -join "`n"
Check ($failure -match 'RESTART') "recovery actions set:`n$failure"
$acl = (icacls.exe "$env:ProgramData\proxy") -join "`n"
Check ($acl -match 'NETWORK SERVICE:\(OI\)\(CI\)\(M\)') "NetworkService may modify %ProgramData%\proxy:`n$acl"

# The default config listens on 127.0.0.1:8080 with no origin behind it: a 502 proves the
# service accepted and proxied the request.
try { $code = (Invoke-WebRequest -UseBasicParsing -Uri 'http://127.0.0.1:8080/' -TimeoutSec 15).StatusCode }
catch { $code = [int]$_.Exception.Response.StatusCode }
Check ($code -eq 502) "HTTP through the service answers (got $code, want 502 with no origin)"

$proxyctl = Join-Path $env:ProgramFiles 'proxy\proxyctl.exe'
$status = (& $proxyctl status) -join "`n"
Check ($LASTEXITCODE -eq 0 -and $status -match 'version') "proxyctl status over \\.\pipe\proxy-control"

$started = Get-WinEvent -FilterHashtable @{ LogName = 'Application'; ProviderName = 'proxy'; Id = 1 } -MaxEvents 1 -ErrorAction SilentlyContinue
Check ($null -ne $started -and $started.Message -match 'The proxy service started') "Event Log renders message 1: $($started.Message)"

Stop-Service proxy
Check (Wait-Service 'Stopped' 60) 'service Stopped through the SCM'
$svc = Get-CimInstance Win32_Service -Filter "Name='proxy'"
Check ($svc.ExitCode -eq 0) "clean exit code ($($svc.ExitCode))"
$stopped = Get-WinEvent -FilterHashtable @{ LogName = 'Application'; ProviderName = 'proxy'; Id = 2 } -MaxEvents 1 -ErrorAction SilentlyContinue
Check ($null -ne $stopped) 'Event Log has the graceful stop (message 2)'

$p = Start-Process msiexec.exe -ArgumentList @('/x', "`"$msiPath`"", '/qn') -Wait -PassThru
Check ($p.ExitCode -eq 0) "msiexec /x exit code $($p.ExitCode)"
Check ($null -eq (Get-Service proxy -ErrorAction SilentlyContinue)) 'service removed'
Check (-not (Test-Path (Join-Path $env:ProgramFiles 'proxy\proxy-service.exe'))) 'program files removed'
Check (Test-Path "$env:ProgramData\proxy\config.json") 'config kept in %ProgramData%\proxy'

if ($failures -gt 0) {
    Get-Content $log -Tail 60 -ErrorAction SilentlyContinue
    throw "$failures check(s) failed"
}
Write-Host 'PASS'
