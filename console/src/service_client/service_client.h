#pragma once
// The console's client of the control channel, and the only console code that knows the wire
// format (docs/control-protocol.md): a QLocalSocket (Unix socket / named pipe), the shared frame
// codec and JSON-RPC helpers (shared/control), the `hello` handshake, request/response by id with
// a deadline per call, notifications as a signal, and reconnection with backoff.
//
// Everything runs on the thread that owns the object (the GUI thread): the socket is asynchronous,
// so no call ever blocks. Callbacks run on that thread too, and only while their context object
// lives.

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QTimer>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "control/frame_codec.h"
#include "control/json_rpc.h"

class QLocalSocket;

namespace proxy::console {

using Json = control::Json;

// The outcome of one call.
struct RpcReply {
    enum class Status {
        Ok,            // result is set
        ServerError,   // the server answered with a JSON-RPC error: code, message, data
        Timeout,       // no answer before the call's deadline (the connection stays up)
        Disconnected,  // the connection was lost (or never there) before an answer
        Refused,       // not sent: the request itself is unusable (too large for a frame)
    };
    Status status = Status::Disconnected;
    Json result;
    int code = 0;  // ServerError: the JSON-RPC error code (control::errc)
    QString message;
    Json data;  // ServerError: error.data (null when absent)

    bool ok() const { return status == Status::Ok; }
    bool isError(int errorCode) const { return status == Status::ServerError && code == errorCode; }
    bool methodMissing() const { return isError(control::errc::kMethodNotFound); }
    bool forbidden() const { return isError(control::errc::kForbidden); }
    // One sentence for a status bar or a message box.
    QString describe() const;
};

class ServiceClient : public QObject {
    Q_OBJECT

  public:
    enum class State {
        Disconnected,  // not connected; a reconnect is scheduled unless stopped
        Connecting,    // the socket is connecting
        Handshaking,   // connected, hello sent
        Connected,     // hello answered: calls go through
    };
    Q_ENUM(State)

    using Callback = std::function<void(const RpcReply&)>;

    explicit ServiceClient(QObject* parent = nullptr);
    ~ServiceClient() override;

    // The endpoint: a Unix socket path or \\.\pipe\NAME. Changing it reconnects.
    void setEndpoint(const QString& endpoint);
    QString endpoint() const { return endpoint_; }
    static QString defaultEndpoint();

    // Starts connecting (and keeps reconnecting after losses until stop()).
    void start();
    void stop();
    // Drops the connection and tries again at once (the backoff starts over).
    void reconnectNow();

    State state() const { return state_; }
    bool isConnected() const { return state_ == State::Connected; }
    // From the hello result; empty while not connected.
    QString role() const { return role_; }
    bool isReadOnly() const { return role_ == QLatin1String("read-only"); }
    QString serverName() const { return serverName_; }
    QString serverVersion() const { return serverVersion_; }
    // The last reason the connection failed or was dropped (empty after a clean connect).
    QString lastError() const { return lastError_; }
    // Milliseconds until the next automatic attempt (0 when none is scheduled).
    int reconnectDelayMs() const {
        return reconnectTimer_.isActive() ? reconnectTimer_.remainingTime() : 0;
    }

    // Sends one request. The callback runs exactly once (success, error, timeout or disconnect),
    // on this object's thread, unless `context` is destroyed first. While not connected it fails at
    // once with Disconnected. Returns the request id (0 when not sent).
    std::int64_t call(const QString& method, const Json& params, QObject* context,
                      Callback callback, int timeoutMs = kDefaultTimeoutMs);

    std::size_t pendingCalls() const { return pending_.size(); }

    static constexpr int kDefaultTimeoutMs = 15000;
    static constexpr int kHelloTimeoutMs = 10000;
    static constexpr int kMinBackoffMs = 250;
    static constexpr int kMaxBackoffMs = 5000;
    // A ping this often keeps the server's 30-minute idle timeout away on a quiet console.
    static constexpr int kKeepAliveMs = 60000;

    // Tests: the bound for incoming frames (the protocol's own by default).
    void setMaxFrameBytes(std::size_t bytes) { maxFrameBytes_ = bytes; }
    void setBackoffForTest(int minMs, int maxMs) {
        minBackoffMs_ = minMs;
        maxBackoffMs_ = maxMs;
    }

  signals:
    void stateChanged(proxy::console::ServiceClient::State state);
    // After a successful hello (also after every reconnect: views re-subscribe here).
    void connected();
    void disconnected(const QString& reason);
    // A server-to-client notification (config.changed, traffic.event, ...).
    void notificationReceived(const QString& method, const proxy::console::Json& params);
    // The server answered some call with -32002: this connection may not change anything.
    void forbiddenSeen(const QString& method);

  private:
    struct Pending {
        QString method;
        QPointer<QObject> context;
        bool hasContext = false;
        Callback callback;
        qint64 deadlineMs = 0;
    };

    void connectSocket();
    void onSocketConnected();
    void onReadyRead();
    void onSocketDisconnected();
    void onSocketError();
    void handlePayload(std::string_view payload);
    void dropConnection(const QString& reason);
    void scheduleReconnect();
    void setState(State state);
    void failAll(RpcReply::Status status, const QString& message);
    void checkDeadlines();
    void finish(Pending pending, const RpcReply& reply);
    std::int64_t send(const QString& method, const Json& params, QObject* context,
                      Callback callback, int timeoutMs, bool bypassState);

    QString endpoint_;
    State state_ = State::Disconnected;
    bool running_ = false;
    QLocalSocket* socket_ = nullptr;  // owned (child of this); replaced on every connect
    std::unique_ptr<control::FrameReader> reader_;
    std::size_t maxFrameBytes_ = control::kDefaultMaxFrameBytes;
    std::map<std::int64_t, Pending> pending_;
    std::int64_t nextId_ = 1;
    QElapsedTimer clock_;
    qint64 lastSendMs_ = 0;
    QTimer reconnectTimer_;
    QTimer deadlineTimer_;
    QTimer keepAliveTimer_;
    int backoffMs_ = kMinBackoffMs;
    int minBackoffMs_ = kMinBackoffMs;
    int maxBackoffMs_ = kMaxBackoffMs;
    QString role_, serverName_, serverVersion_, lastError_;
};

}  // namespace proxy::console

Q_DECLARE_METATYPE(proxy::console::Json)
