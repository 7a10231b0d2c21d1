// Every shipped example (examples/*.json) must load without errors: they are what users copy.

#include <QDir>
#include <QTest>

#include "config/validator.h"

class ExamplesTest : public QObject {
    Q_OBJECT

  private slots:
    void loads_data() {
        QTest::addColumn<QString>("file");
        const QDir dir(QStringLiteral(PROXY_SOURCE_DIR "/examples"));
        const QStringList files = dir.entryList({"*.json"}, QDir::Files, QDir::Name);
        QVERIFY2(files.contains("demo.json"), qPrintable(dir.path() + " has no demo.json"));
        for (const QString& name : files) QTest::newRow(qPrintable(name)) << dir.filePath(name);
    }

    void loads() {
        QFETCH(QString, file);
        const proxy::config::LoadResult result = proxy::config::loadConfigFile(file.toStdString());
        QString problems;
        for (const auto& d : result.diagnostics)
            if (d.severity == proxy::config::Diagnostic::Severity::Error)
                problems += QString::fromStdString(d.toString()) + '\n';
        QVERIFY2(result.ok(), qPrintable(problems));
        QVERIFY(!result.config->listeners.empty());
        QVERIFY(!result.config->routes.empty());
    }

    void demoIsWhatTheDocsSay() {
        const auto result = proxy::config::loadConfigFile(PROXY_SOURCE_DIR "/examples/demo.json");
        QVERIFY(result.ok());
        QVERIFY(result.diagnostics.empty());
        const auto& c = *result.config;
        QCOMPARE(c.listeners.size(), std::size_t{1});
        QCOMPARE(c.listeners[0].address.toString(), std::string("127.0.0.1:8080"));
        const auto* demo = c.findUpstream("demo");
        QVERIFY(demo);
        QCOMPARE(demo->servers.size(), std::size_t{2});
        QCOMPARE(demo->servers[1].address.toString(), std::string("127.0.0.1:9002"));
        QCOMPARE(c.routes.at(0).upstream, std::string("demo"));
        QCOMPARE(c.control.endpoint, std::string("/tmp/proxy-demo/control.sock"));
        QCOMPARE(c.logging.database, std::string("/tmp/proxy-demo/logs.db"));
    }
};

QTEST_GUILESS_MAIN(ExamplesTest)
#include "examples_test.moc"
