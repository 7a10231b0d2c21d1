// ServiceClient against an in-test fake control server (tests/console/support): the handshake,
// calls matched by id, notifications, timeouts, reconnecting after the server restarts, and a
// server that breaks the protocol (garbage, oversize frames, refused hello) — always a clean error
// and a reconnect, never a crash or a hang.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "fake_control_server.h"
#include "service_client/service_client.h"

using namespace proxy::console;
using proxy::test::FakeControlServer;
namespace errc = proxy::control::errc;

class ServiceClientTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::unique_ptr<FakeControlServer> server_;
    std::unique_ptr<ServiceClient> client_;

    QString path() const { return dir_.filePath("control.sock"); }

    // Runs a call and waits for its reply.
    RpcReply callAndWait(const QString& method, const Json& params = Json::object(),
                         int timeoutMs = ServiceClient::kDefaultTimeoutMs) {
        std::optional<RpcReply> reply;
        client_->call(
            method, params, this, [&](const RpcReply& r) { reply = r; }, timeoutMs);
        [&] { QTRY_VERIFY_WITH_TIMEOUT(reply.has_value(), 20000); }();
        return reply.value_or(RpcReply{});
    }

    void startClient() {
        client_ = std::make_unique<ServiceClient>();
        client_->setBackoffForTest(20, 200);
        client_->setEndpoint(path());
        client_->start();
    }

  private slots:
    void init() {
        QVERIFY(dir_.isValid());
        server_ = std::make_unique<FakeControlServer>();
        QVERIFY(server_->listen(path()));
        server_->on("status", [](const Json&) {
            return FakeControlServer::Answer::ok({{"version", "9.9"}});
        });
        server_->on("echo", [](const Json& p) { return FakeControlServer::Answer::ok(p); });
    }

    void cleanup() {
        client_.reset();
        server_.reset();
    }

    void handshakeThenCall() {
        startClient();
        QSignalSpy connectedSpy(client_.get(), &ServiceClient::connected);
        QTRY_COMPARE(client_->state(), ServiceClient::State::Connected);
        QCOMPARE(connectedSpy.count(), 1);
        QCOMPARE(client_->role(), QString("admin"));
        QVERIFY(!client_->isReadOnly());
        QCOMPARE(client_->serverVersion(), QString("0.1.0-fake"));
        QCOMPARE(server_->methodsSeen().front(), std::string("hello"));

        const RpcReply reply = callAndWait("status");
        QVERIFY2(reply.ok(), qPrintable(reply.describe()));
        QCOMPARE(reply.result["version"].get<std::string>(), std::string("9.9"));
        QCOMPARE(client_->pendingCalls(), std::size_t(0));
    }

    void readOnlyRole() {
        server_->setRole("read-only");
        startClient();
        QTRY_VERIFY(client_->isConnected());
        QVERIFY(client_->isReadOnly());
    }

    void serverErrorsCarryCodeAndData() {
        server_->on("config.apply", [](const Json&) {
            return FakeControlServer::Answer::fail(errc::kConflict, "stale base",
                                                   {{"current_version", 7}});
        });
        server_->on("upstreams.drain", [](const Json&) {
            return FakeControlServer::Answer::fail(errc::kForbidden, "read-only");
        });
        startClient();
        QTRY_VERIFY(client_->isConnected());
        RpcReply r = callAndWait("config.apply");
        QVERIFY(r.isError(errc::kConflict));
        QCOMPARE(r.data["current_version"].get<int>(), 7);
        QVERIFY(r.describe().contains("conflict"));

        QSignalSpy forbidden(client_.get(), &ServiceClient::forbiddenSeen);
        r = callAndWait("upstreams.drain");
        QVERIFY(r.forbidden());
        QCOMPARE(forbidden.count(), 1);
        QCOMPARE(forbidden.at(0).at(0).toString(), QString("upstreams.drain"));

        r = callAndWait("logs.query");
        QVERIFY(r.methodMissing());
        QVERIFY(client_->isConnected());  // errors never cost the connection
    }

    void answersMatchedByIdOutOfOrder() {
        // The first call is answered only when the second arrives, and after it.
        QByteArray held;
        server_->on("first", [](const Json&) { return FakeControlServer::Answer::none(); });
        startClient();
        QTRY_VERIFY(client_->isConnected());
        std::optional<RpcReply> first, second;
        const auto firstId = client_->call(
            "first", Json::object(), this, [&](const RpcReply& r) { first = r; }, 60000);
        client_->call("echo", Json{{"n", 2}}, this, [&](const RpcReply& r) { second = r; });
        QTRY_VERIFY(second.has_value());
        QCOMPARE((*second).result["n"].get<int>(), 2);
        QVERIFY(!first.has_value());
        // Now a hand-made answer to the first id, behind a notification.
        server_->notifyAll("config.changed", {{"version", 3}});
        server_->sendRawToAll(QByteArray::fromStdString(proxy::control::encodeFrame(
            proxy::control::makeResult(Json(firstId), {{"late", true}}))));
        QTRY_VERIFY(first.has_value());
        QVERIFY((*first).result["late"].get<bool>());
    }

    void notificationsArriveAsSignals() {
        startClient();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy spy(client_.get(), &ServiceClient::notificationReceived);
        server_->notifyAll("traffic.event",
                           {{"events", Json::array({{{"status", 200}}, {{"status", 503}}})}});
        server_->notifyAll("config.changed", {{"version", 4}, {"applied_by", "alice"}});
        QTRY_COMPARE(spy.count(), 2);
        QCOMPARE(spy.at(0).at(0).toString(), QString("traffic.event"));
        const Json params = spy.at(0).at(1).value<Json>();
        QCOMPARE(params["events"][1]["status"].get<int>(), 503);
        QCOMPARE(spy.at(1).at(1).value<Json>()["version"].get<int>(), 4);
    }

    void framesSplitIntoSingleBytes() {
        server_->setTrickle(true);
        startClient();
        QTRY_VERIFY(client_->isConnected());
        const RpcReply reply = callAndWait("echo", {{"text", std::string(300, 'x')}});
        QVERIFY2(reply.ok(), qPrintable(reply.describe()));
        QCOMPARE(reply.result["text"].get<std::string>().size(), std::size_t(300));
    }

    void unansweredCallTimesOutAndTheConnectionStays() {
        server_->on("slow", [](const Json&) { return FakeControlServer::Answer::none(); });
        startClient();
        QTRY_VERIFY(client_->isConnected());
        const RpcReply r = callAndWait("slow", Json::object(), 200);
        QCOMPARE(r.status, RpcReply::Status::Timeout);
        QVERIFY(r.describe().contains("slow"));
        QVERIFY(client_->isConnected());
        QVERIFY(callAndWait("status").ok());
    }

    void noServerFailsCallsAndKeepsTrying() {
        server_->close();
        startClient();
        QTRY_VERIFY(!client_->lastError().isEmpty());
        QVERIFY2(client_->lastError().contains(path()), qPrintable(client_->lastError()));
        bool ranInline = true;
        std::optional<RpcReply> reply;
        client_->call("status", Json::object(), this, [&](const RpcReply& r) { reply = r; });
        ranInline = reply.has_value();
        QVERIFY(!ranInline);  // callbacks never run inside call()
        QTRY_VERIFY(reply.has_value());
        QCOMPARE(reply->status, RpcReply::Status::Disconnected);
        // The service comes up: the client finds it on its own.
        QVERIFY(server_->listen(path()));
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 10000);
    }

    void reconnectsAfterServerRestart() {
        server_->on("slow", [](const Json&) { return FakeControlServer::Answer::none(); });
        startClient();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy connectedSpy(client_.get(), &ServiceClient::connected);
        QSignalSpy lost(client_.get(), &ServiceClient::disconnected);
        std::optional<RpcReply> pending;
        client_->call(
            "slow", Json::object(), this, [&](const RpcReply& r) { pending = r; }, 60000);
        QTRY_COMPARE(server_->methodsSeen().back(), std::string("slow"));

        server_->close();  // the service stops
        QTRY_VERIFY(pending.has_value());
        QCOMPARE(pending->status, RpcReply::Status::Disconnected);
        QTRY_COMPARE(lost.count(), 1);
        QCOMPARE(client_->state(), ServiceClient::State::Disconnected);

        QVERIFY(server_->listen(path()));  // and starts again
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 10000);
        QCOMPARE(connectedSpy.count(), 1);
        QCOMPARE(server_->helloCount(),
                 2);  // one hello per connection: the new one said hello again
        QVERIFY(callAndWait("status").ok());
    }

    void garbageFromTheServerIsACleanError() {
        server_->on("slow", [](const Json&) { return FakeControlServer::Answer::none(); });
        startClient();
        QTRY_VERIFY(client_->isConnected());
        std::optional<RpcReply> pending;
        client_->call(
            "slow", Json::object(), this, [&](const RpcReply& r) { pending = r; }, 60000);
        QTRY_COMPARE(server_->methodsSeen().back(), std::string("slow"));
        QSignalSpy lost(client_.get(), &ServiceClient::disconnected);
        server_->sendRawToAll(
            QByteArray::fromStdString(proxy::control::encodeFrame("{not json\xff")));
        QTRY_COMPARE(lost.count(), 1);
        QVERIFY2(lost.at(0).at(0).toString().contains("unreadable"),
                 qPrintable(lost.at(0).at(0).toString()));
        QTRY_VERIFY(pending.has_value());
        QCOMPARE(pending->status, RpcReply::Status::Disconnected);
        // The server still listens, so the client is back shortly.
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 10000);
    }

    void wrongShapesAreCleanErrors_data() {
        QTest::addColumn<QByteArray>("payload");
        QTest::newRow("empty frame") << QByteArray();
        QTest::newRow("array") << QByteArray("[1,2,3]");
        QTest::newRow("result and error") << QByteArray(
            R"({"jsonrpc":"2.0","id":5,"result":1,"error":{"code":1,"message":"x"}})");
        QTest::newRow("deep") << QByteArray(200, '[') + QByteArray(200, ']');
        QTest::newRow("no version") << QByteArray(R"({"id":1,"result":{}})");
    }
    void wrongShapesAreCleanErrors() {
        QFETCH(QByteArray, payload);
        startClient();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy lost(client_.get(), &ServiceClient::disconnected);
        server_->sendRawToAll(
            QByteArray::fromStdString(proxy::control::encodeFrame(payload.toStdString())));
        QTRY_COMPARE(lost.count(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 10000);
    }

    void oversizeFrameIsRefusedBeforeItsBody() {
        startClient();
        QTRY_VERIFY(client_->isConnected());
        QSignalSpy lost(client_.get(), &ServiceClient::disconnected);
        // 4 GiB announced: refused from the prefix alone, nothing is buffered.
        server_->sendRawToAll(QByteArray("\xff\xff\xff\xff", 4) + QByteArray(64, 'x'));
        QTRY_COMPARE(lost.count(), 1);
        QVERIFY2(lost.at(0).at(0).toString().contains("limit"),
                 qPrintable(lost.at(0).at(0).toString()));
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 10000);
    }

    void oversizeRequestIsNotSent() {
        startClient();
        QTRY_VERIFY(client_->isConnected());
        const std::size_t before = server_->methodsSeen().size();
        const RpcReply r = callAndWait("echo", {{"blob", std::string(17u << 20, 'a')}});
        QCOMPARE(r.status, RpcReply::Status::Refused);
        QVERIFY(r.describe().contains("limit"));
        QVERIFY(client_->isConnected());
        QVERIFY(callAndWait("status").ok());
        QCOMPARE(server_->methodsSeen().size(), before + 1);
    }

    void refusedHandshakeIsExplainedAndRetried() {
        server_->refuseHello(proxy::control::RpcError::make(
            errc::kHandshakeRequired, "protocol 1 is not supported", {{"supported", {2}}}));
        startClient();
        QTRY_VERIFY(client_->lastError().contains("protocol 1 is not supported"));
        QVERIFY(!client_->isConnected());
        QTRY_VERIFY(server_->helloCount() >= 2);  // with backoff, not a tight loop
        server_->refuseHello(std::nullopt);
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 10000);
    }

    void callbackOfADeadContextNeverRuns() {
        server_->on("slow", [](const Json&) { return FakeControlServer::Answer::none(); });
        startClient();
        QTRY_VERIFY(client_->isConnected());
        bool ran = false;
        auto context = std::make_unique<QObject>();
        const auto id = client_->call(
            "slow", Json::object(), context.get(), [&](const RpcReply&) { ran = true; }, 60000);
        QVERIFY(id > 0);
        context.reset();
        server_->sendRawToAll(QByteArray::fromStdString(
            proxy::control::encodeFrame(proxy::control::makeResult(Json(id), Json::object()))));
        QVERIFY(callAndWait("status").ok());  // the answer above was read before this one
        QVERIFY(!ran);
    }

    void changingTheEndpointReconnects() {
        startClient();
        QTRY_VERIFY(client_->isConnected());
        FakeControlServer other;
        const QString otherPath = dir_.filePath("other.sock");
        QVERIFY(other.listen(otherPath));
        client_->setEndpoint(otherPath);
        QTRY_VERIFY(client_->isConnected());
        QTRY_COMPARE(other.helloCount(), 1);
        QCOMPARE(client_->endpoint(), otherPath);
    }
};

QTEST_GUILESS_MAIN(ServiceClientTest)
#include "service_client_test.moc"
