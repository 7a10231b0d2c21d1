#include "control_channel/control_server.h"

#include "build_info.h"
#include "config_store/config_store.h"
#include "control_channel/server_internal.h"

namespace proxy::control {

ControlServer::ControlServer(asio::io_context& io, ControlServerOptions options,
                             config_store::ConfigStore& store, ControlBackend& backend)
    : impl_(std::make_shared<Impl>(io, std::move(options), store, backend)) {
    impl_->registerBuiltins();
}

ControlServer::~ControlServer() {
    stop();
    // The io_context no longer runs (documented precondition), so finish here rather than in the
    // handler stop() posted, which may never run.
    impl_->shutdown();
}

MethodRegistry& ControlServer::methods() {
    return impl_->registry;
}

std::optional<std::string> ControlServer::start() {
    if (impl_->started) return "the control server is already started";
    if (impl_->stopRequested) return "the control server was stopped";
    if (impl_->options.endpoint.empty()) return "no control endpoint is configured";
    if (auto error = impl_->openEndpoint()) return error;
    impl_->started = true;
    impl_->startedAt = detail::Clock::now();

    // config.changed: whoever changed the config, every client hears of it. The store calls this
    // on the applying thread; the send happens on the control thread.
    std::weak_ptr<Impl> weak = impl_;
    impl_->observerId = impl_->store.addObserver([weak](const config_store::ConfigChange& change) {
        auto self = weak.lock();
        if (!self) return;
        nlohmann::json params = nlohmann::json::object();
        params["version"] = change.version;
        params["applied_by"] = change.appliedBy;
        params["note"] = change.note;
        auto payload = makeNotification("config.changed", params);
        asio::post(self->io, [weak, payload = std::move(payload)] {
            if (auto server = weak.lock()) server->broadcastNow(payload);
        });
    });
    logging::log(logging::Level::Info, "control: listening on %s", impl_->options.endpoint.c_str());
    return std::nullopt;
}

void ControlServer::stop() {
    if (impl_->stopRequested.exchange(true)) return;
    if (impl_->observerId) impl_->store.removeObserver(*impl_->observerId);
    asio::post(impl_->io, [impl = impl_] { impl->shutdown(); });
}

void ControlServer::broadcast(std::string method, nlohmann::json params) {
    auto payload = makeNotification(method, params);
    asio::post(impl_->io, [weak = std::weak_ptr<Impl>(impl_), payload = std::move(payload)] {
        if (auto server = weak.lock()) server->broadcastNow(payload);
    });
}

nlohmann::json ControlServer::dumpState() const {
    return impl_->state();
}

void ControlServer::Impl::broadcastNow(const std::string& payload) {
    // Copy first: enqueue may disconnect a slow client, which edits the map.
    std::vector<std::shared_ptr<detail::SessionBase>> targets;
    for (const auto& [id, session] : sessions)
        if (session->helloDone()) targets.push_back(session);
    for (const auto& session : targets) session->enqueue(payload);
}

void ControlServer::Impl::remove(std::uint64_t id, bool admitted) {
    if (!admitted) {
        rejecting.erase(id);
        return;
    }
    sessions.erase(id);
    std::lock_guard lock(infoMutex);
    clientInfo.erase(id);
}

void ControlServer::Impl::shutdown() {
    if (shutDown) return;
    shutDown = true;
    closeEndpoint();
    auto all = sessions;  // close() edits the map
    for (const auto& [id, session] : all) session->close();
    sessions.clear();
    auto refused = rejecting;
    for (const auto& [id, weak] : refused)
        if (auto session = weak.lock()) session->close();
    rejecting.clear();
}

std::string ControlServer::Impl::version() const {
    return options.serverVersion.empty() ? std::string(PROXY_VERSION) : options.serverVersion;
}

void ControlServer::Impl::handleFrame(detail::SessionBase& session, std::string_view payload) {
    ++requests;
    const auto parsed = parseMessage(payload);
    if (!parsed) {
        session.enqueue(makeError(parsed.error.id, parsed.error.error));
        // Before hello we owe nothing to a peer that cannot speak the protocol.
        if (!session.helloDone()) session.closeAfterFlush();
        return;
    }
    const Message& msg = *parsed.message;
    if (msg.kind == Message::Kind::Response) {
        session.enqueue(makeError(
            msg.id, RpcError::make(errc::kInvalidRequest, "the server does not expect responses")));
        if (!session.helloDone()) session.closeAfterFlush();
        return;
    }
    const bool wantsAnswer = msg.kind == Message::Kind::Request;
    auto answer = [&](const HandlerResult& r) {
        if (!wantsAnswer) return;
        session.enqueue(r.error ? makeError(msg.id, *r.error) : makeResult(msg.id, r.result));
    };

    if (!session.helloDone()) {
        if (msg.method != "hello") {
            answer(HandlerResult::fail(errc::kHandshakeRequired,
                                       "the first call must be hello with {\"protocol\": " +
                                           std::to_string(kProtocolVersion) + "}"));
            session.closeAfterFlush();
            return;
        }
        const auto hello = parseHelloParams(msg.params);
        if (!hello) {
            answer(HandlerResult{nullptr, hello.error});
            session.closeAfterFlush();
            return;
        }
        session.helloCompleted(hello.hello->client);
        {
            std::lock_guard lock(infoMutex);
            if (auto it = clientInfo.find(session.id()); it != clientInfo.end())
                it->second.client = hello.hello->client;
        }
        answer(HandlerResult::ok(makeHelloResult(version(), session.peer().role)));
        return;
    }
    if (msg.method == "hello") {
        answer(HandlerResult::fail(errc::kInvalidRequest, "hello was already done"));
        return;
    }

    const auto* method = registry.find(msg.method);
    if (!method) {
        answer(HandlerResult::fail(errc::kMethodNotFound, "unknown method \"" + msg.method + "\""));
        return;
    }
    if (method->access == MethodRegistry::Access::Admin && session.peer().role != Role::Admin) {
        answer(HandlerResult::fail(errc::kForbidden,
                                   msg.method + " needs the admin role; this client is read-only"));
        return;
    }
    Caller caller{session.peer().role, session.peer().identity, session.client(),
                  session.channel()};
    HandlerResult result;
    try {
        result = method->handler(msg.params, caller);
    } catch (const std::exception& e) {
        logging::log(logging::Level::Error, "control: %s failed: %s", msg.method.c_str(), e.what());
        result = HandlerResult::fail(errc::kInternalError, msg.method + " failed: " + e.what());
    } catch (...) {
        result = HandlerResult::fail(errc::kInternalError, msg.method + " failed");
    }
    answer(result);
}

nlohmann::json ControlServer::Impl::state() const {
    nlohmann::json out = nlohmann::json::object();
    out["endpoint"] = options.endpoint;
    out["uptime_seconds"] =
        std::chrono::duration_cast<std::chrono::seconds>(detail::Clock::now() - startedAt).count();
    nlohmann::json clients = nlohmann::json::array();
    {
        std::lock_guard lock(infoMutex);
        for (const auto& [id, info] : clientInfo) {
            clients.push_back({{"id", id},
                               {"identity", info.identity},
                               {"role", info.role},
                               {"client", info.client},
                               {"connected_at_ms", info.connectedAtMs}});
        }
    }
    out["clients"] = clients;
    out["counters"] = {{"accepted", accepted.load()},
                       {"refused_credentials", refusedCredentials.load()},
                       {"refused_too_many", refusedTooMany.load()},
                       {"slow_disconnects", slowDisconnects.load()},
                       {"timeouts", timeouts.load()},
                       {"frames", requests.load()}};
    const auto& l = options.limits;
    out["limits"] = {
        {"max_frame_bytes", l.maxFrameBytes},         {"max_clients", l.maxClients},
        {"hello_timeout_ms", l.helloTimeout.count()}, {"idle_timeout_ms", l.idleTimeout.count()},
        {"write_timeout_ms", l.writeTimeout.count()}, {"max_queued_messages", l.maxQueuedMessages},
        {"max_queued_bytes", l.maxQueuedBytes}};
    return out;
}

}  // namespace proxy::control
