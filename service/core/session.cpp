#include "core/session.h"

#include "logging/log.h"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <array>
#include <charconv>
#include <tuple>

#include "core/awaitable.h"
#include "core/engine.h"
#include "core/error_page.h"
#include "core/worker.h"
#include "filter/stored_response.h"
#include "http/h1_writer.h"
#include "routing/router.h"
#include "upstream/connection_pool.h"
#include "upstream/upstream_group.h"
#if PROXY_WITH_OPENSSL
#include "tls/client_tls.h"
#include "tls/server_tls.h"
#endif

namespace proxy::core {
namespace {

constexpr std::size_t kSmallBuffer = 2 * 1024;   // what an idle connection keeps
constexpr std::size_t kBodyBuffer = 16 * 1024;   // for relaying request bodies
constexpr std::size_t kLargeBodyBuffer = 64 * 1024;  // ... once a body turns out long
constexpr std::string_view kCrlf = "\r\n";

using filter::FilterStatus;
using filter::Phase;

// Called before each further read of a body: one that needed two more reads is long, so the
// rest is read in larger pieces (a quarter of the system calls for a body of megabytes). The
// request's buffer goes with the idle trim; a pooled upstream connection shrinks its own.
void growForLongBody(Buffer& buffer, std::uint32_t& reads) {
    if (++reads == 2 && buffer.capacity() < kLargeBodyBuffer) buffer.grow(kLargeBodyBuffer);
}

bool validRequestId(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        c == '-' || c == '_' || c == '.';
        if (!ok) return false;
    }
    return true;
}

// Runs one phase over a chain; stops at the first filter that does not Continue.
template <typename Call>
FilterStatus runChain(const std::vector<filter::Filter*>& chain, Phase phase, Call&& call) {
    const unsigned bit = filter::phaseBit(phase);
    for (filter::Filter* f : chain) {
        if ((f->phases() & bit) == 0) continue;
        const FilterStatus status = call(*f);
        if (status != FilterStatus::Continue) return status;
    }
    return FilterStatus::Continue;
}

// "<hex size>\r\n" into line; returns its length (at most 18 bytes for a 64-bit size).
std::size_t chunkSizeLine(std::array<char, 20>& line, std::size_t size) {
    static constexpr char kHex[] = "0123456789abcdef";
    char digits[16];
    int n = 0;
    do {
        digits[n++] = kHex[size & 0xf];
        size >>= 4;
    } while (size != 0);
    std::size_t len = 0;
    while (n > 0) line[len++] = digits[--n];
    line[len++] = '\r';
    line[len++] = '\n';
    return len;
}

bool idempotent(http::Method m) {
    switch (m) {
        case http::Method::Get:
        case http::Method::Head:
        case http::Method::Put:
        case http::Method::Delete:
        case http::Method::Options:
        case http::Method::Trace: return true;
        default: return false;
    }
}

}  // namespace

Session::Session(Worker& worker, asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& remote,
                 std::shared_ptr<const ListenerInfo> listener)
    : worker_(worker), client_(std::move(socket)), listener_(std::move(listener)), in_(kSmallBuffer) {
    if (remote.port() != 0 || !remote.address().is_unspecified()) {
        std::size_t n = 0;
        if (remote.address().is_v4()) {
            // By hand: glibc's inet_ntop formats IPv4 with sprintf (~1,700 instructions a connection).
            for (const unsigned char octet : remote.address().to_v4().to_bytes()) {
                if (n != 0) clientAddress_[n++] = '.';
                if (octet >= 100) clientAddress_[n++] = static_cast<char>('0' + octet / 100);
                if (octet >= 10) clientAddress_[n++] = static_cast<char>('0' + octet / 10 % 10);
                clientAddress_[n++] = static_cast<char>('0' + octet % 10);
            }
        } else {
            const std::string text = remote.address().to_string();
            n = std::min(text.size(), sizeof(clientAddress_) - 1);
            std::copy_n(text.data(), n, clientAddress_);
        }
        info_.clientAddress = std::string_view(clientAddress_, n);
        info_.clientPort = remote.port();
    }
    client_.socket().setNoDelayIfNotInherited();
    info_.listenerName = listener_->name;
    info_.localAddress = listener_->localAddress;
    info_.tls = listener_->tls;
    info_.worker = worker_.id();
    worker_.sessions().add(this);
    worker_.counters().connectionsActive.fetch_add(1, std::memory_order_relaxed);
}

Session::~Session() {
    if (limited_) worker_.connectionLimiter().release(limitedByAddress_ ? &limitedIp_ : nullptr);
    worker_.sessions().remove(this);
    worker_.counters().connectionsActive.fetch_sub(1, std::memory_order_relaxed);
}

asio::awaitable<void> Session::serve(std::unique_ptr<Session> self) {
    co_await self->run();
}

void Session::checkDeadline(Clock::time_point now) {
    if (now < deadline_) return;
    timedOut_ = true;
    deadline_ = Clock::time_point::max();
    client_.cancel();
    if (upstreamStream_ != nullptr) upstreamStream_->cancel();
}

bool Session::trimDue(Clock::time_point now) const {
    return state_ == State::Idle && !trimmed_ && now - idleSince_ >= std::chrono::seconds(1);
}

void Session::trim() {
    trimmed_ = true;
    client_.trim();
    out_ = std::string();
    body_ = Buffer(0);
    requestScratch_.reset();
    responseScratch_.reset();
    request_.release();
    response_.release();
}

void Session::closeIfIdle() {
    closing_ = true;
    if (state_ == State::Idle || state_ == State::Closing) client_.cancel();
}

void Session::abort() {
    closing_ = true;
    client_.cancel();
    if (upstreamStream_ != nullptr) upstreamStream_->cancel();
}

bool Session::describeInflight(InflightRequest& out, std::chrono::steady_clock::time_point now) const {
    if (state_ != State::Busy && state_ != State::Tunnel) return false;
    if (ctx_.request == nullptr) return false;  // answering a rejected head: over in a moment
    out.requestId = ctx_.requestId;
    out.client = info_.clientAddress;
    out.method = request_.methodText;
    out.host = ctx_.originalHost.empty() ? request_.host : ctx_.originalHost;
    out.path = ctx_.originalPath.empty() ? request_.path : ctx_.originalPath;
    if (out.path.size() > 256) out.path.resize(256);
    out.route = ctx_.route != nullptr ? ctx_.route->name : std::string();
    out.server = ctx_.server != nullptr ? ctx_.server->key : std::string();
    out.stage = state_ == State::Tunnel ? "tunnel" : ctx_.status != 0 ? "response" : "upstream";
    out.age = std::chrono::duration_cast<std::chrono::microseconds>(now - ctx_.start);
    out.worker = info_.worker;
    return true;
}

void Session::makeRequestId() {
    if (const http::Header* h = request_.headers.find("X-Request-Id"); h && validRequestId(h->value)) {
        ctx_.requestId = h->value;  // propagate the caller's id
        return;
    }
    // 16 hex digits: the process's seed (8), the worker (2), the request number (6). Formatted by
    // hand: snprintf cost ~900 instructions per request (bench/instructions.sh).
    static constexpr char kHex[] = "0123456789abcdef";
    const auto putHex = [](char* at, std::uint64_t value, int digits) {
        for (int i = digits - 1; i >= 0; --i, value >>= 4) at[i] = kHex[value & 0xf];
    };
    putHex(requestId_, worker_.requestIdSeed(), 8);
    putHex(requestId_ + 8, static_cast<std::uint64_t>(worker_.id()) & 0xff, 2);
    putHex(requestId_ + 10, worker_.nextRequestNumber() & 0xffffff, 6);
    ctx_.requestId = std::string_view(requestId_, 16);
}

asio::awaitable<bool> Session::writeClient(std::span<const asio::const_buffer> buffers) {
    setDeadline(snapshot_->config->timeouts.clientIdle);
    const std::size_t now = client_.writeNow(buffers);  // most answers leave here, in one call
    ctx_.bytesOut += now;
    if (now == asio::buffer_size(buffers)) co_return true;
    std::vector<asio::const_buffer> storage;
    auto [ec, n] = co_await client_.write(Stream::restAfter(buffers, now, storage), kNoThrow);
    ctx_.bytesOut += n;
    co_return !ec;
}

