#pragma once
// The process-wide cache: the store, the fills in progress (collapsed forwarding), counters and
// purges. It outlives config snapshots (the service runtime owns it), so a reload keeps what is
// stored. Every method is thread-safe and non-blocking beyond short critical sections; workers
// call it from their filters, the control thread for stats and purges.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "cache/disk_store.h"
#include "cache/store.h"
#include "config/config.h"

namespace proxy::cache {

// One fetch of a key from the origin that other requests for the key wait on.
struct Fill {
    enum State : std::uint8_t { Running, Stored, NotStored };
    std::atomic<std::uint8_t> state{Running};
};

struct CacheCounters {
    std::atomic<std::uint64_t> hits{0}, misses{0}, stale{0}, revalidated{0}, expired{0},
        bypassed{0}, collapsed{0}, stored{0}, notStorable{0}, tooLarge{0}, purged{0},
        invalidated{0};
};

enum class PurgeKind : std::uint8_t { Url, Prefix, Tag };

class Cache {
public:
    explicit Cache(const config::CacheStorage& settings);
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;

    // A reload's new settings (budget shrinks evict at once). A disk path that changes (or that
    // could not be used before) opens a new disk store; one that cannot be used is logged as an
    // error and reported by diskStats(), and the cache then runs in memory only.
    void configure(const config::CacheStorage& settings);
    std::uint64_t maxObjectBytes() const { return maxObject_.load(std::memory_order_relaxed); }
    std::chrono::milliseconds collapseTimeout() const {
        return std::chrono::milliseconds(collapseMs_.load(std::memory_order_relaxed));
    }

    Store& store() { return *store_; }

    // Collapsed forwarding: the running fill of key, or a new one that the caller leads (leader =
    // true). The leader must call finishFill exactly once.
    std::shared_ptr<Fill> joinFill(const std::string& key, bool& leader);
    bool fillRunning(const std::string& key) const;
    void finishFill(const std::string& key, const std::shared_ptr<Fill>& fill, bool stored);

    // Removes what matches: an exact URL (normalised as keys are), a URL prefix, or a tag.
    std::size_t purge(PurgeKind kind, std::string_view value);

    CacheCounters& counters() { return counters_; }
    const CacheCounters& counters() const { return counters_; }
    StoreStats storeStats() const { return store_->stats(); }
    DiskStats diskStats() const;
    std::size_t fillsInProgress() const;

private:
    std::unique_ptr<TieredStore> store_;
    std::atomic<std::uint64_t> maxObject_{0};
    std::atomic<std::int64_t> collapseMs_{0};
    mutable std::mutex fillsMutex_;
    std::unordered_map<std::string, std::shared_ptr<Fill>> fills_;
    CacheCounters counters_;
};

// Normalises a purge target the way keys are made: "http://host/path?query" or "host/path"
// (taken as http). Returns "" when it cannot be read as a URL.
std::string normalizePurgeUrl(std::string_view text);

}  // namespace proxy::cache
