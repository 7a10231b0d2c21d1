#pragma once
// Routing as a RequestHeaders filter: picks ctx.route and ctx.upstream, or answers 404.

#include "filter/filter.h"
#include "filter/request_context.h"
#include "routing/router.h"

namespace proxy::routing {

class RoutingFilter final : public filter::Filter {
public:
    explicit RoutingFilter(const Router& router) : router_(router) {}
    std::string_view name() const override { return "routing"; }
    unsigned phases() const override { return filter::phaseBit(filter::Phase::RequestHeaders); }
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override {
        ctx.route = router_.match(ctx.connection->listenerName, *ctx.request);
        if (ctx.route == nullptr) {
            ctx.local = {404, "no route matches this request"};
            return filter::FilterStatus::Respond;
        }
        ctx.upstream = ctx.route->upstream;
        return filter::FilterStatus::Continue;
    }

private:
    const Router& router_;  // not owned; the snapshot owns both
};

}  // namespace proxy::routing
