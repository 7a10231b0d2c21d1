#include "metrics/prometheus.h"

#include <cstdio>

#include "logging/access_record.h"

namespace proxy::metrics {
namespace {

// Exported bucket bounds: the powers of two from 64 µs to 2^26 µs (~67 s). They are bucket
// boundaries of the log-linear histogram, so each cumulative count is exact.
constexpr unsigned kFirstExponent = 6;
constexpr unsigned kLastExponent = 26;

// µs as exact decimal seconds: 128 -> "0.000128".
std::string seconds(std::uint64_t us) {
    char buffer[48];
    std::snprintf(buffer, sizeof(buffer), "%llu.%06llu", static_cast<unsigned long long>(us / 1'000'000),
                  static_cast<unsigned long long>(us % 1'000'000));
    return buffer;
}

std::string number(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.17g", value);
    return buffer;
}

// Appended piece by piece (GCC 12's -Wrestrict misfires on chains of std::string operator+).
void header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

std::string escapeLabelValue(std::string_view value) {
    std::string out;
    for (const char c : logging::sanitizeUtf8(value)) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.push_back(c);
    }
    return out;
}

std::string renderPrometheus(const MetricsRegistry& registry, std::span<const ExtraMetric> extra) {
    std::string out;
    // Appends pieces (no operator+ chains: see header()).
    auto put = [&](auto&&... pieces) { (out.append(std::string_view(pieces)), ...); };
    const auto series = registry.snapshot();
    constexpr std::string_view kClass[6] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (unsigned s = 0; s < 4; ++s) {
        const auto scope = static_cast<Scope>(s);
        const std::string_view label = scopeName(scope);
        std::string prefix("proxy_");
        prefix.append(label).append("_");
        auto each = [&](auto&& body) {
            for (const SeriesSnapshot& x : series) {
                if (x.scope != scope) continue;
                std::string id(label);
                id.append("=\"").append(escapeLabelValue(x.name)).append("\"");
                body(x, id);
            }
        };
        header(out, prefix + "requests_total", "Requests finished, by status class.", "counter");
        each([&](const SeriesSnapshot& x, const std::string& id) {
            for (int c = 0; c < 6; ++c)
                put(prefix, "requests_total{", id, ",class=\"", kClass[c], "\"} ",
                    std::to_string(x.byClass[c]), "\n");
        });
        header(out, prefix + "received_bytes_total", "Request bytes read from clients.", "counter");
        each([&](const SeriesSnapshot& x, const std::string& id) {
            put(prefix, "received_bytes_total{", id, "} ", std::to_string(x.bytesIn), "\n");
        });
        header(out, prefix + "sent_bytes_total", "Response bytes written to clients.", "counter");
        each([&](const SeriesSnapshot& x, const std::string& id) {
            put(prefix, "sent_bytes_total{", id, "} ", std::to_string(x.bytesOut), "\n");
        });
        const std::string h = prefix + "request_duration_seconds";
        header(out, h, "Whole-exchange latency.", "histogram");
        each([&](const SeriesSnapshot& x, const std::string& id) {
            for (unsigned e = kFirstExponent; e <= kLastExponent; ++e) {
                const std::uint64_t boundUs = std::uint64_t{1} << e;
                put(h, "_bucket{", id, ",le=\"", seconds(boundUs), "\"} ",
                    std::to_string(x.duration.countBelow(boundUs)), "\n");
            }
            put(h, "_bucket{", id, ",le=\"+Inf\"} ", std::to_string(x.duration.count), "\n");
            put(h, "_sum{", id, "} ", number(static_cast<double>(x.duration.sum) / 1e6), "\n");
            put(h, "_count{", id, "} ", std::to_string(x.duration.count), "\n");
        });
    }
    header(out, "proxy_metrics_series_overflow_total",
           "Samples lost because the metrics table was full.", "counter");
    put("proxy_metrics_series_overflow_total ", std::to_string(registry.overflow()), "\n");
    std::string_view last;
    for (const ExtraMetric& m : extra) {
        if (m.name != last) header(out, m.name, m.help, m.type);
        last = m.name;
        put(m.name);
        if (!m.labels.empty()) put("{", m.labels, "}");
        put(" ", number(m.value), "\n");
    }
    return out;
}

}  // namespace proxy::metrics