asio::awaitable<bool> Session::sendLocalResponse(int status, std::string_view reason, bool close) {
    out_.clear();
    writeErrorPage(out_, status, reason, ctx_.requestId, close,
                   status == ctx_.local.status ? ctx_.local.retryAfterSeconds : 0);
    ctx_.status = status;
    if (ctx_.error != filter::ErrorSource::None && ctx_.errorText.empty()) ctx_.errorText = reason;
    if (ctx_.error == filter::ErrorSource::Upstream && logging::enabled(logging::Level::Warn)) {
        const std::string_view upstream = ctx_.upstream != nullptr ? ctx_.upstream->name() : "-";
        const std::string_view server = ctx_.server != nullptr ? std::string_view(ctx_.server->key) : "-";
        // "502 upstream app server 10.0.0.5:8080: connect refused"
        logging::logRequest(logging::Level::Warn, ctx_.requestId, "%d upstream %.*s server %.*s: %.*s",
                            status, static_cast<int>(upstream.size()), upstream.data(),
                            static_cast<int>(server.size()), server.data(),
                            static_cast<int>(ctx_.errorText.size()), ctx_.errorText.data());
    }
    const asio::const_buffer b(out_.data(), out_.size());
    const bool ok = co_await writeClient(std::span(&b, 1));
    co_return ok && !close;
}

asio::awaitable<void> Session::run() {
    // The accept phase runs before any byte is read.
    snapshot_ = worker_.snapshot();
    if (snapshot_ && !admitConnection()) co_return;
    if (snapshot_ && (snapshot_->globalPhases & filter::phaseBit(Phase::Accept)) != 0) {
        const auto status = runChain(snapshot_->globalFilters, Phase::Accept,
                                     [&](filter::Filter& f) { return f.onAccept(info_); });
        if (status != FilterStatus::Continue) co_return;
    }
    if (const auto* tls = snapshot_ ? snapshot_->findListenerTls(listener_->name) : nullptr) {
        if (!co_await acceptTls(*tls)) {
            client_.close();
            co_return;
        }
    }
    while (!closing_ && !worker_.draining()) {
        if (co_await readRequestHead() != HeadResult::Ready) break;
        // connection_limit.requests_per_connection: the last one is answered with Connection: close.
        if (const auto max = snapshot_->config->security.requestsPerConnection; max != 0 && ++requestsServed_ >= max)
            request_.keepAlive = false;
        if (!co_await exchange()) break;
    }
    co_await closeClient();
}

asio::awaitable<void> Session::closeClient() {
#if PROXY_WITH_OPENSSL
    if (client_.tls()) {
        setDeadline(std::chrono::seconds(2));  // close_notify; a peer that reads nothing waits no longer
        co_await client_.closeNotify(kNoThrow);
        client_.shutdownSend();
        client_.close();
        co_return;
    }
#endif
    // close() alone ends the connection with a FIN when nothing unread waits on the socket. That
    // is the usual end (the client asked for close, went idle, or closed first) and costs one
    // system call. But when the client may still be sending (a request body it was not allowed
    // to finish, bytes already queued after the last request), close() would make the kernel
    // answer with a reset, and a reset can destroy the answer before the client has read it
    // (a 413 for an upload is the classic case). Then the close lingers, as nginx's
    // lingering_close does: the send side is shut (the client sees the answer and then EOF), and
    // whatever still arrives is read and dropped until the client closes, for at most
    // kLingerIdle between reads and kLingerTotal in all. A client that already timed out gets
    // no more time.
    if (!timedOut_ && (bodyPending_ || client_.socket().hasUnread())) {
        state_ = State::Closing;
        client_.shutdownSend();
        const auto until = coarseNow() + kLingerTotal;
        if (in_.capacity() == 0) in_ = Buffer(kSmallBuffer);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - coarseNow());
            if (left <= std::chrono::milliseconds(0) || closing_) break;
            setDeadline(std::min(left, kLingerIdle));
            in_.clear();
            auto [ec, n] = co_await client_.readSome(asio::buffer(in_.writable().data(), in_.writable().size()),
                                                     kNoThrow);
            if (ec || n == 0) break;
        }
        clearDeadline();
    }
    client_.close();
}

bool Session::admitConnection() {
    const auto& sec = snapshot_->config->security;
    if (sec.connectionsPerClient == 0 && sec.connectionsTotal == 0) return true;
    limitedByAddress_ = security::parseClientIp(info_.clientAddress, limitedIp_);
    // A trusted proxy carries many clients: only the total applies to it.
    const bool exempt = limitedByAddress_ && snapshot_->trustedProxies.contains(limitedIp_);
    const auto verdict = worker_.connectionLimiter().acquire(limitedByAddress_ ? &limitedIp_ : nullptr,
                                                             exempt ? 0 : sec.connectionsPerClient,
                                                             sec.connectionsTotal);
    if (verdict != security::ConnectionLimiter::Verdict::Accepted) {
        if (limitedByAddress_ && !exempt && snapshot_->edge != nullptr)
            snapshot_->edge->bans().strike(limitedIp_, info_.clientAddress, "connection-limit");
        limitedByAddress_ = false;
        return false;  // closed before a byte is read (counted by the limiter)
    }
    limited_ = true;
    return true;
}

asio::awaitable<void> Session::rejectHead(int status, std::string_view reason, bool parsed) {
    state_ = State::Busy;
    ctx_ = filter::RequestContext{};
    ctx_.connection = &info_;
    // A head the parser rejected still names its method and path when it got that far; an
    // incomplete one (timeout, overflow) names nothing.
    ctx_.request = parsed ? &request_ : nullptr;
    ctx_.start = Clock::now();
    ctx_.wallStart = worker_.wallClock().at(ctx_.start);
    ctx_.bytesIn = in_.size();
    ctx_.error = filter::ErrorSource::Downstream;
    ctx_.errorText = reason;
    makeRequestId();
    co_await sendLocalResponse(status, reason, true);
    runLogPhase();
}

asio::awaitable<Session::HeadResult> Session::readRequestHead() {
    snapshot_ = worker_.snapshot();  // each request sees the newest config
    const auto& timeouts = snapshot_->config->timeouts;
    request_.reset();
    std::size_t maxBuffer = snapshot_->limits.maxHeaderBytes + 1024;
    if (!body_.empty()) {
        // Pipelined bytes that came in with the previous request's body.
        if (in_.empty() && in_.capacity() > kSmallBuffer && body_.size() <= kSmallBuffer) in_ = Buffer(kSmallBuffer);
        in_.compact();
        if (in_.writable().size() < body_.size()) in_.grow(in_.size() + body_.size());
        std::memcpy(in_.writable().data(), body_.readable().data(), body_.size());
        in_.commit(body_.size());
        body_.clear();
    }
    bool started = !in_.empty();
    state_ = started ? State::ReadingHead : State::Idle;
    if (!started) {
        idleSince_ = coarseNow();
        trimmed_ = false;
    }
    if (!started && in_.capacity() > kSmallBuffer) in_ = Buffer(kSmallBuffer);  // idle: stay small
    setDeadline(started ? timeouts.header : timeouts.clientIdle);
    for (;;) {
        if (!in_.empty()) {
            const http::ParseResult r = http::parseRequestHead(in_.readable(), snapshot_->limits, request_);
            if (r.status == http::ParseStatus::Complete) {
                state_ = State::Busy;
                // Origins get origin-form; an absolute-form target was already split by the codec.
                if (!request_.target.starts_with('/') && request_.target != "*")
                    request_.target = request_.query.empty()
                                          ? request_.path
                                          : request_.arena.store(std::string(request_.path) + "?" +
                                                                 std::string(request_.query));
                ctx_ = filter::RequestContext{};
                ctx_.bytesIn = r.consumed;
                in_.consume(r.consumed);
                bodyPending_ = request_.framing != http::BodyFraming::None;
                co_return HeadResult::Ready;
            }
            if (r.status == http::ParseStatus::Error) {
                // After a framing error nothing more on this connection can be trusted.
                co_await rejectHead(r.error.status, r.error.reason, true);
                co_return HeadResult::Closed;
            }
            if (in_.full()) {
                if (in_.capacity() >= maxBuffer) {  // the parser reports 431 before this; belt and braces
                    co_await rejectHead(431, "request header section too large", false);
                    co_return HeadResult::Closed;
                }
                in_.grow(std::min(maxBuffer, in_.capacity() * 4));
            }
        }
        if (in_.writable().size() < 512) in_.compact();
        auto [ec, n] = co_await client_.readSome(asio::buffer(in_.writable().data(), in_.writable().size()), kNoThrow);
        if (ec || n == 0) {
            if (timedOut_ && started && !in_.empty()) {
                // Slowloris: the head did not arrive in time.
                co_await rejectHead(408, "request header timeout", false);
            }
            co_return HeadResult::Closed;
        }
        in_.commit(n);
        if (!started) {
            started = true;
            state_ = State::ReadingHead;
            setDeadline(timeouts.header);  // slow-header protection counts from the first byte
        }
    }
}

