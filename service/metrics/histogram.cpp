#include "metrics/histogram.h"

#include <cmath>

namespace proxy::metrics {

HistogramSnapshot LatencyHistogram::snapshot() const {
    HistogramSnapshot s;
    s.counts.resize(HistogramBuckets::kCount);
    // Counted from the buckets, so count always equals their sum even while workers record.
    for (std::size_t i = 0; i < HistogramBuckets::kCount; ++i) {
        s.counts[i] = counts_[i].load(std::memory_order_relaxed);
        s.count += s.counts[i];
    }
    s.sum = sum_.load(std::memory_order_relaxed);
    return s;
}

std::uint64_t HistogramSnapshot::percentile(double p) const {
    if (count == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count)));
    if (rank < 1) rank = 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (seen >= rank) return HistogramBuckets::upperBound(i);
    }
    return HistogramBuckets::upperBound(counts.size() - 1);
}

std::uint64_t HistogramSnapshot::countBelow(std::uint64_t bound) const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < counts.size() && HistogramBuckets::upperBound(i) <= bound; ++i) n += counts[i];
    return n;
}

}  // namespace proxy::metrics
