#include "app/service_runtime.h"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>

#include "app/features.h"
#include "app/observability.h"
#include "build_info.h"
#include "cache/cache.h"
#include "config/validator.h"
#include "config_store/config_store.h"
#include "config_store/file_config_source.h"
#include "control_channel/control_backend.h"
#include "control_channel/control_server.h"
#include "core/engine.h"
#include "core/snapshot.h"
#include "health/health_json.h"
#include "health/health_monitor.h"
#include "logging/log.h"
#if PROXY_WITH_OPENSSL
#include "tls/ocsp_fetcher.h"
#include "tls/server_tls.h"
#endif
#include "security/security_filter.h"
#include "upstream/name_resolver.h"
#include "upstream/upstream_group.h"
#if PROXY_WITH_MODSECURITY
#include "waf/waf_filter.h"
#endif

namespace proxy::app {
namespace {

using namespace std::chrono_literals;

// How long a start or a config change waits for the first answer about a name it adds. A name
// still unanswered then has no servers until it resolves (retried in the background).
constexpr auto kFirstLookupWait = 5s;

// Every host name the config's upstream servers use, with the shortest resolve interval of the
// upstreams that use it.
using NameIntervals = std::map<std::string, std::chrono::seconds>;

// A name used twice is looked up at the shorter interval.
void addName(NameIntervals& names, const std::string& host, std::chrono::seconds interval) {
    auto [it, inserted] = names.try_emplace(host, interval);
    if (!inserted) it->second = std::min(it->second, interval);
}

NameIntervals configNames(const config::Config& config) {
    NameIntervals out;
    for (const auto& u : config.upstreams)
        for (const auto& s : u.servers)
            if (s.address.kind == config::HostPort::Kind::Name) addName(out, s.address.host, u.resolveInterval);
    return out;
}

NameIntervals unionOf(NameIntervals a, const NameIntervals& b) {
    for (const auto& [host, interval] : b) addName(a, host, interval);
    return a;
}

void logUnresolved(const std::vector<std::string>& hosts) {
    for (const auto& host : hosts)
        logging::log(logging::Level::Warn,
                     "upstream name %s has no address yet: its servers take no requests until it "
                     "resolves (retried in the background)",
                     host.c_str());
}

std::int64_t epochMs(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

const char* adminStateName(upstream::AdminState s) {
    switch (s) {
        case upstream::AdminState::Up: return "up";
        case upstream::AdminState::Draining: return "draining";
        case upstream::AdminState::Disabled: return "disabled";
    }
    return "up";
}

}  // namespace

// Owns everything, in start order: config store, engine, control thread and server. The control
// thread runs reloads and the control channel; workers never wait on it.
struct ServiceRuntime::Impl final : control::ControlBackend {
    Options options;
    std::unique_ptr<config_store::ConfigStore> store;
    // The HTTP cache outlives snapshots (a reload keeps what is stored); declared before the
    // engine so it is destroyed after it.
    std::unique_ptr<cache::Cache> cache;
    std::unique_ptr<core::Engine> engine;
    std::chrono::steady_clock::time_point startedAt;

    // Built by the store's precheck (off the data path), committed by its listener.
    std::mutex applyMutex;
    core::Engine::PreparedPtr prepared;
    std::shared_ptr<const config::Config> preparedFor;
    // Admin decisions (drain, disable) outlive snapshots: (upstream, server) -> state.
    std::map<std::pair<std::string, std::string>, upstream::AdminState> adminStates;
    // Active checks and every server's health, kept across snapshots (health/health_monitor.h).
    health::HealthMonitor health;
#if PROXY_WITH_OPENSSL
    // Fetches and refreshes OCSP responses to staple, off the data path (tls/ocsp_fetcher.h).
    tls::OcspFetcher ocsp;
#endif

    asio::io_context control;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> controlWork;
    // Upstream servers given by DNS name (upstream/name_resolver.h). Declared after `control`, so
    // it stops (and never posts again) before the io_context goes.
    std::unique_ptr<upstream::NameResolver> resolver;
    std::uint64_t liveGeneration = 0;      // the resolver generation the live snapshot was built from
    std::uint64_t preparedGeneration = 0;  // ... and the prepared one (guarded by applyMutex)
    std::thread controlThread;
    std::unique_ptr<control::ControlServer> controlServer;

