#pragma once
// One worker: an io_context run by one thread, with its own connections, upstream connection
// pool, config snapshot pointer and counters. Nothing in a worker is touched by another thread
// except through post() and the atomic counters.

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/snapshot.h"
#include "security/connection_limiter.h"
#include "upstream/connection_pool.h"

namespace proxy::core {

class Session;

// Cheap deadline bookkeeping: every session keeps a deadline time point and the worker sweeps
// them on a coarse timer, instead of arming a timer per await.
class SessionList {
public:
    void add(Session* s);
    void remove(Session* s);
    template <typename F> void forEach(F&& f) {
        for (Session* s = head_; s != nullptr;) {
            Session* next = sessionNext(s);
            f(s);
            s = next;
        }
    }
    std::size_t size() const { return size_; }

private:
    static Session* sessionNext(Session* s);
    Session* head_ = nullptr;  // not owned; each session owns itself (its coroutine frame)
    std::size_t size_ = 0;
};

struct WorkerCounters {
    std::atomic<std::uint64_t> connectionsAccepted{0};
    std::atomic<std::uint64_t> connectionsActive{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> responses4xx{0};
    std::atomic<std::uint64_t> responses5xx{0};
};

class Worker {
public:
    Worker(unsigned id, int concurrencyHint);
    ~Worker();

    unsigned id() const { return id_; }
    asio::io_context& io() { return io_; }

    void start();  // runs the io_context on a new thread
    void join();

    // Worker thread only.
    const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
    void setSnapshot(std::shared_ptr<const Snapshot> s);  // worker thread only; see Engine::apply
    upstream::ConnectionPool& pool() { return pool_; }
    SessionList& sessions() { return sessions_; }
    bool draining() const { return draining_; }
    // Begins a graceful stop: idle keep-alive sessions close now, busy ones after their exchange.
    void beginDrain();
    // Cancels every session's I/O at once (after the drain bound).
    void abortAll();
    std::uint64_t nextRequestNumber() { return ++requestCounter_; }
    std::uint32_t requestIdSeed() const { return requestIdSeed_; }
    // Wall time of this worker's steady time points (refreshed by every sweep, at least once a
    // second): a request's wall start costs no clock read of its own.
    const WallClockMap& wallClock() const { return wall_; }
    WorkerCounters& counters() { return counters_; }
    // The process-wide connection limiter (owned by the engine, shared by every worker).
    security::ConnectionLimiter& connectionLimiter() { return *limiter_; }
    void setConnectionLimiter(security::ConnectionLimiter* limiter) { limiter_ = limiter; }

    // How the process hands free memory back to the OS when a burst of connections has gone idle:
    // `before` runs on the worker's thread just before the sweep trims many idle sessions at once,
    // `after` right after. proxy-service sets them when it allocates with mimalloc; without them,
    // glibc builds call malloc_trim after. Set once, before the workers start.
    static void setFreeMemoryReleaser(void (*before)(), void (*after)());

private:
    void scheduleSweep();
    void sweep();
    static void beforeBulkTrim();
    static void afterBulkTrim();
    std::vector<Session*> trimDue_;  // the sweep's scratch: sessions to trim
    static constexpr std::size_t kTrimReleaseThreshold = 256;  // sessions trimmed in one sweep

    unsigned id_;
    // Destroying io_ destroys the coroutine frames of open sessions, which unlink themselves from
    // sessions_ and count down counters_: those two must outlive io_, so they come first. pool_
    // holds sockets on io_, so it comes after.
    SessionList sessions_;
    WorkerCounters counters_;
    asio::io_context io_;
    asio::steady_timer sweepTimer_;
    std::thread thread_;
    std::shared_ptr<const Snapshot> snapshot_;
    upstream::ConnectionPool pool_;
    bool draining_ = false;
    std::uint64_t requestCounter_ = 0;
    std::uint32_t requestIdSeed_ = 0;
    WallClockMap wall_;
    security::ConnectionLimiter* limiter_ = nullptr;  // not owned
    // Keeps run() alive while there is nothing to do.
    asio::executor_work_guard<asio::io_context::executor_type> work_;
};

}  // namespace proxy::core
