// Active and passive health checks end to end: the real proxy-service, fake origins on port 0,
// and upstreams.list read back over proxyctl. Waits are generous (QTRY with long bounds); nothing
// asserts a tight timing.
#include <atomic>
#include <csignal>
#include <thread>
#include <vector>

#include <QElapsedTimer>
#include <QProcess>
#include <QTest>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
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

// Stops and joins a test's client thread however the test function ends (a failed QVERIFY
// returns early, and a joinable std::thread must not be destroyed).
struct Joiner {
    std::thread& thread;
    std::atomic<bool>& stop;
    ~Joiner() {
        stop = true;
        if (thread.joinable()) thread.join();
    }
};

}  // namespace

class HealthIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> a_, b_, c_, d_;
    std::unique_ptr<FakeOrigin> r1_, r2_;  // "restart": R1 is killed and brought back
    std::unique_ptr<FakeOrigin> s_, t_;    // "admin": drained and disabled at runtime
    int r1Port_ = 0;
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
                 {{"name", "restart"},
                  {"servers", json::array({server("127.0.0.1:" + std::to_string(r1Port_)),
                                           server(address(*r2_))})},
                  {"health_check",
                   {{"path", "/health"},
                    {"interval_ms", kRestartInterval},
                    {"timeout_ms", 1000},
                    {"rise", kRestartRise},
                    {"fall", kRestartFall}}},
                  {"retries", 1}},
                 {{"name", "admin"},
                  {"servers", json::array({server(address(*s_)), server(address(*t_))})}},
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
                                    {{"name", "restart"},
                                     {"match", {{"path_prefix", "/restart/"}}},
                                     {"upstream", "restart"},
                                     {"rewrite", {{"strip_prefix", "/restart"}}}},
                                    {{"name", "admin"},
                                     {"match", {{"path_prefix", "/admin/"}}},
                                     {"upstream", "admin"},
                                     {"rewrite", {{"strip_prefix", "/admin"}}}},
                                    {{"name", "dead"},
                                     {"match", {{"path_prefix", "/dead/"}}},
                                     {"upstream", "dead"}}})},
        };
    }

    // The "restart" upstream's check: a killed server must be down after `fall` failed checks,
    // which take about interval x fall; back up after `rise` good ones.
    static constexpr int kRestartInterval = 500;
    static constexpr int kRestartRise = 2;
    static constexpr int kRestartFall = 3;

    // proxyctl upstreams drain|disable|enable UPSTREAM SERVER; true when it exits 0.
    bool setState(const char* op, const std::string& upstream, const std::string& addr) {
        return runProxyctl(endpoint_, {"upstreams", op, QString::fromStdString(upstream),
                                       QString::fromStdString(addr)})
                   .exitCode == 0;
    }

    json list() { return proxyctlJson(endpoint_, {"upstreams", "list"}); }

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
        r1_ = std::make_unique<FakeOrigin>("R1");
        r2_ = std::make_unique<FakeOrigin>("R2");
        r1Port_ = r1_->port();
        s_ = std::make_unique<FakeOrigin>("S");
        t_ = std::make_unique<FakeOrigin>("T");
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

    void aKilledOriginUnderLoadIsDownAfterFallChecksAndBackAfterRise() {
        // One client keeps GETs going while R1 is killed, found down, restarted on the same port
        // and found up again. No GET may fail (retries take R1's refusals and dropped requests),
        // the state must change after exactly `fall` failed checks (about interval x fall) and
        // come back after `rise` good ones. The lower time bounds are exact (a check cannot fail
        // before the kill); the upper ones get slack for a loaded machine.
        const std::string r1 = "127.0.0.1:" + std::to_string(r1Port_);
        QTRY_COMPARE_WITH_TIMEOUT(healthAt("restart", r1), std::string("up"), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(health("restart", *r2_), std::string("up"), 10000);
        std::atomic<bool> stop{false};
        std::atomic<int> sent{0}, failed{0};
        std::string problems;  // the client's own until it is joined
        std::thread client([&] {
            for (int i = 0; !stop.load(); ++i) {
                const auto r = roundTrip(port_, get("/restart/g" + std::to_string(i)));
                if (r.status != 200) {
                    ++failed;
                    if (problems.size() < 400)
                        problems += std::to_string(r.status) + " " + r.body + "; ";
                }
                ++sent;
                std::this_thread::sleep_for(10ms);
            }
        });
        Joiner joiner{client, stop};
        QTRY_VERIFY_WITH_TIMEOUT(sent.load() >= 10, 30000);
        const std::size_t r1Served = r1_->requestCount() - r1_->countTarget("/health");
        QVERIFY2(r1Served > 0, "R1 took no traffic before the kill");

        const QString downLine = QString::fromStdString("upstream restart server " + r1 + ": health up -> down");
        qsizetype mark = proxy_->output().size();
        QElapsedTimer sinceKill;
        sinceKill.start();  // before stop(): no check can fail earlier than this
        r1_->stop();
        QTRY_VERIFY_WITH_TIMEOUT(proxy_->output().indexOf(downLine, mark) >= 0, 30000);
        const qint64 down = sinceKill.elapsed();
        const QString downText = proxy_->output().mid(proxy_->output().indexOf(downLine, mark));
        const QString downEntry = downText.left(downText.indexOf('\n'));
        QVERIFY2(downEntry.contains(QString("; %1 failed check(s) in a row").arg(kRestartFall)),
                 qPrintable(downEntry));
        QVERIFY2(down >= (kRestartFall - 1) * kRestartInterval - 50, qPrintable(QString::number(down)));
        QVERIFY2(down < kRestartFall * kRestartInterval + 1000 + 6000,
                 qPrintable(QString("down after %1 ms").arg(down)));
        json s = server("restart", r1);
        QCOMPARE(s["health"], json("down"));
        QVERIFY2(s["health_reason"].get<std::string>().find("connect") != std::string::npos,
                 s.dump().c_str());
        QCOMPARE(s["last_check_ok"], json(false));

        const QString upLine = QString::fromStdString("upstream restart server " + r1 + ": health down -> up");
        mark = proxy_->output().size();
        r1_.reset();
        QElapsedTimer sinceRestart;
        sinceRestart.start();  // before it listens: no check can pass earlier than this
        r1_ = std::make_unique<FakeOrigin>("R1", "127.0.0.1", r1Port_);
        QVERIFY2(r1_->port() == r1Port_, "R1's port could not be bound again");
        QTRY_VERIFY_WITH_TIMEOUT(proxy_->output().indexOf(upLine, mark) >= 0, 30000);
        const qint64 up = sinceRestart.elapsed();
        const QString upText = proxy_->output().mid(proxy_->output().indexOf(upLine, mark));
        const QString upEntry = upText.left(upText.indexOf('\n'));
        QVERIFY2(upEntry.contains(QString("; %1 check(s) in a row").arg(kRestartRise)),
                 qPrintable(upEntry));
        QVERIFY2(up >= (kRestartRise - 1) * kRestartInterval - 50, qPrintable(QString::number(up)));
        QVERIFY2(up < kRestartRise * kRestartInterval + 1000 + 6000,
                 qPrintable(QString("up after %1 ms").arg(up)));
        qInfo("R1 down %lld ms after the kill, up %lld ms after the restart (interval %d ms, fall %d, rise %d)",
              static_cast<long long>(down), static_cast<long long>(up), kRestartInterval, kRestartFall,
              kRestartRise);
        QCOMPARE(health("restart", *r1_), std::string("up"));
        // Back in rotation: the client's GETs reach the new R1.
        QTRY_VERIFY_WITH_TIMEOUT(r1_->requestCount() > r1_->countTarget("/health"), 15000);
        stop = true;
        client.join();
        QVERIFY2(failed.load() == 0, problems.c_str());
        QVERIFY2(sent.load() >= 30, qPrintable(QString::number(sent.load())));
    }

    void drainAndDisableLetInFlightRequestsFinish() {
        const std::string sAddr = address(*s_), tAddr = address(*t_);
        for (const char* op : {"drain", "disable"}) {
            const json expected = std::string(op) == "drain" ? "draining" : "disabled";
            // A slow request in flight on one of the two servers; upstreams.list counts it active.
            RawResponse slow;
            std::atomic<bool> unused{false};
            std::thread holder([&] { slow = fetch("/admin/slow/4000"); });
            Joiner joiner{holder, unused};
            std::string busy;
            auto findBusy = [&] {
                const json l = list();
                if (l.is_discarded()) return false;
                for (const auto& u : l["upstreams"])
                    if (u["name"] == "admin")
                        for (const auto& srv : u["servers"])
                            if (srv["active"].get<int>() >= 1) {
                                busy = srv["address"].get<std::string>();
                                return true;
                            }
                return false;
            };
            QTRY_VERIFY_WITH_TIMEOUT(findBusy(), 10000);
            const bool sBusy = busy == sAddr;
            const std::string busyName = sBusy ? "S" : "T", otherName = sBusy ? "T" : "S";
            QVERIFY2(setState(op, "admin", busy), op);
            // The state shows at once, and the request is still in flight (so the change came first).
            json state = server("admin", busy);
            QCOMPARE(state["state"], expected);
            QVERIFY2(state["active"] == json(1), state.dump().c_str());
            // New requests avoid it.
            for (int i = 0; i < 6; ++i) {
                const auto r = fetch("/admin/n" + std::to_string(i));
                QCOMPARE(r.status, 200);
                QVERIFY2(r.body.starts_with(otherName + " "), r.body.c_str());
            }
            // The request in flight finishes, from the server taken out.
            holder.join();
            QCOMPARE(slow.status, 200);
            QCOMPARE(slow.body, "slow " + busyName);
            QTRY_COMPARE_WITH_TIMEOUT(server("admin", busy)["active"], json(0), 10000);
            QCOMPARE(server("admin", busy)["state"], expected);
            // Enabled: back in rotation.
            QVERIFY(setState("enable", "admin", busy));
            QCOMPARE(server("admin", busy)["state"], json("up"));
            int back = 0;
            for (int i = 0; i < 6; ++i)
                back += fetch("/admin/e" + std::to_string(i)).body.starts_with(busyName + " ") ? 1 : 0;
            QVERIFY(back > 0);
        }
        QVERIFY(!setState("drain", "admin", "127.0.0.1:1"));  // a server the upstream lacks
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
