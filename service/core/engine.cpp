#include "core/engine.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <algorithm>
#include <condition_variable>
#include <future>
#include <thread>

#include "core/awaitable.h"
#include "core/session.h"
#include "core/tcp_socket.h"
#include "core/worker.h"
#include "logging/log.h"

namespace proxy::core {
namespace {


int concurrencyHint() {
#if defined(_WIN32)
    return 1;
#else
    // One thread per io_context and no I/O object shared across threads: the reactor's
    // per-descriptor locks are pure cost (~850 instructions per request, measured).
    return ASIO_CONCURRENCY_HINT_UNSAFE_IO;
#endif
}

void logStray(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        logging::log(logging::Level::Error, "connection coroutine ended by exception: %s", ex.what());
    } catch (...) {
        logging::log(logging::Level::Error, "connection coroutine ended by an unknown exception");
    }
}

std::string listenerKey(const config::Listener& l) { return l.name + "@" + l.address.toString(); }

}  // namespace

struct Engine::ListenerRuntime {
    config::Listener config;
    std::shared_ptr<ListenerInfo> info;
    // One per worker on Linux (SO_REUSEPORT); a single one on Windows. Each acceptor belongs to
    // the worker whose io_context it was made with.
    std::vector<std::pair<Worker*, std::unique_ptr<TcpListener>>> acceptors;
};

Engine::Engine(unsigned workers) {
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < workers; ++i) {
        workers_.push_back(std::make_unique<Worker>(i, concurrencyHint()));
        workers_.back()->setConnectionLimiter(&limiter_);
    }
}

Engine::~Engine() {
    if (running_ && !stopped_) stop(std::chrono::milliseconds(0));
}

template <typename F>
void Engine::onWorker(Worker& worker, F&& f) {
    if (!running_) {
        f();
        return;
    }
    std::promise<void> done;
    asio::post(worker.io(), [&] {
        f();
        done.set_value();
    });
    done.get_future().wait();
}

