#include "fake_origin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace proxy::test {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

bool sendAll(int fd, const std::string& s) {
    std::size_t sent = 0;
    while (sent < s.size()) {
        const ssize_t n = ::send(fd, s.data() + sent, s.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

// Reads into buf until it holds `needle`; false on close/timeout (10 s).
bool readUntil(int fd, std::string& buf, const std::string& needle) {
    while (buf.find(needle) == std::string::npos) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10'000) <= 0) return false;
        char tmp[16384];
        const ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) return false;
        buf.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
}

bool readAtLeast(int fd, std::string& buf, std::size_t n) {
    while (buf.size() < n) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 10'000) <= 0) return false;
        char tmp[16384];
        const ssize_t r = ::recv(fd, tmp, sizeof(tmp), 0);
        if (r <= 0) return false;
        buf.append(tmp, static_cast<std::size_t>(r));
    }
    return true;
}

std::string response(int status, const std::string& body, const std::string& extra = {}) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + extra + "\r\n" + body;
}

std::string percentDecode(const std::string& in) {
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '%' && i + 2 < in.size()) {
            out += static_cast<char>(std::strtoul(in.substr(i + 1, 2).c_str(), nullptr, 16));
            i += 2;
        } else {
            out += in[i] == '+' ? ' ' : in[i];
        }
    }
    return out;
}

// /gen?status=..&type=..&len=..&kind=..&framing=..&piece=..&h=Name:Value (see fake_origin.h).
// Returns the bytes to send and whether the connection closes after them.
// Calls fn(key, percent-decoded value) for each key=value pair of the target's query.
template <typename Fn>
void forEachQueryParam(const std::string& target, Fn fn) {
    std::size_t pos = target.find('?');
    while (pos != std::string::npos && pos + 1 < target.size()) {
        const std::size_t end = target.find('&', pos + 1);
        const std::string pair = target.substr(pos + 1, end == std::string::npos ? end : end - pos - 1);
        pos = end;
        const std::size_t eq = pair.find('=');
        if (eq == std::string::npos) continue;
        fn(pair.substr(0, eq), percentDecode(pair.substr(eq + 1)));
    }
}

std::string generatedResponse(const std::string& target, const std::string& method, bool& keep) {
    int status = 200;
    std::string type, kind = "text", framing = "cl", extra;
    std::size_t len = 0, piece = 4096;
    forEachQueryParam(target, [&](const std::string& key, const std::string& value) {
        if (key == "status") status = std::atoi(value.c_str());
        if (key == "type") type = value;
        if (key == "len") len = std::strtoull(value.c_str(), nullptr, 10);
        if (key == "kind") kind = value;
        if (key == "framing") framing = value;
        if (key == "piece") piece = std::max<std::size_t>(1, std::strtoull(value.c_str(), nullptr, 10));
        if (key == "h") extra += value + "\r\n";
    });
    const std::string body = FakeOrigin::generatedBody(kind, len);
    std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra;
    if (!type.empty()) out += "Content-Type: " + type + "\r\n";
    const bool noBody = status == 204 || status == 304 || method == "HEAD";
    if (framing == "chunked") {
        out += "Transfer-Encoding: chunked\r\n\r\n";
        if (method == "HEAD") return out;
        for (std::size_t at = 0; at < body.size() && !noBody; at += piece) {
            const std::size_t n = std::min(piece, body.size() - at);
            char size[20];
            std::snprintf(size, sizeof(size), "%zx\r\n", n);
            out += size + body.substr(at, n) + "\r\n";
        }
        return out + "0\r\n\r\n";
    }
    if (framing == "close") {
        keep = false;
        return out + "Connection: close\r\n\r\n" + (noBody ? "" : body);
    }
    if (status == 204 || status == 304) return out + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    return method == "HEAD" ? out : out + body;
}

