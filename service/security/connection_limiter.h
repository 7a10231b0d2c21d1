#pragma once
// Concurrent client connections, per peer address and in total (security.connection_limit).
// One per process (the engine owns it), so counts survive reloads; the limits are read from the
// config a connection is accepted under. Per-address counts live in a fixed table of atomic
// counters indexed by a seeded hash: memory never grows, and two addresses that share a counter
// only ever reach their limit sooner ("approximate but safe").

#include <atomic>
#include <cstdint>
#include <memory>

#include "security/ip_set.h"

namespace proxy::security {

class ConnectionLimiter {
public:
    explicit ConnectionLimiter(std::size_t slots = std::size_t{1} << 16);
    ~ConnectionLimiter();

    enum class Verdict : std::uint8_t { Accepted, OverClientLimit, OverTotalLimit };
    // perClient / total: 0 = unlimited. `client` null (unparsable) counts toward the total only.
    // Accepted connections must be released with the same client.
    Verdict acquire(const IpKey* client, std::uint32_t perClient, std::uint32_t total);
    void release(const IpKey* client);

    std::uint64_t total() const { return total_.load(std::memory_order_relaxed); }
    std::uint64_t refusedPerClient() const { return refusedClient_.load(std::memory_order_relaxed); }
    std::uint64_t refusedTotal() const { return refusedTotal_.load(std::memory_order_relaxed); }
    std::size_t memoryBytes() const { return (mask_ + 1) * sizeof(std::atomic<std::uint32_t>); }

private:
    std::atomic<std::uint32_t>& counter(const IpKey& client);

    std::size_t mask_;
    std::uint64_t seed_;
    std::unique_ptr<std::atomic<std::uint32_t>[]> counts_;
    std::atomic<std::uint64_t> total_{0};
    std::atomic<std::uint64_t> refusedClient_{0};
    std::atomic<std::uint64_t> refusedTotal_{0};
};

}  // namespace proxy::security
