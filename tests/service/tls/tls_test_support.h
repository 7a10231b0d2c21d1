#pragma once
// TLS helpers for the integration tests: certificates made with the openssl command, a blocking
// OpenSSL client, and a small TLS origin (keep-alive HTTP/1.1 over TLS, on 127.0.0.1 port 0).

#include <openssl/ssl.h>

#include <QString>
#include <QStringList>
#include <nlohmann/json.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

namespace proxy::test {

// Runs `openssl args...` in `dir`; false (with the output in `error`) when it fails.
bool runOpenssl(const QString& dir, const QStringList& args, QString* error = nullptr);

// In `dir`: ca.pem/ca.key (a test CA) and, signed by it, NAME.pem/NAME.key for each leaf with
// the given subjectAltName DNS names. `days` may be small to test expiry warnings.
bool makeCa(const QString& dir);
bool makeLeaf(const QString& dir, const QString& name, const QStringList& dnsNames, int days = 90);
// NAME-ocsp.der: an OCSP response for NAME.pem signed by the test CA (good, or revoked), valid
// for a day, made with `openssl ocsp` from an index file written here.
bool makeOcspResponse(const QString& dir, const QString& name, bool revoked = false);
// NAME.pfx from NAME.pem + NAME.key, with `password`.
bool makePfx(const QString& dir, const QString& name, const QString& password);

struct TlsResult {
    bool handshake = false;     // the handshake completed
    std::string error;          // why not
    std::string peerSubject;    // the server certificate's subject (one line)
    std::string fingerprint;    // SHA-256 of the server certificate (hex)
    std::string alpn;           // the protocol the server selected
    std::string version;        // "TLSv1.3"
    bool resumed = false;
    std::string ocsp;           // the stapled OCSP response (DER), empty when none came
    std::string response;       // every byte read after the request, until close or timeout
};

class TlsClient {
public:
    explicit TlsClient(const std::string& caFile = {});
    ~TlsClient();
    // Connects and handshakes (SNI = serverName unless empty). maxVersion 0 = the newest.
    bool connect(int port, const std::string& serverName, int maxVersion = 0);
    bool send(const std::string& bytes);
    // Reads one response with a Content-Length body (the proxy's answers to /echo etc.).
    std::string readResponse(int timeoutMs = 10000);
    void close();
    // Presents this certificate (PEM files) when the server asks for one.
    void useCertificate(const std::string& cert, const std::string& key);
    TlsResult& result() { return result_; }
    SSL_SESSION* session() const { return lastSession_; }
    void setSession(SSL_SESSION* s) { resume_ = s; }

private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    TlsResult result_;
    SSL_SESSION* lastSession_ = nullptr;  // owned (one reference)
    SSL_SESSION* resume_ = nullptr;       // not owned
    std::string pending_;
};

// A TLS origin: each connection handshakes with cert/key, then answers every request with
// 200 and body "tls-origin <target> conn=<n>" (keep-alive).
class TlsOrigin {
public:
    TlsOrigin(const std::string& certFile, const std::string& keyFile);
    ~TlsOrigin();
    int port() const { return port_; }
    int connections() const { return connections_.load(); }
    int handshakes() const { return handshakes_.load(); }
    std::string lastServerName() const;

private:
    void acceptLoop();
    void serve(int fd, int n);
    SSL_CTX* ctx_ = nullptr;
    int listenFd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::atomic<int> handshakes_{0};
    std::thread thread_;
    std::vector<std::thread> workers_;
    mutable std::mutex mutex_;
    std::string lastServerName_;
};

class ProxyProcess;

// `proxyctl --json status` against the service whose control socket is in `dir`
// (ProxyProcess::dir()); a discarded value when it does not answer with JSON.
nlohmann::json proxyctlStatus(const QString& dir);
// Waits up to `ms` for the service to print `text` (reload outcomes are logged, not returned).
bool waitForOutput(ProxyProcess& proxy, const QString& text, int ms);

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (written to `port`).
int listenOnLoopback(int& port);

}  // namespace proxy::test