asio::awaitable<bool> Session::exchange() {
    const auto& cfg = *snapshot_->config;
    worker_.counters().requests.fetch_add(1, std::memory_order_relaxed);
    ctx_.connection = &info_;
    ctx_.request = &request_;
    ctx_.response = &response_;
    ctx_.start = Clock::now();
    ctx_.wallStart = worker_.wallClock().at(ctx_.start);
    ctx_.originalPath = request_.path;
    ctx_.originalHost = request_.host;
    continueSent_ = false;
    makeRequestId();
    setDeadline(cfg.timeouts.upstreamResponse);

    const bool hasBody = request_.framing != http::BodyFraming::None;
    auto finishLocal = [&](int status, std::string_view reason) -> asio::awaitable<bool> {
        // An unread request body makes the connection unusable for another request.
        const bool close = hasBody || !request_.keepAlive || closing_;
        const bool keep = co_await sendLocalResponse(status, reason, close);
        runLogPhase();
        co_return keep;
    };

    if (hasBody && cfg.limits.maxBodyBytes != 0 && request_.framing == http::BodyFraming::ContentLength &&
        request_.contentLength > cfg.limits.maxBodyBytes)
        co_return co_await finishLocal(413, "request body too large");

    // A chunked body that arrived with the head is checked before anything is forwarded, so the
    // usual smuggling probe (one packet, broken framing) never reaches an origin.
    if (request_.framing == http::BodyFraming::Chunked && !in_.empty()) {
        http::ChunkedDecoder probe;
        std::span<const char> rest = in_.readable();
        std::uint64_t total = 0;
        while (!rest.empty()) {
            const auto step = probe.decode(rest);
            if (step.status == http::ParseStatus::Error) {
                ctx_.error = filter::ErrorSource::Downstream;
                co_return co_await finishLocal(400, step.error.reason);
            }
            total += step.data.size();
            if (cfg.limits.maxBodyBytes != 0 && total > cfg.limits.maxBodyBytes)
                co_return co_await finishLocal(413, "request body too large");
            if (step.status == http::ParseStatus::Complete || step.consumed == 0) break;
            rest = rest.subspan(step.consumed);
        }
    }

    // RequestHeaders: the global chain (routing, forwarding headers), then the route's own.
    FilterStatus status = runChain(snapshot_->globalFilters, Phase::RequestHeaders,
                                   [&](filter::Filter& f) { return f.onRequestHeaders(ctx_); });
    if (status == FilterStatus::Continue && ctx_.route != nullptr)
        status = runChain(ctx_.route->filters, Phase::RequestHeaders,
                          [&](filter::Filter& f) { return f.onRequestHeaders(ctx_); });
    if (status == FilterStatus::Close) co_return false;
    if (status == FilterStatus::Respond) co_return co_await finishLocal(ctx_.local.status, ctx_.local.reason);
    if (status == FilterStatus::Serve) {
        if (ctx_.stored == nullptr) co_return false;
        if (const auto kept = co_await serveStored()) co_return *kept;
    }

    // UpstreamSelect. Every server that could take the request is at max_connections: with a
    // queue configured, wait for room (bounded in count and time) instead of answering 503 at once.
    status = selectUpstream();
    std::optional<Clock::time_point> queueGiveUp;  // set when the request first waits
    if (status == FilterStatus::Respond && queueMayHelp()) status = co_await waitForRoom(queueGiveUp);
    if (status == FilterStatus::Close) co_return false;
    if (status == FilterStatus::Respond) co_return co_await finishLocal(ctx_.local.status, ctx_.local.reason);

    // Connect (or reuse), send, relay. A connect failure, or a server that fails an idempotent
    // bodiless request before answering, moves to the next server within the upstream's retry
    // budget; a stale pooled connection is replaced once, fresh, to the same server, when safe.
    const std::uint32_t retries = ctx_.upstream->config().retries;
    bool anyTimeout = false;
    bool anyServer = false;
    bool sameServerFresh = false;
    for (std::uint32_t attempt = 0; attempt <= retries; ++attempt) {
        bool timedOut = false;
        auto up = co_await connectUpstream(timedOut, sameServerFresh);
        sameServerFresh = false;
        anyTimeout = anyTimeout || timedOut;
        if (up == nullptr) {
            if (ctx_.server == nullptr && !anyServer && queueMayHelp()) {
                // The servers the selection saw with room filled up before this request took a
                // slot (a request on another worker took the last one, for example two waiters
                // woken by the same free slot): wait in the queue again, within its timeout.
                status = co_await waitForRoom(queueGiveUp);
                if (status == FilterStatus::Close) co_return false;
                if (status == FilterStatus::Respond)
                    co_return co_await finishLocal(ctx_.local.status, ctx_.local.reason);
                --attempt;  // a new selection: this one never reached a server
                continue;
            }
            if (ctx_.server == nullptr) break;  // no eligible server left
            anyServer = true;
            continue;
        }
        anyServer = true;
        const bool reused = up->requests > 0;
        bool retryable = false;
        const bool keep = co_await forward(up, reused, retryable);
        upstreamStream_ = nullptr;
        if (retryable && reused) {
            // The pooled connection died before answering; one fresh connection to the same server.
            --attempt;
            sameServerFresh = true;
            continue;
        }
        if (retryable) continue;  // the server failed before answering: the next one
        co_return keep;
    }
    // A stored copy the cache may serve when the origin fails (stale-if-error).
    if (ctx_.stored != nullptr && ctx_.stored->upstreamFailed())
        if (const auto kept = co_await serveStored()) co_return *kept;
    if (!anyServer) co_return co_await finishLocal(503, "no upstream server is available");
    ctx_.error = filter::ErrorSource::Upstream;
    if (anyTimeout) co_return co_await finishLocal(504, "upstream connect timed out");
    co_return co_await finishLocal(502, "upstream connection failed");
}

FilterStatus Session::selectUpstream() {
    FilterStatus status = runChain(snapshot_->globalFilters, Phase::UpstreamSelect,
                                   [&](filter::Filter& f) { return f.onUpstreamSelect(ctx_); });
    if (status == FilterStatus::Continue && ctx_.route != nullptr)
        status = runChain(ctx_.route->filters, Phase::UpstreamSelect,
                          [&](filter::Filter& f) { return f.onUpstreamSelect(ctx_); });
    return status;
}

bool Session::queueMayHelp() const {
    return ctx_.upstream != nullptr && ctx_.upstream->config().queue &&
           ctx_.upstream->unavailable() == upstream::UpstreamGroup::Unavailable::Full;
}

