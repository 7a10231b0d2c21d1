#pragma once
// Header and path rewriting, as filters:
// - ProxyHeadersFilter (every request): drops hop-by-hop fields both ways, adds X-Forwarded-*,
//   Via and Forwarded as configured, and propagates or assigns X-Request-Id.
// - RouteRewriteFilter (per route): path rewrite (strip prefix, regex replace) and the route's
//   request/response header rules, with variables.

#include <regex>
#include <string>
#include <vector>

#include "config/config.h"
#include "filter/filter.h"
#include "filter/request_context.h"
#include "http/message.h"

namespace proxy::rewrite {

// A header value with ${variables}, split once at config load.
class ValueTemplate {
public:
    explicit ValueTemplate(std::string_view text);
    bool isLiteral() const { return parts_.size() == 1 && parts_[0].variable == Variable::None; }
    // Expands into the arena; a literal costs nothing.
    std::string_view expand(const filter::RequestContext& ctx, http::StringArena& arena) const;

private:
    enum class Variable : std::uint8_t { None, ClientIp, ClientPort, RequestId, Host, Scheme };
    struct Part { Variable variable; std::string literal; };
    std::vector<Part> parts_;
};

// Removes hop-by-hop fields: the fixed list and every field named in Connection. With
// keepUpgrade, Upgrade survives (and the caller sets Connection: upgrade).
void removeHopByHop(http::HeaderList& headers, bool keepUpgrade);

class ProxyHeadersFilter final : public filter::Filter {
public:
    explicit ProxyHeadersFilter(config::ForwardedHeaders forwarded) : forwarded_(forwarded) {}
    std::string_view name() const override { return "proxy-headers"; }
    unsigned phases() const override {
        return filter::phaseBit(filter::Phase::RequestHeaders) |
               filter::phaseBit(filter::Phase::ResponseHeaders);
    }
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override;
    filter::FilterStatus onResponseHeaders(filter::RequestContext& ctx) override;

private:
    config::ForwardedHeaders forwarded_;
};

class RouteRewriteFilter final : public filter::Filter {
public:
    explicit RouteRewriteFilter(const config::Route& route);
    std::string_view name() const override { return "route-rewrite"; }
    unsigned phases() const override;
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override;
    filter::FilterStatus onResponseHeaders(filter::RequestContext& ctx) override;
    bool empty() const { return phases() == 0; }

private:
    struct Rules {
        std::vector<std::pair<std::string, ValueTemplate>> set, add;
        std::vector<std::string> remove;
        bool empty() const { return set.empty() && add.empty() && remove.empty(); }
    };
    static Rules compile(const config::HeaderRules& rules);
    static void apply(const Rules& rules, filter::RequestContext& ctx, http::HeaderList& headers,
                      http::StringArena& arena);

    std::string stripPrefix_;
    bool hasRegex_ = false;
    std::regex regex_;
    std::string replacement_;
    Rules request_, response_;
};

}  // namespace proxy::rewrite
