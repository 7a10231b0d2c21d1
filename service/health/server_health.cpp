#include "health/server_health.h"

#include <algorithm>

#include "logging/log.h"

namespace proxy::health {
namespace {

Clock::time_point orNow(Clock::time_point now) {
    return now == Clock::time_point{} ? Clock::now() : now;
}

const char* ejectReasonText(EjectReason reason) {
    switch (reason) {
        case EjectReason::Failures:
            return "connect/transport failures";
        case EjectReason::Status5xx:
            return "5xx responses";
        case EjectReason::None:
            break;
    }
    return "";
}

}  // namespace

const char* activeStateName(ActiveState state) {
    switch (state) {
        case ActiveState::Up:
            return "up";
        case ActiveState::Down:
            return "down";
        case ActiveState::Unknown:
            break;
    }
    return "unknown";
}

ServerHealth::ServerHealth(std::string upstream, std::string server)
    : upstream_(std::move(upstream)), server_(std::move(server)) {}

bool ServerHealth::ejected(Clock::time_point now) const {
    const std::int64_t until = ejectedUntil_.load(std::memory_order_relaxed);
    return until != 0 && ticks(orNow(now)) < until;
}

bool ServerHealth::available(Clock::time_point now) const {
    if (active_.load(std::memory_order_relaxed) == ActiveState::Down) return false;
    if (ejectedUntil_.load(std::memory_order_relaxed) == 0) return true;  // never ejected: no clock
    return !ejected(now);
}

std::uint64_t ServerHealth::scaledWeight(std::uint32_t weight, std::chrono::seconds slowStart,
                                         Clock::time_point now) const {
    const std::uint64_t full = std::uint64_t{weight} * kWeightScale;
    if (slowStart.count() <= 0) return full;
    const std::int64_t since = std::max(upSince_.load(std::memory_order_relaxed),
                                        ejectedUntil_.load(std::memory_order_relaxed));
    if (since == 0) return full;
    const std::int64_t window = std::chrono::duration_cast<Clock::duration>(slowStart).count();
    const std::int64_t elapsed = ticks(orNow(now)) - since;
    if (elapsed >= window) return full;
    if (elapsed <= 0) return 1;  // still ejected (not eligible anyway), or the very first instant
    const auto scaled = static_cast<std::uint64_t>(static_cast<long double>(full) *
                                                   static_cast<long double>(elapsed) /
                                                   static_cast<long double>(window));
    return std::max<std::uint64_t>(1, scaled);
}

void ServerHealth::connected() {
    // Load before store: a healthy server's counters stay untouched, so workers do not bounce the
    // cache line on every request.
    if (failures_.load(std::memory_order_relaxed) != 0)
        failures_.store(0, std::memory_order_relaxed);
}

void ServerHealth::responded(int status, const config::PassiveCheck* passive,
                             Clock::time_point now) {
    connected();
    if (status < 500) {
        if (status5xx_.load(std::memory_order_relaxed) != 0)
            status5xx_.store(0, std::memory_order_relaxed);
        return;
    }
    if (passive == nullptr || passive->status5xx == 0 || ejected(now)) return;
    // Exactly one caller sees the count reach the threshold, so exactly one ejects.
    if (status5xx_.fetch_add(1, std::memory_order_relaxed) + 1 == passive->status5xx)
        eject(EjectReason::Status5xx, passive->status5xx, *passive, now);
}

void ServerHealth::transportFailed(const config::PassiveCheck* passive, Clock::time_point now) {
    if (passive == nullptr || passive->failures == 0 || ejected(now)) return;
    if (failures_.fetch_add(1, std::memory_order_relaxed) + 1 == passive->failures)
        eject(EjectReason::Failures, passive->failures, *passive, now);
}

void ServerHealth::eject(EjectReason reason, std::uint32_t count,
                         const config::PassiveCheck& passive, Clock::time_point now) {
    now = orNow(now);
    std::lock_guard lock(ejectMutex_);
    if (ejected(now)) return;
    const std::int64_t previous = ejectedUntil_.load(std::memory_order_relaxed);
    std::uint32_t level = backoffLevel_.load(std::memory_order_relaxed);
    // A server that stayed in service for max_eject since its return starts the backoff afresh.
    if (previous == 0 || ticks(now) - previous >
                             std::chrono::duration_cast<Clock::duration>(passive.maxEject).count())
        level = 0;
    auto duration = passive.eject;
    for (std::uint32_t i = 0; i < level && duration < passive.maxEject; ++i) duration *= 2;
    duration = std::min(duration, passive.maxEject);
    backoffLevel_.store(std::min<std::uint32_t>(level + 1, 32), std::memory_order_relaxed);
    ejectReason_.store(reason, std::memory_order_relaxed);
    ejections_.fetch_add(1, std::memory_order_relaxed);
    failures_.store(0, std::memory_order_relaxed);
    status5xx_.store(0, std::memory_order_relaxed);
    returnNoted_.store(false, std::memory_order_relaxed);
    ejectedUntil_.store(ticks(now + duration), std::memory_order_release);
    logging::log(logging::Level::Warn,
                 "upstream %s server %s: ejected for %lld s after %u consecutive %s",
                 upstream_.c_str(), server_.c_str(), static_cast<long long>(duration.count()),
                 count, ejectReasonText(reason));
}

bool ServerHealth::noteReturn(Clock::time_point now, std::chrono::seconds slowStart) {
    const std::int64_t until = ejectedUntil_.load(std::memory_order_acquire);
    if (until == 0 || ticks(now) < until || returnNoted_.exchange(true)) return false;
    if (slowStart.count() > 0)
        logging::log(
            logging::Level::Info,
            "upstream %s server %s: ejection over, back in service (slow start over %lld s)",
            upstream_.c_str(), server_.c_str(), static_cast<long long>(slowStart.count()));
    else
        logging::log(logging::Level::Info, "upstream %s server %s: ejection over, back in service",
                     upstream_.c_str(), server_.c_str());
    return true;
}

void ServerHealth::activeResult(const ProbeOutcome& outcome, const config::HealthCheck& check,
                                Clock::time_point now, WallClock::time_point wall) {
    std::lock_guard lock(detailsMutex_);
    checked_ = true;
    lastCheckAt_ = wall;
    lastOutcome_ = outcome;
    const ActiveState state = active_.load(std::memory_order_relaxed);
    if (outcome.ok) {
        failRun_ = 0;
        okRun_ = std::min<std::uint32_t>(okRun_ + 1, 1'000'000);
        // The first answer decides at once; a Down server needs `rise` in a row.
        if (state == ActiveState::Unknown || (state == ActiveState::Down && okRun_ >= check.rise)) {
            if (state == ActiveState::Down) upSince_.store(ticks(now), std::memory_order_relaxed);
            downReason_.clear();
            active_.store(ActiveState::Up, std::memory_order_release);
            logging::log(logging::Level::Info,
                         "upstream %s server %s: health %s -> up (%s; %u check(s) in a row)",
                         upstream_.c_str(), server_.c_str(), activeStateName(state),
                         outcome.detail.c_str(), okRun_);
        }
        return;
    }
    okRun_ = 0;
    failRun_ = std::min<std::uint32_t>(failRun_ + 1, 1'000'000);
    if (state == ActiveState::Down) {
        downReason_ = outcome.detail;  // keep the newest reason visible
        return;
    }
    if (state == ActiveState::Unknown || failRun_ >= check.fall) {
        downReason_ = outcome.detail;
        active_.store(ActiveState::Down, std::memory_order_release);
        logging::log(logging::Level::Warn,
                     "upstream %s server %s: health %s -> down (%s; %u failed check(s) in a row)",
                     upstream_.c_str(), server_.c_str(), activeStateName(state),
                     outcome.detail.c_str(), failRun_);
    }
}

void ServerHealth::clearActive() {
    std::lock_guard lock(detailsMutex_);
    if (!checked_ && active_.load() == ActiveState::Unknown) return;
    if (active_.load() == ActiveState::Down)
        logging::log(logging::Level::Info,
                     "upstream %s server %s: health check removed; the server is in service",
                     upstream_.c_str(), server_.c_str());
    active_.store(ActiveState::Unknown, std::memory_order_release);
    checked_ = false;
    okRun_ = failRun_ = 0;
    downReason_.clear();
    lastCheckAt_.reset();
    lastOutcome_ = {};
}

HealthStatus ServerHealth::status(std::uint32_t weight, std::chrono::seconds slowStart,
                                  Clock::time_point now, WallClock::time_point wall) const {
    HealthStatus s;
    {
        std::lock_guard lock(detailsMutex_);
        s.checked = checked_;
        s.reason = downReason_;
        s.lastCheckAt = lastCheckAt_;
        s.lastCheckOk = lastOutcome_.ok;
        s.lastCheckResult = lastOutcome_.detail;
        s.lastCheckLatency = lastOutcome_.latency;
        s.activeSuccesses = okRun_;
        s.activeFailures = failRun_;
    }
    s.active = active_.load();
    s.consecutiveFailures = failures_.load();
    s.consecutive5xx = status5xx_.load();
    s.ejections = ejections_.load();
    s.ejectReason = ejectReason_.load();
    const std::int64_t until = ejectedUntil_.load();
    if (until != 0 && ticks(now) < until) {
        s.ejectedUntil = wall + std::chrono::duration_cast<WallClock::duration>(point(until) - now);
        s.reason = "ejected after consecutive " + std::string(ejectReasonText(s.ejectReason));
    }
    if (weight > 0)
        s.weightPercent = static_cast<std::uint32_t>(scaledWeight(weight, slowStart, now) * 100 /
                                                     (std::uint64_t{weight} * kWeightScale));
    return s;
}

}  // namespace proxy::health
