#include "fake_control_server.h"

#include <QCoreApplication>
#include <QFile>

namespace proxy::test {

FakeControlServer::FakeControlServer(QObject* parent) : QObject(parent) {
    connect(&server_, &QLocalServer::newConnection, this, &FakeControlServer::onNewConnection);
}

FakeControlServer::~FakeControlServer() {
    close();
}

bool FakeControlServer::listen(const QString& path) {
    path_ = path;
    QFile::remove(path);
    return server_.listen(path);
}

void FakeControlServer::close() {
    server_.close();
    dropClients();
}

void FakeControlServer::dropClients() {
    auto clients = std::move(clients_);
    clients_.clear();
    for (auto& [socket, client] : clients) {
        if (client->socket) {
            client->socket->disconnect(this);
            client->socket->abort();
            client->socket->deleteLater();
        }
    }
}

int FakeControlServer::clientCount() const {
    return static_cast<int>(clients_.size());
}

void FakeControlServer::onNewConnection() {
    while (QLocalSocket* socket = server_.nextPendingConnection()) {
        ++accepted_;
        auto client = std::make_unique<Client>();
        client->socket = socket;
        clients_[socket] = std::move(client);
        connect(socket, &QLocalSocket::readyRead, this, [this, socket] { onReadyRead(socket); });
        connect(socket, &QLocalSocket::disconnected, this, [this, socket] {
            clients_.erase(socket);
            socket->deleteLater();
        });
    }
}

void FakeControlServer::write(QLocalSocket* socket, const std::string& payload) {
    const std::string frame = control::encodeFrame(payload);
    if (!trickle_) {
        socket->write(frame.data(), static_cast<qint64>(frame.size()));
        return;
    }
    for (char c : frame) {
        socket->write(&c, 1);
        socket->flush();
        QCoreApplication::processEvents();
    }
}

void FakeControlServer::onReadyRead(QLocalSocket* socket) {
    auto it = clients_.find(socket);
    if (it == clients_.end()) return;
    Client& client = *it->second;
    const QByteArray bytes = socket->readAll();
    client.reader.append(
        std::string_view(bytes.constData(), static_cast<std::size_t>(bytes.size())));
    for (;;) {
        const auto frame = client.reader.next();
        if (frame.status != control::FrameStatus::Frame) return;
        auto parsed = control::parseMessage(frame.payload);
        if (!parsed) {
            write(socket, control::makeError(parsed.error.id, parsed.error.error));
            continue;
        }
        const control::Message& msg = *parsed.message;
        methods_.push_back(msg.method);
        if (!client.greeted) {
            ++hellos_;
            if (msg.method != "hello") {
                write(socket, control::makeError(
                                  msg.id, control::RpcError::make(control::errc::kHandshakeRequired,
                                                                  "hello first")));
                socket->disconnectFromServer();
                return;
            }
            if (helloError_) {
                write(socket, control::makeError(msg.id, *helloError_));
                socket->flush();
                socket->disconnectFromServer();
                return;
            }
            client.greeted = true;
            Json result = control::makeHelloResult("0.1.0-fake", control::Role::Admin);
            result["role"] = role_;
            write(socket, control::makeResult(msg.id, result));
            continue;
        }
        const auto handler = handlers_.find(msg.method);
        if (handler == handlers_.end()) {
            write(socket,
                  control::makeError(msg.id, control::RpcError::make(control::errc::kMethodNotFound,
                                                                     "no method " + msg.method)));
            continue;
        }
        const Answer answer = handler->second(msg.params);
        // The handler may have dropped this client.
        if (!clients_.count(socket)) return;
        if (answer.silent) continue;
        if (answer.error)
            write(socket, control::makeError(msg.id, *answer.error));
        else
            write(socket, control::makeResult(msg.id, answer.result.value_or(Json::object())));
    }
}

void FakeControlServer::notifyAll(const std::string& method, const Json& params) {
    for (auto& [socket, client] : clients_)
        if (client->greeted && client->socket)
            write(socket, control::makeNotification(method, params));
}

void FakeControlServer::sendRawToAll(const QByteArray& bytes) {
    for (auto& [socket, client] : clients_)
        if (client->socket) socket->write(bytes);
}

}  // namespace proxy::test
