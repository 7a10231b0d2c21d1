#pragma once
// Load-balancing selection: one small interface. A Selector is built over an upstream's servers;
// for each request the caller asks for a server, and keeps asking (excluding those already tried)
// to fail over.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace proxy::upstream { struct ServerState; }

namespace proxy::balancing {

struct SelectionKey {
    std::string_view clientAddress;  // ip_hash
    std::string_view hashKey;        // hash (header, cookie or path value); empty: by address
};

class Selector {
public:
    virtual ~Selector() = default;
    // Index of the server to use, skipping ineligible servers and those in `tried`; nullopt when
    // none is left.
    virtual std::optional<std::size_t> pick(const SelectionKey& key,
                                            std::span<const std::size_t> tried) = 0;
};

// The servers a selector chooses among; not owned (they live in the UpstreamGroup).
using ServerList = std::vector<upstream::ServerState*>;

// Never null for a known `balance`.
// `worker` staggers per-worker state, so the workers together spread load from the first request.
std::unique_ptr<Selector> makeSelector(config::Balance balance, ServerList servers, unsigned worker);

// Smooth weighted round robin, as nginx does it: each pick adds every eligible server's weight to
// its current value, takes the largest, and subtracts the total from it.
class RoundRobinSelector final : public Selector {
public:
    // Starts `skip` picks into the rotation (a worker's stagger).
    RoundRobinSelector(ServerList servers, unsigned skip);
    std::optional<std::size_t> pick(const SelectionKey& key, std::span<const std::size_t> tried) override;

private:
    ServerList servers_;
    std::vector<std::int64_t> current_;
};

// Weighted least connections: the server with the fewest requests in flight per unit of weight.
// Ties rotate, so equal servers share load evenly instead of the first one taking every tie.
class LeastConnectionsSelector final : public Selector {
public:
    LeastConnectionsSelector(ServerList servers, unsigned skip);
    std::optional<std::size_t> pick(const SelectionKey& key, std::span<const std::size_t> tried) override;

private:
    ServerList servers_;
    std::size_t rotation_ = 0;
};

// A consistent hash ring (ip_hash: keyed by the client address; hash: by a request value). Each
// server owns 160 points per unit of weight, so adding or removing one of N servers moves about
// 1/N of the keys. Failover walks the ring onwards from the key's point.
class HashRingSelector final : public Selector {
public:
    HashRingSelector(ServerList servers, bool byClientAddress);
    std::optional<std::size_t> pick(const SelectionKey& key, std::span<const std::size_t> tried) override;
    static std::uint64_t hash(std::string_view text);  // stable across platforms and runs

private:
    ServerList servers_;
    bool byClientAddress_;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ring_;  // (point, server index), sorted
};

// Tracks one request's failover: which servers were tried, and asks the selector for the next.
class Selection {
public:
    Selection() = default;
    Selection(Selector* selector, SelectionKey key) : selector_(selector), key_(key) {}
    // `preferred` (a sticky session's server, already checked to be eligible) comes first; the
    // selector's order follows.
    Selection(Selector* selector, SelectionKey key, std::optional<std::size_t> preferred)
        : selector_(selector), key_(key), preferred_(preferred) {}
    // The next server to try, or nullopt when every eligible server has been tried.
    std::optional<std::size_t> next();
    std::size_t attempts() const { return count_; }

private:
    Selector* selector_ = nullptr;  // not owned; lives in the snapshot's UpstreamGroup
    SelectionKey key_;
    std::optional<std::size_t> preferred_;
    std::size_t tried_[16] = {};
    std::size_t count_ = 0;
};

}  // namespace proxy::balancing
