#pragma once
// The running service: config, workers, listeners and the control channel, owned in one place.
// Platform hosts (the Windows SCM host, the POSIX signal loop, the foreground console mode) drive it
// through these four calls and nothing else.

#include <memory>
#include <optional>
#include <string>

#include "app/options.h"
#include "upstream/name_resolver.h"

namespace proxy::app {

class ServiceRuntime {
public:
    // `lookup` resolves upstream server names (tests give their own; empty = the system's).
    explicit ServiceRuntime(Options options, upstream::LookupFn lookup = {});
    ~ServiceRuntime();
    ServiceRuntime(const ServiceRuntime&) = delete;
    ServiceRuntime& operator=(const ServiceRuntime&) = delete;

    // Loads and validates the config, binds every listener, starts the workers and the control
    // channel. Returns an error sentence when the service cannot start (nothing is left running).
    std::optional<std::string> start();

    // Thread-safe and non-blocking (safe from a signal-handling thread or the SCM handler):
    // begin a graceful stop. In-flight requests get timeouts.shutdown to finish.
    void requestStop();

    // Thread-safe and non-blocking: re-read the config file and apply it if valid.
    void requestReload();

    // Blocks until the service has fully stopped. Returns the process exit code (0 = clean).
    int wait();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace proxy::app
