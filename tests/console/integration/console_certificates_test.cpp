// The console's certificates against the real proxy-service with a TLS listener whose two
// certificates are made at test time by the openssl command: one that expires in 10 days and one
// in a year. Through the real UI (tab bar clicks, table clicks, no private slots): the dashboard
// shows a certificate warning naming the near one, the Certificates tab lists both with their
// subject, names, dates and days left, the near one flagged as a warning (colour, icon and text)
// and the other OK, and the details pane shows the selected certificate.
#include <QAbstractItemModelTester>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QTabBar>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QSignalSpy>

#include "app/main_window.h"
#include "fake_origin.h"
#include "models/certificates_model.h"
#include "proxy_process.h"
#include "raw_client.h"
#include "views/certificates_view.h"
#include "views/dashboard_view.h"

using namespace proxy::console;
using namespace proxy::test;

class ConsoleCertificatesTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    std::unique_ptr<ServiceClient> client_;
    std::unique_ptr<MainWindow> window_;
    int port_ = 0;
    std::string endpoint_;

    // A self-signed EC certificate NAME.pem / NAME.key in `dir`, valid for `days`, with the DNS
    // names NAME and alt.NAME.
    static bool makeCertificate(const QString& dir, const QString& name, int days, QString* error) {
        QProcess p;
        p.setWorkingDirectory(dir);
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start("openssl", {"req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", name + ".key",
                            "-out", name + ".pem", "-days", QString::number(days), "-subj",
                            "/CN=" + name + "/O=Console Test", "-addext",
                            "subjectAltName=DNS:" + name + ",DNS:alt." + name});
        if (!p.waitForFinished(60000) || p.exitStatus() != QProcess::NormalExit ||
            p.exitCode() != 0) {
            *error = "openssl req for " + name + ": " + p.errorString() + " " +
                     QString::fromUtf8(p.readAll());
            return false;
        }
        return true;
    }

    int rowOf(const CertificatesModel* model, const QString& cn) const {
        for (int r = 0; r < model->rowCount(); ++r)
            if (model->certificate(r).subject.contains("CN=" + cn)) return r;
        return -1;
    }

    void clickTab(QWidget* page) {
        QTabBar* bar = window_->tabs()->tabBar();
        QTest::mouseClick(bar, Qt::LeftButton, {},
                          bar->tabRect(window_->tabs()->indexOf(page)).center());
        QTRY_COMPARE(window_->tabs()->currentWidget(), page);
    }

  private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("A");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-console-certs-" + std::to_string(port_) + "/control.sock";
        proxy_ = std::make_unique<ProxyProcess>();
        const QString dir = proxy_->dir();
        QString error;
        QVERIFY2(makeCertificate(dir, "near.test", 10, &error), qPrintable(error));
        QVERIFY2(makeCertificate(dir, "far.test", 365, &error), qPrintable(error));
        auto pair = [&](const char* name) {
            return Json{{"cert", (dir + "/" + name + ".pem").toStdString()},
                        {"key", (dir + "/" + name + ".key").toStdString()}};
        };
        const Json config = {
            {"workers", 1},
            {"control", {{"endpoint", endpoint_}}},
            {"listeners",
             Json::array({{{"name", "secure"},
                           {"address", "127.0.0.1:" + std::to_string(port_)},
                           {"tls", {{"certificates",
                                     Json::array({pair("near.test"), pair("far.test")})}}}}})},
            {"upstreams",
             Json::array({{{"name", "a"},
                           {"servers", Json::array({{{"address", "127.0.0.1:" +
                                                                     std::to_string(
                                                                         origin_->port())}}})}}})},
            {"routes", Json::array({{{"name", "all"}, {"upstream", "a"}}})}};
        QVERIFY2(proxy_->start(config.dump(2), port_), qPrintable(proxy_->output()));

        client_ = std::make_unique<ServiceClient>();
        client_->setBackoffForTest(50, 500);
        client_->setEndpoint(QString::fromStdString(endpoint_));
        window_ = std::make_unique<MainWindow>(client_.get());
        window_->tabs()->setCurrentWidget(window_->dashboard());  // whatever the settings said
        window_->show();
        client_->start();
        QTRY_VERIFY_WITH_TIMEOUT(client_->isConnected(), 15000);
    }

    void cleanupTestCase() {
        window_.reset();
        client_.reset();
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
        QDir(QFileInfo(QString::fromStdString(endpoint_)).path()).removeRecursively();
    }

    void dashboardWarnsAboutTheNearOne() {
        DashboardView* dashboard = window_->dashboard();
        clickTab(dashboard);
        QTRY_VERIFY_WITH_TIMEOUT(!dashboard->certificateWarningText().isEmpty(), 15000);
        const QString text = dashboard->certificateWarningText();
        // `-days 10` ends ten days after openssl ran: 10 whole days left within that second, 9
        // after it.
        QVERIFY2(text.contains("Certificate warning") && text.contains("near.test") &&
                     (text.contains("expires in 9 day") || text.contains("expires in 10 day")),
                 qPrintable(text));
        QVERIFY2(!text.contains("far.test"), qPrintable(text));
        auto* banner = dashboard->findChild<QWidget*>("certificateWarning");
        QVERIFY(banner && banner->isVisible());
        QVERIFY(banner->accessibleName().contains("near.test"));
    }

    void certificatesTabShowsBothAndFlagsTheNearOne() {
        CertificatesView* view = window_->certificates();
        clickTab(view);
        CertificatesModel* model = view->model();
        QAbstractItemModelTester tester(model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), 2, 15000);
        const int near = rowOf(model, "near.test"), far = rowOf(model, "far.test");
        QVERIFY(near >= 0 && far >= 0);
        QTableView* table = view->findChild<QTableView*>("certificateTable");
        QVERIFY(table && table->isVisible());
        QCOMPARE(table->model(), static_cast<QAbstractItemModel*>(model));
        auto cell = [&](int r, int c, int role = Qt::DisplayRole) {
            return table->model()->index(r, c).data(role);
        };
        // What the service loaded, as the admin sees it.
        QCOMPARE(cell(near, CertificatesModel::Listener).toString(), QString("secure (default)"));
        QCOMPARE(cell(far, CertificatesModel::Listener).toString(), QString("secure #1"));
        QVERIFY(cell(near, CertificatesModel::Subject).toString().contains("O=Console Test"));
        QCOMPARE(cell(near, CertificatesModel::Names).toString(),
                 QString("near.test, alt.near.test"));
        QCOMPARE(cell(far, CertificatesModel::Names).toString(), QString("far.test, alt.far.test"));
        QVERIFY(cell(near, CertificatesModel::Issuer).toString().contains("CN=near.test"));
        // `-days 10` ends ten days after openssl ran: 10 whole days within that second, then 9.
        const qint64 nearDays = cell(near, CertificatesModel::DaysLeft).toLongLong();
        const qint64 farDays = cell(far, CertificatesModel::DaysLeft).toLongLong();
        QVERIFY2(nearDays == 9 || nearDays == 10, qPrintable(QString::number(nearDays)));
        QVERIFY2(farDays == 364 || farDays == 365, qPrintable(QString::number(farDays)));
        const QString expiresIn = QString("Warning: expires in %1 day(s)").arg(nearDays);
        const QDate in10 = QDateTime::currentDateTimeUtc().addDays(10).date();
        QVERIFY2(cell(near, CertificatesModel::NotAfter)
                     .toString()
                     .startsWith(in10.toString("yyyy-MM-dd")),
                 qPrintable(cell(near, CertificatesModel::NotAfter).toString()));
        QVERIFY(cell(near, CertificatesModel::Ocsp).toString().startsWith("off"));

        // The near one is a warning three ways; the far one is plain.
        QCOMPARE(cell(near, CertificatesModel::Status).toString(), expiresIn);
        QCOMPARE(cell(far, CertificatesModel::Status).toString(), QString("OK"));
        QCOMPARE(cell(near, 0, CertificatesModel::LevelRole).toInt(),
                 int(CertificateLevel::Expiring));
        QCOMPARE(cell(far, 0, CertificatesModel::LevelRole).toInt(), int(CertificateLevel::Ok));
        QVERIFY(cell(near, CertificatesModel::Subject, Qt::BackgroundRole).isValid());
        QVERIFY(!cell(far, CertificatesModel::Subject, Qt::BackgroundRole).isValid());
        QVERIFY(!cell(near, CertificatesModel::Status, Qt::DecorationRole).value<QIcon>().isNull());
        QVERIFY(cell(far, CertificatesModel::Status, Qt::DecorationRole).value<QIcon>().isNull());
        QVERIFY(cell(near, CertificatesModel::Subject, Qt::AccessibleTextRole)
                    .toString()
                    .contains("Warning"));
        QVERIFY2(view->summaryText().contains("1 expire(s) within 30 days"),
                 qPrintable(view->summaryText()));
        auto* icon = view->findChild<QLabel*>("certificateSummaryIcon");
        QVERIFY(icon && icon->isVisible());

        // Selecting a row by mouse fills the details pane.
        QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                          table->visualRect(table->model()->index(near, 1)).center());
        QTRY_VERIFY(view->detailsText().contains("alt.near.test"));
        QVERIFY2(view->detailsText().contains("Status: Warning: expires in "),
                 qPrintable(view->detailsText()));
        QVERIFY(view->detailsText().contains(proxy_->dir() + "/near.test.pem"));
        QTest::mouseClick(table->viewport(), Qt::LeftButton, {},
                          table->visualRect(table->model()->index(far, 1)).center());
        QTRY_VERIFY(view->detailsText().contains("alt.far.test"));
        QVERIFY(view->detailsText().contains("Status: OK"));
        // The selection survives the dashboard's polls (in-place updates, no reset).
        QSignalSpy resets(model, &QAbstractItemModel::modelReset);
        QSignalSpy changes(model, &QAbstractItemModel::dataChanged);
        QTRY_VERIFY_WITH_TIMEOUT(changes.count() >= 2, 10000);
        QCOMPARE(resets.count(), 0);
        QCOMPARE(table->selectionModel()->selectedRows().value(0).row(), far);
    }

    void theDashboardLinkOpensTheCertificatesTab() {
        DashboardView* dashboard = window_->dashboard();
        clickTab(dashboard);
        auto* show = dashboard->findChild<QPushButton*>("showCertificates");
        QVERIFY(show && show->isVisible());
        QTest::mouseClick(show, Qt::LeftButton);
        QTRY_COMPARE(window_->tabs()->currentWidget(),
                     static_cast<QWidget*>(window_->certificates()));
    }
};

QTEST_MAIN(ConsoleCertificatesTest)
#include "console_certificates_test.moc"
