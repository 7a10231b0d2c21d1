#pragma once
// A server's health as fields of its upstreams.list entry (control channel, flat so proxyctl's
// table shows them as columns). docs/control-protocol.md lists them.

#include <nlohmann/json.hpp>

namespace proxy::upstream {
struct ServerState;
}

namespace proxy::health {

// Adds health, health_reason, last_check_*, consecutive_failures, consecutive_5xx,
// ejected_until, ejections and weight_percent to `entry`.
void addHealthFields(nlohmann::json& entry, const upstream::ServerState& server);

}  // namespace proxy::health
