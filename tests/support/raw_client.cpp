#include "raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace proxy::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

int remainingMs(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::max<long long>(0, left.count()));
}

}  // namespace

std::string RawResponse::header(const std::string& lowerName) const {
    const auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
}

RawClient::~RawClient() { close(); }

void RawClient::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool RawClient::connect(int port, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        close();
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
            const int one = 1;
            ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return true;
        }
        ::usleep(20'000);
    }
    close();
    return false;
}

bool RawClient::connect6(int port, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        close();
        fd_ = ::socket(AF_INET6, SOCK_STREAM, 0);
        sockaddr_in6 addr{};
        addr.sin6_family = AF_INET6;
        addr.sin6_port = htons(static_cast<uint16_t>(port));
        addr.sin6_addr = in6addr_loopback;
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return true;
        ::usleep(20'000);
    }
    close();
    return false;
}

bool RawClient::send(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return false;
        }
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

void RawClient::shutdownWrite() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

bool RawClient::fill(Clock::time_point deadline) {
    if (eof_ || fd_ < 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, remainingMs(deadline));
    if (r <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
        eof_ = true;
        return false;
    }
    pending_.append(buf, static_cast<std::size_t>(n));
    return true;
}

RawResponse RawClient::readResponse(std::chrono::milliseconds timeout, bool headOnly, bool expectNoBody) {
    const auto deadline = Clock::now() + timeout;
    RawResponse r;
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos)
        if (!fill(deadline)) return r;
    r.head = pending_.substr(0, end + 4);
    pending_.erase(0, end + 4);
    // Status line and fields.
    std::size_t lineEnd = r.head.find("\r\n");
    const std::string statusLine = r.head.substr(0, lineEnd);
    if (statusLine.size() >= 12) r.status = std::atoi(statusLine.c_str() + 9);
    std::size_t pos = lineEnd + 2;
    while (pos < r.head.size() - 2) {
        const std::size_t e = r.head.find("\r\n", pos);
        const std::string line = r.head.substr(pos, e - pos);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
            std::string value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            value.erase(value.find_last_not_of(" \t") + 1);
            r.headers.emplace(lower(line.substr(0, colon)), value);
        }
        pos = e + 2;
    }
    if (headOnly || expectNoBody || (r.status >= 100 && r.status < 200) || r.status == 204 ||
        r.status == 304) {
        r.ok = true;
        return r;
    }
    const std::string te = lower(r.header("transfer-encoding"));
    if (te.find("chunked") != std::string::npos) {
        r.chunked = true;
        for (;;) {
            std::size_t le;
            while ((le = pending_.find("\r\n")) == std::string::npos)
                if (!fill(deadline)) return r;
            const std::size_t size = std::strtoul(pending_.substr(0, le).c_str(), nullptr, 16);
            pending_.erase(0, le + 2);
            if (size == 0) {
                // Trailers until an empty line.
                for (;;) {
                    while ((le = pending_.find("\r\n")) == std::string::npos)
                        if (!fill(deadline)) return r;
                    const bool empty = le == 0;
                    pending_.erase(0, le + 2);
                    if (empty) break;
                }
                r.ok = true;
                return r;
            }
            while (pending_.size() < size + 2)
                if (!fill(deadline)) return r;
            r.body.append(pending_, 0, size);
            pending_.erase(0, size + 2);
        }
    }
    if (r.has("content-length")) {
        const std::size_t length = std::strtoull(r.header("content-length").c_str(), nullptr, 10);
        while (pending_.size() < length)
            if (!fill(deadline)) return r;
        r.body = pending_.substr(0, length);
        pending_.erase(0, length);
        r.ok = true;
        return r;
    }
    // Delimited by close.
    while (fill(deadline)) {
    }
    r.body = std::move(pending_);
    pending_.clear();
    r.ok = eof_;
    return r;
}

std::string RawClient::readUntilClose(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) {
    }
    std::string out = std::move(pending_);
    pending_.clear();
    return out;
}

std::string RawClient::readBytes(std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (pending_.size() < n)
        if (!fill(deadline)) break;
    std::string out = pending_.substr(0, std::min(n, pending_.size()));
    pending_.erase(0, out.size());
    return out;
}

bool RawClient::closedByPeer(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_ && fill(deadline)) {
    }
    return eof_;
}

RawResponse roundTrip(int port, const std::string& request, std::chrono::milliseconds timeout) {
    RawClient c;
    if (!c.connect(port)) return {};
    if (!c.send(request)) return {};
    return c.readResponse(timeout);
}

int freePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace proxy::test