asio::awaitable<FilterStatus> Session::waitForRoom(std::optional<Clock::time_point>& giveUp) {
    using Unavailable = upstream::UpstreamGroup::Unavailable;
    upstream::UpstreamGroup& group = *ctx_.upstream;
    const config::UpstreamQueue& queue = *group.config().queue;
    constexpr std::string_view kTimedOut =
        "every available server of the upstream stayed at max_connections for the queue timeout";
    if (giveUp && Clock::now() >= *giveUp) {  // waiting again, with no time left
        ctx_.local = {503, kTimedOut};
        co_return FilterStatus::Respond;
    }
    if (!group.enterQueue(queue.size)) {
        ctx_.local = {503, "every available server of the upstream is at max_connections and its "
                           "wait queue is full"};
        co_return FilterStatus::Respond;
    }
    if (!giveUp) giveUp = Clock::now() + queue.timeout;  // one bound however often it waits
    // The answer if a stop ends the wait: after a lost slot the selection had set none.
    if (ctx_.local.status == 0) {
        ctx_.local = {503, group.unavailableReason()};
        if (ctx_.local.reason.empty()) ctx_.local.reason = "no upstream server is available";
    }
    // Polled, not signalled: slots free on any worker, and a 5 ms poll keeps waiters off every
    // other thread. Only overload ever gets here.
    asio::steady_timer poll(worker_.io());
    setDeadline(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::max<Clock::duration>(*giveUp - Clock::now(), {})) +
                std::chrono::seconds(1));  // the wait has its own bound
    FilterStatus status = FilterStatus::Respond;
    bool waiting = true;
    while (waiting && !closing_ && !worker_.draining()) {
        const Clock::duration left = std::max<Clock::duration>(*giveUp - Clock::now(), {});
        poll.expires_after(std::min<Clock::duration>(std::chrono::milliseconds(5), left));
        co_await poll.async_wait(kNoThrow);
        const bool late = Clock::now() >= *giveUp;
        if (group.unavailable() != Unavailable::Full) {
            ctx_.local = {};
            status = selectUpstream();  // room (or another reason to give up): select again
            // Another waiter may have taken the room first: wait on while time is left.
            waiting = status == FilterStatus::Respond && !late &&
                      group.unavailable() == Unavailable::Full;
        }
        if (waiting && late) {
            ctx_.local = {503, kTimedOut};
            status = FilterStatus::Respond;
            waiting = false;
        }
    }
    group.leaveQueue();
    setDeadline(snapshot_->config->timeouts.upstreamResponse);
    co_return status;
}

asio::awaitable<std::unique_ptr<upstream::UpstreamConnection>> Session::connectUpstream(
    bool& timedOut, bool sameServerFresh) {
    // The chosen server's connection slot is taken here and given back by forward() (or below,
    // when the connect fails), so max_connections holds across workers and during connects.
    upstream::ServerState* server = sameServerFresh ? ctx_.server : nullptr;
    if (server != nullptr && !server->tryAcquire()) server = nullptr;
    while (server == nullptr) {
        const auto index = ctx_.selection.next();
        if (!index) {
            ctx_.server = nullptr;
            co_return nullptr;
        }
        upstream::ServerState* candidate = ctx_.upstream->servers()[*index].get();
        if (!candidate->tryAcquire()) continue;  // filled up since the selection saw it
        server = candidate;
        ctx_.server = server;
        // A request that forward() may send again on a fresh connection (idempotent, no body)
        // spares a connection returned moments ago the pool's peek (a system call per request);
        // any other request always has the pool peek at the socket.
        const bool retrySafe = request_.framing == http::BodyFraming::None && idempotent(request_.method);
        if (auto pooled = worker_.pool().take(server->poolKey, !retrySafe)) co_return pooled;
    }

    const auto begin = Clock::now();
    auto up = std::make_unique<upstream::UpstreamConnection>(worker_.io().get_executor(), server->poolKey);
    upstreamStream_ = &up->stream;
    setDeadline(snapshot_->config->timeouts.upstreamConnect);
    timedOut_ = false;
    auto [ec, endpoint] = co_await asio::async_connect(up->stream.socket(), server->endpoints, kNoThrow);
    if (!ec && ctx_.upstream->tls() != nullptr && !co_await connectTls(*up, *server))
        ec = asio::error::connection_aborted;  // counted as a failed connect (logged there)
    upstreamStream_ = nullptr;
    ctx_.upstreamConnect = Clock::now() - begin;
    if (ec) {
        timedOut = timedOut_;
        timedOut_ = false;
        server->release();
        server->failures.fetch_add(1, std::memory_order_relaxed);
        server->health->transportFailed(ctx_.upstream->passive(), Clock::now());
        co_return nullptr;
    }
    server->health->connected();
    asio::error_code ignored;
    up->stream.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    up->stream.socket().enableDrainHint();
    up->stream.socket().non_blocking(true, ignored);  // lets the pool peek for a close without blocking
    co_return up;
}

