#include "tls/server_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <ctime>
#include <fstream>

#include "tls/ocsp_fetcher.h"

namespace proxy::tls {
namespace {

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kSessionContext[] = "proxy";

std::string lowerName(std::string_view name) {
    std::string out(name);
    if (!out.empty() && out.back() == '.') out.pop_back();  // "example.com." is "example.com"
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// ALPN: http/1.1 when the client offers it. A client offering only other protocols (h2 only)
// gets no ALPN answer rather than a failed handshake; it may still speak HTTP/1.1.
int selectAlpn(SSL*, const unsigned char** out, unsigned char* outLength, const unsigned char* in,
               unsigned int inLength, void*) {
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outLength, kAlpnHttp11, sizeof(kAlpnHttp11), in,
                              inLength) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

std::expected<void, std::string> configure(SSL_CTX* ctx, const config::ListenerTls& config) {
    const int minVersion = config.minVersion == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, minVersion) != 1)
        return std::unexpected("cannot set the minimum TLS version: " + opensslError());
    SSL_CTX_set_max_proto_version(ctx, 0);  // the newest OpenSSL knows (1.3)
    // No renegotiation at all (OpenSSL 3 already refuses client-initiated renegotiation).
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    // Idle keep-alive connections give their record buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    const std::string& ciphers = config.ciphers.empty() ? std::string(kDefaultCiphers) : config.ciphers;
    if (SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
        ERR_clear_error();
        return std::unexpected("ciphers: '" + ciphers + "' names no cipher this OpenSSL has");
    }
    if (!config.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, config.ciphersuites.c_str()) != 1) {
        ERR_clear_error();
        return std::unexpected("ciphersuites: '" + config.ciphersuites +
                               "' names no TLS 1.3 suite this OpenSSL has");
    }
    SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
    // Resumption: the server-side session cache and tickets (OpenSSL's defaults), scoped to us.
    SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20'000);
    SSL_CTX_set_timeout(ctx, 3600);
    if (!config.clientCa.empty()) {
        std::ifstream probe(config.clientCa, std::ios::binary);
        if (!probe)
            return std::unexpected("client_ca: cannot read the CA file '" + config.clientCa + "'");
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.clientCa.c_str());
        if (names == nullptr ||
            SSL_CTX_load_verify_locations(ctx, config.clientCa.c_str(), nullptr) != 1) {
            if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
            return std::unexpected("client_ca: '" + config.clientCa +
                                   "' holds no PEM CA certificate: " + opensslError());
        }
        SSL_CTX_set_client_CA_list(ctx, names);  // the CAs the client is told to pick from
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (config.clientCertRequired
                                                       ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                                       : 0),
                           nullptr);
        SSL_CTX_set_verify_depth(ctx, 10);
    }
    return {};
}

// A certificate without an ocsp_response file: when it names an http:// responder, the state
// the fetcher fills (tls/ocsp_fetcher.h), attached to its context. What stands in the way (no
// usable URL, the issuer missing from the chain) is a warning and a "failed" status, not a config
// error: the certificate still serves, only without a staple.
std::shared_ptr<OcspState> fetchedStapling(SSL_CTX* ctx, const config::OcspFetch& settings,
                                           const std::string& where, CertificateInfo& info,
                                           std::vector<std::string>& warnings) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    const std::vector<std::string> urls = ocspResponderUrls(cert);
    if (urls.empty()) return nullptr;
    auto fail = [&](std::string error) -> std::shared_ptr<OcspState> {
        info.ocspStapling = "failed";
        info.ocspError = error;
        warnings.push_back(where + "OCSP stapling is off for this certificate: " + error);
        return nullptr;
    };
    ResponderUrl url;
    for (const std::string& text : urls) {
        url = parseResponderUrl(text);
        if (url.ok) break;
        url.error = "its OCSP responder '" + text.substr(0, 200) + "' cannot be used: " + url.error;
    }
    if (!url.ok) return fail(url.error);
    STACK_OF(X509)* chain = nullptr;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    X509* issuer = findOcspIssuer(cert, chain);
    if (issuer == nullptr)
        return fail("its chain does not hold its issuer (" + info.issuer +
                    "), which the OCSP request names and the response is verified against: "
                    "add the intermediate certificate after the certificate in its PEM file "
                    "(or to the PFX)");
    auto state = OcspState::forCertificate(cert, issuer, chain, url, settings,
                                           "'" + info.subject + "' (" + info.source + ")");
    if (!state) return fail(state.error());
    (*state)->attach(ctx);
    return std::move(*state);
}

}  // namespace

