#include "platform/event_log_sink.h"

#include <string>

#include "messages.h"  // generated from messages.mc

namespace proxy::platform {

EventLogSink::EventLogSink(EventLog& events, unsigned burstPerSecond)
    : events_(events), burstPerSecond_(burstPerSecond) {}

void EventLogSink::write(logging::Level level, std::string_view line) {
    if (level == logging::Level::Debug) return;
    std::uint64_t suppressedBefore = 0;
    {
        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        if (now - windowStart_ >= std::chrono::seconds(1)) {
            windowStart_ = now;
            inWindow_ = 0;
            suppressedBefore = suppressed_;
            suppressed_ = 0;
        }
        if (inWindow_ >= burstPerSecond_) {
            ++suppressed_;
            return;
        }
        ++inWindow_;
    }
    if (suppressedBefore > 0) {
        events_.report(MSG_TEXT_WARNING, {std::to_string(suppressedBefore) +
                                          " log line(s) were not written to the Event Log (more "
                                          "than the burst limit per second)"});
    }
    switch (level) {
        case logging::Level::Error:
            events_.report(MSG_TEXT_ERROR, {line});
            break;
        case logging::Level::Warn:
            events_.report(MSG_TEXT_WARNING, {line});
            break;
        default:
            events_.report(MSG_TEXT_INFO, {line});
            break;
    }
}

}  // namespace proxy::platform
