// The console against the real proxy-service (Linux, Unix socket endpoint from the config): it
// connects and says hello, the dashboard shows the service's status and the editor its config;
// then the UI is driven with QTest input — a route's upstream retyped, Apply clicked, the diff
// dialog accepted — and real HTTP traffic follows the change. Stopping and restarting the
// service is survived without a crash or a hang.
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QLineEdit>
#include <QPushButton>
#include <QTimer>
#include <QtTest>

#include "app/main_window.h"
#include "fake_origin.h"
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

    void liveFeedOrItsAbsenceIsShown() {
        TrafficView* traffic = window_->traffic();
        if (!methods_.contains("traffic.subscribe")) {
            QTRY_VERIFY(traffic->notice().contains("traffic.subscribe"));
            return;
        }
        QTRY_VERIFY(traffic->subscribed());
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

    void logsOrTheirAbsenceAreShown() {
        LogView* logs = window_->logs();
        logs->runQuery();
        if (!methods_.contains("logs.query")) {
            QTRY_VERIFY(logs->notice().contains("logs.query"));
            return;
        }
        QTRY_VERIFY_WITH_TIMEOUT(!logs->querying(), 15000);
        QVERIFY2(logs->notice().isEmpty(), qPrintable(logs->notice()));
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
