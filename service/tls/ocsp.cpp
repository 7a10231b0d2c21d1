#include "tls/ocsp.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>

#include "tls/certificate.h"

namespace proxy::tls {
namespace {

struct ResponseFree { void operator()(OCSP_RESPONSE* r) const { OCSP_RESPONSE_free(r); } };
struct BasicFree { void operator()(OCSP_BASICRESP* b) const { OCSP_BASICRESP_free(b); } };
struct IdFree { void operator()(OCSP_CERTID* i) const { OCSP_CERTID_free(i); } };

// The chain certificate that issued `cert`, or nullptr.
X509* findIssuer(X509* cert, STACK_OF(X509)* chain) {
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
        X509* candidate = sk_X509_value(chain, i);
        if (X509_check_issued(candidate, cert) == X509_V_OK) return candidate;
    }
    return nullptr;
}

int staple(SSL* ssl, void* arg) {
    const auto* s = static_cast<const OcspStaple*>(arg);
    if (s == nullptr || s->der.empty()) return SSL_TLSEXT_ERR_NOACK;
    if (s->nextUpdate != 0 && static_cast<std::int64_t>(std::time(nullptr)) > s->nextUpdate)
        return SSL_TLSEXT_ERR_NOACK;  // stale: clients would reject it
    auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(s->der.size()));
    if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
    std::copy(s->der.begin(), s->der.end(), copy);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(s->der.size())) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

std::expected<OcspStaple, std::string> loadOcspResponse(const std::string& file, X509* cert,
                                                        STACK_OF(X509)* chain) {
    const std::string where = "the OCSP response file '" + file + "'";
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::unexpected("cannot read " + where);
    OcspStaple out;
    out.der.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (out.der.empty()) return std::unexpected(where + " is empty");
    if (out.der.size() > 64 * 1024) return std::unexpected(where + " is larger than 64 KiB");
    const unsigned char* p = out.der.data();
    std::unique_ptr<OCSP_RESPONSE, ResponseFree> response(
        d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(out.der.size())));
    if (!response || p != out.der.data() + out.der.size()) {
        ERR_clear_error();
        return std::unexpected(where + " does not hold a DER OCSP response");
    }
    const int status = OCSP_response_status(response.get());
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return std::unexpected(where + " is an unsuccessful response (" +
                               OCSP_response_status_str(status) + ")");
    std::unique_ptr<OCSP_BASICRESP, BasicFree> basic(OCSP_response_get1_basic(response.get()));
    if (!basic) {
        ERR_clear_error();
        return std::unexpected(where + " holds no basic OCSP response");
    }
    // The single response for this certificate: same serial, and the same issuer when we know it.
    X509* issuer = findIssuer(cert, chain);
    std::unique_ptr<OCSP_CERTID, IdFree> id(issuer ? OCSP_cert_to_id(nullptr, cert, issuer) : nullptr);
    const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
    OCSP_SINGLERESP* single = nullptr;
    for (int i = 0; i < OCSP_resp_count(basic.get()); ++i) {
        OCSP_SINGLERESP* candidate = OCSP_resp_get0(basic.get(), i);
        const OCSP_CERTID* candidateId = OCSP_SINGLERESP_get0_id(candidate);
        ASN1_INTEGER* candidateSerial = nullptr;
        if (OCSP_id_get0_info(nullptr, nullptr, nullptr, &candidateSerial, const_cast<OCSP_CERTID*>(candidateId)) != 1 ||
            candidateSerial == nullptr || ASN1_INTEGER_cmp(candidateSerial, serial) != 0)
            continue;
        if (id && OCSP_id_issuer_cmp(id.get(), candidateId) != 0) continue;
        single = candidate;
        break;
    }
    if (single == nullptr)
        return std::unexpected(where + " has no status for this certificate (another "
                               "certificate's response?)");
    int reason = 0;
    ASN1_GENERALIZEDTIME* revoked = nullptr;
    ASN1_GENERALIZEDTIME* thisUpdate = nullptr;
    ASN1_GENERALIZEDTIME* nextUpdate = nullptr;
    const int certStatus = OCSP_single_get0_status(single, &reason, &revoked, &thisUpdate, &nextUpdate);
    if (certStatus == V_OCSP_CERTSTATUS_REVOKED)
        return std::unexpected(where + " says the certificate is revoked");
    if (certStatus != V_OCSP_CERTSTATUS_GOOD)
        return std::unexpected(where + " gives the certificate's status as unknown");
    out.thisUpdate = unixTime(thisUpdate);
    out.nextUpdate = unixTime(nextUpdate);
    return out;
}

void stapleOnHandshakes(SSL_CTX* ctx, const OcspStaple* s) {
    SSL_CTX_set_tlsext_status_cb(ctx, staple);
    SSL_CTX_set_tlsext_status_arg(ctx, const_cast<OcspStaple*>(s));
}

}  // namespace proxy::tls
