// Servers given by DNS name, in the running service (ServiceRuntime in process, with an injected
// lookup the test edits): every address becomes a server, a change applies without dropping the
// exchange in flight, a failed lookup keeps the last good set and shows in `upstreams`, a name
// that did not resolve at start gets servers once it does, and a drain by name covers every
// address. Traffic goes through real sockets; proxyctl reads the state.
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "app/service_runtime.h"
#include "fake_origin.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy;
using namespace proxy::test;
using namespace std::chrono_literals;
using json = nlohmann::json;
using Answer = proxy::upstream::LookupResult;

namespace {

struct FakeDns {
    std::mutex mutex;
    std::map<std::string, Answer> table;
    void set(const std::string& host, Answer answer) {
        std::lock_guard lock(mutex);
        table[host] = std::move(answer);
    }
    upstream::LookupFn fn() {
        return [this](const std::string& host) -> Answer {
            std::lock_guard lock(mutex);
            auto it = table.find(host);
            if (it == table.end()) return std::unexpected(std::string("Host not found"));
            return it->second;
        };
    }
};

std::vector<asio::ip::address> ips(std::initializer_list<const char*> list) {
    std::vector<asio::ip::address> out;
    for (const char* a : list) out.push_back(asio::ip::make_address(a));
    return out;
}

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"; }

}  // namespace

class DnsRuntimeTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    FakeDns dns_;
    std::unique_ptr<FakeOrigin> a_, b_;
    std::unique_ptr<app::ServiceRuntime> runtime_;
    int port_ = 0;
    int originPort_ = 0;
    std::string endpoint_;

    json upstream(const std::string& name) {
        const json all = proxyctlJson(endpoint_, {"upstreams", "list"});
        if (all.is_discarded() || !all.contains("upstreams")) return json();
        for (const auto& u : all["upstreams"])
            if (u.value("name", "") == name) return u;
        return json();
    }
    std::vector<std::string> serverKeys(const std::string& name) {
        std::vector<std::string> keys;
        const json u = upstream(name);
        if (u.is_object())
            for (const auto& s : u["servers"]) keys.push_back(s.value("address", ""));
        return keys;
    }
    std::string who(const std::string& target = "/x") { return roundTrip(port_, get(target)).body.substr(0, 1); }

