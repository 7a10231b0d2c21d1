#include "service_client/service_client.h"

#include <QLocalSocket>
#include <algorithm>
#include <chrono>

#ifdef _WIN32
#include <windows.h>

#include "control/pipe_client.h"
#endif

namespace proxy::console {

namespace {

constexpr const char* kClientName = "proxy-console " PROXY_CONSOLE_VERSION;

QString fromStd(std::string_view text) {
    return QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size()));
}

#ifdef _WIN32
// QLocalSocket opens a pipe with GENERIC_READ | GENERIC_WRITE, which the server's DACL refuses
// to the read-only group on purpose (docs/control-protocol.md). The shared opener asks for what
// the protocol needs, as proxyctl does; QLocalSocket then adopts the handle.
qintptr openPipe(const QString& endpoint, QString& error) {
    const auto opened = control::openControlPipe(endpoint.toStdString(),
                                                 std::chrono::steady_clock::now());  // busy: retried by the backoff
    if (opened.handle == -1) error = fromStd(opened.error);
    return static_cast<qintptr>(opened.handle);
}
#endif

}  // namespace

QString RpcReply::describe() const {
    switch (status) {
        case Status::Ok:
            return QStringLiteral("ok");
        case Status::ServerError: {
            const auto name = control::errorName(code);
            return QStringLiteral("%1 (%2, %3)").arg(message, fromStd(name)).arg(code);
        }
        case Status::Timeout:
            return message.isEmpty() ? QStringLiteral("no answer in time") : message;
        case Status::Disconnected:
            return message.isEmpty() ? QStringLiteral("not connected to the service") : message;
        case Status::Refused:
            return message;
    }
    return message;
}

ServiceClient::ServiceClient(QObject* parent) : QObject(parent), endpoint_(defaultEndpoint()) {
    qRegisterMetaType<proxy::console::Json>("proxy::console::Json");
    clock_.start();
    reconnectTimer_.setSingleShot(true);
    connect(&reconnectTimer_, &QTimer::timeout, this, &ServiceClient::connectSocket);
    deadlineTimer_.setInterval(100);
    connect(&deadlineTimer_, &QTimer::timeout, this, &ServiceClient::checkDeadlines);
    keepAliveTimer_.setInterval(kKeepAliveMs / 4);
    connect(&keepAliveTimer_, &QTimer::timeout, this, [this] {
        if (state_ == State::Connected && clock_.elapsed() - lastSendMs_ >= kKeepAliveMs)
            call(QStringLiteral("ping"), Json::object(), this, [](const RpcReply&) {});
    });
}

ServiceClient::~ServiceClient() {
    running_ = false;
    if (socket_) {
        socket_->disconnect(this);
        socket_->abort();
    }
    // Callbacks must not run into a half-destroyed client: drop them silently.
    pending_.clear();
}

QString ServiceClient::defaultEndpoint() {
#ifdef _WIN32
    return QStringLiteral("\\\\.\\pipe\\proxy-control");
#else
    return QStringLiteral("/run/proxy/control.sock");
#endif
}

void ServiceClient::setEndpoint(const QString& endpoint) {
    if (endpoint == endpoint_) return;
    endpoint_ = endpoint;
    if (running_) reconnectNow();
}

void ServiceClient::start() {
    if (running_) return;
    running_ = true;
    backoffMs_ = minBackoffMs_;
    keepAliveTimer_.start();
    connectSocket();
}

void ServiceClient::stop() {
    running_ = false;
    reconnectTimer_.stop();
    keepAliveTimer_.stop();
    if (socket_ || state_ != State::Disconnected) dropConnection(QStringLiteral("stopped"));
}

void ServiceClient::reconnectNow() {
    backoffMs_ = minBackoffMs_;
    if (socket_) dropConnection(QStringLiteral("reconnecting"));
    reconnectTimer_.stop();
    if (running_) connectSocket();
}

void ServiceClient::setState(State state) {
    if (state_ == state) return;
    state_ = state;
    emit stateChanged(state);
}

