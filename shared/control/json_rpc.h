#pragma once
// JSON-RPC 2.0 messages of the control channel: parsing (never throws, whatever the bytes), the
// error codes, builders, and the `hello` handshake. Used by the service, proxyctl and the console.
// docs/control-protocol.md is the reference for the methods carried over it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace proxy::control {

using Json = nlohmann::json;

// Protocol version negotiated by `hello`. Bump on incompatible changes only.
inline constexpr int kProtocolVersion = 1;
// Nesting bound for any message; a config (config::kMaxConfigDepth = 64) wrapped in a request fits.
inline constexpr std::size_t kMaxMessageDepth = 96;

namespace errc {
// Standard JSON-RPC 2.0 codes.
inline constexpr int kParseError = -32700;      // not JSON (or nested too deep)
inline constexpr int kInvalidRequest = -32600;  // JSON, but not a JSON-RPC 2.0 request object
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// Ours (the JSON-RPC "server error" range).
inline constexpr int kConflict = -32001;           // base_version is not the current version
inline constexpr int kForbidden = -32002;          // the caller's role may not do this
inline constexpr int kTooManyClients = -32003;     // the server is at its client limit
inline constexpr int kInvalidConfig = -32004;      // error.data.diagnostics lists every problem
inline constexpr int kUnavailable = -32005;        // not possible now (e.g. shutting down, storage)
inline constexpr int kHandshakeRequired = -32006;  // the first call must be a compatible `hello`
inline constexpr int kNotFound = -32007;           // the named version/upstream/server is unknown
}  // namespace errc

// A short stable name for a code ("parse_error", "conflict", ...), for logs and proxyctl.
std::string_view errorName(int code);

struct RpcError {
    int code = errc::kInternalError;
    std::string message;
    Json data;  // null when absent

    Json toJson() const;
    static RpcError make(int code, std::string message, Json data = nullptr) {
        return RpcError{code, std::move(message), std::move(data)};
    }
};

struct Message {
    enum class Kind : std::uint8_t {
        Request,       // method + id: the peer expects a response
        Notification,  // method, no id: no response
        Response,      // id + exactly one of result / error
    };
    Kind kind = Kind::Request;
    Json id;                        // Request / Response: number or string (or null in a Response)
    std::string method;             // Request / Notification
    Json params;                    // Request / Notification: object or array; null when absent
    Json result;                    // Response on success
    std::optional<RpcError> error;  // Response on failure
};

// Why a payload is not a usable message, with the id to answer with when one could be read
// (JSON-RPC answers parse errors and unreadable ids with a null id).
struct MessageError {
    RpcError error;
    Json id;
};

// The outcome of parseMessage: a message, or why not. (Not std::expected: the fuzz build uses
// clang 14, whose concepts level hides libstdc++'s <expected>.)
struct ParsedMessage {
    std::optional<Message> message;
    MessageError error;  // meaningful only without a message
    explicit operator bool() const { return message.has_value(); }
    const Message* operator->() const { return &*message; }
    Message* operator->() { return &*message; }
};

// Parses one frame payload. Never throws: bad UTF-8, deep nesting, batches, wrong member types and
// missing members all come back as a MessageError with the JSON-RPC code that fits.
ParsedMessage parseMessage(std::string_view payload);

// Builders: serialised payloads (not framed). Invalid UTF-8 inside strings is replaced (U+FFFD)
// rather than thrown, so a handler echoing bad bytes cannot take the server down.
std::string makeRequest(const Json& id, std::string_view method, const Json& params = nullptr);
std::string makeNotification(std::string_view method, const Json& params = nullptr);
std::string makeResult(const Json& id, const Json& result);
std::string makeError(const Json& id, const RpcError& error);
std::string dumpJson(const Json& value, int indent = -1);  // the never-throwing dump used above

// --- Roles and the handshake ---

enum class Role : std::uint8_t { ReadOnly, Admin };
std::string_view roleName(Role role);  // "read-only", "admin"
std::optional<Role> roleFromName(std::string_view name);

struct Hello {
    int protocol = kProtocolVersion;
    std::string client;  // free text: "proxyctl 0.1.0", "proxy-console 0.1.0"
};

Json makeHelloParams(std::string_view client);
// Checks `hello` params: protocol must be an integer equal to kProtocolVersion (else
// kHandshakeRequired with data {"supported":[1]}), client must be a string if present.
struct HelloCheck {
    std::optional<Hello> hello;
    RpcError error;  // meaningful only without a hello
    explicit operator bool() const { return hello.has_value(); }
};
HelloCheck parseHelloParams(const Json& params);
Json makeHelloResult(std::string_view serverVersion, Role role);

}  // namespace proxy::control
