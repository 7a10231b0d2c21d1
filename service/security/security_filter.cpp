#include "security/security_filter.h"

#include "filter/request_context.h"
#include "routing/router.h"

namespace proxy::security {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The value of cookie `name` in a Cookie header ("a=1; b=2"); empty when absent.
std::string_view findCookie(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const auto semi = header.find(';');
        std::string_view pair = trim(header.substr(0, semi));
        header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
        const auto eq = pair.find('=');
        if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
        std::string_view value = trim(pair.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        return value;
    }
    return {};
}

// "[2001:db8::1]:443" and "192.0.2.1:8080" as some proxies write them: the address alone.
std::string_view stripPort(std::string_view s) {
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        return close == std::string_view::npos ? s : s.substr(1, close - 1);
    }
    const auto colon = s.find(':');
    if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos)
        return s.substr(0, colon);  // one colon: IPv4 with a port
    return s;
}

}  // namespace

SecurityFilter::SecurityFilter(const config::Config& config, std::size_t routeCount, EdgeState* edge)
    : trusted_(config.security.trustedProxies), edge_(edge),
      bans_(edge != nullptr && config.security.bans.strikes > 0) {
    global_ = compile(config.security.policy, nullptr, "global");
    bool routeLists = false;
    routes_.reserve(routeCount);
    for (std::size_t i = 0; i < routeCount && i < config.routes.size(); ++i) {
        const config::SecurityPolicy& own = config.routes[i].security;
        routes_.push_back(compile(own, &global_, "route:" + config.routes[i].name));
        routeLists = routeLists || own.allow || own.deny;
    }
    auto listed = [](const Policy& p) { return (p.allow && !p.allow->empty()) || (p.deny && !p.deny->empty()); };
    listsAtAccept_ = !routeLists && listed(global_);
    checkAtAccept_ = listsAtAccept_ || bans_;
    active_ = listed(global_) || global_.rate != nullptr || !trusted_.empty() || bans_;
    for (const Policy& p : routes_) active_ = active_ || listed(p) || p.rate != nullptr;
}

SecurityFilter::Policy SecurityFilter::compile(const config::SecurityPolicy& own, const Policy* inherit,
                                               const std::string& scope) const {
    Policy p = inherit ? *inherit : Policy{};
    if (own.allow) p.allow = std::make_shared<const IpSet>(*own.allow);
    if (own.deny) p.deny = std::make_shared<const IpSet>(*own.deny);
    if (own.rateLimit) {
        const std::uint32_t rate = own.rateLimit->requestsPerSecond, burst = own.rateLimit->burst;
        // With an edge, the buckets of an unchanged limit carry over from the last config version.
        p.rateKey = own.rateLimit->key;
        p.rateKeyName = own.rateLimit->keyName;
        // A limit keyed differently is another table (its buckets hold other things).
        const std::string keyed = scope + '\n' + std::to_string(static_cast<int>(p.rateKey)) + ':' + p.rateKeyName;
        p.rate = rate == 0        ? nullptr
                 : edge_ != nullptr ? edge_->rateLimiter(keyed, rate, burst)
                                    : std::make_shared<RateLimiter>(rate, burst);
    }
    return p;
}

unsigned SecurityFilter::phases() const {
    if (!active_) return 0;
    return filter::phaseBit(filter::Phase::RequestHeaders) |
           (checkAtAccept_ ? filter::phaseBit(filter::Phase::Accept) : 0u);
}

filter::FilterStatus SecurityFilter::onAccept(filter::ConnectionInfo& connection) {
    IpKey ip;
    if (!parseClientIp(connection.clientAddress, ip)) return filter::FilterStatus::Continue;
    if (trusted_.contains(ip)) return filter::FilterStatus::Continue;  // judged per request
    if (bans_ && edge_->bans().banned(ip)) {
        edge_->bans().countRefused();
        return filter::FilterStatus::Close;
    }
    if (!listsAtAccept_) return filter::FilterStatus::Continue;
    const bool denied = global_.deny && global_.deny->contains(ip);
    const bool notAllowed = global_.allow && !global_.allow->empty() && !global_.allow->contains(ip);
    if (denied || notAllowed) {
        counters_.refusedAtAccept.fetch_add(1, std::memory_order_relaxed);
        return filter::FilterStatus::Close;
    }
    return filter::FilterStatus::Continue;
}

