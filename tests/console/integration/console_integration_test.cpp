// The console against the real proxy-service (Linux, Unix socket endpoint from the config): it
// connects and says hello, the dashboard shows the service's status and the editor its config;
// then the UI is driven with QTest input — a route's upstream retyped, Apply clicked, the diff
// dialog accepted — and real HTTP traffic follows the change. The live feed shows requests; the
// log browser is driven by keyboard and mouse over a few hundred real requests (filter, paging,
// chart totals). Stopping and restarting the service is survived without a crash or a hang.
#include <QComboBox>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSet>
#include <QTabBar>
#include <QTableView>
#include <QTimer>
#include <QtTest>
#include <thread>

#include "app/main_window.h"
#include "fake_origin.h"
#include "models/inflight_model.h"
#include "models/log_model.h"
#include "models/traffic_model.h"
#include "models/upstreams_model.h"
#include "proxy_process.h"
#include "raw_client.h"
#include "views/config_editor_view.h"
#include "views/dashboard_view.h"
#include "views/log_view.h"
#include "views/traffic_view.h"
#include "widgets/diff_view.h"

using namespace proxy::console;
using namespace proxy::test;

class ConsoleIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> a_, b_;
    std::unique_ptr<ProxyProcess> proxy_;
    std::unique_ptr<ServiceClient> client_;
    std::unique_ptr<MainWindow> window_;
    int port_ = 0;
    std::string endpoint_;
    QStringList methods_;

    Json config(const std::string& upstream) const {
        auto server = [](int port) {
            return Json{{"address", "127.0.0.1:" + std::to_string(port)}};
        };
        return {
            {"workers", 1},
            {"control", {{"endpoint", endpoint_}}},
            {"logging", {{"database", proxy_->dir().toStdString() + "/logs.db"}}},
            {"listeners",
             Json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams",
             Json::array({{{"name", "a"}, {"servers", Json::array({server(a_->port())})}},
                          {{"name", "b"}, {"servers", Json::array({server(b_->port())})}}})},
            {"routes", Json::array({{{"name", "all"}, {"upstream", upstream}}})}};
    }

    QString get(const std::string& target) {
        return QString::fromStdString(
            roundTrip(port_, "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n").body);
    }

    // How many access log rows logs.aggregate counts under a path prefix in the last hour, or -1
    // when the call fails. Only to wait for the writer thread; the UI is checked on its own.
    qint64 loggedUnder(const std::string& prefix) {
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        std::optional<RpcReply> reply;
        client_->call(
            "logs.aggregate",
            Json{{"from_ms", now - 3'600'000}, {"to_ms", now + 1000}, {"path_prefix", prefix}},
            this, [&](const RpcReply& r) { reply = r; });
        if (!QTest::qWaitFor([&] { return reply.has_value(); }, 10000) || !reply->ok()) return -1;
        return integer(at(reply->result, {"totals", "requests"}), -1);
    }

    // Every loaded row's request id, checking that its path is in the family.
    static QSet<QString> pagedIds(LogView* logs, const QString& family) {
        QSet<QString> ids;
        for (int r = 0; r < logs->model()->rowCount(); ++r) {
            const Json& row = logs->model()->rowJson(r);
            const QString path = textOf(row, "path");
            if (!path.startsWith(family)) {
                qWarning() << "row" << r << "is" << path << "outside" << family;
                return {};
            }
            ids.insert(textOf(row, "request_id"));
        }
        return ids;
    }

    bool startService() {
        proxy_ = std::make_unique<ProxyProcess>();
        return proxy_->start(config("a").dump(2), port_);
    }

  private slots:
    void initTestCase() {
        a_ = std::make_unique<FakeOrigin>("A");
        b_ = std::make_unique<FakeOrigin>("B");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-console-test-" + std::to_string(port_) + "/control.sock";
        QVERIFY2(startService(), qPrintable(proxy_->output()));
        client_ = std::make_unique<ServiceClient>();
        client_->setBackoffForTest(50, 500);
        client_->setEndpoint(QString::fromStdString(endpoint_));
        window_ = std::make_unique<MainWindow>(client_.get());
        window_->show();
        client_->start();
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 15000);
        std::optional<RpcReply> reply;
        client_->call("methods", Json::object(), this, [&](const RpcReply& r) { reply = r; });
        QTRY_VERIFY(reply.has_value());
        QVERIFY2(reply->ok(), qPrintable(reply->describe()));
        for (const auto& m : reply->result["methods"])
            methods_ << QString::fromStdString(m["name"].get<std::string>());
    }

    void cleanupTestCase() {
        window_.reset();
        client_.reset();
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
        QDir(QFileInfo(QString::fromStdString(endpoint_)).path()).removeRecursively();
    }

    void seesStatusAndConfig() {
        QCOMPARE(client_->role(), QString("admin"));  // the service's own uid
        QCOMPARE(client_->serverName(), QString("proxy-service"));
        QTRY_VERIFY_WITH_TIMEOUT(window_->dashboard()->statusText().contains("config v1"), 10000);
        QVERIFY(window_->dashboard()->statusText().contains(QString::number(port_)));
        ConfigEditorView* editor = window_->editor();
        QTRY_VERIFY_WITH_TIMEOUT(editor->baseVersion() == 1, 10000);
        QVERIFY(editor->documentText().contains(QString::number(a_->port())));
        QTRY_VERIFY(!editor->validationPending());
        QCOMPARE(editor->errorCount(), 0);
        QTRY_COMPARE(window_->dashboard()->upstreams()->rowCount(), 2);
    }

    void editApplyAndTrafficFollows() {
        QCOMPARE(get("/x"), QString("A GET /x"));
        ConfigEditorView* editor = window_->editor();
        window_->tabs()->setCurrentWidget(editor);
        editor->selectItem(ConfigEditorView::Section::Route, 0);
        auto* upstream = editor->currentForm()->findChild<QComboBox*>("field:/upstream");
        QVERIFY(upstream);
        upstream->lineEdit()->setFocus();
        upstream->lineEdit()->selectAll();
        QTest::keyClicks(upstream->lineEdit(), "b");
        QTRY_VERIFY(!editor->validationPending());
        QCOMPARE(editor->errorCount(), 0);

        // Apply shows the diff in a modal dialog: accept it the way a user would.
        bool sawDiff = false;
        QTimer accept;
        accept.setInterval(50);
        connect(&accept, &QTimer::timeout, this, [&] {
            auto* dialog = qobject_cast<DiffDialog*>(QApplication::activeModalWidget());
            if (!dialog) return;
            const auto* view = dialog->findChild<DiffView*>();
            sawDiff = view && view->toPlainText().contains("-      \"upstream\": \"a\"") &&
                      view->toPlainText().contains("+      \"upstream\": \"b\"");
            auto* note = dialog->findChild<QLineEdit*>();
            if (note) QTest::keyClicks(note, "from the console test");
            QTest::mouseClick(dialog->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok),
                              Qt::LeftButton);
        });
        accept.start();
        QTest::mouseClick(editor->findChild<QPushButton*>("applyButton"), Qt::LeftButton);
        accept.stop();
        QVERIFY(sawDiff);
        QTRY_VERIFY_WITH_TIMEOUT(editor->baseVersion() == 2, 15000);
        QVERIFY(!editor->dirty());
        QCOMPARE(get("/y"), QString("B GET /y"));
        QTRY_VERIFY_WITH_TIMEOUT(window_->dashboard()->statusText().contains("config v2"), 10000);
    }

    void offersTheMethodsTheConsoleUses() {
        // The service implements these now; a build without them is a regression, not a fallback.
        for (const char* m : {"logs.query", "logs.aggregate", "traffic.subscribe",
                              "traffic.unsubscribe", "traffic.inflight", "stats.get"})
            QVERIFY2(methods_.contains(QLatin1String(m)), m);
    }

    void liveFeedShowsRequests() {
        TrafficView* traffic = window_->traffic();
        QTRY_VERIFY_WITH_TIMEOUT(traffic->subscribed(), 15000);
        QVERIFY2(traffic->notice().isEmpty(), qPrintable(traffic->notice()));
        QCOMPARE(get("/live"), QString("B GET /live"));
        // Events of earlier requests may still be on their way; wait for this one.
        auto shown = [traffic] {
            for (int r = 0; r < traffic->model()->rowCount(); ++r)
                if (traffic->model()->event(r).path == "/live")
                    return traffic->model()->event(r).status == 200;
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(shown(), 15000);
    }

    // A slow request shows in the "in flight" table while the live view is on screen, with its
    // stage and a growing age, and leaves it once answered.
    void inflightShowsASlowRequest() {
        TrafficView* traffic = window_->traffic();
        QTabBar* tabBar = window_->tabs()->tabBar();
        QTest::mouseClick(tabBar, Qt::LeftButton, {},
                          tabBar->tabRect(window_->tabs()->indexOf(traffic)).center());
        QTRY_VERIFY(traffic->isVisible());
        QString body;
        std::thread slow([&] { body = get("/slow/5000"); });
        auto row = [traffic]() -> int {
            for (int r = 0; r < traffic->inflight()->rowCount(); ++r)
                if (traffic->inflight()->request(r).path == "/slow/5000") return r;
            return -1;
        };
        const bool seen = QTest::qWaitFor([&] { return row() >= 0; }, 4500);
        qint64 age = -1;
        QString stage;
        if (seen) {
            age = traffic->inflight()->request(row()).ageUs;
            stage = traffic->inflight()->request(row()).stage;
        }
        slow.join();
        QCOMPARE(body, QString("slow B"));  // the fake origin's answer to /slow/<ms>
        QVERIFY2(seen, qPrintable(traffic->inflightSummary()));
        QCOMPARE(stage, QString("upstream"));  // waiting for the origin's answer
        QVERIFY(age >= 0);
        QVERIFY2(traffic->inflightSummary().contains("In flight"),
                 qPrintable(traffic->inflightSummary()));
        QTRY_VERIFY_WITH_TIMEOUT(row() < 0, 10000);
    }

    // Real requests in two path families, then the log view driven only by keyboard and mouse:
    // a path filter narrows the rows to one family, Load more and scrolling page through it
    // without repeats, and the chart's totals count the same requests.
    void logsAreBrowsedFilteredAndPaged() {
        constexpr int kAlpha = 170, kBeta = 80, kPage = 50;
        QCOMPARE(loggedUnder("/alpha/"), qint64(0));
        for (int i = 0; i < kAlpha + kBeta; ++i) {
            const std::string path =
                (i % 3 == 2 && i / 3 < kBeta ? "/beta/" : "/alpha/") + std::to_string(i);
            QCOMPARE(get(path), QString::fromStdString("B GET " + path));
        }
        // The access log's writer thread stores rows in batches: wait until all are written.
        QTRY_COMPARE_WITH_TIMEOUT(loggedUnder("/alpha/"), qint64(kAlpha), 20000);
        QTRY_COMPARE_WITH_TIMEOUT(loggedUnder("/beta/"), qint64(kBeta), 20000);

        LogView* logs = window_->logs();
        logs->setPageSize(kPage);
        window_->resize(1280, 820);  // the table then shows fewer rows than a page
        QTabBar* tabBar = window_->tabs()->tabBar();
        QTest::mouseClick(tabBar, Qt::LeftButton, {},
                          tabBar->tabRect(window_->tabs()->indexOf(logs)).center());
        QTRY_COMPARE(window_->tabs()->currentWidget(), static_cast<QWidget*>(logs));
        auto* prefix = logs->findChild<QLineEdit*>("logPathPrefix");
        auto* contains = logs->findChild<QLineEdit*>("logPathContains");
        auto* search = logs->findChild<QPushButton*>("logSearch");
        auto* more = logs->findChild<QPushButton*>("logMore");
        auto* table = logs->findChild<QTableView*>("logTable");
        auto* summary = logs->findChild<QLabel*>("logSummary");
        QVERIFY(prefix && contains && search && more && table && summary);

        QTest::mouseClick(prefix, Qt::LeftButton);
        QTest::keyClicks(prefix, "/alpha/");
        QTest::mouseClick(search, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!logs->querying() && logs->model()->rowCount() > 0, 15000);
        QVERIFY2(logs->notice().isEmpty(), qPrintable(logs->notice()));
        QCOMPARE(logs->model()->rowCount(), kPage);  // one page, and more to come
        QVERIFY(more->isEnabled());

        // Load more, by mouse.
        QTest::mouseClick(more, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!logs->querying() && logs->model()->rowCount() > kPage, 15000);
        QCOMPARE(logs->model()->rowCount(), 2 * kPage);
        // Scrolling to the end asks for the next page by itself: pick the first row, Ctrl+End.
        QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                          table->visualRect(logs->model()->index(0, 0)).center());
        QTRY_COMPARE(table->currentIndex().row(), 0);
        QTest::keyClick(table, Qt::Key_End, Qt::ControlModifier);
        QTRY_VERIFY_WITH_TIMEOUT(!logs->querying() && logs->model()->rowCount() > 2 * kPage, 15000);
        QCOMPARE(logs->model()->rowCount(), 3 * kPage);
        // The rest with the button, until it says that is all.
        for (int clicks = 0; more->isEnabled() && clicks < 10; ++clicks) {
            const int before = logs->model()->rowCount();
            QTest::mouseClick(more, Qt::LeftButton);
            QTRY_VERIFY_WITH_TIMEOUT(!logs->querying() && logs->model()->rowCount() > before,
                                     15000);
        }
        QTRY_VERIFY(!logs->querying());
        QVERIFY(!more->isEnabled());
        QCOMPARE(logs->model()->rowCount(), kAlpha);
        QVERIFY2(summary->text().contains("that is all"), qPrintable(summary->text()));
        QSet<QString> ids = pagedIds(logs, "/alpha/");
        QCOMPARE(ids.size(), kAlpha);  // no row twice, none missing
        QTRY_VERIFY_WITH_TIMEOUT(logs->chartTitle().contains(QString(" %1 requests").arg(kAlpha)),
                                 15000);
        QCOMPARE(logs->chartedRequests(), qint64(kAlpha));

        // The other family, through the other path filter and the Enter key.
        QTest::mouseClick(prefix, Qt::LeftButton);
        QTest::keyClick(prefix, Qt::Key_A, Qt::ControlModifier);
        QTest::keyClick(prefix, Qt::Key_Delete);
        QVERIFY(prefix->text().isEmpty());
        QTest::mouseClick(contains, Qt::LeftButton);
        QTest::keyClicks(contains, "beta");
        QTest::keyClick(contains, Qt::Key_Return);
        QTRY_VERIFY_WITH_TIMEOUT(!logs->querying() && logs->model()->rowCount() == kPage, 15000);
        QTest::mouseClick(more, Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(!logs->querying() && logs->model()->rowCount() == kBeta, 15000);
        QVERIFY(!more->isEnabled());
        const QSet<QString> betaIds = pagedIds(logs, "/beta/");
        QCOMPARE(betaIds.size(), kBeta);
        QVERIFY(!betaIds.intersects(ids));
        QTRY_VERIFY_WITH_TIMEOUT(logs->chartTitle().contains(QString(" %1 requests").arg(kBeta)),
                                 15000);
        QCOMPARE(logs->chartedRequests(), qint64(kBeta));
    }

    void survivesAServiceRestart() {
        QSignalSpy lost(client_.get(), &ServiceClient::disconnected);
        QCOMPARE(proxy_->stop(), 0);
        QTRY_VERIFY_WITH_TIMEOUT(lost.count() >= 1, 15000);
        QVERIFY(!client_->isConnected());
        // The views keep their last data while disconnected.
        QVERIFY(window_->dashboard()->statusText().contains("Disconnected"));
        QVERIFY(window_->editor()->documentText().contains("\"b\""));
        QVERIFY2(startService(), qPrintable(proxy_->output()));
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(window_->dashboard()->statusText().contains("config v"), 10000);
    }
};

QTEST_MAIN(ConsoleIntegrationTest)
#include "console_integration_test.moc"
