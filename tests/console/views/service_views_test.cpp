// The views that talk to the service, against the in-test fake server: the live view subscribes
// on every (re)connect and fills its table from traffic.event (single events and batches); the
// log browser pages with the cursor the service gave; the dashboard charts successive stats.get
// answers and records server state changes; a method the service lacks (-32601) is explained in
// the view, and a read-only role disables the actions.
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTemporaryDir>
#include <QTest>

#include "app/main_window.h"
#include "fake_control_server.h"
#include "models/log_model.h"
#include "models/traffic_model.h"
#include "models/upstreams_model.h"
#include "views/config_editor_view.h"
#include "views/dashboard_view.h"
#include "views/log_view.h"
#include "views/traffic_view.h"
#include "widgets/connection_indicator.h"

using namespace proxy::console;
using proxy::test::FakeControlServer;
using Answer = FakeControlServer::Answer;

namespace {
Json feedEvent(int n, int status) {
    return {{"time", "2026-11-27T10:00:00.000Z"},
            {"request_id", "req-" + std::to_string(n)},
            {"client", "10.0.0.1"},
            {"method", "GET"},
            {"host", "h"},
            {"path", "/p"},
            {"route", "all"},
            {"server", "127.0.0.1:9001"},
            {"status", status},
            {"duration_us", 100},
            {"bytes_out", 1}};
}
Json logRows(int first, int count) {
    Json rows = Json::array();
    for (int i = first; i < first + count; ++i)
        rows.push_back({{"id", i},
                        {"ts_us", 1'800'000'000'000'000LL - i},
                        {"status", 200},
                        {"method", "GET"},
                        {"path", "/r"}});
    return rows;
}
}  // namespace

class ServiceViewsTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    std::unique_ptr<FakeControlServer> server_;
    std::unique_ptr<ServiceClient> client_;
    std::unique_ptr<MainWindow> window_;
    std::vector<Json> logQueries_;
    int stats_ = 0;
    std::string serverState_ = "enabled";

    void startAll() {
        client_ = std::make_unique<ServiceClient>();
        client_->setBackoffForTest(20, 200);
        client_->setEndpoint(dir_.filePath("c.sock"));
        window_ = std::make_unique<MainWindow>(client_.get());
        window_->show();
        client_->start();
    }

  private slots:
    void init() {
        logQueries_.clear();
        stats_ = 0;
        serverState_ = "enabled";
        server_ = std::make_unique<FakeControlServer>();
        QVERIFY(server_->listen(dir_.filePath("c.sock")));
        server_->on("traffic.subscribe", [](const Json&) {
            return Answer::ok({{"subscribed", true}});
        });
        server_->on("status", [](const Json&) {
            return Answer::ok(
                {{"version", "0.1.0"},
                 {"uptime_seconds", 65},
                 {"config_version", 4},
                 {"workers", 2},
                 {"listeners", Json::array({{{"name", "web"}, {"address", "127.0.0.1:8080"}}})},
                 {"connections", {{"active", 1}, {"accepted", 9}}}});
        });
        server_->on("stats.get", [this](const Json&) {
            ++stats_;
            const int n = stats_ * 100;
            return Answer::ok(
                {{"access_log", {{"dropped", 3}}},
                 {"metrics",
                  {{"listeners",
                    {{"web",
                      {{"requests", n},
                       {"by_class", {{"2xx", n - stats_}, {"5xx", stats_}}},
                       {"latency_us",
                        {{"count", n}, {"sum", n * 1000}, {"p50", 900}, {"p99", 4000}}}}}}}}}});
        });
        server_->on("upstreams.list", [this](const Json&) {
            return Answer::ok(
                {{"upstreams",
                  Json::array({{{"name", "demo"},
                                {"servers", Json::array({{{"address", "127.0.0.1:9001"},
                                                          {"state", serverState_}}})}}})}});
        });
        server_->on("config.get", [](const Json&) {
            return Answer::ok(
                {{"version", 4},
                 {"text",
                  R"({"listeners":[{"name":"web","address":"127.0.0.1:8080"}],"upstreams":[{"name":"demo","servers":[{"address":"127.0.0.1:9001"}]}],"routes":[{"name":"all","upstream":"demo"}]})"}});
        });
        server_->on("config.history", [](const Json&) {
            return Answer::ok({{"current_version", 4},
                               {"versions", Json::array({{{"version", 4}, {"current", true}}})}});
        });
        server_->on("logs.query", [this](const Json& p) {
            logQueries_.push_back(p);
            if (!p.contains("cursor"))
                return Answer::ok({{"rows", logRows(0, 500)}, {"next_cursor", "c-500"}});
            return Answer::ok({{"rows", logRows(500, 20)}, {"next_cursor", nullptr}});
        });
        server_->on("logs.aggregate", [](const Json&) {
            return Answer::ok({{"totals", {{"requests", 520}, {"errors", 0}}},
                               {"minutes", Json::array({{{"minute_ms", 1'800'000'000'000LL},
                                                         {"requests", 520},
                                                         {"errors", 0},
                                                         {"p99_us", 1000}}})}});
        });
    }

