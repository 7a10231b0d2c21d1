// The console against the real proxy-service (Linux, Unix socket endpoint from the config): it
// connects and says hello, the dashboard shows the service's status and the editor its config;
// then the UI is driven with QTest input — a route's upstream retyped, Apply clicked, the diff
// dialog accepted — and real HTTP traffic follows the change. The live feed shows requests; the
// log browser is driven by keyboard and mouse over a few hundred real requests (filter, paging,
// chart totals). Stopping and restarting the service is survived without a crash or a hang, and
// so is a service killed by PID (SIGKILL) and started again on the same endpoint.
#include <QComboBox>
#include <QDateTime>
#include <QElapsedTimer>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPointer>
#include <QPushButton>
#include <QSet>
#include <QTabBar>
#include <QTabWidget>
#include <QTableView>
#include <QTimer>
#include <QTest>
#include <QSignalSpy>
#include <csignal>
#include <optional>
#include <functional>
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

// Answers the modal dialogs that open while a test runs, in order, the way a user would (the
// dialogs run their own event loops, so a timer looks for each one): every answer gets the next
// new modal widget, and reports whether it found what it expected there.
class ModalAnswers : public QObject {
  public:
    using Answer = std::function<bool(QWidget*)>;
    explicit ModalAnswers(std::vector<Answer> answers) : answers_(std::move(answers)) {
        timer_.setInterval(50);
        connect(&timer_, &QTimer::timeout, this, [this] {
            QWidget* modal = QApplication::activeModalWidget();
            if (!modal || modal == last_ || next_ >= answers_.size()) return;
            last_ = modal;
            ok_ = answers_[next_++](modal) && ok_;
        });
        timer_.start();
    }
    bool allAnswered() const { return next_ == answers_.size(); }
    bool ok() const { return ok_ && allAnswered(); }

    // A QMessageBox's button whose text starts with `text` (mnemonics ignored), clicked.
    static bool click(QWidget* modal, const QString& text) {
        auto* box = qobject_cast<QMessageBox*>(modal);
        if (!box) return false;
        for (QAbstractButton* b : box->buttons())
            if (b->text().remove('&').startsWith(text)) {
                QTest::mouseClick(b, Qt::LeftButton);
                return true;
            }
        return false;
    }
    // A DiffDialog whose diff contains every line of `expected`: OK clicked (else Cancel).
    static bool acceptDiff(QWidget* modal, const QStringList& expected) {
        auto* dialog = qobject_cast<DiffDialog*>(modal);
        if (!dialog) return false;
        const auto* view = dialog->findChild<DiffView*>();
        bool seen = view != nullptr;
        for (const QString& line : expected)
            if (seen && !view->toPlainText().contains(line)) {
                qWarning() << "the diff lacks" << line << "in" << view->toPlainText();
                seen = false;
            }
        auto* buttons = dialog->findChild<QDialogButtonBox*>();
        QTest::mouseClick(buttons->button(seen ? QDialogButtonBox::Ok : QDialogButtonBox::Cancel),
                          Qt::LeftButton);
        return seen;
    }

  private:
    std::vector<Answer> answers_;
    std::size_t next_ = 0;
    QPointer<QWidget> last_;
    bool ok_ = true;
    QTimer timer_;
};

class ConsoleIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> a_, b_;
    std::unique_ptr<ProxyProcess> proxy_;
    std::unique_ptr<ServiceClient> client_;
    std::unique_ptr<MainWindow> window_;
    int port_ = 0;
    std::string endpoint_;
    QStringList methods_;
    // A modal dialog nobody answers (a test that failed half-way) would hang the suite: one left
    // open for 30 s is closed, with a warning, so the failure shows instead.
    QTimer modalWatchdog_;
    QPointer<QWidget> staleModal_;
    int staleTicks_ = 0;

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
        modalWatchdog_.setInterval(1000);
        connect(&modalWatchdog_, &QTimer::timeout, this, [this] {
            QWidget* modal = QApplication::activeModalWidget();
            staleTicks_ = modal && modal == staleModal_ ? staleTicks_ + 1 : 0;
            staleModal_ = modal;
            if (modal && staleTicks_ >= 30) {
                qWarning() << "closing an unanswered modal dialog:" << modal->windowTitle();
                modal->close();
            }
        });
        modalWatchdog_.start();
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

    // Someone else applies while the console has unapplied edits: Apply is refused as a
    // conflict, the dialog explains it, Merge puts the console's change on top of theirs and shows
    // the diff, and the merged version is applied; traffic follows. Then History rolls back to an
    // older version (confirmed), and traffic follows that too.
    void conflictIsMergedAndRollbackRestores() {
        ConfigEditorView* editor = window_->editor();
        QTabBar* tabBar = window_->tabs()->tabBar();
        QTest::mouseClick(tabBar, Qt::LeftButton, {},
                          tabBar->tabRect(window_->tabs()->indexOf(editor)).center());
        QTRY_VERIFY(editor->isVisible());
        QTRY_VERIFY_WITH_TIMEOUT(!editor->dirty() && editor->baseVersion() >= 2, 15000);
        const qint64 base = editor->baseVersion();
        QCOMPARE(get("/c0"), QString("B GET /c0"));

        // My edit: the route goes back to upstream a.
        editor->selectItem(ConfigEditorView::Section::Route, 0);
        auto* upstream = editor->currentForm()->findChild<QComboBox*>("field:/upstream");
        QVERIFY(upstream);
        upstream->lineEdit()->setFocus();
        upstream->lineEdit()->selectAll();
        QTest::keyClicks(upstream->lineEdit(), "a");
        QTRY_VERIFY(!editor->validationPending());
        QCOMPARE(editor->errorCount(), 0);
        QVERIFY(editor->dirty());

        // Theirs, behind the console's back: a third upstream "c" (the route unchanged).
        Json theirs = config("b");
        theirs["upstreams"].push_back(
            {{"name", "c"},
             {"servers", Json::array({{{"address", "127.0.0.1:" + std::to_string(a_->port())}}})}});
        std::optional<RpcReply> applied;
        client_->call("config.apply", Json{{"config", theirs.dump()}, {"base_version", base}}, this,
                      [&](const RpcReply& r) { applied = r; });
        QTRY_VERIFY_WITH_TIMEOUT(applied.has_value(), 15000);
        QVERIFY2(applied->ok(), qPrintable(applied->describe()));
        QCOMPARE(get("/c1"), QString("B GET /c1"));
        auto* banner = editor->findChild<QLabel*>("editorBanner");
        QVERIFY(banner);
        QTRY_VERIFY_WITH_TIMEOUT(banner->isVisible(), 10000);  // config.changed while editing
        QVERIFY(editor->dirty());  // my edit is kept

        // Apply: the diff (mine against my base), then the conflict, answered with Merge; the
        // merge is validated and its diff against theirs shown before it is applied.
        {
            QString conflictText;
            ModalAnswers answers({
                [](QWidget* w) {
                    return ModalAnswers::acceptDiff(w, {"-      \"upstream\": \"b\"",
                                                        "+      \"upstream\": \"a\""});
                },
                [&](QWidget* w) {
                    if (auto* box = qobject_cast<QMessageBox*>(w)) conflictText = box->text();
                    return ModalAnswers::click(w, "Merge onto v" + QString::number(base + 1));
                },
                [&](QWidget* w) {
                    // Based on theirs now: their upstream c is in the document, and only my
                    // route change is in the diff.
                    const bool merged = editor->baseVersion() == base + 1 &&
                                        editor->documentText().contains("\"c\"") &&
                                        editor->documentText().contains("\"upstream\": \"a\"");
                    return ModalAnswers::acceptDiff(w, {"-      \"upstream\": \"b\"",
                                                        "+      \"upstream\": \"a\""}) &&
                           merged;
                },
            });
            QTest::mouseClick(editor->findChild<QPushButton*>("applyButton"), Qt::LeftButton);
            QTRY_VERIFY_WITH_TIMEOUT(answers.allAnswered(), 30000);
            QVERIFY(answers.ok());
            QVERIFY2(conflictText.contains(QString("v%1 was applied after you loaded v%2")
                                               .arg(base + 1)
                                               .arg(base)),
                     qPrintable(conflictText));
        }
        QTRY_VERIFY_WITH_TIMEOUT(editor->baseVersion() == base + 2 && !editor->dirty(), 15000);
        QCOMPARE(get("/c2"), QString("A GET /c2"));
        QVERIFY(editor->documentText().contains("\"c\""));  // theirs survived the merge

        // History: roll back to `base` (route to b, no upstream c), confirmed.
        auto* history = editor->findChild<QTableView*>();
        for (auto* t : editor->findChildren<QTableView*>())
            if (t->accessibleName() == "Version history") history = t;
        QVERIFY(history);
        auto* tabs = history->parentWidget();
        while (tabs && !qobject_cast<QTabWidget*>(tabs)) tabs = tabs->parentWidget();
        QVERIFY(tabs);
        auto* editorTabs = qobject_cast<QTabWidget*>(tabs);
        QTest::mouseClick(editorTabs->tabBar(), Qt::LeftButton, {},
                          editorTabs->tabBar()->tabRect(editorTabs->count() - 1).center());
        QTRY_VERIFY(history->isVisible());
        int row = -1;
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                for (int r = 0; r < history->model()->rowCount(); ++r) {
                    const QString v = history->model()->index(r, 0).data().toString();
                    if (v == QString("v%1").arg(base) || v.startsWith(QString("v%1 ").arg(base)))
                        row = r;
                }
                return row >= 0 && history->model()->rowCount() >= 3;
            }(),
            15000);
        QTest::mouseClick(history->viewport(), Qt::LeftButton, {},
                          history->visualRect(history->model()->index(row, 1)).center());
        QTRY_COMPARE(history->currentIndex().row(), row);
        QPushButton* rollback = nullptr;
        for (auto* b : editor->findChildren<QPushButton*>())
            if (b->text().startsWith("Roll back")) rollback = b;
        QVERIFY(rollback && rollback->isEnabled());
        {
            ModalAnswers answers({[&](QWidget* w) {
                auto* box = qobject_cast<QMessageBox*>(w);
                if (!box || !box->text().contains(QString("Apply v%1").arg(base))) return false;
                QTest::mouseClick(box->button(QMessageBox::Yes), Qt::LeftButton);
                return true;
            }});
            QTest::mouseClick(rollback, Qt::LeftButton);
            QTRY_VERIFY_WITH_TIMEOUT(answers.allAnswered(), 15000);
            QVERIFY(answers.ok());
        }
        QTRY_VERIFY_WITH_TIMEOUT(editor->baseVersion() == base + 3, 15000);
        QCOMPARE(get("/c3"), QString("B GET /c3"));
        QTRY_VERIFY(!editor->documentText().contains("\"c\""));
    }

    // Drain and enable a server from the dashboard: each is confirmed first (No does nothing),
    // and the service's upstreams.list follows.
    void serverActionsAreConfirmed() {
        DashboardView* dashboard = window_->dashboard();
        QTabBar* tabBar = window_->tabs()->tabBar();
        QTest::mouseClick(tabBar, Qt::LeftButton, {},
                          tabBar->tabRect(window_->tabs()->indexOf(dashboard)).center());
        QTRY_VERIFY(dashboard->isVisible());
        UpstreamsModel* model = dashboard->upstreams();
        auto rowOf = [model](const QString& upstream) {
            for (int r = 0; r < model->rowCount(); ++r)
                if (model->row(r).upstream == upstream) return r;
            return -1;
        };
        // The rollback before removed upstream c: wait until the poll shows that (a changed row
        // set resets the model, and with it the selection).
        QTRY_VERIFY_WITH_TIMEOUT(rowOf("a") >= 0 && rowOf("c") < 0, 10000);
        auto* table = dashboard->findChild<QTableView*>("upstreamTable");
        QVERIFY(table);
        auto selectA = [&] {
            QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                              table->visualRect(model->index(rowOf("a"), 1)).center());
        };
        selectA();
        QPushButton *drain = nullptr, *enable = nullptr;
        for (auto* b : dashboard->findChildren<QPushButton*>()) {
            if (b->text().remove('&') == "Drain") drain = b;
            if (b->text().remove('&') == "Enable") enable = b;
        }
        QVERIFY(drain && enable);
        QTRY_VERIFY(drain->isEnabled());
        const QString before = model->row(rowOf("a")).state;
        {
            ModalAnswers no({[](QWidget* w) {
                auto* box = qobject_cast<QMessageBox*>(w);
                if (!box || !box->text().contains("Drain server")) return false;
                QTest::mouseClick(box->button(QMessageBox::No), Qt::LeftButton);
                return true;
            }});
            QTest::mouseClick(drain, Qt::LeftButton);
            QTRY_VERIFY(no.allAnswered());
            QVERIFY(no.ok());
        }
        QTest::qWait(1500);  // a poll or so: nothing changed
        QCOMPARE(model->row(rowOf("a")).state, before);
        selectA();
        QTRY_VERIFY(drain->isEnabled());
        {
            ModalAnswers yes({[](QWidget* w) {
                auto* box = qobject_cast<QMessageBox*>(w);
                if (!box || !box->text().contains("Drain server")) return false;
                QTest::mouseClick(box->button(QMessageBox::Yes), Qt::LeftButton);
                return true;
            }});
            QTest::mouseClick(drain, Qt::LeftButton);
            QTRY_VERIFY(yes.allAnswered());
            QVERIFY(yes.ok());
        }
        QTRY_COMPARE_WITH_TIMEOUT(model->row(rowOf("a")).state, QString("draining"), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(dashboard->timelineCount() > 0, 10000);
        selectA();
        QTRY_VERIFY(enable->isEnabled());
        {
            ModalAnswers yes({[](QWidget* w) {
                return ModalAnswers::click(w, "Yes") || ModalAnswers::click(w, "OK");
            }});
            QTest::mouseClick(enable, Qt::LeftButton);
            QTRY_VERIFY(yes.allAnswered());
            QVERIFY(yes.ok());
        }
        QTRY_COMPARE_WITH_TIMEOUT(model->row(rowOf("a")).state, before, 10000);
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

    // The service dies without a goodbye (SIGKILL to its PID: no clean close, a stale socket file
    // left behind) and a new one starts on the same endpoint. Meanwhile the console keeps its
    // views, refuses changes (Apply, rollback and server actions off) and fails calls at once
    // instead of hanging; afterwards it reconnects by itself and every view works again.
    void survivesAKilledServiceAndReconnects() {
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 20000);
        TrafficView* traffic = window_->traffic();
        QTRY_VERIFY_WITH_TIMEOUT(traffic->subscribed(), 15000);
        QCOMPARE(get("/before-kill"), QString("A GET /before-kill"));
        QTRY_VERIFY_WITH_TIMEOUT(traffic->model()->rowCount() > 0, 15000);
        const int trafficRows = traffic->model()->rowCount();
        auto* apply = window_->editor()->findChild<QPushButton*>("applyButton");
        QVERIFY(apply);

        QSignalSpy lost(client_.get(), &ServiceClient::disconnected);
        proxy_->signal(SIGKILL);
        QTRY_VERIFY_WITH_TIMEOUT(!proxy_->running(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(lost.count() >= 1, 15000);
        QVERIFY(!client_->isConnected());

        // Disconnected: the last data stays, nothing can be changed, and nothing waits.
        QTRY_VERIFY(window_->dashboard()->statusText().contains("Disconnected"));
        QVERIFY(window_->editor()->documentText().contains(QString::number(a_->port())));
        QCOMPARE(traffic->model()->rowCount(), trafficRows);
        QTRY_VERIFY(!apply->isEnabled());
        QVERIFY(apply->toolTip().contains("Not connected"));
        for (const char* name : {"Drain", "Disable", "Enable"}) {
            for (auto* b : window_->dashboard()->findChildren<QPushButton*>())
                if (b->text().remove('&') == QLatin1String(name)) QVERIFY2(!b->isEnabled(), name);
        }
        std::optional<RpcReply> reply;
        QElapsedTimer clock;
        clock.start();
        QCOMPARE(client_->call("status", Json::object(), this,
                               [&](const RpcReply& r) { reply = r; }),
                 std::int64_t(0));  // not sent
        // The callback comes on the next event-loop turn, not after the call's 15 s deadline.
        QTRY_VERIFY_WITH_TIMEOUT(reply.has_value(), 5000);
        QVERIFY(clock.elapsed() < 5000);
        QCOMPARE(reply->status, RpcReply::Status::Disconnected);
        // The UI stays responsive while the client retries: switch views by mouse.
        QTabBar* tabBar = window_->tabs()->tabBar();
        QTest::mouseClick(tabBar, Qt::LeftButton, {},
                          tabBar->tabRect(window_->tabs()->indexOf(window_->logs())).center());
        QTRY_COMPARE(window_->tabs()->currentWidget(), static_cast<QWidget*>(window_->logs()));
        QTest::qWait(700);  // a few reconnect attempts against the dead endpoint

        // A new service on the same endpoint and port (over the stale socket file).
        QVERIFY2(startService(), qPrintable(proxy_->output()));
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(window_->dashboard()->statusText().contains("config v1"), 10000);
        QVERIFY(!window_->dashboard()->statusText().contains("Disconnected"));
        QTRY_VERIFY_WITH_TIMEOUT(window_->editor()->baseVersion() == 1, 10000);
        QTRY_VERIFY(apply->isEnabled() || window_->editor()->validationPending());
        // The live feed resubscribed: a new request shows.
        QTest::mouseClick(tabBar, Qt::LeftButton, {},
                          tabBar->tabRect(window_->tabs()->indexOf(traffic)).center());
        QTRY_VERIFY_WITH_TIMEOUT(traffic->subscribed(), 15000);
        QCOMPARE(get("/after-kill"), QString("A GET /after-kill"));
        auto shown = [traffic] {
            for (int r = 0; r < traffic->model()->rowCount(); ++r)
                if (traffic->model()->event(r).path == "/after-kill") return true;
            return false;
        };
        QTRY_VERIFY_WITH_TIMEOUT(shown(), 15000);
        // Upstream state and server actions are back.
        QTRY_COMPARE_WITH_TIMEOUT(window_->dashboard()->upstreams()->rowCount(), 2, 10000);
    }
};

QTEST_MAIN(ConsoleIntegrationTest)
#include "console_integration_test.moc"
