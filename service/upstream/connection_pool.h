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

// Whether the origin closed a pooled connection, or sent something unasked, while it sat idle.
// Written by the idle watch (a read-readiness wait armed by put()), read by take(); both run on
// the owning worker's thread. One per connection, reused across idle periods.
struct IdleWatch {
    std::uint64_t period = 0;  // which idle period the armed wait belongs to
    bool idle = false;
    bool unusable = false;
};

struct UpstreamConnection {
    UpstreamConnection(asio::any_io_executor executor, std::string poolKey)
        : stream(executor), buffer(16 * 1024), key(std::move(poolKey)),
          watch(std::make_shared<IdleWatch>()) {}
    core::Stream stream;   // plain TCP, or TLS for an upstream with a "tls" block
    core::Buffer buffer;   // response bytes read but not yet relayed
    std::string key;       // the pool it returns to (ServerState::poolKey)
    std::chrono::steady_clock::time_point idleDeadline;  // closed by the sweep after this
    std::uint32_t requests = 0;  // requests sent over this connection
    std::shared_ptr<IdleWatch> watch;
};

class ConnectionPool {
public:
    // A live idle connection to `key`, or null. Connections the origin closed (or wrote to) while
    // they were idle are dropped here. put() arms a wait for read readiness on each pooled socket,
    // as nginx's keepalive module arms a read handler, so finding them costs no system call on
    // the request path (it used to be a MSG_PEEK per reuse: ~5% of the proxy's CPU at c50).
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
