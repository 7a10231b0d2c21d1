#include "app/features.h"

#include "build_info.h"

namespace proxy::app {
namespace {
std::string& allocatorDescription() {
    static std::string text = "the C runtime's malloc";
    return text;
}
}  // namespace

void setAllocatorDescription(std::string description) { allocatorDescription() = std::move(description); }

std::vector<std::pair<std::string, std::string>> featureList() {
    return {
        {"allocator", allocatorDescription()},
        {"http", "HTTP/1.1 reverse proxy, WebSocket tunnels"},
        {"balancing", "round_robin, least_connections, ip_hash"},
        {"tls", PROXY_WITH_OPENSSL
                    ? "TLS 1.2/1.3 termination (PEM or PFX, SNI, ALPN http/1.1, resumption) and "
                      "re-encryption to upstreams (OpenSSL)"
                    : "not built (build option PROXY_WITH_OPENSSL=OFF): a \"tls\" block is "
                      "refused"},
        {"access_log", PROXY_WITH_SQLITE ? "SQLite and JSON lines, live feed, metrics"
                                         : "JSON lines, live feed, metrics (SQLite not built: "
                                           "logs.query and logs.aggregate are unavailable)"},
        {"security", "IP allow/deny lists, trusted proxies (X-Forwarded-For), rate limits per client, "
                     "API key, cookie or route, connection limits, a minimum body rate, bans"},
        {"waf", PROXY_WITH_MODSECURITY
                    ? "ModSecurity v3 with the OWASP Core Rule Set (modes off, detect, block)"
                    : "not built (build option PROXY_WITH_MODSECURITY=OFF: no libmodsecurity); "
                      "waf.mode must be off"},
        {"compression", PROXY_WITH_ZLIB ? "gzip, deflate (zlib)"
                                        : "not built (build option PROXY_WITH_ZLIB=OFF)"},
    };
}

}  // namespace proxy::app
