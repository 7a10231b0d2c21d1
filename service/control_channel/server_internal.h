#pragma once
// Internals of ControlServer shared by its .cpp files: the server state (Impl) and the per-client
// session, which is a template over the stream type (a Unix socket on Linux, a pipe handle on
// Windows). Not for use outside service/control_channel.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#if __has_include(<asio/as_tuple.hpp>)
#include <asio/as_tuple.hpp>
#else
#include <asio/experimental/as_tuple.hpp>
#endif

#ifdef _WIN32
#include <asio/windows/stream_handle.hpp>
#else
#include <asio/local/stream_protocol.hpp>
#endif

#include "control_channel/control_server.h"
#include "logging/log.h"

namespace proxy::control {

namespace detail {

#if __has_include(<asio/as_tuple.hpp>)
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
#else
inline constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
#endif

using Clock = std::chrono::steady_clock;

// Who is on the other end, as decided by the platform's credential check.
struct PeerIdentity {
    Role role = Role::ReadOnly;
    std::string identity;  // "uid 1000 (alice) pid 4242", "HOST\\alice pid 4242"
};

// co_spawn completion: a coroutine that escapes with an exception is a bug; log it, never crash
// the control thread.
inline void logStray(std::exception_ptr error, const char* what) {
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        logging::log(logging::Level::Error, "control: %s ended with an exception: %s", what,
                     e.what());
    } catch (...) {
        logging::log(logging::Level::Error, "control: %s ended with an unknown exception", what);
    }
}

class SessionBase : public ClientChannel {
  public:
    SessionBase(std::uint64_t id, PeerIdentity peer) : id_(id), peer_(std::move(peer)) {}

    std::uint64_t id() const override { return id_; }
    bool isOpen() const override { return open_.load(); }

    // Control-thread only from here on.
    virtual void enqueue(std::string payload) = 0;  // an unframed JSON payload
    virtual void closeAfterFlush() = 0;
    virtual void close() = 0;
    virtual void helloCompleted(std::string client) = 0;

    const PeerIdentity& peer() const { return peer_; }
    bool helloDone() const { return helloDone_; }
    const std::string& client() const { return client_; }
    virtual std::shared_ptr<ClientChannel> channel() = 0;

  protected:
    std::uint64_t id_;
    PeerIdentity peer_;
    std::atomic<bool> open_{true};
    bool helloDone_ = false;
    std::string client_;
};

}  // namespace detail

struct ControlServer::Impl : std::enable_shared_from_this<ControlServer::Impl> {
    Impl(asio::io_context& ioContext, ControlServerOptions opts, config_store::ConfigStore& st,
         ControlBackend& be)
        : io(ioContext), options(std::move(opts)), store(st), backend(be) {}

    asio::io_context& io;
    ControlServerOptions options;
    config_store::ConfigStore& store;
    ControlBackend& backend;
    MethodRegistry registry;
    detail::Clock::time_point startedAt = detail::Clock::now();

    std::atomic<bool> stopRequested{false};
    bool shutDown = false;  // control thread
    bool started = false;
    std::optional<std::uint64_t> observerId;

    // Control-thread state.
    std::map<std::uint64_t, std::shared_ptr<detail::SessionBase>> sessions;
    // Refused connections still being told why (not owned: each keeps itself alive).
    std::map<std::uint64_t, std::weak_ptr<detail::SessionBase>> rejecting;
    std::uint64_t nextSessionId = 1;

    // Readable from any thread (dumpState).
    struct ClientInfo {
        std::string identity;
        std::string role;
        std::string client;
        std::int64_t connectedAtMs = 0;
    };
    mutable std::mutex infoMutex;
    std::map<std::uint64_t, ClientInfo> clientInfo;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> refusedCredentials{0};
    std::atomic<std::uint64_t> refusedTooMany{0};
    std::atomic<std::uint64_t> slowDisconnects{0};
    std::atomic<std::uint64_t> timeouts{0};
    std::atomic<std::uint64_t> requests{0};

    // Platform endpoint (endpoint_posix.cpp / endpoint_windows.cpp).
    std::optional<std::string> openEndpoint();
    void closeEndpoint();
#ifdef _WIN32
    struct PipeState;
    std::shared_ptr<PipeState> pipes;
#else
    std::optional<asio::local::stream_protocol::acceptor> acceptor;
    bool socketCreated = false;
    std::uint64_t socketDevice = 0;  // identify our socket file at removal time
    std::uint64_t socketInode = 0;
    std::uint32_t ownerUid = 0;
#endif

    // Common (control_server.cpp).
    template <class Stream>
    void admit(Stream stream, std::optional<detail::PeerIdentity> peer, const std::string& refusal);
    void handleFrame(detail::SessionBase& session, std::string_view payload);
    void remove(std::uint64_t id, bool admitted);
    void shutdown();
    void broadcastNow(const std::string& payload);
    std::string version() const;
    nlohmann::json state() const;
    void registerBuiltins();  // builtin_methods.cpp
};

