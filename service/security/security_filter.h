#pragma once
// The edge's request-level defences as one filter: the real client address (X-Forwarded-For from
// trusted proxies only), IP allow/deny lists and per-client rate limits, each global with
// per-route overrides. Runs in the global chain right after routing (it needs the route) and
// before the forwarding headers are rewritten (it reads the X-Forwarded-For that arrived).
//
// Order of evaluation (docs/security.md):
//   1. client address: the peer, or, when the peer is a trusted proxy, the right-most address in
//      X-Forwarded-For that is not itself trusted
//   2. deny list: a match gets 403                              (action "deny")
//   3. allow list: when non-empty, no match gets 403            (action "not-allowed")
//   4. rate limit: an empty bucket gets 429 with Retry-After     (action "rate-limit")
// Lists and limits come from the route's own "security" object where it sets them, else from the
// top level. The Accept phase refuses a denied peer before reading a byte, when no route has its
// own allow or deny list and the peer is not a trusted proxy.

#include <memory>
#include <vector>

#include "config/config.h"
#include "filter/filter.h"
#include "security/ip_set.h"
#include "security/rate_limiter.h"

namespace proxy::routing { struct CompiledRoute; }

namespace proxy::security {

struct SecurityCounters {
    std::atomic<std::uint64_t> denied{0};
    std::atomic<std::uint64_t> notAllowed{0};
    std::atomic<std::uint64_t> rateLimited{0};
    std::atomic<std::uint64_t> refusedAtAccept{0};
};

class SecurityFilter final : public filter::Filter {
public:
    // routes: the snapshot's compiled routes, in config order (route->order indexes them).
    SecurityFilter(const config::Config& config, std::size_t routeCount);

    std::string_view name() const override { return "security"; }
    unsigned phases() const override;
    filter::FilterStatus onAccept(filter::ConnectionInfo& connection) override;
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override;

    const SecurityCounters& counters() const { return counters_; }
    bool active() const { return active_; }

private:
    struct Policy {
        std::shared_ptr<const IpSet> allow;  // null or empty: everyone not denied
        std::shared_ptr<const IpSet> deny;
        std::shared_ptr<RateLimiter> rate;   // null: no limit
    };
    Policy compile(const config::SecurityPolicy& own, const Policy* inherit) const;
    // The client address for this request: the peer, or what trusted proxies say.
    std::string_view resolveClient(filter::RequestContext& ctx, IpKey& ip) const;

    IpSet trusted_;
    Policy global_;
    std::vector<Policy> routes_;  // by route order; inherits global_ key by key
    bool checkAtAccept_ = false;
    bool active_ = false;
    SecurityCounters counters_;
};

}  // namespace proxy::security