std::expected<std::shared_ptr<const ServerTls>, std::string> ServerTls::build(
    const config::ListenerTls& config, std::string_view listener, std::vector<std::string>& warnings) {
    std::shared_ptr<ServerTls> tls(new ServerTls());
    tls->handshakeTimeout_ = config.handshakeTimeout;
    if (!config.clientCa.empty()) tls->clientSubjectHeader_ = config.clientSubjectHeader;
    if (config.certificates.empty()) return std::unexpected("tls: no certificate is configured");
    for (std::size_t i = 0; i < config.certificates.size(); ++i) {
        const std::string where = "tls.certificates[" + std::to_string(i) + "]: ";
        std::unique_ptr<asio::ssl::context> context;
        try {  // config load, not the data path: asio reports a failed SSL_CTX_new by exception
            context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        } catch (const std::exception& e) {
            return std::unexpected(where + "cannot create a TLS context: " + e.what());
        }
        SSL_CTX* ctx = context->native_handle();
        if (auto ok = configure(ctx, config); !ok) return std::unexpected("tls: " + ok.error());
        auto info = useCertificate(ctx, config.certificates[i], warnings);
        if (!info) return std::unexpected(where + info.error());
        std::unique_ptr<OcspStaple> staple;
        if (const std::string& file = config.certificates[i].ocspResponse; !file.empty()) {
            STACK_OF(X509)* chain = nullptr;
            SSL_CTX_get0_chain_certs(ctx, &chain);
            auto loaded = loadOcspResponse(file, SSL_CTX_get0_certificate(ctx), chain);
            if (!loaded) return std::unexpected(where + loaded.error());
            staple = std::make_unique<OcspStaple>(std::move(*loaded));
            info->ocspNextUpdate = staple->nextUpdate;
            const auto now = static_cast<std::int64_t>(std::time(nullptr));
            if (staple->nextUpdate != 0 && staple->nextUpdate < now) {
                info->ocspStapling = "expired";
                warnings.push_back(where + "the OCSP response in '" + file +
                                   "' is past its nextUpdate: it is not stapled until the file "
                                   "is replaced (and the config reloaded)");
            } else {
                info->ocspStapling = "file";
            }
            stapleOnHandshakes(ctx, staple.get());
        }
        std::shared_ptr<OcspState> state;
        if (!staple && config.ocsp.fetch) state = fetchedStapling(ctx, config.ocsp, where, *info, warnings);
        tls->staples_.push_back(std::move(staple));
        tls->ocspStates_.push_back(std::move(state));
        for (const std::string& raw : info->names) {
            const std::string name = lowerName(raw);
            const bool wildcard = name.starts_with("*.");
            auto& map = wildcard ? tls->wildcard_ : tls->exact_;
            auto [it, inserted] = map.try_emplace(wildcard ? name.substr(2) : name, i);
            if (!inserted && it->second != i)
                warnings.push_back(where + "the name '" + name + "' is also in certificate " +
                                   std::to_string(it->second) + ", which clients asking for it get");
        }
        tls->certificates_.push_back(std::move(*info));
        tls->contexts_.push_back(std::move(context));
    }
    // Ticket keys: one set for the listener (OpenSSL issues and checks tickets with the context
    // the handshake began with, but every context gets them so SNI never matters). They carry
    // over to the next snapshot when settings and certificates are the same.
    std::string identity(listener);
    auto append = [&](std::string_view part) {
        identity += '\n';
        identity += part;
    };
    append(config.minVersion);
    append(config.ciphers);
    append(config.ciphersuites);
    append(config.clientCa);
    append(config.clientCertRequired ? "required" : "optional");
    for (const CertificateInfo& c : tls->certificates_) {
        append(c.subject);
        append(c.issuer);
        append(std::to_string(c.notBefore) + "-" + std::to_string(c.notAfter));
    }
    tls->ticketKeys_ = TicketKeys::forListener(identity, config.ticketKeyRotation);
    for (const auto& context : tls->contexts_) tls->ticketKeys_->attach(context->native_handle());
    SSL_CTX* first = tls->contexts_.front()->native_handle();
    SSL_CTX_set_tlsext_servername_callback(first, &ServerTls::onServerName);
    SSL_CTX_set_tlsext_servername_arg(first, tls.get());
    return std::shared_ptr<const ServerTls>(std::move(tls));
}

ServerTls::~ServerTls() {
    if (!contexts_.empty()) SSL_CTX_set_tlsext_servername_arg(contexts_.front()->native_handle(), nullptr);
}

std::size_t ServerTls::select(std::string_view serverName) const {
    if (serverName.empty() || serverName.size() > 253) return 0;
    const std::string name = lowerName(serverName);
    if (const auto it = exact_.find(name); it != exact_.end()) return it->second;
    // A wildcard covers exactly one label: "*.example.com" takes "a.example.com", not
    // "example.com" nor "a.b.example.com".
    if (const auto dot = name.find('.'); dot != std::string::npos && dot > 0) {
        if (const auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end())
            return it->second;
    }
    return 0;
}

std::string ServerTls::clientSubject(SSL* ssl) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
    CertificateInfo info;
    BIO* bio = BIO_new(BIO_s_mem());
    std::string text;
    if (bio != nullptr &&
        X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) text.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
    return text;
}

int ServerTls::onServerName(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const ServerTls*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (self == nullptr || name == nullptr) return SSL_TLSEXT_ERR_NOACK;  // the default certificate
    const std::size_t index = self->select(std::string_view(name, std::strlen(name)));
    if (index != 0) SSL_set_SSL_CTX(ssl, self->contexts_[index]->native_handle());
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace proxy::tls
