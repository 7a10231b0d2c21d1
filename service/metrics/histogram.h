#pragma once
// Latency histograms with log-linear buckets: each power of two is split into 4 equal buckets, so
// any value is within 25% of its bucket's bounds, from 1 µs to 2^41 µs (~25 days) in 160 fixed counters.
// Recording is one relaxed atomic add per counter: safe from every worker thread, no locks.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace proxy::metrics {

struct HistogramBuckets {
    static constexpr unsigned kSubBits = 2;
    static constexpr std::uint64_t kSub = 1u << kSubBits;  // buckets per power of two
    static constexpr unsigned kMaxExponent = 40;  // last full octave: [2^40, 2^41) µs
    static constexpr std::size_t kCount = kSub * kMaxExponent;

    // Bucket i holds the integer values [lowerBound(i), upperBound(i)).
    static constexpr std::size_t index(std::uint64_t v) {
        if (v < kSub) return static_cast<std::size_t>(v);
        const unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;  // >= kSubBits
        if (e > kMaxExponent) return kCount - 1;  // past ~2^41 µs: the last bucket
        return kSub * (e - kSubBits + 1) + ((v >> (e - kSubBits)) & (kSub - 1));
    }
    static constexpr std::uint64_t lowerBound(std::size_t i) {
        if (i < kSub) return i;
        const std::uint64_t e = i / kSub + kSubBits - 1;
        const std::uint64_t m = i % kSub;
        return (kSub + m) << (e - kSubBits);
    }
    // The last bucket has no finite upper bound; this returns its nominal one.
    static constexpr std::uint64_t upperBound(std::size_t i) { return lowerBound(i + 1); }
};

struct HistogramSnapshot {
    std::vector<std::uint64_t> counts;  // HistogramBuckets::kCount entries
    std::uint64_t count = 0;
    std::uint64_t sum = 0;
    // Estimated value at percentile p (0..100]: the upper bound of the bucket holding that rank,
    // so the estimate never understates (at most 25% above). 0 when empty.
    std::uint64_t percentile(double p) const;
    // Values < bound (bound must be a bucket boundary, e.g. a power of two).
    std::uint64_t countBelow(std::uint64_t bound) const;
};

class LatencyHistogram {
public:
    void record(std::uint64_t value) {
        counts_[HistogramBuckets::index(value)].fetch_add(1, std::memory_order_relaxed);
        count_.fetch_add(1, std::memory_order_relaxed);
        sum_.fetch_add(value, std::memory_order_relaxed);
    }
    HistogramSnapshot snapshot() const;

private:
    std::array<std::atomic<std::uint64_t>, HistogramBuckets::kCount> counts_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_{0};
};

}  // namespace proxy::metrics