asio::awaitable<bool> Session::forward(std::unique_ptr<upstream::UpstreamConnection>& upPtr,
                                       bool reused, bool& retryable) {
    const auto& cfg = *snapshot_->config;
    upstream::UpstreamConnection& up = *upPtr;
    upstream::ServerState& server = *ctx_.server;
    server.requests.fetch_add(1, std::memory_order_relaxed);
    struct ActiveGuard {  // gives back the slot connectUpstream() took
        upstream::ServerState& s;
        ~ActiveGuard() { s.release(); }
    } guard{server};
    upstreamStream_ = &up.stream;
    ++up.requests;

    // Request head: our framing, never the client's raw Transfer-Encoding/Content-Length mix.
    if (request_.framing == http::BodyFraming::Chunked) {
        request_.headers.remove("Content-Length");
        request_.headers.add("Transfer-Encoding", "chunked");
    }
    out_.clear();
    http::writeRequestHead(request_, out_);
    setDeadline(cfg.timeouts.upstreamResponse);
    {
        const asio::const_buffer head = asio::buffer(out_);
        const std::size_t now = up.stream.writeNow(std::span(&head, 1));
        std::vector<asio::const_buffer> storage;
        asio::error_code ec;
        if (now < head.size())
            std::tie(ec, std::ignore) =
                co_await up.stream.write(Stream::restAfter(std::span(&head, 1), now, storage), kNoThrow);
        if (ec) {
            if (!reused) {
                server.failures.fetch_add(1, std::memory_order_relaxed);
                server.health->transportFailed(ctx_.upstream->passive(), Clock::now());
            }
            if (!timedOut_) {
                // Nothing of the body was sent: another connection may carry the request.
                retryable = idempotent(request_.method) || request_.framing == http::BodyFraming::None;
                if (retryable) co_return false;
            }
            if (reused) server.failures.fetch_add(1, std::memory_order_relaxed);
            ctx_.error = filter::ErrorSource::Upstream;
            const bool hasBody = request_.framing != http::BodyFraming::None;
            co_return co_await sendLocalResponse(502, "upstream write failed", hasBody || !request_.keepAlive);
        }
    }
    const bool hasBody = request_.framing != http::BodyFraming::None;
    bool bodySent = !hasBody;
    // With Expect: 100-continue the body waits for the origin's interim answer.
    if (hasBody && !request_.expectContinue) {
        // A body that fails (answered 400, 408, 413, a WAF 403, or 502) is still one exchange to log.
        if (!co_await relayRequestBody(up)) {
            runLogPhase();
            co_return false;
        }
        bodySent = true;
        bodyPending_ = false;
    }

    // Response head, skipping or relaying interim responses.
    const auto waitStart = Clock::now();
    up.buffer.clear();
    for (;;) {
        response_.reset();
        http::ParseResult r{};
        if (!up.buffer.empty())
            r = http::parseResponseHead(up.buffer.readable(), snapshot_->limits, request_.method, response_);
        if (r.status == http::ParseStatus::Complete) {
            up.buffer.consume(r.consumed);
            if (response_.status >= 100 && response_.status < 200 && response_.status != 101) {
                // 100 and 103 go to HTTP/1.1 clients; other interim answers are dropped.
                if (request_.version == http::Version::Http11 &&
                    (response_.status == 100 || response_.status == 103) &&
                    !(response_.status == 100 && continueSent_)) {
                    out_.clear();
                    http::writeResponseHead(response_, out_);
                    const asio::const_buffer b(out_.data(), out_.size());
                    if (!co_await writeClient(std::span(&b, 1))) co_return false;
                    if (response_.status == 100) continueSent_ = true;
                }
                if (response_.status == 100 && !bodySent) {
                    if (!co_await relayRequestBody(up)) {
                        runLogPhase();
                        co_return false;
                    }
                    bodySent = true;
                    bodyPending_ = false;
                }
                setDeadline(cfg.timeouts.upstreamResponse);
                continue;
            }
            break;
        }
        if (r.status == http::ParseStatus::Error) {
            server.failures.fetch_add(1, std::memory_order_relaxed);
            server.health->transportFailed(ctx_.upstream->passive(), Clock::now());
            ctx_.error = filter::ErrorSource::Upstream;
            ctx_.errorText = r.error.reason;
            co_return co_await sendLocalResponse(502, "invalid response from upstream", true);
        }
        if (up.buffer.full()) up.buffer.grow(snapshot_->limits.maxHeaderBytes + 1024);
        if (up.buffer.writable().size() < 512) up.buffer.compact();
        auto [ec, n] = co_await up.stream.readSome(asio::buffer(up.buffer.writable().data(), up.buffer.writable().size()), kNoThrow);
        if (ec || n == 0) {
            if (timedOut_) {
                timedOut_ = false;
                server.health->transportFailed(ctx_.upstream->passive(), Clock::now());
                ctx_.error = filter::ErrorSource::Upstream;
                co_return co_await sendLocalResponse(504, "upstream response timed out", true);
            }
            if (!reused) {
                server.failures.fetch_add(1, std::memory_order_relaxed);
                server.health->transportFailed(ctx_.upstream->passive(), Clock::now());
            }
            if (up.buffer.empty() && bodySent && request_.framing == http::BodyFraming::None &&
                idempotent(request_.method)) {
                // Reused: a keep-alive race (the origin closed as we sent). Fresh: the server
                // died before answering. Either way an idempotent bodiless request may go again.
                retryable = true;
                co_return false;
            }
            if (reused) server.failures.fetch_add(1, std::memory_order_relaxed);
            ctx_.error = filter::ErrorSource::Upstream;
            co_return co_await sendLocalResponse(502, "upstream closed the connection", true);
        }
        up.buffer.commit(n);
    }
    const auto responded = Clock::now();
    ctx_.upstreamResponse = responded - waitStart;
    // Passive health: a 5xx counts toward ejection, anything else ends a run of failures.
    server.health->responded(response_.status, ctx_.upstream->passive(), responded);

    // ResponseHeaders.
    FilterStatus status = runChain(snapshot_->globalFilters, Phase::ResponseHeaders,
                                   [&](filter::Filter& f) { return f.onResponseHeaders(ctx_); });
    if (status == FilterStatus::Continue && ctx_.route != nullptr)
        status = runChain(ctx_.route->filters, Phase::ResponseHeaders,
                          [&](filter::Filter& f) { return f.onResponseHeaders(ctx_); });
    if (status == FilterStatus::Close) co_return false;
    if (status == FilterStatus::Respond)
        co_return co_await sendLocalResponse(ctx_.local.status, ctx_.local.reason, true);
    if (status == FilterStatus::Serve) {
        // The stored copy replaces the origin's answer (a 304 refreshed it, or stale-if-error).
        // A bodiless answer leaves the upstream connection reusable; any other is closed.
        upstreamStream_ = nullptr;
        if (response_.framing == http::BodyFraming::None && response_.keepAlive && bodySent &&
            up.buffer.empty()) {
            const auto& keepalive = ctx_.upstream->config().keepalive;
            worker_.pool().put(std::move(upPtr), keepalive.maxIdle, keepalive.idleTimeout);
        }
        if (ctx_.stored == nullptr) co_return false;
        const auto kept = co_await serveStored();
        co_return kept.value_or(false);
    }

    // Upgrade: a 101 to an upgrade request turns the connection into a byte tunnel.
    if (response_.status == 101) {
        if (!request_.upgrade) {
            ctx_.error = filter::ErrorSource::Upstream;
            co_return co_await sendLocalResponse(502, "unexpected 101 from upstream", true);
        }
        out_.clear();
        http::writeResponseHead(response_, out_);
        ctx_.status = 101;
        std::array<asio::const_buffer, 2> bufs{asio::buffer(out_), asio::buffer(up.buffer.readable().data(), up.buffer.readable().size())};
        if (!co_await writeClient(bufs)) co_return false;
        up.buffer.clear();
        co_await tunnel(up);
        runLogPhase();
        co_return false;
    }

    // Client-side framing.
    // The client's connection outlives the upstream's: an origin that closes does not close it.
    bool keepClient = request_.keepAlive && !closing_ && !worker_.draining();
    // The client must not stay open with a request body still unread (expect-continue refused).
    if (!bodySent) keepClient = false;
    bool chunkToClient = false;
    response_.headers.remove("Content-Length");
    response_.headers.remove("Transfer-Encoding");
    switch (response_.framing) {
        case http::BodyFraming::None:
            if (response_.status != 204 && response_.status != 304 && response_.status >= 200 &&
                request_.method != http::Method::Head)
                response_.headers.add("Content-Length", "0");
            else if (response_.contentLength > 0 || request_.method == http::Method::Head)
                break;
            break;
        case http::BodyFraming::ContentLength:
            if (!ctx_.responseLengthChanged) {
                char digits[24];
                const auto res = std::to_chars(digits, digits + sizeof(digits), response_.contentLength);
                response_.headers.add("Content-Length",
                                      response_.arena.store({digits, static_cast<std::size_t>(res.ptr - digits)}));
                break;
            }
            [[fallthrough]];  // a filter changes the length (compression): frame it as a stream
        case http::BodyFraming::Chunked:
        case http::BodyFraming::UntilClose:
            if (request_.version == http::Version::Http11) {
                chunkToClient = true;
                response_.headers.add("Transfer-Encoding", "chunked");
            } else {
                keepClient = false;  // an HTTP/1.0 client learns the end from the close
            }
            break;
    }
    // A HEAD response or 304 keeps the origin's Content-Length as information.
    if ((request_.method == http::Method::Head || response_.status == 304) &&
        response_.framing == http::BodyFraming::None) {
        // parseResponseHead leaves contentLength from the header for these.
        if (response_.contentLength > 0) addContentLength(response_.contentLength);
    }
    writeClientHead(keepClient);

    bool upstreamComplete = false;
    if (response_.framing == http::BodyFraming::None) {
        const asio::const_buffer b(out_.data(), out_.size());
        if (!co_await writeClient(std::span(&b, 1))) co_return false;
        upstreamComplete = true;
    } else {
        if (!co_await relayResponseBody(up, chunkToClient, upstreamComplete)) {
            runLogPhase();
            co_return false;  // mid-body failure: the client sees a close, never a fake complete
        }
    }
    upstreamStream_ = nullptr;
    clearDeadline();
    if (upstreamComplete && response_.keepAlive && bodySent && up.buffer.empty()) {
        // Safe to reuse: the exchange is complete on both sides and nothing extra arrived.
        const auto& keepalive = ctx_.upstream->config().keepalive;
        worker_.pool().put(std::move(upPtr), keepalive.maxIdle, keepalive.idleTimeout);
    }
    runLogPhase();
    co_return keepClient;
}

