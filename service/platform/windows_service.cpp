#include "platform/windows_service.h"

#include <tlhelp32.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <vector>

#include "logging/log.h"
#include "messages.h"  // generated from messages.mc
#include "platform/event_log_sink.h"

namespace proxy::platform {

namespace {

constexpr DWORD kPendingWaitHintMs = 5'000;  // the ticker advances the checkpoint every second
constexpr auto kTickInterval = std::chrono::seconds(1);
// Windows ends a console process about 5 s after a close/logoff/shutdown event is delivered.
constexpr DWORD kConsoleCloseGraceMs = 4'500;

}  // namespace

std::atomic<ServiceHost*> ServiceHost::active_{nullptr};

ServiceHost::ServiceHost(std::wstring serviceName, HostedService& service, EventLog& events,
                         std::string version, std::string configPath)
    : name_(std::move(serviceName)),
      service_(service),
      events_(events),
      version_(std::move(version)),
      configPath_(std::move(configPath)),
      stoppedEvent_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {
    status_.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
}

ServiceHost::~ServiceHost() {
    markStopped();
    if (stoppedEvent_ != nullptr) CloseHandle(stoppedEvent_);
}

bool startedByServiceControlManager() {
    HANDLE snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snapshot == INVALID_HANDLE_VALUE) return true;  // cannot tell: let the dispatcher decide
    const DWORD self = GetCurrentProcessId();
    DWORD parent = 0;
    std::wstring parentExe;
    PROCESSENTRY32W entry{};
    entry.dwSize = sizeof(entry);
    for (BOOL more = Process32FirstW(snapshot, &entry); more;
         more = Process32NextW(snapshot, &entry)) {
        if (entry.th32ProcessID == self) parent = entry.th32ParentProcessID;
    }
    entry.dwSize = sizeof(entry);
    for (BOOL more = Process32FirstW(snapshot, &entry); more && parent != 0;
         more = Process32NextW(snapshot, &entry)) {
        if (entry.th32ProcessID == parent) parentExe = entry.szExeFile;
    }
    CloseHandle(snapshot);
    // services.exe never exits, so a parent that is gone (or is anything else) is not the SCM.
    return _wcsicmp(parentExe.c_str(), L"services.exe") == 0;
}

ServiceHost::Dispatch ServiceHost::runDispatcher() {
    // On Windows the dispatcher fails at once with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT when
    // the SCM did not start us; Wine's instead connects to the control pipe of the last service
    // started and can wait forever. Asking who the parent is first works on both.
    if (!startedByServiceControlManager()) return Dispatch::NotStartedByScm;
    active_.store(this);
    SERVICE_TABLE_ENTRYW table[] = {{name_.data(), &ServiceHost::serviceMain}, {nullptr, nullptr}};
    const BOOL ok = StartServiceCtrlDispatcherW(table);
    const DWORD error = ok ? ERROR_SUCCESS : GetLastError();
    active_.store(nullptr);
    if (ok) return Dispatch::Ran;
    if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return Dispatch::NotStartedByScm;
    events_.report(MSG_FATAL,
                   {"the service control dispatcher failed: " + windowsErrorText(error)});
    return Dispatch::Failed;
}

void WINAPI ServiceHost::serviceMain(DWORD /*argc*/, LPWSTR* /*argv*/) {
    // The service arguments (sc start proxy ARGS) are ignored: the command line in the service
    // configuration is the one source of options.
    if (ServiceHost* host = active_.load()) host->runService();
}