void ServiceClient::connectSocket() {
    if (!running_ || socket_) return;
    reader_ = std::make_unique<control::FrameReader>(maxFrameBytes_);
    socket_ = new QLocalSocket(this);
    QLocalSocket* socket = socket_;
    connect(socket, &QLocalSocket::connected, this, &ServiceClient::onSocketConnected);
    connect(socket, &QLocalSocket::readyRead, this, &ServiceClient::onReadyRead);
    connect(socket, &QLocalSocket::disconnected, this, &ServiceClient::onSocketDisconnected);
    connect(socket, &QLocalSocket::errorOccurred, this, &ServiceClient::onSocketError);
    setState(State::Connecting);
#ifdef _WIN32
    QString error;
    const qintptr handle = openPipe(endpoint_, error);
    if (handle == -1) {
        QMetaObject::invokeMethod(
            this,
            [this, socket, error] {
                if (socket_ == socket) dropConnection(error);
            },
            Qt::QueuedConnection);
        return;
    }
    if (!socket->setSocketDescriptor(handle)) {
        CloseHandle(reinterpret_cast<HANDLE>(handle));
        const QString reason = socket->errorString();
        QMetaObject::invokeMethod(
            this,
            [this, socket, reason] {
                if (socket_ == socket) dropConnection(reason);
            },
            Qt::QueuedConnection);
        return;
    }
    QMetaObject::invokeMethod(
        this,
        [this, socket] {
            if (socket_ == socket) onSocketConnected();
        },
        Qt::QueuedConnection);
#else
    socket->connectToServer(endpoint_);
#endif
}

void ServiceClient::onSocketConnected() {
    if (!socket_ || state_ != State::Connecting) return;
    setState(State::Handshaking);
    const Json params = control::makeHelloParams(kClientName);
    QLocalSocket* socket = socket_;
    send(
        QStringLiteral("hello"), params, this,
        [this, socket](const RpcReply& reply) {
            if (socket_ != socket) return;
            if (!reply.ok()) {
                dropConnection(
                    QStringLiteral("the service refused the handshake: %1").arg(reply.describe()));
                return;
            }
            auto text = [&](const char* key) {
                const auto it = reply.result.find(key);
                return it != reply.result.end() && it->is_string()
                           ? QString::fromStdString(it->get<std::string>())
                           : QString();
            };
            role_ = text("role");
            serverName_ = text("server");
            serverVersion_ = text("version");
            if (role_.isEmpty()) role_ = QStringLiteral("admin");
            lastError_.clear();
            backoffMs_ = minBackoffMs_;
            setState(State::Connected);
            emit connected();
        },
        kHelloTimeoutMs, true);
}

void ServiceClient::onReadyRead() {
    QLocalSocket* socket = socket_;
    if (!socket) return;
    const QByteArray bytes = socket->readAll();
    if (bytes.isEmpty()) return;
    reader_->append(std::string_view(bytes.constData(), static_cast<std::size_t>(bytes.size())));
    // A callback may drop or replace the connection; stop as soon as this socket is not current.
    while (socket_ == socket) {
        const control::FrameDecode frame = reader_->next();
        if (frame.status == control::FrameStatus::NeedMore) return;
        if (frame.status == control::FrameStatus::Error) {
            dropConnection(QStringLiteral("the service broke the protocol: %1")
                               .arg(fromStd(control::describeFrameError(frame, maxFrameBytes_))));
            return;
        }
        handlePayload(frame.payload);
    }
}

void ServiceClient::handlePayload(std::string_view payload) {
    control::ParsedMessage parsed = control::parseMessage(payload);
    if (!parsed) {
        dropConnection(QStringLiteral("the service sent an unreadable message: %1")
                           .arg(QString::fromStdString(parsed.error.error.message)));
        return;
    }
    control::Message& msg = *parsed.message;
    switch (msg.kind) {
        case control::Message::Kind::Notification:
            emit notificationReceived(QString::fromStdString(msg.method), msg.params);
            return;
        case control::Message::Kind::Request:
            // The server never asks the client anything; ignore rather than guess.
            return;
        case control::Message::Kind::Response:
            break;
    }
    if (!msg.id.is_number_integer()) {
        // An error about the connection itself (too many clients, forbidden, frame too large);
        // the server closes next, and this is the reason to show.
        if (msg.error) lastError_ = QString::fromStdString(msg.error->message);
        return;
    }
    const auto it = pending_.find(msg.id.get<std::int64_t>());
    if (it == pending_.end()) return;  // an answer after its deadline passed
    Pending pending = std::move(it->second);
    pending_.erase(it);
    RpcReply reply;
    if (msg.error) {
        reply.status = RpcReply::Status::ServerError;
        reply.code = msg.error->code;
        reply.message = QString::fromStdString(msg.error->message);
        reply.data = msg.error->data;
        if (reply.code == control::errc::kForbidden) emit forbiddenSeen(pending.method);
    } else {
        reply.status = RpcReply::Status::Ok;
        reply.result = std::move(msg.result);
    }
    finish(std::move(pending), reply);
}

void ServiceClient::onSocketDisconnected() {
    dropConnection(lastError_.isEmpty() ? QStringLiteral("the service closed the connection")
                                        : lastError_);
}

