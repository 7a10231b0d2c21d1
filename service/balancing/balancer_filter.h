#pragma once
// Load balancing as the UpstreamSelect phase: starts the request's failover Selection over the
// route's upstream. The engine then takes servers from ctx.selection until one answers.
// With sticky sessions it also hooks ResponseHeaders, to name the answering server in a cookie.

#include "balancing/selector.h"
#include "balancing/sticky.h"
#include "filter/filter.h"
#include "filter/request_context.h"
#include "upstream/upstream_group.h"

namespace proxy::balancing {

class BalancerFilter final : public filter::Filter {
  public:
    std::string_view name() const override { return "balancer"; }
    unsigned phases() const override {
        return filter::phaseBit(filter::Phase::UpstreamSelect) |
               filter::phaseBit(filter::Phase::ResponseHeaders);
    }

    // Answers 503 at once (with the reason) when no server can take the request, so a client
    // never waits on an upstream whose servers are all down, drained or full.
    filter::FilterStatus onUpstreamSelect(filter::RequestContext& ctx) override {
        upstream::UpstreamGroup* group = ctx.upstream;
        if (group == nullptr) {
            ctx.local = {503, "no upstream for this route"};
            return filter::FilterStatus::Respond;
        }
        const auto now = health::Clock::now();
        std::optional<std::size_t> preferred;
        bool any = false;
        const auto& servers = group->servers();
        const config::Upstream& cfg = group->config();
        std::optional<std::string_view> stickyValue;
        if (cfg.sticky) stickyValue = cookieValue(ctx.request->headers, cfg.sticky->name);
        for (std::size_t i = 0; i < servers.size(); ++i) {
            if (!servers[i]->eligible(now)) continue;
            any = true;
            if (stickyValue && servers[i]->stickyToken == *stickyValue) preferred = i;
        }
        if (!any) {
            ctx.local = {503, group->unavailableReason()};
            if (ctx.local.reason.empty()) ctx.local.reason = "no upstream server is available";
            return filter::FilterStatus::Respond;
        }
        // The client as the security filter resolved it (the right-most untrusted address of a
        // trusted proxy's X-Forwarded-For), else the peer: behind a load balancer, ip_hash must
        // spread the real clients, not the balancer's one address.
        SelectionKey key{ctx.clientAddress.empty() ? ctx.connection->clientAddress : ctx.clientAddress,
                         {}};
        switch (cfg.hashKey.kind) {
            case config::HashKey::Kind::None:
                break;
            case config::HashKey::Kind::Header:
                if (const http::Header* h = ctx.request->headers.find(cfg.hashKey.name))
                    key.hashKey = h->value;
                break;
            case config::HashKey::Kind::Cookie:
                key.hashKey = cookieValue(ctx.request->headers, cfg.hashKey.name)
                                  .value_or(std::string_view());
                break;
            case config::HashKey::Kind::Path:
                key.hashKey = ctx.request->path;
                break;
        }
        ctx.selection = Selection(&group->selector(ctx.connection->worker), key, preferred);
        return filter::FilterStatus::Continue;
    }

    // Sets the sticky cookie when the client's cookie does not already name the server that
    // answered (first visit, or a failover to another server).
    filter::FilterStatus onResponseHeaders(filter::RequestContext& ctx) override {
        if (ctx.upstream == nullptr || ctx.server == nullptr || ctx.response == nullptr) {
            return filter::FilterStatus::Continue;
        }
        const auto& sticky = ctx.upstream->config().sticky;
        if (!sticky || ctx.server->stickyToken.empty()) return filter::FilterStatus::Continue;
        if (cookieValue(ctx.request->headers, sticky->name) ==
            std::string_view(ctx.server->stickyToken))
            return filter::FilterStatus::Continue;
        ctx.response->headers.add("Set-Cookie", ctx.response->arena.store(setCookieValue(
                                                    *sticky, ctx.server->stickyToken)));
        return filter::FilterStatus::Continue;
    }
};

}  // namespace proxy::balancing
