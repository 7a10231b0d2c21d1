#include "metrics/metrics_registry.h"

#include "logging/access_record.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <thread>

namespace proxy::metrics {

struct MetricsRegistry::Series {
    enum : std::uint8_t { Empty, Claimed, Ready };
    std::atomic<std::uint8_t> state{Empty};
    Scope scope = Scope::Listener;
    std::uint8_t nameLength = 0;
    char name[kMaxNameBytes];
    std::atomic<std::uint64_t> byClass[6]{};
    std::atomic<std::uint64_t> bytesIn{0};
    std::atomic<std::uint64_t> bytesOut{0};
    LatencyHistogram duration;

    std::string_view view() const { return {name, nameLength}; }
};

namespace {

std::uint64_t hashOf(Scope scope, std::string_view name) {
    std::uint64_t h = 1469598103934665603ull ^ static_cast<std::uint64_t>(scope);
    for (const char c : name) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}

constexpr std::string_view kClassNames[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

std::atomic<std::uint64_t> nextRegistryId{1};

// A small per-thread cache of recent lookups, keyed by where the name's bytes live: the data path
// passes names that live in the config snapshot (route, upstream and server names), so the same
// pointer comes back request after request. A hit is confirmed against the series' own copy of
// the name, so a pointer reused for other text after a reload only costs a miss.
struct LookupCacheEntry {
    std::uint64_t registry = 0;
    const char* data = nullptr;
    std::size_t size = 0;
    Scope scope = Scope::Listener;
    void* series = nullptr;
};
// Four slots per scope: a request's listener, route, upstream and server names never evict one
// another (with one slot for all, which of them collided depended on where the config's strings
// happened to be allocated; a bench run with the access log on missed three of four every request).
thread_local std::array<LookupCacheEntry, 16> lookupCache{};

std::size_t cacheSlot(Scope scope, const char* data) {
    const auto bits = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(data));
    return (static_cast<std::size_t>(scope) & 3) * 4 + static_cast<std::size_t>((bits * 0x9E3779B97F4A7C15ull) >> 62);
}

}  // namespace

std::string_view scopeName(Scope scope) {
    constexpr std::string_view kNames[] = {"listener", "route", "upstream", "server"};
    return kNames[static_cast<unsigned>(scope) & 3];
}

MetricsRegistry::MetricsRegistry(std::size_t capacity)
    : mask_(std::bit_ceil(std::max<std::size_t>(capacity, 16)) - 1),
      table_(std::make_unique<Series[]>(mask_ + 1)),
      id_(nextRegistryId.fetch_add(1, std::memory_order_relaxed)) {}

MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Series* MetricsRegistry::find(Scope scope, std::string_view name) {
    if (name.size() > kMaxNameBytes) name = name.substr(0, kMaxNameBytes);
    LookupCacheEntry& e = lookupCache[cacheSlot(scope, name.data())];
    if (e.registry == id_ && e.data == name.data() && e.size == name.size() && e.scope == scope) {
        auto* s = static_cast<Series*>(e.series);
        if (s->view() == name) return s;
    }
    Series* s = probe(scope, name);
    if (s != nullptr) e = {id_, name.data(), name.size(), scope, s};
    return s;
}

MetricsRegistry::Series* MetricsRegistry::probe(Scope scope, std::string_view name) {
    const std::uint64_t h = hashOf(scope, name);
    for (std::size_t probe = 0; probe <= mask_; ++probe) {
        Series& s = table_[(h + probe) & mask_];
        std::uint8_t state = s.state.load(std::memory_order_acquire);
        if (state == Series::Empty) {
            if (s.state.compare_exchange_strong(state, Series::Claimed, std::memory_order_acquire)) {
                s.scope = scope;
                std::memcpy(s.name, name.data(), name.size());
                s.nameLength = static_cast<std::uint8_t>(name.size());
                s.state.store(Series::Ready, std::memory_order_release);
                return &s;
            }
        }
        // Another thread is writing this slot's name: it takes a few nanoseconds, once per series.
        while ((state = s.state.load(std::memory_order_acquire)) == Series::Claimed) std::this_thread::yield();
        if (s.scope == scope && s.view() == name) return &s;
    }
    overflow_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
}

void MetricsRegistry::add(Series& s, const ExchangeSample& sample) {
    const int status = sample.status;
    s.byClass[status >= 100 && status < 600 ? status / 100 : 0].fetch_add(1, std::memory_order_relaxed);
    s.bytesIn.fetch_add(sample.bytesIn, std::memory_order_relaxed);
    s.bytesOut.fetch_add(sample.bytesOut, std::memory_order_relaxed);
    s.duration.record(sample.durationUs);
}

void MetricsRegistry::record(const ExchangeSample& sample) {
    const std::pair<Scope, std::string_view> keys[] = {{Scope::Listener, sample.listener},
                                                       {Scope::Route, sample.route},
                                                       {Scope::Upstream, sample.upstream},
                                                       {Scope::Server, sample.server}};
    for (const auto& [scope, name] : keys)
        if (!name.empty())
            if (Series* s = find(scope, name)) add(*s, sample);
}

std::vector<SeriesSnapshot> MetricsRegistry::snapshot() const {
    std::vector<SeriesSnapshot> out;
    for (std::size_t i = 0; i <= mask_; ++i) {
        const Series& s = table_[i];
        if (s.state.load(std::memory_order_acquire) != Series::Ready) continue;
        SeriesSnapshot snap;
        snap.scope = s.scope;
        snap.name = std::string(s.view());
        for (int c = 0; c < 6; ++c) {
            snap.byClass[c] = s.byClass[c].load(std::memory_order_relaxed);
            snap.requests += snap.byClass[c];
        }
        snap.bytesIn = s.bytesIn.load(std::memory_order_relaxed);
        snap.bytesOut = s.bytesOut.load(std::memory_order_relaxed);
        snap.duration = s.duration.snapshot();
        out.push_back(std::move(snap));
    }
    std::sort(out.begin(), out.end(), [](const SeriesSnapshot& a, const SeriesSnapshot& b) {
        return a.scope != b.scope ? a.scope < b.scope : a.name < b.name;
    });
    return out;
}

control::Json MetricsRegistry::toJson() const {
    using control::Json;
    Json out = {{"listeners", Json::object()}, {"routes", Json::object()},
                {"upstreams", Json::object()}, {"servers", Json::object()}};
    constexpr const char* kGroups[] = {"listeners", "routes", "upstreams", "servers"};
    for (const SeriesSnapshot& s : snapshot()) {
        Json classes = Json::object();
        for (int c = 0; c < 6; ++c) classes[std::string(kClassNames[c])] = s.byClass[c];
        Json entry = {{"requests", s.requests},
                      {"by_class", classes},
                      {"bytes_in", s.bytesIn},
                      {"bytes_out", s.bytesOut},
                      {"latency_us",
                       {{"count", s.duration.count},
                        {"sum", s.duration.sum},
                        {"p50", s.duration.percentile(50)},
                        {"p95", s.duration.percentile(95)},
                        {"p99", s.duration.percentile(99)}}}};
        // Names come from the config (valid UTF-8); replace anything else rather than throw later.
        out[kGroups[static_cast<unsigned>(s.scope) & 3]][logging::sanitizeUtf8(s.name)] = std::move(entry);
    }
    out["overflow"] = overflow();
    return out;
}

}  // namespace proxy::metrics
