// Command-line parsing of proxy-service.
#include <QTest>

#include "app/options.h"

using namespace proxy::app;

class OptionsTest : public QObject {
    Q_OBJECT

    static OptionsResult parse(const QStringList& args) {
        std::vector<std::string> storage;
        for (const auto& a : args) storage.push_back(a.toStdString());
        std::vector<std::string_view> views(storage.begin(), storage.end());
        return parseOptions(views);
    }

private slots:
    void valid_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("mode");
        QTest::addColumn<QString>("config");
        QTest::addColumn<bool>("console");
        QTest::newRow("nothing") << QStringList{} << int(Options::Mode::Run) << "" << false;
        QTest::newRow("config") << QStringList{"--config", "a.json"} << int(Options::Mode::Run) << "a.json" << false;
        QTest::newRow("short config") << QStringList{"-c", "b.json", "--console"} << int(Options::Mode::Run) << "b.json" << true;
        QTest::newRow("check file") << QStringList{"--check", "c.json"} << int(Options::Mode::Check) << "c.json" << false;
        QTest::newRow("check with config") << QStringList{"--config", "d.json", "--check"} << int(Options::Mode::Check) << "d.json" << false;
        QTest::newRow("version") << QStringList{"--version"} << int(Options::Mode::Version) << "" << false;
        QTest::newRow("help") << QStringList{"-h"} << int(Options::Mode::Help) << "" << false;
        QTest::newRow("install") << QStringList{"--install"} << int(Options::Mode::Install) << "" << false;
    }

    void valid() {
        QFETCH(QStringList, args);
        QFETCH(int, mode);
        QFETCH(QString, config);
        QFETCH(bool, console);
        const auto r = parse(args);
        QVERIFY2(r.options.has_value(), r.error.c_str());
        QCOMPARE(int(r.options->mode), mode);
        QCOMPARE(QString::fromStdString(r.options->configPath), config);
        QCOMPARE(r.options->console, console);
    }

    void invalid_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("error");
        QTest::newRow("unknown") << QStringList{"--frobnicate"} << "unknown option";
        QTest::newRow("config without value") << QStringList{"--config"} << "needs a file path";
        QTest::newRow("config empty value") << QStringList{"--config", ""} << "needs a file path";
        QTest::newRow("service name missing") << QStringList{"--service-name"} << "needs a name";
    }

    void invalid() {
        QFETCH(QStringList, args);
        QFETCH(QString, error);
        const auto r = parse(args);
        QVERIFY(!r.options.has_value());
        QVERIFY2(QString::fromStdString(r.error).contains(error), r.error.c_str());
    }
};

QTEST_GUILESS_MAIN(OptionsTest)
#include "options_test.moc"