asio::awaitable<bool> Session::relayRequestBody(upstream::UpstreamConnection& up) {
    const auto& cfg = *snapshot_->config;
    const std::uint64_t limit = cfg.limits.maxBodyBytes;
    const bool filters = ((snapshot_->globalPhases & filter::phaseBit(Phase::RequestBody)) != 0) ||
                         (ctx_.route != nullptr);
    // The body gets a buffer of its own. The request head's views (method, path, headers) point
    // into in_, and filters and the access log read them until the exchange ends, so in_ must not
    // be grown or compacted under them. Bytes that arrived after the body (pipelining) go back to
    // in_ when the next head is read.
    if (body_.capacity() < std::max(kBodyBuffer, in_.size())) body_ = Buffer(std::max(kBodyBuffer, in_.size()));
    body_.clear();
    if (!in_.empty()) {
        std::memcpy(body_.writable().data(), in_.readable().data(), in_.size());
        body_.commit(in_.size());
        in_.consume(in_.size());  // the head bytes stay where they are
    }
    Buffer& in = body_;

    // security.min_body_rate (the route's own, else the top level's): like mod_reqtimeout's
    // MinRate, the client has `grace` plus one second per bytesPerSecond bytes it has sent, and
    // only the time spent waiting on the client counts (a slow origin is not the client's fault).
    const auto& ownRate = ctx_.route != nullptr && ctx_.route->order < cfg.routes.size()
                              ? cfg.routes[ctx_.route->order].security.minBodyRate
                              : std::nullopt;
    const config::MinBodyRate minRate = ownRate ? *ownRate : cfg.security.policy.minBodyRate.value_or(config::MinBodyRate{});
    std::uint64_t received = in.size();  // body bytes (with chunk framing) read from the client
    Clock::duration waited{};

    // Reads more of the body from the client; false (after answering) when it cannot.
    std::uint32_t reads = 0;
    auto readClient = [&]() -> asio::awaitable<bool> {
        growForLongBody(in, reads);
        if (in.writable().size() < 1024) in.compact();
        std::chrono::milliseconds wait = cfg.timeouts.clientIdle;
        bool rateBinds = false;
        if (minRate.bytesPerSecond != 0) {
            const auto earned = minRate.grace + std::chrono::milliseconds(received * 1000 / minRate.bytesPerSecond);
            const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(earned - waited),
                                       std::chrono::milliseconds(0));
            if (left < wait) {
                wait = left;
                rateBinds = true;
            }
        }
        setDeadline(wait);
        const auto started = Clock::now();
        auto [ec, n] = co_await client_.readSome(asio::buffer(in.writable().data(), in.writable().size()), kNoThrow);
        waited += Clock::now() - started;
        if (ec || n == 0) {
            ctx_.error = filter::ErrorSource::Downstream;
            if (timedOut_) {
                timedOut_ = false;
                if (rateBinds) {
                    // Too slow: counted, logged with its reason (the access log's security column)
                    // and, with bans on, a strike against the client.
                    const std::string_view client = ctx_.clientAddress.empty() ? info_.clientAddress : ctx_.clientAddress;
                    ctx_.securityAction = "slow-body";
                    if (snapshot_->edge != nullptr) {
                        snapshot_->edge->countSlowBody();
                        security::IpKey ip;
                        if (cfg.security.bans.strikes > 0 && security::parseClientIp(client, ip))
                            snapshot_->edge->bans().strike(ip, client, "slow-body");
                    }
                    logging::logRequest(logging::Level::Info, ctx_.requestId,
                                 "request body too slow from %.*s: %llu bytes in %lld ms "
                                 "(min_body_rate %u bytes/s after %lld ms)",
                                 static_cast<int>(client.size()), client.data(),
                                 static_cast<unsigned long long>(received),
                                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()),
                                 minRate.bytesPerSecond, static_cast<long long>(minRate.grace.count()));
                    co_await sendLocalResponse(408, "request body too slow", true);
                } else {
                    co_await sendLocalResponse(408, "request body timeout", true);
                }
            }
            co_return false;
        }
        in.commit(n);
        received += n;
        ctx_.bytesIn += n;
        co_return true;
    };
    auto writeUpstream = [&](std::span<const asio::const_buffer> buffers) -> asio::awaitable<bool> {
        setDeadline(cfg.timeouts.upstreamResponse);
        const std::size_t now = up.stream.writeNow(buffers);
        if (now == asio::buffer_size(buffers)) co_return true;
        std::vector<asio::const_buffer> storage;
        auto [ec, n] = co_await up.stream.write(Stream::restAfter(buffers, now, storage), kNoThrow);
        if (ec) {
            ctx_.error = filter::ErrorSource::Upstream;
            ctx_.server->failures.fetch_add(1, std::memory_order_relaxed);
            co_await sendLocalResponse(502, "upstream stopped reading the request body", true);
            co_return false;
        }
        co_return true;
    };
    auto runBodyFilters = [&](filter::BodyChunk& chunk) {
        if (!filters) return FilterStatus::Continue;
        FilterStatus st = runChain(snapshot_->globalFilters, Phase::RequestBody,
                                   [&](filter::Filter& f) { return f.onRequestBody(ctx_, chunk); });
        if (st == FilterStatus::Continue && ctx_.route != nullptr)
            st = runChain(ctx_.route->filters, Phase::RequestBody,
                          [&](filter::Filter& f) { return f.onRequestBody(ctx_, chunk); });
        return st;
    };

    if (request_.framing == http::BodyFraming::ContentLength) {
        std::uint64_t remaining = request_.contentLength;
        while (remaining > 0) {
            if (in.empty() && !co_await readClient()) co_return false;
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, in.size()));
            filter::BodyChunk chunk{std::string_view(in.readable().data(), n), n == remaining};
            if (runBodyFilters(chunk) != FilterStatus::Continue) {
                co_await sendLocalResponse(ctx_.local.status ? ctx_.local.status : 400,
                                           ctx_.local.reason, true);
                co_return false;
            }
            const asio::const_buffer b(chunk.data.data(), chunk.data.size());
            if (!co_await writeUpstream(std::span(&b, 1))) co_return false;
            in.consume(n);
            remaining -= n;
        }
        co_return true;
    }

    // Chunked: decode, check, and send our own chunking (extensions and trailers are dropped).
    http::ChunkedDecoder decoder;
    std::uint64_t total = 0;
    constexpr std::size_t kMaxPieces = RelayScratch::kMaxPieces;
    // The arrays live in the session, not in this coroutine's frame (GCC keeps every local in the
    // frame; a frame over ~1 KiB misses asio's frame cache and costs a malloc per call).
    if (!requestScratch_) requestScratch_ = std::make_unique_for_overwrite<RelayScratch>();
    auto& sizeLines = requestScratch_->sizeLines;
    auto& gather = requestScratch_->gather;
    auto addPiece = [&](std::string_view data, std::size_t& pieces, std::size_t& count) {
        if (data.empty()) return;  // an empty chunk would end the body: a filter is holding it
        const std::size_t len = chunkSizeLine(sizeLines[pieces], data.size());
        gather[count++] = asio::buffer(sizeLines[pieces].data(), len);
        gather[count++] = asio::buffer(data.data(), data.size());
        gather[count++] = asio::buffer(kCrlf.data(), kCrlf.size());
        ++pieces;
    };
    for (;;) {
        std::size_t pieces = 0, count = 0;
        bool done = false;
        while (!in.empty() && pieces < kMaxPieces) {
            const auto step = decoder.decode(in.readable());
            if (step.status == http::ParseStatus::Error) {
                ctx_.error = filter::ErrorSource::Downstream;
                co_await sendLocalResponse(400, step.error.reason, true);
                co_return false;
            }
            if (!step.data.empty()) {
                total += step.data.size();
                if (limit != 0 && total > limit) {
                    co_await sendLocalResponse(413, "request body too large", true);
                    co_return false;
                }
                filter::BodyChunk chunk{step.data, false};
                if (runBodyFilters(chunk) != FilterStatus::Continue) {
                    co_await sendLocalResponse(ctx_.local.status ? ctx_.local.status : 400,
                                               ctx_.local.reason, true);
                    co_return false;
                }
                addPiece(chunk.data, pieces, count);
            }
            in.consume(step.consumed);
            if (step.status == http::ParseStatus::Complete) {
                // The final hook call (last = true), so a filter can release what it holds.
                filter::BodyChunk chunk{std::string_view(), true};
                if (runBodyFilters(chunk) != FilterStatus::Continue) {
                    co_await sendLocalResponse(ctx_.local.status ? ctx_.local.status : 400,
                                               ctx_.local.reason, true);
                    co_return false;
                }
                addPiece(chunk.data, pieces, count);
                gather[count++] = asio::buffer(http::kLastChunk.data(), http::kLastChunk.size());
                done = true;
                break;
            }
            if (step.consumed == 0) break;  // needs more input
        }
        if (count > 0 && !co_await writeUpstream(std::span(gather.data(), count))) co_return false;
        if (done) co_return true;
        if (pieces < kMaxPieces && !co_await readClient()) co_return false;
    }
}

