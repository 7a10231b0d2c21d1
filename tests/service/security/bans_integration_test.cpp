// Temporary bans and state that survives a reload, against the real service: a client that keeps
// tripping its rate limit is banned (403), for longer each time; `proxyctl security bans` shows it
// and `proxyctl security unban` lifts it; a reload keeps the rate buckets of an unchanged limit
// and the bans; a banned peer is refused at accept.
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <QTest>
#include <csignal>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string get(const std::string& target, const std::string& xff) {
    return "GET " + target + " HTTP/1.1\r\nHost: bans.test\r\nX-Forwarded-For: " + xff + "\r\n\r\n";
}

}  // namespace

class BansIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;
    json config_;

    int status(const std::string& client, const std::string& path = "/limited/x") {
        return roundTrip(port_, get(path, client)).status;
    }

    json proxyctl(const QStringList& args, int* exitCode = nullptr, QString* text = nullptr) {
        const ProxyctlResult r = runProxyctl(endpoint_, args);
        if (exitCode) *exitCode = r.exitCode;
        if (text) *text = QString::fromUtf8(r.out);
        return r.json();
    }

    json banOf(const std::string& address) {
        const json out = proxyctl({"--json", "security", "bans"});
        if (!out.is_object()) return json();
        for (const auto& c : out["clients"])
            if (c["address"] == address) return c;
        return json();
    }

    // Trips the limit until the client is banned; returns the number of requests it took.
    int tripUntilBanned(const std::string& client) {
        for (int i = 1; i <= 20; ++i)
            if (status(client) == 403) return i;
        return -1;
    }

