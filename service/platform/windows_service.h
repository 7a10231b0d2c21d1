#pragma once
// The Windows host: one proxy-service.exe runs either under the Service Control Manager or in the
// foreground (--console, or whenever the SCM did not start it). Windows only; builds with MSVC and
// mingw-w64 alike.
//
// Threads, and who may block:
//   - the process's main thread is lent to StartServiceCtrlDispatcherW; the SCM calls the
//     control handler on it, so the handler never blocks: it reports STOP_PENDING, asks the
//     service to stop and returns;
//   - the SCM starts serviceMain on a thread of its own: it starts the service, waits for it to
//     stop and reports SERVICE_STOPPED last (the process may be ended any time after that);
//   - a ticker thread advances dwCheckPoint while a START/STOP is pending, so a long graceful
//     drain (timeouts.shutdown) is not mistaken for a hang. The service bounds its own drain.

#include <windows.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "platform/event_log.h"
#include "platform/hosted_service.h"

namespace proxy::platform {

class ServiceHost {
public:
    // `service` and `events` are not owned and must outlive the host. `version` and
    // `configPath` go into the "started" event.
    ServiceHost(std::wstring serviceName, HostedService& service, EventLog& events,
                std::string version, std::string configPath);
    ~ServiceHost();
    ServiceHost(const ServiceHost&) = delete;
    ServiceHost& operator=(const ServiceHost&) = delete;

    enum class Dispatch {
        Ran,              // ran as a service; exitCode() is the result
        NotStartedByScm,  // started from a console or a script: run in the foreground instead
        Failed,           // the dispatcher failed for another reason (reported to the Event Log)
    };
    // Lends the calling (main) thread to the SCM until the service has stopped.
    Dispatch runDispatcher();
    int exitCode() const { return exitCode_; }

    // Foreground mode: Ctrl+C, Ctrl+Break and closing the console stop gracefully.
    int runConsole();

private:
    static void WINAPI serviceMain(DWORD argc, LPWSTR* argv);
    static DWORD WINAPI controlHandler(DWORD control, DWORD eventType, LPVOID eventData,
                                       LPVOID context);
    static BOOL WINAPI consoleHandler(DWORD event);

    void runService();
    DWORD onControl(DWORD control);
    void requestStop(const char* why);
    void reportState(DWORD state, DWORD win32ExitCode = NO_ERROR, DWORD serviceExitCode = 0);
    void tickWhilePending();
    void markStopped();

    // StartServiceCtrlDispatcherW's ServiceMain and SetConsoleCtrlHandler's routine take no
    // context, so the one host of the process is reachable through this pointer. Set for the
    // duration of runDispatcher() / runConsole() only.
    static std::atomic<ServiceHost*> active_;

    std::wstring name_;
    HostedService& service_;  // not owned
    EventLog& events_;        // not owned
    std::string version_;
    std::string configPath_;

    std::mutex statusMutex_;  // guards status_ and ticking_; the handler and serviceMain race
    std::condition_variable statusChanged_;
    SERVICE_STATUS status_{};
    SERVICE_STATUS_HANDLE statusHandle_ = nullptr;  // owned by the SCM, never closed
    bool ticking_ = false;
    std::thread ticker_;

    std::atomic<bool> stopRequested_{false};
    HANDLE stoppedEvent_ = nullptr;  // manual-reset, set once wait() returned (console close waits)
    int exitCode_ = kExitOk;
};

// --install / --uninstall for developers; the MSI is the real installer and writes the same
// things declaratively (installer/proxy.wxs). Both print what they did and return an exit code.
struct ServiceInstallRequest {
    std::wstring name = L"proxy";
    std::wstring displayName = L"Proxy (HTTP reverse proxy)";
    std::wstring description;
    std::wstring exePath;    // absolute path of proxy-service.exe
    std::wstring arguments;  // appended after the quoted exe path, e.g. --config "C:\..."
    std::wstring account = L"NT AUTHORITY\\NetworkService";
};
int installService(const ServiceInstallRequest& request);
int uninstallService(const std::wstring& name);

// True when the parent process is services.exe (the SCM starts every service process).
bool startedByServiceControlManager();

// Absolute path of the running executable.
std::wstring currentExePath();
// `path` made absolute against the current directory (GetFullPathNameW); unchanged on failure.
std::wstring absolutePath(const std::wstring& path);

}  // namespace proxy::platform
