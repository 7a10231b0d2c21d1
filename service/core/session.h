#pragma once
// One client connection: a coroutine that reads requests, runs the filter phases, forwards each
// exchange to an upstream and relays the response, in order, until the connection ends.

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/buffer.h"
#include "core/clock.h"
#include "core/stream.h"
#include "filter/filter.h"
#include "filter/request_context.h"
#include "http/h1_parser.h"
#include "http/message.h"

namespace proxy::upstream { struct UpstreamConnection; struct ServerState; }
namespace proxy::tls { class ServerTls; }

namespace proxy::core {

class Worker;
struct InflightRequest;

// Facts about a listener that sessions keep while they live (a reload may remove the listener).
struct ListenerInfo {
    std::string name;
    std::string localAddress;
    bool tls = false;
};

class Session {
public:
    // `remote`: the client's address as accept() reported it (no getpeername per connection).
    Session(Worker& worker, asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& remote,
            std::shared_ptr<const ListenerInfo> listener);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // The coroutine; it owns the session.
    static asio::awaitable<void> serve(std::unique_ptr<Session> self);

    // Called by the worker's sweep (worker thread): cancels I/O whose deadline has passed.
    void checkDeadline(std::chrono::steady_clock::time_point now);
    // Called by the sweep too: a connection idle for a while gives back its per-request memory
    // (heads, arenas, the output buffer), so 10,000 idle keep-alive clients stay cheap. trimDue()
    // says whether that is due now (idle for a second, not trimmed since); trim() does it.
    bool trimDue(std::chrono::steady_clock::time_point now) const;
    void trim();
    // Graceful stop: an idle keep-alive session closes now; a busy one after its exchange.
    void closeIfIdle();
    // Hard stop: cancels all I/O.
    void abort();
    // Worker thread: fills `out` when an exchange is in progress (false when idle or reading a head).
    bool describeInflight(InflightRequest& out, std::chrono::steady_clock::time_point now) const;

    Session* next = nullptr;  // SessionList links; not owned
    Session* prev = nullptr;

private:
    // Closing: the connection's last answer is out, and a lingering close reads what the client
    // still sends (closeClient).
    enum class State : std::uint8_t { Idle, ReadingHead, Busy, Tunnel, Closing };
    enum class HeadResult : std::uint8_t { Ready, Closed };

    asio::awaitable<void> run();
    // security.connection_limit: takes a place in the engine's limiter, or refuses the connection.
    bool admitConnection();
    // Answers a request head that cannot be served (parse error, overflow, timeout), logs it, and
    // leaves the connection to close.
    asio::awaitable<void> rejectHead(int status, std::string_view reason, bool parsed);
    asio::awaitable<HeadResult> readRequestHead();
    // Returns true when the connection may carry another request.
    asio::awaitable<bool> exchange();
    // Sends the request over `up` and relays the answer; returns `up` to the pool when reusable.
    asio::awaitable<bool> forward(std::unique_ptr<upstream::UpstreamConnection>& up, bool reused,
                                  bool& retryable);
    asio::awaitable<bool> relayRequestBody(upstream::UpstreamConnection& up);
    asio::awaitable<bool> relayResponseBody(upstream::UpstreamConnection& up, bool chunkToClient,
                                            bool& upstreamComplete);
    asio::awaitable<void> tunnel(upstream::UpstreamConnection& up);
    // Runs the UpstreamSelect phase (global filters, then the route's).
    filter::FilterStatus selectUpstream();
    // Whether waiting may get the request a server: the upstream has a wait queue and every
    // server that could take the request is at max_connections.
    bool queueMayHelp() const;
    // Waits in the upstream's queue until a server has room, then selects again (Continue), or
    // gives up (Respond, ctx_.local says why: the queue is full, or `giveUp` passed; set on the
    // first wait, so a request that waits twice keeps one bound). Close: the connection ends.
    asio::awaitable<filter::FilterStatus> waitForRoom(
        std::optional<std::chrono::steady_clock::time_point>& giveUp);
    // The next server of the selection (a pooled connection when one is idle), or with
    // sameServerFresh a new connection to ctx_.server (after its pooled connection went stale).
    asio::awaitable<std::unique_ptr<upstream::UpstreamConnection>> connectUpstream(bool& timedOut,
                                                                               bool sameServerFresh);
    asio::awaitable<bool> sendLocalResponse(int status, std::string_view reason, bool close);
    // Answers with ctx_.stored (filter/stored_response.h: a cache hit) instead of the origin's
    // response, after waiting (bounded) while it says Wait. nullopt: it said Upstream, so the
    // request goes to the origin after all; otherwise whether the connection may carry another
    // request. Runs the log phase when it answers.
    asio::awaitable<std::optional<bool>> serveStored();
    asio::awaitable<bool> writeClient(std::span<const asio::const_buffer> buffers);
    // Ends the client connection: close_notify over TLS; over TCP a plain close, or a lingering
    // one when the client may still be sending.
    asio::awaitable<void> closeClient();
    static constexpr std::chrono::milliseconds kLingerIdle{2000};
    static constexpr std::chrono::milliseconds kLingerTotal{10000};