private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("A");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-bans-test-" + std::to_string(port_) + "/control.sock";
        config_ = {{"workers", 2},
                   {"control", {{"endpoint", endpoint_}}},
                   {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
                   {"upstreams", json::array({{{"name", "app"},
                                               {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(origin_->port())}}})}}})},
                   // The test's own peer is a trusted proxy, so X-Forwarded-For names the client
                   // and a banned client is refused per request (403), not at accept.
                   {"security", {{"trusted_proxies", {"127.0.0.0/8"}},
                                 {"bans", {{"strikes", 3}, {"window_ms", 10000}, {"ban_ms", 1500}, {"max_ban_ms", 60000}}}}},
                   {"routes", json::array({
                       {{"name", "limited"}, {"match", {{"path_prefix", "/limited/"}}}, {"upstream", "app"},
                        {"security", {{"rate_limit", {{"requests_per_second", 1}, {"burst", 2}}}}}},
                       {{"name", "drain"}, {"match", {{"path_prefix", "/drain/"}}}, {"upstream", "app"},
                        {"security", {{"rate_limit", {{"requests_per_second", 1}, {"burst", 5}}}}}},
                       {{"name", "main"}, {"upstream", "app"}}})}};
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(config_.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
    }

    void repeatedRefusalsBanForAGrowingInterval() {
        const std::string client = "198.51.100.7";
        // Burst 2, then three 429s (the third starts the ban), then 403: at least 6 requests.
        const int took = tripUntilBanned(client);
        QVERIFY2(took >= 6 && took <= 8, qPrintable(QString::number(took)));
        const auto banned = roundTrip(port_, get("/x", client));  // every route: the client is banned
        QCOMPARE(banned.status, 403);
        QVERIFY(banned.body.find("banned") != std::string::npos);
        QCOMPARE(status("198.51.100.8", "/x"), 200);  // nobody else is
        json ban = banOf(client);
        QVERIFY2(ban.is_object(), proxyctl({"--json", "security", "bans"}).dump().c_str());
        QCOMPARE(ban["banned"].get<bool>(), true);
        QCOMPARE(ban["bans"].get<int>(), 1);
        QCOMPARE(ban["ban_ms"].get<int>(), 1500);
        QCOMPARE(ban["reason"].get<std::string>(), std::string("rate-limit"));
        QVERIFY(ban["remaining_ms"].get<int>() > 0 && ban["remaining_ms"].get<int>() <= 1500);
        // The ban ends by itself...
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 10000 && status(client, "/x") == 403) QThread::msleep(100);
        QCOMPARE(status(client, "/x"), 200);
        // ... and the next one is twice as long.
        QVERIFY(tripUntilBanned(client) > 0);
        ban = banOf(client);
        QCOMPARE(ban["bans"].get<int>(), 2);
        QCOMPARE(ban["ban_ms"].get<int>(), 3000);
        // The error log says who was banned, for how long and why.
        QVERIFY2(proxy_->output().contains("banned 198.51.100.7 for 3000 ms (ban 2) after 3 refusals, the last: rate-limit"),
                 qPrintable(proxy_->output().right(1500)));
    }

    void unbanThroughProxyctl() {
        const std::string client = "198.51.100.7";
        QCOMPARE(status(client, "/x"), 403);
        QString text;
        proxyctl({"security", "bans"}, nullptr, &text);
        QVERIFY2(text.contains("198.51.100.7") && text.contains("banned now"), qPrintable(text));
        int exit = -1;
        proxyctl({"security", "unban", "198.51.100.7"}, &exit, &text);
        QCOMPARE(exit, 0);
        QVERIFY2(text.contains("unbanned"), qPrintable(text));
        QCOMPARE(status(client, "/x"), 200);
        QVERIFY(banOf(client).is_null());  // forgotten, strikes and all
        // Bad input is a clear error, not a crash.
        proxyctl({"security", "unban", "not-an-address"}, &exit, &text);
        QCOMPARE(exit, 1);
        proxyctl({"security", "unban", "198.51.100.99"}, &exit, &text);
        QCOMPARE(exit, 0);
        QVERIFY2(text.contains("was not banned"), qPrintable(text));
    }

    void reloadKeepsBucketsAndBans() {
        // One client empties its bucket, another gets banned; then the config is reloaded with a
        // change elsewhere (a new route).
        const std::string drained = "198.51.100.20", banned = "198.51.100.21";
        QElapsedTimer sinceDrain;
        sinceDrain.start();
        for (int i = 0; i < 5; ++i) QCOMPARE(status(drained, "/drain/x"), 200);
        QVERIFY(tripUntilBanned(banned) > 0);
        json next = config_;
        next["routes"].insert(next["routes"].begin(),
                              json{{"name", "extra"}, {"match", {{"path_prefix", "/extra/"}}}, {"upstream", "app"}});
        QVERIFY(proxy_->writeConfig(next.dump(2)));
        proxy_->signal(SIGHUP);
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 15000 && status("198.51.100.30", "/extra/x") != 200) QThread::msleep(50);
        QCOMPARE(status("198.51.100.30", "/extra/x"), 200);  // the new config is in force
        // The bucket kept its state: it refilled at 1/s since the drain, it did not start over
        // with a fresh burst of 5.
        int passed = 0;
        for (int i = 0; i < 5; ++i) passed += status(drained, "/drain/x") == 200 ? 1 : 0;
        const qint64 refilled = sinceDrain.elapsed() / 1000 + 1;
        QVERIFY2(passed <= refilled, qPrintable(QStringLiteral("%1 passed, %2 s").arg(passed).arg(refilled)));
        if (refilled < 5) QVERIFY(passed < 5);
        QCOMPARE(status(banned, "/x"), 403);
        QCOMPARE(banOf(banned)["banned"].get<bool>(), true);
    }

    void requestsPerConnection() {
        FakeOrigin origin("C");
        const int port = freePort();
        json c = config_;
        c["control"]["endpoint"] = endpoint_ + ".c";
        c["listeners"][0]["address"] = "127.0.0.1:" + std::to_string(port);
        c["upstreams"][0]["servers"][0]["address"] = "127.0.0.1:" + std::to_string(origin.port());
        c["security"]["connection_limit"] = {{"requests_per_connection", 3}};
        ProxyProcess proxy;
        QVERIFY2(proxy.start(c.dump(), port), qPrintable(proxy.output()));
        RawClient client;
        QVERIFY(client.connect(port));
        for (int i = 1; i <= 3; ++i) {
            QVERIFY(client.send("GET /x HTTP/1.1\r\nHost: c\r\n\r\n"));
            const auto r = client.readResponse();
            QCOMPARE(r.status, 200);
            QCOMPARE(r.header("connection") == "close", i == 3);
        }
        QVERIFY(client.closedByPeer(5s));
        // A new connection starts over.
        QCOMPARE(roundTrip(port, "GET /y HTTP/1.1\r\nHost: c\r\n\r\n").status, 200);
        QCOMPARE(proxy.stop(), 0);
    }

    void bannedPeerIsRefusedAtAccept() {
        // Without trusted proxies the peer itself is the client: once banned, its connections are
        // closed before a byte is read.
        FakeOrigin origin("B");
        const int port = freePort();
        json c = config_;
        c["control"]["endpoint"] = endpoint_ + ".b";
        c["listeners"][0]["address"] = "127.0.0.1:" + std::to_string(port);
        c["upstreams"][0]["servers"][0]["address"] = "127.0.0.1:" + std::to_string(origin.port());
        c["security"].erase("trusted_proxies");
        ProxyProcess proxy;
        QVERIFY2(proxy.start(c.dump(), port), qPrintable(proxy.output()));
        int refused = 0;
        for (int i = 0; i < 10 && refused == 0; ++i) {
            const auto r = roundTrip(port, "GET /limited/x HTTP/1.1\r\nHost: b\r\n\r\n", 2s);
            if (!r.ok) ++refused;
        }
        QVERIFY(refused > 0);
        RawClient client;
        if (client.connect(port)) {
            client.send("GET /x HTTP/1.1\r\nHost: b\r\n\r\n");
            QVERIFY(client.closedByPeer(5s));
        }
        const std::size_t seen = origin.requestCount();
        QVERIFY(seen <= 2);  // the burst; nothing once banned
        QCOMPARE(proxy.stop(), 0);
    }
};

QTEST_GUILESS_MAIN(BansIntegrationTest)
#include "bans_integration_test.moc"
