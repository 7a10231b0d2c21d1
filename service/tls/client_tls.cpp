#include "tls/client_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fstream>

#include "tls/certificate.h"
#include "tls/server_tls.h"

#if defined(_WIN32)
#include <windows.h>
#include <wincrypt.h>
#endif

namespace proxy::tls {
namespace {

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

bool isIpLiteral(std::string_view host) {
    if (host.find(':') != std::string_view::npos) return true;  // IPv6
    return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// The system's trust store: OpenSSL's default paths, and on Windows the "ROOT" store, which
// OpenSSL does not read by itself.
std::expected<void, std::string> useSystemStore(SSL_CTX* ctx) {
#if defined(_WIN32)
    HCERTSTORE store = CertOpenSystemStoreW(0, L"ROOT");
    if (store == nullptr) return std::unexpected(std::string("cannot open the Windows ROOT store"));
    X509_STORE* x509Store = SSL_CTX_get_cert_store(ctx);
    PCCERT_CONTEXT cert = nullptr;
    while ((cert = CertEnumCertificatesInStore(store, cert)) != nullptr) {
        const unsigned char* der = cert->pbCertEncoded;
        X509* x = d2i_X509(nullptr, &der, static_cast<long>(cert->cbCertEncoded));
        if (x != nullptr) {
            X509_STORE_add_cert(x509Store, x);
            X509_free(x);
        }
    }
    CertCloseStore(store, 0);
    ERR_clear_error();  // duplicates are reported as errors; they are harmless
    return {};
#else
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
        return std::unexpected("cannot load the system's CA certificates: " + opensslError());
    return {};
#endif
}

}  // namespace

std::expected<std::shared_ptr<const ClientTls>, std::string> ClientTls::build(
    const config::UpstreamTls& config) {
    std::shared_ptr<ClientTls> tls(new ClientTls());
    tls->config_ = config;
    try {  // config load, not the data path
        tls->context_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    } catch (const std::exception& e) {
        return std::unexpected(std::string("tls: cannot create a TLS context: ") + e.what());
    }
    SSL_CTX* ctx = tls->context_->native_handle();
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_cipher_list(ctx, kDefaultCiphers);
    SSL_CTX_set_alpn_protos(ctx, kAlpnHttp11, sizeof(kAlpnHttp11));
    if (config.verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        if (!config.ca.empty()) {
            std::ifstream probe(config.ca, std::ios::binary);
            if (!probe) return std::unexpected("tls.ca: cannot read the CA file '" + config.ca + "'");
            if (SSL_CTX_load_verify_locations(ctx, config.ca.c_str(), nullptr) != 1)
                return std::unexpected("tls.ca: '" + config.ca +
                                       "' holds no PEM CA certificate: " + opensslError());
        } else if (auto ok = useSystemStore(ctx); !ok) {
            return std::unexpected("tls: " + ok.error());
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    if (!config.cert.empty()) {
        if (auto ok = usePemPair(ctx, config.cert, config.key); !ok)
            return std::unexpected("tls client certificate: " + ok.error());
    }
    return std::shared_ptr<const ClientTls>(std::move(tls));
}

bool ClientTls::prepare(SSL* ssl, std::string_view host) const {
    const std::string name = config_.serverName.empty() ? std::string(host) : config_.serverName;
    const bool ip = isIpLiteral(name);
    // SNI carries DNS names only (RFC 6066).
    if (config_.sni && !ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return false;
    if (config_.verify && config_.verifyHostname) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                          : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        if (ok != 1) return false;
    }
    return true;
}

}  // namespace proxy::tls
