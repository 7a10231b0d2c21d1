// Active and passive health checks end to end: the real proxy-service, fake origins on port 0,
// and upstreams.list read back over proxyctl. Waits are generous (QTRY with long bounds); nothing
// asserts a tight timing.
#include <atomic>
#include <csignal>
#include <thread>
#include <vector>

#include <QElapsedTimer>
#include <QProcess>
#include <QtTest>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "proxy_process.h"
#include "raw_client.h"

using namespace proxy::test;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

std::string get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
}

std::string address(const FakeOrigin& origin) {
    return "127.0.0.1:" + std::to_string(origin.port());
}

}  // namespace

class HealthIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> a_, b_, c_, d_;
    int deadPort_ = 0;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;

    json config() const {
        auto server = [](const std::string& a) { return json{{"address", a}}; };
        return {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"listeners",
             json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams",
             json::array({
                 {{"name", "checked"},
                  {"servers", json::array({server(address(*a_)), server(address(*b_))})},
                  {"health_check",
                   {{"path", "/health"},
                    {"interval_ms", 200},
                    {"timeout_ms", 500},
                    {"rise", 2},
                    {"fall", 2}}},
                  {"retries", 1}},
                 {{"name", "passive"},
                  {"servers", json::array({server(address(*c_)), server(address(*d_))})},
                  {"passive",
                   {{"failures", 3},
                    {"status_5xx", 3},
                    {"eject_seconds", 2},
                    {"max_eject_seconds", 8}}},
                  {"slow_start_seconds", 1},
                  {"retries", 1}},
                 {{"name", "dead"},
                  {"servers", json::array({server("127.0.0.1:" + std::to_string(deadPort_))})},
                  {"health_check",
                   {{"interval_ms", 200}, {"timeout_ms", 300}, {"rise", 1}, {"fall", 1}}}},
             })},
            {"routes", json::array({{{"name", "checked"},
                                     {"match", {{"path_prefix", "/checked/"}}},
                                     {"upstream", "checked"},
                                     {"rewrite", {{"strip_prefix", "/checked"}}}},
                                    {{"name", "passive"},
                                     {"match", {{"path_prefix", "/passive/"}}},
                                     {"upstream", "passive"}},
                                    {{"name", "dead"},
                                     {"match", {{"path_prefix", "/dead/"}}},
                                     {"upstream", "dead"}}})},
        };
    }

    json list() {
        QProcess p;
        p.start(QStringLiteral(PROXYCTL_EXE),
                {"--endpoint", QString::fromStdString(endpoint_), "--json", "upstreams", "list"});
        p.waitForFinished(15000);
        const QByteArray out = p.readAllStandardOutput();
        return json::parse(out.begin(), out.end(), nullptr, false);
    }

    // The upstreams.list entry of one server (null when absent).
    json server(const std::string& upstream, const std::string& addr) {
        const json l = list();
        if (l.is_discarded()) return nullptr;
        for (const auto& u : l["upstreams"])
            if (u["name"] == upstream)
                for (const auto& s : u["servers"])
                    if (s["address"] == addr) return s;
        return nullptr;
    }

    std::string healthAt(const std::string& upstream, const std::string& addr) {
        const json s = server(upstream, addr);
        return s.is_object() ? s.value("health", std::string("?")) : std::string("?");
    }
    std::string health(const std::string& upstream, const FakeOrigin& origin) {
        return healthAt(upstream, address(origin));
    }
    std::string deadServer() const { return "127.0.0.1:" + std::to_string(deadPort_); }

    RawResponse fetch(const std::string& target) { return roundTrip(port_, get(target)); }

  private slots:
    void initTestCase() {
        a_ = std::make_unique<FakeOrigin>("A");
        b_ = std::make_unique<FakeOrigin>("B");
        c_ = std::make_unique<FakeOrigin>("C");
        d_ = std::make_unique<FakeOrigin>("D");
        deadPort_ = freePort();  // nothing listens there
        port_ = freePort();
        endpoint_ = "/tmp/proxy-health-test-" + std::to_string(port_) + "/control.sock";
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(config().dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() { QCOMPARE(proxy_->stop(), 0); }

    void serversComeUpAndShowTheirChecks() {
        QTRY_COMPARE_WITH_TIMEOUT(health("checked", *a_), std::string("up"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(health("checked", *b_), std::string("up"), 10000);
        const json s = server("checked", address(*a_));
        QVERIFY2(s["last_check_at"].is_string(), s.dump().c_str());
        QCOMPARE(s["last_check_ok"], json(true));
        QVERIFY2(s["last_check_result"].get<std::string>().find("status 200") != std::string::npos,
                 s.dump().c_str());
        QVERIFY(s["last_check_latency_ms"].is_number());
        QCOMPARE(s["ejected_until"], json(nullptr));
        // The existing fields are still there.
        QCOMPARE(s["state"], json("up"));
        QVERIFY(s.contains("requests") && s.contains("failures") && s.contains("active"));
        // Unchecked upstreams say so.
        QCOMPARE(health("passive", *c_), std::string("unknown"));
        QVERIFY(a_->countTarget("/health") >= 1);
        QCOMPARE(a_->requests().at(0).header("User-Agent"), std::string("proxy-health-check"));
    }

    void failingChecksTakeAServerDownAndRiseBringsItBack() {
        b_->setFailStatus(503);
        QTRY_COMPARE_WITH_TIMEOUT(health("checked", *b_), std::string("down"), 10000);
        const json s = server("checked", address(*b_));
        QVERIFY2(s["health_reason"].get<std::string>().find("503 is outside 200-399") !=
                     std::string::npos,
                 s.dump().c_str());
        QVERIFY(proxy_->output().contains("health up -> down"));
        // Down: every request goes to A.
        const std::size_t bBefore = b_->requestCount() - b_->countTarget("/health");
        for (int i = 0; i < 10; ++i) {
            const auto r = fetch("/checked/while-b-down");
            QCOMPARE(r.status, 200);
            QVERIFY(r.body.starts_with("A "));
        }
        QCOMPARE(b_->requestCount() - b_->countTarget("/health"), bBefore);
        b_->setFailStatus(0);
        QTRY_COMPARE_WITH_TIMEOUT(health("checked", *b_), std::string("up"), 10000);
        QVERIFY(proxy_->output().contains("health down -> up"));
        int fromB = 0;
        for (int i = 0; i < 10; ++i)
            fromB += fetch("/checked/b-back").body.starts_with("B ") ? 1 : 0;
        QVERIFY(fromB > 0);
    }

    void aKilledOriginCostsNoFailedGet() {
        // Four clients keep GETs going (some slow, so some are in flight on A when it dies); A
        // dies part way. Retries take the connect failures and the requests A dropped, and the
        // checks take A out of rotation within about interval x fall.
        std::atomic<int> failures{0}, done{0};
        std::vector<std::string> problems(4);
        std::vector<std::thread> clients;
        for (int c = 0; c < 4; ++c)
            clients.emplace_back([&, c] {
                for (int i = 0; i < 25; ++i) {
                    const std::string target =
                        i % 3 == 0 ? "/checked/slow/150" : "/checked/k" + std::to_string(i);
                    const auto r = roundTrip(port_, get(target));
                    if (r.status != 200) {
                        ++failures;
                        problems[c] += std::to_string(r.status) + " " + r.body + "; ";
                    }
                    ++done;
                }
            });
        QTRY_VERIFY_WITH_TIMEOUT(done.load() >= 20, 30000);
        a_->stop();
        for (auto& t : clients) t.join();
        QVERIFY2(failures.load() == 0,
                 (problems[0] + problems[1] + problems[2] + problems[3]).c_str());
        QTRY_COMPARE_WITH_TIMEOUT(health("checked", *a_), std::string("down"), 10000);
        const json s = server("checked", address(*a_));
        QVERIFY2(s["health_reason"].get<std::string>().find("connect") != std::string::npos,
                 s.dump().c_str());
        QCOMPARE(s["last_check_ok"], json(false));
        for (int i = 0; i < 10; ++i) QVERIFY(fetch("/checked/after").body.starts_with("B "));
    }

    void everyServerDownIsAFast503() {
        QTRY_COMPARE_WITH_TIMEOUT(healthAt("dead", deadServer()), std::string("down"), 10000);
        QElapsedTimer timer;
        timer.start();
        const auto r = fetch("/dead/x");
        QCOMPARE(r.status, 503);
        QVERIFY2(r.body.find("down (health checks)") != std::string::npos, r.body.c_str());
        QVERIFY2(timer.elapsed() < 3000, qPrintable(QString::number(timer.elapsed())));
    }

    void fiveHundredsEjectThenTheServerReturns() {
        c_->setFailStatus(500);
        bool ejected = false;
        for (int i = 0; i < 40 && !ejected; ++i) {
            fetch("/passive/p" + std::to_string(i));
            const json s = server("passive", address(*c_));
            ejected = s.is_object() && s["ejected_until"].is_string();
        }
        QVERIFY2(ejected, qPrintable(proxy_->output()));
        QElapsedTimer sinceEjection;
        sinceEjection.start();
        const json s = server("passive", address(*c_));
        QCOMPARE(s["health"], json("down"));
        QVERIFY2(s["health_reason"].get<std::string>().find("5xx") != std::string::npos,
                 s.dump().c_str());
        QVERIFY(s["ejections"].get<int>() >= 1);
        QVERIFY(proxy_->output().contains("consecutive 5xx responses"));
        // While ejected, C gets nothing (checked only while well inside the 2 s ejection).
        const std::size_t cBefore = c_->requestCount();
        int fromD = 0;
        for (int i = 0; i < 10 && sinceEjection.elapsed() < 1200; ++i)
            fromD += fetch("/passive/ejected").body.starts_with("D ") ? 1 : 0;
        if (sinceEjection.elapsed() < 1200) QCOMPARE(c_->requestCount(), cBefore);
        QVERIFY(fromD > 0);
        // Healthy again, and the ejection over: C is back in rotation (slow start is 1 s).
        c_->setFailStatus(0);
        auto returned = [&] {
            const json now = server("passive", address(*c_));
            return now.is_object() && now["ejected_until"].is_null();
        };
        QTRY_VERIFY_WITH_TIMEOUT(returned(), 15000);
        QElapsedTimer waiting;
        waiting.start();
        std::string seen;
        bool back = false;
        while (!back && waiting.elapsed() < 15000) {
            const auto r = fetch("/passive/back");
            back = r.body.starts_with("C ");
            if (!back) {
                if (seen.size() < 400)
                    seen += std::to_string(r.status) + " " + r.body.substr(0, 20) + "; ";
                QTest::qWait(50);
            }
        }
        QVERIFY2(back, seen.c_str());
        QTRY_VERIFY_WITH_TIMEOUT(proxy_->output().contains("ejection over"), 5000);
    }

    void healthSurvivesAReload() {
        // A reload builds new snapshots; A stays down and the dead server stays down at once.
        json changed = config();
        changed["routes"][0]["match"]["path_prefix"] = "/checked2/";
        changed["routes"][0]["rewrite"]["strip_prefix"] = "/checked2";
        QVERIFY(proxy_->writeConfig(changed.dump(2)));
        proxy_->signal(SIGHUP);
        QTRY_VERIFY_WITH_TIMEOUT(fetch("/checked2/x").status == 200, 10000);
        QCOMPARE(health("checked", *a_), std::string("down"));
        QCOMPARE(healthAt("dead", deadServer()), std::string("down"));
        QCOMPARE(fetch("/dead/y").status, 503);
    }
};

QTEST_GUILESS_MAIN(HealthIntegrationTest)
#include "health_integration_test.moc"
