#include "config/serialize.h"

namespace proxy::config {
namespace {

using Json = nlohmann::ordered_json;

Json headerMap(const std::vector<std::pair<std::string, std::string>>& entries) {
    Json out = Json::object();
    for (const auto& [name, value] : entries) out[name] = value;
    return out;
}

Json headerRules(const HeaderRules& rules) {
    Json out = Json::object();
    out["set"] = headerMap(rules.set);
    out["add"] = headerMap(rules.add);
    out["remove"] = Json::array();
    for (const std::string& name : rules.remove) out["remove"].push_back(name);
    return out;
}

Json compression(const Compression& c) {
    return {{"enabled", c.enabled},
            {"types", c.types},
            {"min_size", c.minSize},
            {"level", c.level},
            {"formats", c.formats}};
}

Json routeCache(const RouteCache& c) {
    Json overrides = Json::array();
    for (const CacheTtlRule& rule : c.ttlOverrides) {
        Json o = Json::object();
        if (!rule.pathPrefix.empty()) o["path_prefix"] = rule.pathPrefix;
        if (!rule.contentType.empty()) o["content_type"] = rule.contentType;
        o["seconds"] = rule.seconds;
        overrides.push_back(std::move(o));
    }
    return {{"enabled", c.enabled},
            {"default_ttl_seconds", c.defaultTtlSeconds},
            {"ttl_overrides", std::move(overrides)},
            {"key",
             {{"ignore_query", c.keyIgnoreQuery},
              {"query_include", c.keyQueryInclude},
              {"query_ignore", c.keyQueryIgnore},
              {"headers", c.keyHeaders},
              {"cookies", c.keyCookies}}},
            {"bypass", {{"cookies", c.bypassCookies}, {"headers", c.bypassHeaders}}},
            {"allow_authorized", c.allowAuthorized},
            {"tag_header", c.tagHeader}};
}

Json cidrList(const std::vector<Cidr>& list) {
    Json out = Json::array();
    for (const Cidr& c : list) out.push_back(c.text);
    return out;
}

// Only the keys that are set: a route inherits what it leaves out.
Json securityPolicy(const SecurityPolicy& policy) {
    Json out = Json::object();
    if (policy.allow) out["allow"] = cidrList(*policy.allow);
    if (policy.deny) out["deny"] = cidrList(*policy.deny);
    if (policy.rateLimit) {
        out["rate_limit"] = {{"requests_per_second", policy.rateLimit->requestsPerSecond}};
        if (policy.rateLimit->burst != 0) out["rate_limit"]["burst"] = policy.rateLimit->burst;
        switch (policy.rateLimit->key) {
            case RateLimit::Key::Client: break;  // the default
            case RateLimit::Key::Route: out["rate_limit"]["key"] = "route"; break;
            case RateLimit::Key::Header: out["rate_limit"]["key"] = "header:" + policy.rateLimit->keyName; break;
            case RateLimit::Key::Cookie: out["rate_limit"]["key"] = "cookie:" + policy.rateLimit->keyName; break;
        }
    }
    if (policy.minBodyRate) {
        out["min_body_rate"] = {{"bytes_per_second", policy.minBodyRate->bytesPerSecond},
                                {"grace_ms", policy.minBodyRate->grace.count()}};
    }
    if (policy.waf) {
        static constexpr const char* kModes[] = {"off", "detect", "block"};
        const Waf& waf = *policy.waf;
        Json& w = out["waf"];
        w = {{"mode", kModes[static_cast<int>(waf.mode)]}, {"paranoia", waf.paranoia}};
        const Waf defaults;
        if (waf.requestBodyLimit != defaults.requestBodyLimit) w["request_body_limit"] = waf.requestBodyLimit;
        if (waf.overLimit != defaults.overLimit)
            w["over_limit"] = waf.overLimit == Waf::OverLimit::Reject ? "reject" : "inspect_partial";
        if (!waf.excludeRules.empty()) w["exclude_rules"] = waf.excludeRules;
        if (!waf.exclusions.empty()) {
            Json list = Json::array();
            for (const WafExclusion& e : waf.exclusions)
                list.push_back({{"path_prefix", e.pathPrefix}, {"rules", e.rules}});
            w["exclusions"] = std::move(list);
        }
        if (!waf.crsPath.empty()) w["crs_path"] = waf.crsPath;
    }
    return out;
}

}  // namespace

std::string_view balanceName(Balance balance) {
    switch (balance) {
        case Balance::RoundRobin:
            return "round_robin";
        case Balance::LeastConnections:
            return "least_connections";
        case Balance::IpHash:
            return "ip_hash";
        case Balance::Hash:
            return "hash";
    }
    return "round_robin";
}

Json toJson(const Config& config) {
    Json out = Json::object();
    out["workers"] = config.workers;
    out["control"] = {{"endpoint", config.control.endpoint},
                      {"read_only_group", config.control.readOnlyGroup}};
    out["logging"] = {{"database", config.logging.database},
                      {"access_log_file", config.logging.accessLogFile},
                      {"error_log_file", config.logging.errorLogFile},
                      {"level", config.logging.level},
                      {"retention_days", config.logging.retentionDays},
                      {"max_db_mb", config.logging.maxDbMb},
                      {"queue_size", config.logging.queueSize},
                      {"access_log_max_mb", config.logging.accessLogMaxMb},
                      {"access_log_keep_files", config.logging.accessLogKeepFiles},
                      {"error_log_max_mb", config.logging.errorLogMaxMb},
                      {"error_log_keep_files", config.logging.errorLogKeepFiles},
                      {"metrics_listen", config.logging.metricsListen}};
    out["limits"] = {{"max_request_line", config.limits.maxRequestLine},
                     {"max_header_bytes", config.limits.maxHeaderBytes},
                     {"max_headers", config.limits.maxHeaders},
                     {"max_body_bytes", config.limits.maxBodyBytes}};
    const Timeouts& t = config.timeouts;
    out["timeouts"] = {{"header_ms", t.header.count()},
                       {"client_idle_ms", t.clientIdle.count()},
                       {"upstream_connect_ms", t.upstreamConnect.count()},
                       {"upstream_response_ms", t.upstreamResponse.count()},
                       {"tunnel_idle_ms", t.tunnelIdle.count()},
                       {"shutdown_ms", t.shutdown.count()}};
    out["forwarded"] = {{"x_forwarded", config.forwarded.xForwarded},
                        {"via", config.forwarded.via},
                        {"forwarded", config.forwarded.forwarded}};
    out["compression"] = compression(config.compression);
    out["cache"] = {{"memory_mb", config.cache.memoryMb},
                    {"max_object_kb", config.cache.maxObjectKb},
                    {"collapse_timeout_ms", config.cache.collapseTimeout.count()}};
    if (config.cache.diskEnabled) {
        Json disk = {{"max_mb", config.cache.diskMaxMb}};
        if (!config.cache.diskPath.empty()) disk["path"] = config.cache.diskPath;
        out["cache"]["disk"] = std::move(disk);
    }
    {
        const SecurityConfig& s = config.security;
        Json security = securityPolicy(s.policy);
        security["trusted_proxies"] = cidrList(s.trustedProxies);
        security["connection_limit"] = {{"per_client", s.connectionsPerClient},
                                        {"total", s.connectionsTotal}};
        if (s.requestsPerConnection != 0)
            security["connection_limit"]["requests_per_connection"] = s.requestsPerConnection;
        if (s.bans.strikes != 0)
            security["bans"] = {{"strikes", s.bans.strikes},
                                {"window_ms", s.bans.window.count()},
                                {"ban_ms", s.bans.ban.count()},
                                {"max_ban_ms", s.bans.maxBan.count()},
                                {"max_clients", s.bans.maxClients}};
        out["security"] = std::move(security);
    }

    Json listeners = Json::array();
    for (const Listener& listener : config.listeners) {
        Json l = {{"name", listener.name}, {"address", listener.address.toString()}};
        if (listener.tls) {
            const ListenerTls& lt = *listener.tls;
            Json certificates = Json::array();
            for (const TlsCertificate& c : lt.certificates) {
                Json item = Json::object();
                if (!c.pfx.empty()) {
                    item["pfx"] = c.pfx;
                    item["password"] = c.password;
                } else {
                    item["cert"] = c.cert;
                    item["key"] = c.key;
                }
                if (!c.ocspResponse.empty()) item["ocsp_response"] = c.ocspResponse;
                certificates.push_back(std::move(item));
            }
            Json tls = {{"certificates", std::move(certificates)},
                        {"min_version", lt.minVersion},
                        {"handshake_timeout_ms", lt.handshakeTimeout.count()}};
            if (!lt.ciphers.empty()) tls["ciphers"] = lt.ciphers;
            if (!lt.ciphersuites.empty()) tls["ciphersuites"] = lt.ciphersuites;
            if (!lt.clientCa.empty()) {
                tls["client_ca"] = lt.clientCa;
                tls["client_certificate"] = lt.clientCertRequired ? "required" : "optional";
            }
            tls["client_subject_header"] = lt.clientSubjectHeader;
            tls["ticket_key_rotation_seconds"] = lt.ticketKeyRotation.count();
            Json ocsp = {{"fetch", lt.ocsp.fetch},
                         {"timeout_ms", lt.ocsp.timeout.count()},
                         {"refresh_seconds", lt.ocsp.refresh.count()}};
            if (lt.ocsp.proxy) ocsp["proxy"] = lt.ocsp.proxy->toString();
            tls["ocsp"] = std::move(ocsp);
            l["tls"] = std::move(tls);
        }
        listeners.push_back(std::move(l));
    }
    out["listeners"] = std::move(listeners);

    Json upstreams = Json::array();
    for (const Upstream& upstream : config.upstreams) {
        Json u = Json::object();
        u["name"] = upstream.name;
        u["balance"] = std::string(balanceName(upstream.balance));
        Json servers = Json::array();
        for (const Server& server : upstream.servers)
            servers.push_back({{"address", server.address.toString()},
                               {"weight", server.weight},
                               {"max_connections", server.maxConnections}});
        u["servers"] = std::move(servers);
        u["keepalive"] = {{"max_idle", upstream.keepalive.maxIdle},
                          {"idle_timeout_ms", upstream.keepalive.idleTimeout.count()}};
        if (upstream.healthCheck) {
            const HealthCheck& h = *upstream.healthCheck;
            Json status = Json::array({h.expectStatusMin, h.expectStatusMax});
            u["health_check"] = {{"method", h.method},
                                 {"path", h.path},
                                 {"expect_status", std::move(status)},
                                 {"expect_body", h.expectBody},
                                 {"interval_ms", h.interval.count()},
                                 {"timeout_ms", h.timeout.count()},
                                 {"rise", h.rise},
                                 {"fall", h.fall}};
        }
        if (upstream.passive) {
            const PassiveCheck& p = *upstream.passive;
            u["passive"] = {{"failures", p.failures},
                            {"status_5xx", p.status5xx},
                            {"eject_seconds", p.eject.count()},
                            {"max_eject_seconds", p.maxEject.count()}};
        }
        if (upstream.slowStart.count() > 0) u["slow_start_seconds"] = upstream.slowStart.count();
        switch (upstream.hashKey.kind) {
            case HashKey::Kind::None: break;
            case HashKey::Kind::Header: u["hash_key"] = {{"header", upstream.hashKey.name}}; break;
            case HashKey::Kind::Cookie: u["hash_key"] = {{"cookie", upstream.hashKey.name}}; break;
            case HashKey::Kind::Path: u["hash_key"] = {{"path", true}}; break;
        }
        if (upstream.sticky) {
            const StickyCookie& c = *upstream.sticky;
            u["sticky"] = {{"cookie", c.name},          {"path", c.path},
                           {"http_only", c.httpOnly},   {"secure", c.secure},
                           {"same_site", c.sameSite},   {"max_age", c.maxAge}};
            if (!c.secret.empty()) u["sticky"]["secret"] = c.secret;
        }
        if (upstream.queue)
            u["queue"] = {{"size", upstream.queue->size},
                          {"timeout_ms", upstream.queue->timeout.count()}};
        u["retries"] = upstream.retries;
        if (upstream.resolveInterval != Upstream{}.resolveInterval)
            u["resolve_interval_seconds"] = upstream.resolveInterval.count();
        if (upstream.tls) {
            const UpstreamTls& ut = *upstream.tls;
            Json tls = {{"verify", ut.verify}, {"sni", ut.sni}, {"verify_hostname", ut.verifyHostname}};
            if (!ut.ca.empty()) tls["ca"] = ut.ca;
            if (!ut.serverName.empty()) tls["server_name"] = ut.serverName;
            if (!ut.cert.empty()) {
                tls["cert"] = ut.cert;
                tls["key"] = ut.key;
            }
            u["tls"] = std::move(tls);
        }
        upstreams.push_back(std::move(u));
    }
    out["upstreams"] = std::move(upstreams);

    Json routes = Json::array();
    for (const Route& route : config.routes) {
        Json r = Json::object();
        r["name"] = route.name;
        if (!route.listener.empty()) r["listener"] = route.listener;
        const Match& m = route.match;
        Json match = Json::object();
        match["host"] = m.host;
        // At most one path condition is set; an empty string means "not given".
        if (!m.pathPrefix.empty()) match["path_prefix"] = m.pathPrefix;
        if (!m.pathExact.empty()) match["path_exact"] = m.pathExact;
        if (!m.pathRegex.empty()) match["path_regex"] = m.pathRegex;
        match["methods"] = Json::array();
        for (const std::string& method : m.methods) match["methods"].push_back(method);
        match["headers"] = headerMap(m.headers);
        r["match"] = std::move(match);
        r["upstream"] = route.upstream;
        r["rewrite"] = {{"strip_prefix", route.rewrite.stripPrefix},
                        {"regex", route.rewrite.regex}};
        if (!route.rewrite.regex.empty()) r["rewrite"]["replacement"] = route.rewrite.replacement;
        r["request_headers"] = headerRules(route.requestHeaders);
        r["response_headers"] = headerRules(route.responseHeaders);
        r["compression"] = compression(route.compression);
        if (!route.security.empty()) r["security"] = securityPolicy(route.security);
        if (!(route.cache == RouteCache{})) r["cache"] = routeCache(route.cache);
        if (!(route.redirectHttps == HttpsRedirect{})) {
            const HttpsRedirect& h = route.redirectHttps;
            r["redirect_https"] = {{"enabled", h.enabled}, {"port", h.port}, {"status", h.status}};
            if (!h.host.empty()) r["redirect_https"]["host"] = h.host;
        }
        routes.push_back(std::move(r));
    }
    out["routes"] = std::move(routes);
    return out;
}

}  // namespace proxy::config
