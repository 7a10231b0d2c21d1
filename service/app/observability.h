#pragma once
// The admin's eyes, owned by the runtime: the access log (SQLite and/or JSON lines, metrics, live
// feed), its data-path filter, the error log file and the Prometheus listener, plus the control
// methods that read them (logs.query, logs.aggregate, traffic.subscribe, traffic.unsubscribe).
//
// Lifetime: created before the first snapshot (the filter ends every snapshot's global chain) and
// stopped after the engine, so the last requests' records are written. The log settings are read
// at start; a reload that changes them is reported, not applied (docs/configuration.md).

#include <asio/io_context.hpp>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "control_channel/method_registry.h"
#include "filter/filter.h"
#include "logging/access_log.h"

namespace proxy::metrics { class MetricsHttpServer; }

namespace proxy::app {

class Observability {
public:
    // Opens the sinks the config names. An explicitly configured path that cannot be used is an
    // error (a sentence); the platform default database path that cannot be used (a developer
    // running without rights to it) only loses the SQLite sink, with a warning.
    static std::expected<std::unique_ptr<Observability>, std::string> create(
        const config::LoggingConfig& config);
    ~Observability();
    Observability(const Observability&) = delete;
    Observability& operator=(const Observability&) = delete;

    // The Log-phase filter for buildSnapshot's tail. Lives as long as this object.
    filter::Filter* filter() { return filter_.get(); }
    logging::AccessLog& accessLog() { return *log_; }
    const config::LoggingConfig& settings() const { return settings_; }

    // Registers logs.query, logs.aggregate, traffic.subscribe and traffic.unsubscribe. Handlers
    // and feed pumps run on `control` (the control channel's io_context).
    void registerMethods(control::MethodRegistry& registry, asio::io_context& control);

    // Starts the Prometheus listener when logging.metrics_listen is set. `extra` appends the
    // engine's own counters to each scrape. Runs on `control`.
    std::optional<std::string> startMetrics(asio::io_context& control,
                                            std::function<std::string()> extra);

    // Call on the control thread (or after it stopped): closes the metrics listener and drops
    // every live-feed subscription.
    void stopControlSide();
    // Writes what is queued and joins the writer. After the engine stopped.
    void stop();

private:
    Observability() = default;
    struct Subscription {
        logging::LiveFeed::SubscriberId id = 0;
        std::weak_ptr<control::ClientChannel> channel;
        bool pumpQueued = false;
    };
    void pump(std::uint64_t clientId);  // control thread
    void pruneClosed();                 // control thread

    config::LoggingConfig settings_;
    std::unique_ptr<logging::AccessLog> log_;
    std::unique_ptr<filter::Filter> filter_;
    std::unique_ptr<metrics::MetricsHttpServer> metricsServer_;
    asio::io_context* control_ = nullptr;
    std::map<std::uint64_t, Subscription> subscriptions_;  // by control client id; control thread
};

}  // namespace proxy::app
