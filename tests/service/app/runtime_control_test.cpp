// The running service's control channel, end to end: proxyctl against a real proxy-service with
// fake origins. Applies, conflicts, invalid configs, rollback and drains are checked by traffic.
#include <unistd.h>

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

struct CtlResult {
    int exitCode = -1;
    QString out;
    json parsed;
};

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"; }

}  // namespace

class RuntimeControlTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> a_, b_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;

    json config(const std::string& upstream) const {
        return {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams",
             json::array({{{"name", "a"}, {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(a_->port())}}})}},
                          {{"name", "b"}, {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(b_->port())}}})}},
                          {{"name", "both"},
                           {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(a_->port())}},
                                                    {{"address", "127.0.0.1:" + std::to_string(b_->port())}}})}}})},
            {"routes", json::array({{{"name", "both"}, {"match", {{"path_prefix", "/both/"}}}, {"upstream", "both"}},
                                    {{"name", "all"}, {"upstream", upstream}}})},
        };
    }

    CtlResult ctl(QStringList args, bool asJson = true) {
        if (asJson) args.prepend("--json");
        const ProxyctlResult run = runProxyctl(endpoint_, args);
        CtlResult r;
        r.exitCode = run.exitCode;
        r.out = QString::fromUtf8(run.out) + QString::fromUtf8(run.err);
        r.parsed = run.json();
        return r;
    }

    QString writeFile(const QString& name, const std::string& text) {
        const QString path = proxy_->dir() + "/" + name;
        QFile f(path);
        f.open(QIODevice::WriteOnly | QIODevice::Truncate);
        f.write(text.data(), static_cast<qint64>(text.size()));
        return path;
    }

    QString bodyOf(const std::string& target) {
        return QString::fromStdString(roundTrip(port_, get(target)).body);
    }

private slots:
    void initTestCase() {
        a_ = std::make_unique<FakeOrigin>("A");
        b_ = std::make_unique<FakeOrigin>("B");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-runtime-test-" + std::to_string(port_) + "/control.sock";
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(config("a").dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() { QCOMPARE(proxy_->stop(), 0); }

    void statusAnswers() {
        const auto r = ctl({"status"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(!r.parsed.is_discarded(), qPrintable(r.out));
        QCOMPARE(r.parsed["workers"].get<int>(), 2);
        QCOMPARE(r.parsed["config_version"].get<int>(), 1);
        QCOMPARE(r.parsed["listeners"][0]["name"].get<std::string>(), std::string("web"));
    }

    void appliedRouteServesAtOnce() {
        QCOMPARE(bodyOf("/x"), QString("A GET /x"));
        // Open a long download and a WebSocket before the apply.
        RawClient download;
        QVERIFY(download.connect(port_));
        QVERIFY(download.send(get("/slow/800")));
        RawClient ws;
        QVERIFY(ws.connect(port_));
        QVERIFY(ws.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
        QCOMPARE(ws.readResponse(5s, true).status, 101);

        const auto r = ctl({"config", "apply", writeFile("to-b.json", config("b").dump(2)), "--base", "1"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.out));
        QCOMPARE(bodyOf("/y"), QString("B GET /y"));  // no restart, no wait
        QVERIFY(ws.send("alive"));
        QCOMPARE(ws.readBytes(5), std::string("alive"));
        const auto slow = download.readResponse();
        QCOMPARE(slow.status, 200);
        QCOMPARE(QString::fromStdString(slow.body), QString("slow A"));
        QCOMPARE(ctl({"status"}).parsed["config_version"].get<int>(), 2);
    }

    void staleBaseIsAConflict() {
        const auto r = ctl({"config", "apply", writeFile("to-a.json", config("a").dump(2)), "--base", "1"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("conflict", Qt::CaseInsensitive), qPrintable(r.out));
        QCOMPARE(bodyOf("/z"), QString("B GET /z"));
    }

    void invalidConfigIsRefusedWithDiagnostics() {
        json bad = config("a");
        bad["routes"][1]["upstream"] = "nowhere";
        bad["listeners"][0]["adress"] = "typo";
        const auto r = ctl({"config", "apply", writeFile("bad.json", bad.dump(2))}, false);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("/routes/1/upstream"), qPrintable(r.out));
        QVERIFY2(r.out.contains("/listeners/0/adress"), qPrintable(r.out));
        QCOMPARE(bodyOf("/still"), QString("B GET /still"));
        QCOMPARE(ctl({"status"}).parsed["config_version"].get<int>(), 2);
        // Something the validator cannot know (a port already in use) is refused too.
        json busy = config("a");
        busy["listeners"].push_back({{"name", "clash"}, {"address", "127.0.0.1:" + std::to_string(a_->port())}});
        const auto clash = ctl({"config", "apply", writeFile("busy.json", busy.dump(2))}, false);
        QCOMPARE(clash.exitCode, 1);
        QCOMPARE(bodyOf("/after-clash"), QString("B GET /after-clash"));
    }

    void rollbackRestoresEarlierBehaviour() {
        const auto r = ctl({"config", "rollback", "1"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.out));
        QCOMPARE(bodyOf("/back"), QString("A GET /back"));
        const auto history = ctl({"config", "history"});
        QCOMPARE(history.exitCode, 0);
        QVERIFY(history.parsed["versions"].size() >= 3);
        const auto diff = ctl({"config", "diff", "1", "2"}, false);
        QCOMPARE(diff.exitCode, 0);
        QVERIFY2(diff.out.contains("\"b\""), qPrintable(diff.out));
    }

    void drainMovesTrafficAndEnableBringsItBack() {
        const std::string server = "127.0.0.1:" + std::to_string(a_->port());
        const auto r = ctl({"upstreams", "drain", "both", QString::fromStdString(server)});
        QVERIFY2(r.exitCode == 0, qPrintable(r.out));
        for (int i = 0; i < 6; ++i) QVERIFY(bodyOf("/both/" + std::to_string(i)).startsWith("B "));
        const auto list = ctl({"upstreams", "list"});
        bool sawDraining = false;
        for (const auto& u : list.parsed["upstreams"])
            for (const auto& s : u["servers"])
                if (u["name"] == "both" && s["address"] == server) sawDraining = s["state"] == "draining";
        QVERIFY(sawDraining);
        QCOMPARE(ctl({"upstreams", "enable", "both", QString::fromStdString(server)}).exitCode, 0);
        int fromA = 0;
        for (int i = 0; i < 6; ++i) fromA += bodyOf("/both/e" + std::to_string(i)).startsWith("A ") ? 1 : 0;
        QVERIFY(fromA > 0);
        const auto unknown = ctl({"upstreams", "drain", "both", "10.9.9.9:1"}, false);
        QCOMPARE(unknown.exitCode, 1);
    }

    void otherUsersAreRefused() {
        if (::geteuid() != 0) QSKIP("needs root to run proxyctl as another user");
        QProcess p;
        p.start("setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups", QStringLiteral(PROXYCTL_EXE),
                            "--endpoint", QString::fromStdString(endpoint_), "status"});
        QVERIFY(p.waitForFinished(15000));
        QVERIFY2(p.exitCode() != 0, p.readAll().constData());
        QCOMPARE(ctl({"status"}).exitCode, 0);  // and the admin still gets in
    }
};

QTEST_GUILESS_MAIN(RuntimeControlTest)
#include "runtime_control_test.moc"