void ServiceHost::runService() {
    statusHandle_ =
        RegisterServiceCtrlHandlerExW(name_.c_str(), &ServiceHost::controlHandler, this);
    if (statusHandle_ == nullptr) {
        events_.report(MSG_FATAL, {"cannot register the service control handler: " +
                                   windowsErrorText(GetLastError())});
        exitCode_ = kExitHostFailed;
        return;  // without a status handle the SCM cannot be told anything more
    }
    {
        std::lock_guard lock(statusMutex_);
        ticking_ = true;
    }
    reportState(SERVICE_START_PENDING);
    ticker_ = std::thread([this] { tickWhilePending(); });
    // No console under the SCM: the service's log lines go to the Event Log until it stopped.
    logging::setSink(std::make_shared<EventLogSink>(events_));

    if (auto error = service_.start()) {
        events_.report(MSG_START_FAILED, {*error});
        exitCode_ = kExitStartFailed;
        logging::setSink(nullptr);
        markStopped();
        reportState(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, kExitStartFailed);
        return;
    }
    reportState(SERVICE_RUNNING);
    events_.report(MSG_SERVICE_STARTED,
                   {version_ + " as service '" + narrow(name_) + "'", configPath_});

    const int code = service_.wait();
    exitCode_ = code;
    if (code == kExitOk) {
        events_.report(MSG_SERVICE_STOPPED, {"service " + narrow(name_)});
    } else {
        events_.report(MSG_SERVICE_STOPPED_WITH_ERROR, {std::to_string(code)});
    }
    // Back to the default sink: `events_` may be gone before the last log line is written.
    logging::setSink(nullptr);
    // Hazard: once SERVICE_STOPPED is reported the SCM may end the process at any moment, so
    // everything else (the ticker, the Event Log) is finished before it.
    markStopped();
    reportState(SERVICE_STOPPED, code == kExitOk ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR,
                static_cast<DWORD>(code));
}

DWORD WINAPI ServiceHost::controlHandler(DWORD control, DWORD /*eventType*/, LPVOID /*eventData*/,
                                         LPVOID context) {
    return static_cast<ServiceHost*>(context)->onControl(control);
}