namespace detail {

template <class Stream>
class StreamSession final : public SessionBase,
                            public std::enable_shared_from_this<StreamSession<Stream>> {
  public:
    StreamSession(std::weak_ptr<ControlServer::Impl> server, Stream stream, std::uint64_t id,
                  PeerIdentity peer, const ControlLimits& limits, bool admitted)
        : SessionBase(id, std::move(peer)),
          server_(std::move(server)),
          stream_(std::move(stream)),
          executor_(stream_.get_executor()),
          limits_(limits),
          admitted_(admitted),
          reader_(limits.maxFrameBytes),
          writeSignal_(executor_),
          watchdog_(executor_) {}

    // An admitted client: hello deadline, then requests until it leaves or breaks a rule.
    void start() {
        readDeadline_ = Clock::now() + limits_.helloTimeout;
        auto self = this->shared_from_this();
        asio::co_spawn(executor_, self->readLoop(),
                       [](std::exception_ptr e) { logStray(e, "reader"); });
        asio::co_spawn(executor_, self->writeLoop(),
                       [](std::exception_ptr e) { logStray(e, "writer"); });
        asio::co_spawn(executor_, self->watchdogLoop(),
                       [](std::exception_ptr e) { logStray(e, "watchdog"); });
    }

    // A refused client: tell it why (bounded by a short deadline), then close. Nothing is read.
    void startRejected(std::string payload) {
        closing_ = true;
        readDeadline_ = Clock::time_point::max();
        enqueue(std::move(payload));
        auto self = this->shared_from_this();
        asio::co_spawn(executor_, self->writeLoop(),
                       [](std::exception_ptr e) { logStray(e, "writer"); });
        asio::co_spawn(executor_, self->watchdogLoop(),
                       [](std::exception_ptr e) { logStray(e, "watchdog"); });
    }

    bool notify(std::string_view method, const Json& params) override {
        if (!open_.load()) return false;
        // Serialise here (any thread); the queue itself is only touched on the control thread.
        auto payload = makeNotification(method, params);
        asio::post(executor_,
                   [weak = this->weak_from_this(), payload = std::move(payload)]() mutable {
                       if (auto self = weak.lock()) self->enqueue(std::move(payload));
                   });
        return true;
    }

    std::shared_ptr<ClientChannel> channel() override { return this->shared_from_this(); }

    void enqueue(std::string payload) override {
        if (closed_) return;
        std::string framed = encodeFrame(payload);
        // One message always fits, so a large config.get still goes out; beyond that the bound
        // is what keeps a client that does not read from costing us memory.
        if (queue_.size() >= limits_.maxQueuedMessages ||
            (queuedBytes_ > 0 && queuedBytes_ + framed.size() > limits_.maxQueuedBytes)) {
            if (auto server = server_.lock()) ++server->slowDisconnects;
            logging::log(logging::Level::Warn,
                         "control: client %llu (%s) is not reading (%llu messages, %llu bytes "
                         "queued); disconnecting it",
                         static_cast<unsigned long long>(id_), peer_.identity.c_str(),
                         static_cast<unsigned long long>(queue_.size()),
                         static_cast<unsigned long long>(queuedBytes_));
            close();
            return;
        }
        queuedBytes_ += framed.size();
        queue_.push_back(std::move(framed));
        writeSignal_.cancel();
    }

    void closeAfterFlush() override {
        closing_ = true;
        writeSignal_.cancel();
    }

    void helloCompleted(std::string client) override {
        helloDone_ = true;
        client_ = std::move(client);
        readDeadline_ = Clock::now() + limits_.idleTimeout;
    }

    void close() override {
        if (closed_) return;
        closed_ = true;
        open_ = false;
        asio::error_code ignored;
        stream_.close(ignored);
        writeSignal_.cancel();
        watchdog_.cancel();
        queue_.clear();
        queuedBytes_ = 0;
        if (auto server = server_.lock()) server->remove(id_, admitted_);
    }

  private:
    asio::awaitable<void> readLoop() {
        auto self = this->shared_from_this();  // alive while the loop runs
        std::vector<char> buffer(64 * 1024);
        while (!closed_ && !closing_) {
            auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buffer), kNoThrow);
            if (ec || closed_) break;  // EOF, reset, or closed by the watchdog / shutdown
            reader_.append(std::string_view(buffer.data(), n));
            for (;;) {
                const auto decode = reader_.next();
                if (decode.status == FrameStatus::NeedMore) break;
                if (decode.status == FrameStatus::Error) {
                    logging::log(logging::Level::Warn, "control: client %llu (%s): %s",
                                 static_cast<unsigned long long>(id_), peer_.identity.c_str(),
                                 describeFrameError(decode, limits_.maxFrameBytes).c_str());
                    enqueue(makeError(nullptr, RpcError::make(errc::kInvalidRequest,
                                                              describeFrameError(
                                                                  decode, limits_.maxFrameBytes))));
                    closeAfterFlush();
                    co_return;
                }
                auto server = server_.lock();
                if (!server) {
                    close();
                    co_return;
                }
                server->handleFrame(*this, decode.payload);
                if (closed_ || closing_) co_return;
            }
            // The hello deadline is absolute (trickling bytes does not extend it); after hello,
            // any traffic keeps the client alive.
            if (helloDone_) readDeadline_ = Clock::now() + limits_.idleTimeout;
        }
        close();
    }

    asio::awaitable<void> writeLoop() {
        auto self = this->shared_from_this();
        while (!closed_) {
            if (queue_.empty()) {
                if (closing_) break;
                writeSignal_.expires_at(Clock::time_point::max());
                co_await writeSignal_.async_wait(kNoThrow);
                continue;
            }
            writeDeadline_ = Clock::now() + writeTimeout();
            watchdog_.cancel();  // re-arm the watchdog for the earlier deadline
            // deque::push_back keeps references to existing elements valid during the write.
            auto [ec, n] =
                co_await asio::async_write(stream_, asio::buffer(queue_.front()), kNoThrow);
            writeDeadline_ = Clock::time_point::max();
            if (ec || closed_) break;
            queuedBytes_ -= queue_.front().size();
            queue_.pop_front();
        }
        close();
    }

    asio::awaitable<void> watchdogLoop() {
        auto self = this->shared_from_this();
        while (!closed_) {
            const auto deadline = std::min(readDeadline_, writeDeadline_);
            if (deadline <= Clock::now()) {
                if (auto server = server_.lock()) ++server->timeouts;
                logging::log(logging::Level::Info, "control: client %llu (%s): %s; closing",
                             static_cast<unsigned long long>(id_), peer_.identity.c_str(),
                             writeDeadline_ <= readDeadline_ ? "write timed out"
                             : helloDone_                    ? "idle timeout"
                                                             : "no hello in time");
                close();
                co_return;
            }
            watchdog_.expires_at(deadline);
            co_await watchdog_.async_wait(kNoThrow);
        }
    }

    Clock::duration writeTimeout() const {
        // A refused client gets a short deadline: it is owed one error frame, not our patience.
        if (!admitted_)
            return std::min<Clock::duration>(limits_.writeTimeout, std::chrono::seconds(2));
        return limits_.writeTimeout;
    }

    std::weak_ptr<ControlServer::Impl> server_;
    Stream stream_;
    asio::any_io_executor executor_;
    ControlLimits limits_;
    bool admitted_;
    FrameReader reader_;
    std::deque<std::string> queue_;
    std::size_t queuedBytes_ = 0;
    bool closing_ = false;  // write what is queued, then close; read nothing more
    bool closed_ = false;
    Clock::time_point readDeadline_ = Clock::time_point::max();
    Clock::time_point writeDeadline_ = Clock::time_point::max();
    asio::steady_timer writeSignal_;  // cancelled to wake the writer
    asio::steady_timer watchdog_;
};

}  // namespace detail

