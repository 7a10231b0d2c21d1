#pragma once
// An OCSP responder for tests, on 127.0.0.1 port 0: plain HTTP/1.1 (GET with the base64 request
// in the path, or POST), answers signed with OpenSSL's OCSP API. What it answers depends on the
// first path segment, so each test certificate names its behaviour in its AIA URL
// ("http://127.0.0.1:PORT/good"):
//   /good      a good status, signed by the CA, valid for a day
//   /revoked   revoked (keyCompromise)
//   /unknown   the status "unknown" (the responder does not know the certificate)
//   /garbage   200 with bytes that are not an OCSP response
//   /other     a good status for another certificate (setOther)
//   /badsig    a good status signed by a key the CA never vouched for
//   /error     HTTP 500
//   /unauth    an unsuccessful OCSP response (unauthorized)
//   /slow      reads the request, never answers (until the responder stops)
//   /future    a good status whose thisUpdate is an hour ahead (a responder clock gone wrong)
//   /stale     a good status whose nextUpdate passed an hour ago
//   /delegated a good status signed by a responder certificate the CA issued for OCSP signing
//              (id-kp-OCSPSigning), included in the response (setSigners)
//   /nodelegation  the same, signed by a CA-issued certificate without id-kp-OCSPSigning
//   /flaky     like /good but valid for setFlakyValiditySeconds; HTTP 500 after
//              setFlakyFailing(true)
// Requests are counted per behaviour and method.

#include <openssl/ssl.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace proxy::test {

class OcspTestResponder {
  public:
    OcspTestResponder();
    ~OcspTestResponder();
    OcspTestResponder(const OcspTestResponder&) = delete;
    OcspTestResponder& operator=(const OcspTestResponder&) = delete;

    int port() const { return port_; }
    // The CA that signs (ca.pem / ca.key) and, for /other, a certificate whose id is answered for.
    bool load(const std::string& caCert, const std::string& caKey, const std::string& otherCert);
    // The delegated responder's certificate and key, and a CA-issued certificate and key that
    // may not sign OCSP responses.
    bool setSigners(const std::string& delegatedCert, const std::string& delegatedKey,
                    const std::string& plainCert, const std::string& plainKey);
    void setFlakyValiditySeconds(int seconds) { flakyValidity_ = seconds; }
    void setFlakyFailing(bool failing) { flakyFailing_ = failing; }
    // Requests so far for a behaviour ("good") and method ("GET"/"POST"); "" = any method.
    int count(const std::string& behaviour, const std::string& method = {}) const;

  private:
    void acceptLoop();
    void serve(int fd);
    std::string answer(const std::string& behaviour, const std::string& der, int* httpStatus);

    X509* ca_ = nullptr;
    EVP_PKEY* caKey_ = nullptr;
    X509* other_ = nullptr;
    X509* rogue_ = nullptr;  // self-signed, for /badsig
    X509* delegated_ = nullptr;
    EVP_PKEY* delegatedKey_ = nullptr;
    X509* plain_ = nullptr;
    EVP_PKEY* plainKey_ = nullptr;
    EVP_PKEY* rogueKey_ = nullptr;
    int listenFd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> flakyValidity_{86400};
    std::atomic<bool> flakyFailing_{false};
    std::thread thread_;
    std::vector<std::thread> workers_;
    mutable std::mutex mutex_;
    std::map<std::string, int> counts_;  // "good GET" -> n
};

}  // namespace proxy::test
