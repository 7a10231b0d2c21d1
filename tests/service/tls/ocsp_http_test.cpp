// The OCSP fetcher's HTTP side (tls/ocsp_http.h): responder URLs, the GET / POST request
// (RFC 5019: GET while the URL stays under 255 bytes), and the verdict on a responder's answer.
#include <QTest>

#include <string>
#include <vector>

#include "tls/ocsp_http.h"

using namespace proxy::tls;

class OcspHttpTest : public QObject {
    Q_OBJECT

    static OcspHttpAnswer judge(const std::string& bytes, bool eof) {
        return judgeOcspAnswer(std::span<const char>(bytes.data(), bytes.size()), eof);
    }

  private slots:
    void urls_data() {
        QTest::addColumn<QString>("url");
        QTest::addColumn<QString>("host");  // empty: refused
        QTest::addColumn<int>("port");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("error");
        QTest::newRow("plain") << "http://ocsp.example.com"
                               << "ocsp.example.com" << 80 << "/"
                               << "";
        QTest::newRow("upper scheme") << "HTTP://r3.o.lencr.org"
                                      << "r3.o.lencr.org" << 80 << "/"
                                      << "";
        QTest::newRow("port and path") << "http://127.0.0.1:8888/ocsp/a"
                                       << "127.0.0.1" << 8888 << "/ocsp/a"
                                       << "";
        QTest::newRow("query only") << "http://h.test?x=1"
                                    << "h.test" << 80 << "/?x=1"
                                    << "";
        QTest::newRow("ipv6") << "http://[::1]:9000/"
                              << "::1" << 9000 << "/"
                              << "";
        QTest::newRow("https") << "https://ocsp.example.com/"
                               << "" << 0 << ""
                               << "plain HTTP only";
        QTest::newRow("ldap") << "ldap://x"
                              << "" << 0 << ""
                              << "not an http:// URL";
        QTest::newRow("userinfo") << "http://u:p@h.test/"
                                  << "" << 0 << ""
                                  << "user info";
        QTest::newRow("no host") << "http:///path"
                                 << "" << 0 << ""
                                 << "no host";
        QTest::newRow("empty port") << "http://h.test:/"
                                    << "" << 0 << ""
                                    << "empty port";
        QTest::newRow("port 0") << "http://h.test:0/"
                                << "" << 0 << ""
                                << "out of range";
        QTest::newRow("port huge") << "http://h.test:99999999999/"
                                   << "" << 0 << ""
                                   << "not a number";
        QTest::newRow("port letters") << "http://h.test:8o/"
                                      << "" << 0 << ""
                                      << "not a number";
        QTest::newRow("space") << "http://h.test/a b"
                               << "" << 0 << ""
                               << "space";
        QTest::newRow("fragment") << "http://h.test/#f"
                                  << "" << 0 << ""
                                  << "fragment";
        QTest::newRow("bad host") << "http://h_t!st/"
                                  << "" << 0 << ""
                                  << "not a DNS name";
        QTest::newRow("unclosed v6") << "http://[::1/"
                                     << "" << 0 << ""
                                     << "unclosed";
        QTest::newRow("v6 junk") << "http://[::1]x/"
                                 << "" << 0 << ""
                                 << "after ']'";
        QTest::newRow("too long") << "http://h.test/" + QString(3000, 'a') << "" << 0 << ""
                                  << "longer than 2048";
    }
    void urls() {
        QFETCH(QString, url);
        QFETCH(QString, host);
        QFETCH(int, port);
        QFETCH(QString, path);
        QFETCH(QString, error);
        const ResponderUrl parsed = parseResponderUrl(url.toStdString());
        if (host.isEmpty()) {
            QVERIFY(!parsed.ok);
            QVERIFY2(QString::fromStdString(parsed.error).contains(error), parsed.error.c_str());
            return;
        }
        QVERIFY2(parsed.ok, parsed.error.c_str());
        QCOMPARE(QString::fromStdString(parsed.host), host);
        QCOMPARE(int(parsed.port), port);
        QCOMPARE(QString::fromStdString(parsed.path), path);
    }

    void shortRequestsAreGets() {
        const ResponderUrl url = parseResponderUrl("http://ocsp.test:8080/base");
        QVERIFY(url.ok);
        // 0xfb 0xff 0xfe: base64 "+//+" would need escaping; padding too.
        const std::vector<unsigned char> der = {0x30, 0xfb, 0xff, 0xfe};
        const std::string request = ocspHttpRequest(url, der, false);
        QCOMPARE(QString::fromStdString(request.substr(0, request.find("\r\n"))),
                 QString("GET /base/MPv%2F%2Fg%3D%3D HTTP/1.1"));
        QVERIFY(request.find("\r\nHost: ocsp.test:8080\r\n") != std::string::npos);
        QVERIFY(request.find("\r\nConnection: close\r\n") != std::string::npos);
        QVERIFY(request.ends_with("\r\n\r\n"));
        // Through a proxy: the absolute URL.
        const std::string proxied = ocspHttpRequest(url, der, true);
        QVERIFY(
            proxied.starts_with("GET http://ocsp.test:8080/base/MPv%2F%2Fg%3D%3D HTTP/1.1\r\n"));
    }

