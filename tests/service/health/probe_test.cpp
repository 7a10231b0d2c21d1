// The health probe's request and its verdict on what the server answered (health/probe.cpp).
#include <QTest>

#include "health/probe.h"

using namespace proxy;

class ProbeTest : public QObject {
    Q_OBJECT

  private slots:
    void request() {
        config::HealthCheck check;
        check.method = "HEAD";
        check.path = "/ready?x=1";
        const std::string r = health::probeRequest(check, "app.internal:8080");
        QVERIFY(r.starts_with("HEAD /ready?x=1 HTTP/1.1\r\nHost: app.internal:8080\r\n"));
        QVERIFY(r.find("Connection: close\r\n") != std::string::npos);
        QVERIFY(r.ends_with("\r\n\r\n"));
        QVERIFY(r.find("Content-Length") == std::string::npos);
        check.method = "POST";
        QVERIFY(health::probeRequest(check, "h").find("Content-Length: 0\r\n") !=
                std::string::npos);
    }

    void verdict_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("eof");
        QTest::addColumn<QString>("expectBody");
        QTest::addColumn<int>("outcome");  // 0 = need more, 1 = healthy, 2 = unhealthy
        QTest::addColumn<QString>("detailHas");
        const QByteArray ok200 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        QTest::newRow("200") << ok200 << false << "" << 1 << "200";
        QTest::newRow("399 in range")
            << QByteArray("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n") << false << "" << 1
            << "302";
        QTest::newRow("503 outside") << QByteArray("HTTP/1.1 503 X\r\nContent-Length: 0\r\n\r\n")
                                     << false << "" << 2 << "503 is outside 200-399";
        QTest::newRow("status decided before body")
            << QByteArray("HTTP/1.1 500 X\r\nContent-Length: 9\r\n\r\n") << false << "ok" << 2
            << "500";
        QTest::newRow("partial head") << QByteArray("HTTP/1.1 200 O") << false << "" << 0 << "";
        QTest::newRow("closed mid head")
            << QByteArray("HTTP/1.1 200 O") << true << "" << 2 << "mid-head";
        QTest::newRow("closed silently") << QByteArray() << true << "" << 2 << "without answering";
        QTest::newRow("garbage") << QByteArray("SSH-2.0-OpenSSH\r\n\r\n") << false << "" << 2
                                 << "invalid";
        QTest::newRow("body matches")
            << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nstatus: ok!") << false
            << "ok" << 1 << "body matches";
        QTest::newRow("body lacks")
            << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfail") << false << "ok" << 2
            << "lacks 'ok'";
        QTest::newRow("body partial")
            << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfai") << false << "ok" << 0
            << "";
        QTest::newRow("body cut") << QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfai")
                                  << true << "ok" << 2 << "mid-body";
        QTest::newRow("chunked match") << QByteArray(
                                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                                              "chunked\r\n\r\n3\r\nall\r\n5\r\n good\r\n0\r\n\r\n")
                                       << false << "all good" << 1 << "matches";
        QTest::newRow("chunked lacks")
            << QByteArray(
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nbad\r\n0\r\n\r\n")
            << false << "good" << 2 << "lacks";
        QTest::newRow("chunked broken")
            << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbad\r\n")
            << false << "good" << 2 << "invalid chunked";
        QTest::newRow("chunked match, then broken")  // found by probe_fuzz: the match decides
            << QByteArray(
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n \r\n\r\n")
            << false << "ok" << 1 << "matches";
        QTest::newRow("until close") << QByteArray("HTTP/1.0 200 OK\r\n\r\nwe are healthy") << true
                                     << "healthy" << 1 << "matches";
        QTest::newRow("until close, open")
            << QByteArray("HTTP/1.0 200 OK\r\n\r\nwe are") << false << "healthy" << 0 << "";
        QTest::newRow("interim then final")
            << QByteArray("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n") << false
            << "" << 1 << "204";
    }

    void verdict() {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, eof);
        QFETCH(QString, expectBody);
        QFETCH(int, outcome);
        QFETCH(QString, detailHas);
        config::HealthCheck check;
        check.expectBody = expectBody.toStdString();
        const auto v =
            health::judgeProbe(std::span<const char>(bytes.constData(), bytes.size()), eof, check);
        QCOMPARE(v.decided ? (v.ok ? 1 : 2) : 0, outcome);
        QVERIFY2(QString::fromStdString(v.detail).contains(detailHas), v.detail.c_str());
    }

    void everyPrefixIsSafe() {
        // No prefix of a valid answer is judged unhealthy before the server closes.
        const std::string full =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwe a\r\n9\r\nre "
            "health\r\n1\r\ny\r\n0\r\n\r\n";
        config::HealthCheck check;
        check.expectBody = "healthy";
        for (std::size_t n = 0; n < full.size(); ++n) {
            const auto v = health::judgeProbe(std::span<const char>(full.data(), n), false, check);
            QVERIFY2(!v.decided || v.ok,
                     qPrintable(QString::number(n) + ": " + QString::fromStdString(v.detail)));
        }
        QVERIFY(
            health::judgeProbe(std::span<const char>(full.data(), full.size()), false, check).ok);
    }
};

QTEST_GUILESS_MAIN(ProbeTest)
#include "probe_test.moc"
