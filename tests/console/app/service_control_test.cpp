// Service start/stop/restart through a stand-in for systemctl: the command line it gets, success,
// a refusal for lack of rights said plainly, a missing tool, and one action at a time.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include "app/service_control.h"

using namespace proxy::console;

class ServiceControlTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    QString tool_, log_;

    QString logText() {
        QFile f(log_);
        return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    }

  private slots:
    void initTestCase() {
        QVERIFY(dir_.isValid());
        tool_ = dir_.filePath("fake-systemctl");
        log_ = dir_.filePath("calls.log");
        QFile f(tool_);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(
            "#!/bin/sh\n"
            "echo \"$@\" >> \"$FAKE_LOG\"\n"
            "case \"$FAKE_MODE\" in\n"
            "  ok) exit 0 ;;\n"
            "  denied) echo 'Failed to stop proxy.service: Access denied' >&2; exit 4 ;;\n"
            "  slow) sleep 5; exit 0 ;;\n"
            "esac\n"
            "exit 3\n");
        f.close();
        QVERIFY(f.setPermissions(QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner));
        qputenv("FAKE_LOG", log_.toLocal8Bit());
    }

    void init() { QFile::remove(log_); }

    void successRunsTheRightCommand() {
        qputenv("FAKE_MODE", "ok");
        ServiceControl control;
        control.setProgram(tool_);
        control.setServiceName("proxy-test");
        QSignalSpy done(&control, &ServiceControl::finished);
        control.run(ServiceControl::Action::Restart);
        QVERIFY(control.busy());
        QTRY_COMPARE(done.count(), 1);
        QVERIFY(done.at(0).at(0).toBool());
        QCOMPARE(logText().trimmed(), QString("--no-ask-password restart proxy-test"));
        QVERIFY(!control.busy());
    }

    void lackOfRightsIsSaidPlainly() {
        qputenv("FAKE_MODE", "denied");
        ServiceControl control;
        control.setProgram(tool_);
        QSignalSpy done(&control, &ServiceControl::finished);
        control.run(ServiceControl::Action::Stop);
        QTRY_COMPARE(done.count(), 1);
        QVERIFY(!done.at(0).at(0).toBool());
        const QString message = done.at(0).at(1).toString();
        QVERIFY2(message.contains("Access denied"), qPrintable(message));
        QVERIFY2(message.contains("lacks the rights"), qPrintable(message));
        QVERIFY2(message.contains("sudo systemctl stop proxy"), qPrintable(message));
    }

    void otherFailuresKeepTheirOutput() {
        qputenv("FAKE_MODE", "other");
        ServiceControl control;
        control.setProgram(tool_);
        QSignalSpy done(&control, &ServiceControl::finished);
        control.run(ServiceControl::Action::Start);
        QTRY_COMPARE(done.count(), 1);
        const QString message = done.at(0).at(1).toString();
        QVERIFY2(message.contains("exit status 3"), qPrintable(message));
        QVERIFY(!message.contains("rights"));
    }

    void missingToolIsExplained() {
        ServiceControl control;
        control.setProgram(dir_.filePath("no-such-tool"));
        QSignalSpy done(&control, &ServiceControl::finished);
        control.run(ServiceControl::Action::Start);
        QTRY_COMPARE(done.count(), 1);
        QVERIFY(!done.at(0).at(0).toBool());
        QVERIFY2(done.at(0).at(1).toString().contains("cannot run"),
                 qPrintable(done.at(0).at(1).toString()));
        QVERIFY(!control.busy());
    }

    void oneActionAtATime() {
        qputenv("FAKE_MODE", "slow");
        ServiceControl control;
        control.setProgram(tool_);
        QSignalSpy done(&control, &ServiceControl::finished);
        control.run(ServiceControl::Action::Start);
        control.run(ServiceControl::Action::Stop);
        QTRY_COMPARE(done.count(), 1);  // the refusal comes first, queued
        QVERIFY(!done.at(0).at(0).toBool());
        QVERIFY(done.at(0).at(1).toString().contains("still running"));
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 2, 20000);
        QVERIFY(done.at(1).at(0).toBool());
        QCOMPARE(logText().count('\n'), 1);  // the second action never ran
        control.setServiceName("");
        control.run(ServiceControl::Action::Start);
        QTRY_COMPARE(done.count(), 3);
        QVERIFY(done.at(2).at(1).toString().contains("no service name"));
    }
};

QTEST_GUILESS_MAIN(ServiceControlTest)
#include "service_control_test.moc"