// /cache/<anything>?h=Name:Value&etag=E&echo=Header&len=N (see fake_origin.h).
std::string cacheResponse(const OriginRequest& req, const std::string& name, std::size_t serial) {
    std::string extra, etag, echo;
    std::size_t len = 0;
    const std::string& target = req.target;
    forEachQueryParam(target, [&](const std::string& key, const std::string& value) {
        if (key == "h") extra += value + "\r\n";
        if (key == "etag") etag = value;
        if (key == "echo") echo = value;
        if (key == "len") len = std::strtoull(value.c_str(), nullptr, 10);
    });
    if (!etag.empty()) {
        extra += "ETag: \"" + etag + "\"\r\n";
        if (req.header("If-None-Match").find("\"" + etag + "\"") != std::string::npos)
            return "HTTP/1.1 304 Not Modified\r\n" + extra + "\r\n";
    }
    std::string body = name + " n=" + std::to_string(serial) + " path=" + target;
    if (!echo.empty()) body += " " + echo + "=" + req.header(echo);
    if (body.size() < len) body.append(len - body.size(), '.');
    return response(200, body, extra);
}

}  // namespace

std::string FakeOrigin::generatedBody(const std::string& kind, std::size_t size) {
    std::string body;
    body.reserve(size + 64);
    if (kind == "random") {
        std::uint64_t x = 0x9e3779b97f4a7c15ull ^ size;
        while (body.size() < size) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            body += static_cast<char>(x & 0xff);
        }
    } else {
        for (std::size_t line = 0; body.size() < size; ++line)
            body += "line " + std::to_string(line) + ": the quick brown fox jumps over the lazy dog\n";
    }
    body.resize(size);
    return body;
}

std::string OriginRequest::header(const std::string& name) const {
    const std::string wanted = lower(name) + ":";
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
        const std::size_t end = head.find("\r\n", pos + 2);
        const std::string line = head.substr(pos + 2, end - pos - 2);
        if (lower(line).rfind(wanted, 0) == 0) {
            std::string v = line.substr(wanted.size());
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
        pos = end;
    }
    return {};
}

FakeOrigin::FakeOrigin(std::string name) : FakeOrigin(std::move(name), "127.0.0.1", 0) {}

