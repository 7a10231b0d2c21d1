#pragma once
// What the control channel asks of the running service. The service runtime (the engine side)
// implements it; the control server calls it on its own control thread, never on a worker, so an
// implementation may take locks or gather numbers from the workers, but should answer promptly
// (it blocks other control clients while it runs, never the data path).
//
// The JSON shapes are documented in docs/control-protocol.md (status, stats.get, upstreams.list);
// proxyctl prints whatever comes back, so adding fields is always safe.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace proxy::control {

struct ControlBackend {
    virtual ~ControlBackend() = default;
    // version, uptime, workers, listeners, connections... (an object)
    virtual nlohmann::json status() = 0;
    // request/byte counters (an object)
    virtual nlohmann::json stats() = 0;
    // {"upstreams": [{"name", "servers": [{"address", "state", "health", ...}]}]}
    virtual nlohmann::json upstreams() = 0;
    // state is "drain", "enable" or "disable". Returns an error sentence (unknown upstream or
    // server, ...) or nullopt when done.
    virtual std::optional<std::string> setServerState(const std::string& upstream,
                                                      const std::string& server,
                                                      const std::string& state) = 0;
};

}  // namespace proxy::control
