#!/usr/bin/env bash
# The real service under Wine's SCM: sc create / start / query / stop / delete. It reaches
# RUNNING, serves traffic, and `sc stop` goes through the control handler: STOP_PENDING, the
# in-flight request finishes (graceful drain), STOPPED with exit code 0, and the service's own
# log (the Event Log) records the drain and the graceful stop with no forced close.
source "$(dirname "$0")/wine_env.sh"
wine_setup
install_binaries

svc=proxytest
start_origin A
origin=$ORIGIN_PORT
port=$(free_port)
write_config config.json "$port" "proxy-test-$$" "{ \"address\": \"127.0.0.1:$origin\" }"

# sc_state: the STATE word of `sc query` (RUNNING, STOPPED, ...), or "" if the query failed.
sc_state() { w 30 sc query "$svc" 2>/dev/null | tr -d '\r' | awk '/STATE/ { print $4 }'; }
wait_state() {  # STATE SECONDS
    local want=$1 deadline=$((SECONDS + $2)) state=""
    while ((SECONDS < deadline)); do
        state=$(sc_state)
        [[ $state == "$want" ]] && { log "ok: service is $want"; return 0; }
        sleep 0.3
    done
    w 30 sc query "$svc" >&2 || true
    fail "service did not reach $want (last state: ${state:-unknown})"
}

wstep "sc create" 30 sc create "$svc" \
    binPath= "C:\\proxy\\proxy-service.exe --config C:\\proxy\\config.json --service-name $svc"
wstep "sc start" 30 sc start "$svc"
wait_state RUNNING 40
wait_for_port "$port" 20 || fail "the service is RUNNING but does not listen on $port"

url=http://127.0.0.1:$port
body=$(curl -sS --max-time 15 "$url/through-the-service") || fail "GET through the service failed"
expect_eq "GET through the SCM-started service" A "$(json_field origin <<<"$body")"

# A request still in flight when the stop arrives must complete: that is the graceful drain.
curl -sS --max-time 30 -o "$WORK/slow.body" -w '%{http_code}' "$url/slow?ms=2500" \
    >"$WORK/slow.status" 2>"$WORK/slow.err" &
slow_pid=$!
BG_PIDS+=("$slow_pid")
sleep 0.8
stop_started=$SECONDS
wstep "sc stop" 30 sc stop "$svc"
wait_state STOPPED 40
log "stop took $((SECONDS - stop_started)) s"
wait "$slow_pid" || fail "the in-flight request failed during the stop: $(cat "$WORK/slow.err")"
expect_eq "in-flight request completed during the drain" 200 "$(cat "$WORK/slow.status")"
expect_eq "in-flight request body intact" A "$(json_field origin <"$WORK/slow.body")"

query=$(w 30 sc query "$svc")
[[ $query =~ WIN32_EXIT_CODE[[:space:]]+:[[:space:]]+0[[:space:]] ]] ||
    fail "the service did not report a clean stop: $query"
[[ $query =~ SERVICE_EXIT_CODE[[:space:]]+:[[:space:]]+0[[:space:]] ]] ||
    fail "the service reported a non-zero exit code: $query"
log "ok: STOPPED with exit codes 0 (reported by the service itself, not a kill)"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then fail "port $port still open after stop"; fi

# The service's log: under the SCM it goes to the Event Log (platform/event_log_sink.cpp), and
# Wine prints every ReportEventW string on its eventlog channel, which wine_env.sh turns on for
# services.exe and so for the service; the lines land in wine-system.log. Once the runtime writes
# logging.error_log_file itself, its lines may be there instead: both are searched.
logs=("$WORK/wine-system.log")
[[ -f $C/proxy/error.log ]] && logs+=("$C/proxy/error.log")
expect_log() {  # WHAT EXTENDED-REGEX
    grep -Ehq "$2" "${logs[@]}" || fail "service log: no '$1' (pattern $2)"
    log "ok: service log has: $(grep -Eho "$2" "${logs[@]}" | head -n 1)"
}
expect_log "started as a service" "as service '$svc'"
expect_log "stop through the control handler" 'service control STOP'
expect_log "graceful drain began" 'stopping: draining in-flight requests'
expect_log "the runtime stopped" 'info +stopped'
expect_log "host reported a graceful stop" "L\"service $svc\""
if grep -Eh 'still open after|closing them|:err:eventlog|error ' "${logs[@]}"; then
    fail "the service log records a forced or failed stop (above)"
