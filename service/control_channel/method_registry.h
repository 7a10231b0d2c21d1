#pragma once
// The control channel's methods: name -> {role needed, handler}. Adding a method is one add()
// call, before ControlServer::start(). Handlers run on the control thread, one request at a time
// per server, and answer with a result or an RpcError; they never see the wire format.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/json_rpc.h"

namespace proxy::control {

// A connected client, as handlers see it: lets a handler keep a way to push notifications to that
// client (traffic.subscribe). Thread-safe; holding it does not keep the connection open.
class ClientChannel {
  public:
    virtual ~ClientChannel() = default;
    virtual std::uint64_t id() const = 0;
    virtual bool isOpen() const = 0;
    // Queues a notification. Returns false when the client is gone. A client whose queue passes
    // its bound is disconnected (it never blocks the caller).
    virtual bool notify(std::string_view method, const Json& params) = 0;
};

struct Caller {
    Role role = Role::ReadOnly;
    std::string identity;  // "uid 1000 (alice)", "DOMAIN\\alice": who, for history and logs
    std::string client;    // from hello: "proxyctl 0.1.0"
    std::shared_ptr<ClientChannel> channel;
};

struct HandlerResult {
    Json result;  // used when error is empty
    std::optional<RpcError> error;

    static HandlerResult ok(Json result) { return HandlerResult{std::move(result), std::nullopt}; }
    static HandlerResult fail(int code, std::string message, Json data = nullptr) {
        return HandlerResult{nullptr, RpcError::make(code, std::move(message), std::move(data))};
    }
};

using Handler = std::function<HandlerResult(const Json& params, const Caller& caller)>;

class MethodRegistry {
  public:
    enum class Access : std::uint8_t {
        Read,   // any authenticated client (read-only and admin roles)
        Admin,  // the admin role only; read-only callers get errc::kForbidden
    };
    struct Method {
        Access access = Access::Read;
        Handler handler;
        std::string summary;  // one line, for `methods` and docs
    };

    // False when the name is taken (the first registration stays).
    bool add(std::string name, Access access, Handler handler, std::string summary = {});
    const Method* find(std::string_view name) const;
    std::vector<std::string> names() const;

  private:
    std::map<std::string, Method, std::less<>> methods_;
};

// Helpers for handlers: typed access to params, with an errc::kInvalidParams error naming the
// field. They leave `error` set on failure (and keep an earlier error) so several can be chained.
// params must be an object (or absent, treated as {}); the error says so otherwise.
std::optional<RpcError> requireObject(const Json& params);
std::optional<std::string> stringParam(const Json& params, std::string_view name,
                                       std::optional<RpcError>& error, bool required = true);
std::optional<std::uint64_t> uintParam(const Json& params, std::string_view name,
                                       std::optional<RpcError>& error, bool required = true);

}  // namespace proxy::control