DWORD ServiceHost::onControl(DWORD control) {
    // Runs on the dispatcher (main) thread: nothing here may wait for the service.
    switch (control) {
        case SERVICE_CONTROL_STOP:
            requestStop("service control STOP");
            return NO_ERROR;
        case SERVICE_CONTROL_SHUTDOWN:
            requestStop("system shutdown");
            return NO_ERROR;
        case SERVICE_CONTROL_PRESHUTDOWN:
            requestStop("system pre-shutdown");
            return NO_ERROR;
        case SERVICE_CONTROL_PARAMCHANGE:
            events_.report(MSG_RELOAD_REQUESTED, {"service control PARAMCHANGE"});
            service_.requestReload();
            return NO_ERROR;
        case SERVICE_CONTROL_INTERROGATE:
            return NO_ERROR;  // the SCM re-reads the last status
        default:
            return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

void ServiceHost::requestStop(const char* why) {
    if (!stopRequested_.exchange(true)) {
        if (statusHandle_ != nullptr) reportState(SERVICE_STOP_PENDING);
        events_.report(MSG_STOP_REQUESTED, {why});
    }
    // Repeated requests still reach the service: it treats them as idempotent.
    service_.requestStop();
}

void ServiceHost::reportState(DWORD state, DWORD win32ExitCode, DWORD serviceExitCode) {
    std::lock_guard lock(statusMutex_);
    const DWORD current = status_.dwCurrentState;
    // A stop racing the service's own end must not move a stopped (or stopping) service back.
    if (current == SERVICE_STOPPED) return;
    if (state == SERVICE_STOP_PENDING && current == SERVICE_STOP_PENDING) return;
    if (state == SERVICE_RUNNING && current == SERVICE_STOP_PENDING) return;

    const bool pending = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
    status_.dwCurrentState = state;
    status_.dwWin32ExitCode = win32ExitCode;
    status_.dwServiceSpecificExitCode = serviceExitCode;
    status_.dwControlsAccepted = state == SERVICE_RUNNING
                                     ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN |
                                           SERVICE_ACCEPT_PRESHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
                                     : 0;
    status_.dwWaitHint = pending ? kPendingWaitHintMs : 0;
    status_.dwCheckPoint = pending ? 1 : 0;
    if (statusHandle_ != nullptr) SetServiceStatus(statusHandle_, &status_);
    statusChanged_.notify_all();
}

void ServiceHost::tickWhilePending() {
    std::unique_lock lock(statusMutex_);
    while (ticking_) {
        statusChanged_.wait_for(lock, kTickInterval);
        if (!ticking_) break;
        const DWORD state = status_.dwCurrentState;
        if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING) {
            ++status_.dwCheckPoint;
            SetServiceStatus(statusHandle_, &status_);
        }
    }
}

void ServiceHost::markStopped() {
    {
        std::lock_guard lock(statusMutex_);
        ticking_ = false;
    }
    statusChanged_.notify_all();
    if (ticker_.joinable()) ticker_.join();
}

int ServiceHost::runConsole() {
    active_.store(this);
    SetConsoleCtrlHandler(&ServiceHost::consoleHandler, TRUE);
    int code = kExitOk;
    if (auto error = service_.start()) {
        events_.report(MSG_START_FAILED, {*error});
        code = kExitStartFailed;
    } else {
        events_.report(MSG_SERVICE_STARTED, {version_ + " in console mode", configPath_});
        code = service_.wait();
        if (code == kExitOk) {
            events_.report(MSG_SERVICE_STOPPED, {"console mode"});
        } else {
            events_.report(MSG_SERVICE_STOPPED_WITH_ERROR, {std::to_string(code)});
        }
    }
    exitCode_ = code;
    SetEvent(stoppedEvent_);
    SetConsoleCtrlHandler(&ServiceHost::consoleHandler, FALSE);
    active_.store(nullptr);
    return code;
}

BOOL WINAPI ServiceHost::consoleHandler(DWORD event) {
    // Runs on a thread Windows creates for the event, so waiting here is allowed.
    ServiceHost* host = active_.load();
    if (host == nullptr) return FALSE;
    switch (event) {
        case CTRL_C_EVENT:
            host->requestStop("Ctrl+C");
            return TRUE;
        case CTRL_BREAK_EVENT:
            host->requestStop("Ctrl+Break");
            return TRUE;
        case CTRL_CLOSE_EVENT:
        case CTRL_LOGOFF_EVENT:
        case CTRL_SHUTDOWN_EVENT:
            host->requestStop("console closed");
            // Returning lets Windows end the process: give the drain what time Windows allows.
            WaitForSingleObject(host->stoppedEvent_, kConsoleCloseGraceMs);
            return TRUE;
        default:
            return FALSE;
    }
}

std::wstring currentExePath() {
    std::vector<wchar_t> buffer(MAX_PATH);
    for (;;) {
        const DWORD length =
            GetModuleFileNameW(nullptr, buffer.data(), static_cast<DWORD>(buffer.size()));
        if (length == 0) return {};
        if (length < buffer.size()) return std::wstring(buffer.data(), length);
        if (buffer.size() >= 32'768) return {};  // longer than any Windows path
        buffer.resize(buffer.size() * 2);
    }
}

std::wstring absolutePath(const std::wstring& path) {
    const DWORD needed = GetFullPathNameW(path.c_str(), 0, nullptr, nullptr);
    if (needed == 0) return path;
    std::wstring out(needed, L'\0');
    const DWORD length = GetFullPathNameW(path.c_str(), needed, out.data(), nullptr);
    if (length == 0 || length >= needed) return path;
    out.resize(length);
    return out;
}

namespace {

// Closes a service handle when the scope ends, so every early return below is leak-free.
struct ScHandle {
    SC_HANDLE handle = nullptr;
    explicit ScHandle(SC_HANDLE h) : handle(h) {}
    ~ScHandle() {
        if (handle != nullptr) CloseServiceHandle(handle);
    }
    ScHandle(const ScHandle&) = delete;
    ScHandle& operator=(const ScHandle&) = delete;
    explicit operator bool() const { return handle != nullptr; }
};

int failWith(const char* what, DWORD error) {
    std::fprintf(stderr, "proxy-service: %s: %s\n", what, windowsErrorText(error).c_str());
    if (error == ERROR_ACCESS_DENIED)
        std::fprintf(stderr, "proxy-service: run this from an elevated (administrator) prompt\n");
    return kExitHostFailed;
}

void warnIfFailed(BOOL ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "proxy-service: warning: %s: %s\n", what,
                     windowsErrorText(GetLastError()).c_str());
    }
}

}  // namespace

