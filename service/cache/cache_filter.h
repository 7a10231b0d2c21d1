#pragma once
// The HTTP cache as a route filter (route "cache": {"enabled": true}); docs/cache.md.
// - RequestHeaders: bypass rules, the key, the lookup. A usable stored response is served
//   (FilterStatus::Serve with ctx.stored); a stale one with validators makes the request
//   conditional; a key another request is already fetching waits for that fill (collapsed
//   forwarding, bounded by cache.collapse_timeout_ms).
// - ResponseHeaders: a 304 refreshes the stored copy and serves it; a 5xx may be replaced by a
//   stale copy (stale-if-error); a storable response starts being stored.
// - ResponseBody: the body is copied as it streams to the first client; an object over
//   cache.max_object_kb stops being stored and just passes through.
// It must be the route's last filter, so it stores what the client got (route header rules and
// compression applied) and so a request it sends on upstream has passed every other filter.

#include <string>
#include <vector>

#include "cache/cache.h"
#include "cache/cache_key.h"
#include "config/config.h"
#include "filter/filter.h"
#include "filter/request_context.h"

namespace proxy::cache {

// Whether a response may be stored (RFC 9111 3 plus this cache's policy), pure so it is tested
// alone. `why` gets a short static reason when not.
struct StorableInputs {
    http::Method method = http::Method::Get;
    int status = 200;
    const ResponseDirectives* directives = nullptr;  // not owned
    const RequestDirectives* request = nullptr;      // not owned
    bool authorization = false;     // the request carried Authorization
    bool allowAuthorized = false;   // the route allows caching those (RFC 9111 3.5 still applies)
    bool setCookie = false;
    bool varyStar = false;
    bool contentRange = false;
    bool hasLifetime = false;       // explicit, heuristic, default or override freshness
    bool hasValidator = false;
};
bool storable(const StorableInputs& in, std::string_view& why);

class CacheFilter final : public filter::Filter {
public:
    CacheFilter(const config::RouteCache& config, Cache& cache);
    std::string_view name() const override { return "cache"; }
    unsigned phases() const override {
        return filter::phaseBit(filter::Phase::RequestHeaders) |
               filter::phaseBit(filter::Phase::ResponseHeaders) |
               filter::phaseBit(filter::Phase::ResponseBody);
    }
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override;
    filter::FilterStatus onResponseHeaders(filter::RequestContext& ctx) override;
    filter::FilterStatus onResponseBody(filter::RequestContext& ctx, filter::BodyChunk& chunk) override;

    Cache& cache() const { return cache_; }
    const KeyRules& keyRules() const { return keyRules_; }

    // Freshness lifetime for a response on this route: a TTL override, the origin's, the route's
    // default, or the heuristic. nullopt when none applies.
    std::optional<Seconds> lifetimeFor(std::string_view path, const http::ResponseHead& response,
                                       const ResponseDirectives& cc, const AgeInputs& age) const;

private:
    Cache& cache_;  // not owned; the runtime's, outlives every snapshot
    KeyRules keyRules_;
    std::vector<config::CacheTtlRule> ttlOverrides_;
    std::uint64_t defaultTtl_ = 0;
    std::vector<std::string> bypassCookies_;
    std::vector<std::string> bypassHeaders_;
    bool allowAuthorized_ = false;
    std::string tagHeader_;
};

}  // namespace proxy::cache
