#include "logging/access_log_filter.h"

#include "filter/request_context.h"
#include "logging/access_log.h"
#include "routing/router.h"
#include "upstream/upstream_group.h"

namespace proxy::logging {

void AccessLogFilter::onLog(const filter::RequestContext& ctx) {
    if (log_ == nullptr) return;
    metrics::ExchangeSample sample;
    if (ctx.connection != nullptr) sample.listener = ctx.connection->listenerName;
    if (ctx.route != nullptr) sample.route = ctx.route->name;
    if (ctx.upstream != nullptr) sample.upstream = ctx.upstream->name();
    if (ctx.server != nullptr) sample.server = ctx.server->key;
    sample.status = ctx.status;
    sample.bytesIn = ctx.bytesIn;
    sample.bytesOut = ctx.bytesOut;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(ctx.total).count();
    sample.durationUs = us > 0 ? static_cast<std::uint64_t>(us) : 0;
    log_->metrics().record(sample);
    log_->submit(ctx);
}

}  // namespace proxy::logging
