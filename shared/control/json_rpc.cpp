#include "control/json_rpc.h"

#include <limits>

namespace proxy::control {

namespace {

// Deepest [ / { nesting in the text, stopping early past `limit`. Runs before the JSON parser so a
// 16 MiB "[[[[..." never reaches a recursive consumer (dump, the config loader).
std::size_t nestingDepth(std::string_view text, std::size_t limit) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool inString = false;
    bool escaped = false;
    for (const char c : text) {
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
            }
            continue;
        }
        switch (c) {
            case '"':
                inString = true;
                break;
            case '[':
            case '{':
                if (++depth > deepest) {
                    deepest = depth;
                    if (deepest > limit) return deepest;
                }
                break;
            case ']':
            case '}':
                if (depth > 0) --depth;
                break;
            default:
                break;
        }
    }
    return deepest;
}

bool isValidId(const Json& id) {
    // JSON-RPC allows string, number or null; fractional ids are discouraged, so integers only.
    return id.is_string() || id.is_number_integer() || id.is_number_unsigned() || id.is_null();
}

ParsedMessage fail(MessageError error) {
    return ParsedMessage{std::nullopt, std::move(error)};
}

HelloCheck helloFail(RpcError error) {
    return HelloCheck{std::nullopt, std::move(error)};
}

MessageError invalid(std::string message, Json id = nullptr) {
    return MessageError{RpcError::make(errc::kInvalidRequest, std::move(message)), std::move(id)};
}

}  // namespace

std::string_view errorName(int code) {
    switch (code) {
        case errc::kParseError:
            return "parse_error";
        case errc::kInvalidRequest:
            return "invalid_request";
        case errc::kMethodNotFound:
            return "method_not_found";
        case errc::kInvalidParams:
            return "invalid_params";
        case errc::kInternalError:
            return "internal_error";
        case errc::kConflict:
            return "conflict";
        case errc::kForbidden:
            return "forbidden";
        case errc::kTooManyClients:
            return "too_many_clients";
        case errc::kInvalidConfig:
            return "invalid_config";
        case errc::kUnavailable:
            return "unavailable";
        case errc::kHandshakeRequired:
            return "handshake_required";
        case errc::kNotFound:
            return "not_found";
        default:
            return "error";
    }
}

Json RpcError::toJson() const {
    Json out = Json::object();
    out["code"] = code;
    out["message"] = message;
    if (!data.is_null()) out["data"] = data;
    return out;
}

ParsedMessage parseMessage(std::string_view payload) {
    if (nestingDepth(payload, kMaxMessageDepth) > kMaxMessageDepth) {
        return fail(MessageError{
            RpcError::make(errc::kParseError,
                           "JSON nesting exceeds " + std::to_string(kMaxMessageDepth) + " levels"),
            nullptr});
    }
    Json doc = Json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
        return fail(
            MessageError{RpcError::make(errc::kParseError, "payload is not valid JSON"), nullptr});
    }
    if (doc.is_array()) return fail(invalid("batch requests are not supported"));
    if (!doc.is_object()) return fail(invalid("a message must be a JSON object"));

    Json id = nullptr;
    const bool hasId = doc.contains("id");
    if (hasId) {
        if (!isValidId(doc["id"])) {
            return fail(invalid("\"id\" must be a string, an integer or null"));
        }
        id = doc["id"];
    }
    const auto version = doc.find("jsonrpc");
    if (version == doc.end() || !version->is_string() ||
        version->get_ref<const std::string&>() != "2.0") {
        return fail(invalid("\"jsonrpc\" must be \"2.0\"", id));
    }

    Message msg;
    msg.id = id;
    if (const auto method = doc.find("method"); method != doc.end()) {
        if (!method->is_string()) return fail(invalid("\"method\" must be a string", id));
        msg.method = method->get<std::string>();
        if (msg.method.empty()) return fail(invalid("\"method\" is empty", id));
        if (doc.contains("result") || doc.contains("error")) {
            return fail(invalid("a request cannot carry \"result\" or \"error\"", id));
        }
        if (const auto params = doc.find("params"); params != doc.end()) {
            if (!params->is_object() && !params->is_array()) {
                return fail(invalid("\"params\" must be an object or an array", id));
            }
            msg.params = std::move(*params);
        }
        msg.kind = hasId ? Message::Kind::Request : Message::Kind::Notification;
        return ParsedMessage{std::move(msg), {}};
    }

    // A response.
    const bool hasResult = doc.contains("result");
    const bool hasError = doc.contains("error");
    if (!hasId) return fail(invalid("a message needs \"method\" or \"id\""));
    if (hasResult == hasError) {
        return fail(invalid("a response needs exactly one of \"result\" or \"error\"", id));
    }
    msg.kind = Message::Kind::Response;
    if (hasResult) {
        msg.result = std::move(doc["result"]);
        return ParsedMessage{std::move(msg), {}};
    }
    const Json& err = doc["error"];
    if (!err.is_object()) return fail(invalid("\"error\" must be an object", id));
    const auto code = err.find("code");
    const auto message = err.find("message");
    if (code == err.end() || !code->is_number_integer()) {
        return fail(invalid("\"error.code\" must be an integer", id));
    }
    if (message == err.end() || !message->is_string()) {
        return fail(invalid("\"error.message\" must be a string", id));
    }
    const auto rawCode = code->get<std::int64_t>();
    if (rawCode < std::numeric_limits<int>::min() || rawCode > std::numeric_limits<int>::max()) {
        return fail(invalid("\"error.code\" is out of range", id));
    }
    RpcError error;
    error.code = static_cast<int>(rawCode);
    error.message = message->get<std::string>();
    if (const auto data = err.find("data"); data != err.end()) error.data = *data;
    msg.error = std::move(error);
    return ParsedMessage{std::move(msg), {}};
}

