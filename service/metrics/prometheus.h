#pragma once
// The Prometheus text exposition format (version 0.0.4) for the metrics registry, plus a few
// process-wide values (access log counters). Metric names: docs/logging.md.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "metrics/metrics_registry.h"

namespace proxy::metrics {

// A single value outside the registry, e.g. proxy_access_log_dropped_total{reason="queue_full"}.
struct ExtraMetric {
    std::string_view name;    // [a-zA-Z_:][a-zA-Z0-9_:]*
    std::string_view help;
    std::string_view type;    // "counter" or "gauge"
    std::string_view labels;  // already rendered, e.g. reason="queue_full"; may be empty
    double value = 0;
};

std::string renderPrometheus(const MetricsRegistry& registry, std::span<const ExtraMetric> extra = {});

// Escapes a label value (backslash, double quote, newline).
std::string escapeLabelValue(std::string_view value);

}  // namespace proxy::metrics
