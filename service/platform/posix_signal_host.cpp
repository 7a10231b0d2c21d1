#include "platform/posix_signal_host.h"

#include <pthread.h>
#include <signal.h>

#include <cstring>
#include <string>
#include <thread>

namespace proxy::platform {

namespace {

sigset_t hostSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

}  // namespace

SignalHost::SignalHost(HostedService& service, SdNotifier& notifier, std::FILE* log)
    : service_(service), notifier_(notifier), log_(log) {}

void SignalHost::blockHostSignals() {
    const sigset_t set = hostSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // Writes to a peer that has gone away must fail with EPIPE, not end the process.
    ::signal(SIGPIPE, SIG_IGN);
}

void SignalHost::logLine(const char* text) {
    if (log_ == nullptr) return;
    std::fprintf(log_, "proxy-service: %s\n", text);
    std::fflush(log_);
}

int SignalHost::run() {
    if (!notifier_.error().empty())
        logLine(("systemd notification disabled: " + notifier_.error()).c_str());

    if (auto error = service_.start()) {
        logLine(("cannot start: " + *error).c_str());
        notifier_.status("failed to start: " + *error);
        return kExitStartFailed;
    }
    // Signals that arrived during start() are still pending (blocked), so the loop sees them.
    std::thread signals([this] { signalLoop(); });
    notifier_.ready("serving");
    logLine("started");

    const int code = service_.wait();

    // The service may have stopped by itself (a control-channel stop, a fatal error): tell systemd
    // before the process goes away, then wake the signal thread so it can end.
    notifier_.stopping("stopped");
    done_.store(true);
    pthread_kill(signals.native_handle(), SIGHUP);
    signals.join();
    logLine(code == kExitOk ? "stopped cleanly"
                            : ("stopped with exit code " + std::to_string(code)).c_str());
    return code;
}

void SignalHost::signalLoop() {
    const sigset_t set = hostSignals();
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (done_.load()) return;
        if (sig == SIGHUP) {
            logLine("SIGHUP: reloading the configuration");
            notifier_.reloading("reloading the configuration");
            service_.requestReload();
            // requestReload() only queues the reload; a rejected config keeps the old one, so
            // the service is ready either way.
            notifier_.ready("serving");
        } else {
            logLine(sig == SIGINT ? "SIGINT: stopping gracefully" : "SIGTERM: stopping gracefully");
            notifier_.stopping("draining connections");
            // A second signal lands here again; the runtime treats a repeated stop as idempotent.
            service_.requestStop();
        }
    }
}

}  // namespace proxy::platform