std::optional<std::string> Engine::openListener(const config::Listener& config, ListenerRuntime& out) {
    out.config = config;
    out.info = std::make_shared<ListenerInfo>();
    out.info->name = config.name;
    out.info->localAddress = config.address.toString();
    asio::error_code ec;
    const auto address = asio::ip::make_address(config.address.host, ec);
    if (ec) return "listener '" + config.name + "': bad address " + config.address.toString();
    const asio::ip::tcp::endpoint endpoint(address, config.address.port);
#if defined(_WIN32)
    std::vector<Worker*> owners{workers_.front().get()};
#else
    std::vector<Worker*> owners;
    for (auto& w : workers_) owners.push_back(w.get());
#endif
    std::optional<std::string> error;
    for (Worker* owner : owners) {
        onWorker(*owner, [&] {
            auto acceptor = std::make_unique<TcpListener>(owner->io().get_executor());
            asio::error_code e;
            acceptor->open(endpoint.protocol(), e);
            // "[::]" is dual-stack (it takes IPv4 too), as the validator assumes when it refuses
            // "[::]:80" beside "0.0.0.0:80"; a specific IPv6 address is IPv6 only.
            if (!e && endpoint.address().is_v6())
                acceptor->set_option(asio::ip::v6_only(!endpoint.address().is_unspecified()), e);
#if !defined(_WIN32)
            if (!e) acceptor->set_option(asio::socket_base::reuse_address(true), e);
            if (!e) {
                const int on = 1;
                if (::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
                    e = asio::error_code(errno, asio::system_category());
            }
#endif
            if (!e) acceptor->bind(endpoint, e);
            if (!e) acceptor->listen(asio::socket_base::max_listen_connections, e);
            if (!e) acceptor->prepare();
            if (e) {
                if (!error)
                    error = "listener '" + config.name + "': cannot listen on " +
                            config.address.toString() + ": " + e.message();
                return;
            }
            out.acceptors.emplace_back(owner, std::move(acceptor));
        });
        if (error) break;
    }
    if (error) closeListener(out);
    return error;
}

void Engine::startAccepting(ListenerRuntime& listener) {
    std::size_t next = 0;
    for (auto& [owner, acceptor] : listener.acceptors) {
        TcpListener* a = acceptor.get();  // owned by the ListenerRuntime
        auto info = listener.info;
        Worker* w = owner;
        auto loop = [this, w, a, info, next]() mutable -> asio::awaitable<void> {
            for (;;) {
                // Linux: accept into this worker. Windows: hand connections to the workers in turn.
                Worker& target = *workers_[workers_.size() == 1 ? 0 : (next++ % workers_.size())];
#if !defined(_WIN32)
                Worker& into = *w;
#else
                Worker& into = target;
#endif
                (void)target;
                asio::ip::tcp::endpoint peer;  // filled by accept() itself: no getpeername later
#if PROXY_DRAINED_READS
                TcpSocket socket(into.io().get_executor());
                auto [ec] = co_await a->acceptInto(socket, peer, kNoThrow);
#else
                auto [ec, socket] = co_await a->async_accept(into.io(), peer, kNoThrow);
#endif
                if (ec) {
                    if (ec == asio::error::operation_aborted || !a->is_open()) co_return;
                    // Out of descriptors or a transient failure: back off briefly, keep accepting.
                    logging::log(logging::Level::Warn, "accept on '%s' failed: %s", info->name.c_str(),
                                 ec.message().c_str());
                    asio::steady_timer pause(w->io(), std::chrono::milliseconds(20));
                    co_await pause.async_wait(kNoThrow);
                    continue;
                }
                into.counters().connectionsAccepted.fetch_add(1, std::memory_order_relaxed);
                // The session is built on its own worker's thread.
                asio::co_spawn(
                    into.io(),
                    [&into, s = std::move(socket), peer, info]() mutable -> asio::awaitable<void> {
                        co_await Session::serve(std::make_unique<Session>(into, std::move(s), peer, info));
                    },
                    logStray);
            }
        };
        if (running_) {
            asio::post(w->io(), [w, loop]() mutable { asio::co_spawn(w->io(), loop, logStray); });
        } else {
            asio::co_spawn(w->io(), loop, logStray);
        }
    }
}

void Engine::closeListener(ListenerRuntime& listener) {
    for (auto& [owner, acceptor] : listener.acceptors) {
        TcpListener* a = acceptor.get();
        onWorker(*owner, [a] {
            asio::error_code ignored;
            a->close(ignored);
        });
    }
}

std::optional<std::string> Engine::start(std::shared_ptr<const Snapshot> snapshot) {
    std::lock_guard lock(mutex_);
    for (const auto& l : snapshot->config->listeners) {
        auto runtime = std::make_unique<ListenerRuntime>();
        if (auto error = openListener(l, *runtime)) {
            for (auto& [key, open] : listeners_) closeListener(*open);
            listeners_.clear();
            return error;
        }
        listeners_.emplace(listenerKey(l), std::move(runtime));
    }
    for (auto& w : workers_) w->setSnapshot(snapshot);
    current_ = snapshot;
    for (auto& [key, l] : listeners_) startAccepting(*l);
    for (auto& w : workers_) w->start();
    running_ = true;
    return std::nullopt;
}

void Engine::broadcast(std::shared_ptr<const Snapshot> snapshot) {
    for (auto& w : workers_) {
        Worker* worker = w.get();
        asio::post(worker->io(), [worker, snapshot] { worker->setSnapshot(snapshot); });
    }
}

class Engine::Prepared {
public:
    Prepared(Engine& engine, std::shared_ptr<const Snapshot> snapshot)
        : engine_(engine), snapshot_(std::move(snapshot)) {}
    ~Prepared() {
        for (auto& [key, runtime] : added_) engine_.closeListener(*runtime);
    }
    Engine& engine_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::map<std::string, std::unique_ptr<ListenerRuntime>> added_;  // bound, not accepting yet
};

void Engine::PreparedDeleter::operator()(Prepared* p) const { delete p; }

std::expected<Engine::PreparedPtr, std::string> Engine::prepare(std::shared_ptr<const Snapshot> snapshot) {
    std::lock_guard lock(mutex_);
    if (!running_ || stopped_) return std::unexpected(std::string("the service is not running"));
    PreparedPtr prepared(new Prepared(*this, snapshot));
    for (const auto& l : snapshot->config->listeners) {
        const std::string key = listenerKey(l);
        if (listeners_.contains(key) || prepared->added_.contains(key)) continue;
        auto runtime = std::make_unique<ListenerRuntime>();
        if (auto error = openListener(l, *runtime)) return std::unexpected(*error);
        prepared->added_.emplace(key, std::move(runtime));
    }
    return prepared;
}

void Engine::commit(PreparedPtr prepared) {
    std::lock_guard lock(mutex_);
    if (!running_ || stopped_) return;  // ~Prepared releases its listeners
    const auto& snapshot = prepared->snapshot_;
    broadcast(snapshot);
    current_ = snapshot;
    for (auto it = listeners_.begin(); it != listeners_.end();) {
        bool kept = false;
        for (const auto& l : snapshot->config->listeners)
            if (listenerKey(l) == it->first) kept = true;
        if (kept) {
            ++it;
            continue;
        }
        closeListener(*it->second);  // open connections on it carry on
        it = listeners_.erase(it);
    }
    for (auto& [key, runtime] : prepared->added_) {
        startAccepting(*runtime);
        listeners_.emplace(key, std::move(runtime));
    }
    prepared->added_.clear();
}

std::optional<std::string> Engine::apply(std::shared_ptr<const Snapshot> snapshot) {
    auto prepared = prepare(std::move(snapshot));
    if (!prepared) return prepared.error();
    commit(std::move(*prepared));
    return std::nullopt;
}

void Engine::stop(std::chrono::milliseconds grace) {
    {
        std::lock_guard lock(mutex_);
        if (!running_ || stopped_) return;
        stopped_ = true;
        for (auto& [key, l] : listeners_) closeListener(*l);
    }
    for (auto& w : workers_) {
        Worker* worker = w.get();
        asio::post(worker->io(), [worker] { worker->beginDrain(); });
    }
    // Wait for in-flight exchanges, within the bound.
    const auto deadline = std::chrono::steady_clock::now() + grace;
    auto active = [&] {
        std::uint64_t n = 0;
        for (auto& w : workers_) n += w->counters().connectionsActive.load();
        return n;
    };
    while (active() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::uint64_t leftover = active();
    if (leftover > 0)
        logging::log(logging::Level::Warn, "shutdown: %llu connection(s) still open after %lld ms; closing them",
                     static_cast<unsigned long long>(leftover), static_cast<long long>(grace.count()));
    for (auto& w : workers_) {
        Worker* worker = w.get();
        asio::post(worker->io(), [worker] { worker->abortAll(); });
    }
    // Cancelled coroutines unwind quickly; anything still running after that is stopped hard.
    const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (active() > 0 && std::chrono::steady_clock::now() < hard)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    {
        std::lock_guard lock(mutex_);
        // Acceptors belong to the workers' io_contexts; close them before the contexts stop.
        listeners_.clear();
    }
    for (auto& w : workers_) w->io().stop();
    for (auto& w : workers_) w->join();
    std::lock_guard lock(mutex_);
    running_ = false;  // from now on listener clean-up runs inline: no worker thread is left
}

EngineStatus Engine::status() const {
    EngineStatus s;
    s.workers = workerCount();
    std::lock_guard lock(mutex_);
    if (current_) s.configVersion = current_->version;
    for (const auto& w : workers_) {
        auto& c = const_cast<Worker&>(*w).counters();
        s.connectionsActive += c.connectionsActive.load(std::memory_order_relaxed);
        s.connectionsAccepted += c.connectionsAccepted.load(std::memory_order_relaxed);
        s.requests += c.requests.load(std::memory_order_relaxed);
        s.responses4xx += c.responses4xx.load(std::memory_order_relaxed);
        s.responses5xx += c.responses5xx.load(std::memory_order_relaxed);
    }
    for (const auto& [key, l] : listeners_) s.listeners.push_back({l->config.name, l->info->localAddress});
    return s;
}

InflightList Engine::inflight(std::size_t limit, std::chrono::milliseconds wait) const {
    struct Shared {
        std::mutex mutex;
        std::condition_variable done;
        std::vector<InflightRequest> requests;
        unsigned answered = 0;
    };
    auto shared = std::make_shared<Shared>();
    std::vector<Worker*> workers;
    {
        std::lock_guard lock(mutex_);
        for (const auto& w : workers_) workers.push_back(w.get());
    }
    for (Worker* w : workers) {
        // Each worker copies its own sessions' facts on its thread; nothing is shared but `shared`.
        asio::post(w->io(), [w, shared] {
            std::vector<InflightRequest> mine;
            const auto now = std::chrono::steady_clock::now();
            w->sessions().forEach([&](Session* s) {
                InflightRequest r;
                if (s->describeInflight(r, now)) mine.push_back(std::move(r));
            });
            std::lock_guard lock(shared->mutex);
            for (auto& r : mine) shared->requests.push_back(std::move(r));
            ++shared->answered;
            shared->done.notify_all();
        });
    }
    InflightList out;
    std::unique_lock lock(shared->mutex);
    shared->done.wait_for(lock, wait, [&] { return shared->answered == workers.size(); });
    out.workersAnswered = shared->answered;
    out.requests = std::move(shared->requests);  // late answers go to the moved-from vector
    lock.unlock();
    out.total = out.requests.size();
    std::sort(out.requests.begin(), out.requests.end(),
              [](const InflightRequest& a, const InflightRequest& b) { return a.age > b.age; });
    if (out.requests.size() > limit) out.requests.resize(limit);
    return out;
}

std::shared_ptr<const Snapshot> Engine::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

}  // namespace proxy::core
