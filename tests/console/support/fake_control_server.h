#pragma once
// An in-test control server: a QLocalServer that speaks the shared frame codec and JSON-RPC, as
// the real service does (hello first, then request/response by id, notifications), with knobs for
// misbehaviour: no answer, garbage frames, oversize prefixes, refused handshakes, dropped
// connections. Lives on the test's thread; everything is asynchronous.

#include <QLocalServer>
#include <QLocalSocket>
#include <QPointer>
#include <QString>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "control/frame_codec.h"
#include "control/json_rpc.h"

namespace proxy::test {

using control::Json;

class FakeControlServer : public QObject {
    Q_OBJECT

  public:
    // A handler returns the result, or an error (RpcError), or nothing: no answer at all.
    struct Answer {
        std::optional<Json> result;
        std::optional<control::RpcError> error;
        bool silent = false;
        static Answer ok(Json r) { return Answer{std::move(r), std::nullopt, false}; }
        static Answer fail(int code, std::string message, Json data = nullptr) {
            return Answer{std::nullopt,
                          control::RpcError::make(code, std::move(message), std::move(data)),
                          false};
        }
        static Answer none() { return Answer{std::nullopt, std::nullopt, true}; }
    };
    using Handler = std::function<Answer(const Json& params)>;

    explicit FakeControlServer(QObject* parent = nullptr);
    ~FakeControlServer() override;

    bool listen(const QString& path);
    void close();  // stops listening and drops every client
    void dropClients();
    QString path() const { return path_; }

    void on(const std::string& method, Handler handler) { handlers_[method] = std::move(handler); }
    void setRole(const std::string& role) { role_ = role; }
    // hello answered with this error instead (then the connection is closed, as the service does)
    void refuseHello(std::optional<control::RpcError> error) { helloError_ = std::move(error); }

    void notifyAll(const std::string& method, const Json& params);
    void sendRawToAll(const QByteArray& bytes);
    // Splits every frame the server writes into single bytes, flushed one by one.
    void setTrickle(bool on) { trickle_ = on; }

    int clientCount() const;
    int connectionsAccepted() const { return accepted_; }
    int helloCount() const { return hellos_; }
    std::vector<std::string> methodsSeen() const { return methods_; }

  private:
    struct Client {
        QPointer<QLocalSocket> socket;
        control::FrameReader reader;
        bool greeted = false;
    };
    void onNewConnection();
    void onReadyRead(QLocalSocket* socket);
    void write(QLocalSocket* socket, const std::string& payload);

    QLocalServer server_;
    QString path_;
    std::map<QLocalSocket*, std::unique_ptr<Client>> clients_;
    std::map<std::string, Handler> handlers_;
    std::string role_ = "admin";
    std::optional<control::RpcError> helloError_;
    bool trickle_ = false;
    int accepted_ = 0;
    int hellos_ = 0;
    std::vector<std::string> methods_;
};

}  // namespace proxy::test
