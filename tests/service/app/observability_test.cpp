// The admin's eyes, end to end: a real proxy-service with the SQLite access log, the JSON-lines
// file, the error log file and the Prometheus listener, read back through proxyctl (logs.query,
// logs.aggregate, traffic.subscribe, stats.get) and plain HTTP (/metrics). Requests the engine
// rejects before routing (400, 408, 431) are logged too.
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QThread>
#include <QTest>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <functional>
#include <set>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control/frame_codec.h"
#include "control/json_rpc.h"
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
    QString out;  // stdout only
    QString err;
    json parsed;
};

std::string get(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: obs.test\r\n\r\n"; }

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

QString readAll(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    return QString::fromUtf8(f.readAll());
}

}  // namespace

class ObservabilityTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    int deadPort_ = 0;
    int metricsPort_ = 0;
    std::string endpoint_;
    std::int64_t startedMs_ = 0;

    QString path(const char* name) const { return proxy_->dir() + "/" + name; }

    json config() const {
        return {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"logging",
             {{"database", path("db/logs.db").toStdString()},
              {"access_log_file", path("files/access.jsonl").toStdString()},
              {"error_log_file", path("files/error.log").toStdString()},
              {"metrics_listen", "127.0.0.1:" + std::to_string(metricsPort_)}}},
            {"timeouts", {{"header_ms", 400}}},
            {"limits", {{"max_header_bytes", 2048}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams",
             json::array({{{"name", "app"},
                           {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(origin_->port())}}})}},
                          {{"name", "gone"},
                           {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(deadPort_)}}})}}})},
            {"routes", json::array({{{"name", "dead"}, {"match", {{"path_prefix", "/dead/"}}}, {"upstream", "gone"}},
                                    {{"name", "main"}, {"upstream", "app"}}})},
        };
    }

    CtlResult ctl(QStringList args, int timeoutMs = 15000) {
        const ProxyctlResult run = runProxyctl(endpoint_, QStringList{"--json"} + args, timeoutMs);
        CtlResult r;
        r.exitCode = run.exitCode;
        r.out = QString::fromUtf8(run.out);
        r.err = QString::fromUtf8(run.err);
        r.parsed = run.json();
        return r;
    }

    // The access log is written by its own thread: wait until `n` rows match.
    json waitRows(const QStringList& filters, std::size_t n) {
        json rows;
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 15000) {
            const auto r = ctl(QStringList{"logs"} << filters);
            if (r.exitCode == 0 && r.parsed.is_object()) {
                rows = r.parsed["rows"];
                if (rows.size() >= n) return rows;
            }
            QThread::msleep(100);
        }
        return rows;
    }

    // Polls stats.get until the live feed's subscriber count satisfies `done` (10 s at most).
    int waitSubscribers(const std::function<bool(int)>& done) {
        QElapsedTimer t;
        t.start();
        int n = -1;
        while (t.elapsed() < 10000) {
            const auto s = ctl({"stats"});
            if (s.exitCode == 0 && s.parsed.is_object()) n = s.parsed["live_feed"]["subscribers"].get<int>();
            if (n >= 0 && done(n)) break;
            QThread::msleep(50);
        }
        return n;
    }