void ServiceClient::onSocketError() {
    if (!socket_) return;
    if (socket_->error() == QLocalSocket::PeerClosedError) {
        onSocketDisconnected();
        return;
    }
    QString reason = socket_->errorString();
    if (socket_->error() == QLocalSocket::ServerNotFoundError)
        reason = QStringLiteral("no service listens on %1").arg(endpoint_);
    else if (socket_->error() == QLocalSocket::ConnectionRefusedError)
        reason = QStringLiteral("%1 refuses connections (is the service running?)").arg(endpoint_);
    else if (socket_->error() == QLocalSocket::SocketAccessError)
        reason = QStringLiteral("permission denied on %1 (join the admin or read-only group)")
                     .arg(endpoint_);
    dropConnection(reason);
}

void ServiceClient::dropConnection(const QString& reason) {
    if (socket_) {
        QLocalSocket* socket = socket_;
        socket_ = nullptr;
        socket->disconnect(this);
        socket->abort();
        socket->deleteLater();
    }
    reader_.reset();
    role_.clear();
    serverName_.clear();
    serverVersion_.clear();
    lastError_ = reason;
    const bool wasUp = state_ != State::Disconnected;
    setState(State::Disconnected);
    failAll(RpcReply::Status::Disconnected, QStringLiteral("connection lost: %1").arg(reason));
    if (wasUp) emit disconnected(reason);
    if (running_) scheduleReconnect();
}

void ServiceClient::scheduleReconnect() {
    if (reconnectTimer_.isActive()) return;
    reconnectTimer_.start(backoffMs_);
    backoffMs_ = std::min(backoffMs_ * 2, maxBackoffMs_);
}

std::int64_t ServiceClient::call(const QString& method, const Json& params, QObject* context,
                                 Callback callback, int timeoutMs) {
    return send(method, params, context, std::move(callback), timeoutMs, false);
}

std::int64_t ServiceClient::send(const QString& method, const Json& params, QObject* context,
                                 Callback callback, int timeoutMs, bool bypassState) {
    Pending pending{method, QPointer<QObject>(context), context != nullptr, std::move(callback), 0};
    auto failLater = [this](Pending p, RpcReply reply) {
        // Always asynchronous, so a caller never sees its callback run inside call().
        QMetaObject::invokeMethod(
            this, [this, p = std::move(p), reply]() mutable { finish(std::move(p), reply); },
            Qt::QueuedConnection);
    };
    if (!socket_ || (!bypassState && state_ != State::Connected)) {
        RpcReply reply;
        reply.status = RpcReply::Status::Disconnected;
        reply.message = lastError_.isEmpty()
                            ? QStringLiteral("not connected to the service")
                            : QStringLiteral("not connected to the service: %1").arg(lastError_);
        failLater(std::move(pending), reply);
        return 0;
    }
    const std::int64_t id = nextId_++;
    const QByteArray name = method.toUtf8();
    const std::string payload = control::makeRequest(
        Json(id), std::string_view(name.constData(), static_cast<std::size_t>(name.size())),
        params.is_null() ? Json::object() : params);
    if (payload.size() > control::kDefaultMaxFrameBytes) {
        RpcReply reply;
        reply.status = RpcReply::Status::Refused;
        reply.message = QStringLiteral("the request is %1 bytes, over the protocol's limit of %2")
                            .arg(payload.size())
                            .arg(control::kDefaultMaxFrameBytes);
        failLater(std::move(pending), reply);
        return 0;
    }
    const std::string frame = control::encodeFrame(payload);
    pending.deadlineMs = clock_.elapsed() + std::max(1, timeoutMs);
    pending_.emplace(id, std::move(pending));
    if (!deadlineTimer_.isActive()) deadlineTimer_.start();
    lastSendMs_ = clock_.elapsed();
    socket_->write(frame.data(), static_cast<qint64>(frame.size()));
    return id;
}

void ServiceClient::failAll(RpcReply::Status status, const QString& message) {
    auto all = std::move(pending_);
    pending_.clear();
    RpcReply reply;
    reply.status = status;
    reply.message = message;
    for (auto& [id, pending] : all) finish(std::move(pending), reply);
}

void ServiceClient::checkDeadlines() {
    const qint64 now = clock_.elapsed();
    std::vector<std::pair<std::int64_t, Pending>> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadlineMs <= now) {
            expired.emplace_back(it->first, std::move(it->second));
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
    if (pending_.empty()) deadlineTimer_.stop();
    for (auto& [id, pending] : expired) {
        if (pending.method == QLatin1String("hello")) {
            // A server that never finishes the handshake is as good as none.
            dropConnection(QStringLiteral("the service did not answer the handshake"));
            continue;
        }
        RpcReply reply;
        reply.status = RpcReply::Status::Timeout;
        reply.message =
            QStringLiteral("%1: no answer from the service in time").arg(pending.method);
        finish(std::move(pending), reply);
    }
}

void ServiceClient::finish(Pending pending, const RpcReply& reply) {
    if (pending.hasContext && !pending.context) return;
    if (pending.callback) pending.callback(reply);
}

}  // namespace proxy::console