    void setDeadline(std::chrono::milliseconds d) {
        deadline_ = coarseNow() + d;  // the sweep checks it, at a quarter of the shortest timeout
    }
    void clearDeadline() { deadline_ = std::chrono::steady_clock::time_point::max(); }
    void runLogPhase();
    void makeRequestId();
    // The response head for the client: Content-Length, then the Connection header this answer
    // needs, then the head rendered into out_ (and ctx_.status set).
    void addContentLength(std::uint64_t length);
    void writeClientHead(bool keepClient);
    // TLS listeners: tells a ClientHello from plaintext HTTP (answered with a plain 400) and
    // garbage, then runs the handshake within the listener's handshake timeout. False: the
    // connection is to be closed (the reason is logged).
    asio::awaitable<bool> acceptTls(const std::shared_ptr<const tls::ServerTls>& tls);
    // TLS upstreams: the client handshake on a connected `up`, within the connect timeout.
    asio::awaitable<bool> connectTls(upstream::UpstreamConnection& up, upstream::ServerState& server);

    // Gather lists and chunk-size lines for relaying bodies: ~1.2 KiB that would otherwise sit in
    // the relays' coroutine frames. Made on first use, given back when the connection idles.
    struct RelayScratch {
        static constexpr std::size_t kMaxPieces = 16;  // pieces per write
        // One more piece for the final hook call (a filter's held bytes).
        std::array<std::array<char, 20>, kMaxPieces + 1> sizeLines;
        // The head, kMaxPieces + 1 pieces of three buffers, and the last chunk.
        std::array<asio::const_buffer, (kMaxPieces + 1) * 3 + 2> gather;
    };

    Worker& worker_;
    Stream client_;
    std::shared_ptr<const ListenerInfo> listener_;
    std::shared_ptr<const tls::ServerTls> tls_;  // the listener's TLS when the connection began
    std::string clientSubject_;  // mTLS: the client certificate's subject (info_ points here)
    filter::ConnectionInfo info_;
    char clientAddress_[64] = {};
    Buffer in_;
    Buffer body_{0};  // request bodies are relayed through here, so in_ (the head) stays put
    std::string out_;  // serialized heads and error pages
    http::RequestHead request_;
    http::ResponseHead response_;
    filter::RequestContext ctx_;
    char requestId_[24] = {};
    State state_ = State::Idle;
    bool timedOut_ = false;
    bool closing_ = false;
    bool continueSent_ = false;
    bool trimmed_ = false;
    bool bodyPending_ = false;  // the current request's body is not (completely) read yet
    std::chrono::steady_clock::time_point idleSince_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    // Set when the connection holds a place in the engine's connection limiter.
    bool limited_ = false;
    bool limitedByAddress_ = false;
    std::array<std::uint8_t, 16> limitedIp_{};
    std::uint32_t requestsServed_ = 0;  // on this connection (connection_limit.requests_per_connection)
    Stream* upstreamStream_ = nullptr;  // not owned; the exchange's upstream, if any
    std::shared_ptr<const struct Snapshot> snapshot_;  // the snapshot this exchange started with
    std::unique_ptr<RelayScratch> requestScratch_;
    std::unique_ptr<RelayScratch> responseScratch_;
};

}  // namespace proxy::core
