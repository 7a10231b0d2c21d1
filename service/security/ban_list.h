#pragma once
// Temporary bans (security.bans): a client that trips the edge's limits again and again (429 from
// a rate limit, a WAF block, a connection over its limit) is banned for a growing interval.
//
// A client collects strikes; `strikes` of them within `window` ban it for `ban`, and each further
// ban of the same address doubles the length, up to `maxBan`. The list is bounded: it tracks at
// most `capacity` addresses, and a new one takes the place of the least recently struck address
// that is not banned now (or, when all are banned, of the ban that ends first) among a sample of
// 32, so a flood of new addresses costs the same per strike whatever the capacity.
// Lookups on the data path cost one relaxed atomic load while nobody is banned, else a shared
// lock and a hash lookup. The list belongs to the process, not to a config version: a reload
// keeps it (and applies the new settings from then on).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "security/ip_set.h"

namespace proxy::security {

class BanList {
public:
    using Clock = std::chrono::steady_clock;
    struct Settings {
        std::uint32_t strikes = 0;  // 0 = bans are off
        std::chrono::milliseconds window{60'000};
        std::chrono::milliseconds ban{60'000};
        std::chrono::milliseconds maxBan{3'600'000};
        std::size_t capacity = 10'000;
    };
    struct Entry {
        std::string address;
        std::uint32_t strikes = 0;          // within the current window
        std::uint32_t bans = 0;             // how many times banned (the next ban is longer)
        std::string reason;                 // of the last strike
        std::int64_t bannedForMs = 0;       // remaining; 0 = not banned now
        std::int64_t banLengthMs = 0;       // of the current ban
    };

    void configure(const Settings& settings);
    Settings settings() const;

    // Records a strike against `ip` (reason: static text such as "rate-limit"). Returns true when
    // this strike started a ban.
    bool strike(const IpKey& ip, std::string_view address, std::string_view reason,
                Clock::time_point now = Clock::now());
    bool banned(const IpKey& ip, Clock::time_point now = Clock::now()) const;
    // Lifts a ban and forgets the address's history. False when it was not tracked.
    bool unban(const IpKey& ip);
    // Banned addresses first (longest remaining first), then the rest, at most `limit`.
    std::vector<Entry> list(std::size_t limit, Clock::time_point now = Clock::now()) const;

    std::uint64_t bansTotal() const { return bansTotal_.load(std::memory_order_relaxed); }
    std::uint64_t refusedTotal() const { return refused_.load(std::memory_order_relaxed); }
    void countRefused() const { refused_.fetch_add(1, std::memory_order_relaxed); }
    std::size_t tracked() const;

private:
    struct Key {
        IpKey ip;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const;
    };
    struct Record {
        std::string address;
        Clock::time_point windowStart;
        Clock::time_point lastStrike;
        Clock::time_point bannedUntil;  // epoch: never
        std::chrono::milliseconds banLength{0};
        std::uint32_t strikes = 0;
        std::uint32_t bans = 0;
        std::string_view reason;  // static text
    };
    void evictOne(Clock::time_point now);  // mutex_ held exclusively

    mutable std::shared_mutex mutex_;
    Settings settings_;
    std::unordered_map<Key, Record, KeyHash> records_;
    std::size_t cursor_ = 0;  // where the next eviction sample starts
    std::atomic<std::uint32_t> activeBans_{0};  // upper bound of bans in force (0: skip lookups)
    std::atomic<std::uint64_t> bansTotal_{0};
    mutable std::atomic<std::uint64_t> refused_{0};
};

}  // namespace proxy::security
