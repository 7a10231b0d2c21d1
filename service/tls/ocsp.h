#pragma once
// OCSP stapling from a response file the admin provides (a certificate's "ocsp_response", like
// nginx's ssl_stapling_file): for servers that cannot reach the CA's responder, or that fetch the
// response with their own job. The file is read and checked when the snapshot is built; the
// handshake then staples a copy to every client that asks for the certificate's status, as long
// as the response's nextUpdate has not passed.

#include <openssl/ssl.h>

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <vector>

namespace proxy::tls {

struct OcspStaple {
    std::vector<unsigned char> der;  // the response as the file holds it
    std::int64_t thisUpdate = 0;     // Unix seconds
    std::int64_t nextUpdate = 0;     // 0 = the response gives none
};

// Reads `file` (a DER OCSPResponse) and checks it: a successful response, with a status for the
// certificate `cert` (matched by serial number and, when the chain holds the issuer, by the
// issuer's key), which is not "revoked". Errors name the file.
std::expected<OcspStaple, std::string> loadOcspResponse(const std::string& file, X509* cert,
                                                        STACK_OF(X509)* chain);

// Staples `staple` (which must outlive the context) on handshakes of `ctx`.
void stapleOnHandshakes(SSL_CTX* ctx, const OcspStaple* staple);

// The body of a status callback: hands `staple`'s bytes to this handshake, unless there are none
// or its nextUpdate has passed. Returns what the callback returns (SSL_TLSEXT_ERR_OK / _NOACK).
int stapleResponse(SSL* ssl, const OcspStaple* staple);

// ---- Fetching from the certificate's responder (the I/O is in tls/ocsp_fetcher.h) ----

// The certificate's OCSP responder URLs from its Authority Information Access (empty: none).
std::vector<std::string> ocspResponderUrls(X509* cert);

// The chain certificate that issued `cert`, or nullptr.
X509* findOcspIssuer(X509* cert, STACK_OF(X509)* chain);

// The DER OCSPRequest for `cert` (CertID by SHA-1, as RFC 5019 asks, so responders and caches
// recognise it; no nonce: responders serving pre-signed answers ignore it anyway).
std::expected<std::vector<unsigned char>, std::string> makeOcspRequest(X509* cert, X509* issuer);

enum class OcspCertStatus { Good, Revoked, Unknown };

struct FetchedOcsp {
    OcspStaple staple;
    OcspCertStatus certStatus = OcspCertStatus::Unknown;
    std::string revocation;  // when revoked: "since <date>, reason <reason>"
};

// How far a responder's clock may be ahead of ours (thisUpdate in the future), in seconds.
inline constexpr long kOcspClockSkew = 300;

// Checks a response fetched for `cert`: a DER successful basic response, signed by the issuer or
// by a responder the issuer delegated (id-kp-OCSPSigning) -- verified with OCSP_basic_verify,
// trusting `issuer` alone --, holding a status for exactly this certificate's CertID, with a sane
// thisUpdate (not more than kOcspClockSkew in the future) and a nextUpdate that has not passed.
// A revoked or unknown status is a value, not an error: the caller decides (and logs). `now` is
// Unix seconds. Errors are sentences without the URL (the caller adds it).
std::expected<FetchedOcsp, std::string> checkFetchedOcsp(std::span<const unsigned char> der, X509* cert,
                                                         X509* issuer, STACK_OF(X509)* chain,
                                                         std::int64_t now);

}  // namespace proxy::tls