int installService(const ServiceInstallRequest& request) {
    ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE));
    if (!scm) return failWith("cannot open the service control manager", GetLastError());

    const std::wstring commandLine = L"\"" + request.exePath + L"\"" +
                                     (request.arguments.empty() ? L"" : L" " + request.arguments);
    // No dependencies on Tcpip/Afd: listeners bind local or wildcard addresses, which works
    // before the network is up, and Wine has no such services to depend on.
    ScHandle service(CreateServiceW(
        scm.handle, request.name.c_str(), request.displayName.c_str(),
        SERVICE_CHANGE_CONFIG | SERVICE_START | SERVICE_QUERY_STATUS, SERVICE_WIN32_OWN_PROCESS,
        SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, commandLine.c_str(), nullptr, nullptr, nullptr,
        request.account.empty() ? nullptr : request.account.c_str(), nullptr));
    if (!service) {
        const DWORD error = GetLastError();
        if (error == ERROR_SERVICE_EXISTS) {
            std::fprintf(stderr,
                         "proxy-service: the service '%s' is already installed "
                         "(--uninstall it first)\n",
                         narrow(request.name).c_str());
            return kExitHostFailed;
        }
        return failWith("cannot create the service", error);
    }

    std::wstring description = request.description;
    SERVICE_DESCRIPTIONW descriptionInfo{description.data()};
    warnIfFailed(
        ChangeServiceConfig2W(service.handle, SERVICE_CONFIG_DESCRIPTION, &descriptionInfo),
        "cannot set the description");

    // Recovery: restart after 5 s, then after 30 s, then leave it stopped; the failure count
    // resets after a day. A non-zero exit code counts as a failure, not only a crash.
    SC_ACTION actions[] = {
        {SC_ACTION_RESTART, 5'000}, {SC_ACTION_RESTART, 30'000}, {SC_ACTION_NONE, 0}};
    SERVICE_FAILURE_ACTIONSW failure{};
    failure.dwResetPeriod = 24 * 60 * 60;
    failure.cActions = static_cast<DWORD>(std::size(actions));
    failure.lpsaActions = actions;
    warnIfFailed(ChangeServiceConfig2W(service.handle, SERVICE_CONFIG_FAILURE_ACTIONS, &failure),
                 "cannot set the recovery actions");
    SERVICE_FAILURE_ACTIONS_FLAG onNonCrash{TRUE};
    warnIfFailed(
        ChangeServiceConfig2W(service.handle, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &onNonCrash),
        "cannot apply the recovery actions to non-crash failures");
    // PRESHUTDOWN gives the drain up to 30 s at system shutdown instead of the ~5 s of SHUTDOWN.
    SERVICE_PRESHUTDOWN_INFO preshutdown{30'000};
    warnIfFailed(
        ChangeServiceConfig2W(service.handle, SERVICE_CONFIG_PRESHUTDOWN_INFO, &preshutdown),
        "cannot set the pre-shutdown timeout");

    if (auto error = registerEventSource(kEventSource, request.exePath))
        std::fprintf(stderr, "proxy-service: warning: %s\n", error->c_str());

    std::printf("installed service '%s': %s\n", narrow(request.name).c_str(),
                narrow(commandLine).c_str());
    std::printf("start it with: sc start %s\n", narrow(request.name).c_str());
    return kExitOk;
}

int uninstallService(const std::wstring& name) {
    ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!scm) return failWith("cannot open the service control manager", GetLastError());
    ScHandle service(
        OpenServiceW(scm.handle, name.c_str(), DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS));
    if (!service) return failWith("cannot open the service", GetLastError());

    SERVICE_STATUS status{};
    if (QueryServiceStatus(service.handle, &status) && status.dwCurrentState != SERVICE_STOPPED) {
        ControlService(service.handle, SERVICE_CONTROL_STOP, &status);
        // Bounded: the service drains for at most timeouts.shutdown, then cancels hard.
        for (int i = 0; i < 60 && status.dwCurrentState != SERVICE_STOPPED; ++i) {
            Sleep(500);
            if (!QueryServiceStatus(service.handle, &status)) break;
        }
        if (status.dwCurrentState != SERVICE_STOPPED)
            std::fprintf(stderr, "proxy-service: warning: the service did not stop in 30 s\n");
    }
    if (!DeleteService(service.handle))
        return failWith("cannot delete the service", GetLastError());
    if (auto error = unregisterEventSource(kEventSource))
        std::fprintf(stderr, "proxy-service: warning: %s\n", error->c_str());
    std::printf("removed service '%s'\n", narrow(name).c_str());
    return kExitOk;
}

}  // namespace proxy::platform
