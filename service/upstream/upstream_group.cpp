#include "upstream/upstream_group.h"

#include "balancing/selector.h"
#include "balancing/sticky.h"

#include <functional>

namespace proxy::upstream {

UpstreamGroup::UpstreamGroup(const config::Upstream& config, unsigned workers, const AddressSource& names)
    : config_(config) {
    balancing::ServerList list;
    std::optional<balancing::StickyKey> stickyKey;
    if (config_.sticky) stickyKey = balancing::stickyKey(config_.sticky->secret);
    auto add = [&](const config::Server& server, std::string key, asio::ip::address address) {
        auto state = std::make_unique<ServerState>();
        state->config = server;
        state->key = std::move(key);
        state->endpoints.emplace_back(address, server.address.port);
        state->poolKey = state->key;
        if (config_.tls) {
            // Connections made under other TLS settings (before a reload) are not reused.
            const config::UpstreamTls& t = *config_.tls;
            const std::string settings = t.ca + '\n' + t.serverName + '\n' + t.cert + '\n' + t.key +
                                         (t.verify ? "v" : "") + (t.verifyHostname ? "h" : "") +
                                         (t.sni ? "s" : "");
            state->poolKey = "tls/" + config_.name + "/" +
                             std::to_string(std::hash<std::string>{}(settings)) + "/" + state->key;
        }
        state->health = std::make_shared<health::ServerHealth>(config_.name, state->key);
        state->slowStart = config_.slowStart;
        if (stickyKey)
            state->stickyToken = balancing::stickyToken(*stickyKey, config_.name, state->key);
        list.push_back(state.get());
        servers_.push_back(std::move(state));
    };
    for (const auto& server : config_.servers) {
        if (server.address.kind != config::HostPort::Kind::Name) {
            asio::error_code ec;
            const auto ip = asio::ip::make_address(server.address.host, ec);
            if (!ec) add(server, server.address.toString(), ip);  // the validator checked it
            continue;
        }
        const std::string name = server.address.toString();
        for (const auto& ip : names ? names(server.address.host) : std::vector<asio::ip::address>{})
            add(server, name + "@" + ip.to_string(), ip);
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

std::vector<ServerState*> UpstreamGroup::findServers(std::string_view keyOrName) {
    if (ServerState* exact = findServer(keyOrName)) return {exact};
    std::vector<ServerState*> out;
    for (auto& s : servers_)
        if (s->config.address.kind == config::HostPort::Kind::Name &&
            s->config.address.toString() == keyOrName)
            out.push_back(s.get());
    return out;
}

UpstreamGroup::Unavailable UpstreamGroup::unavailable() const {
    if (servers_.empty()) return Unavailable::NoServers;
    bool anyAdminUp = false, anyHealthy = false;
    const auto now = health::Clock::now();
    for (const auto& s : servers_) {
        if (s->eligible(now)) return Unavailable::None;
        if (s->admin.load(std::memory_order_relaxed) != AdminState::Up) continue;
        anyAdminUp = true;
        if (s->health->available(now)) anyHealthy = true;
    }
    if (!anyAdminUp) return Unavailable::Admin;
    if (!anyHealthy) return Unavailable::Health;
    return Unavailable::Full;
}

std::string_view UpstreamGroup::unavailableReason() const {
    switch (unavailable()) {
        case Unavailable::None:
            break;
        case Unavailable::Admin:
            return "every server of the upstream is drained or disabled";
        case Unavailable::Health:
            return "every server of the upstream is down (health checks)";
        case Unavailable::Full:
            return "every available server of the upstream is at max_connections";
        case Unavailable::NoServers:
            return "the upstream has no servers: its DNS names have not resolved yet";
    }
    return {};
}

}  // namespace proxy::upstream