private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        a_ = std::make_unique<FakeOrigin>("A", "127.0.0.1", 0);
        originPort_ = a_->port();
        QVERIFY(originPort_ != 0);
        // The same port on another loopback address: what a name's new address would be.
        b_ = std::make_unique<FakeOrigin>("B", "127.0.0.2", originPort_);
        QVERIFY2(b_->port() == originPort_, "cannot listen on 127.0.0.2 with the port of 127.0.0.1");
        port_ = freePort();
        endpoint_ = dir_.filePath("control.sock").toStdString();
        const std::string app = "app.test:" + std::to_string(originPort_);
        const std::string late = "late.test:" + std::to_string(originPort_);
        const json config = {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"logging", {{"database", dir_.filePath("logs.db").toStdString()}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams", json::array({{{"name", "app"},
                                        {"resolve_interval_seconds", 1},
                                        {"servers", json::array({{{"address", app}}})}},
                                       {{"name", "late"}, {"servers", json::array({{{"address", late}}})}}})},
            {"routes", json::array({{{"name", "late"}, {"match", {{"path_prefix", "/late/"}}}, {"upstream", "late"}},
                                    {{"name", "all"}, {"upstream", "app"}}})},
        };
        QFile f(dir_.filePath("config.json"));
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray::fromStdString(config.dump(2)));
        f.close();

        dns_.set("app.test", ips({"127.0.0.1"}));
        app::Options options;
        options.configPath = f.fileName().toStdString();
        runtime_ = std::make_unique<app::ServiceRuntime>(options, dns_.fn());
        const auto error = runtime_->start();
        QVERIFY2(!error, error ? error->c_str() : "");
    }

    void cleanupTestCase() {
        if (!runtime_) return;
        runtime_->requestStop();
        QCOMPARE(runtime_->wait(), 0);
    }

    void aNameResolvesToServers() {
        QCOMPARE(who(), std::string("A"));
        const auto keys = serverKeys("app");
        QCOMPARE(keys, std::vector<std::string>{"app.test:" + std::to_string(originPort_) + "@127.0.0.1"});
        const json names = upstream("app")["names"];
        QCOMPARE(names.size(), std::size_t(1));
        QCOMPARE(names[0]["state"].get<std::string>(), std::string("resolved"));
        QCOMPARE(names[0]["addresses"][0].get<std::string>(), "127.0.0.1:" + std::to_string(originPort_));
    }

    void aNameThatDoesNotResolveAnswers503UntilItDoes() {
        const auto r = roundTrip(port_, get("/late/x"));
        QCOMPARE(r.status, 503);
        QVERIFY2(r.body.find("not resolved") != std::string::npos, r.body.c_str());
        QCOMPARE(upstream("late")["names"][0]["state"].get<std::string>(), std::string("unresolved"));
        QCOMPARE(upstream("late")["names"][0]["error"].get<std::string>(), std::string("Host not found"));
        dns_.set("late.test", ips({"127.0.0.2"}));
        // Retried after 1, 2, 4 ... s although its interval is the default 30 s.
        QTRY_COMPARE_WITH_TIMEOUT(roundTrip(port_, get("/late/x")).status, 200, 15000);
        QCOMPARE(roundTrip(port_, get("/late/x")).body.substr(0, 1), std::string("B"));
    }

    void aChangeAppliesWithoutDroppingTheExchangeInFlight() {
        RawClient slow;
        QVERIFY(slow.connect(port_));
        QVERIFY(slow.send(get("/slow/2500")));
        QTRY_VERIFY_WITH_TIMEOUT(a_->countTarget("/slow/2500") == 1, 5000);
        dns_.set("app.test", ips({"127.0.0.2"}));
        QTRY_COMPARE_WITH_TIMEOUT(who(), std::string("B"), 10000);
        const auto r = slow.readResponse(10s);
        QCOMPARE(r.status, 200);  // it finished on the server it started with
        QCOMPARE(serverKeys("app"),
                 std::vector<std::string>{"app.test:" + std::to_string(originPort_) + "@127.0.0.2"});
    }

    void aFailedLookupKeepsTheLastGoodSet() {
        dns_.set("app.test", std::unexpected(std::string("SERVFAIL")));
        QTRY_COMPARE_WITH_TIMEOUT(upstream("app")["names"][0].value("state", ""), std::string("stale"), 10000);
        const json name = upstream("app")["names"][0];
        QCOMPARE(name["error"].get<std::string>(), std::string("SERVFAIL"));
        QVERIFY(name["consecutive_failures"].get<int>() >= 1);
        QCOMPARE(name["addresses"][0].get<std::string>(), "127.0.0.2:" + std::to_string(originPort_));
        for (int i = 0; i < 5; ++i) QCOMPARE(who(), std::string("B"));
    }

    void everyAddressTakesRequests() {
        dns_.set("app.test", ips({"127.0.0.2", "127.0.0.1"}));
        QTRY_COMPARE_WITH_TIMEOUT(serverKeys("app").size(), std::size_t(2), 10000);
        std::map<std::string, int> seen;
        for (int i = 0; i < 20; ++i) ++seen[who()];
        QVERIFY2(seen["A"] >= 5 && seen["B"] >= 5,
                 qPrintable(QString("A=%1 B=%2").arg(seen["A"]).arg(seen["B"])));
    }

    void aDrainByNameCoversEveryAddressAndOutlivesChanges() {
        const std::string name = "app.test:" + std::to_string(originPort_);
        const json drained = proxyctlJson(endpoint_, {"upstreams", "drain", "app", QString::fromStdString(name)});
        QVERIFY2(!drained.is_discarded(), "proxyctl upstreams drain failed");
        const json app = upstream("app");  // the loop must not iterate into a temporary
        QVERIFY(app.is_object());
        for (const auto& s : app["servers"]) QCOMPARE(s["state"].get<std::string>(), std::string("draining"));
        QCOMPARE(roundTrip(port_, get("/x")).status, 503);
        // A new address of the name is drained too.
        dns_.set("app.test", ips({"127.0.0.1"}));
        QTRY_COMPARE_WITH_TIMEOUT(serverKeys("app").size(), std::size_t(1), 10000);
        QCOMPARE(upstream("app")["servers"][0]["state"].get<std::string>(), std::string("draining"));
        proxyctlJson(endpoint_, {"upstreams", "enable", "app", QString::fromStdString(name)});
        QCOMPARE(who(), std::string("A"));
    }
};

QTEST_GUILESS_MAIN(DnsRuntimeTest)
#include "dns_runtime_test.moc"
