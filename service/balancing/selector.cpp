#include "balancing/selector.h"

#include <algorithm>

#include "upstream/upstream_group.h"

namespace proxy::balancing {

std::unique_ptr<Selector> makeSelector(config::Balance balance, ServerList servers, unsigned worker) {
    switch (balance) {
        case config::Balance::RoundRobin:
            return std::make_unique<RoundRobinSelector>(std::move(servers), worker);
        default:
            return nullptr;  // not built yet: the snapshot refuses the config with a clear error
    }
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
        const std::int64_t weight = servers_[i]->config.weight;
        current_[i] += weight;
        total += weight;
        if (!best || current_[i] > current_[*best]) best = i;
    }
    if (best) current_[*best] -= total;
    return best;
}

std::optional<std::size_t> Selection::next() {
    if (selector_ == nullptr || count_ >= std::size(tried_)) return std::nullopt;
    const auto index = selector_->pick(key_, std::span<const std::size_t>(tried_, count_));
    if (index) tried_[count_++] = *index;
    return index;
}

}  // namespace proxy::balancing