fi
log "ok: no forced close or error in the service log"

wstep "sc delete" 30 sc delete "$svc"
if w 30 sc query "$svc" >/dev/null 2>&1; then fail "the service still exists after sc delete"; fi
log "ok: service deleted"
# A config that cannot start: STOPPED with ERROR_SERVICE_SPECIFIC_ERROR (1066) and the
# service-specific code 1, and the reason in the Event Log.
printf '{ "listeners": [ { "name": "web", "address": "127.0.0.1:notaport" } ] }' >"$C/proxy/bad.json"
wstep "sc create (bad config)" 30 sc create proxybad \
    binPath= "C:\\proxy\\proxy-service.exe --config C:\\proxy\\bad.json --service-name proxybad"
w 30 sc start proxybad >/dev/null 2>&1 || true
svc=proxybad wait_state STOPPED 30
query=$(w 30 sc query proxybad | tr -d '\r')
[[ $query =~ WIN32_EXIT_CODE[[:space:]]+:[[:space:]]+1066 && $query =~ SERVICE_EXIT_CODE[[:space:]]+:[[:space:]]+1[[:space:]] ]] ||
    fail "a failed start must report ERROR_SERVICE_SPECIFIC_ERROR with code 1: $query"
log "ok: failed start reported as 1066 / service-specific 1"
grep -q ':err:eventlog:ReportEventW L"cannot use the configuration in .*bad.json' "$WORK/wine-system.log" ||
    fail "the Event Log has no error for the failed start"
log "ok: the failed start is an Event Log error"
wstep "sc delete (bad config)" 30 sc delete proxybad

# The developer install: --install creates the same service the MSI does, --uninstall removes it.
wstep "proxy-service.exe --install" 60 'C:\proxy\proxy-service.exe' --install \
    --config 'C:\proxy\config.json' --service-name proxydev
key='HKLM\SYSTEM\CurrentControlSet\Services\proxydev'
values=$(w 30 reg query "$key" | tr -d '\r')
expect_contains "--install: quoted command line" \
    '"C:\proxy\proxy-service.exe" --config "C:\proxy\config.json" --service-name "proxydev"' "$values"
expect_contains "--install: automatic start" 'Start    REG_DWORD    0x2' "$values"
expect_contains "--install: NetworkService" 'NT AUTHORITY\NetworkService' "$values"
expect_contains "--install: pre-shutdown timeout 30 s" 'PreshutdownTimeout    REG_DWORD    0x7530' "$values"
expect_contains "--install: description" 'reverse proxy' "$values"
source_key=$(w 30 reg query 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\proxy' | tr -d '\r')
expect_contains "--install: Event Log source" 'C:\proxy\proxy-service.exe' "$source_key"
wstep "sc start proxydev" 30 sc start proxydev
svc=proxydev wait_state RUNNING 40
wait_for_port "$port" 20 || fail "the --install'ed service does not listen"
wstep "proxy-service.exe --uninstall" 60 'C:\proxy\proxy-service.exe' --uninstall --service-name proxydev
if w 30 sc query proxydev >/dev/null 2>&1; then fail "--uninstall left the service"; fi
if w 30 reg query 'HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\proxy' >/dev/null 2>&1; then
    fail "--uninstall left the Event Log source"
fi
log "ok: --uninstall stopped and removed the service and the Event Log source"
log "PASS"
