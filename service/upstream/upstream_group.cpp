#include "upstream/upstream_group.h"

#include "balancing/selector.h"

namespace proxy::upstream {

UpstreamGroup::UpstreamGroup(const config::Upstream& config, unsigned workers) : config_(config) {
    balancing::ServerList list;
    for (const auto& server : config_.servers) {
        auto state = std::make_unique<ServerState>();
        state->config = server;
        state->key = server.address.toString();
        list.push_back(state.get());
        servers_.push_back(std::move(state));
    }
    for (unsigned w = 0; w < workers; ++w)
        selectors_.push_back(balancing::makeSelector(config_.balance, list, w));
}

UpstreamGroup::~UpstreamGroup() = default;

ServerState* UpstreamGroup::findServer(std::string_view key) {
    for (auto& s : servers_)
        if (s->key == key) return s.get();
    return nullptr;
}

}  // namespace proxy::upstream