    void longRequestsArePosts() {
        const ResponderUrl url = parseResponderUrl("http://ocsp.test/");
        const std::vector<unsigned char> der(300, 0x41);
        const std::string request = ocspHttpRequest(url, der, false);
        QVERIFY(request.starts_with("POST / HTTP/1.1\r\n"));
        QVERIFY(request.find("\r\nContent-Type: application/ocsp-request\r\n") !=
                std::string::npos);
        QVERIFY(request.find("\r\nContent-Length: 300\r\n") != std::string::npos);
        QVERIFY(request.ends_with("\r\n\r\n" + std::string(300, 'A')));
        // A URL with a query cannot take the request in its path: POST even when short.
        const ResponderUrl query = parseResponderUrl("http://ocsp.test/x?y=1");
        QVERIFY(ocspHttpRequest(query, std::vector<unsigned char>{1, 2}, false)
                    .starts_with("POST /x?y=1 "));
    }

    void answers_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("eof");
        QTest::addColumn<int>("state");  // 0 need more, 1 done, 2 error
        QTest::addColumn<QByteArray>("bodyOrError");
        const QByteArray ok = "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n";
        QTest::newRow("content-length")
            << ok + "Content-Length: 3\r\n\r\nabc" << false << 1 << QByteArray("abc");
        QTest::newRow("content-length, more to come")
            << ok + "Content-Length: 5\r\n\r\nabc" << false << 0 << QByteArray();
        QTest::newRow("content-length, cut") << ok + "Content-Length: 5\r\n\r\nabc" << true << 2
                                             << QByteArray("closed in the middle");
        QTest::newRow("chunked")
            << ok + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n"
            << false << 1 << QByteArray("abc");
        QTest::newRow("chunked, unfinished") << ok + "Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n"
                                             << false << 0 << QByteArray();
        QTest::newRow("chunked, bad") << ok + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"
                                      << false << 2 << QByteArray("chunked body is malformed");
        QTest::newRow("until close")
            << QByteArray("HTTP/1.0 200 OK\r\n\r\nxyz") << true << 1 << QByteArray("xyz");
        QTest::newRow("until close, open")
            << QByteArray("HTTP/1.0 200 OK\r\n\r\nxyz") << false << 0 << QByteArray();
        QTest::newRow("100 then 200")
            << "HTTP/1.1 100 Continue\r\n\r\n" + ok + "Content-Length: 1\r\n\r\nz" << false << 1
            << QByteArray("z");
        QTest::newRow("content type with params")
            << QByteArray(
                   "HTTP/1.1 200 OK\r\nContent-Type: Application/OCSP-Response; "
                   "x=1\r\nContent-Length: 1\r\n\r\nz")
            << false << 1 << QByteArray("z");
        QTest::newRow("500") << QByteArray("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
                             << false << 2 << QByteArray("answered HTTP 500");
        QTest::newRow("html")
            << QByteArray(
                   "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1\r\n\r\nz")
            << false << 2 << QByteArray("Content-Type 'text/html'");
        QTest::newRow("empty body") << ok + "Content-Length: 0\r\n\r\n"
                                    << false << 2 << QByteArray("no body");
        QTest::newRow("too large") << ok + "Content-Length: 70000\r\n\r\n"
                                   << false << 2 << QByteArray("larger than 64 KiB");
        QTest::newRow("too large until close") << "HTTP/1.0 200 OK\r\n\r\n" + QByteArray(70000, 'x')
                                               << false << 2 << QByteArray("larger than 64 KiB");
        QTest::newRow("garbage") << QByteArray("\x01\x02 not http\r\n\r\n") << false << 2
                                 << QByteArray("not valid HTTP/1.1");
        QTest::newRow("nothing, closed")
            << QByteArray() << true << 2 << QByteArray("closed without answering");
        QTest::newRow("half a head, closed") << QByteArray("HTTP/1.1 200 OK\r\nCont") << true << 2
                                             << QByteArray("closed in the middle");
        QTest::newRow("half a head")
            << QByteArray("HTTP/1.1 200 OK\r\nCont") << false << 0 << QByteArray();
    }
    void answers() {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, eof);
        QFETCH(int, state);
        QFETCH(QByteArray, bodyOrError);
        const OcspHttpAnswer answer = judge(bytes.toStdString(), eof);
        QCOMPARE(int(answer.state), state);
        if (state == 1) QCOMPARE(QByteArray::fromStdString(answer.body), bodyOrError);
        if (state == 2)
            QVERIFY2(QByteArray::fromStdString(answer.error).contains(bodyOrError),
                     answer.error.c_str());
    }
};

QTEST_GUILESS_MAIN(OcspHttpTest)
#include "ocsp_http_test.moc"
