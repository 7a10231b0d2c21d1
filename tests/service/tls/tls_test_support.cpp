#include "tls_test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy_process.h"
#include "proxyctl_run.h"

#include <QDir>
#include <QThread>
#include <QFile>
#include <QProcess>
#include <chrono>
#include <cstring>

namespace proxy::test {
namespace {

int connectTo(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string sslErrors() {
    std::string text;
    while (unsigned long e = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(e, buffer, sizeof(buffer));
        if (!text.empty()) text += "; ";
        text += buffer;
    }
    return text.empty() ? "no OpenSSL error" : text;
}

}  // namespace

bool runOpenssl(const QString& dir, const QStringList& args, QString* error) {
    QProcess p;
    p.setWorkingDirectory(dir);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start("openssl", args);
    if (!p.waitForFinished(60000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        if (error) *error = "openssl " + args.join(' ') + ": " + QString::fromUtf8(p.readAll());
        qWarning("openssl %s failed: %s", qPrintable(args.join(' ')), p.readAll().constData());
        return false;
    }
    return true;
}

bool makeCa(const QString& dir) {
    return runOpenssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj",
                            "/CN=Proxy Test CA"});
}

bool makeLeaf(const QString& dir, const QString& name, const QStringList& dnsNames, int days) {
    QStringList san;
    for (const QString& n : dnsNames) san << "DNS:" + n;
    return runOpenssl(dir, {"req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key", "-newkey", "ec",
                            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                            name + ".key", "-out", name + ".pem", "-days", QString::number(days),
                            "-subj", "/CN=" + dnsNames.value(0), "-addext",
                            "subjectAltName=" + san.join(',')});
}

bool makeOcspResponse(const QString& dir, const QString& name, bool revoked) {
    QFile pem(dir + "/" + name + ".pem");
    if (!pem.open(QIODevice::ReadOnly)) return false;
    const QByteArray text = pem.readAll();
    BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (cert == nullptr) return false;
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    char* hex = BN_bn2hex(bn);
    const QString serial = QString::fromLatin1(hex);
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(cert);
    QFile index(dir + "/" + name + "-index.txt");
    if (!index.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
    // status, expiry, revocation date, serial, file, subject (OpenSSL's CA database format)
    index.write(QString("%1\t301231235959Z\t%2\t%3\tunknown\t/CN=%4\n")
                    .arg(revoked ? "R" : "V", revoked ? "260101000000Z" : "", serial, name)
                    .toLatin1());
    index.close();
    return runOpenssl(dir, {"ocsp", "-issuer", "ca.pem", "-cert", name + ".pem", "-no_nonce", "-reqout",
                            name + "-req.der"}) &&
           runOpenssl(dir, {"ocsp", "-index", name + "-index.txt", "-rsigner", "ca.pem", "-rkey", "ca.key",
                            "-CA", "ca.pem", "-reqin", name + "-req.der", "-respout", name + "-ocsp.der",
                            "-ndays", "1"});
}

bool makePfx(const QString& dir, const QString& name, const QString& password) {
    return runOpenssl(dir, {"pkcs12", "-export", "-in", name + ".pem", "-inkey", name + ".key",
                            "-certfile", "ca.pem", "-out", name + ".pfx", "-passout",
                            "pass:" + password});
}

// ---- client ----

TlsClient::TlsClient(const std::string& caFile) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(ctx_, 0);  // lets a test offer TLS 1.0/1.1 to see them refused
    SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
    if (!caFile.empty()) {
        SSL_CTX_load_verify_locations(ctx_, caFile.c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    static const unsigned char alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx_, alpn, sizeof(alpn));
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
}

TlsClient::~TlsClient() {
    close();
    if (lastSession_) SSL_SESSION_free(lastSession_);
    SSL_CTX_free(ctx_);
}

bool TlsClient::connect(int port, const std::string& serverName, int maxVersion) {
    close();
    result_ = {};
    pending_.clear();
    fd_ = connectTo(port);
    if (fd_ < 0) {
        result_.error = "connect failed";
        return false;
    }
    ssl_ = SSL_new(ctx_);
    if (maxVersion != 0) SSL_set_max_proto_version(ssl_, maxVersion);
    if (!serverName.empty()) SSL_set_tlsext_host_name(ssl_, serverName.c_str());
    if (resume_) SSL_set_session(ssl_, resume_);
    SSL_set_tlsext_status_type(ssl_, TLSEXT_STATUSTYPE_ocsp);  // ask for a stapled OCSP response
    SSL_set_fd(ssl_, fd_);
    ERR_clear_error();
    if (SSL_connect(ssl_) != 1) {
        result_.error = sslErrors();
        return false;
    }
    result_.handshake = true;
    result_.version = SSL_get_version(ssl_);
    result_.resumed = SSL_session_reused(ssl_) == 1;
    const unsigned char* proto = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl_, &proto, &length);
    result_.alpn.assign(reinterpret_cast<const char*>(proto), length);
    const unsigned char* ocsp = nullptr;
    const long ocspLength = SSL_get_tlsext_status_ocsp_resp(ssl_, &ocsp);
    if (ocsp != nullptr && ocspLength > 0)
        result_.ocsp.assign(reinterpret_cast<const char*>(ocsp), static_cast<std::size_t>(ocspLength));
    if (X509* peer = SSL_get1_peer_certificate(ssl_)) {
        char line[512];
        X509_NAME_oneline(X509_get_subject_name(peer), line, sizeof(line));
        result_.peerSubject = line;
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int size = 0;
        X509_digest(peer, EVP_sha256(), digest, &size);
        static const char* hex = "0123456789abcdef";
        for (unsigned int i = 0; i < size; ++i) {
            result_.fingerprint += hex[digest[i] >> 4];
            result_.fingerprint += hex[digest[i] & 15];
        }
        X509_free(peer);
    }
    return true;
}

bool TlsClient::send(const std::string& bytes) {
    return ssl_ && SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
                       static_cast<int>(bytes.size());
}

std::string TlsClient::readResponse(int timeoutMs) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    auto complete = [&]() -> std::size_t {
        const auto end = pending_.find("\r\n\r\n");
        if (end == std::string::npos) return 0;
        std::size_t length = 0;
        std::string head = pending_.substr(0, end);
        for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (const auto cl = head.find("content-length:"); cl != std::string::npos)
            length = std::stoul(head.substr(cl + 15));
        return pending_.size() >= end + 4 + length ? end + 4 + length : 0;
    };
    while (std::chrono::steady_clock::now() < deadline) {
        if (const std::size_t n = complete()) {
            std::string out = pending_.substr(0, n);
            pending_.erase(0, n);
            // The session (with its TLS 1.3 ticket) is known once data has been read.
            if (SSL_SESSION* s = SSL_get1_session(ssl_)) {
                if (lastSession_) SSL_SESSION_free(lastSession_);
                lastSession_ = s;
            }
            return out;
        }
        char buffer[16384];
        const int n = SSL_read(ssl_, buffer, sizeof(buffer));
        if (n <= 0) break;
        pending_.append(buffer, static_cast<std::size_t>(n));
    }
    return {};
}

