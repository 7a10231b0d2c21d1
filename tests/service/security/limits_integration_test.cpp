// Against the real service: security.min_body_rate (a body trickled below the rate gets 408, is
// counted and logged as slow-body and is a ban strike; a slow body above the rate passes; a route
// can switch the minimum off) and rate_limit.key (buckets per API key header, per cookie, one per
// route; a request without the key falls back to its client address; keyed 429s strike no one).
// Clients are told apart by X-Forwarded-For from the trusted 127.0.0.1, so bans stay per test.
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <QTest>
#include <nlohmann/json.hpp>
#include <poll.h>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string get(const std::string& target, const std::string& client, const std::string& extra = {}) {
    return "GET " + target + " HTTP/1.1\r\nHost: limits.test\r\nX-Forwarded-For: " + client + "\r\n" +
           extra + "\r\n";
}

std::string postHead(const std::string& target, const std::string& client, std::size_t length) {
    return "POST " + target + " HTTP/1.1\r\nHost: limits.test\r\nX-Forwarded-For: " + client +
           "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
}

}  // namespace

class LimitsIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;

    int status(const std::string& target, const std::string& client, const std::string& extra = {}) {
        return roundTrip(port_, get(target, client, extra)).status;
    }

    json ctl(const QStringList& args) { return proxyctlJson(endpoint_, args); }

    // Sends `total` body bytes in pieces of `piece` every `every`, then reads the answer. The
    // proxy may answer (and close) before the body is complete; sending stops then.
    RawResponse trickle(const std::string& target, const std::string& client, std::size_t total,
                        std::size_t piece, std::chrono::milliseconds every) {
        RawClient c;
        if (!c.connect(port_)) return {};
        if (!c.send(postHead(target, client, total))) return {};
        for (std::size_t sent = 0; sent < total;) {
            QThread::msleep(static_cast<unsigned long>(every.count()));
            pollfd answered{c.fd(), POLLIN, 0};
            if (::poll(&answered, 1, 0) > 0) break;  // the proxy answered early: stop sending
            const std::size_t n = std::min(piece, total - sent);
            if (!c.send(std::string(n, 'b'))) break;  // closed by the proxy
            sent += n;
        }
        return c.readResponse(10s);
    }

