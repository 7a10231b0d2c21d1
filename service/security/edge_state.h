#pragma once
// The edge's mutable tables that outlive a config version: rate-limit buckets and temporary bans.
// The engine owns one; each snapshot's filters hold a pointer to it. A reload keeps a route's
// buckets when its limit is unchanged (same scope, rate and burst), so a client cannot reset its
// allowance by waiting for a reload, and bans stay in force.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "security/ban_list.h"
#include "security/rate_limiter.h"

namespace proxy::security {

class EdgeState {
public:
    // The limiter for `scope` ("global", "route:NAME") with these settings: the one a live
    // snapshot already uses, or a new one (full buckets). Called when a snapshot is built.
    std::shared_ptr<RateLimiter> rateLimiter(const std::string& scope, std::uint32_t rate, std::uint32_t burst);

    // security.min_body_rate: a request body too slow was refused (the session counts it here; a
    // strike against the client is the caller's, when bans are on).
    void countSlowBody() { slowBodies_.fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t slowBodies() const { return slowBodies_.load(std::memory_order_relaxed); }

    BanList& bans() { return bans_; }
    const BanList& bans() const { return bans_; }

private:
    std::mutex mutex_;
    // Weak: a limiter lives as long as a snapshot uses it; dead entries are dropped on the next call.
    std::map<std::string, std::weak_ptr<RateLimiter>> limiters_;
    BanList bans_;
    std::atomic<std::uint64_t> slowBodies_{0};  // since start
};

}  // namespace proxy::security