    std::mutex mutex;
    std::condition_variable stopRequested;
    bool stopping = false;
    bool started = false;
    // Last: destroyed first, while the control io_context its metrics listener uses still exists.
    // The engine is stopped before this goes, so no request reaches its filter afterwards.
    std::unique_ptr<Observability> observability;

    std::expected<std::shared_ptr<const core::Snapshot>, std::string> build(
        std::shared_ptr<const config::Config> config, std::uint64_t version) {
        filter::Filter* const tail[] = {observability->filter()};
        preparedGeneration = resolver->generation();  // before the build reads any address
        auto snapshot = core::buildSnapshot(std::move(config), version, engine->workerCount(), tail,
                                            resolver->source(), &engine->edgeState(), cache.get());
        if (!snapshot) return snapshot;
        for (const std::string& warning : (*snapshot)->warnings)
            logging::log(logging::Level::Warn, "config: %s", warning.c_str());
        for (const auto& group : (*snapshot)->upstreams)
            for (const auto& server : group->servers())
                for (const auto& key : {server->key, server->config.address.toString()})
                    if (auto it = adminStates.find({group->name(), key}); it != adminStates.end())
                        server->admin = it->second;
        for (const auto& group : (*snapshot)->upstreams) health.adopt(*group);
        return snapshot;
    }

    std::optional<std::string> precheck(const config::Config& config) {
        std::lock_guard lock(applyMutex);
        // The store passes its validated config by reference; the snapshot needs to own one.
        auto owned = std::make_shared<const config::Config>(config);
        // Names the change adds are looked up now; the running config's stay tracked meanwhile.
        const auto runningNames = configNames(*store->current().config);
        logUnresolved(resolver->track(unionOf(configNames(config), runningNames), kFirstLookupWait));
        auto snapshot = build(owned, store->current().version + 1);
        if (!snapshot) {
            resolver->track(runningNames, 0ms);
            return snapshot.error();
        }
        auto ready = engine->prepare(*snapshot);
        if (!ready) return ready.error();
        prepared = std::move(*ready);
        preparedFor = owned;
        return std::nullopt;
    }

    void commitApplied() {
        std::lock_guard lock(applyMutex);
        if (!prepared) return;
        engine->commit(std::move(prepared));
        cache->configure(store->current().config->cache);
        health.activate(engine->current());
#if PROXY_WITH_OPENSSL
        ocsp.activate(engine->current());
#endif
        preparedFor.reset();
        liveGeneration = preparedGeneration;
        resolver->track(configNames(*store->current().config), 0ms);  // forget names it dropped
        if (resolver->generation() != liveGeneration) asio::post(control, [this] { refreshAddresses(); });
        const auto& logSettings = store->current().config->logging;
        logging::setLevel(logging::parseLevel(logSettings.level));
        logging::log(logging::Level::Info, "config version %llu is live",
                     static_cast<unsigned long long>(store->current().version));
        config::LoggingConfig running = observability->settings();
        running.level = logSettings.level;  // the one log setting a reload applies
        if (!(running == logSettings))
            logging::log(logging::Level::Warn,
                         "the logging settings changed: files, database, queue and metrics listener "
                         "keep their start-time settings until the service restarts");
    }

    // Control thread, after the resolver saw a name's addresses change: the same config version is
    // built again with the new addresses and swapped in like a reload, so exchanges in flight
    // finish on the servers they started with.
    void refreshAddresses() {
        std::lock_guard lock(applyMutex);
        if (prepared) return;  // a config change is between precheck and commit; commit rechecks
        if (resolver->generation() == liveGeneration) return;
        const auto current = store->current();
        auto snapshot = build(current.config, current.version);
        if (!snapshot) {
            logging::log(logging::Level::Error, "upstream addresses changed, but the config could "
                         "not be rebuilt: %s", snapshot.error().c_str());
            return;
        }
        if (auto error = engine->apply(*snapshot)) {
            logging::log(logging::Level::Error, "upstream addresses changed, but applying them "
                         "failed: %s", error->c_str());
            return;
        }
        health.activate(*snapshot);
#if PROXY_WITH_OPENSSL
        ocsp.activate(*snapshot);
#endif
        liveGeneration = preparedGeneration;
        logging::log(logging::Level::Info, "upstream addresses changed: config version %llu now "
                     "uses them", static_cast<unsigned long long>(current.version));
    }