private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("A");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-limits-test-" + std::to_string(port_) + "/control.sock";
        const std::string up = "127.0.0.1:" + std::to_string(origin_->port());
        json c = {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams", json::array({{{"name", "app"}, {"servers", json::array({{{"address", up}}})}}})},
            {"security",
             {{"trusted_proxies", {"127.0.0.0/8"}},
              {"min_body_rate", {{"bytes_per_second", 1000}, {"grace_ms", 1000}}},
              {"bans", {{"strikes", 1}, {"ban_ms", 60000}}}}},
            {"routes",
             json::array({
                 {{"name", "upload"}, {"match", {{"path_prefix", "/upload/"}}}, {"upstream", "app"},
                  {"security", {{"min_body_rate", {{"bytes_per_second", 0}}}}}},
                 {{"name", "api"}, {"match", {{"path_prefix", "/api/"}}}, {"upstream", "app"},
                  {"security", {{"rate_limit", {{"requests_per_second", 1}, {"burst", 3}, {"key", "header:X-Api-Key"}}}}}},
                 {{"name", "app"}, {"match", {{"path_prefix", "/app/"}}}, {"upstream", "app"},
                  {"security", {{"rate_limit", {{"requests_per_second", 1}, {"burst", 3}, {"key", "cookie:session"}}}}}},
                 {{"name", "shared"}, {"match", {{"path_prefix", "/shared/"}}}, {"upstream", "app"},
                  {"security", {{"rate_limit", {{"requests_per_second", 1}, {"burst", 3}, {"key", "route"}}}}}},
                 {{"name", "main"}, {"upstream", "app"}}})}};
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(c.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
    }

    // 10 bytes every 200 ms (50 bytes/s) against a minimum of 1000 bytes/s after 1 s.
    void slowBodyGets408() {
        QElapsedTimer t;
        t.start();
        const RawResponse r = trickle("/x", "198.51.100.20", 10'000, 10, 200ms);
        QCOMPARE(r.status, 408);
        QVERIFY(r.body.find("too slow") != std::string::npos);
        // Cut after about the grace second, long before the body or client_idle_ms would end.
        QVERIFY2(t.elapsed() < 8000, qPrintable(QString::number(t.elapsed())));
        // The strike (strikes: 1) banned the client.
        QCOMPARE(status("/x", "198.51.100.20"), 403);
        QCOMPARE(status("/x", "198.51.100.21"), 200);
    }

    // 300 bytes every 100 ms (about 3000 bytes/s, three times the minimum) for 6000 bytes.
    void slowButAboveTheRatePasses() {
        const RawResponse r = trickle("/x", "198.51.100.22", 6000, 300, 100ms);
        QCOMPARE(r.status, 200);
        QCOMPARE(status("/x", "198.51.100.22"), 200);  // no strike
    }

    // A pause longer than the grace, but the bytes before it earned the time.
    void earnedTimeCoversAPause() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(postHead("/x", "198.51.100.23", 4000)));
        QVERIFY(c.send(std::string(3000, 'b')));  // earns 3 s on top of the 1 s grace
        QThread::msleep(1500);
        QVERIFY(c.send(std::string(1000, 'b')));
        QCOMPARE(c.readResponse(10s).status, 200);
    }

    // The upload route sets bytes_per_second 0: the trickle is only bound by client_idle_ms.
    void routeSwitchesTheMinimumOff() {
        const RawResponse r = trickle("/upload/a", "198.51.100.24", 100, 10, 200ms);
        QCOMPARE(r.status, 200);
    }

    void slowBodyIsCountedAndLogged() {
        const json stats = ctl({"stats"});
        QVERIFY2(stats.is_object(), stats.dump().c_str());
        QCOMPARE(stats["security"]["slow_bodies"].get<int>(), 1);
        json rows;
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 10000) {
            rows = ctl({"logs", "--client", "198.51.100.20", "--status", "408"});
            if (rows.is_object() && !rows["rows"].empty()) break;
            QThread::msleep(100);
        }
        QVERIFY2(rows.is_object() && !rows["rows"].empty(), rows.dump().c_str());
        QCOMPARE(rows["rows"][0]["security_action"].get<std::string>(), std::string("slow-body"));
        const json bans = ctl({"security", "bans"});
        QVERIFY2(bans.dump().find("slow-body") != std::string::npos, bans.dump().c_str());
    }

    // Burst 3 at 1/s: 3 (or 4, if a second went by) of 6 pass.
    void headerKeyedBuckets() {
        int passed = 0;
        RawResponse limited;
        for (int i = 0; i < 6; ++i) {
            const auto r = roundTrip(port_, get("/api/a", "198.51.100.40", "X-Api-Key: key-a\r\n"));
            passed += r.status == 200;
            if (r.status == 429) limited = r;
        }
        QVERIFY2(passed >= 3 && passed <= 4, qPrintable(QString::number(passed)));
        QCOMPARE(limited.status, 429);
        QVERIFY(std::stoi(limited.header("retry-after")) >= 1);
        // The same key from another client shares the bucket; another key from the same client
        // has its own, and the client was not struck (strikes: 1 would have banned it).
        QCOMPARE(status("/api/a", "198.51.100.41", "X-Api-Key: key-a\r\n"), 429);
        QCOMPARE(status("/api/a", "198.51.100.40", "X-Api-Key: key-b\r\n"), 200);
        QCOMPARE(status("/x", "198.51.100.40"), 200);
    }

    // Without the header the request is limited by its client address (and a 429 then strikes).
    void absentKeyFallsBackToTheClient() {
        int passed = 0;
        for (int i = 0; i < 6; ++i) passed += status("/api/a", "198.51.100.42") == 200;
        QVERIFY2(passed >= 3 && passed <= 4, qPrintable(QString::number(passed)));
        QCOMPARE(status("/api/a", "198.51.100.43"), 200);  // another client, no key: its own bucket
        QCOMPARE(status("/x", "198.51.100.42"), 403);       // struck and banned
    }

    void cookieKeyedBuckets() {
        int passed = 0;
        for (int i = 0; i < 6; ++i)
            passed += status("/app/a", "198.51.100.44", "Cookie: theme=dark; session=s1\r\n") == 200;
        QVERIFY2(passed >= 3 && passed <= 4, qPrintable(QString::number(passed)));
        QCOMPARE(status("/app/a", "198.51.100.45", "Cookie: session=s1\r\n"), 429);
        QCOMPARE(status("/app/a", "198.51.100.44", "Cookie: session=s2; theme=dark\r\n"), 200);
        // A cookie whose name only ends in "session" is not the key: the client's own bucket.
        QCOMPARE(status("/app/a", "198.51.100.46", "Cookie: xsession=s1\r\n"), 200);
    }

    void routeKeyIsOneBucket() {
        int passed = 0;
        for (int i = 0; i < 6; ++i) passed += status("/shared/a", "198.51.100." + std::to_string(60 + i)) == 200;
        QVERIFY2(passed >= 3 && passed <= 4, qPrintable(QString::number(passed)));
        const json stats = ctl({"stats"});
        QVERIFY2(stats["security"]["rate_limited_by_key"].get<int>() >= 2 + 2 + 2, stats.dump().c_str());
    }
};

QTEST_GUILESS_MAIN(LimitsIntegrationTest)
#include "limits_integration_test.moc"
