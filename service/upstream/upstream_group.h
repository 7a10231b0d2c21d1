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

namespace proxy::balancing { class Selector; }

namespace proxy::upstream {

enum class AdminState : std::uint8_t { Up, Draining, Disabled };

struct ServerState {
    config::Server config;
    std::string key;                  // "host:port": names the server, and its connection pool
    std::vector<asio::ip::tcp::endpoint> endpoints;  // resolved addresses
    std::atomic<AdminState> admin{AdminState::Up};
    std::atomic<std::uint32_t> active{0};        // requests in flight
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> failures{0};      // connect failures and invalid responses

    // May this server take a new request now?
    bool eligible() const {
        if (admin.load(std::memory_order_relaxed) != AdminState::Up) return false;
        return config.maxConnections == 0 ||
               active.load(std::memory_order_relaxed) < config.maxConnections;
    }
};

class UpstreamGroup {
public:
    UpstreamGroup(const config::Upstream& config, unsigned workers);
    ~UpstreamGroup();

    const config::Upstream& config() const { return config_; }
    const std::string& name() const { return config_.name; }
    std::vector<std::unique_ptr<ServerState>>& servers() { return servers_; }
    const std::vector<std::unique_ptr<ServerState>>& servers() const { return servers_; }
    ServerState* findServer(std::string_view key);
    // Selection state is per worker, so picking never contends across threads.
    balancing::Selector& selector(unsigned worker) { return *selectors_[worker]; }

private:
    config::Upstream config_;
    std::vector<std::unique_ptr<ServerState>> servers_;
    std::vector<std::unique_ptr<balancing::Selector>> selectors_;
};

}  // namespace proxy::upstream
