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
    // The read buffer: 16 KiB, grown while a long body is relayed (Session's growForLongBody),
    // and shrunk back to this when the connection goes idle in the pool.
    static constexpr std::size_t kBuffer = 16 * 1024;
    UpstreamConnection(asio::any_io_executor executor, std::string poolKey)
        : stream(executor), buffer(kBuffer), key(std::move(poolKey)) {}
    core::Stream stream;   // plain TCP, or TLS for an upstream with a "tls" block
    core::Buffer buffer;   // response bytes read but not yet relayed
    std::string key;       // the pool it returns to (ServerState::poolKey)
    std::chrono::steady_clock::time_point idleDeadline;  // closed by the sweep after this
    std::uint32_t requests = 0;  // requests sent over this connection
    std::chrono::steady_clock::time_point returned;  // when it last went back to the pool
};

class ConnectionPool {
public:
    // A live idle connection to `key`, or null. A connection the origin closed, or wrote to
    // unasked, while it sat idle is detected by a non-blocking peek (one system call, ~1.3 µs on
    // this VM: 4-5% of a proxied request) and dropped.
    // Without `verify`, a connection returned less than kFreshWindow ago is handed out without
    // the peek: the caller must be able to send the request again on a fresh connection if this
    // one turns out closed (an idempotent request without a body, see Session::forward). Origins
    // close idle connections after their keep-alive timeout (seconds: nginx 75, Apache and Node
    // 5) and send unasked bytes (a 408) only then, so in the window the peek would almost never
    // find anything, while under load almost every reuse falls in it.
    std::unique_ptr<UpstreamConnection> take(std::string_view key, bool verify = true);
    static constexpr std::chrono::milliseconds kFreshWindow{100};
    // Returns a connection after a complete exchange (maxIdle 0: closed, no pooling).
    // More than maxIdle idle connections for a key are kept through a burst: the surplus is
    // closed by the sweep once it has sat unused for kBurstHold, least recently used first.
    // Closing it at once (as nginx's keepalive cache does) makes a load above maxIdle concurrent
    // requests open and close upstream connections all the time (28% of requests at 256
    // clients and max_idle 64); holding it costs nothing the origin had not just carried, since
    // every surplus connection was in use a moment before. HAProxy purges its idle surplus the
    // same way (pool-purge-delay).
    void put(std::unique_ptr<UpstreamConnection> connection, std::uint32_t maxIdle,
             std::chrono::milliseconds idleTimeout);
    static constexpr std::chrono::milliseconds kBurstHold{1000};
    // Closes idle connections whose idle timeout has passed, and the surplus over maxIdle that
    // has sat for kBurstHold. Called by the worker's sweep.
    void sweep(std::chrono::steady_clock::time_point now);
    void clear();
    std::size_t idleCount() const;

private:
    struct IdleList {
        std::vector<std::unique_ptr<UpstreamConnection>> connections;  // least recently used first
        std::uint32_t maxIdle = 0;  // as of the latest put()
    };
    routing::StringMap<IdleList> idle_;
};

}  // namespace proxy::upstream
