// Hop-by-hop removal, forwarding headers, header rules with variables, and path rewriting.
#include <QTest>

#include "filter/request_context.h"
#include "http/h1_parser.h"
#include "rewrite/rewrite_filters.h"

using namespace proxy;

namespace {

struct Exchange {
    std::string bytes;
    http::RequestHead request;
    http::ResponseHead response;
    filter::ConnectionInfo connection;
    filter::RequestContext ctx;
    explicit Exchange(std::string raw, std::string_view client = "192.0.2.7") : bytes(std::move(raw)) {
        const auto r = http::parseRequestHead(bytes, {}, request);
        if (r.status != http::ParseStatus::Complete) qFatal("bad test request");
        connection.clientAddress = client;
        connection.clientPort = 40000;
        ctx.connection = &connection;
        ctx.request = &request;
        ctx.response = &response;
        ctx.requestId = "rid-1";
        ctx.originalHost = request.host;
    }
    std::string value(std::string_view name) const {
        const auto* h = request.headers.find(name);
        return h ? std::string(h->value) : std::string("<absent>");
    }
};

}  // namespace

class RewriteFiltersTest : public QObject {
    Q_OBJECT

private slots:
    void hopByHopFieldsGo() {
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Private\r\nX-Private: 1\r\n"
                   "Keep-Alive: 5\r\nTE: trailers\r\nTrailer: x\r\nUpgrade: h2c\r\nProxy-Connection: k\r\n"
                   "X-Normal: 2\r\n\r\n");
        rewrite::removeHopByHop(e.request.headers, false);
        for (const char* gone : {"Connection", "X-Private", "Keep-Alive", "TE", "Trailer", "Upgrade",
                                 "Proxy-Connection"})
            QVERIFY2(!e.request.headers.has(gone), gone);
        QCOMPARE(e.value("X-Normal"), std::string("2"));
        QCOMPARE(e.value("Host"), std::string("h"));
    }

    void upgradeSurvivesWhenAsked() {
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
        rewrite::removeHopByHop(e.request.headers, true);
        QCOMPARE(e.value("Upgrade"), std::string("websocket"));
        QVERIFY(!e.request.headers.has("Connection"));
    }

    // Connection can name well-known fields as well as others; each named field goes, in any
    // case, and a field merely resembling a named one stays.
    void connectionNamesWellKnownAndOtherFields() {
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\nConnection: x-request-id ,VIA, x-a\r\n"
                   "X-Request-Id: client\r\nVia: 1.0 far\r\nX-A: 1\r\nx-a: 2\r\nX-Ab: 3\r\n"
                   "Content-Type: t\r\n\r\n");
        rewrite::removeHopByHop(e.request.headers, false);
        for (const char* gone : {"Connection", "X-Request-Id", "Via", "X-A"})
            QVERIFY2(!e.request.headers.has(gone), gone);
        QCOMPARE(e.value("X-Ab"), std::string("3"));
        QCOMPARE(e.value("Content-Type"), std::string("t"));
        QCOMPARE(e.request.headers.size(), std::size_t{3});  // Host, X-Ab, Content-Type
        QCOMPARE(e.request.headers.fields()[1].name, std::string_view("X-Ab"));
    }

    // keepUpgrade keeps Upgrade even when Connection names it; without it, Upgrade goes.
    void upgradeNamedInConnection() {
        for (const bool keep : {true, false}) {
            Exchange e("GET / HTTP/1.1\r\nHost: h\r\nConnection: UPGRADE, keep-alive\r\n"
                       "Upgrade: websocket\r\nKeep-Alive: 5\r\n\r\n");
            rewrite::removeHopByHop(e.request.headers, keep);
            QCOMPARE(e.request.headers.has("Upgrade"), keep);
            QVERIFY(!e.request.headers.has("Keep-Alive"));
            QVERIFY(!e.request.headers.has("Connection"));
        }
    }

    // A head without hop-by-hop fields is left exactly as it was.
    void nothingToRemove() {
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\nX-Connection: a\r\nTEx: b\r\nTrailers: c\r\n\r\n");
        rewrite::removeHopByHop(e.request.headers, false);
        QCOMPARE(e.request.headers.size(), std::size_t{4});
        QCOMPARE(e.value("TEx"), std::string("b"));
        QCOMPARE(e.value("Trailers"), std::string("c"));
    }

    void forwardingHeaders() {
        Exchange e("GET / HTTP/1.1\r\nHost: shop.test\r\nX-Forwarded-For: 203.0.113.9\r\nVia: 1.0 edge\r\n\r\n");
        rewrite::ProxyHeadersFilter f({true, true, true});
        QCOMPARE(int(f.onRequestHeaders(e.ctx)), int(filter::FilterStatus::Continue));
        QCOMPARE(e.value("X-Forwarded-For"), std::string("203.0.113.9, 192.0.2.7"));
        QCOMPARE(e.value("X-Forwarded-Proto"), std::string("http"));
        QCOMPARE(e.value("X-Forwarded-Host"), std::string("shop.test"));
        QCOMPARE(e.value("Via"), std::string("1.0 edge, 1.1 proxy"));
        QCOMPARE(e.value("Forwarded"), std::string("for=192.0.2.7;proto=http;host=\"shop.test\""));
        QCOMPARE(e.value("X-Request-Id"), std::string("rid-1"));
        QCOMPARE(e.request.headers.count("X-Forwarded-For"), std::size_t(1));
    }

    void forwardedQuotesIPv6() {
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "2001:db8::1");
        rewrite::ProxyHeadersFilter f({false, false, true});
        f.onRequestHeaders(e.ctx);
        QCOMPARE(e.value("Forwarded"), std::string("for=\"[2001:db8::1]\";proto=http;host=\"h\""));
        QCOMPARE(e.value("X-Forwarded-For"), std::string("<absent>"));  // switched off
        QCOMPARE(e.value("Via"), std::string("<absent>"));
    }

    void responseSide() {
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        const std::string raw = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n";
        QCOMPARE(int(http::parseResponseHead(raw, {}, http::Method::Get, e.response).status),
                 int(http::ParseStatus::Complete));
        rewrite::ProxyHeadersFilter f({true, true, false});
        f.onResponseHeaders(e.ctx);
        QVERIFY(!e.response.headers.has("X-Hop"));
        QVERIFY(!e.response.headers.has("Connection"));
        QCOMPARE(std::string(e.response.headers.find("Via")->value), std::string("1.1 proxy"));
        QCOMPARE(std::string(e.response.headers.find("X-Request-Id")->value), std::string("rid-1"));
    }

    void valueTemplates_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expanded");
        QTest::newRow("literal") << "plain" << "plain";
        QTest::newRow("client") << "${client_ip}:${client_port}" << "192.0.2.7:40000";
        QTest::newRow("mixed") << "id=${request_id};h=${host};s=${scheme}" << "id=rid-1;h=h.test;s=http";
        QTest::newRow("unclosed") << "x${client_ip" << "x${client_ip";
        QTest::newRow("unknown kept") << "${nope}" << "${nope}";
        QTest::newRow("empty") << "" << "";
    }

    void valueTemplates() {
        QFETCH(QString, text);
        QFETCH(QString, expanded);
        Exchange e("GET / HTTP/1.1\r\nHost: h.test\r\n\r\n");
        rewrite::ValueTemplate t(text.toStdString());
        QCOMPARE(QString::fromStdString(std::string(t.expand(e.ctx, e.request.arena))), expanded);
    }

    void pathRewrites_data() {
        QTest::addColumn<QString>("strip");
        QTest::addColumn<QString>("regex");
        QTest::addColumn<QString>("replacement");
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("expected");
        QTest::newRow("strip") << "/api" << "" << "" << "/api/v1/x?q=1" << "/v1/x?q=1";
        QTest::newRow("strip to root") << "/api" << "" << "" << "/api" << "/";
        QTest::newRow("strip keeps slash") << "/api/" << "" << "" << "/api/v1" << "/v1";
        QTest::newRow("strip not matching") << "/api" << "" << "" << "/other" << "/other";
        QTest::newRow("regex") << "" << "^/old/(.*)$" << "/new/$1" << "/old/a/b" << "/new/a/b";
        QTest::newRow("regex first only") << "" << "a" << "b" << "/aaa" << "/baa";
        QTest::newRow("both") << "/v2" << "^/items" << "/products" << "/v2/items/7?x" << "/products/7?x";
        QTest::newRow("regex result gets a slash") << "" << "^/x/" << "" << "/x/y" << "/y";
    }

    void pathRewrites() {
        QFETCH(QString, strip);
        QFETCH(QString, regex);
        QFETCH(QString, replacement);
        QFETCH(QString, target);
        QFETCH(QString, expected);
        config::Route route;
        route.rewrite.stripPrefix = strip.toStdString();
        route.rewrite.regex = regex.toStdString();
        route.rewrite.replacement = replacement.toStdString();
        rewrite::RouteRewriteFilter f(route);
        Exchange e("GET " + target.toStdString() + " HTTP/1.1\r\nHost: h\r\n\r\n");
        f.onRequestHeaders(e.ctx);
        QCOMPARE(QString::fromStdString(std::string(e.request.target)), expected);
    }

    void headerRules() {
        config::Route route;
        route.requestHeaders.set = {{"X-Env", "prod"}, {"X-Real-IP", "${client_ip}"}};
        route.requestHeaders.add = {{"X-Tag", "one"}};
        route.requestHeaders.remove = {"Cookie"};
        route.responseHeaders.set = {{"Strict-Transport-Security", "max-age=31536000"}};
        rewrite::RouteRewriteFilter f(route);
        QVERIFY(f.phases() & filter::phaseBit(filter::Phase::RequestHeaders));
        QVERIFY(f.phases() & filter::phaseBit(filter::Phase::ResponseHeaders));
        Exchange e("GET / HTTP/1.1\r\nHost: h\r\nX-Env: dev\r\nX-Env: test\r\nX-Tag: zero\r\nCookie: s=1\r\n\r\n");
        f.onRequestHeaders(e.ctx);
        QCOMPARE(e.request.headers.count("X-Env"), std::size_t(1));
        QCOMPARE(e.value("X-Env"), std::string("prod"));
        QCOMPARE(e.value("X-Real-IP"), std::string("192.0.2.7"));
        QCOMPARE(e.request.headers.count("X-Tag"), std::size_t(2));
        QVERIFY(!e.request.headers.has("Cookie"));
        f.onResponseHeaders(e.ctx);
        QCOMPARE(std::string(e.response.headers.find("Strict-Transport-Security")->value),
                 std::string("max-age=31536000"));
    }

    void emptyRouteFilterHooksNothing() {
        config::Route route;
        rewrite::RouteRewriteFilter f(route);
        QVERIFY(f.empty());
    }
};

QTEST_GUILESS_MAIN(RewriteFiltersTest)
#include "rewrite_filters_test.moc"
