#include "upstream/connection_pool.h"

#include <algorithm>
#if !defined(_WIN32)
#include <sys/socket.h>

#include <cerrno>
#endif

#include "core/clock.h"

namespace proxy::upstream {
namespace {

// A pooled connection is reusable only if the origin has neither closed it nor sent anything
// unasked-for while it sat idle. Over TLS the peek sees records: a close_notify, or anything
// else the server sent unasked, makes the connection unusable just the same.
bool stillUsable(asio::ip::tcp::socket& socket) {
    char probe;
#if defined(_WIN32)
    asio::error_code ec;  // the socket is in non-blocking mode (Session::connectUpstream)
    socket.receive(asio::buffer(&probe, 1), asio::socket_base::message_peek, ec);
    return ec == asio::error::would_block || ec == asio::error::try_again;
#else
    // MSG_DONTWAIT instead of the socket's non-blocking mode: that mode makes asio try every
    // read before waiting for it, which under io_uring is a system call per read.
    const auto n = ::recv(socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
#endif
}

}  // namespace

std::unique_ptr<UpstreamConnection> ConnectionPool::take(std::string_view key, bool verify) {
    const auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto freshSince = verify ? std::chrono::steady_clock::time_point::max()
                                   : core::coarseNow() - kFreshWindow;
    while (!list.empty()) {
        auto connection = std::move(list.back());  // most recently used first: warmest
        list.pop_back();
        if (connection->returned > freshSince || stillUsable(connection->stream.socket())) return connection;
        connection->stream.close();
    }
    return nullptr;
}

void ConnectionPool::put(std::unique_ptr<UpstreamConnection> connection, std::uint32_t maxIdle,
                         std::chrono::milliseconds idleTimeout) {
    auto& list = idle_[connection->key];
    if (list.size() >= maxIdle) {
        connection->stream.close();
        return;
    }
    if (connection->buffer.capacity() > UpstreamConnection::kBuffer)
        connection->buffer = core::Buffer(UpstreamConnection::kBuffer);  // idle: stay small
    connection->returned = core::coarseNow();
    connection->idleDeadline = connection->returned + idleTimeout;
    list.push_back(std::move(connection));
}

void ConnectionPool::sweep(std::chrono::steady_clock::time_point now) {
    for (auto& [key, list] : idle_) {
        std::erase_if(list, [&](const std::unique_ptr<UpstreamConnection>& c) {
            return now >= c->idleDeadline;
        });
    }
}

void ConnectionPool::clear() { idle_.clear(); }

std::size_t ConnectionPool::idleCount() const {
    std::size_t n = 0;
    for (const auto& [key, list] : idle_) n += list.size();
    return n;
}

}  // namespace proxy::upstream