private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("A");
        port_ = freePort();
        deadPort_ = freePort();  // nothing listens there
        metricsPort_ = freePort();
        endpoint_ = "/tmp/proxy-obs-test-" + std::to_string(port_) + "/control.sock";
        proxy_ = std::make_unique<ProxyProcess>();
        startedMs_ = nowMs();
        QVERIFY2(proxy_->start(config().dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
    }

    void proxiedRequestsAreQueryable() {
        std::vector<std::string> ids;
        for (int i = 0; i < 5; ++i) {
            const auto r = roundTrip(port_, get("/item/" + std::to_string(i) + "?q=" + std::to_string(i)));
            QCOMPARE(r.status, 200);
            ids.push_back(r.header("x-request-id"));
        }
        const json rows = waitRows({"path=/item/"}, 5);
        QCOMPARE(rows.size(), std::size_t{5});
        // Newest first, each with what the admin needs to find it.
        for (std::size_t i = 0; i < 5; ++i) {
            const json& row = rows[i];
            QCOMPARE(row["path"].get<std::string>(), "/item/" + std::to_string(4 - i));
            QCOMPARE(row["query"].get<std::string>(), "q=" + std::to_string(4 - i));
            QCOMPARE(row["status"].get<int>(), 200);
            QCOMPARE(row["method"].get<std::string>(), std::string("GET"));
            QCOMPARE(row["host"].get<std::string>(), std::string("obs.test"));
            QCOMPARE(row["route"].get<std::string>(), std::string("main"));
            QCOMPARE(row["upstream"].get<std::string>(), std::string("app"));
            QCOMPARE(row["upstream_server"].get<std::string>(), "127.0.0.1:" + std::to_string(origin_->port()));
            QCOMPARE(row["listener"].get<std::string>(), std::string("web"));
            QCOMPARE(row["request_id"].get<std::string>(), ids[4 - i]);
            QVERIFY(row["bytes_out"].get<std::int64_t>() > 0);
        }
        // Keyset paging: two pages of two, then one, never repeating.
        auto page1 = ctl({"logs", "--path", "/item/", "--limit", "2"});
        QCOMPARE(page1.exitCode, 0);
        QCOMPARE(page1.parsed["rows"].size(), std::size_t{2});
        const std::string cursor = page1.parsed["next_cursor"].get<std::string>();
        auto page2 = ctl({"logs", "path=/item/", "limit=2", QString::fromStdString("cursor=" + cursor)});
        QCOMPARE(page2.exitCode, 0);
        QCOMPARE(page2.parsed["rows"][0]["request_id"].get<std::string>(), ids[2]);
    }

    void rejectedHeadsAreLoggedToo() {
        {
            const auto r = roundTrip(port_, "GARBAGE\r\n\r\n");
            QCOMPARE(r.status, 400);
        }
        {
            RawClient c;
            QVERIFY(c.connect(port_));
            QVERIFY(c.send("GET /slow-head HTTP/1.1\r\nHost: obs.test\r\n"));  // never finished
            const auto r = c.readResponse(5s);
            QCOMPARE(r.status, 408);
        }
        {
            const auto r = roundTrip(port_, "GET /big-head HTTP/1.1\r\nHost: obs.test\r\nX-Fill: " +
                                                std::string(4000, 'a') + "\r\n\r\n");
            QCOMPARE(r.status, 431);
        }
        const json rows = waitRows({"status=400,408,431"}, 3);
        QCOMPARE(rows.size(), std::size_t{3});
        std::set<int> statuses;
        for (const auto& row : rows) {
            statuses.insert(row["status"].get<int>());
            QVERIFY2(row["error"].get<std::string>().starts_with("downstream: "), row.dump().c_str());
            QVERIFY(!row["request_id"].get<std::string>().empty());
            QCOMPARE(row["listener"].get<std::string>(), std::string("web"));
        }
        QCOMPARE(statuses, (std::set<int>{400, 408, 431}));
    }

    void upstreamFailuresReachBothLogs() {
        const auto r = roundTrip(port_, get("/dead/x"));
        QCOMPARE(r.status, 502);
        const std::string id = r.header("x-request-id");
        const json rows = waitRows({"route=dead"}, 1);
        QCOMPARE(rows.size(), std::size_t{1});
        QCOMPARE(rows[0]["status"].get<int>(), 502);
        QVERIFY2(rows[0]["error"].get<std::string>().starts_with("upstream: "), rows[0].dump().c_str());
        QVERIFY(rows[0]["error"].get<std::string>().size() > std::string("upstream: ").size());
        // The error log file names the same request.
        QElapsedTimer t;
        t.start();
        QString errorLog;
        while (t.elapsed() < 5000 && !errorLog.contains(QString::fromStdString(id))) {
            errorLog = readAll(path("files/error.log"));
            QThread::msleep(50);
        }
        QVERIFY2(errorLog.contains(QString::fromStdString("[req " + id + "] 502 upstream gone")), qPrintable(errorLog));
        QVERIFY(errorLog.contains("started:"));
    }

    void aggregatesCountEveryRequest() {
        const std::int64_t to = nowMs() + 60'000;
        const auto r = ctl({"call", "logs.aggregate",
                            QString::fromStdString(json{{"from_ms", startedMs_ - 60'000}, {"to_ms", to}}.dump())});
        QCOMPARE(r.exitCode, 0);
        const json& totals = r.parsed["totals"];
        // The five proxied requests, the 400/408/431 and the 502, at least.
        QVERIFY2(totals["requests"].get<int>() >= 9, r.out.toUtf8().constData());
        QVERIFY(totals["status_2xx"].get<int>() >= 5);
        QVERIFY(totals["status_4xx"].get<int>() >= 3);
        QVERIFY(totals["status_5xx"].get<int>() >= 1);
        QVERIFY(!r.parsed["minutes"].empty());
        const json& minute = r.parsed["minutes"][0];
        QVERIFY(minute.contains("p50_us") && minute.contains("p99_us"));
    }

    void badQueriesAreClearErrors() {
        auto r = ctl({"call", "logs.query", R"({"limit": 0})"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("invalid_params"), qPrintable(r.err));
        r = ctl({"call", "logs.query", R"({"status": ["9xx"]})"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("invalid_params"), qPrintable(r.err));
        r = ctl({"call", "logs.query", R"({"limit": 10, "lmit": 5})"});
        QCOMPARE(r.exitCode, 1);
        r = ctl({"call", "logs.aggregate", R"({"from_ms": 0})"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("to_ms"), qPrintable(r.err));
        r = ctl({"call", "logs.aggregate", R"({"from_ms": 0, "to_ms": 999999999999})"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("7 days"), qPrintable(r.err));
        r = ctl({"call", "traffic.subscribe", R"({"capacity": 0})"});
        QCOMPARE(r.exitCode, 1);
        r = ctl({"logs", "nonsense=1"});
        QCOMPARE(r.exitCode, 2);  // usage: nothing sent
        r = ctl({"logs", "since=forever"});
        QCOMPARE(r.exitCode, 2);
        r = ctl({"logs", "--since"});
        QCOMPARE(r.exitCode, 2);
        r = ctl({"logs", "--since", "1h", "since=2h"});
        QCOMPARE(r.exitCode, 2);  // given twice
        r = ctl({"logs", "--since", "1h", "--status", "5xx"});
        QCOMPARE(r.exitCode, 0);
    }

    // proxyctl logs --format csv|json: every matching row, paged through logs.query, as CSV with a
    // header (RFC 4180 quoting) or JSON lines; a field with quotes and commas survives.
    void logsExportCsvAndJson() {
        const std::string agent = "Agent \"quoted\", with, commas";
        for (int i = 0; i < 3; ++i) {
            const auto r = roundTrip(port_, "GET /export/" + std::to_string(i) +
                                                " HTTP/1.1\r\nHost: obs.test\r\nUser-Agent: " + agent + "\r\n\r\n");
            QCOMPARE(r.status, 200);
        }
        QCOMPARE(waitRows({"path=/export/"}, 3).size(), std::size_t{3});
        auto run = [&](const QStringList& args) {
            const ProxyctlResult r = runProxyctl(endpoint_, args);
            return std::make_pair(r.exitCode, r.out.toStdString());
        };
        auto [code, csv] = run({"logs", "--path", "/export/", "--format", "csv"});
        QCOMPARE(code, 0);
        // Header, then three records; the agent's field is quoted with its quotes doubled.
        QVERIFY2(csv.starts_with("id,time,ts_us,request_id,client_addr,"), csv.c_str());
        QCOMPARE(std::count(csv.begin(), csv.end(), '\n'), std::ptrdiff_t{4});
        QVERIFY2(csv.find(",\"Agent \"\"quoted\"\", with, commas\",") != std::string::npos, csv.c_str());
        const auto first = csv.find("/export/2"), last = csv.find("/export/0");
        QVERIFY(first != std::string::npos && last != std::string::npos && first < last);  // newest first
        auto [jcode, lines] = run({"logs", "path=/export/", "limit=2", "--format", "json"});
        QCOMPARE(jcode, 0);
        const QStringList split = QString::fromStdString(lines).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(split.size(), 2);
        const QByteArray line = split[0].toUtf8();
        const json row = json::parse(line.begin(), line.end(), nullptr, false);
        QVERIFY2(row.is_object(), line.constData());
        QCOMPARE(row["path"].get<std::string>(), std::string("/export/2"));
        QCOMPARE(row["user_agent"].get<std::string>(), agent);
        auto [bad, nothing] = run({"logs", "--format", "xml"});
        QCOMPARE(bad, 2);
        QVERIFY(nothing.empty());
        auto [refused, empty] = run({"logs", "--format", "csv", "--status", "9xx"});  // the server says no
        QCOMPARE(refused, 1);
        QVERIFY2(empty.empty(), empty.c_str());
    }

    void liveFeedFollowsRequests() {
        QProcess follower;
        follower.start(QStringLiteral(PROXYCTL_EXE),
                       {"--endpoint", QString::fromStdString(endpoint_), "--json", "--timeout", "30",
                        "traffic", "watch", "3"});
        QVERIFY(follower.waitForStarted(5000));
        // Wait until the subscription is in place, then make exactly three requests.
        QVERIFY(waitSubscribers([](int n) { return n >= 1; }) >= 1);
        std::set<std::string> ids;
        for (int i = 0; i < 3; ++i) ids.insert(roundTrip(port_, get("/live/" + std::to_string(i))).header("x-request-id"));
        QVERIFY(follower.waitForFinished(20000));
        QCOMPARE(follower.exitCode(), 0);
        const QStringList lines = QString::fromUtf8(follower.readAllStandardOutput()).split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        std::set<std::string> seen;
        for (const QString& line : lines) {
            const QByteArray bytes = line.toUtf8();
            const json e = json::parse(bytes.begin(), bytes.end(), nullptr, false);
            QVERIFY2(e.is_object(), bytes.constData());
            QVERIFY(e["path"].get<std::string>().starts_with("/live/"));
            QCOMPARE(e["status"].get<int>(), 200);
            seen.insert(e["request_id"].get<std::string>());
        }
        QCOMPARE(seen, ids);
        // The follower is gone: its subscription goes with the next event at the latest.
        roundTrip(port_, get("/after"));
        QCOMPARE(waitSubscribers([](int n) { return n == 0; }), 0);
    }

    void inflightShowsSlowRequests() {
        RawClient slow;
        QVERIFY(slow.connect(port_));
        QVERIFY(slow.send(get("/slow/3000")));
        QElapsedTimer t;
        t.start();
        json found;
        while (t.elapsed() < 2500 && found.is_null()) {
            const auto r = ctl({"call", "traffic.inflight", R"({"limit": 10})"});
            QCOMPARE(r.exitCode, 0);
            for (const auto& row : r.parsed["requests"])
                if (row["path"] == "/slow/3000") found = row;
            if (found.is_null()) QThread::msleep(50);
        }
        QVERIFY2(!found.is_null(), "the slow request never showed as in flight");
        QCOMPARE(found["stage"].get<std::string>(), std::string("upstream"));
        QCOMPARE(found["route"].get<std::string>(), std::string("main"));
        QVERIFY(found["age_us"].get<std::int64_t>() > 0);
        QVERIFY(!found["request_id"].get<std::string>().empty());
        const auto r = slow.readResponse(10s);
        QCOMPARE(r.status, 200);
        const auto after = ctl({"call", "traffic.inflight"});
        QCOMPARE(after.parsed["workers_answered"], after.parsed["workers"]);
        for (const auto& row : after.parsed["requests"]) QVERIFY(row["path"] != "/slow/3000");
        QCOMPARE(ctl({"call", "traffic.inflight", R"({"limit": 0})"}).exitCode, 1);
    }

    void completenessWithinTwoSeconds() {
        // Issue #5: after N requests through the proxy, N rows are stored within 2 s.
        const auto before = ctl({"stats"}).parsed["access_log"]["written"].get<std::uint64_t>();
        constexpr int kRequests = 300;
        RawClient c;
        QVERIFY(c.connect(port_));
        for (int i = 0; i < kRequests; ++i) {
            QVERIFY(c.send(get("/bulk/" + std::to_string(i))));
            QCOMPARE(c.readResponse().status, 200);
        }
        QElapsedTimer t;
        t.start();
        std::uint64_t written = 0;
        while (t.elapsed() < 10000) {
            written = ctl({"stats"}).parsed["access_log"]["written"].get<std::uint64_t>();
            if (written >= before + kRequests) break;
            QThread::msleep(20);
        }
        const qint64 took = t.elapsed();
        qInfo("%d rows stored %lld ms after the last response", kRequests, static_cast<long long>(took));
        QVERIFY2(written >= before + kRequests, qPrintable(QString::number(written - before)));
        QVERIFY2(took < 2000, qPrintable(QString::number(took)));
        const json rows = waitRows({"path=/bulk/", "limit=1000"}, kRequests);
        QCOMPARE(rows.size(), std::size_t{kRequests});
    }

    void subscriberThatNeverReadsIsCutOff() {
        // A raw control client subscribes and then never reads. The control server's outgoing
        // queue bound must end it; requests keep flowing at full speed meanwhile.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        QVERIFY(fd >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::snprintf(address.sun_path, sizeof address.sun_path, "%s", endpoint_.c_str());
        QVERIFY(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        const int small = 4096;  // keep the kernel's buffer small so the server's queue fills
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        const std::string frames =
            proxy::control::encodeFrame(proxy::control::makeRequest(1, "hello", proxy::control::makeHelloParams("stuck"))) +
            proxy::control::encodeFrame(proxy::control::makeRequest(2, "traffic.subscribe", json{{"capacity", 10000}}));
        QCOMPARE(::write(fd, frames.data(), frames.size()), static_cast<ssize_t>(frames.size()));

        QVERIFY(waitSubscribers([](int n) { return n >= 1; }) >= 1);
        QElapsedTimer t;
        t.start();
        // ~250 bytes per event: 4000 events are far more than the kernel buffers hold, so the
        // server's write to this client stalls and its write deadline (or queue bound) ends it.
        RawClient c;
        QVERIFY(c.connect(port_));
        int sent = 0;
        bool cutOff = false;
        while (!cutOff && t.elapsed() < 60000) {
            for (int i = 0; i < 200 && sent < 4000; ++i, ++sent) {
                QVERIFY(c.send(get("/flood/" + std::to_string(sent))));
                QCOMPARE(c.readResponse(5s).status, 200);
            }
            if (sent >= 4000) QThread::msleep(200);
            const auto status = ctl({"status"});
            bool present = false;
            for (const auto& client : status.parsed["control"]["clients"])
                if (client.value("client", std::string()).find("stuck") != std::string::npos) present = true;
            cutOff = !present;
        }
        qInfo("the stuck subscriber was cut off after %d requests (%lld ms)", sent,
              static_cast<long long>(t.elapsed()));
        QVERIFY2(cutOff, qPrintable(QString::number(sent)));
        ::close(fd);
        // The server forgets its feed subscription with the next event.
        roundTrip(port_, get("/after-stuck"));
        QCOMPARE(waitSubscribers([](int n) { return n == 0; }), 0);
    }

    void statsAndPrometheusAgree() {
        const auto s = ctl({"stats"});
        QCOMPARE(s.exitCode, 0);
        const json& route = s.parsed["metrics"]["routes"]["main"];
        QVERIFY2(route["requests"].get<int>() >= 5, s.out.toUtf8().constData());
        QVERIFY(route["latency_us"].contains("p99"));
        QVERIFY(s.parsed["access_log"]["written"].get<int>() >= 9);
        QCOMPARE(s.parsed["access_log"]["dropped"].get<int>(), 0);
        QVERIFY(s.parsed["requests"].get<int>() >= 9);

        const auto status = ctl({"status"});
        QCOMPARE(status.parsed["dropped_log_records"].get<int>(), 0);

        const auto m = roundTrip(metricsPort_, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        QCOMPARE(m.status, 200);
        QVERIFY2(m.body.find("proxy_route_requests_total{route=\"main\",class=\"2xx\"}") != std::string::npos,
                 m.body.c_str());
        QVERIFY(m.body.find("proxy_connections_accepted_total") != std::string::npos);
        QVERIFY(m.body.find("proxy_config_version 1") != std::string::npos);
    }

    void jsonLinesFileHasEveryRecord() {
        // Same records, one JSON object per line, each parseable.
        QElapsedTimer t;
        t.start();
        QStringList lines;
        while (t.elapsed() < 5000) {
            lines = readAll(path("files/access.jsonl")).split('\n', Qt::SkipEmptyParts);
            if (lines.size() >= 9) break;
            QThread::msleep(50);
        }
        QVERIFY2(lines.size() >= 9, qPrintable(QString::number(lines.size())));
        for (const QString& line : lines) {
            const QByteArray bytes = line.toUtf8();
            const json row = json::parse(bytes.begin(), bytes.end(), nullptr, false);
            QVERIFY2(row.is_object() && row.contains("request_id") && row.contains("status"), bytes.constData());
        }
    }

    void unusableExplicitPathRefusesToStart() {
        ProxyProcess bad;
        json c = config();
        c["control"]["endpoint"] = endpoint_ + ".bad";
        const int port = freePort();
        c["listeners"][0]["address"] = "127.0.0.1:" + std::to_string(port);
        c["logging"] = {{"database", "/proc/version/logs.db"}};  // a file, so never a folder
        QVERIFY(!bad.start(c.dump(), port));
        bad.stop(5000);
        QVERIFY2(bad.output().contains("access log"), qPrintable(bad.output()));
    }
};

QTEST_GUILESS_MAIN(ObservabilityTest)
#include "observability_test.moc"