FakeOrigin::FakeOrigin(std::string name, const std::string& ipv4, int port) : name_(std::move(name)) {
    listenFd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listenFd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::inet_pton(AF_INET, ipv4.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
        port = -1;  // reported through port() == 0 below
    ::listen(listenFd_, 128);
    socklen_t len = sizeof(addr);
    ::getsockname(listenFd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = port < 0 ? 0 : ntohs(addr.sin_port);
    acceptThread_ = std::thread([this] { acceptLoop(); });
}

FakeOrigin::~FakeOrigin() {
    stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void FakeOrigin::stop() {
    if (stopping_.exchange(true)) return;
    ::shutdown(listenFd_, SHUT_RDWR);
    ::close(listenFd_);
    if (acceptThread_.joinable()) acceptThread_.join();
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

std::vector<OriginRequest> FakeOrigin::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

std::size_t FakeOrigin::countTarget(const std::string& target) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(requests_.begin(), requests_.end(),
                                                  [&](const OriginRequest& r) { return r.target == target; }));
}

bool FakeOrigin::connectionClosed(int connection) const {
    std::lock_guard lock(mutex_);
    return std::find(closedConnections_.begin(), closedConnections_.end(), connection) != closedConnections_.end();
}

std::size_t FakeOrigin::requestCount() const {
    std::lock_guard lock(mutex_);
    return requests_.size();
}

void FakeOrigin::acceptLoop() {
    while (!stopping_) {
        pollfd p{listenFd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const int fd = ::accept(listenFd_, nullptr, nullptr);
        if (fd < 0) continue;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const int connection = ++connections_;
        std::lock_guard lock(mutex_);
        fds_.push_back(fd);
        threads_.emplace_back([this, fd, connection] { serve(fd, connection); });
    }
}

void FakeOrigin::serve(int fd, int connection) {
    std::string buf;
    while (!stopping_) {
        if (!readUntil(fd, buf, "\r\n\r\n")) break;
        const std::size_t headEnd = buf.find("\r\n\r\n") + 4;
        OriginRequest req;
        req.connection = connection;
        req.head = buf.substr(0, headEnd);
        buf.erase(0, headEnd);
        const std::size_t sp1 = req.head.find(' ');
        const std::size_t sp2 = req.head.find(' ', sp1 + 1);
        req.method = req.head.substr(0, sp1);
        req.target = req.head.substr(sp1 + 1, sp2 - sp1 - 1);
        const std::string& t = req.target;

        if (t == "/continue" && lower(req.header("Expect")) == "100-continue") {
            if (!sendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) break;
        }
        // Body.
        const std::string cl = req.header("Content-Length");
        if (lower(req.header("Transfer-Encoding")).find("chunked") != std::string::npos) {
            for (;;) {
                if (!readUntil(fd, buf, "\r\n")) return;
                const std::size_t le = buf.find("\r\n");
                const std::size_t size = std::strtoul(buf.substr(0, le).c_str(), nullptr, 16);
                buf.erase(0, le + 2);
                if (size == 0) {
                    if (!readUntil(fd, buf, "\r\n")) return;
                    buf.erase(0, buf.find("\r\n") + 2);
                    break;
                }
                if (!readAtLeast(fd, buf, size + 2)) return;
                req.body.append(buf, 0, size);
                buf.erase(0, size + 2);
            }
        } else if (!cl.empty()) {
            const std::size_t n = std::strtoull(cl.c_str(), nullptr, 10);
            if (!readAtLeast(fd, buf, n)) return;
            req.body = buf.substr(0, n);
            buf.erase(0, n);
        }
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(req);
        }

        if (drop_.load()) break;
        if (const int delay = delayMs_.load(); delay > 0)
            std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        bool keep = true;
        std::string out;
        if (const int failing = failStatus_.load(); failing != 0) {
            out = response(failing, "failing " + name_);
        } else if (t == "/echo" || t == "/continue") {
            out = response(200, req.head + "\n--\n" + req.body);
        } else if (t == "/chunked") {
            out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nalpha\r\n4\r\nbeta\r\n5\r\ngamma\r\n0\r\n\r\n";
        } else if (t == "/until-close") {
            sendAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed-until-close");
            break;
        } else if (t.rfind("/slow/", 0) == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(t.c_str() + 6)));
            out = response(200, "slow " + name_);
        } else if (t == "/die-mid-body") {
            sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
            break;
        } else if (t.rfind("/big/", 0) == 0) {
            out = response(200, std::string(std::strtoull(t.c_str() + 5, nullptr, 10), 'x'));
        } else if (t == "/bad-response") {
            out = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        } else if (t == "/early-hints") {
            out = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" + response(200, "hinted");
        } else if (t == "/ws") {
            sendAll(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            // Echo until the peer closes.
            if (!buf.empty()) sendAll(fd, buf);
            char tmp[4096];
            for (;;) {
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, 30'000) <= 0) break;
                const ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
                if (n <= 0) break;
                if (!sendAll(fd, std::string(tmp, static_cast<std::size_t>(n)))) break;
            }
            break;
        } else if (t.rfind("/status/", 0) == 0) {
            const int code = std::atoi(t.c_str() + 8);
            if (code == 204 || code == 304)
                out = "HTTP/1.1 " + std::to_string(code) + " X\r\n\r\n";
            else
                out = response(code, "status " + std::to_string(code));
        } else if (t.rfind("/cache/", 0) == 0) {
            std::size_t serial = 0;
            {
                std::lock_guard lock(mutex_);
                serial = requests_.size();
            }
            out = cacheResponse(req, name_, serial);
        } else if (t.rfind("/gen?", 0) == 0) {
            out = generatedResponse(t, req.method, keep);
            if (!sendAll(fd, out) || !keep) break;
            continue;
        } else if (t == "/close") {
            out = response(200, "closing", "Connection: close\r\n");
            keep = false;
        } else if (t == "/quiet-close") {
            out = response(200, "quiet " + name_ + " " + req.method);  // keep-alive, as far as the head says
            keep = false;
        } else {
            out = response(200, name_ + " " + req.method + " " + req.target);
        }
        if (req.method == "HEAD") out.resize(out.find("\r\n\r\n") + 4);  // same head, no body
        if (!sendAll(fd, out)) break;
        if (!keep) break;
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    std::lock_guard lock(mutex_);
    closedConnections_.push_back(connection);
    std::erase(fds_, fd);
}

}  // namespace proxy::test
