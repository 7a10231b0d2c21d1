#pragma once
// Turns successive stats.get answers into chart points: requests/s and error rate over each poll
// interval (counter deltas), the mean latency over the interval (histogram sum/count deltas), and
// the service's p50/p99 latency (its histograms run since start; with several listeners the
// largest listener value is shown, an upper bound).
//
// stats.get's shape grew over time; all three are read (docs/logging.md "Metrics" is current):
//   {"metrics": {"listeners": {name: {requests, by_class: {"5xx", "none", ...},
//                                     latency_us: {count, sum, p50, p95, p99}}}}, "access_log":
//                                     {...}}
//   {"requests": {"total", "2xx", "4xx", "5xx"}}          (docs/control-protocol.md)
//   {"requests": N, "responses_4xx": N, "responses_5xx": N} (the engine's counters)

#include <QDateTime>
#include <deque>
#include <optional>

#include "app/json_util.h"

namespace proxy::console {

struct StatsTotals {
    std::int64_t requests = 0;
    std::int64_t errors = 0;  // 5xx plus exchanges without a response
    std::int64_t latencyCount = 0;
    double latencySumUs = 0;
    std::optional<double> p50Us, p95Us, p99Us;
    std::optional<std::int64_t> droppedRecords;
    bool hasLatency = false;
};

StatsTotals extractTotals(const Json& stats);

struct StatsPoint {
    qint64 timeMs = 0;  // wall clock, ms since 1970
    double requestsPerSec = 0;
    double errorRatePct = 0;  // of the requests in the interval; 0 when there were none
    std::optional<double> meanMs, p50Ms, p99Ms;
};

class StatsSampler {
  public:
    explicit StatsSampler(std::size_t capacity = 600) : capacity_(capacity) {}

    // One poll. Returns the new point (none for the first sample, or after the counters went
    // backwards, which means the service restarted: the baseline starts over).
    std::optional<StatsPoint> add(qint64 timeMs, const Json& stats);
    void reset() {
        last_.reset();
        points_.clear();
    }

    const std::deque<StatsPoint>& points() const { return points_; }
    const std::optional<StatsTotals>& lastTotals() const { return last_; }

  private:
    std::size_t capacity_;
    std::optional<StatsTotals> last_;
    qint64 lastTimeMs_ = 0;
    std::deque<StatsPoint> points_;
};

}  // namespace proxy::console
