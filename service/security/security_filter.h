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
//      The bucket is the client's, or by rate_limit.key an API key header's, a cookie's (both fall
//      back to the client's when the request has none) or the whole route's.
// Before all of them, a banned client (security.bans, ban_list.h) gets 403 (action "banned"); a
// banned peer is refused at accept already. A 429 here counts as a strike toward a ban.
// Lists and limits come from the route's own "security" object where it sets them, else from the
// top level. The Accept phase refuses a denied peer before reading a byte, when no route has its
// own allow or deny list and the peer is not a trusted proxy.

#include <memory>
#include <vector>

#include "config/config.h"
#include "filter/filter.h"
#include "security/ip_set.h"
#include "security/edge_state.h"
#include "security/rate_limiter.h"

namespace proxy::routing { struct CompiledRoute; }

namespace proxy::security {

struct SecurityCounters {
    std::atomic<std::uint64_t> denied{0};
    std::atomic<std::uint64_t> notAllowed{0};
    std::atomic<std::uint64_t> rateLimited{0};  // every 429, whatever the key
    std::atomic<std::uint64_t> rateLimitedByKey{0};  // ... of which by a header, cookie or route key
    std::atomic<std::uint64_t> refusedAtAccept{0};
    std::atomic<std::uint64_t> banned{0};  // requests refused (403) because the client is banned
};

class SecurityFilter final : public filter::Filter {
public:
    // routes: the snapshot's compiled routes, in config order (route->order indexes them).
    // edge: the engine's buckets and bans (not owned; outlives the filter); null = this filter's
    // own buckets and no bans.
    SecurityFilter(const config::Config& config, std::size_t routeCount, EdgeState* edge = nullptr);

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
        config::RateLimit::Key rateKey = config::RateLimit::Key::Client;
        std::string rateKeyName;  // the header or cookie
    };
    // The bucket key of this request under `p` (empty: the client address).
    static std::string_view rateKey(const Policy& p, const filter::RequestContext& ctx);
    Policy compile(const config::SecurityPolicy& own, const Policy* inherit, const std::string& scope) const;
    // The client address for this request: the peer, or what trusted proxies say.
    std::string_view resolveClient(filter::RequestContext& ctx, IpKey& ip) const;

    IpSet trusted_;
    Policy global_;
    std::vector<Policy> routes_;  // by route order; inherits global_ key by key
    EdgeState* edge_ = nullptr;  // not owned
    bool bans_ = false;          // security.bans is on (and there is an edge to keep them)
    bool listsAtAccept_ = false;  // the top-level lists are checked at accept too
    bool checkAtAccept_ = false;  // ... or bans are
    bool active_ = false;
    SecurityCounters counters_;
};

}  // namespace proxy::security
