#pragma once
// The data plane: N workers (an io_context and a thread each), the listeners, and the current
// config snapshot. Start, hot-apply and graceful stop are the only ways to change it.
//
// Threading model: one io_context per worker thread, each run by exactly that thread. On Linux
// every worker has its own acceptor per listener (SO_REUSEPORT, so the kernel spreads connections,
// as nginx workers do); on Windows one acceptor per listener accepts into the workers in turn. A
// connection lives on one worker for its whole life, so the data path takes no locks.
// (docs/architecture.md has the measurements behind this choice.)

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/snapshot.h"
#include "security/connection_limiter.h"
#include "security/edge_state.h"

namespace proxy::core {

class Worker;
struct ListenerInfo;

struct EngineStatus {
    unsigned workers = 0;
    std::uint64_t configVersion = 0;
    std::uint64_t connectionsActive = 0;
    std::uint64_t connectionsAccepted = 0;
    std::uint64_t requests = 0;
    std::uint64_t responses4xx = 0;
    std::uint64_t responses5xx = 0;
    std::uint64_t idleUpstreamConnections = 0;
    struct Listener { std::string name; std::string address; };
    std::vector<Listener> listeners;
};

// One exchange in progress, as traffic.inflight shows it (copied on its worker thread).
struct InflightRequest {
    std::string requestId, client, method, host, path, route, server;
    std::string stage;  // "upstream" (waiting for or reading the response), "response", "tunnel"
    std::chrono::microseconds age{0};
    unsigned worker = 0;
};

struct InflightList {
    std::vector<InflightRequest> requests;  // oldest first, at most the limit asked for
    std::size_t total = 0;                  // in progress over every worker that answered
    unsigned workersAnswered = 0;
};

class Engine {
public:
    explicit Engine(unsigned workers);  // 0 = one per core
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    unsigned workerCount() const { return static_cast<unsigned>(workers_.size()); }

    // Binds every listener and starts the workers. On error nothing is left running.
    std::optional<std::string> start(std::shared_ptr<const Snapshot> snapshot);
    // Hot reload in two steps (call from a non-worker thread). prepare() binds the snapshot's new
    // listeners without accepting on them yet; on error nothing changed. commit() hands the
    // snapshot to every worker, starts the new listeners and closes removed ones. Open connections
    // keep going, on the snapshot they began their current request with. A Prepared that is
    // dropped without commit() releases what it bound.
    class Prepared;
    struct PreparedDeleter {
        void operator()(Prepared* p) const;  // defined where Prepared is complete
    };
    using PreparedPtr = std::unique_ptr<Prepared, PreparedDeleter>;
    std::expected<PreparedPtr, std::string> prepare(std::shared_ptr<const Snapshot> snapshot);
    void commit(PreparedPtr prepared);
    // prepare() then commit().
    std::optional<std::string> apply(std::shared_ptr<const Snapshot> snapshot);
    // Graceful stop (blocking): stop accepting, let in-flight exchanges finish within `grace`, then
    // cancel what is left and join the workers.
    void stop(std::chrono::milliseconds grace);

    EngineStatus status() const;
    const security::ConnectionLimiter& connectionLimiter() const { return limiter_; }
    // Rate-limit buckets and bans, kept across config versions (buildSnapshot takes it).
    security::EdgeState& edgeState() { return edge_; }
    const security::EdgeState& edgeState() const { return edge_; }
    // Asks every worker (on its own thread) for its exchanges in progress; waits at most `wait`
    // for them (a worker stuck in a long callback is left out). Not for a worker thread.
    InflightList inflight(std::size_t limit, std::chrono::milliseconds wait) const;
    std::shared_ptr<const Snapshot> current() const;

private:
    struct ListenerRuntime;
    std::optional<std::string> openListener(const config::Listener& config, ListenerRuntime& out);
    void startAccepting(ListenerRuntime& listener);
    void closeListener(ListenerRuntime& listener);
    void broadcast(std::shared_ptr<const Snapshot> snapshot);
    template <typename F> void onWorker(Worker& worker, F&& f);

    // Before workers_: sessions (destroyed with their worker) release into it.
    security::ConnectionLimiter limiter_;
    security::EdgeState edge_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::map<std::string, std::unique_ptr<ListenerRuntime>> listeners_;  // key: name + address
    mutable std::mutex mutex_;  // guards current_ and listeners_ (control thread vs status)
    std::shared_ptr<const Snapshot> current_;
    bool running_ = false;
    bool stopped_ = false;
};

}  // namespace proxy::core
