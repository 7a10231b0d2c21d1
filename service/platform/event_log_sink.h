#pragma once
// Routes the service's own log lines (logging::LogSink) to the Windows Event Log while it runs
// under the SCM, where there is no console and stderr goes nowhere. Windows only.
//
// The engine logs little at info level (started, config reloaded, stopping, stopped) and every
// warning or error is worth an administrator's attention, so info and above are forwarded;
// debug is dropped. A burst limit keeps an error storm (say, accept failing in a loop) from
// flooding the Application log: past the limit lines are counted and summarised once.

#include <chrono>
#include <cstdint>
#include <mutex>

#include "logging/log.h"
#include "platform/event_log.h"

namespace proxy::platform {

class EventLogSink final : public logging::LogSink {
public:
    // `events` is not owned and must outlive every write(): uninstall the sink first.
    explicit EventLogSink(EventLog& events, unsigned burstPerSecond = 20);

    void write(logging::Level level, std::string_view line) override;

private:
    EventLog& events_;  // not owned
    const unsigned burstPerSecond_;
    std::mutex mutex_;  // guards the burst window
    std::chrono::steady_clock::time_point windowStart_{};
    unsigned inWindow_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace proxy::platform
