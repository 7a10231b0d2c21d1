#include "security/connection_limiter.h"

#include <algorithm>
#include <bit>
#include <random>

namespace proxy::security {

ConnectionLimiter::ConnectionLimiter(std::size_t slots)
    : mask_(std::bit_ceil(std::max<std::size_t>(slots, 2)) - 1),
      counts_(new std::atomic<std::uint32_t>[mask_ + 1]) {
    for (std::size_t i = 0; i <= mask_; ++i) counts_[i].store(0, std::memory_order_relaxed);
    std::random_device rd;
    seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

ConnectionLimiter::~ConnectionLimiter() = default;

std::atomic<std::uint32_t>& ConnectionLimiter::counter(const IpKey& client) {
    std::uint64_t h = seed_;
    for (std::uint8_t b : client) h = (h ^ b) * 0x100000001b3ULL;  // FNV-1a, seeded
    h ^= h >> 29;
    return counts_[h & mask_];
}

ConnectionLimiter::Verdict ConnectionLimiter::acquire(const IpKey* client, std::uint32_t perClient,
                                                      std::uint32_t total) {
    const std::uint64_t now = total_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (total != 0 && now > total) {
        total_.fetch_sub(1, std::memory_order_relaxed);
        refusedTotal_.fetch_add(1, std::memory_order_relaxed);
        return Verdict::OverTotalLimit;
    }
    if (client != nullptr) {
        auto& c = counter(*client);
        const std::uint32_t mine = c.fetch_add(1, std::memory_order_relaxed) + 1;
        if (perClient != 0 && mine > perClient) {
            c.fetch_sub(1, std::memory_order_relaxed);
            total_.fetch_sub(1, std::memory_order_relaxed);
            refusedClient_.fetch_add(1, std::memory_order_relaxed);
            return Verdict::OverClientLimit;
        }
    }
    return Verdict::Accepted;
}

void ConnectionLimiter::release(const IpKey* client) {
    if (client != nullptr) counter(*client).fetch_sub(1, std::memory_order_relaxed);
    total_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace proxy::security
