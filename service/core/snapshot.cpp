#include "core/snapshot.h"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "balancing/balancer_filter.h"
#include "build_info.h"
#include "cache/cache_filter.h"
#if PROXY_WITH_ZLIB
#include "compression/compression_filter.h"
#endif
#include "rewrite/rewrite_filters.h"
#include "routing/routing_filter.h"
#include "security/security_filter.h"
#include "tls/https_redirect.h"
#if PROXY_WITH_MODSECURITY
#include "waf/waf_filter.h"
#endif
#if PROXY_WITH_OPENSSL
#include "tls/client_tls.h"
#include "tls/server_tls.h"
#endif

namespace proxy::core {
namespace {
[[maybe_unused]] constexpr std::string_view kNoWaf =
    "the WAF (ModSecurity v3 with the OWASP Core Rule Set) is not part of this build; set "
    "waf.mode to \"off\" (docs/security.md)";

[[maybe_unused]] constexpr std::string_view kNoTls =
    "this build has no TLS (PROXY_WITH_OPENSSL=OFF); remove the \"tls\" block or use a build "
    "with OpenSSL";

std::uint32_t methodMask(const std::vector<std::string>& methods, std::vector<std::string>& other) {
    std::uint32_t mask = 0;
    for (const auto& m : methods) {
        const http::Method method = http::methodFromToken(m);
        if (method == http::Method::Other)
            other.push_back(m);
        else
            mask |= 1u << static_cast<unsigned>(method);
    }
    return mask;
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return s;
}

}  // namespace

const std::shared_ptr<const tls::ServerTls>* Snapshot::findListenerTls(std::string_view listener) const {
    for (const auto& [name, tls] : listenerTls)
        if (name == listener) return &tls;
    return nullptr;
}

upstream::UpstreamGroup* Snapshot::findUpstream(std::string_view name) const {
    for (const auto& u : upstreams)
        if (u->name() == name) return u.get();
    return nullptr;
}

std::expected<std::shared_ptr<const Snapshot>, std::string> buildSnapshot(
    std::shared_ptr<const config::Config> config, std::uint64_t version, unsigned workers,
    std::span<filter::Filter* const> tail, const upstream::AddressSource& names,
    security::EdgeState* edge, cache::Cache* cache) {
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->config = config;
    snapshot->version = version;
    snapshot->limits.maxRequestLine = config->limits.maxRequestLine;
    snapshot->limits.maxHeaderBytes = config->limits.maxHeaderBytes;
    snapshot->limits.maxHeaders = config->limits.maxHeaders;

    // TLS: the files are read and checked here, on the control thread; a problem refuses the
    // whole snapshot (a reload keeps the old one), and the sentence names listener and file.
    for (const auto& l : config->listeners) {
        if (!l.tls) continue;
#if PROXY_WITH_OPENSSL
        auto tls = tls::ServerTls::build(*l.tls, l.name, snapshot->warnings);
        if (!tls) return std::unexpected("listener '" + l.name + "': " + tls.error());
        snapshot->listenerTls.emplace_back(l.name, std::move(*tls));
#else
        return std::unexpected("listener '" + l.name + "': " + std::string(kNoTls));
#endif
    }

    // Without a resolver (tests, tools), names are looked up here, synchronously: never on the
    // data path, since snapshots are built off it.
    const upstream::AddressSource lookupNow = [](const std::string& host) {
        auto found = upstream::systemLookup(host);
        return found ? *found : std::vector<asio::ip::address>{};
    };
    for (const auto& u : config->upstreams)
        snapshot->upstreams.push_back(
            std::make_unique<upstream::UpstreamGroup>(u, workers, names ? names : lookupNow));
#if PROXY_WITH_OPENSSL
    for (std::size_t i = 0; i < config->upstreams.size(); ++i) {
        const config::Upstream& u = config->upstreams[i];
        if (!u.tls) continue;
        auto tls = tls::ClientTls::build(*u.tls);
        if (!tls) return std::unexpected("upstream '" + u.name + "': " + tls.error());
        snapshot->upstreams[i]->setTls(std::move(*tls));
    }
#else
    for (const auto& u : config->upstreams)
        if (u.tls) return std::unexpected("upstream '" + u.name + "': " + std::string(kNoTls));
#endif

    std::vector<routing::CompiledRoute*> routePointers;
    for (std::size_t i = 0; i < config->routes.size(); ++i) {
        const config::Route& r = config->routes[i];
        auto route = std::make_unique<routing::CompiledRoute>();
        route->config = &r;
        route->name = r.name;
        route->order = i;
        route->listener = r.listener;
        const std::string host = lower(r.match.host);
        if (host.empty() || host == "*") {
            route->hostKind = routing::CompiledRoute::HostKind::Any;
        } else if (host.starts_with("*.")) {
            route->hostKind = routing::CompiledRoute::HostKind::Suffix;
            route->host = host.substr(1);  // ".example.com"
        } else {
            route->hostKind = routing::CompiledRoute::HostKind::Exact;
            route->host = host;
        }
        if (!r.match.pathExact.empty()) {
            route->pathKind = routing::CompiledRoute::PathKind::Exact;
            route->path = r.match.pathExact;
        } else if (!r.match.pathRegex.empty()) {
            route->pathKind = routing::CompiledRoute::PathKind::Regex;
            route->path = r.match.pathRegex;
            try {  // validated already; config load is not the data path
                route->pathRegex = std::regex(r.match.pathRegex, std::regex::ECMAScript);
            } catch (const std::regex_error&) {
                return std::unexpected("route '" + r.name + "': invalid path_regex");
            }
        } else if (!r.match.pathPrefix.empty() && r.match.pathPrefix != "/") {
            route->pathKind = routing::CompiledRoute::PathKind::Prefix;
            route->path = r.match.pathPrefix;
        }
        route->methodMask = methodMask(r.match.methods, route->otherMethods);
        route->headers = r.match.headers;
        route->upstream = snapshot->findUpstream(r.upstream);
        if (route->upstream == nullptr)
            return std::unexpected("route '" + r.name + "': unknown upstream '" + r.upstream + "'");
        // An HTTPS redirect comes first: a plain request is answered before any rule runs.
        if (r.redirectHttps.enabled) {
            auto redirect = std::make_unique<tls::HttpsRedirectFilter>(r.redirectHttps);
            route->filters.push_back(redirect.get());
            snapshot->ownedFilters.push_back(std::move(redirect));
        }
        auto rewrite = std::make_unique<rewrite::RouteRewriteFilter>(r);
        if (!rewrite->empty()) {
            route->filters.push_back(rewrite.get());
            snapshot->ownedFilters.push_back(std::move(rewrite));
        }
        if (r.compression.enabled) {
#if PROXY_WITH_ZLIB
            auto compression = std::make_unique<compression::CompressionFilter>(r.compression);
            route->filters.push_back(compression.get());
            snapshot->ownedFilters.push_back(std::move(compression));
#else
            return std::unexpected("route '" + r.name +
                                   "': compression is not available in this build (it was built "
                                   "without zlib, PROXY_WITH_ZLIB=OFF); set \"enabled\": false");
#endif
        }
        // The cache comes last: it stores what the client got, after the route's rules and
        // compression, and what it forwards has passed every other filter.
        if (r.cache.enabled) {
            if (cache == nullptr)
                return std::unexpected("route '" + r.name + "': the cache is not available here");
            auto filter = std::make_unique<cache::CacheFilter>(r.cache, *cache);
            route->filters.push_back(filter.get());
            snapshot->ownedFilters.push_back(std::move(filter));
        }
        routePointers.push_back(route.get());
        snapshot->routes.push_back(std::move(route));
    }
    snapshot->router = std::make_unique<routing::Router>(std::move(routePointers));

    // The global chain, in order: routing, security, forwarding headers, load balancing, then the
    // caller's tail (the access log).
    auto addGlobal = [&](std::unique_ptr<filter::Filter> f) {
        snapshot->globalFilters.push_back(f.get());
        snapshot->globalPhases |= f->phases();
        snapshot->ownedFilters.push_back(std::move(f));
    };
    addGlobal(std::make_unique<routing::RoutingFilter>(*snapshot->router));
    // Security reads the X-Forwarded-For that arrived, so it runs before the proxy headers change it.
#if !PROXY_WITH_MODSECURITY
    for (const auto& r : config->routes)
        if (r.security.waf && r.security.waf->mode != config::Waf::Mode::Off)
            return std::unexpected("route '" + r.name + "': " + std::string(kNoWaf));
    if (config->security.policy.waf && config->security.policy.waf->mode != config::Waf::Mode::Off)
        return std::unexpected(std::string("security.waf: ") + std::string(kNoWaf));
#endif
    snapshot->trustedProxies = security::IpSet(config->security.trustedProxies);
    snapshot->edge = edge;
    if (edge != nullptr) {
        const config::BanPolicy& b = config->security.bans;
        edge->bans().configure({b.strikes, b.window, b.ban, b.maxBan, b.maxClients});
    }
    auto security = std::make_unique<security::SecurityFilter>(*config, snapshot->routes.size(), edge);
    if (security->active()) addGlobal(std::move(security));
#if PROXY_WITH_MODSECURITY
    // The WAF after the lists and limits (a refused client costs no inspection), before the
    // forwarding headers change the request. Its rules load here, off the data path.
    auto waf = waf::WafFilter::create(*config, snapshot->routes.size(), edge);
    if (!waf) return std::unexpected(waf.error());
    if ((*waf)->active()) addGlobal(std::move(*waf));
#endif
    addGlobal(std::make_unique<rewrite::ProxyHeadersFilter>(config->forwarded));
    addGlobal(std::make_unique<balancing::BalancerFilter>());
    for (filter::Filter* f : tail) {
        snapshot->globalFilters.push_back(f);
        snapshot->globalPhases |= f->phases();
    }
    return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

}  // namespace proxy::core
