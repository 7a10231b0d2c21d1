#include "app/features.h"

#include "build_info.h"

namespace proxy::app {

std::vector<std::pair<std::string, std::string>> featureList() {
    return {
        {"http", "HTTP/1.1 reverse proxy, WebSocket tunnels"},
        {"balancing", "round_robin, least_connections, ip_hash"},
        {"tls", PROXY_WITH_OPENSSL ? "not implemented yet (OpenSSL is linked)"
                                   : "not built (build option PROXY_WITH_OPENSSL=OFF)"},
        {"access_log", PROXY_WITH_SQLITE ? "not implemented yet (SQLite is linked)"
                                         : "not implemented yet (SQLite not built; JSON lines planned)"},
        {"compression", PROXY_WITH_ZLIB ? "gzip, deflate (zlib)"
                                        : "not built (build option PROXY_WITH_ZLIB=OFF)"},
    };
}

}  // namespace proxy::app