template <class Stream>
void ControlServer::Impl::admit(Stream stream, std::optional<detail::PeerIdentity> peer,
                                const std::string& refusal) {
    if (shutDown) return;  // the stream closes as it goes out of scope
    const auto id = nextSessionId++;
    auto refuse = [&](int code, const std::string& message, detail::PeerIdentity who) {
        // Bounded like the clients themselves: past it a refused peer is just closed.
        if (rejecting.size() >= options.limits.maxClients) return;
        auto session = std::make_shared<detail::StreamSession<Stream>>(
            weak_from_this(), std::move(stream), id, std::move(who), options.limits, false);
        rejecting.emplace(id, session);
        session->startRejected(makeError(nullptr, RpcError::make(code, message)));
    };
    if (!peer) {
        ++refusedCredentials;
        logging::log(logging::Level::Warn, "control: refused a client: %s", refusal.c_str());
        refuse(errc::kForbidden, "access denied: " + refusal, detail::PeerIdentity{});
        return;
    }
    if (sessions.size() >= options.limits.maxClients) {
        ++refusedTooMany;
        logging::log(logging::Level::Warn, "control: refused %s: %llu clients already connected",
                     peer->identity.c_str(), static_cast<unsigned long long>(sessions.size()));
        refuse(errc::kTooManyClients,
               "too many control clients (" + std::to_string(sessions.size()) + ")", *peer);
        return;
    }
    ++accepted;
    logging::log(logging::Level::Debug, "control: client %llu connected: %s (%s)",
                 static_cast<unsigned long long>(id), peer->identity.c_str(),
                 std::string(roleName(peer->role)).c_str());
    {
        std::lock_guard lock(infoMutex);
        clientInfo[id] = ClientInfo{peer->identity,
                                    std::string(roleName(peer->role)),
                                    {},
                                    std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()};
    }
    auto session = std::make_shared<detail::StreamSession<Stream>>(
        weak_from_this(), std::move(stream), id, *peer, options.limits, true);
    sessions.emplace(id, session);
    session->start();
}

}  // namespace proxy::control