asio::awaitable<bool> Session::relayResponseBody(upstream::UpstreamConnection& up, bool chunkToClient,
                                                 bool& upstreamComplete) {
    const auto& cfg = *snapshot_->config;
    bool headPending = true;  // the response head still waits in out_, to go with the first bytes
    const bool filters = ((snapshot_->globalPhases & filter::phaseBit(Phase::ResponseBody)) != 0) ||
                         (ctx_.route != nullptr);
    constexpr std::size_t kMaxPieces = RelayScratch::kMaxPieces;
    // Kept in the session, not in this coroutine's frame (see relayRequestBody).
    if (!responseScratch_) responseScratch_ = std::make_unique_for_overwrite<RelayScratch>();
    auto& sizeLines = responseScratch_->sizeLines;
    auto& gather = responseScratch_->gather;
    std::size_t count = 0, pieces = 0;
    // True once a filter has replaced a piece with bytes of its own: they stay valid only until
    // its hook runs again, so they are written before that.
    bool filterBytesPending = false;

    auto startGather = [&]() {
        count = pieces = 0;
        filterBytesPending = false;
        if (headPending) gather[count++] = asio::buffer(out_);
    };
    // Runs the body hooks over one piece and gathers what they leave. Every body ends with exactly
    // one call with last = true (maybe with no data), which lets a filter flush what it holds.
    auto addData = [&](std::string_view data, bool last) -> bool {
        filter::BodyChunk chunk{data, last};
        if (filters) {
            FilterStatus st = runChain(snapshot_->globalFilters, Phase::ResponseBody,
                                       [&](filter::Filter& f) { return f.onResponseBody(ctx_, chunk); });
            if (st == FilterStatus::Continue && ctx_.route != nullptr)
                st = runChain(ctx_.route->filters, Phase::ResponseBody,
                              [&](filter::Filter& f) { return f.onResponseBody(ctx_, chunk); });
            if (st != FilterStatus::Continue) {
                ctx_.error = filter::ErrorSource::Internal;
                ctx_.errorText = "a response body filter stopped the exchange";
                return false;
            }
            if (chunk.data.data() != data.data()) filterBytesPending = true;
        }
        if (chunk.data.empty()) return true;
        if (chunkToClient) {
            const std::size_t len = chunkSizeLine(sizeLines[pieces], chunk.data.size());
            gather[count++] = asio::buffer(sizeLines[pieces].data(), len);
            gather[count++] = asio::buffer(chunk.data.data(), chunk.data.size());
            gather[count++] = asio::buffer(kCrlf.data(), kCrlf.size());
        } else {
            gather[count++] = asio::buffer(chunk.data.data(), chunk.data.size());
        }
        ++pieces;
        return true;
    };
    auto addLastChunk = [&]() {
        if (chunkToClient) gather[count++] = asio::buffer(http::kLastChunk.data(), http::kLastChunk.size());
    };
    auto flush = [&]() -> asio::awaitable<bool> {
        if (count == 0) co_return true;
        const bool ok = co_await writeClient(std::span(gather.data(), count));
        headPending = false;
        count = pieces = 0;
        filterBytesPending = false;
        co_return ok;
    };
    // The final hook call, then the end of the body: the filter's last bytes may reuse its buffer,
    // so anything of its still waiting is written first.
    auto finish = [&]() -> asio::awaitable<bool> {
        if (filterBytesPending) {
            if (!co_await flush()) co_return false;
            startGather();
        }
        if (!addData({}, true)) co_return false;
        addLastChunk();
        co_return co_await flush();
    };
    // Reads more from the upstream. At EOF returns false with eof = true.
    std::uint32_t reads = 0;
    auto readUpstream = [&](bool& eof) -> asio::awaitable<bool> {
        growForLongBody(up.buffer, reads);
        up.buffer.compact();
        setDeadline(cfg.timeouts.upstreamResponse);
        auto [ec, n] = co_await up.stream.readSome(asio::buffer(up.buffer.writable().data(), up.buffer.writable().size()), kNoThrow);
        if (ec || n == 0) {
            eof = (Stream::isEof(ec) || (!ec && n == 0));
            co_return false;
        }
        up.buffer.commit(n);
        co_return true;
    };
    auto upstreamFailed = [&](std::string_view why) {
        ctx_.error = filter::ErrorSource::Upstream;
        ctx_.errorText = why;
        ctx_.server->failures.fetch_add(1, std::memory_order_relaxed);
    };

    switch (response_.framing) {
        case http::BodyFraming::None:
            upstreamComplete = true;
            startGather();
            co_return co_await flush();
        case http::BodyFraming::ContentLength: {
            std::uint64_t remaining = response_.contentLength;
            if (remaining == 0) {
                startGather();
                if (!co_await finish()) co_return false;
            }
            while (remaining > 0) {
                startGather();
                const std::size_t n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(remaining, up.buffer.size()));
                const bool last = n == remaining;
                if (n > 0 && !addData({up.buffer.readable().data(), n}, last)) co_return false;
                if (last) addLastChunk();
                // A filter holding the first bytes back (compression): the head waits for them,
                // rather than going out in a write of its own.
                const bool heldBack = headPending && n > 0 && pieces == 0 && !last;
                if (!heldBack && !co_await flush()) co_return false;
                up.buffer.consume(n);
                remaining -= n;
                if (remaining == 0) break;
                bool eof = false;
                if (!co_await readUpstream(eof)) {
                    upstreamFailed(eof ? "upstream closed mid-body" : "upstream read failed");
                    co_return false;
                }
            }
            upstreamComplete = true;
            co_return true;
        }
        case http::BodyFraming::Chunked: {
            http::ChunkedDecoder decoder;
            while (true) {
                startGather();
                bool done = false;
                bool needMore = true;  // false: stopped early with decodable bytes still buffered
                while (!up.buffer.empty()) {
                    if (pieces >= kMaxPieces || filterBytesPending) {
                        needMore = false;
                        break;
                    }
                    const auto step = decoder.decode(up.buffer.readable());
                    if (step.status == http::ParseStatus::Error) {
                        upstreamFailed(step.error.reason);
                        co_await flush();
                        co_return false;
                    }
                    if (!step.data.empty() && !addData(step.data, false)) co_return false;
                    up.buffer.consume(step.consumed);
                    if (step.status == http::ParseStatus::Complete) {
                        done = true;
                        break;
                    }
                    if (step.consumed == 0) break;
                }
                if (done) {
                    if (!co_await finish()) co_return false;
                    break;
                }
                if (!co_await flush()) co_return false;
                if (!needMore) continue;
                bool eof = false;
                if (!co_await readUpstream(eof)) {
                    upstreamFailed(eof ? "upstream closed mid-body" : "upstream read failed");
                    co_return false;
                }
            }
            upstreamComplete = true;
            co_return true;
        }
        case http::BodyFraming::UntilClose: {
            while (true) {
                startGather();
                if (!up.buffer.empty()) {
                    if (!addData({up.buffer.readable().data(), up.buffer.size()}, false)) co_return false;
                }
                if (!co_await flush()) co_return false;
                up.buffer.clear();
                bool eof = false;
                if (!co_await readUpstream(eof)) {
                    if (!eof) {
                        upstreamFailed("upstream read failed");
                        co_return false;
                    }
                    break;
                }
            }
            startGather();
            if (!co_await finish()) co_return false;
            upstreamComplete = true;  // the origin closed: complete, but never reused
            co_return true;
        }
    }
    co_return false;
}

asio::awaitable<std::optional<bool>> Session::serveStored() {
    filter::StoredResponse& stored = *ctx_.stored;
    auto readiness = stored.poll();
    if (readiness == filter::StoredResponse::Readiness::Wait) {
        // Another exchange is fetching this response (collapsed forwarding). Polled, like the
        // upstream queue: the fill may run on any worker, and a short poll keeps this one free.
        asio::steady_timer poll(worker_.io());
        const auto giveUp = Clock::now() + stored.waitLimit();
        setDeadline(stored.waitLimit() + std::chrono::seconds(1));
        while (readiness == filter::StoredResponse::Readiness::Wait && !closing_ &&
               !worker_.draining() && Clock::now() < giveUp) {
            poll.expires_after(std::chrono::milliseconds(2));
            co_await poll.async_wait(kNoThrow);
            readiness = stored.poll();
        }
        if (readiness == filter::StoredResponse::Readiness::Wait) {
            stored.giveUp();
            readiness = filter::StoredResponse::Readiness::Upstream;
        }
        setDeadline(snapshot_->config->timeouts.upstreamResponse);
    }
    if (readiness != filter::StoredResponse::Readiness::Ready) co_return std::nullopt;

    // An unread request body makes the connection unusable for another request.
    const bool keepClient = request_.keepAlive && !closing_ && !worker_.draining() &&
                            request_.framing == http::BodyFraming::None;
    response_.reset();
    const std::uint64_t size = stored.writeHead(response_);
    response_.headers.remove("Content-Length");
    response_.headers.remove("Transfer-Encoding");
    response_.headers.remove("Connection");
    const bool bodiless = response_.status == 304 || response_.status == 204;
    if (!bodiless) addContentLength(size);
    writeClientHead(keepClient);

    // The body goes out in pieces of at most 256 KiB, so one write never pins the worker long.
    constexpr std::uint64_t kPiece = 256 * 1024;
    const std::uint64_t total = (bodiless || request_.method == http::Method::Head) ? 0 : size;
    std::uint64_t offset = 0;
    bool ok = true;
    bool headPending = true;
    while (ok && (headPending || offset < total)) {
        std::array<asio::const_buffer, 2> bufs;
        std::size_t count = 0;
        if (headPending) bufs[count++] = asio::buffer(out_);
        if (offset < total) {
            std::string_view piece = stored.body(offset);
            piece = piece.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, total - offset)));
            if (piece.empty()) {  // storage broke its promise: never pass off a short body
                ctx_.error = filter::ErrorSource::Internal;
                ctx_.errorText = "stored body shorter than its length";
                ok = false;
                break;
            }
            bufs[count++] = asio::buffer(piece.data(), piece.size());
            offset += piece.size();
        }
        headPending = false;
        ok = co_await writeClient(std::span(bufs.data(), count));
    }
    clearDeadline();
    runLogPhase();
    co_return ok && keepClient;
}

