#pragma once
// The access log's hook on the data path: a filter on Phase::Log only. It records the exchange in
// the metrics registry (lock-free atomics) and hands a copy of the record to the access log's
// bounded queue (one slot fill, no lock, no allocation, no disk). Cost: docs/logging.md.

#include "filter/filter.h"

namespace proxy::logging {

class AccessLog;

class AccessLogFilter final : public filter::Filter {
public:
    explicit AccessLogFilter(AccessLog* log) : log_(log) {}  // not owned; outlives every snapshot
    std::string_view name() const override { return "access_log"; }
    unsigned phases() const override { return filter::phaseBit(filter::Phase::Log); }
    void onLog(const filter::RequestContext& ctx) override;

private:
    AccessLog* log_;
};

}  // namespace proxy::logging
