#pragma once
// Request counters and latency histograms per listener, route, upstream group and upstream server.
// The data path records into a fixed-capacity, lock-free table (series are found by hash and
// claimed with one CAS the first time a name is seen; never removed, never moved), so recording
// takes no lock and allocates nothing. Readers (stats.get, Prometheus) take a snapshot.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/json_rpc.h"
#include "metrics/histogram.h"

namespace proxy::metrics {

enum class Scope : std::uint8_t { Listener, Route, Upstream, Server };
std::string_view scopeName(Scope scope);  // "listener", "route", "upstream", "server"

// One finished exchange, as metrics see it. Empty names are not recorded for that scope.
struct ExchangeSample {
    std::string_view listener;
    std::string_view route;
    std::string_view upstream;
    std::string_view server;
    int status = 0;  // 0 = no response sent
    std::uint64_t bytesIn = 0;
    std::uint64_t bytesOut = 0;
    std::uint64_t durationUs = 0;
};

struct SeriesSnapshot {
    Scope scope = Scope::Listener;
    std::string name;
    std::array<std::uint64_t, 6> byClass{};  // [0] no status, [1] 1xx .. [5] 5xx
    std::uint64_t requests = 0;
    std::uint64_t bytesIn = 0;
    std::uint64_t bytesOut = 0;
    HistogramSnapshot duration;  // µs
};

class MetricsRegistry {
public:
    static constexpr std::size_t kMaxNameBytes = 120;

    explicit MetricsRegistry(std::size_t capacity = 1024);
    ~MetricsRegistry();
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    // Data path: lock-free, allocation-free.
    void record(const ExchangeSample& sample);

    std::vector<SeriesSnapshot> snapshot() const;  // ordered by scope, then name
    // Series that could not be created because the table was full (their samples are lost).
    std::uint64_t overflow() const { return overflow_.load(std::memory_order_relaxed); }
    // {"listeners": {name: {...}}, "routes": ..., "upstreams": ..., "servers": ..., "overflow": n}
    // Each entry: requests, by_class {"2xx": n, ...}, bytes_in, bytes_out,
    // latency_us {count, sum, p50, p95, p99} (histogram estimates).
    control::Json toJson() const;

private:
    struct Series;
    Series* find(Scope scope, std::string_view name);
    Series* probe(Scope scope, std::string_view name);  // find() without the per-thread cache
    void add(Series& series, const ExchangeSample& sample);

    std::size_t mask_;
    std::unique_ptr<Series[]> table_;
    std::atomic<std::uint64_t> overflow_{0};
    const std::uint64_t id_;  // unique per registry, for the per-thread lookup cache
};

}  // namespace proxy::metrics
