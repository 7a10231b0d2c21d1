#pragma once
// TLS towards an upstream's servers (re-encryption): one OpenSSL client context per upstream,
// built with the snapshot; each new connection gets its SNI and the name its certificate must
// carry from prepare().

#include <asio/ssl/context.hpp>

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"

namespace proxy::tls {

class ClientTls {
public:
    static std::expected<std::shared_ptr<const ClientTls>, std::string> build(
        const config::UpstreamTls& config);

    asio::ssl::context& context() const { return *context_; }
    // Sets SNI and the host name check on a new connection to a server whose address is `host`
    // (a DNS name or an IP literal). False when OpenSSL refuses the name.
    bool prepare(SSL* ssl, std::string_view host) const;

private:
    ClientTls() = default;
    std::unique_ptr<asio::ssl::context> context_;
    config::UpstreamTls config_;
};

}  // namespace proxy::tls
