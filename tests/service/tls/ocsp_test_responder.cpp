#include "ocsp_test_responder.h"
#include "tls_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace proxy::test {
namespace {

X509* readCert(const std::string& file) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr) return nullptr;
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    return cert;
}

EVP_PKEY* readKey(const std::string& file) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr) return nullptr;
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    return key;
}

std::string percentDecode(const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            out.push_back(static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(in[i]);
        }
    }
    return out;
}

std::string base64Decode(const std::string& in) {
    std::string out(in.size(), '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    if (n < 0) return {};
    out.resize(static_cast<std::size_t>(n));
    std::size_t pad = 0;
    for (std::size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) ++pad;
    out.resize(out.size() - std::min(pad, out.size()));
    return out;
}

void sendAll(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
    }
}

}  // namespace

OcspTestResponder::OcspTestResponder() {
    listenFd_ = listenOnLoopback(port_);
    thread_ = std::thread([this] { acceptLoop(); });
}

OcspTestResponder::~OcspTestResponder() {
    stop_ = true;
    ::shutdown(listenFd_, SHUT_RDWR);
    ::close(listenFd_);
    thread_.join();
    for (auto& t : workers_) t.join();
    X509_free(ca_);
    EVP_PKEY_free(caKey_);
    X509_free(other_);
    X509_free(rogue_);
    EVP_PKEY_free(rogueKey_);
    X509_free(delegated_);
    EVP_PKEY_free(delegatedKey_);
    X509_free(plain_);
    EVP_PKEY_free(plainKey_);
}

bool OcspTestResponder::setSigners(const std::string& delegatedCert,
                                   const std::string& delegatedKey, const std::string& plainCert,
                                   const std::string& plainKey) {
    delegated_ = readCert(delegatedCert);
    delegatedKey_ = readKey(delegatedKey);
    plain_ = readCert(plainCert);
    plainKey_ = readKey(plainKey);
    return delegated_ && delegatedKey_ && plain_ && plainKey_;
}

bool OcspTestResponder::load(const std::string& caCert, const std::string& caKey,
                             const std::string& otherCert) {
    ca_ = readCert(caCert);
    caKey_ = readKey(caKey);
    other_ = readCert(otherCert);
    // The rogue signer: a fresh self-signed EC certificate with the CA's name.
    rogueKey_ = EVP_EC_gen("P-256");
    rogue_ = X509_new();
    if (rogueKey_ == nullptr || rogue_ == nullptr) return false;
    ASN1_INTEGER_set(X509_get_serialNumber(rogue_), 4242);
    X509_gmtime_adj(X509_getm_notBefore(rogue_), -3600);
    X509_gmtime_adj(X509_getm_notAfter(rogue_), 86400);
    X509_set_subject_name(rogue_, X509_get_subject_name(ca_));
    X509_set_issuer_name(rogue_, X509_get_subject_name(ca_));
    X509_set_pubkey(rogue_, rogueKey_);
    X509_sign(rogue_, rogueKey_, EVP_sha256());
    return ca_ != nullptr && caKey_ != nullptr && other_ != nullptr;
}

int OcspTestResponder::count(const std::string& behaviour, const std::string& method) const {
    std::lock_guard lock(mutex_);
    if (!method.empty()) {
        auto it = counts_.find(behaviour + " " + method);
        return it == counts_.end() ? 0 : it->second;
    }
    int total = 0;
    for (const char* m : {"GET", "POST"})
        if (auto it = counts_.find(behaviour + " " + m); it != counts_.end()) total += it->second;
    return total;
}

