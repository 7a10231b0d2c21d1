#pragma once
// The edge's mutable tables that outlive a config version: rate-limit buckets and temporary bans.
// The engine owns one; each snapshot's filters hold a pointer to it. A reload keeps a route's
// buckets when its limit is unchanged (same scope, rate and burst), so a client cannot reset its
// allowance by waiting for a reload, and bans stay in force.

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

    BanList& bans() { return bans_; }
    const BanList& bans() const { return bans_; }

private:
    std::mutex mutex_;
    // Weak: a limiter lives as long as a snapshot uses it; dead entries are dropped on the next call.
    std::map<std::string, std::weak_ptr<RateLimiter>> limiters_;
    BanList bans_;
};

}  // namespace proxy::security
