#include "waf/waf_filter.h"

#include <algorithm>
#include <set>

#include "filter/request_context.h"
#include "logging/log.h"
#include "routing/router.h"

namespace proxy::waf {
namespace {

constexpr std::size_t kMaxMatches = 32;        // per exchange; the rest are counted, not kept
constexpr std::size_t kMaxMessageBytes = 240;  // of a rule's message and matched data
constexpr std::size_t kMaxActionIds = 8;       // rule ids named in the security column

// "[id \"949110\"]" -> 949110; "[msg \"...\"]" -> the text. The intervention's log line is the
// only place ModSecurity reports the rule that disrupted.
std::string_view bracketField(std::string_view log, std::string_view key) {
    const std::string open = "[" + std::string(key) + " \"";
    const auto at = log.find(open);
    if (at == std::string_view::npos) return {};
    const auto start = at + open.size();
    const auto end = log.find("\"]", start);
    return end == std::string_view::npos ? std::string_view() : log.substr(start, end - start);
}

int toRuleId(std::string_view s) {
    int id = 0;
    for (char c : s) {
        if (c < '0' || c > '9' || id > 99'999'999) return 0;
        id = id * 10 + (c - '0');
    }
    return id;
}

bool anomalyVerdict(int ruleId) { return ruleId == 949110 || ruleId == 959100 || ruleId == 980130; }

}  // namespace

// One exchange's ModSecurity transaction and what the filter holds for it.
class WafFilter::Exchange final : public filter::ExchangeState, public bridge::MatchCollector {
public:
    Exchange(const WafRules& rules, std::string_view requestId)
        : rules_(rules) {
        // Our request id is the transaction's unique id.
        tx = std::make_unique<bridge::Transaction>(rules.rules(), std::string(requestId), this);
    }

    void ruleMatched(int ruleId, std::string_view message, std::string_view data) override {
        if (matches.size() >= kMaxMatches) {
            ++unkept;
            return;
        }
        std::string text(message.substr(0, kMaxMessageBytes));
        if (!data.empty()) {
            text += " [";
            text += data.substr(0, kMaxMessageBytes);
            text += "]";
        }
        matches.push_back({ruleId, std::move(text)});
    }

