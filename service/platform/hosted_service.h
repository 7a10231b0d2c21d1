#pragma once
// What a platform host (the Windows SCM host, the console mode, the POSIX signal loop) drives.
// app/run.cpp adapts ServiceRuntime to it; keeping the hosts behind this small interface means
// service/platform/ does not depend on service/app/ and the hosts can be exercised with a fake.

#include <optional>
#include <string>

namespace proxy::platform {

class HostedService {
public:
    virtual ~HostedService() = default;

    // Loads the config, binds the listeners and starts serving. Returns an error sentence when the
    // service cannot start; nothing is left running in that case.
    virtual std::optional<std::string> start() = 0;

    // Thread-safe, never blocks: called from a signal thread, the SCM control handler or a
    // console control handler.
    virtual void requestStop() = 0;
    virtual void requestReload() = 0;

    // Blocks until the service has fully stopped; returns the process exit code (0 = clean).
    virtual int wait() = 0;
};

// Exit codes shared by every host, so scripts and the SCM see the same numbers everywhere.
inline constexpr int kExitOk = 0;
inline constexpr int kExitStartFailed = 1;  // bad config, a listener could not bind, ...
inline constexpr int kExitUsage = 2;        // bad command line (main.cpp uses it too)
inline constexpr int kExitHostFailed = 3;   // the platform host itself failed (SCM, signals)

}  // namespace proxy::platform