    void cleanup() {
        window_.reset();
        client_.reset();
        server_.reset();
    }

    void liveTrafficFillsAndResubscribes() {
        startAll();
        TrafficView* traffic = window_->traffic();
        QTRY_VERIFY(traffic->subscribed());
        server_->notifyAll("traffic.event", feedEvent(1, 200));
        server_->notifyAll(
            "traffic.event",
            {{"events", Json::array({feedEvent(2, 503), {{"dropped", 5}}, feedEvent(3, 404)})}});
        QTRY_COMPARE(traffic->model()->rowCount(), 3);
        QCOMPARE(traffic->model()->droppedByService(), qint64(5));
        auto* filter = traffic->findChild<QLineEdit*>("trafficFilter");
        QTest::keyClicks(filter, "status:5xx");
        QCOMPARE(traffic->filter()->rowCount(), 1);

        // The service restarts: the view subscribes again by itself.
        server_->close();
        QTRY_VERIFY(!traffic->subscribed());
        QVERIFY(server_->listen(dir_.filePath("c.sock")));
        QTRY_VERIFY_WITH_TIMEOUT(traffic->subscribed(), 10000);
        server_->notifyAll("traffic.event", feedEvent(4, 502));
        QTRY_COMPARE(traffic->model()->rowCount(), 4);
        QCOMPARE(traffic->filter()->rowCount(), 2);
    }

    void missingMethodsAreExplained() {
        server_->on("traffic.subscribe",
                    [](const Json&) { return Answer::fail(-32601, "no such method"); });
        server_->on("logs.query",
                    [](const Json&) { return Answer::fail(-32601, "no such method"); });
        server_->on("logs.aggregate",
                    [](const Json&) { return Answer::fail(-32601, "no such method"); });
        startAll();
        QTRY_VERIFY(window_->traffic()->notice().contains("traffic.subscribe"));
        window_->logs()->runQuery();
        QTRY_VERIFY(window_->logs()->notice().contains("logs.query"));
        QVERIFY(client_->isConnected());  // the rest keeps working
        QTRY_VERIFY(window_->dashboard()->statusText().contains("config v4"));
    }