    struct Match {
        int id;
        std::string text;
    };
    const WafRules& rules_;
    std::vector<Match> matches;
    std::size_t logged = 0;   // matches already written to the error log
    std::size_t unkept = 0;   // matches over kMaxMatches
    std::string held;         // request body bytes held back until the decision
    std::uint64_t fed = 0;    // bytes given to ModSecurity
    bool bodyDecided = false; // the body's verdict is in; the rest streams through
    bool blocked = false;     // answered (403/413): later phases have nothing to inspect
    bool detected = false;    // detect mode: would have been refused (counted once)
    std::string action;       // the access log's security column (ctx.securityAction views it)
    std::unique_ptr<bridge::Transaction> tx;  // last: destroyed first (it points at *this)
};

std::expected<std::unique_ptr<WafFilter>, std::string> WafFilter::create(const config::Config& config,
                                                                         std::size_t routeCount,
                                                                         security::EdgeState* edge) {
    auto f = std::unique_ptr<WafFilter>(new WafFilter());
    f->edge_ = edge;
    f->bans_ = edge != nullptr && config.security.bans.strikes > 0;
    auto build = [](const std::optional<config::Waf>& waf)
        -> std::expected<std::shared_ptr<const WafRules>, std::string> {
        if (!waf || waf->mode == config::Waf::Mode::Off) return std::shared_ptr<const WafRules>();
        return WafRules::compile(*waf);
    };
    auto global = build(config.security.policy.waf);
    if (!global) return std::unexpected("security.waf: " + global.error());
    f->global_ = *global;
    f->active_ = f->global_ != nullptr;
    f->routes_.reserve(routeCount);
    for (std::size_t i = 0; i < routeCount && i < config.routes.size(); ++i) {
        const config::Route& r = config.routes[i];
        if (!r.security.waf) {
            f->routes_.push_back(f->global_);
            continue;
        }
        auto own = build(r.security.waf);
        if (!own) return std::unexpected("route '" + r.name + "': security.waf: " + own.error());
        f->routes_.push_back(*own);
        f->active_ = f->active_ || *own != nullptr;
    }
    return f;
}

unsigned WafFilter::phases() const {
    if (!active_) return 0;
    return filter::phaseBit(filter::Phase::RequestHeaders) | filter::phaseBit(filter::Phase::RequestBody) |
           filter::phaseBit(filter::Phase::ResponseHeaders);
}

std::size_t WafFilter::ruleSets() const {
    std::set<const WafRules*> distinct;
    if (global_) distinct.insert(global_.get());
    for (const auto& r : routes_)
        if (r) distinct.insert(r.get());
    return distinct.size();
}

const WafRules* WafFilter::rulesFor(const filter::RequestContext& ctx) const {
    if (ctx.route != nullptr && ctx.route->order < routes_.size()) return routes_[ctx.route->order].get();
    return global_.get();
}

filter::FilterStatus WafFilter::decide(filter::RequestContext& ctx, Exchange& x) {
    const bridge::Intervention it = x.tx->intervention();
    const bool disrupt = it.disruptive;
    if (disrupt && !it.log.empty()) {
        const int id = toRuleId(bracketField(it.log, "id"));
        if (id != 0) x.ruleMatched(id, bracketField(it.log, "msg"), {});
    }

    const bool blocking = x.rules_.blocking();
    const bool block = disrupt && blocking;
    const char* mode = blocking ? "block" : "detect";
    for (; x.logged < x.matches.size(); ++x.logged) {
        const auto& m = x.matches[x.logged];
        logging::logRequest(logging::Level::Warn, ctx.requestId, "waf %s: rule %d: %s", mode, m.id,
                            m.text.c_str());
    }
    if (x.matches.empty()) return filter::FilterStatus::Continue;

    const bool wouldBlock = disrupt || std::any_of(x.matches.begin(), x.matches.end(),
                                                   [](const auto& m) { return anomalyVerdict(m.id); });
    const bool firstVerdict = x.action.empty();
    x.action = block ? "waf-block" : !blocking ? "waf-detect" : "waf-match";
    std::size_t named = 0;
    for (const auto& m : x.matches) {
        if (named == kMaxActionIds) break;
        x.action += named++ == 0 ? ' ' : ',';
        x.action += std::to_string(m.id);
    }
    ctx.securityAction = x.action;
    if (firstVerdict) counters_.matched.fetch_add(1, std::memory_order_relaxed);
    if (block) {
        x.blocked = true;
        counters_.blocked.fetch_add(1, std::memory_order_relaxed);
        if (bans_) {
            const std::string_view client =
                ctx.clientAddress.empty() ? ctx.connection->clientAddress : ctx.clientAddress;
            security::IpKey ip;
            if (security::parseClientIp(client, ip)) edge_->bans().strike(ip, client, "waf");
        }
        // The rules' status when they name an error (400 for a body that does not parse).
        const int status = it.status >= 400 && it.status <= 599 ? it.status : 403;
        ctx.local = {status, status == 400 ? "the request body does not parse (web application firewall)"
                                           : "the request was blocked by the web application firewall"};
        return filter::FilterStatus::Respond;
    }
    if (!blocking && wouldBlock && !x.detected) {
        x.detected = true;  // counted once per exchange
        counters_.detected.fetch_add(1, std::memory_order_relaxed);
    }
    return filter::FilterStatus::Continue;
}

filter::FilterStatus WafFilter::onRequestHeaders(filter::RequestContext& ctx) {
    const WafRules* rules = rulesFor(ctx);
    if (rules == nullptr || ctx.request == nullptr || ctx.connection == nullptr)
        return filter::FilterStatus::Continue;
    auto owned = std::make_unique<Exchange>(*rules, ctx.requestId);
    Exchange& x = *owned;
    ctx.setState(this, std::move(owned));
    counters_.inspected.fetch_add(1, std::memory_order_relaxed);

    const http::RequestHead& q = *ctx.request;
    const std::string client(ctx.clientAddress.empty() ? ctx.connection->clientAddress : ctx.clientAddress);
    const std::string local(ctx.connection->localAddress);
    x.tx->connection(client, ctx.connection->clientPort, local, 0);
    const std::string target(q.target.empty() ? q.path : q.target);
    const std::string method(q.methodText);
    x.tx->uri(target, method, q.version == http::Version::Http10 ? "1.0" : "1.1");
    for (const http::Header& h : q.headers.fields()) x.tx->requestHeader(h.name, h.value);
    x.tx->requestHeadersDone();
    if (decide(ctx, x) == filter::FilterStatus::Respond) return filter::FilterStatus::Respond;

    const config::Waf& s = rules->settings();
    if (q.framing == http::BodyFraming::None || s.requestBodyLimit == 0) {
        // Nothing to hold back: phase 2 (where most CRS rules look at the arguments) runs now.
        x.tx->requestBodyDone();
        x.bodyDecided = true;
        return decide(ctx, x);
    }
    if (q.framing == http::BodyFraming::ContentLength && q.contentLength > s.requestBodyLimit &&
        s.overLimit == config::Waf::OverLimit::Reject) {
        counters_.bodyOverLimit.fetch_add(1, std::memory_order_relaxed);
        x.blocked = true;
        ctx.securityAction = "waf-body-limit";
        ctx.local = {413, "the request body is larger than the web application firewall inspects"};
        return filter::FilterStatus::Respond;
    }
    return filter::FilterStatus::Continue;
}

filter::FilterStatus WafFilter::onRequestBody(filter::RequestContext& ctx, filter::BodyChunk& chunk) {
    auto* x = static_cast<Exchange*>(ctx.state(this));
    if (x == nullptr || x->bodyDecided) return filter::FilterStatus::Continue;
    const config::Waf& s = x->rules_.settings();
    const std::uint64_t room = s.requestBodyLimit - std::min<std::uint64_t>(x->fed, s.requestBodyLimit);
    if (chunk.data.size() > room && s.overLimit == config::Waf::OverLimit::Reject) {
        counters_.bodyOverLimit.fetch_add(1, std::memory_order_relaxed);
        x->blocked = true;
        x->bodyDecided = true;
        ctx.securityAction = "waf-body-limit";
        ctx.local = {413, "the request body is larger than the web application firewall inspects"};
        return filter::FilterStatus::Respond;
    }
    const std::size_t feed = static_cast<std::size_t>(std::min<std::uint64_t>(room, chunk.data.size()));
    x->tx->requestBody(chunk.data.substr(0, feed));
    x->fed += feed;
    x->held.append(chunk.data);  // bounded: at most the limit plus one read
    const bool partial = x->fed >= s.requestBodyLimit && s.overLimit == config::Waf::OverLimit::InspectPartial;
    if (!chunk.last && !partial) {
        chunk.data = {};  // held until the verdict
        return filter::FilterStatus::Continue;
    }
    if (partial && (!chunk.last || feed < chunk.data.size()))
        counters_.bodyOverLimit.fetch_add(1, std::memory_order_relaxed);
    x->tx->requestBodyDone();
    x->bodyDecided = true;
    if (decide(ctx, *x) == filter::FilterStatus::Respond) return filter::FilterStatus::Respond;
    chunk.data = x->held;  // stays valid: held is not touched again
    return filter::FilterStatus::Continue;
}

filter::FilterStatus WafFilter::onResponseHeaders(filter::RequestContext& ctx) {
    auto* x = static_cast<Exchange*>(ctx.state(this));
    if (x == nullptr || x->blocked || ctx.response == nullptr) return filter::FilterStatus::Continue;
    for (const http::Header& h : ctx.response->headers.fields()) x->tx->responseHeader(h.name, h.value);
    x->tx->responseHeadersDone(ctx.response->status);
    return decide(ctx, *x);
}

}  // namespace proxy::waf
