#pragma once
// The WAF as a filter: every exchange on a route with waf.mode detect or block runs through a
// ModSecurity transaction (OWASP CRS), phase by phase:
//
//   RequestHeaders   request line and headers (CRS phase 1); a bodiless request also gets its
//                    phase 2 here, so the decision is made before anything goes upstream
//   RequestBody      the body is held back, up to waf.request_body_limit bytes, and forwarded only
//                    once ModSecurity has seen it (phase 2). Past the limit: 413 (over_limit
//                    "reject"), or the first bytes decide and the rest streams uninspected
//                    ("inspect_partial"). A body blocked here never reaches the origin: it saw
//                    only the request head, and the connection to it is closed.
//   ResponseHeaders  the origin's status and headers (phase 3), before the client sees them
//   Log              nothing: the audit log is off; matches go to the error log instead
//
// Block mode answers 403 with the request id (the error page carries it); detect mode only logs.
// Every matched rule is written to the error log with its id and message, and the access log's
// security column (hence the live feed) names the outcome and the rule ids:
// "waf-block 942100,949110", "waf-detect 941100,949110", "waf-match 920350" (a match under the
// anomaly threshold in block mode), "waf-body-limit".
//
// The filter runs in the global chain after the security filter (a client that is denied or
// rate-limited costs no inspection) and before the forwarding headers are added, so ModSecurity
// sees the request as the client sent it.

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filter/filter.h"
#include "security/edge_state.h"
#include "waf/waf_rules.h"

namespace proxy::waf {

struct WafCounters {
    std::atomic<std::uint64_t> inspected{0};  // exchanges that had a transaction
    std::atomic<std::uint64_t> blocked{0};    // answered 403
    std::atomic<std::uint64_t> detected{0};   // detect mode: would have been blocked
    std::atomic<std::uint64_t> matched{0};    // exchanges with at least one matched rule
    std::atomic<std::uint64_t> bodyOverLimit{0};
};

class WafFilter final : public filter::Filter {
public:
    // Compiles (or reuses) the rules for the top-level policy and each route's own. Fails with a
    // sentence naming the route when the rules cannot be loaded.
    // edge (not owned, outlives the filter; may be null): a block counts as a strike toward a
    // temporary ban there.
    static std::expected<std::unique_ptr<WafFilter>, std::string> create(const config::Config& config,
                                                                         std::size_t routeCount,
                                                                         security::EdgeState* edge = nullptr);

    std::string_view name() const override { return "waf"; }
    unsigned phases() const override;
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override;
    filter::FilterStatus onRequestBody(filter::RequestContext& ctx, filter::BodyChunk& chunk) override;
    filter::FilterStatus onResponseHeaders(filter::RequestContext& ctx) override;

    bool active() const { return active_; }
    const WafCounters& counters() const { return counters_; }
    // Distinct compiled rule sets in use (routes with equal settings share one).
    std::size_t ruleSets() const;

private:
    WafFilter() = default;
    class Exchange;
    const WafRules* rulesFor(const filter::RequestContext& ctx) const;
    // Reads the transaction's intervention after a phase: Respond (403) in block mode when the
    // rules say so. Logs the matches the phase added either way.
    filter::FilterStatus decide(filter::RequestContext& ctx, Exchange& x);

    std::shared_ptr<const WafRules> global_;               // null: off
    std::vector<std::shared_ptr<const WafRules>> routes_;  // by route order; null: off
    security::EdgeState* edge_ = nullptr;  // not owned
    bool bans_ = false;
    bool active_ = false;
    mutable WafCounters counters_;
};

}  // namespace proxy::waf
