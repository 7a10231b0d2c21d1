#pragma once
// The control channel server: JSON-RPC 2.0 over length-prefixed frames (shared/control), on a
// Unix socket (Linux) or a named pipe (Windows), on its OWN io_context and thread, so a slow or
// hostile control client can never slow the data path. docs/control-protocol.md is the reference.
//
// How the runtime uses it:
//
//   asio::io_context control;                      // run by one control thread
//   ControlServer server(control, options, store, backend);
//   server.methods().add(...);                     // optional extra methods, before start()
//   if (auto error = server.start()) fail(*error); // binds the endpoint; no I/O happens yet
//   ... control.run() on the control thread ...
//   server.stop();                                 // from any thread: closes everything
//   ... let control.run() return (or control.stop()), join the thread, destroy the server.
//
// Rules it enforces per client: the first call must be `hello` (within limits.helloTimeout);
// a role from the peer's credentials (admin / read-only, others refused with kForbidden);
// limits.maxClients (the next one gets kTooManyClients and is closed); frames over
// limits.maxFrameBytes (answered with kInvalidRequest, then closed); an idle timeout after hello;
// a write deadline; and a bounded outgoing queue: a client that does not read its notifications
// is disconnected when the queue passes its bound. Nothing a client does blocks another.
//
// The server also watches the ConfigStore and sends `config.changed` to every client after each
// change, whoever made it (another client, SIGHUP, a file reload).

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "config_store/config_store.h"
#include "control/frame_codec.h"
#include "control_channel/control_backend.h"
#include "control_channel/method_registry.h"

namespace proxy::control {

struct ControlLimits {
    std::size_t maxFrameBytes = kDefaultMaxFrameBytes;   // per incoming frame
    std::size_t maxClients = 32;                         // concurrent, after admission
    std::chrono::milliseconds helloTimeout{30'000};      // from connect to a completed hello
    std::chrono::milliseconds idleTimeout{30 * 60'000};  // no complete request for this long
    std::chrono::milliseconds writeTimeout{10'000};      // one write to the client
    std::size_t maxQueuedMessages = 4096;                // outgoing, per client
    std::size_t maxQueuedBytes = 40u << 20;  // outgoing, per client; one message always fits
};

struct ControlServerOptions {
    // Linux: a Unix socket path (its folder is created 0750 if missing). Windows: \\.\pipe\NAME.
    std::string endpoint;
    // Linux: members get the admin role (root and the service's own uid always do). The socket's
    // group; if the group does not exist the socket keeps the service's group (logged).
    std::string adminGroup = "proxy-admin";
    // Linux: a group name; Windows: a group or account name (looked up to a SID). Members get the
    // read-only role. Empty: no read-only access.
    std::string readOnlyGroup;
    ControlLimits limits;
    std::string serverVersion;  // reported by hello and status; empty = PROXY_VERSION
};

class ControlServer {
  public:
    ControlServer(asio::io_context& io, ControlServerOptions options,
                  config_store::ConfigStore& store, ControlBackend& backend);
    // Calls stop(). Destroy only after the io_context has stopped running (see above).
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // The built-in methods are registered by the constructor; add more before start().
    MethodRegistry& methods();

    // Creates and binds the endpoint and starts accepting once the io_context runs. Returns an
    // error sentence (endpoint in use, path too long, permissions...) and leaves nothing behind.
    std::optional<std::string> start();

    // Thread-safe, non-blocking, idempotent: stops accepting, closes every client (their
    // coroutines finish on the io_context), removes the socket file, detaches from the store.
    void stop();

    // Thread-safe: queues a notification to every client that completed hello.
    void broadcast(std::string method, nlohmann::json params);

    // Thread-safe snapshot: endpoint, clients, counters, limits.
    nlohmann::json dumpState() const;

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace proxy::control