std::string dumpJson(const Json& value, int indent) {
    return value.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

std::string makeRequest(const Json& id, std::string_view method, const Json& params) {
    Json out = Json::object();
    out["jsonrpc"] = "2.0";
    out["id"] = id;
    out["method"] = std::string(method);
    if (!params.is_null()) out["params"] = params;
    return dumpJson(out);
}

std::string makeNotification(std::string_view method, const Json& params) {
    Json out = Json::object();
    out["jsonrpc"] = "2.0";
    out["method"] = std::string(method);
    if (!params.is_null()) out["params"] = params;
    return dumpJson(out);
}

std::string makeResult(const Json& id, const Json& result) {
    Json out = Json::object();
    out["jsonrpc"] = "2.0";
    out["id"] = id;
    out["result"] = result;
    return dumpJson(out);
}

std::string makeError(const Json& id, const RpcError& error) {
    Json out = Json::object();
    out["jsonrpc"] = "2.0";
    out["id"] = id;
    out["error"] = error.toJson();
    return dumpJson(out);
}

std::string_view roleName(Role role) {
    switch (role) {
        case Role::ReadOnly:
            return "read-only";
        case Role::Admin:
            return "admin";
    }
    return "read-only";
}

std::optional<Role> roleFromName(std::string_view name) {
    if (name == "admin") return Role::Admin;
    if (name == "read-only") return Role::ReadOnly;
    return std::nullopt;
}

Json makeHelloParams(std::string_view client) {
    Json out = Json::object();
    out["protocol"] = kProtocolVersion;
    out["client"] = std::string(client);
    return out;
}

HelloCheck parseHelloParams(const Json& params) {
    Json supported = Json::object();
    supported["supported"] = Json::array({kProtocolVersion});
    if (!params.is_object()) {
        return helloFail(RpcError::make(errc::kHandshakeRequired,
                                        "hello needs params {\"protocol\": 1, \"client\": \"...\"}",
                                        supported));
    }
    const auto protocol = params.find("protocol");
    if (protocol == params.end() || !protocol->is_number_integer()) {
        return helloFail(RpcError::make(errc::kHandshakeRequired,
                                        "hello needs an integer \"protocol\"", supported));
    }
    if (protocol->get<std::int64_t>() != kProtocolVersion) {
        return helloFail(RpcError::make(errc::kHandshakeRequired,
                                        "protocol " +
                                            std::to_string(protocol->get<std::int64_t>()) +
                                            " is not supported; this server speaks protocol " +
                                            std::to_string(kProtocolVersion),
                                        supported));
    }
    Hello hello;
    hello.protocol = kProtocolVersion;
    if (const auto client = params.find("client"); client != params.end()) {
        if (!client->is_string()) {
            return helloFail(RpcError::make(errc::kInvalidParams, "\"client\" must be a string"));
        }
        hello.client = client->get<std::string>();
    }
    return HelloCheck{std::move(hello), {}};
}

Json makeHelloResult(std::string_view serverVersion, Role role) {
    Json out = Json::object();
    out["protocol"] = kProtocolVersion;
    out["server"] = "proxy-service";
    out["version"] = std::string(serverVersion);
    out["role"] = std::string(roleName(role));
    return out;
}

}  // namespace proxy::control
