#pragma once
// Load balancing as the UpstreamSelect phase: starts the request's failover Selection over the
// route's upstream. The engine then takes servers from ctx.selection until one answers.

#include "balancing/selector.h"
#include "filter/filter.h"
#include "filter/request_context.h"
#include "upstream/upstream_group.h"

namespace proxy::balancing {

class BalancerFilter final : public filter::Filter {
public:
    std::string_view name() const override { return "balancer"; }
    unsigned phases() const override { return filter::phaseBit(filter::Phase::UpstreamSelect); }
    filter::FilterStatus onUpstreamSelect(filter::RequestContext& ctx) override {
        if (ctx.upstream == nullptr) {
            ctx.local = {503, "no upstream for this route"};
            return filter::FilterStatus::Respond;
        }
        SelectionKey key{ctx.connection->clientAddress, {}};
        ctx.selection = Selection(&ctx.upstream->selector(ctx.connection->worker), key);
        return filter::FilterStatus::Continue;
    }
};

}  // namespace proxy::balancing
