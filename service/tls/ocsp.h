#pragma once
// OCSP stapling from a response file the admin provides (a certificate's "ocsp_response", like
// nginx's ssl_stapling_file): for servers that cannot reach the CA's responder, or that fetch the
// response with their own job. The file is read and checked when the snapshot is built; the
// handshake then staples a copy to every client that asks for the certificate's status, as long
// as the response's nextUpdate has not passed.

#include <openssl/ssl.h>

#include <cstdint>
#include <expected>
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

}  // namespace proxy::tls
