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

struct RequestFree { void operator()(OCSP_REQUEST* r) const { OCSP_REQUEST_free(r); } };
struct StoreFree { void operator()(X509_STORE* s) const { X509_STORE_free(s); } };


std::string generalizedTimeText(const ASN1_GENERALIZEDTIME* t) {
    if (t == nullptr) return "an unknown time";
    BIO* bio = BIO_new(BIO_s_mem());
    std::string out = "an unknown time";
    if (bio != nullptr && ASN1_GENERALIZEDTIME_print(bio, t) == 1) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) out.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
    return out;
}

int staple(SSL* ssl, void* arg) { return stapleResponse(ssl, static_cast<const OcspStaple*>(arg)); }

}  // namespace

int stapleResponse(SSL* ssl, const OcspStaple* s) {
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

X509* findOcspIssuer(X509* cert, STACK_OF(X509)* chain) {
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
        X509* candidate = sk_X509_value(chain, i);
        if (X509_check_issued(candidate, cert) == X509_V_OK) return candidate;
    }
    return nullptr;
}

std::vector<std::string> ocspResponderUrls(X509* cert) {
    std::vector<std::string> out;
    STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(cert);
    for (int i = 0; urls != nullptr && i < sk_OPENSSL_STRING_num(urls); ++i)
        if (const char* url = sk_OPENSSL_STRING_value(urls, i)) out.emplace_back(url);
    X509_email_free(urls);
    return out;
}

std::expected<std::vector<unsigned char>, std::string> makeOcspRequest(X509* cert, X509* issuer) {
    std::unique_ptr<OCSP_REQUEST, RequestFree> request(OCSP_REQUEST_new());
    OCSP_CERTID* id = OCSP_cert_to_id(nullptr, cert, issuer);
    if (!request || id == nullptr) {
        OCSP_CERTID_free(id);
        return std::unexpected("cannot make the OCSP request: " + opensslError());
    }
    if (OCSP_request_add0_id(request.get(), id) == nullptr) {  // owns id from here on success
        OCSP_CERTID_free(id);
        return std::unexpected("cannot make the OCSP request: " + opensslError());
    }
    unsigned char* der = nullptr;
    const int size = i2d_OCSP_REQUEST(request.get(), &der);
    if (size <= 0 || der == nullptr)
        return std::unexpected("cannot encode the OCSP request: " + opensslError());
    std::vector<unsigned char> out(der, der + size);
    OPENSSL_free(der);
    return out;
}

std::expected<FetchedOcsp, std::string> checkFetchedOcsp(std::span<const unsigned char> der, X509* cert,
                                                         X509* issuer, STACK_OF(X509)* chain,
                                                         std::int64_t now) {
    FetchedOcsp out;
    if (der.empty()) return std::unexpected("the responder sent an empty response");
    if (der.size() > 64 * 1024) return std::unexpected("the response is larger than 64 KiB");
    const unsigned char* p = der.data();
    std::unique_ptr<OCSP_RESPONSE, ResponseFree> response(
        d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
    if (!response || p != der.data() + der.size()) {
        ERR_clear_error();
        return std::unexpected("the responder's answer is not a DER OCSP response");
    }
    const int status = OCSP_response_status(response.get());
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        return std::unexpected(std::string("the responder refused the request (") +
                               OCSP_response_status_str(status) + ")");
    std::unique_ptr<OCSP_BASICRESP, BasicFree> basic(OCSP_response_get1_basic(response.get()));
    if (!basic) {
        ERR_clear_error();
        return std::unexpected("the response holds no basic OCSP response");
    }
    // Trust the issuer alone: it vouches for its own certificates' status, directly or through a
    // responder certificate it issued with id-kp-OCSPSigning (RFC 6960 section 4.2.2.2).
    std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
    if (!store || X509_STORE_add_cert(store.get(), issuer) != 1)
        return std::unexpected("cannot set up the OCSP signature check: " + opensslError());
    X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
    if (OCSP_basic_verify(basic.get(), chain, store.get(), 0) != 1)
        return std::unexpected("the response's signature does not verify against the "
                               "certificate's issuer: " + opensslError());
    std::unique_ptr<OCSP_CERTID, IdFree> id(OCSP_cert_to_id(nullptr, cert, issuer));
    if (!id) return std::unexpected("cannot make the certificate's OCSP id: " + opensslError());
    int certStatus = -1;
    int reason = -1;
    ASN1_GENERALIZEDTIME* revokedAt = nullptr;
    ASN1_GENERALIZEDTIME* thisUpdate = nullptr;
    ASN1_GENERALIZEDTIME* nextUpdate = nullptr;
    if (OCSP_resp_find_status(basic.get(), id.get(), &certStatus, &reason, &revokedAt, &thisUpdate,
                              &nextUpdate) != 1)
        return std::unexpected("the response has no status for this certificate (the responder "
                               "answered for another one)");
    if (thisUpdate == nullptr) return std::unexpected("the response has no thisUpdate");
    out.staple.thisUpdate = unixTime(thisUpdate);
    out.staple.nextUpdate = nextUpdate ? unixTime(nextUpdate) : 0;
    if (out.staple.thisUpdate == 0 || (nextUpdate != nullptr && out.staple.nextUpdate == 0))
        return std::unexpected("the response's thisUpdate or nextUpdate cannot be read");
    if (out.staple.thisUpdate > now + kOcspClockSkew)
        return std::unexpected("the response's thisUpdate is more than " +
                               std::to_string(kOcspClockSkew) +
                               " s in the future (is a clock wrong?)");
    if (out.staple.nextUpdate != 0 && out.staple.nextUpdate < out.staple.thisUpdate)
        return std::unexpected("the response's nextUpdate is before its thisUpdate");
    if (out.staple.nextUpdate != 0 && out.staple.nextUpdate <= now)
        return std::unexpected("the response is stale: its nextUpdate has passed");
    if (certStatus == V_OCSP_CERTSTATUS_GOOD) {
        out.certStatus = OcspCertStatus::Good;
    } else if (certStatus == V_OCSP_CERTSTATUS_REVOKED) {
        out.certStatus = OcspCertStatus::Revoked;
        out.revocation = "since " + generalizedTimeText(revokedAt);
        if (reason >= 0) out.revocation += std::string(", reason ") + OCSP_crl_reason_str(reason);
    } else {
        out.certStatus = OcspCertStatus::Unknown;
    }
    out.staple.der.assign(der.begin(), der.end());
    return out;
}

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
    X509* issuer = findOcspIssuer(cert, chain);
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
