#pragma once
// Keep-alive connections to upstream servers, one pool per worker (so no locks). Idle connections
// are bounded per server and closed after the idle timeout by the worker's sweep.

#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/stream.h"
#include "routing/router.h"

namespace proxy::upstream {

struct UpstreamConnection {
    UpstreamConnection(asio::any_io_executor executor, std::string poolKey)
        : stream(executor), buffer(16 * 1024), key(std::move(poolKey)) {}
    core::Stream stream;   // plain TCP, or TLS for an upstream with a "tls" block
    core::Buffer buffer;   // response bytes read but not yet relayed
    std::string key;       // the pool it returns to (ServerState::poolKey)
    std::chrono::steady_clock::time_point idleDeadline;  // closed by the sweep after this
    std::uint32_t requests = 0;  // requests sent over this connection
};

class ConnectionPool {
public:
    // A live idle connection to `key`, or null. Connections the origin closed while idle are
    // detected here (a non-blocking peek) and dropped.
    std::unique_ptr<UpstreamConnection> take(std::string_view key);
    // Returns a connection after a complete exchange. Beyond maxIdle for its key, it is closed.
    void put(std::unique_ptr<UpstreamConnection> connection, std::uint32_t maxIdle,
             std::chrono::milliseconds idleTimeout);
    // Closes idle connections whose idle timeout has passed. Called by the worker's sweep.
    void sweep(std::chrono::steady_clock::time_point now);
    void clear();
    std::size_t idleCount() const;

private:
    routing::StringMap<std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace proxy::upstream