asio::awaitable<void> Session::tunnel(upstream::UpstreamConnection& up) {
    using namespace asio::experimental::awaitable_operators;
    state_ = State::Tunnel;
    const auto idle = snapshot_->config->timeouts.tunnelIdle;
    upstreamStream_ = &up.stream;
    // Bytes the client sent after its upgrade request belong to the tunnel.
    if (!in_.empty()) {
        setDeadline(idle);
        auto [ec, n] = co_await up.stream.write(asio::buffer(in_.readable().data(), in_.readable().size()), kNoThrow);
        if (ec) co_return;
        in_.clear();
    }
    auto pump = [this, idle](Stream& from, Stream& to, std::uint64_t& counter) -> asio::awaitable<void> {
        std::unique_ptr<char[]> buffer(new char[kBodyBuffer]);
        for (;;) {
            setDeadline(idle);
            auto [ec, n] = co_await from.readSome(asio::buffer(buffer.get(), kBodyBuffer), kNoThrow);
            if (ec || n == 0) {
                // A TLS side cannot half-close (a close_notify ends both directions): close.
                if (Stream::isEof(ec) && !from.tls() && !to.tls()) {
                    to.shutdownSend();  // pass the half-close on
                } else {
                    from.close();
                    to.close();
                }
                co_return;
            }
            setDeadline(idle);
            auto [wec, wn] = co_await to.write(asio::buffer(buffer.get(), n), kNoThrow);
            counter += wn;
            if (wec) {
                from.close();
                to.close();
                co_return;
            }
        }
    };
    std::uint64_t toUpstream = 0;
    co_await (pump(client_, up.stream, toUpstream) && pump(up.stream, client_, ctx_.bytesOut));
    ctx_.bytesIn += toUpstream;
    upstreamStream_ = nullptr;
}

void Session::addContentLength(std::uint64_t length) {
    char digits[24];
    const auto res = std::to_chars(digits, digits + sizeof(digits), length);
    response_.headers.add("Content-Length",
                          response_.arena.store({digits, static_cast<std::size_t>(res.ptr - digits)}));
}

void Session::writeClientHead(bool keepClient) {
    if (!keepClient)
        response_.headers.add("Connection", "close");
    else if (request_.version == http::Version::Http10)
        response_.headers.add("Connection", "keep-alive");
    out_.clear();
    http::writeResponseHead(response_, out_);
    ctx_.status = response_.status;
}

void Session::runLogPhase() {
    ctx_.total = Clock::now() - ctx_.start;
    if (ctx_.status >= 500)
        worker_.counters().responses5xx.fetch_add(1, std::memory_order_relaxed);
    else if (ctx_.status >= 400)
        worker_.counters().responses4xx.fetch_add(1, std::memory_order_relaxed);
    // The route's own filters first, then the global chain, so the access log (the global chain's
    // last filter) sees what every other filter recorded.
    const unsigned bit = filter::phaseBit(Phase::Log);
    if (ctx_.route != nullptr)
        for (filter::Filter* f : ctx_.route->filters)
            if (f->phases() & bit) f->onLog(ctx_);
    if ((snapshot_->globalPhases & bit) != 0)
        for (filter::Filter* f : snapshot_->globalFilters)
            if (f->phases() & bit) f->onLog(ctx_);
    ctx_.clearStates();  // the exchange is over; an idle connection keeps no filter state
}

// ---- TLS -----------------------------------------------------------------------------------------

#if PROXY_WITH_OPENSSL
namespace {

// Plaintext HTTP sent to a TLS port starts with a method token and a space ("GET /").
bool looksLikeHttp(std::span<const char> bytes) {
    std::size_t i = 0;
    while (i < bytes.size() && i < 16 && bytes[i] >= 'A' && bytes[i] <= 'Z') ++i;
    return i >= 3 && (i == bytes.size() || bytes[i] == ' ');
}

constexpr std::string_view kPlainHttpToTls =
    "HTTP/1.1 400 Bad Request\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 73\r\n"
    "Connection: close\r\n"
    "\r\n"
    "This port speaks HTTPS: the request was sent in plain HTTP. Use https://\n";
static_assert(kPlainHttpToTls.size() - kPlainHttpToTls.find("\r\n\r\n") - 4 == 73);

}  // namespace
#endif

asio::awaitable<bool> Session::acceptTls(const std::shared_ptr<const tls::ServerTls>& tls) {
#if PROXY_WITH_OPENSSL
    tls_ = tls;
    info_.tls = true;
    setDeadline(tls->handshakeTimeout());
    // The first bytes decide: a TLS handshake record starts with 0x16; plaintext HTTP with a method.
    auto [ec, n] = co_await client_.readSome(asio::buffer(in_.writable().data(), in_.writable().size()), kNoThrow);
    if (ec || n == 0) {
        if (timedOut_)
            logging::log(logging::Level::Info, "tls: client %s on '%s' sent nothing within the handshake timeout",
                         clientAddress_, listener_->name.c_str());
        co_return false;
    }
    in_.commit(n);
    const std::span<const char> first = in_.readable();
    if (static_cast<unsigned char>(first[0]) != 0x16) {
        if (looksLikeHttp(first)) {
            logging::log(logging::Level::Info, "tls: client %s sent plaintext HTTP to the TLS listener '%s'; answered 400",
                         clientAddress_, listener_->name.c_str());
            co_await client_.write(asio::buffer(kPlainHttpToTls.data(), kPlainHttpToTls.size()), kNoThrow);
        } else {
            logging::log(logging::Level::Info, "tls: client %s on '%s' did not start a TLS handshake (first byte 0x%02x)",
                         clientAddress_, listener_->name.c_str(), static_cast<unsigned char>(first[0]));
        }
        co_return false;
    }
    client_.startTls(tls->context());
    // The bytes already read are the start of the ClientHello: the handshake begins with them.
    auto [hec, used] = co_await client_.tlsStream()->async_handshake(
        asio::ssl::stream_base::server, asio::buffer(first.data(), first.size()), kNoThrow);
    (void)used;
    in_.clear();
    if (hec) {
        logging::log(logging::Level::Info, "tls: handshake with %s on '%s' failed: %s", clientAddress_,
                     listener_->name.c_str(), timedOut_ ? "timed out" : hec.message().c_str());
        co_return false;
    }
    clearDeadline();
    if (!tls->clientSubjectHeader().empty()) {
        clientSubject_ = tls::ServerTls::clientSubject(client_.ssl());
        info_.clientSubjectHeader = tls->clientSubjectHeader();
        info_.clientSubject = clientSubject_;
    }
    co_return true;
#else
    (void)tls;
    co_return false;
#endif
}

asio::awaitable<bool> Session::connectTls(upstream::UpstreamConnection& up, upstream::ServerState& server) {
#if PROXY_WITH_OPENSSL
    const tls::ClientTls& tls = *ctx_.upstream->tls();
    up.stream.startTls(tls.context());
    if (!tls.prepare(up.stream.ssl(), server.config.address.host)) {
        logging::log(logging::Level::Warn, "tls: upstream %s server %s: cannot use its name for SNI or the certificate check",
                     ctx_.upstream->name().c_str(), server.key.c_str());
        co_return false;
    }
    auto [ec] = co_await up.stream.tlsStream()->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (ec) {
        std::string why = timedOut_ ? std::string("timed out") : ec.message();
        const long verify = SSL_get_verify_result(up.stream.ssl());
        if (verify != X509_V_OK) why += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        logging::log(logging::Level::Warn, "tls: handshake with upstream %s server %s failed: %s",
                     ctx_.upstream->name().c_str(), server.key.c_str(), why.c_str());
        ctx_.errorText = "upstream TLS handshake failed";
        co_return false;
    }
    co_return true;
#else
    (void)up;
    (void)server;
    co_return false;
#endif
}

}  // namespace proxy::core
