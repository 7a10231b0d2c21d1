// Integration tests of the data plane: the real proxy-service executable between a raw client and
// in-process fake origins. Each behaviour and each hostile input has its own check.

#include <signal.h>

#include <QTest>
#include <nlohmann/json.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "fake_origin.h"
#include "proxy_process.h"
#include "raw_client.h"

using namespace proxy::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

json baseConfig(int port, int a, int b, int dead, int port6 = 0) {
    auto server = [](int p, int maxConnections = 0) {
        json s = {{"address", "127.0.0.1:" + std::to_string(p)}};
        if (maxConnections) s["max_connections"] = maxConnections;
        return s;
    };
    json routeHeaders = {{"set", {{"X-Route", "api"}}},
                         {"add", {{"X-Client", "${client_ip}"}}},
                         {"remove", json::array({"X-Remove-Me"})}};
    return {
        {"workers", 2},
        {"control", {{"endpoint", "/tmp/proxy-engine-test-" + std::to_string(port) + ".sock"}}},
        {"limits", {{"max_body_bytes", 1 << 20}}},
        {"timeouts",
         {{"header_ms", 600}, {"client_idle_ms", 5000}, {"upstream_connect_ms", 1000},
          {"upstream_response_ms", 1000}, {"tunnel_idle_ms", 5000}, {"shutdown_ms", 5000}}},
        {"listeners", port6 == 0 ? json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port)}}})
                                 : json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port)}},
                                                {{"name", "v6"}, {"address", "[::1]:" + std::to_string(port6)}}})},
        {"upstreams",
         json::array({
             {{"name", "pool"}, {"servers", json::array({server(a), server(b)})}},
             {{"name", "a"}, {"servers", json::array({server(a)})}},
             {{"name", "b"}, {"servers", json::array({server(b)})}},
             {{"name", "dead"}, {"servers", json::array({server(dead)})}},
             {{"name", "limited"}, {"servers", json::array({server(a, 1)})}},
         })},
        {"routes",
         json::array({
             {{"name", "exact-host"}, {"match", {{"host", "exact.test"}}}, {"upstream", "b"}},
             {{"name", "wild"}, {"match", {{"host", "*.wild.test"}}}, {"upstream", "b"}},
             {{"name", "rr"}, {"match", {{"path_prefix", "/rr/"}}}, {"upstream", "pool"}},
             {{"name", "api"},
              {"match", {{"path_prefix", "/api/"}}},
              {"rewrite", {{"strip_prefix", "/api"}}},
              {"request_headers", routeHeaders},
              {"response_headers", {{"set", {{"X-Served-By", "proxy"}}}}},
              {"upstream", "a"}},
             {{"name", "exact-path"}, {"match", {{"path_exact", "/exact"}}}, {"upstream", "b"}},
             {{"name", "regex"},
              {"match", {{"path_regex", "^/re/[0-9]+$"}}},
              {"rewrite", {{"regex", "^/re/([0-9]+)$"}, {"replacement", "/num/$1"}}},
              {"upstream", "b"}},
             {{"name", "post-only"},
              {"match", {{"path_prefix", "/method"}, {"methods", json::array({"POST"})}}},
              {"upstream", "b"}},
             {{"name", "canary"},
              {"match", {{"path_prefix", "/hdr"}, {"headers", {{"X-Canary", "1"}}}}},
              {"upstream", "b"}},
             {{"name", "dead"}, {"match", {{"path_prefix", "/dead"}}}, {"upstream", "dead"}},
             {{"name", "limited"},
              {"match", {{"path_prefix", "/limited/"}}},
              {"rewrite", {{"strip_prefix", "/limited"}}},
              {"upstream", "limited"}},
             {{"name", "all"}, {"match", {{"host", "*"}, {"path_prefix", "/"}}}, {"upstream", "a"}},
         })},
    };
}