void OcspTestResponder::acceptLoop() {
    while (!stop_) {
        pollfd p{listenFd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const int fd = ::accept(listenFd_, nullptr, nullptr);
        if (fd < 0) continue;
        std::lock_guard lock(mutex_);
        workers_.emplace_back([this, fd] { serve(fd); });
    }
}

void OcspTestResponder::serve(int fd) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string bytes;
    char buffer[4096];
    std::size_t headEnd = std::string::npos;
    while ((headEnd = bytes.find("\r\n\r\n")) == std::string::npos && bytes.size() < 65536) {
        const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        bytes.append(buffer, static_cast<std::size_t>(n));
    }
    if (headEnd == std::string::npos) {
        ::close(fd);
        return;
    }
    const std::string head = bytes.substr(0, headEnd);
    const std::string method = head.substr(0, head.find(' '));
    std::string target = head.substr(method.size() + 1);
    target = target.substr(0, target.find(' '));
    if (target.starts_with("http://")) target = target.substr(target.find('/', 7));  // via a proxy
    const std::size_t second = target.find('/', 1);
    const std::string behaviour =
        target.substr(1, second == std::string::npos ? std::string::npos : second - 1);
    std::string der;
    if (method == "GET") {
        der = base64Decode(
            percentDecode(second == std::string::npos ? "" : target.substr(second + 1)));
    } else {
        std::size_t length = 0;
        if (const auto at = head.find("Content-Length: "); at != std::string::npos)
            length = std::stoul(head.substr(at + 16));
        der = bytes.substr(headEnd + 4);
        while (der.size() < length) {
            const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
            if (n <= 0) break;
            der.append(buffer, static_cast<std::size_t>(n));
        }
    }
    {
        std::lock_guard lock(mutex_);
        ++counts_[behaviour + " " + method];
    }
    if (behaviour == "slow") {
        for (int i = 0; i < 300 && !stop_; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ::close(fd);
        return;
    }
    int status = 200;
    const std::string body = answer(behaviour, der, &status);
    std::string response = "HTTP/1.1 " + std::to_string(status) +
                           (status == 200 ? " OK" : " Failed") +
                           "\r\nContent-Type: application/ocsp-response\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    sendAll(fd, response);
    ::close(fd);
}

std::string OcspTestResponder::answer(const std::string& behaviour, const std::string& der,
                                      int* httpStatus) {
    if (behaviour == "error" || (behaviour == "flaky" && flakyFailing_)) {
        *httpStatus = 500;
        return "responder failure";
    }
    if (behaviour == "garbage") return "this is not an OCSP response at all";
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    OCSP_REQUEST* request = d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(der.size()));
    if (request == nullptr || OCSP_request_onereq_count(request) < 1) {
        OCSP_REQUEST_free(request);
        OCSP_RESPONSE* malformed =
            OCSP_response_create(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, nullptr);
        unsigned char* out = nullptr;
        const int n = i2d_OCSP_RESPONSE(malformed, &out);
        std::string text(reinterpret_cast<char*>(out), static_cast<std::size_t>(std::max(n, 0)));
        OPENSSL_free(out);
        OCSP_RESPONSE_free(malformed);
        return text;
    }
    OCSP_RESPONSE* response = nullptr;
    if (behaviour == "unauth") {
        response = OCSP_response_create(OCSP_RESPONSE_STATUS_UNAUTHORIZED, nullptr);
    } else {
        OCSP_CERTID* asked = OCSP_onereq_get0_id(OCSP_request_onereq_get0(request, 0));
        OCSP_CERTID* id =
            behaviour == "other" ? OCSP_cert_to_id(nullptr, other_, ca_) : OCSP_CERTID_dup(asked);
        OCSP_BASICRESP* basic = OCSP_BASICRESP_new();
        long from = -60;
        long until = behaviour == "flaky" ? flakyValidity_.load() : 86400;
        if (behaviour == "future") from = 3600;
        if (behaviour == "stale") {
            from = -7200;
            until = -3600;
        }
        ASN1_TIME* thisUpdate = X509_gmtime_adj(nullptr, from);
        ASN1_TIME* nextUpdate = X509_gmtime_adj(nullptr, until);
        ASN1_TIME* revokedAt = X509_gmtime_adj(nullptr, -86400);
        const bool revoked = behaviour == "revoked";
        const int certStatus = revoked                  ? V_OCSP_CERTSTATUS_REVOKED
                               : behaviour == "unknown" ? V_OCSP_CERTSTATUS_UNKNOWN
                                                        : V_OCSP_CERTSTATUS_GOOD;
        OCSP_basic_add1_status(basic, id, certStatus,
                               revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                               revoked ? revokedAt : nullptr, thisUpdate, nextUpdate);
        X509* signer = ca_;
        EVP_PKEY* key = caKey_;
        if (behaviour == "badsig") signer = rogue_, key = rogueKey_;
        if (behaviour == "delegated") signer = delegated_, key = delegatedKey_;
        if (behaviour == "nodelegation") signer = plain_, key = plainKey_;
        OCSP_basic_sign(basic, signer, key, EVP_sha256(), nullptr, 0);
        response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
        OCSP_BASICRESP_free(basic);
        OCSP_CERTID_free(id);
        ASN1_TIME_free(thisUpdate);
        ASN1_TIME_free(nextUpdate);
        ASN1_TIME_free(revokedAt);
    }
    OCSP_REQUEST_free(request);
    unsigned char* out = nullptr;
    const int n = i2d_OCSP_RESPONSE(response, &out);
    std::string text(reinterpret_cast<char*>(out), static_cast<std::size_t>(std::max(n, 0)));
    OPENSSL_free(out);
    OCSP_RESPONSE_free(response);
    return text;
}

}  // namespace proxy::test
