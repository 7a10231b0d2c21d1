// Tests for service/logging/log.{h,cpp} and rotating_file.cpp: the rotating error log and request
// ids in log lines.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <string>
#include <vector>

#include "logging/log.h"
#include "logging/rotating_file.h"

using namespace proxy::logging;

namespace {

class CaptureSink final : public LogSink {
public:
    void write(Level, std::string_view line) override { lines.emplace_back(line); }
    std::vector<std::string> lines;
};

QByteArray readAll(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

}  // namespace

class LogTest : public QObject {
    Q_OBJECT

private slots:
    void requestIdInLine();
    void levels();
    void rotationKeepsNFiles();
    void rotatingSinkWritesLines();
    void unwritableFileFallsBack();
    void cleanup() { setSink(nullptr); setLevel(Level::Info); }
};

void LogTest::requestIdInLine() {
    auto sink = std::make_shared<CaptureSink>();
    setSink(sink);
    logRequest(Level::Warn, "0a1b2c3d0100002a", "upstream %s reset", "10.0.0.1:80");
    log(Level::Info, "plain %d", 7);
    logRequest(Level::Error, "", "no id");
    QCOMPARE(sink->lines.size(), std::size_t{3});
    QVERIFY2(sink->lines[0].find("warn  [req 0a1b2c3d0100002a] upstream 10.0.0.1:80 reset") != std::string::npos,
             sink->lines[0].c_str());
    QVERIFY(sink->lines[1].ends_with("info  plain 7"));
    QVERIFY(sink->lines[2].ends_with("error no id"));
    QVERIFY(sink->lines[2].find("[req") == std::string::npos);
}

void LogTest::levels() {
    auto sink = std::make_shared<CaptureSink>();
    setSink(sink);
    setLevel(Level::Warn);
    log(Level::Info, "hidden");
    logRequest(Level::Debug, "x", "hidden");
    log(Level::Error, "shown");
    QCOMPARE(sink->lines.size(), std::size_t{1});
    QCOMPARE(parseLevel("debug"), Level::Debug);
    QCOMPARE(parseLevel("nonsense", Level::Warn), Level::Warn);
}

void LogTest::rotationKeepsNFiles() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/e.log";
    RotatingFile file(path.toStdString(), 100, 3);
    const std::string line(40, 'x');
    for (int i = 0; i < 20; ++i) QVERIFY(file.append(std::to_string(i % 10) + line + "\n").has_value());
    // 42-byte lines, 100-byte cap: two lines per file.
    QCOMPARE(QFileInfo(path).size(), qint64{84});
    QVERIFY(QFile::exists(path + ".1"));
    QVERIFY(QFile::exists(path + ".2"));
    QVERIFY(QFile::exists(path + ".3"));
    QVERIFY(!QFile::exists(path + ".4"));  // only N kept
    QCOMPARE(readAll(path).left(1), QByteArray("8"));  // newest in the live file
    QCOMPARE(readAll(path + ".1").left(1), QByteArray("6"));
    QCOMPARE(readAll(path + ".3").left(1), QByteArray("2"));
    QCOMPARE(file.rotations(), 9u);
    for (const QString& name : QDir(dir.path()).entryList(QDir::Files))
        QVERIFY(QFileInfo(dir.path() + "/" + name).size() <= 100);
}

void LogTest::rotatingSinkWritesLines() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/service.log";
    setSink(std::make_shared<RotatingFileSink>(path.toStdString(), 1 << 20, 2));
    logRequest(Level::Error, "req-1", "boom %d", 1);
    log(Level::Info, "started");
    setSink(nullptr);
    const QList<QByteArray> lines = readAll(path).split('\n');
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].contains("error [req req-1] boom 1"));
    QVERIFY(lines[1].contains("info  started"));
}

void LogTest::unwritableFileFallsBack() {
    RotatingFile file("/proc/proxy-no-such-dir/e.log", 0, 1);
    auto r = file.append("x\n");
    QVERIFY(!r.has_value());
    QVERIFY(r.error().find("/proc/proxy-no-such-dir/e.log") != std::string::npos);
    auto again = file.append("x\n");  // retried at most once a second: same error, no crash
    QVERIFY(!again.has_value());
    RotatingFileSink sink("/proc/proxy-no-such-dir/e.log");
    sink.write(Level::Error, "still goes to stderr");
}

QTEST_GUILESS_MAIN(LogTest)
#include "log_test.moc"
