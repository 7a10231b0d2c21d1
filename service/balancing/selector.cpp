#include "balancing/selector.h"

#include <algorithm>

#include "upstream/upstream_group.h"

namespace proxy::balancing {

std::unique_ptr<Selector> makeSelector(config::Balance balance, ServerList servers, unsigned worker) {
    switch (balance) {
        case config::Balance::RoundRobin:
            return std::make_unique<RoundRobinSelector>(std::move(servers), worker);
        case config::Balance::LeastConnections:
            return std::make_unique<LeastConnectionsSelector>(std::move(servers), worker);
        case config::Balance::IpHash:
            return std::make_unique<HashRingSelector>(std::move(servers), true);
        case config::Balance::Hash:
            return std::make_unique<HashRingSelector>(std::move(servers), false);
    }
    return nullptr;
}

RoundRobinSelector::RoundRobinSelector(ServerList servers, unsigned skip)
    : servers_(std::move(servers)), current_(servers_.size(), 0) {
    for (unsigned i = 0; i < skip; ++i) pick({}, {});
}

std::optional<std::size_t> RoundRobinSelector::pick(const SelectionKey&,
                                                    std::span<const std::size_t> tried) {
    std::int64_t total = 0;
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < servers_.size(); ++i) {
        if (!servers_[i]->eligible()) continue;
        if (std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        // Scaled weights (slow start ramps them) keep the same sequence as plain weights.
        const auto weight = static_cast<std::int64_t>(servers_[i]->scaledWeight());
        current_[i] += weight;
        total += weight;
        if (!best || current_[i] > current_[*best]) best = i;
    }
    if (best) current_[*best] -= total;
    return best;
}

LeastConnectionsSelector::LeastConnectionsSelector(ServerList servers, unsigned skip)
    : servers_(std::move(servers)), rotation_(skip) {}

std::optional<std::size_t> LeastConnectionsSelector::pick(const SelectionKey&,
                                                          std::span<const std::size_t> tried) {
    const std::size_t n = servers_.size();
    if (n == 0) return std::nullopt;
    std::optional<std::size_t> best;
    std::uint64_t bestActive = 0, bestWeight = 1;
    const std::size_t start = rotation_++ % n;
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (start + k) % n;
        if (!servers_[i]->eligible()) continue;
        if (std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        const std::uint64_t active = servers_[i]->active.load(std::memory_order_relaxed);
        const std::uint64_t weight = servers_[i]->scaledWeight();
        // active/weight < bestActive/bestWeight, without division.
        if (!best || active * bestWeight < bestActive * weight) {
            best = i;
            bestActive = active;
            bestWeight = weight;
        }
    }
    return best;
}

std::uint64_t HashRingSelector::hash(std::string_view text) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, then a splitmix64 finish for spread
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

HashRingSelector::HashRingSelector(ServerList servers, bool byClientAddress)
    : servers_(std::move(servers)), byClientAddress_(byClientAddress) {
    constexpr std::uint32_t kPointsPerWeight = 160;
    for (std::uint32_t i = 0; i < servers_.size(); ++i) {
        const std::uint32_t points = kPointsPerWeight * std::max<std::uint32_t>(1, servers_[i]->config.weight);
        // Points depend on the server's address, not its position, so the ring is stable when
        // other servers come and go.
        for (std::uint32_t p = 0; p < points; ++p)
            ring_.emplace_back(hash(servers_[i]->key + "#" + std::to_string(p)), i);
    }
    std::sort(ring_.begin(), ring_.end());
}

std::optional<std::size_t> HashRingSelector::pick(const SelectionKey& key,
                                                  std::span<const std::size_t> tried) {
    if (ring_.empty()) return std::nullopt;
    // `hash` falls back to the client address when the request lacks its key.
    const bool byAddress = byClientAddress_ || key.hashKey.empty();
    const std::uint64_t point = hash(byAddress ? key.clientAddress : key.hashKey);
    auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(point, std::uint32_t{0}));
    for (std::size_t step = 0; step < ring_.size(); ++step, ++it) {
        if (it == ring_.end()) it = ring_.begin();
        const std::size_t i = it->second;
        if (!servers_[i]->eligible()) continue;
        if (std::find(tried.begin(), tried.end(), i) != tried.end()) continue;
        return i;
    }
    return std::nullopt;
}

std::optional<std::size_t> Selection::next() {
    if (selector_ == nullptr || count_ >= std::size(tried_)) return std::nullopt;
    if (count_ == 0 && preferred_) {
        tried_[count_++] = *preferred_;
        return preferred_;
    }
    const auto index = selector_->pick(key_, std::span<const std::size_t>(tried_, count_));
    if (index) tried_[count_++] = *index;
    return index;
}

}  // namespace proxy::balancing
