// The main window's feel: Ctrl+1…Ctrl+5 switch the views (one shortcut per tab, the
// certificates view included), and the window layout (geometry, dock/toolbar state, the current
// tab) is remembered across runs through QSettings, here pointed at a temporary folder.
#include <QSettings>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>

#include "app/main_window.h"
#include "views/certificates_view.h"
#include "views/dashboard_view.h"
#include "views/log_view.h"

using namespace proxy::console;

class MainWindowTest : public QObject {
    Q_OBJECT

    QTemporaryDir settingsDir_;

  private slots:
    void initTestCase() {
        QVERIFY(settingsDir_.isValid());
        QCoreApplication::setOrganizationName("proxy-test");
        QCoreApplication::setApplicationName("main-window-test");
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settingsDir_.path());
        QSettings().clear();
    }

    void shortcutsSwitchViews() {
        ServiceClient client;  // never started: the window works without a service
        MainWindow window(&client);
        window.show();
        QApplication::setActiveWindow(&window);
        QVERIFY(QTest::qWaitForWindowActive(&window));
        QCOMPARE(window.tabs()->count(), 5);
        for (int i = window.tabs()->count() - 1; i >= 0; --i) {
            QTest::keyClick(&window, static_cast<Qt::Key>(Qt::Key_1 + i), Qt::ControlModifier);
            QTRY_COMPARE(window.tabs()->currentIndex(), i);
        }
        QTest::keyClick(&window, Qt::Key_5, Qt::ControlModifier);
        QTRY_COMPARE(window.tabs()->currentWidget(), static_cast<QWidget*>(window.certificates()));
        // Not connected: the certificates view says the service has not reported any yet.
        QVERIFY2(window.certificates()->summaryText().contains("does not report"),
                 qPrintable(window.certificates()->summaryText()));
    }

    void layoutIsRemembered() {
        ServiceClient client;
        QSize size;
        {
            MainWindow window(&client);
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            window.resize(911, 633);
            QTRY_COMPARE(window.size(), QSize(911, 633));
            size = window.size();
            window.tabs()->setCurrentWidget(window.logs());
            QVERIFY(window.close());  // closeEvent saves the layout
        }
        QVERIFY(QSettings().contains("window/geometry"));
        MainWindow again(&client);
        QCOMPARE(again.tabs()->currentWidget(), static_cast<QWidget*>(again.logs()));
        again.show();
        QVERIFY(QTest::qWaitForWindowExposed(&again));
        QTRY_COMPARE(again.size(), size);
        // A fresh profile starts on the dashboard at the default size.
        QSettings().clear();
        MainWindow fresh(&client);
        QCOMPARE(fresh.tabs()->currentWidget(), static_cast<QWidget*>(fresh.dashboard()));
        QCOMPARE(fresh.size(), QSize(1280, 820));
    }
};

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
