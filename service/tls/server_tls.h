#pragma once
// TLS termination for one listener: an OpenSSL context per certificate, the certificate chosen
// by the client's SNI (exact names first, then one-label wildcards, else the first certificate).
// Built once per config snapshot on the control thread and shared read-only by every worker; a
// connection keeps the ServerTls it started with, so a reload never touches open connections.

#include <asio/ssl/context.hpp>

#include <chrono>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "tls/certificate.h"
#include "tls/ocsp.h"
#include "tls/ticket_keys.h"

namespace proxy::tls {

class OcspState;  // tls/ocsp_fetcher.h

class ServerTls {
public:
    // Loads and checks every certificate. The error names the certificate and the file;
    // `warnings` collects expiry warnings and names claimed by two certificates. `listener` names
    // the listener: its session-ticket keys carry over from the last snapshot when the listener's
    // TLS settings and certificates are unchanged.
    static std::expected<std::shared_ptr<const ServerTls>, std::string> build(
        const config::ListenerTls& config, std::string_view listener, std::vector<std::string>& warnings);

    ~ServerTls();
    ServerTls(const ServerTls&) = delete;
    ServerTls& operator=(const ServerTls&) = delete;

    // The context a connection starts its handshake with; SNI may move it to another one.
    asio::ssl::context& context() const { return *contexts_.front(); }
    std::chrono::milliseconds handshakeTimeout() const { return handshakeTimeout_; }
    // mTLS: the header for the client certificate's subject ("" when the listener asks for none).
    const std::string& clientSubjectHeader() const { return clientSubjectHeader_; }
    // The verified client certificate's subject (RFC 2253), or "" when the client sent none.
    static std::string clientSubject(SSL* ssl);
    std::span<const CertificateInfo> certificates() const { return certificates_; }
    // Index of the certificate a client asking for `serverName` gets.
    std::size_t select(std::string_view serverName) const;
    const TicketKeys& ticketKeys() const { return *ticketKeys_; }
    // Per certificate (same index): the fetched-OCSP state, or null when the certificate's
    // response is not fetched (a file, no responder, or ocsp.fetch false).
    const std::vector<std::shared_ptr<OcspState>>& ocspStates() const { return ocspStates_; }

private:
    ServerTls() = default;
    static int onServerName(SSL* ssl, int* alert, void* self);

    // Shared with every context (and later snapshots); declared first so it outlives them.
    std::shared_ptr<TicketKeys> ticketKeys_;
    std::vector<std::unique_ptr<OcspStaple>> staples_;  // per context (null = none); outlive them too
    std::vector<std::shared_ptr<OcspState>> ocspStates_;  // per context (null = none); the same
    // contexts_[i] holds certificates_[i]. unique_ptr: the SNI callback keeps `this`, so the
    // object never moves.
    std::vector<std::unique_ptr<asio::ssl::context>> contexts_;
    std::vector<CertificateInfo> certificates_;
    std::unordered_map<std::string, std::size_t> exact_;     // "www.example.com" -> index
    std::unordered_map<std::string, std::size_t> wildcard_;  // "example.com" for "*.example.com"
    std::chrono::milliseconds handshakeTimeout_{10'000};
    std::string clientSubjectHeader_;
};

// The TLS 1.2 cipher list used when the config gives none: forward secrecy and AEAD only
// (ECDHE with AES-GCM or ChaCha20-Poly1305).
inline constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

}  // namespace proxy::tls
