#pragma once
// Per-client token buckets in a fixed table: memory is the same for ten clients or ten million.
// Shared by every worker; each bucket is a 32-byte slot guarded by a one-byte spin lock held for
// a few instructions (two workers rarely want the same slot at once). A client's key picks two
// candidate slots (seeded hash, so an attacker cannot aim at a victim's slot); it takes a slot
// whose bucket is full again (idle) when its own is not there. When both candidates are busy with
// other clients it shares one: counts are approximate, and sharing only ever limits sooner, never
// later ("approximate but safe").

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include "security/ip_set.h"

namespace proxy::security {

class RateLimiter {
public:
    struct Verdict {
        bool allowed = true;
        std::uint32_t retryAfterMs = 0;  // when refused: until one request's token is back
    };

    // rate: requests per second (> 0); burst: bucket size (0 = rate). slots: a power of two.
    RateLimiter(std::uint32_t rate, std::uint32_t burst, std::size_t slots = std::size_t{1} << 16);
    ~RateLimiter();

    // Takes one token for `client` at `nowMs` (a steady clock in milliseconds).
    Verdict take(const IpKey& client, std::int64_t nowMs);
    // Takes one token for a key other than an address (an API key header, a cookie, a whole
    // route: rate_limit.key). Hashed with the same seed in a domain of its own, so a key never
    // aims at an address's slot and "10.0.0.1" as a header value is not that client's bucket.
    Verdict take(std::string_view key, std::int64_t nowMs);
    static std::int64_t nowMs();

    std::uint32_t rate() const { return rate_; }
    std::uint32_t burst() const { return burst_; }
    std::size_t memoryBytes() const;
    std::uint64_t sharedSlots() const { return shared_.load(std::memory_order_relaxed); }

private:
    struct Slot;
    Verdict takeHashed(std::uint64_t key, std::int64_t nowMs);

    std::uint32_t rate_;
    std::uint32_t burst_;
    std::int64_t fullMillis_;  // milli-tokens of a full bucket
    std::size_t mask_;
    std::uint64_t seed_;
    std::unique_ptr<Slot[]> slots_;
    std::atomic<std::uint64_t> shared_{0};  // takes that had to share a slot (visibility)
};

}  // namespace proxy::security
