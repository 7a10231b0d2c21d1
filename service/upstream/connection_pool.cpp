#include "upstream/connection_pool.h"

#include <algorithm>

#include "core/clock.h"

namespace proxy::upstream {
namespace {

// A pooled connection is reusable only if the origin has neither closed it nor sent anything
// unasked-for while it sat idle. Over TLS the peek sees records: a close_notify, or anything
// else the server sent unasked, makes the connection unusable just the same.
bool stillUsable(asio::ip::tcp::socket& socket) {
    char probe;
    asio::error_code ec;
    socket.receive(asio::buffer(&probe, 1), asio::socket_base::message_peek, ec);
    return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

std::unique_ptr<UpstreamConnection> ConnectionPool::take(std::string_view key, bool verify) {
    const auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second.connections;
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
    if (maxIdle == 0) {
        connection->stream.close();
        return;
    }
    auto& list = idle_[connection->key];
    list.maxIdle = maxIdle;
    if (connection->buffer.capacity() > UpstreamConnection::kBuffer)
        connection->buffer = core::Buffer(UpstreamConnection::kBuffer);  // idle: stay small
    connection->returned = core::coarseNow();
    connection->idleDeadline = connection->returned + idleTimeout;
    list.connections.push_back(std::move(connection));
}

void ConnectionPool::sweep(std::chrono::steady_clock::time_point now) {
    for (auto& [key, list] : idle_) {
        auto& connections = list.connections;
        std::erase_if(connections, [&](const std::unique_ptr<UpstreamConnection>& c) {
            return now >= c->idleDeadline;
        });
        // The surplus over maxIdle, oldest first, once it has sat for kBurstHold.
        std::size_t surplus = 0;
        while (connections.size() - surplus > list.maxIdle && surplus < connections.size() &&
               connections[surplus]->returned + kBurstHold <= now)
            ++surplus;
        connections.erase(connections.begin(), connections.begin() + static_cast<std::ptrdiff_t>(surplus));
    }
}

void ConnectionPool::clear() { idle_.clear(); }

std::size_t ConnectionPool::idleCount() const {
    std::size_t n = 0;
    for (const auto& [key, list] : idle_) n += list.connections.size();
    return n;
}

}  // namespace proxy::upstream
