#include "app/observability.h"

#include <asio/post.hpp>
#include <filesystem>
#include <system_error>

#include "config/address.h"
#include "logging/access_log_filter.h"
#include "logging/access_query.h"
#include "logging/log.h"
#include "metrics/metrics_http_server.h"

namespace proxy::app {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::size_t kEventsPerNotification = 256;
constexpr std::size_t kNotificationsPerPump = 4;  // then yield to other clients and requests
constexpr std::uint64_t kDefaultFeedCapacity = 1000;
constexpr std::uint64_t kMaxFeedCapacity = 10'000;

// The folder a log file goes in, created when missing (a fresh install's data folder).
std::optional<std::string> ensureParent(const std::string& path) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (parent.empty()) return std::nullopt;
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) return "cannot create the folder " + parent.string() + ": " + ec.message();
    return std::nullopt;
}

}  // namespace

std::expected<std::unique_ptr<Observability>, std::string> Observability::create(
    const config::LoggingConfig& config) {
    std::unique_ptr<Observability> self(new Observability());
    self->settings_ = config;

    if (!config.errorLogFile.empty()) {
        if (auto error = ensureParent(config.errorLogFile)) return std::unexpected("error log: " + *error);
        logging::setFileSink(std::make_shared<logging::RotatingFileSink>(
            config.errorLogFile, std::uint64_t{config.errorLogMaxMb} * kMiB, config.errorLogKeepFiles));
    }

    logging::AccessLogOptions options;
    options.databasePath = config.database;
    options.jsonLinesPath = config.accessLogFile;
    options.jsonLinesMaxBytes = std::uint64_t{config.accessLogMaxMb} * kMiB;
    options.jsonLinesKeepFiles = config.accessLogKeepFiles;
    options.queueCapacity = config.queueSize;
    options.retention.maxAge = std::chrono::hours(24 * std::int64_t{config.retentionDays});
    options.retention.maxBytes = std::uint64_t{config.maxDbMb} * kMiB;

    const bool defaultDatabase =
        !config.database.empty() && config.database == config::PlatformDefaults::current().logDatabase;
    std::optional<std::string> folderError;
    if (!options.databasePath.empty()) folderError = ensureParent(options.databasePath);
    if (!folderError && !options.jsonLinesPath.empty()) folderError = ensureParent(options.jsonLinesPath);

    auto created = folderError ? std::unexpected("access log: " + *folderError)
                               : logging::AccessLog::create(options);
    if (!created && defaultDatabase) {
        // Nobody asked for this path; losing it must not stop the proxy (a developer's run).
        logging::log(logging::Level::Warn,
                     "%s; set logging.database to a writable path (\"\" turns it off). Running "
                     "without the SQLite access log",
                     created.error().c_str());
        options.databasePath.clear();
        created = logging::AccessLog::create(options);
    }
    if (!created) return std::unexpected(created.error());
    self->log_ = std::move(*created);
    self->filter_ = std::make_unique<logging::AccessLogFilter>(self->log_.get());
    return self;
}

Observability::~Observability() {
    stop();
    logging::setFileSink(nullptr);
}