    void logBrowserPagesWithTheCursor() {
        startAll();
        QTRY_VERIFY(client_->isConnected());
        LogView* logs = window_->logs();
        auto* status = logs->findChild<QLineEdit*>("logStatus");
        QTest::keyClicks(status, "404, 5xx");
        auto* host = logs->findChild<QLineEdit*>("logHost");
        QTest::keyClicks(host, "example.com");
        QTest::mouseClick(logs->findChild<QPushButton*>("logSearch"), Qt::LeftButton);
        QTRY_COMPARE(logs->model()->rowCount(), 500);
        QVERIFY(!logQueries_.empty());
        const Json first = logQueries_.front();
        QCOMPARE(first["host"].get<std::string>(), std::string("example.com"));
        QCOMPARE(first["status"], Json::array({404, "5xx"}));
        QVERIFY(first["from_ms"].get<std::int64_t>() < first["to_ms"].get<std::int64_t>());
        QVERIFY(!first.contains("cursor"));
        auto* more = logs->findChild<QPushButton*>("logMore");
        QTRY_VERIFY(more->isEnabled());
        QTest::mouseClick(more, Qt::LeftButton);
        QTRY_COMPARE(logs->model()->rowCount(), 520);
        QCOMPARE(logQueries_.back()["cursor"].get<std::string>(), std::string("c-500"));
        QCOMPARE(logQueries_.back()["host"].get<std::string>(), std::string("example.com"));
        QVERIFY(!more->isEnabled());  // the last page said so

        // A bad status term is refused before anything is sent.
        const auto sent = logQueries_.size();
        status->clear();
        QTest::keyClicks(status, "teapot");
        QTest::mouseClick(logs->findChild<QPushButton*>("logSearch"), Qt::LeftButton);
        QVERIFY(logs->notice().contains("teapot"));
        QCOMPARE(logQueries_.size(), sent);
    }

    void dashboardChartsAndTimeline() {
        startAll();
        DashboardView* dash = window_->dashboard();
        QTRY_VERIFY_WITH_TIMEOUT(dash->sampler().points().size() >= 2, 15000);
        const StatsPoint& p = dash->sampler().points().back();
        QVERIFY(p.requestsPerSec > 0);
        QVERIFY(p.errorRatePct > 0.5 && p.errorRatePct < 1.5);  // one 5xx per hundred
        QCOMPARE(*p.p99Ms, 4.0);
        QTRY_VERIFY(dash->statusText().contains("Dropped access-log records: 3"));
        QVERIFY(dash->statusText().contains("127.0.0.1:8080"));
        QTRY_COMPARE(dash->upstreams()->rowCount(), 1);
        serverState_ = "draining";
        QTRY_VERIFY_WITH_TIMEOUT(dash->timelineCount() >= 1, 10000);
        QCOMPARE(dash->upstreams()->row(0).state, QString("draining"));
        // The connection badge says where and as what.
        QVERIFY(window_->indicator()->text().contains("Connected"));
        QVERIFY(window_->indicator()->text().contains("admin"));
    }

    void readOnlyRoleDisablesEditing() {
        server_->setRole("read-only");
        startAll();
        QTRY_VERIFY(client_->isConnected());
        QTRY_VERIFY(window_->editor()->readOnly());
        QTRY_VERIFY(
            window_->editor()->documentText().contains("127.0.0.1:9001"));  // still browsable
        auto* badge = window_->findChild<QLabel*>("roleBadge");
        QCOMPARE(badge->text(), QString("READ-ONLY"));
        QVERIFY(window_->indicator()->text().contains("read-only"));
        // An admin connection later lifts it.
        server_->setRole("admin");
        client_->reconnectNow();
        QTRY_VERIFY(!window_->editor()->readOnly());
    }

    void forbiddenAnswerTurnsEditingOff() {
        // The role said admin, but the service refuses config changes (e.g. policy changed).
        server_->on("config.rollback",
                    [](const Json&) { return Answer::fail(-32002, "forbidden"); });
        startAll();
        QTRY_VERIFY(client_->isConnected());
        QVERIFY(!window_->editor()->readOnly());
        std::optional<RpcReply> reply;
        client_->call("config.rollback", {{"version", 1}}, this,
                      [&](const RpcReply& r) { reply = r; });
        QTRY_VERIFY(reply.has_value());
        QTRY_VERIFY(window_->editor()->readOnly());
    }
};

QTEST_MAIN(ServiceViewsTest)
#include "service_views_test.moc"
