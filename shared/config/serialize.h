#pragma once
// Config -> JSON, the inverse of loadConfig: loadConfig(toJson(c).dump()) yields a Config equal to
// c. Every key is written, defaults included, so a dump shows the effective configuration.

#include <string_view>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace proxy::config {

nlohmann::ordered_json toJson(const Config& config);

// The JSON spelling of a balance policy: "round_robin", "least_connections", "ip_hash", "hash".
std::string_view balanceName(Balance balance);

}  // namespace proxy::config