    static nlohmann::json features() {
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [feature, state] : featureList()) out[feature] = state;
        return out;
    }

    // ControlBackend.
    nlohmann::json status() override {
        const auto s = engine->status();
        nlohmann::json listeners = nlohmann::json::array();
        for (const auto& l : s.listeners) listeners.push_back({{"name", l.name}, {"address", l.address}});
        const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::steady_clock::now() - startedAt);
        return {
            {"version", PROXY_VERSION},
            {"uptime_seconds", uptime.count()},
            {"workers", s.workers},
            {"config_version", store->current().version},
            {"listeners", listeners},
            {"connections", {{"active", s.connectionsActive}, {"accepted", s.connectionsAccepted}}},
            {"requests", s.requests},
            {"dropped_log_records", droppedLogRecords()},
            {"features", features()},
            {"tls_certificates", tlsCertificates()},
        };
    }

    // Each TLS listener's certificates as the running snapshot loaded them, with a warning
    // when one expires within 30 days (or has expired).
    nlohmann::json tlsCertificates() const {
        nlohmann::json out = nlohmann::json::array();
#if PROXY_WITH_OPENSSL
        const auto snapshot = engine->current();
        if (!snapshot) return out;
        const auto now = static_cast<std::int64_t>(std::time(nullptr));
        for (const auto& [listener, tls] : snapshot->listenerTls) {
            std::size_t index = 0;
            for (const tls::CertificateInfo& c : tls->certificates()) {
                const std::int64_t days = tls::daysLeft(c, now);
                std::string warning;
                if (c.notAfter < now)
                    warning = "expired";
                else if (c.notBefore > now)
                    warning = "not valid yet";
                else if (days < 30)
                    warning = "expires in " + std::to_string(days) + " days";
                nlohmann::json entry = {{"listener", listener},
                                        {"index", index},
                                        {"source", c.source},
                                        {"subject", c.subject},
                                        {"issuer", c.issuer},
                                        {"names", c.names},
                                        {"not_before", c.notBefore},
                                        {"not_after", c.notAfter},
                                        {"days_left", days},
                                        {"ocsp_responder", c.hasOcspResponder},
                                        {"ocsp_stapling", c.ocspStapling},
                                        {"ocsp_next_update", c.ocspNextUpdate},
                                        {"ocsp_error", c.ocspError},
                                        {"warning", warning}};
                if (const auto& state = tls->ocspStates()[index]) {
                    const tls::OcspState::Status o = state->status();
                    entry["ocsp_stapling"] = o.stapling;
                    entry["ocsp_next_update"] = o.nextUpdate;
                    entry["ocsp_error"] = o.lastError;
                    entry["ocsp_url"] = o.url;
                    entry["ocsp_cert_status"] = o.certStatus;
                    entry["ocsp_this_update"] = o.thisUpdate;
                    entry["ocsp_last_fetch"] = o.lastFetch;
                    entry["ocsp_last_success"] = o.lastSuccess;
                    entry["ocsp_next_refresh"] = o.nextRefresh;
                    entry["ocsp_fetches"] = o.fetches;
                    entry["ocsp_failures"] = o.failures;
                }
                out.push_back(std::move(entry));
                ++index;
            }
        }
#endif
        return out;
    }

    std::uint64_t droppedLogRecords() const {
        const auto s = observability->accessLog().stats();
        return s.droppedQueueFull + s.droppedSinkError;
    }

