// The methods every control server has. Each is one registry entry; docs/control-protocol.md
// describes params, results and errors for each of them.
#include "config/validator.h"
#include "config_store/config_store.h"
#include "control_channel/server_internal.h"

namespace proxy::control {

namespace {

using Access = MethodRegistry::Access;
using config_store::ApplyResult;

Json diagnosticsJson(const std::vector<config::Diagnostic>& diagnostics) {
    Json out = Json::array();
    for (const auto& d : diagnostics) {
        out.push_back(
            {{"severity", d.severity == config::Diagnostic::Severity::Error ? "error" : "warning"},
             {"path", d.path},
             {"message", d.message}});
    }
    return out;
}

// The config document from params.config: a string is taken verbatim (the user's formatting and
// key order survive into the file and the history); an object is serialised.
std::optional<std::string> configTextParam(const Json& params, std::optional<RpcError>& error) {
    if (error) return std::nullopt;
    if (!params.is_object() || !params.contains("config")) {
        error = RpcError::make(errc::kInvalidParams, "\"config\" is required");
        return std::nullopt;
    }
    const Json& value = params["config"];
    if (value.is_string()) return value.get<std::string>();
    if (value.is_object()) return dumpJson(value, 2) + "\n";
    error = RpcError::make(errc::kInvalidParams,
                           "\"config\" must be the document as an object or as text");
    return std::nullopt;
}

std::string appliedBy(const Caller& caller) {
    return caller.client.empty() ? caller.identity : caller.identity + " via " + caller.client;
}

// ApplyResult -> the JSON-RPC answer shared by config.apply and config.rollback.
HandlerResult applyAnswer(const ApplyResult& r) {
    switch (r.status) {
        case ApplyResult::Status::Applied:
        case ApplyResult::Status::Unchanged:
            return HandlerResult::ok({{"version", r.version},
                                      {"changed", r.status == ApplyResult::Status::Applied},
                                      {"warnings", diagnosticsJson(r.diagnostics)}});
        case ApplyResult::Status::Invalid:
            return HandlerResult::fail(
                errc::kInvalidConfig, r.message,
                {{"diagnostics", diagnosticsJson(r.diagnostics)}, {"current_version", r.version}});
        case ApplyResult::Status::Conflict:
            return HandlerResult::fail(errc::kConflict, r.message,
                                       {{"current_version", r.version}});
        case ApplyResult::Status::NotFound:
            return HandlerResult::fail(errc::kNotFound, r.message);
        case ApplyResult::Status::StorageError:
        case ApplyResult::Status::NotOpen:
            return HandlerResult::fail(errc::kUnavailable, r.message,
                                       {{"current_version", r.version}});
    }
    return HandlerResult::fail(errc::kInternalError, "unexpected apply status");
}

Json recordJson(const config_store::VersionRecord& r, bool current) {
    return {{"version", r.version},
            {"applied_by", r.appliedBy},
            {"applied_at", config_store::formatTimestamp(r.appliedAtMs)},
            {"applied_at_ms", r.appliedAtMs},
            {"note", r.note},
            {"bytes", r.text.size()},
            {"current", current}};
}

HandlerResult backendObject(Json value, const char* what) {
    if (value.is_discarded()) {
        return HandlerResult::fail(errc::kUnavailable, std::string(what) + " is not available");
    }
    return HandlerResult::ok(std::move(value));
}

}  // namespace

void ControlServer::Impl::registerBuiltins() {
    // Handlers capture a raw pointer: the registry lives inside this Impl, so they cannot outlive
    // it.
    Impl* self = this;

    registry.add(
        "ping", Access::Read,
        [](const Json&, const Caller&) {
            return HandlerResult::ok({{"pong", true}});
        },
        "cheap liveness check; also resets the idle timeout");

    registry.add(
        "methods", Access::Read,
        [self](const Json&, const Caller& caller) {
            Json list = Json::array();
            for (const auto& name : self->registry.names()) {
                const auto* m = self->registry.find(name);
                const bool admin = m->access == Access::Admin;
                list.push_back({{"name", name},
                                {"access", admin ? "admin" : "read"},
                                {"allowed", !admin || caller.role == Role::Admin},
                                {"summary", m->summary}});
            }
            return HandlerResult::ok({{"methods", list}});
        },
        "the methods this server offers and which of them the caller may use");

    registry.add(
        "status", Access::Read,
        [self](const Json&, const Caller&) {
            Json out = self->backend.status();
            if (!out.is_object()) out = Json{{"backend", out}};
            const auto current = self->store.current();
            out["config_version"] = current.version;
            if (!out.contains("version")) out["version"] = self->version();
            out["control"] = self->state();
            return HandlerResult::ok(std::move(out));
        },
        "service status: version, uptime, workers, listeners, connections, config version");

    registry.add(
        "stats.get", Access::Read,
        [self](const Json&, const Caller&) {
            return backendObject(self->backend.stats(), "stats");
        },
        "traffic counters");

    registry.add(
        "config.get", Access::Read,
        [self](const Json& params, const Caller&) {
            if (auto e = requireObject(params)) return HandlerResult{nullptr, e};
            std::optional<RpcError> error;
            const auto version = uintParam(params, "version", error, false);
            const auto format = stringParam(params, "format", error, false);
            if (error) return HandlerResult{nullptr, error};
            if (format && *format != "object" && *format != "text") {
                return HandlerResult::fail(errc::kInvalidParams,
                                           "\"format\" must be \"object\" or \"text\"");
            }
            const auto current = self->store.current();
            const auto record = self->store.record(version.value_or(current.version));
            if (!record) {
                return HandlerResult::fail(errc::kNotFound,
                                           "version " +
                                               std::to_string(version.value_or(current.version)) +
                                               " is not in the history");
            }
            Json out = recordJson(*record, record->version == current.version);
            if (format.value_or("object") == "text") {
                out["text"] = record->text;
            } else {
                auto doc = Json::parse(record->text, nullptr, false);
                if (doc.is_discarded())
                    out["text"] = record->text;
                else
                    out["config"] = std::move(doc);
            }
            return HandlerResult::ok(std::move(out));
        },
        "the current config (or params.version), as an object or, with format \"text\", verbatim");

    registry.add(
        "config.validate", Access::Read,
        [](const Json& params, const Caller&) {
            std::optional<RpcError> error;
            const auto text = configTextParam(params, error);
            if (error) return HandlerResult{nullptr, error};
            const auto result = config::loadConfig(*text);
            return HandlerResult::ok(
                {{"valid", result.ok()}, {"diagnostics", diagnosticsJson(result.diagnostics)}});
        },
        "validate a config without applying it");

    registry.add(
        "config.apply", Access::Admin,
        [self](const Json& params, const Caller& caller) {
            std::optional<RpcError> error;
            const auto text = configTextParam(params, error);
            const auto base = uintParam(params, "base_version", error);
            const auto note = stringParam(params, "note", error, false);
            if (error) return HandlerResult{nullptr, error};
            return applyAnswer(
                self->store.apply(*text, *base, appliedBy(caller), note.value_or("")));
        },
        "validate, persist and hot-swap a new config if base_version is current");

    registry.add(
        "config.rollback", Access::Admin,
        [self](const Json& params, const Caller& caller) {
            std::optional<RpcError> error;
            const auto version = uintParam(params, "version", error);
            const auto base = uintParam(params, "base_version", error, false);
            if (error) return HandlerResult{nullptr, error};
            return applyAnswer(self->store.rollback(*version, base, appliedBy(caller)));
        },
        "apply an earlier version's text as a new version");

    registry.add(
        "config.history", Access::Read,
        [self](const Json&, const Caller&) {
            const auto current = self->store.current();
            Json versions = Json::array();
            const auto history = self->store.history();
            for (auto it = history.rbegin(); it != history.rend(); ++it)
                versions.push_back(recordJson(*it, it->version == current.version));
            return HandlerResult::ok(
                {{"current_version", current.version}, {"versions", versions}});
        },
        "the kept versions, newest first: who applied each, when, and why");

    registry.add(
        "config.diff", Access::Read,
        [self](const Json& params, const Caller&) {
            std::optional<RpcError> error;
            const auto from = uintParam(params, "from", error);
            const auto to = uintParam(params, "to", error, false);
            if (error) return HandlerResult{nullptr, error};
            const auto target = to.value_or(self->store.current().version);
            const auto d = self->store.diff(*from, target);
            if (!d.ok) return HandlerResult::fail(errc::kNotFound, d.message);
            return HandlerResult::ok({{"from", *from},
                                      {"to", target},
                                      {"diff", d.text},
                                      {"added", d.added},
                                      {"removed", d.removed}});
        },
        "a unified line diff between two versions (to defaults to the current one)");

    registry.add(
        "upstreams.list", Access::Read,
        [self](const Json&, const Caller&) {
            return backendObject(self->backend.upstreams(), "upstream state");
        },
        "upstreams and their servers: state, health, connections");

    for (const char* state : {"drain", "enable", "disable"}) {
        registry.add(
            std::string("upstreams.") + state, Access::Admin,
            [self, state](const Json& params, const Caller& caller) {
                std::optional<RpcError> error;
                const auto upstream = stringParam(params, "upstream", error);
                const auto server = stringParam(params, "server", error);
                if (error) return HandlerResult{nullptr, error};
                if (auto refusal = self->backend.setServerState(*upstream, *server, state)) {
                    return HandlerResult::fail(errc::kInvalidParams, *refusal);
                }
                logging::log(logging::Level::Info, "control: %s: %s %s/%s",
                             appliedBy(caller).c_str(), state, upstream->c_str(), server->c_str());
                return HandlerResult::ok(
                    {{"upstream", *upstream}, {"server", *server}, {"state", state}});
            },
            std::string(state) + " one server of an upstream");
    }
}

}  // namespace proxy::control