std::string_view SecurityFilter::resolveClient(filter::RequestContext& ctx, IpKey& ip) const {
    std::string_view client = ctx.connection->clientAddress;
    if (!parseClientIp(client, ip)) return client;
    if (trusted_.empty() || !trusted_.contains(ip)) return client;
    // Walk X-Forwarded-For from the right (the nearest hop first); every field counts, in order.
    const auto& fields = ctx.request->headers.fields();
    for (auto f = fields.rbegin(); f != fields.rend(); ++f) {
        if (!http::iequals(f->name, "X-Forwarded-For")) continue;
        std::string_view list = f->value;
        while (!list.empty()) {
            const auto comma = list.rfind(',');
            const std::string_view item =
                stripPort(trim(comma == std::string_view::npos ? list : list.substr(comma + 1)));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
            IpKey hop;
            if (!parseClientIp(item, hop)) return client;  // garbage: stop at the last good one
            client = item;
            ip = hop;
            if (!trusted_.contains(hop)) return client;
        }
    }
    return client;
}

std::string_view SecurityFilter::rateKey(const Policy& p, const filter::RequestContext& ctx) {
    using Key = config::RateLimit::Key;
    switch (p.rateKey) {
        case Key::Client: return {};
        case Key::Route: return "route";  // one bucket for the whole scope
        case Key::Header: {
            // The first field of that name; an empty value counts as absent.
            const auto* header = ctx.request->headers.find(p.rateKeyName);
            return header != nullptr ? trim(header->value) : std::string_view();
        }
        case Key::Cookie:
            for (const auto& f : ctx.request->headers.fields()) {
                if (!http::iequals(f.name, "Cookie")) continue;
                if (auto value = findCookie(f.value, p.rateKeyName); !value.empty()) return value;
            }
            return {};
    }
    return {};
}

filter::FilterStatus SecurityFilter::onRequestHeaders(filter::RequestContext& ctx) {
    IpKey ip{};
    ctx.clientAddress = resolveClient(ctx, ip);
    const Policy& p = ctx.route != nullptr && ctx.route->order < routes_.size() ? routes_[ctx.route->order] : global_;
    if (bans_ && edge_->bans().banned(ip)) {
        counters_.banned.fetch_add(1, std::memory_order_relaxed);
        ctx.securityAction = "banned";
        ctx.local = {403, "the client is banned for a while after repeated refusals"};
        return filter::FilterStatus::Respond;
    }
    if (p.deny && p.deny->contains(ip)) {
        counters_.denied.fetch_add(1, std::memory_order_relaxed);
        ctx.securityAction = "deny";
        ctx.local = {403, "the client address is denied"};
        return filter::FilterStatus::Respond;
    }
    if (p.allow && !p.allow->empty() && !p.allow->contains(ip)) {
        counters_.notAllowed.fetch_add(1, std::memory_order_relaxed);
        ctx.securityAction = "not-allowed";
        ctx.local = {403, "the client address is not on the allow list"};
        return filter::FilterStatus::Respond;
    }
    if (p.rate) {
        const std::string_view key = rateKey(p, ctx);
        const auto verdict = key.empty() ? p.rate->take(ip, RateLimiter::nowMs())
                                         : p.rate->take(key, RateLimiter::nowMs());
        if (!verdict.allowed) {
            counters_.rateLimited.fetch_add(1, std::memory_order_relaxed);
            if (!key.empty()) counters_.rateLimitedByKey.fetch_add(1, std::memory_order_relaxed);
            // A strike only when the bucket is the client's own: a shared route bucket or an API
            // key's is not one client's doing.
            if (bans_ && key.empty()) edge_->bans().strike(ip, ctx.clientAddress, "rate-limit");
            ctx.securityAction = "rate-limit";
            ctx.local = {429, key.empty() ? "too many requests from this client"
                                          : "too many requests for this rate-limit key"};
            ctx.local.retryAfterSeconds = (verdict.retryAfterMs + 999) / 1000;
            return filter::FilterStatus::Respond;
        }
    }
    return filter::FilterStatus::Continue;
}

}  // namespace proxy::security
