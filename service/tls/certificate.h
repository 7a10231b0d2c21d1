#pragma once
// Loading certificates and keys (PEM files or a PKCS#12 / PFX bundle) into an OpenSSL context,
// with errors as sentences that name the file and what is wrong with it.

#include <openssl/ssl.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "config/config.h"

namespace proxy::tls {

// What the status and the console show about one certificate.
struct CertificateInfo {
    std::string source;              // the file it came from
    std::string subject;             // RFC 2253 one-liner, e.g. "CN=example.com,O=Example"
    std::string issuer;
    std::vector<std::string> names;  // DNS subject alternative names (the CN when there are none)
    std::int64_t notBefore = 0;      // Unix seconds
    std::int64_t notAfter = 0;
    bool hasOcspResponder = false;
    // OCSP stapling: "off" (nothing to staple), "file" (the configured ocsp_response is
    // stapled), "expired" (the file's nextUpdate has passed: nothing is stapled), "failed" (the
    // certificate names a responder but cannot be fetched for: ocspError says why). A certificate
    // whose response is fetched has an OcspState instead (ServerTls::ocspStates), which says more.
    std::string ocspStapling = "off";
    std::int64_t ocspNextUpdate = 0;  // Unix seconds; 0 = none given
    std::string ocspError;            // why stapling is "failed" at load
};

// An ASN.1 time as Unix seconds (0 when absent or unreadable).
std::int64_t unixTime(const ASN1_TIME* t);

// Days left before `info` expires, from `now` (Unix seconds); negative once it has expired.
std::int64_t daysLeft(const CertificateInfo& info, std::int64_t now);

// Installs the certificate, its chain and its private key into `ctx`, checks that they belong
// together, and describes the certificate. `warnings` gets what is worth telling the admin but
// not worth refusing the config for (expired, not yet valid, expiring within 30 days).
std::expected<CertificateInfo, std::string> useCertificate(SSL_CTX* ctx,
                                                           const config::TlsCertificate& source,
                                                           std::vector<std::string>& warnings);

// Installs a PEM client certificate + key (for upstreams that ask for one).
std::expected<void, std::string> usePemPair(SSL_CTX* ctx, const std::string& cert,
                                            const std::string& key);

// The text of OpenSSL's error queue (emptied), or `fallback` when it is empty.
std::string opensslError(std::string_view fallback = "unknown OpenSSL error");

}  // namespace proxy::tls
