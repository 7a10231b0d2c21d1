#pragma once
// Runs the active health checks, off the data path, and keeps every server's ServerHealth across
// config snapshots.
//
// One dedicated thread with its own io_context runs one probe coroutine per checked server
// (connect, one request with Connection: close, read the answer; the whole probe under
// timeout_ms), sleeping interval_ms between probes. A dedicated thread, rather than a worker's
// io_context, keeps a slow or hanging probe from ever delaying client traffic, and keeps the
// checks running the same way whatever the worker count. Results reach the workers only through
// ServerHealth's atomics. A 1 s tick on the same thread logs servers returning from ejection.
//
// Lifecycle, driven by the runtime: adopt() each new snapshot's upstream groups before the
// snapshot goes live (so the same server keeps the same ServerHealth), activate() the snapshot
// once it is live (probes start, change or stop to match it), stop() before shutdown.

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "health/server_health.h"

namespace proxy::core {
struct Snapshot;
}
namespace proxy::upstream {
class UpstreamGroup;
}

namespace proxy::health {

class HealthMonitor {
  public:
    HealthMonitor();   // starts the health thread
    ~HealthMonitor();  // stop()
    HealthMonitor(const HealthMonitor&) = delete;
    HealthMonitor& operator=(const HealthMonitor&) = delete;

    // Any thread. Gives each server of `group` the ServerHealth it had in earlier snapshots (by
    // upstream name and "host:port"), or a new one.
    void adopt(upstream::UpstreamGroup& group);
    // Any thread. The snapshot now serving traffic: probe its checked servers, stop other probes,
    // and forget the health of servers it no longer has.
    void activate(std::shared_ptr<const core::Snapshot> snapshot);
    // Cancels every probe and joins the thread. Idempotent.
    void stop();

    // Probes running now (for tests and status).
    std::size_t probeCount() const;

    struct Probe;  // one checked server's probe loop (defined in the .cpp)

  private:
    using Key = std::pair<std::string, std::string>;  // upstream name, server "host:port"
    void reconcile(std::shared_ptr<const core::Snapshot> snapshot);  // health thread
    void scheduleTick();

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    asio::steady_timer tick_;
    std::thread thread_;

    mutable std::mutex mutex_;  // guards healths_ and probeCount_
    std::map<Key, std::shared_ptr<ServerHealth>> healths_;
    std::size_t probeCount_ = 0;

    // Health thread only.
    std::map<Key, std::shared_ptr<Probe>> probes_;
    std::shared_ptr<const core::Snapshot> live_;
    bool stopped_ = false;
};

}  // namespace proxy::health
