#pragma once
// The Linux foreground host: SIGTERM/SIGINT stop gracefully, SIGHUP reloads the config, and the
// state changes are reported to systemd (Type=notify) when $NOTIFY_SOCKET is set. POSIX only.
//
// Signals are taken synchronously: they are blocked in every thread (blockHostSignals() runs
// before any thread exists) and one thread collects them with sigwait(), so the service code
// runs in an ordinary thread context instead of an async-signal handler.

#include <atomic>
#include <cstdio>

#include "platform/hosted_service.h"
#include "platform/sd_notify.h"

namespace proxy::platform {

class SignalHost {
public:
    // `service` and `notifier` are not owned and must outlive run(); `log` receives one line per
    // state change (stderr in production, which systemd sends to the journal).
    SignalHost(HostedService& service, SdNotifier& notifier, std::FILE* log = stderr);

    // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and so in every thread it creates
    // later) and ignores SIGPIPE. Call it first in main, before anything starts a thread.
    static void blockHostSignals();

    // start(), then serve until a stop signal (or the service stops by itself); returns the exit
    // code. Requires blockHostSignals() to have run in this thread.
    int run();

private:
    void signalLoop();
    void logLine(const char* text);

    HostedService& service_;         // not owned
    SdNotifier& notifier_;           // not owned
    std::FILE* log_;                 // not owned
    std::atomic<bool> done_{false};  // set once the service stopped: the next signal ends the loop
};

}  // namespace proxy::platform
