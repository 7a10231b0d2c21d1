#include "upstream/connection_pool.h"

#include <algorithm>

namespace proxy::upstream {
namespace {

// Readable while idle means the origin closed the connection (EOF, RST) or sent something
// unasked; either way it cannot carry another exchange. Over TLS the wait sees records on the
// socket: a close_notify, or anything else the server sent, makes the connection unusable just
// the same. The handler owns a reference to the watch, so a connection destroyed by the sweep
// or by clear() while the wait is pending is never touched.
void armIdleWatch(UpstreamConnection& connection) {
    IdleWatch& watch = *connection.watch;
    watch.idle = true;
    watch.unusable = false;
    const std::uint64_t period = ++watch.period;
    connection.stream.socket().async_wait(
        asio::socket_base::wait_read,
        [w = connection.watch, period](const asio::error_code& ec) {
            if (ec == asio::error::operation_aborted) return;  // taken (cancelled) or closed
            if (w->idle && w->period == period) w->unusable = true;
        });
}

}  // namespace

std::unique_ptr<UpstreamConnection> ConnectionPool::take(std::string_view key) {
    const auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    while (!list.empty()) {
        auto connection = std::move(list.back());  // most recently used first: warmest
        list.pop_back();
        IdleWatch& watch = *connection->watch;
        watch.idle = false;
        if (!watch.unusable && connection->stream.socket().is_open()) {
            asio::error_code ignored;
            connection->stream.socket().cancel(ignored);  // ends the idle wait
            return connection;
        }
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
    connection->idleDeadline = std::chrono::steady_clock::now() + idleTimeout;
    armIdleWatch(*connection);
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
