#pragma once
// Runtime state of an upstream and its servers for one config snapshot. Counters are atomics that
// every worker updates; nothing here takes a lock on the data path.

#include <asio/ip/tcp.hpp>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "health/server_health.h"
#include "upstream/name_resolver.h"

namespace proxy::balancing {
class Selector;
}
namespace proxy::tls {
class ClientTls;
}

namespace proxy::upstream {

enum class AdminState : std::uint8_t { Up, Draining, Disabled };

struct ServerState {
    config::Server config;  // as configured: a server given by name keeps its name here
    // Names the server, its connection pool and its health: "ip:port" for a server given by
    // address, "name:port@ip" for each address a DNS name resolved to.
    std::string key;
    std::string poolKey;  // its connection pool: key, or "tls/<upstream>/<settings>/" + key
    std::vector<asio::ip::tcp::endpoint> endpoints;  // the one address to connect to
    std::atomic<AdminState> admin{AdminState::Up};
    std::atomic<std::uint32_t> active{0};  // requests in flight (connecting or exchanging)
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> failures{0};  // connect failures and invalid responses
    // Active and passive health; shared with the same server in other snapshots (never null).
    std::shared_ptr<health::ServerHealth> health = std::make_shared<health::ServerHealth>("", "");
    std::chrono::seconds slowStart{0};  // the upstream's slow-start window
    std::string stickyToken;            // the sticky cookie value naming this server, if sticky

    // May this server take a new request now? `now` may be zero (the clock is read if needed).
    bool eligible(health::Clock::time_point now = {}) const {
        if (admin.load(std::memory_order_relaxed) != AdminState::Up) return false;
        if (!health->available(now)) return false;
        return config.maxConnections == 0 ||
               active.load(std::memory_order_relaxed) < config.maxConnections;
    }
    // Takes one of the server's connection slots, or false when it is at max_connections. Every
    // successful call is matched by one release().
    bool tryAcquire() {
        if (config.maxConnections == 0) {
            active.fetch_add(1, std::memory_order_relaxed);
            return true;
        }
        std::uint32_t n = active.load(std::memory_order_relaxed);
        while (n < config.maxConnections)
            if (active.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
        return false;
    }
    void release() { active.fetch_sub(1, std::memory_order_relaxed); }
    // The weight to balance with: weight * health::kWeightScale, less during slow start.
    std::uint64_t scaledWeight(health::Clock::time_point now = {}) const {
        return health->scaledWeight(config.weight, slowStart, now);
    }
};

class UpstreamGroup {
  public:
    // Every server given by address becomes one ServerState; one given by DNS name becomes one
    // per address `names` has for it now (none while it has never resolved).
    UpstreamGroup(const config::Upstream& config, unsigned workers, const AddressSource& names);
    ~UpstreamGroup();

    const config::Upstream& config() const { return config_; }
    const std::string& name() const { return config_.name; }
    std::vector<std::unique_ptr<ServerState>>& servers() { return servers_; }
    const std::vector<std::unique_ptr<ServerState>>& servers() const { return servers_; }
    ServerState* findServer(std::string_view key);
    // The server with this key, or every server a configured "name:port" resolved to.
    std::vector<ServerState*> findServers(std::string_view keyOrName);
    // Passive-check settings, or null when passive checks are off.
    const config::PassiveCheck* passive() const {
        return config_.passive ? &*config_.passive : nullptr;
    }
    // Why no server can take a request now.
    enum class Unavailable : std::uint8_t {
        None,    // one can
        Admin,   // every server is drained or disabled
        Health,  // every server in service is down (active checks) or ejected (passive)
        Full,    // the servers that could take it are all at max_connections
        NoServers,  // it has none: its servers are DNS names that have not resolved yet
    };
    Unavailable unavailable() const;
    // The same as a static sentence for the 503 page ("" for None).
    std::string_view unavailableReason() const;

    // The wait queue (config().queue): a place for one more waiting request, or false when the
    // queue is full. Every successful enterQueue() is matched by one leaveQueue().
    bool enterQueue(std::uint32_t size) {
        if (queued_.fetch_add(1, std::memory_order_relaxed) < size) return true;
        queued_.fetch_sub(1, std::memory_order_relaxed);
        return false;
    }
    void leaveQueue() { queued_.fetch_sub(1, std::memory_order_relaxed); }
    std::uint32_t queued() const { return queued_.load(std::memory_order_relaxed); }
    // TLS towards the servers (null: plain HTTP). Set once by the snapshot builder.
    const tls::ClientTls* tls() const { return tls_.get(); }
    const std::shared_ptr<const tls::ClientTls>& sharedTls() const { return tls_; }
    void setTls(std::shared_ptr<const tls::ClientTls> tls) { tls_ = std::move(tls); }
    // Selection state is per worker, so picking never contends across threads.
    balancing::Selector& selector(unsigned worker) { return *selectors_[worker]; }

  private:
    config::Upstream config_;
    std::vector<std::unique_ptr<ServerState>> servers_;
    std::vector<std::unique_ptr<balancing::Selector>> selectors_;
    std::atomic<std::uint32_t> queued_{0};  // requests waiting for room, over all workers
    std::shared_ptr<const tls::ClientTls> tls_;
};

}  // namespace proxy::upstream