    // Engine counters (all workers) plus the access log's: its counters, the per-listener, route,
    // upstream and server metrics with latency percentiles, and the live feed's.
    nlohmann::json stats() override {
        const auto s = engine->status();
        nlohmann::json out = observability->accessLog().statsJson();
        out["requests"] = s.requests;
        out["responses_4xx"] = s.responses4xx;
        out["responses_5xx"] = s.responses5xx;
        out["connections_active"] = s.connectionsActive;
        out["connections_accepted"] = s.connectionsAccepted;
        // Blocks by the edge's lists and limits: the connection limiter's since start, the
        // filter's since the running config version was applied.
        const auto& limiter = engine->connectionLimiter();
        const auto& bans = engine->edgeState().bans();
        out["security"] = {{"bans_total", bans.bansTotal()},
                           {"banned_refused_at_accept", bans.refusedTotal()},
                           {"connections_limited", limiter.total()},
                           {"refused_per_client_limit", limiter.refusedPerClient()},
                           {"refused_total_limit", limiter.refusedTotal()},
                           {"slow_bodies", engine->edgeState().slowBodies()}};
        if (const auto snapshot = engine->current()) {
            for (const auto& f : snapshot->ownedFilters) {
                if (const auto* filter = dynamic_cast<const security::SecurityFilter*>(f.get())) {
                    const auto& c = filter->counters();
                    out["security"]["denied"] = c.denied.load();
                    out["security"]["not_allowed"] = c.notAllowed.load();
                    out["security"]["rate_limited"] = c.rateLimited.load();
                    out["security"]["rate_limited_by_key"] = c.rateLimitedByKey.load();
                    out["security"]["refused_at_accept"] = c.refusedAtAccept.load();
                    out["security"]["banned"] = c.banned.load();
                    out["security"]["since_config_version"] = snapshot->version;
                }
#if PROXY_WITH_MODSECURITY
                if (const auto* waf = dynamic_cast<const waf::WafFilter*>(f.get())) {
                    const auto& c = waf->counters();
                    out["security"]["waf"] = {{"inspected", c.inspected.load()},
                                              {"blocked", c.blocked.load()},
                                              {"detected", c.detected.load()},
                                              {"matched", c.matched.load()},
                                              {"body_over_limit", c.bodyOverLimit.load()},
                                              {"rule_sets", waf->ruleSets()},
                                              {"since_config_version", snapshot->version}};
                }
#endif
            }
        }
        out["time_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        return out;
    }

    // traffic.inflight: the exchanges in progress now, oldest first, with their age.
    static control::Json diskStatsJson(const cache::DiskStats& d) {
        if (!d.enabled) return nullptr;
        return {{"path", d.path},
                {"available", d.available},
                {"error", d.error},
                {"scanning", d.scanning},
                {"entries", d.entries},
                {"bytes", d.bytes},
                {"budget_bytes", d.budget},
                {"evictions", d.evictions},
                {"corrupt", d.corrupt},
                {"reads", d.reads},
                {"writes", d.writes},
                {"write_errors", d.writeErrors},
                {"writes_skipped", d.writesSkipped}};
    }

    void registerCache(control::MethodRegistry& registry) {
        using control::HandlerResult;
        registry.add(
            "cache.stats", control::MethodRegistry::Access::Read,
            [this](const control::Json& params, const control::Caller&) {
                if (auto error = control::requireObject(params)) return HandlerResult{nullptr, error};
                const auto stats = cache->storeStats();
                const auto& c = cache->counters();
                auto n = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
                return HandlerResult::ok({{"entries", stats.entries},
                                          {"bytes", stats.bytes},
                                          {"budget_bytes", stats.budget},
                                          {"max_object_bytes", cache->maxObjectBytes()},
                                          {"evictions", stats.evictions},
                                          {"fills_in_progress", cache->fillsInProgress()},
                                          {"hits", n(c.hits)},
                                          {"misses", n(c.misses)},
                                          {"collapsed", n(c.collapsed)},
                                          {"stale", n(c.stale)},
                                          {"expired", n(c.expired)},
                                          {"revalidated", n(c.revalidated)},
                                          {"bypassed", n(c.bypassed)},
                                          {"stored", n(c.stored)},
                                          {"not_storable", n(c.notStorable)},
                                          {"too_large", n(c.tooLarge)},
                                          {"purged", n(c.purged)},
                                          {"invalidated", n(c.invalidated)},
                                          {"disk", diskStatsJson(cache->diskStats())}});
            },
            "the HTTP cache's size, budget and counters");
        registry.add(
            "cache.purge", control::MethodRegistry::Access::Admin,
            [this](const control::Json& params, const control::Caller&) {
                std::optional<control::RpcError> error;
                if ((error = control::requireObject(params))) return HandlerResult{nullptr, error};
                const auto url = control::stringParam(params, "url", error, false);
                const auto prefix = control::stringParam(params, "prefix", error, false);
                const auto tag = control::stringParam(params, "tag", error, false);
                if (error) return HandlerResult{nullptr, error};
                const int given = int(url.has_value()) + int(prefix.has_value()) + int(tag.has_value());
                if (given != 1)
                    return HandlerResult::fail(control::errc::kInvalidParams,
                                               "give exactly one of url, prefix or tag");
                const auto& text = url ? *url : prefix ? *prefix : *tag;
                if (text.empty() || text.size() > 8192)
                    return HandlerResult::fail(control::errc::kInvalidParams,
                                               "the value must be 1..8192 characters");
                if (!tag && cache::normalizePurgeUrl(text).empty())
                    return HandlerResult::fail(control::errc::kInvalidParams,
                                               "not a URL: write http://host/path or host/path");
                const auto kind = url ? cache::PurgeKind::Url
                                      : prefix ? cache::PurgeKind::Prefix : cache::PurgeKind::Tag;
                const std::size_t n = cache->purge(kind, text);
                logging::log(logging::Level::Info, "cache.purge %s %s: %zu entries removed",
                             url ? "url" : prefix ? "prefix" : "tag", text.c_str(), n);
                return HandlerResult::ok({{"purged", n}});
            },
            "removes stored responses by exact URL, URL prefix or tag");
    }

    void registerInflight(control::MethodRegistry& registry) {
        registry.add(
            "traffic.inflight", control::MethodRegistry::Access::Read,
            [this](const control::Json& params, const control::Caller&) {
                std::optional<control::RpcError> error;
                if ((error = control::requireObject(params))) return control::HandlerResult{nullptr, error};
                const auto limit = control::uintParam(params, "limit", error, false);
                if (error) return control::HandlerResult{nullptr, error};
                if (limit && (*limit < 1 || *limit > 5000))
                    return control::HandlerResult::fail(control::errc::kInvalidParams, "limit must be 1..5000");
                const auto list = engine->inflight(limit.value_or(500), std::chrono::milliseconds(500));
                control::Json rows = control::Json::array();
                for (const auto& r : list.requests)
                    rows.push_back({{"request_id", r.requestId},
                                    {"client", r.client},
                                    {"method", r.method},
                                    {"host", r.host},
                                    {"path", r.path},
                                    {"route", r.route},
                                    {"server", r.server},
                                    {"stage", r.stage},
                                    {"age_us", r.age.count()},
                                    {"worker", r.worker}});
                return control::HandlerResult::ok({{"requests", std::move(rows)},
                                                   {"total", list.total},
                                                   {"workers", engine->workerCount()},
                                                   {"workers_answered", list.workersAnswered}});
            },
            "exchanges in progress, oldest first, with their age and stage");
    }

    // security.bans and security.unban: the temporary bans (docs/security.md#temporary-bans).
    void registerBans(control::MethodRegistry& registry) {
        registry.add(
            "security.bans", control::MethodRegistry::Access::Read,
            [this](const control::Json& params, const control::Caller&) {
                std::optional<control::RpcError> error;
                if ((error = control::requireObject(params))) return control::HandlerResult{nullptr, error};
                const auto limit = control::uintParam(params, "limit", error, false);
                if (error) return control::HandlerResult{nullptr, error};
                if (limit && (*limit < 1 || *limit > 100'000))
                    return control::HandlerResult::fail(control::errc::kInvalidParams, "limit must be 1..100000");
                const security::BanList& bans = engine->edgeState().bans();
                control::Json rows = control::Json::array();
                std::size_t active = 0;
                for (const auto& e : bans.list(limit.value_or(1000))) {
                    if (e.bannedForMs > 0) ++active;
                    rows.push_back({{"address", e.address},
                                    {"banned", e.bannedForMs > 0},
                                    {"remaining_ms", e.bannedForMs},
                                    {"ban_ms", e.banLengthMs},
                                    {"bans", e.bans},
                                    {"strikes", e.strikes},
                                    {"reason", e.reason}});
                }
                const auto s = bans.settings();
                return control::HandlerResult::ok({{"clients", std::move(rows)},
                                                   {"banned_now", active},
                                                   {"tracked", bans.tracked()},
                                                   {"bans_total", bans.bansTotal()},
                                                   {"refused_at_accept", bans.refusedTotal()},
                                                   {"enabled", s.strikes > 0},
                                                   {"strikes", s.strikes},
                                                   {"capacity", s.capacity}});
            },
            "temporarily banned clients (banned first) and the addresses with strikes");
        registry.add(
            "security.unban", control::MethodRegistry::Access::Admin,
            [this](const control::Json& params, const control::Caller&) {
                std::optional<control::RpcError> error;
                if ((error = control::requireObject(params))) return control::HandlerResult{nullptr, error};
                const auto address = control::stringParam(params, "address", error, true);
                if (error) return control::HandlerResult{nullptr, error};
                security::IpKey ip;
                if (!security::parseClientIp(*address, ip))
                    return control::HandlerResult::fail(control::errc::kInvalidParams,
                                                        "address must be an IPv4 or IPv6 address");
                const bool lifted = engine->edgeState().bans().unban(ip);
                return control::HandlerResult::ok({{"address", *address}, {"unbanned", lifted}});
            },
            "lifts a client's ban and forgets its strikes");
    }

    // The engine's own gauges for each Prometheus scrape.
    std::string enginePrometheus() {
        const auto s = engine->status();
        std::string out;
        auto metric = [&](const char* name, const char* type, const char* help, std::uint64_t value) {
            out += "# HELP ";
            out += name;
            out += " ";
            out += help;
            out += "\n# TYPE ";
            out += name;
            out += " ";
            out += type;
            out += "\n";
            out += name;
            out += ' ';  // piecewise: GCC 12 warns falsely (-Wrestrict) on " " + string
            out += std::to_string(value);
            out += '\n';
        };
        metric("proxy_connections_active", "gauge", "Client connections open now.", s.connectionsActive);
        metric("proxy_connections_accepted_total", "counter", "Client connections accepted.",
               s.connectionsAccepted);
        metric("proxy_config_version", "gauge", "The running config version.", store->current().version);
        return out;
    }

    // A configured "name:port": what it resolves to now and how its lookups go.
    static nlohmann::json nameStatusJson(const config::HostPort& address,
                                         const std::vector<upstream::NameStatus>& statuses) {
        nlohmann::json entry = {{"address", address.toString()}, {"state", "unresolved"}};
        for (const auto& s : statuses) {
            if (s.host != address.host) continue;
            nlohmann::json addresses = nlohmann::json::array();
            for (const auto& a : s.addresses)
                addresses.push_back((a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
                                    std::to_string(address.port));
            auto when = [](std::chrono::system_clock::time_point t) {
                return t == std::chrono::system_clock::time_point{} ? nlohmann::json(nullptr)
                                                                   : nlohmann::json(epochMs(t));
            };
            entry["state"] = !s.resolved ? "unresolved" : s.failures > 0 ? "stale" : "resolved";
            entry["addresses"] = std::move(addresses);
            entry["error"] = logging::sanitizeUtf8(s.error);
            entry["consecutive_failures"] = s.failures;
            entry["resolve_interval_seconds"] = s.interval.count();
            entry["last_lookup_ms"] = when(s.lastAttempt);
            entry["last_success_ms"] = when(s.lastSuccess);
            entry["last_change_ms"] = when(s.lastChange);
        }
        return entry;
    }

    nlohmann::json upstreams() override {
        const auto statuses = resolver->status();
        nlohmann::json out = nlohmann::json::array();
        const auto snapshot = engine->current();
        if (!snapshot) return {{"upstreams", out}};
        for (const auto& group : snapshot->upstreams) {
            nlohmann::json servers = nlohmann::json::array();
            for (const auto& server : group->servers()) {
                nlohmann::json entry = {{"address", server->key},
                                        {"state", adminStateName(server->admin.load())},
                                        {"weight", server->config.weight},
                                        {"max_connections", server->config.maxConnections},
                                        {"active", server->active.load()},
                                        {"requests", server->requests.load()},
                                        {"failures", server->failures.load()}};
                health::addHealthFields(entry, *server);
                servers.push_back(std::move(entry));
            }
            static constexpr const char* kBalance[] = {"round_robin", "least_connections", "ip_hash", "hash"};
            nlohmann::json entry = {{"name", group->name()},
                                    {"balance", kBalance[static_cast<int>(group->config().balance)]},
                                    {"servers", servers},
                                    {"queued", group->queued()}};
            nlohmann::json names = nlohmann::json::array();
            for (const auto& server : group->config().servers)
                if (server.address.kind == config::HostPort::Kind::Name)
                    names.push_back(nameStatusJson(server.address, statuses));
            if (!names.empty()) entry["names"] = std::move(names);
            out.push_back(std::move(entry));
        }
        return {{"upstreams", out}};
    }

    std::optional<std::string> setServerState(const std::string& upstreamName, const std::string& serverKey,
                                              const std::string& state) override {
        upstream::AdminState next;
        if (state == "drain") next = upstream::AdminState::Draining;
        else if (state == "disable") next = upstream::AdminState::Disabled;
        else if (state == "enable") next = upstream::AdminState::Up;
        else return "unknown state '" + state + "' (drain, enable or disable)";
        const auto snapshot = engine->current();
        upstream::UpstreamGroup* group = snapshot ? snapshot->findUpstream(upstreamName) : nullptr;
        if (group == nullptr) return "no upstream named '" + upstreamName + "'";
        // A "name:port" as configured applies to every address it resolved to, now and later.
        const auto servers = group->findServers(serverKey);
        if (servers.empty()) return "upstream '" + upstreamName + "' has no server " + serverKey;
        std::lock_guard lock(applyMutex);
        for (auto* server : servers) server->admin = next;  // new requests avoid it at once; in-flight ones finish
        adminStates[{upstreamName, serverKey}] = next;
        logging::log(logging::Level::Info, "upstream %s server %s: %s", upstreamName.c_str(),
                     serverKey.c_str(), adminStateName(next));
        return std::nullopt;
    }
};

ServiceRuntime::ServiceRuntime(Options options, upstream::LookupFn lookup) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->resolver = std::make_unique<upstream::NameResolver>(lookup ? std::move(lookup) : upstream::systemLookup);
}

ServiceRuntime::~ServiceRuntime() {
    if (impl_->started) {
        requestStop();
        wait();
    }
}

std::optional<std::string> ServiceRuntime::start() {
    Impl& d = *impl_;
    d.startedAt = std::chrono::steady_clock::now();
    d.store = std::make_unique<config_store::ConfigStore>(
        std::make_unique<config_store::FileConfigSource>(d.options.configPath));
    const auto opened = d.store->open("startup");
    for (const auto& diagnostic : opened.diagnostics)
        logging::log(diagnostic.severity == config::Diagnostic::Severity::Error ? logging::Level::Error
                                                                               : logging::Level::Warn,
                     "%s: %s", d.options.configPath.c_str(), diagnostic.toString().c_str());
    if (!opened.ok()) {
        return "cannot use the configuration in " + d.options.configPath +
               (opened.message.empty() ? std::string() : ": " + opened.message);
    }
    const auto current = d.store->current();
    logging::setLevel(logging::parseLevel(current.config->logging.level));
    auto observability = Observability::create(current.config->logging);
    if (!observability) return observability.error();
    d.observability = std::move(*observability);
    d.cache = std::make_unique<cache::Cache>(current.config->cache);
    d.engine = std::make_unique<core::Engine>(current.config->workers);
    d.resolver->setChangeCallback([&d] { asio::post(d.control, [&d] { d.refreshAddresses(); }); });
    logUnresolved(d.resolver->track(configNames(*current.config), kFirstLookupWait));
    auto snapshot = d.build(current.config, current.version);
    if (!snapshot) return snapshot.error();
    if (auto error = d.engine->start(*snapshot)) return error;
    d.health.activate(*snapshot);
#if PROXY_WITH_OPENSSL
    d.ocsp.activate(*snapshot);
#endif
    d.liveGeneration = d.preparedGeneration;

    // From here every config change goes: validate -> precheck (build + bind) -> persist -> commit.
    d.store->setPrecheck([&d](const config::Config& c) { return d.precheck(c); });
    d.store->setListener([&d](std::shared_ptr<const config::Config>) { d.commitApplied(); });

    control::ControlServerOptions controlOptions;
    controlOptions.endpoint = current.config->control.endpoint;
    controlOptions.readOnlyGroup = current.config->control.readOnlyGroup;
    d.controlServer = std::make_unique<control::ControlServer>(d.control, controlOptions, *d.store, d);
    d.observability->registerMethods(d.controlServer->methods(), d.control);
    d.registerInflight(d.controlServer->methods());
    d.registerCache(d.controlServer->methods());
    d.registerBans(d.controlServer->methods());
    if (auto error = d.controlServer->start()) {
        d.engine->stop(std::chrono::milliseconds(0));
        return "control channel: " + *error;
    }
    if (auto error = d.observability->startMetrics(d.control, [&d] { return d.enginePrometheus(); })) {
        d.controlServer->stop();
        d.engine->stop(std::chrono::milliseconds(0));
        return *error;
    }
    d.controlWork.emplace(asio::make_work_guard(d.control));
    d.controlThread = std::thread([&d] { d.control.run(); });
    d.started = true;
    std::string where;
    for (const auto& l : current.config->listeners) where += " " + l.name + "=" + l.address.toString();
    logging::log(logging::Level::Info,
                 "started: %u worker(s), config version %llu, control %s, listeners:%s",
                 d.engine->workerCount(), static_cast<unsigned long long>(current.version),
                 controlOptions.endpoint.c_str(), where.c_str());
    return std::nullopt;
}

void ServiceRuntime::requestStop() {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->stopRequested.notify_all();
}

void ServiceRuntime::requestReload() {
    Impl* d = impl_.get();
    if (!d->started) return;
    asio::post(d->control, [d] {
        const auto result = d->store->reload("reload signal");
        for (const auto& diagnostic : result.diagnostics)
            logging::log(logging::Level::Error, "reload: %s", diagnostic.toString().c_str());
        if (!result.ok())
            logging::log(logging::Level::Error, "reload refused (%s); the running config stays",
                         result.message.empty() ? "invalid" : result.message.c_str());
        else if (result.status == config_store::ApplyResult::Status::Unchanged)
            logging::log(logging::Level::Info, "reload: the file is unchanged (version %llu)",
                         static_cast<unsigned long long>(result.version));
    });
}

int ServiceRuntime::wait() {
    Impl& d = *impl_;
    if (!d.started) return 1;
    {
        std::unique_lock lock(d.mutex);
        d.stopRequested.wait(lock, [&] { return d.stopping; });
    }
    const auto grace = d.store->current().config->timeouts.shutdown;
    logging::log(logging::Level::Info, "stopping: draining in-flight requests (up to %lld ms)",
                 static_cast<long long>(grace.count()));
    // Reverse order of start. The control channel goes first so no change lands mid-drain.
    d.controlServer->stop();
    d.resolver->stop();  // no more address refreshes
    d.controlWork.reset();
    d.control.stop();
    if (d.controlThread.joinable()) d.controlThread.join();
    d.observability->stopControlSide();
    d.controlServer.reset();
    d.health.stop();
#if PROXY_WITH_OPENSSL
    d.ocsp.stop();
#endif
    d.engine->stop(grace);
    d.observability->stop();  // after the engine: the last requests' records are written
    d.started = false;
    logging::log(logging::Level::Info, "stopped");
    return 0;
}

}  // namespace proxy::app
