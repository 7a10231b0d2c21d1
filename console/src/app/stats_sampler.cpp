#include "app/stats_sampler.h"

#include <algorithm>

namespace proxy::console {

StatsTotals extractTotals(const Json& stats) {
    StatsTotals t;
    const Json& listeners = at(stats, {"metrics", "listeners"});
    if (listeners.is_object()) {
        for (const auto& [name, series] : listeners.items()) {
            (void)name;
            t.requests += integerOf(series, "requests");
            const Json& byClass = member(series, "by_class");
            t.errors += integerOf(byClass, "5xx") + integerOf(byClass, "none");
            const Json& latency = member(series, "latency_us");
            if (latency.is_object()) {
                t.hasLatency = true;
                t.latencyCount += integerOf(latency, "count");
                t.latencySumUs += number(member(latency, "sum"));
                auto maxOf = [&](std::optional<double>& into, const char* key) {
                    const Json& v = member(latency, key);
                    if (!v.is_number()) return;
                    into = std::max(into.value_or(0.0), v.get<double>());
                };
                if (integerOf(latency, "count") > 0) {
                    maxOf(t.p50Us, "p50");
                    maxOf(t.p95Us, "p95");
                    maxOf(t.p99Us, "p99");
                }
            }
        }
    } else if (member(stats, "requests").is_object()) {
        const Json& r = member(stats, "requests");
        t.requests = integerOf(r, "total");
        t.errors = integerOf(r, "5xx");
    } else {
        t.requests = integerOf(stats, "requests");
        t.errors = integerOf(stats, "responses_5xx");
    }
    const Json& accessLog = member(stats, "access_log");
    if (member(accessLog, "dropped").is_number())
        t.droppedRecords = integerOf(accessLog, "dropped");
    return t;
}

std::optional<StatsPoint> StatsSampler::add(qint64 timeMs, const Json& stats) {
    StatsTotals now = extractTotals(stats);
    std::optional<StatsTotals> before = std::move(last_);
    const qint64 beforeMs = lastTimeMs_;
    last_ = now;
    lastTimeMs_ = timeMs;
    if (!before || now.requests < before->requests || now.errors < before->errors ||
        timeMs <= beforeMs)
        return std::nullopt;

    StatsPoint p;
    p.timeMs = timeMs;
    const double seconds = static_cast<double>(timeMs - beforeMs) / 1000.0;
    const auto requests = now.requests - before->requests;
    const auto errors = now.errors - before->errors;
    p.requestsPerSec = static_cast<double>(requests) / seconds;
    p.errorRatePct =
        requests > 0 ? 100.0 * static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
    const auto count = now.latencyCount - before->latencyCount;
    if (now.hasLatency && count > 0)
        p.meanMs = (now.latencySumUs - before->latencySumUs) / static_cast<double>(count) / 1000.0;
    if (now.p50Us) p.p50Ms = *now.p50Us / 1000.0;
    if (now.p99Us) p.p99Ms = *now.p99Us / 1000.0;
    points_.push_back(p);
    while (points_.size() > capacity_) points_.pop_front();
    return p;
}

}  // namespace proxy::console