// The request body that FakeOrigin's /echo sent back (what follows its "\n--\n"), or "<no echo>".
std::string echoedBody(const std::string& responseBody) {
    const auto sep = responseBody.find("\n--\n");
    return sep == std::string::npos ? std::string("<no echo>") : responseBody.substr(sep + 4);
}

// True when a send fails within a second: the peer's socket is closed (the first send after the
// close only draws the reset; a later one fails).
bool sendsMeetAReset(RawClient& c) {
    for (int i = 0; i < 20; ++i) {
        if (!c.send("late")) return true;
        QThread::msleep(50);
    }
    return false;
}

std::string get(const std::string& target, const std::string& host = "test.local",
                const std::string& extra = {}) {
    return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

}  // namespace

class ProxyEngineTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<FakeOrigin> a_, b_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    int port6_ = 0;  // a second listener, on IPv6 loopback
    json config_;

    std::size_t forwardedSoFar() const { return a_->requestCount() + b_->requestCount(); }

private slots:
    void initTestCase() {
        a_ = std::make_unique<FakeOrigin>("A");
        b_ = std::make_unique<FakeOrigin>("B");
        port_ = freePort();
        port6_ = freePort();
        config_ = baseConfig(port_, a_->port(), b_->port(), freePort(), port6_);
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(config_.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        QCOMPARE(proxy_->stop(), 0);
        QVERIFY2(proxy_->output().contains("stopped"), qPrintable(proxy_->output()));
    }

    void roundRobinSpreadsRequests() {
        int fromA = 0, fromB = 0;
        for (int i = 0; i < 6; ++i) {
            const auto r = roundTrip(port_, get("/rr/" + std::to_string(i)));
            QVERIFY(r.ok);
            QCOMPARE(r.status, 200);
            if (r.body.starts_with("A ")) ++fromA;
            if (r.body.starts_with("B ")) ++fromB;
        }
        // Two workers each keep their own rotation; together the split stays even within one.
        QVERIFY2(fromA >= 2 && fromB >= 2, qPrintable(QString("A=%1 B=%2").arg(fromA).arg(fromB)));
        QCOMPARE(fromA + fromB, 6);
    }

    void ipv6ListenerServesToo() {
        RawClient c;
        QVERIFY(c.connect6(port6_));
        QVERIFY(c.send(get("/echo")));
        const auto r = c.readResponse();
        QCOMPARE(r.status, 200);
        QVERIFY2(r.body.find("X-Forwarded-For: ::1\r\n") != std::string::npos, r.body.c_str());
    }

    void keepAliveReusesUpstreamConnections() {
        RawClient c;
        QVERIFY(c.connect(port_));
        const int before = a_->connectionsAccepted();
        for (int i = 0; i < 5; ++i) {
            QVERIFY(c.send(get("/keep/" + std::to_string(i))));
            const auto r = c.readResponse();
            QVERIFY(r.ok);
            QCOMPARE(r.status, 200);
            QCOMPARE(QString::fromStdString(r.body), QString("A GET /keep/%1").arg(i));
            QVERIFY(!r.has("connection") || r.header("connection") != "close");
        }
        QVERIFY2(a_->connectionsAccepted() - before <= 1,
                 qPrintable(QString::number(a_->connectionsAccepted() - before)));
    }

    // Hundreds of clients go idle together: after a second the sweep trims each session's
    // per-request memory in one batch (and hands free memory back to the OS). Every connection
    // must still serve its next requests, head buffer, arenas and output buffer made anew.
    void idleConnectionsTrimmedInBulkServeAgain() {
        constexpr int kClients = 640;  // over Worker::kTrimReleaseThreshold on each of two workers
        std::vector<std::unique_ptr<RawClient>> clients;
        for (int i = 0; i < kClients; ++i) {
            auto c = std::make_unique<RawClient>();
            QVERIFY2(c->connect(port_), qPrintable(QString("client %1").arg(i)));
            // One at a time, so the origin side needs a connection or two, not hundreds.
            QVERIFY(c->send(get("/bulk/" + std::to_string(i))));
            const auto r = c->readResponse();
            QVERIFY2(r.ok && r.status == 200, qPrintable(QString("first answer to client %1").arg(i)));
            clients.push_back(std::move(c));
        }
        QTest::qWait(2500);  // idle for more than a second, and a sweep or two
        for (int round = 0; round < 2; ++round) {
            for (int i = 0; i < kClients; ++i) {
                QVERIFY(clients[i]->send(get("/bulk/" + std::to_string(i) + "/again" + std::to_string(round))));
                const auto r = clients[i]->readResponse();
                QVERIFY2(r.ok, qPrintable(QString("client %1, round %2").arg(i).arg(round)));
                QCOMPARE(r.status, 200);
                QCOMPARE(QString::fromStdString(r.body),
                         QString("A GET /bulk/%1/again%2").arg(i).arg(round));
            }
        }
    }

    void originClosingIdleConnectionsLosesNothing() {
        // The origin answers as if keeping the connection alive, then closes it: every pooled
        // connection is stale by the next request. GETs (retry-safe: the pool skips its peek for
        // a connection returned moments ago) are sent again on a fresh connection; POSTs with a
        // body have the pool peek, so they never go out on a connection already closed (the
        // test lets the origin's close arrive first: a close that comes after the peek is a race
        // no proxy can win for a non-idempotent request). Nothing may fail.
        RawClient c;
        QVERIFY(c.connect(port_));
        const int before = a_->connectionsAccepted();
        for (int i = 0; i < 10; ++i) {
            const bool post = i % 2 == 1;
            // Before a POST: the origin has closed the connection that carried the GET before it.
            // (A GET goes at once, while its connection is inside the pool's fresh window.)
            if (post) {
                const int previous = a_->requests().back().connection;
                QTRY_VERIFY_WITH_TIMEOUT(a_->connectionClosed(previous), 5000);
            }
            QVERIFY(c.send(post ? "POST /quiet-close HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                                : get("/quiet-close")));
            const auto r = c.readResponse();
            QVERIFY(r.ok);
            QVERIFY2(r.status == 200, qPrintable(QString("request %1 (%2): %3 %4").arg(i).arg(post ? "POST" : "GET")
                                                     .arg(r.status).arg(QString::fromStdString(r.body))));
            QCOMPARE(QString::fromStdString(r.body), QString(post ? "quiet A POST" : "quiet A GET"));
        }
        // A fresh origin connection for every request after the first (which may reuse one an
        // earlier test left in the pool): none was reused after its close.
        QVERIFY2(a_->connectionsAccepted() - before >= 9,
                 qPrintable(QString::number(a_->connectionsAccepted() - before)));
    }

    void forwardingHeadersAreAdded() {
        const auto r = roundTrip(port_, get("/echo", "Shop.Test:8080", "X-Forwarded-For: 10.1.1.1\r\n"));
        QCOMPARE(r.status, 200);
        const std::string& echoed = r.body;
        QVERIFY2(echoed.find("X-Forwarded-For: 10.1.1.1, 127.0.0.1\r\n") != std::string::npos, echoed.c_str());
        QVERIFY(echoed.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
        QVERIFY(echoed.find("X-Forwarded-Host: Shop.Test:8080\r\n") != std::string::npos);
        QVERIFY(echoed.find("Via: 1.1 proxy\r\n") != std::string::npos);
        QVERIFY(echoed.find("Host: Shop.Test:8080\r\n") != std::string::npos);
        QVERIFY(!r.header("x-request-id").empty());
        QVERIFY(echoed.find("X-Request-Id: " + r.header("x-request-id")) != std::string::npos);
        QCOMPARE(QString::fromStdString(r.header("via")), QString("1.1 proxy"));
    }

    void requestIdIsPropagated() {
        const auto r = roundTrip(port_, get("/echo", "x", "X-Request-Id: trace-abc-123\r\n"));
        QCOMPARE(r.header("x-request-id"), std::string("trace-abc-123"));
        QVERIFY(r.body.find("X-Request-Id: trace-abc-123\r\n") != std::string::npos);
        // A hostile id is replaced, not forwarded.
        const auto bad = roundTrip(port_, get("/echo", "x", "X-Request-Id: <script>\r\n"));
        QVERIFY(bad.body.find("<script>") == std::string::npos);
    }

    void hopByHopHeadersAreRemoved() {
        const auto r = roundTrip(port_, get("/echo", "x",
                                            "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
                                            "Keep-Alive: timeout=5\r\nTE: trailers\r\n"
                                            "Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n"));
        QCOMPARE(r.status, 200);
        const std::string head = r.body.substr(0, r.body.find("\n--\n"));
        for (const char* gone : {"X-Secret", "Keep-Alive", "TE:", "Proxy-Connection", "Connection:"})
            QVERIFY2(head.find(gone) == std::string::npos, gone);
        QVERIFY(head.find("X-Kept: yes") != std::string::npos);
    }

    void routing_data() {
        QTest::addColumn<QString>("method");
        QTest::addColumn<QString>("host");
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("extra");
        QTest::addColumn<QString>("expected");
        QTest::newRow("exact host") << "GET" << "exact.test" << "/x" << "" << "B GET /x";
        QTest::newRow("exact host, any case and port") << "GET" << "EXACT.test:81" << "/x" << "" << "B GET /x";
        QTest::newRow("exact host beats prefix") << "GET" << "exact.test" << "/api/x" << "" << "B GET /api/x";
        QTest::newRow("wildcard host") << "GET" << "a.wild.test" << "/y" << "" << "B GET /y";
        QTest::newRow("wildcard needs a label") << "GET" << "wild.test" << "/y" << "" << "A GET /y";
        QTest::newRow("path exact") << "GET" << "h" << "/exact" << "" << "B GET /exact";
        QTest::newRow("path exact only exact") << "GET" << "h" << "/exact/more" << "" << "A GET /exact/more";
        QTest::newRow("path regex and rewrite") << "GET" << "h" << "/re/42" << "" << "B GET /num/42";
        QTest::newRow("path regex no match") << "GET" << "h" << "/re/4x" << "" << "A GET /re/4x";
        QTest::newRow("query kept") << "GET" << "h" << "/re/7?q=1" << "" << "B GET /num/7?q=1";
        QTest::newRow("method match") << "POST" << "h" << "/method" << "Content-Length: 0\r\n" << "B POST /method";
        QTest::newRow("method mismatch") << "GET" << "h" << "/method" << "" << "A GET /method";
        QTest::newRow("header match") << "GET" << "h" << "/hdr" << "X-Canary: 1\r\n" << "B GET /hdr";
        QTest::newRow("header mismatch") << "GET" << "h" << "/hdr" << "X-Canary: 2\r\n" << "A GET /hdr";
        QTest::newRow("strip prefix") << "GET" << "h" << "/api/v1/items" << "" << "A GET /v1/items";
        QTest::newRow("absolute-form target") << "GET" << "ignored" << "http://exact.test/abs" << "" << "B GET /abs";
    }

    void routing() {
        QFETCH(QString, method);
        QFETCH(QString, host);
        QFETCH(QString, target);
        QFETCH(QString, extra);
        QFETCH(QString, expected);
        const std::string request = method.toStdString() + " " + target.toStdString() +
                                    " HTTP/1.1\r\nHost: " + host.toStdString() + "\r\n" +
                                    extra.toStdString() + "\r\n";
        const auto r = roundTrip(port_, request);
        QVERIFY(r.ok);
        QCOMPARE(QString::fromStdString(r.body), expected);
    }

    void routeHeaderRules() {
        const auto r = roundTrip(port_, get("/api/echo", "h", "X-Remove-Me: 1\r\nX-Route: client\r\n"));
        QCOMPARE(r.status, 200);
        QVERIFY2(r.body.starts_with("GET /echo HTTP/1.1\r\n"), r.body.c_str());
        QVERIFY(r.body.find("X-Route: api\r\n") != std::string::npos);
        QVERIFY(r.body.find("X-Route: client") == std::string::npos);
        QVERIFY(r.body.find("X-Client: 127.0.0.1\r\n") != std::string::npos);
        QVERIFY(r.body.find("X-Remove-Me") == std::string::npos);
        QCOMPARE(r.header("x-served-by"), std::string("proxy"));
    }

    void postBodyIsStreamed() {
        std::string body(512 * 1024, '\0');
        for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
        const auto r = roundTrip(port_, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n\r\n" + body);
        QCOMPARE(r.status, 200);
        QVERIFY(echoedBody(r.body) == body);
    }

    void longBodiesOnOneConnection() {
        // Long bodies are read in larger pieces once they turn out long (the upstream connection's
        // buffer grows, then shrinks when it goes back to the pool): every byte arrives, in
        // order, for content-length and chunked responses and a long upload, and the connection
        // goes on to serve small answers.
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/big/1048577")));
        auto r = c.readResponse();
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body.size(), std::size_t(1048577));
        QVERIFY(r.body.find_first_not_of('x') == std::string::npos);
        QVERIFY(c.send(get("/gen?kind=random&len=1500000&framing=chunked")));
        r = c.readResponse();
        QCOMPARE(r.status, 200);
        QVERIFY(r.body == FakeOrigin::generatedBody("random", 1500000));
        const std::string upload = FakeOrigin::generatedBody("random", 900000);
        QVERIFY(c.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(upload.size()) +
                       "\r\n\r\n" + upload));
        r = c.readResponse();
        QCOMPARE(r.status, 200);
        QVERIFY(echoedBody(r.body) == upload);
        for (int i = 0; i < 3; ++i) {
            QVERIFY(c.send(get("/big/5")));
            r = c.readResponse();
            QCOMPARE(r.status, 200);
            QCOMPARE(QString::fromStdString(r.body), QString("xxxxx"));
        }
    }

    void chunkedRequestBody() {
        const auto r = roundTrip(port_,
                                 "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n");
        QCOMPARE(r.status, 200);
        QCOMPARE(QString::fromStdString(echoedBody(r.body)), QString("Wikipedia"));
        QVERIFY(r.body.find("Transfer-Encoding: chunked") != std::string::npos);
    }

    void chunkedResponse() {
        const auto r = roundTrip(port_, get("/chunked"));
        QCOMPARE(r.status, 200);
        QVERIFY(r.chunked);
        QCOMPARE(QString::fromStdString(r.body), QString("alphabetagamma"));
    }

    void closeDelimitedResponse() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/until-close")));
        auto r = c.readResponse();
        QCOMPARE(r.status, 200);
        QVERIFY(r.chunked);  // an HTTP/1.1 client gets chunks, and keeps its connection
        QCOMPARE(QString::fromStdString(r.body), QString("streamed-until-close"));
        QVERIFY(c.send(get("/after")));
        QCOMPARE(QString::fromStdString(c.readResponse().body), QString("A GET /after"));
        // An HTTP/1.0 client learns the end from the close.
        const auto old = roundTrip(port_, "GET /until-close HTTP/1.0\r\nHost: h\r\n\r\n");
        QVERIFY(old.ok);
        QVERIFY(!old.chunked);
        QCOMPARE(QString::fromStdString(old.body), QString("streamed-until-close"));
    }

    void expectContinue() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send("POST /continue HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
        const auto interim = c.readResponse(5s);
        QCOMPARE(interim.status, 100);
        QVERIFY(c.send("hello"));
        const auto r = c.readResponse();
        QCOMPARE(r.status, 200);
        QVERIFY(r.body.ends_with("\n--\nhello"));
    }

    void earlyHintsAreForwarded() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/early-hints")));
        const auto hint = c.readResponse();
        QCOMPARE(hint.status, 103);
        QCOMPARE(hint.header("link"), std::string("</style.css>; rel=preload"));
        const auto r = c.readResponse();
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body, std::string("hinted"));
    }

    void bodilessResponses() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"));
        const auto head = c.readResponse(5s, true);
        QCOMPARE(head.status, 200);
        QCOMPARE(head.header("content-length"), std::string("9"));  // the origin's length for "A HEAD /x"
        for (const char* code : {"204", "304"}) {
            QVERIFY(c.send(get(std::string("/status/") + code)));
            const auto r = c.readResponse();
            QCOMPARE(r.status, std::atoi(code));
            QVERIFY(r.body.empty());
        }
        // The connection is still in step: the next answer is the next request's.
        QVERIFY(c.send(get("/in-step")));
        QCOMPARE(QString::fromStdString(c.readResponse().body), QString("A GET /in-step"));
    }

    void pipelinedRequestsAnswerInOrder() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/p/1") + get("/slow/200") + get("/p/3", "exact.test")));
        QCOMPARE(QString::fromStdString(c.readResponse().body), QString("A GET /p/1"));
        QCOMPARE(QString::fromStdString(c.readResponse().body), QString("slow A"));
        QCOMPARE(QString::fromStdString(c.readResponse().body), QString("B GET /p/3"));
    }

    void webSocketTunnel() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        const auto r = c.readResponse(5s, true);
        QCOMPARE(r.status, 101);
        QCOMPARE(r.header("upgrade"), std::string("websocket"));
        QVERIFY(c.send("ping-1"));
        QCOMPARE(c.readBytes(6), std::string("ping-1"));
        QVERIFY(c.send(std::string(100000, 'w')));
        QCOMPARE(c.readBytes(100000).size(), std::size_t(100000));
        const auto origin = a_->requests().back();
        QCOMPARE(origin.header("Upgrade"), std::string("websocket"));
        QCOMPARE(origin.header("Connection"), std::string("upgrade"));
    }

    void connectionRefusedIs502() {
        const auto r = roundTrip(port_, get("/dead"));
        QCOMPARE(r.status, 502);
        QVERIFY(r.body.find("request id: " + r.header("x-request-id")) != std::string::npos);
    }

    void upstreamTimeoutIs504() {
        const auto r = roundTrip(port_, get("/slow/2500"));
        QCOMPARE(r.status, 504);
    }

    void noServerAvailableIs503() {
        RawClient busy;
        QVERIFY(busy.connect(port_));
        QVERIFY(busy.send(get("/limited/slow/700")));
        QThread::msleep(200);  // the first request now holds the only slot
        const auto r = roundTrip(port_, get("/limited/x"));
        QCOMPARE(r.status, 503);
        QCOMPARE(busy.readResponse().status, 200);
    }

    void upstreamDyingMidBodyClosesClient() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/die-mid-body")));
        const auto r = c.readResponse(5s);
        QVERIFY(!r.ok);  // never passed off as complete
        QVERIFY(c.closedByPeer());
    }

    void invalidUpstreamResponseIs502() {
        const auto r = roundTrip(port_, get("/bad-response"));
        QCOMPARE(r.status, 502);
    }

    void hostileRequests_data() {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<int>("status");
        const QByteArray h = "Host: h\r\n";
        QTest::newRow("CL and TE") << ("POST /echo HTTP/1.1\r\n" + h + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << 400;
        QTest::newRow("two different CL") << ("POST /echo HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!") << 400;
        QTest::newRow("CL with sign") << ("POST /echo HTTP/1.1\r\n" + h + "Content-Length: +5\r\n\r\nhello") << 400;
        QTest::newRow("CL hex") << ("POST /echo HTTP/1.1\r\n" + h + "Content-Length: 0x5\r\n\r\nhello") << 400;
        QTest::newRow("TE gzip") << ("POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\n") << 501;
        QTest::newRow("TE chunked not last") << ("POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, gzip\r\n\r\n") << 501;
        QTest::newRow("TE on HTTP/1.0") << ("POST /echo HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << 400;
        QTest::newRow("chunk size overflow") << ("POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n") << 400;
        QTest::newRow("bad chunk extension") << ("POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5;=bad\r\nhello\r\n0\r\n\r\n") << 400;
        QTest::newRow("bare LF in chunk") << ("POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n") << 400;
        QTest::newRow("bare LF in head") << QByteArray("GET /echo HTTP/1.1\nHost: h\r\n\r\n") << 400;
        QTest::newRow("obs-fold") << ("GET /echo HTTP/1.1\r\n" + h + "X-A: 1\r\n  folded\r\n\r\n") << 400;
        QTest::newRow("space before colon") << ("GET /echo HTTP/1.1\r\n" + h + "X-A : 1\r\n\r\n") << 400;
        QTest::newRow("NUL in value") << ("GET /echo HTTP/1.1\r\n" + h + QByteArray("X-A: a\0b\r\n\r\n", 12)) << 400;
        QTest::newRow("CTL in name") << ("GET /echo HTTP/1.1\r\n" + h + "X\x01" "A: 1\r\n\r\n") << 400;
        QTest::newRow("missing Host") << QByteArray("GET /echo HTTP/1.1\r\n\r\n") << 400;
        QTest::newRow("duplicate Host") << ("GET /echo HTTP/1.1\r\n" + h + h + "\r\n") << 400;
        QTest::newRow("unknown version") << ("GET /echo HTTP/2.0\r\n" + h + "\r\n") << 505;
        QTest::newRow("CONNECT") << ("CONNECT example.com:443 HTTP/1.1\r\n" + h + "\r\n") << 405;
        QTest::newRow("request line too long") << ("GET /" + QByteArray(9000, 'a') + " HTTP/1.1\r\n" + h + "\r\n") << 414;
        QTest::newRow("header section too large") << ("GET /echo HTTP/1.1\r\n" + h + "X-Big: " + QByteArray(70000, 'b') + "\r\n\r\n") << 431;
        QTest::newRow("body over the limit (CL)") << ("POST /echo HTTP/1.1\r\n" + h + "Content-Length: 2000000\r\n\r\n") << 413;
        QTest::newRow("body over the limit (chunked)") << ("POST /echo HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n200000\r\n" + QByteArray(0x200000, 'z') + "\r\n0\r\n\r\n") << 413;
    }

    void hostileRequests() {
        QFETCH(QByteArray, request);
        QFETCH(int, status);
        const std::size_t before = forwardedSoFar();
        RawClient c;
        QVERIFY(c.connect(port_));
        // A follow-up request rides along: nothing after the error may be forwarded either.
        c.send(request.toStdString() + get("/must-not-arrive"));
        const auto r = c.readResponse(10s);
        QCOMPARE(r.status, status);
        QCOMPARE(r.header("connection"), std::string("close"));
        QVERIFY(c.closedByPeer());
        QThread::msleep(50);
        QCOMPARE(forwardedSoFar(), before);
    }

    // An upload refused before its body is read (413): the client may still be sending. Closing at
    // once would make the kernel answer its bytes with a reset, and a reset can destroy the answer
    // before the client reads it. So the proxy shuts its side (the client sees the 413, then EOF)
    // and reads on until the client stops: the client's later bytes are taken, not reset.
    void refusedUploadGetsALingeringClose() {
        RawClient c;
        QVERIFY(c.connect(port_));
        const std::string chunk(64 * 1024, 'u');
        QVERIFY(c.send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n" + chunk));
        const auto r = c.readResponse(5s);
        QCOMPARE(r.status, 413);
        QCOMPARE(r.header("connection"), std::string("close"));
        QVERIFY(c.closedByPeer(5s));
        QThread::msleep(200);  // a reset, if one were coming, is here by now
        for (int i = 0; i < 8; ++i) {
            QVERIFY2(c.send(chunk), "the proxy reset an upload it had refused");
            QThread::msleep(20);
        }
        // Bounded: a client that goes quiet is closed within kLingerIdle (2 s) and the sweep.
        QThread::msleep(3500);
        QVERIFY2(sendsMeetAReset(c), "the lingering close never ended");
    }

    // The usual end (the client asked for close, nothing unread) does not linger: the socket is
    // closed at once, so bytes sent after the answer meet a reset.
    void requestedCloseEndsAtOnce() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/", "test.local", "Connection: close\r\n")));
        const auto r = c.readResponse(5s);
        QCOMPARE(r.status, 200);
        QVERIFY(c.closedByPeer(5s));
        QVERIFY2(sendsMeetAReset(c), "the proxy kept a finished connection open");
    }

    void slowHeadersGet408() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send("GET /slow-loris HTTP/1.1\r\nHost: h\r\n"));
        const auto started = std::chrono::steady_clock::now();
        const std::string answer = c.readUntilClose(5s);
        const auto waited = std::chrono::steady_clock::now() - started;
        QVERIFY2(answer.starts_with("HTTP/1.1 408 "), answer.c_str());
        QVERIFY(waited < 3s);
        QVERIFY(c.closedByPeer(1s));
    }

    void reloadKeepsOpenConnections() {
        // A long download and a WebSocket are open when the routing changes.
        RawClient download;
        QVERIFY(download.connect(port_));
        QVERIFY(download.send(get("/limited/slow/900")));
        RawClient ws;
        QVERIFY(ws.connect(port_));
        QVERIFY(ws.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
        QCOMPARE(ws.readResponse(5s, true).status, 101);

        json changed = config_;
        for (auto& route : changed["routes"])
            if (route["name"] == "all") route["upstream"] = "b";
        QVERIFY(proxy_->writeConfig(changed.dump(2)));
        proxy_->signal(SIGHUP);
        QTRY_COMPARE_WITH_TIMEOUT(QString::fromStdString(roundTrip(port_, get("/after-reload")).body),
                                  QString("B GET /after-reload"), 5000);
        QVERIFY(ws.send("still-here"));
        QCOMPARE(ws.readBytes(10), std::string("still-here"));
        QCOMPARE(download.readResponse().status, 200);

        // An invalid config is refused and traffic goes on with the running one.
        QVERIFY(proxy_->writeConfig("{ \"listeners\": 12 }"));
        proxy_->signal(SIGHUP);
        QThread::msleep(300);
        QCOMPARE(QString::fromStdString(roundTrip(port_, get("/still")).body), QString("B GET /still"));
        QVERIFY(proxy_->writeConfig(config_.dump(2)));
        proxy_->signal(SIGHUP);
        QTRY_COMPARE_WITH_TIMEOUT(QString::fromStdString(roundTrip(port_, get("/back")).body),
                                  QString("A GET /back"), 5000);
    }

    void gracefulStopFinishesInFlight() {
        FakeOrigin origin("G"), other("H");
        const int port = freePort();
        json cfg = baseConfig(port, origin.port(), other.port(), freePort());
        ProxyProcess proxy;
        QVERIFY2(proxy.start(cfg.dump(), port), qPrintable(proxy.output()));
        RawClient c;
        QVERIFY(c.connect(port));
        QVERIFY(c.send(get("/slow/800")));
        QThread::msleep(200);
        proxy.signal(SIGTERM);
        const auto r = c.readResponse();
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("connection"), std::string("close"));
        QCOMPARE(proxy.stop(), 0);
        // And it no longer accepts.
        RawClient late;
        QVERIFY(!late.connect(port, 200ms));
    }
};

QTEST_GUILESS_MAIN(ProxyEngineTest)
#include "proxy_engine_test.moc"
