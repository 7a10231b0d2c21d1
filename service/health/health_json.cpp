#include "health/health_json.h"

#include "config_store/config_store.h"
#include "logging/access_record.h"
#include "upstream/upstream_group.h"

namespace proxy::health {
namespace {

nlohmann::json timestamp(const std::optional<WallClock::time_point>& t) {
    if (!t) return nullptr;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
    return config_store::formatTimestamp(ms);
}

}  // namespace

void addHealthFields(nlohmann::json& entry, const upstream::ServerState& server) {
    const HealthStatus s = server.health->status(server.config.weight, server.slowStart,
                                                 Clock::now(), WallClock::now());
    const bool down = s.active == ActiveState::Down || s.ejectedUntil.has_value();
    entry["health"] = down ? "down" : activeStateName(s.active);
    entry["health_reason"] = logging::sanitizeUtf8(s.reason);
    entry["last_check_at"] = timestamp(s.lastCheckAt);
    entry["last_check_ok"] =
        s.lastCheckAt ? nlohmann::json(s.lastCheckOk) : nlohmann::json(nullptr);
    entry["last_check_result"] = logging::sanitizeUtf8(s.lastCheckResult);
    entry["last_check_latency_ms"] =
        s.lastCheckAt ? nlohmann::json(s.lastCheckLatency.count()) : nlohmann::json(nullptr);
    entry["consecutive_failures"] = s.consecutiveFailures;
    entry["consecutive_5xx"] = s.consecutive5xx;
    entry["ejected_until"] = timestamp(s.ejectedUntil);
    entry["ejections"] = s.ejections;
    entry["weight_percent"] = s.weightPercent;
}

}  // namespace proxy::health