void TlsClient::useCertificate(const std::string& cert, const std::string& key) {
    SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
}

void TlsClient::close() {
    if (ssl_) {
        SSL_shutdown(ssl_);
        SSL_free(ssl_);
        ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

// ---- origin ----

TlsOrigin::TlsOrigin(const std::string& certFile, const std::string& keyFile) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx_, certFile.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, keyFile.c_str(), SSL_FILETYPE_PEM);
    listenFd_ = listenOnLoopback(port_);
    thread_ = std::thread([this] { acceptLoop(); });
}

TlsOrigin::~TlsOrigin() {
    stop_ = true;
    ::shutdown(listenFd_, SHUT_RDWR);
    ::close(listenFd_);
    thread_.join();
    for (auto& t : workers_) t.join();
    SSL_CTX_free(ctx_);
}

std::string TlsOrigin::lastServerName() const {
    std::lock_guard lock(mutex_);
    return lastServerName_;
}

void TlsOrigin::acceptLoop() {
    while (!stop_) {
        pollfd p{listenFd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const int fd = ::accept(listenFd_, nullptr, nullptr);
        if (fd < 0) continue;
        const int n = ++connections_;
        workers_.emplace_back([this, fd, n] { serve(fd, n); });
    }
}

void TlsOrigin::serve(int fd, int n) {
    timeval tv{0, 200'000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    int rc = -1;
    for (int tries = 0; tries < 50 && !stop_; ++tries) {
        rc = SSL_accept(ssl);
        if (rc == 1) break;
        const int err = SSL_get_error(ssl, rc);
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) break;
    }
    if (rc == 1) {
        ++handshakes_;
        if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
            std::lock_guard lock(mutex_);
            lastServerName_ = name;
        }
        std::string pending;
        while (!stop_) {
            char buffer[8192];
            const int got = SSL_read(ssl, buffer, sizeof(buffer));
            if (got <= 0) {
                const int err = SSL_get_error(ssl, got);
                if (err == SSL_ERROR_WANT_READ) continue;  // the receive timeout: check stop_
                break;
            }
            pending.append(buffer, static_cast<std::size_t>(got));
            std::size_t end;
            while ((end = pending.find("\r\n\r\n")) != std::string::npos) {
                const std::string line = pending.substr(0, pending.find("\r\n"));
                pending.erase(0, end + 4);  // the tests send no request bodies
                const auto sp1 = line.find(' ');
                const auto sp2 = line.find(' ', sp1 + 1);
                const std::string body = "tls-origin " + line.substr(sp1 + 1, sp2 - sp1 - 1) +
                                         " conn=" + std::to_string(n);
                const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: " +
                                             std::to_string(body.size()) + "\r\n\r\n" + body;
                SSL_write(ssl, response.data(), static_cast<int>(response.size()));
            }
        }
    }
    SSL_free(ssl);
    ::close(fd);
}

nlohmann::json proxyctlStatus(const QString& dir) {
    return proxyctlJson((dir + "/control.sock").toStdString(), {"status"});
}

bool waitForOutput(ProxyProcess& proxy, const QString& text, int ms) {
    for (int i = 0; i < ms / 50; ++i) {
        if (proxy.output().contains(text)) return true;
        QThread::msleep(50);
    }
    return false;
}

int listenOnLoopback(int& port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd, 64);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    return fd;
}

}  // namespace proxy::test
