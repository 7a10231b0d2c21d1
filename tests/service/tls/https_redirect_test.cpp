// The HTTP -> HTTPS redirect filter on its own: which hosts it accepts, the Location it builds,
// and that only plain requests are answered (through the stored-response path).
#include <QTest>

#include "filter/request_context.h"
#include "filter/stored_response.h"
#include "tls/https_redirect.h"

using proxy::tls::HttpsRedirectFilter;
using proxy::tls::redirectableHost;
namespace filter = proxy::filter;
namespace http = proxy::http;

class HttpsRedirectTest : public QObject {
    Q_OBJECT

private slots:
    void hosts_data() {
        QTest::addColumn<QString>("host");
        QTest::addColumn<QString>("expected");  // "" = refused
        QTest::newRow("name") << "www.example.com" << "www.example.com";
        QTest::newRow("name and port") << "www.example.com:8080" << "www.example.com";
        QTest::newRow("IPv4 and port") << "10.0.0.1:80" << "10.0.0.1";
        QTest::newRow("IPv6") << "[::1]" << "[::1]";
        QTest::newRow("IPv6 and port") << "[2001:db8::1]:8080" << "[2001:db8::1]";
        QTest::newRow("empty") << "" << "";
        QTest::newRow("port only") << ":80" << "";
        QTest::newRow("empty port") << "a.test:" << "";
        QTest::newRow("percent-encoding") << "a.test%0d%0aX" << "";
        QTest::newRow("sub-delims") << "a.test!$&" << "";
        QTest::newRow("userinfo") << "user@a.test" << "";
        QTest::newRow("slash") << "a.test/evil" << "";
        QTest::newRow("CR LF") << "a.test\r\nSet-Cookie: x" << "";
        QTest::newRow("space") << "a .test" << "";
        QTest::newRow("IPv6 with a zone") << "[fe80::1%25eth0]" << "";
        QTest::newRow("IPv6 unclosed") << "[::1" << "";
        QTest::newRow("IPv6 then junk") << "[::1]x" << "";
        QTest::newRow("254 characters") << QString(254, 'a') << "";
        QTest::newRow("253 characters") << QString(253, 'a') << QString(253, 'a');
    }
    void hosts() {
        QFETCH(QString, host);
        QFETCH(QString, expected);
        const std::string text = host.toStdString();
        QCOMPARE(QString::fromStdString(std::string(redirectableHost(text))), expected);
    }

    void locations() {
        proxy::config::HttpsRedirect plain;
        plain.enabled = true;
        const HttpsRedirectFilter byDefault(plain);
        QCOMPARE(byDefault.location("a.test:80", "/x/y", "q=1&r"), std::string("https://a.test/x/y?q=1&r"));
        QCOMPARE(byDefault.location("a.test", "/", ""), std::string("https://a.test/"));
        QCOMPARE(byDefault.location("a.test", "*", ""), std::string("https://a.test/"));  // OPTIONS *
        QCOMPARE(byDefault.location("a.test", "//evil.test/", ""), std::string("https://a.test//evil.test/"));
        QCOMPARE(byDefault.location("a!b", "/", ""), std::string());
        proxy::config::HttpsRedirect fixed = plain;
        fixed.port = 8443;
        fixed.host = "www.example.com";
        const HttpsRedirectFilter withHost(fixed);
        // The configured host wins, even over a Host that could not be used.
        QCOMPARE(withHost.location("a!b", "/p", "k"), std::string("https://www.example.com:8443/p?k"));
    }

    void onlyPlainRequestsAreAnswered() {
        proxy::config::HttpsRedirect config;
        config.enabled = true;
        config.status = 301;
        HttpsRedirectFilter f(config);
        http::RequestHead request;
        request.host = "shop.test";
        request.path = "/cart";
        request.query = "id=7";
        filter::ConnectionInfo connection;
        filter::RequestContext ctx;
        ctx.connection = &connection;
        ctx.request = &request;

        connection.tls = true;
        QCOMPARE(f.onRequestHeaders(ctx), filter::FilterStatus::Continue);
        QVERIFY(ctx.stored == nullptr);

        connection.tls = false;
        QCOMPARE(f.onRequestHeaders(ctx), filter::FilterStatus::Serve);
        QVERIFY(ctx.stored != nullptr);
        QCOMPARE(ctx.stored->poll(), filter::StoredResponse::Readiness::Ready);
        http::ResponseHead head;
        const std::uint64_t size = ctx.stored->writeHead(head);
        QCOMPARE(head.status, 301);
        QVERIFY(head.headers.find("Location") != nullptr);
        QCOMPARE(head.headers.find("Location")->value, std::string_view("https://shop.test/cart?id=7"));
        QCOMPARE(ctx.stored->body(0).size(), size);
        QVERIFY(ctx.stored->body(0).find("https://shop.test/cart?id=7") != std::string_view::npos);

        filter::RequestContext hostile;
        hostile.connection = &connection;
        request.host = "a.test%0d%0aSet-Cookie%3a%20x";
        hostile.request = &request;
        QCOMPARE(f.onRequestHeaders(hostile), filter::FilterStatus::Respond);
        QCOMPARE(hostile.local.status, 400);
        QVERIFY(hostile.stored == nullptr);
    }
};

QTEST_GUILESS_MAIN(HttpsRedirectTest)
#include "https_redirect_test.moc"