void Observability::registerMethods(control::MethodRegistry& registry, asio::io_context& control) {
    control_ = &control;
    using control::HandlerResult;
    namespace errc = control::errc;
    registry.add(
        "logs.query", control::MethodRegistry::Access::Read,
        [this](const control::Json& params, const control::Caller&) {
            if (auto q = logging::parseAccessQuery(params); !q)
                return HandlerResult::fail(errc::kInvalidParams, q.error());
            auto rows = log_->query(params);
            if (!rows) return HandlerResult::fail(errc::kUnavailable, rows.error());
            return HandlerResult::ok(std::move(*rows));
        },
        "access log rows, newest first, with filters and keyset paging");
    registry.add(
        "logs.aggregate", control::MethodRegistry::Access::Read,
        [this](const control::Json& params, const control::Caller&) {
            auto q = logging::parseAccessQuery(params);
            if (!q) return HandlerResult::fail(errc::kInvalidParams, q.error());
            if (auto valid = logging::validateAggregate(*q); !valid)
                return HandlerResult::fail(errc::kInvalidParams, valid.error());
            auto series = log_->aggregate(params);
            if (!series) return HandlerResult::fail(errc::kUnavailable, series.error());
            return HandlerResult::ok(std::move(*series));
        },
        "per-minute requests, errors and p50/p95/p99 latency over a time range");
    registry.add(
        "traffic.subscribe", control::MethodRegistry::Access::Read,
        [this](const control::Json& params, const control::Caller& caller) {
            std::optional<control::RpcError> error;
            if ((error = control::requireObject(params))) return HandlerResult{nullptr, error};
            const auto capacity = control::uintParam(params, "capacity", error, false);
            if (error) return HandlerResult{nullptr, error};
            const std::uint64_t cap = capacity.value_or(kDefaultFeedCapacity);
            if (cap < 1 || cap > kMaxFeedCapacity)
                return HandlerResult::fail(errc::kInvalidParams,
                                           "capacity must be 1.." + std::to_string(kMaxFeedCapacity));
            if (!caller.channel)
                return HandlerResult::fail(errc::kUnavailable, "this connection cannot take notifications");
            pruneClosed();
            const std::uint64_t clientId = caller.channel->id();
            if (auto it = subscriptions_.find(clientId); it != subscriptions_.end()) {
                log_->liveFeed().unsubscribe(it->second.id);  // a new capacity: start over
                subscriptions_.erase(it);
            }
            asio::io_context* io = control_;
            Subscription sub;
            sub.channel = caller.channel;
            sub.id = log_->liveFeed().subscribe(static_cast<std::size_t>(cap), [this, io, clientId] {
                asio::post(*io, [this, clientId] { pump(clientId); });
            });
            subscriptions_[clientId] = std::move(sub);
            return HandlerResult::ok({{"subscribed", true},
                                      {"capacity", cap},
                                      {"notification", "traffic.event"}});
        },
        "push each finished request to this client as traffic.event notifications");
    registry.add(
        "traffic.unsubscribe", control::MethodRegistry::Access::Read,
        [this](const control::Json&, const control::Caller& caller) {
            bool was = false;
            if (caller.channel) {
                if (auto it = subscriptions_.find(caller.channel->id()); it != subscriptions_.end()) {
                    log_->liveFeed().unsubscribe(it->second.id);
                    subscriptions_.erase(it);
                    was = true;
                }
            }
            return HandlerResult::ok({{"subscribed", false}, {"was_subscribed", was}});
        },
        "stop traffic.event notifications to this client");
}

void Observability::pump(std::uint64_t clientId) {
    auto it = subscriptions_.find(clientId);
    if (it == subscriptions_.end()) return;
    auto channel = it->second.channel.lock();
    const auto feedId = it->second.id;
    if (!channel || !channel->isOpen()) {
        log_->liveFeed().unsubscribe(feedId);
        subscriptions_.erase(it);
        return;
    }
    for (std::size_t n = 0; n < kNotificationsPerPump; ++n) {
        auto events = log_->liveFeed().poll(feedId, kEventsPerNotification);
        if (events.empty()) return;
        control::Json list = control::Json::array();
        for (const auto& event : events) list.push_back(event.toJson());
        if (!channel->notify("traffic.event", {{"events", std::move(list)}})) {
            log_->liveFeed().unsubscribe(feedId);
            subscriptions_.erase(clientId);
            return;
        }
        if (events.size() < kEventsPerNotification) return;  // drained; the next event wakes us
    }
    // Still more: come back after other work on the control thread.
    asio::post(*control_, [this, clientId] { pump(clientId); });
}

void Observability::pruneClosed() {
    for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
        auto channel = it->second.channel.lock();
        if (!channel || !channel->isOpen()) {
            log_->liveFeed().unsubscribe(it->second.id);
            it = subscriptions_.erase(it);
        } else {
            ++it;
        }
    }
}

std::optional<std::string> Observability::startMetrics(asio::io_context& control,
                                                       std::function<std::string()> extra) {
    if (settings_.metricsListen.empty()) return std::nullopt;
    std::string why;
    const auto where = config::parseHostPort(settings_.metricsListen, config::AddressRule::IpOnly, &why);
    if (!where) return "logging.metrics_listen: " + why;
    metricsServer_ = std::make_unique<metrics::MetricsHttpServer>(
        control, [this, extra = std::move(extra)] {
            std::string text = log_->prometheusText();
            if (extra) text += extra();
            return text;
        });
    if (auto started = metricsServer_->start(where->host, where->port); !started) {
        metricsServer_.reset();
        return started.error();
    }
    logging::log(logging::Level::Info, "metrics: GET http://%s/metrics",
                 settings_.metricsListen.c_str());
    return std::nullopt;
}

void Observability::stopControlSide() {
    if (metricsServer_) metricsServer_->stop();
    metricsServer_.reset();
    for (auto& [clientId, sub] : subscriptions_) log_->liveFeed().unsubscribe(sub.id);
    subscriptions_.clear();
}

void Observability::stop() {
    if (log_) log_->stop();
}

}  // namespace proxy::app
