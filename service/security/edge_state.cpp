#include "security/edge_state.h"

namespace proxy::security {

std::shared_ptr<RateLimiter> EdgeState::rateLimiter(const std::string& scope, std::uint32_t rate,
                                                    std::uint32_t burst) {
    const std::string key = scope + '\n' + std::to_string(rate) + '/' + std::to_string(burst);
    std::lock_guard lock(mutex_);
    std::erase_if(limiters_, [](const auto& entry) { return entry.second.expired(); });
    if (auto it = limiters_.find(key); it != limiters_.end())
        if (auto alive = it->second.lock()) return alive;
    auto limiter = std::make_shared<RateLimiter>(rate, burst);
    limiters_[key] = limiter;
    return limiter;
}

}  // namespace proxy::security
