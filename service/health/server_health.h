#pragma once
// The health of one upstream server, shared by every worker, the health checker and the control
// channel. It outlives config snapshots (the HealthMonitor hands the same object to each new
// snapshot's ServerState), so a reload neither forgets a down server nor restarts its ejection.
//
// Two sources decide it:
//  - active checks (the checker thread is the only writer): Unknown until the first probe
//    answers, which decides Up or Down at once; afterwards `rise` successes in a row bring a Down
//    server Up and `fall` failures in a row take an Up server Down;
//  - passive checks (any worker): consecutive transport failures or 5xx answers eject the server
//    for a backoff that doubles while it keeps failing.
// A server is available when it is neither Down nor ejected. After coming back (Down -> Up, or
// the end of an ejection) its weight ramps up linearly over the upstream's slow-start window.
//
// The data path reads atomics only and asks the clock only while an ejection or a ramp is in
// progress. Times are steady-clock nanoseconds since its epoch (0 = never); every method that
// needs the time takes it, so tests drive a fake clock.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.h"

namespace proxy::health {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

enum class ActiveState : std::uint8_t { Unknown, Up, Down };
const char* activeStateName(ActiveState state);

// What ended a server's last passive run of failures.
enum class EjectReason : std::uint8_t { None, Failures, Status5xx };

// Weights are scaled by this during slow start, so a ramp works even for weight 1.
inline constexpr std::uint64_t kWeightScale = 1024;

// One probe's outcome, as the checker reports it.
struct ProbeOutcome {
    bool ok = false;
    std::string detail;  // "200 in 3 ms", "connect: Connection refused", "body lacks 'ok'", ...
    std::chrono::milliseconds latency{0};
};

// A copy of everything the control channel shows, taken under the details lock.
struct HealthStatus {
    ActiveState active = ActiveState::Unknown;
    bool checked = false;  // an active check is configured
    std::string reason;    // why the server is down (or empty)
    std::optional<WallClock::time_point> lastCheckAt;
    bool lastCheckOk = false;
    std::string lastCheckResult;
    std::chrono::milliseconds lastCheckLatency{0};
    std::uint32_t activeSuccesses = 0;                  // in a row
    std::uint32_t activeFailures = 0;                   // in a row
    std::uint32_t consecutiveFailures = 0;              // passive: transport failures in a row
    std::uint32_t consecutive5xx = 0;                   // passive: 5xx answers in a row
    std::optional<WallClock::time_point> ejectedUntil;  // set while ejected
    EjectReason ejectReason = EjectReason::None;
    std::uint64_t ejections = 0;        // since the service started
    std::uint32_t weightPercent = 100;  // of the configured weight, during slow start
};

class ServerHealth {
  public:
    // Names are for log lines: the upstream and "host:port".
    ServerHealth(std::string upstream, std::string server);
    ServerHealth(const ServerHealth&) = delete;
    ServerHealth& operator=(const ServerHealth&) = delete;

    const std::string& upstreamName() const { return upstream_; }
    const std::string& serverName() const { return server_; }

    // ---- data path (any thread, lock-free) ----
    // May the server take requests? `now` may be the zero time point: the clock is then read only
    // if an ejection is recorded.
    bool available(Clock::time_point now = {}) const;
    // The configured weight times kWeightScale, scaled down during slow start (at least 1).
    std::uint64_t scaledWeight(std::uint32_t weight, std::chrono::seconds slowStart,
                               Clock::time_point now = {}) const;
    // A connection was made, or a response head arrived: what each resets.
    void connected();
    void responded(int status, const config::PassiveCheck* passive, Clock::time_point now);
    // A connect failure, timeout, reset or invalid response head.
    void transportFailed(const config::PassiveCheck* passive, Clock::time_point now);

    // ---- the health checker (one thread) ----
    void activeResult(const ProbeOutcome& outcome, const config::HealthCheck& check,
                      Clock::time_point now, WallClock::time_point wall);
    // The upstream no longer has an active check: forget its verdict.
    void clearActive();
    ActiveState active() const { return active_.load(std::memory_order_relaxed); }

    // The ejection ended since the last call (logs the return once). Called by the monitor tick.
    bool noteReturn(Clock::time_point now, std::chrono::seconds slowStart);

    // ---- control channel ----
    HealthStatus status(std::uint32_t weight, std::chrono::seconds slowStart, Clock::time_point now,
                        WallClock::time_point wall) const;

    bool ejected(Clock::time_point now) const;

  private:
    static std::int64_t ticks(Clock::time_point t) { return t.time_since_epoch().count(); }
    static Clock::time_point point(std::int64_t n) { return Clock::time_point(Clock::duration(n)); }
    void eject(EjectReason reason, std::uint32_t count, const config::PassiveCheck& passive,
               Clock::time_point now);

    const std::string upstream_;
    const std::string server_;

    std::atomic<ActiveState> active_{ActiveState::Unknown};
    std::atomic<std::int64_t> upSince_{0};  // steady ticks of the last Down -> Up (slow start)

    std::atomic<std::uint32_t> failures_{0};   // passive, in a row
    std::atomic<std::uint32_t> status5xx_{0};  // passive, in a row
    std::atomic<std::int64_t> ejectedUntil_{0};
    std::atomic<std::uint32_t> backoffLevel_{0};  // ejection n lasts eject * 2^(n-1), capped
    std::atomic<std::uint64_t> ejections_{0};
    std::atomic<EjectReason> ejectReason_{EjectReason::None};
    std::atomic<bool> returnNoted_{true};
    std::mutex ejectMutex_;  // serialises the rare eject() so two workers cannot both decide

    // Checker-thread state, readable by the control channel under detailsMutex_.
    mutable std::mutex detailsMutex_;
    std::uint32_t okRun_ = 0;
    std::uint32_t failRun_ = 0;
    bool checked_ = false;
    std::string downReason_;
    std::optional<WallClock::time_point> lastCheckAt_;
    ProbeOutcome lastOutcome_;
};

}  // namespace proxy::health
