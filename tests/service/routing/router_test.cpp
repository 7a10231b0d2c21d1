// Route matching and precedence, over a config compiled the way the service compiles it.
#include <QTest>

#include <set>
#include <string>

#include "config/validator.h"
#include "core/snapshot.h"
#include "http/h1_parser.h"
#include "routing/router.h"

using namespace proxy;

namespace {

const char* kConfig = R"({
  "listeners": [ { "name": "web", "address": "127.0.0.1:8080" },
                 { "name": "admin", "address": "127.0.0.1:8081" } ],
  "upstreams": [ { "name": "u", "servers": [ { "address": "127.0.0.1:9001" } ] } ],
  "routes": [
    { "name": "catch-all", "upstream": "u" },
    { "name": "prefix-short", "match": { "path_prefix": "/a/" }, "upstream": "u" },
    { "name": "prefix-long", "match": { "path_prefix": "/a/b/" }, "upstream": "u" },
    { "name": "regex", "match": { "path_regex": "^/a/[0-9]+$" }, "upstream": "u" },
    { "name": "exact", "match": { "path_exact": "/a/1" }, "upstream": "u" },
    { "name": "wild", "match": { "host": "*.example.com" }, "upstream": "u" },
    { "name": "wild-deeper", "match": { "host": "*.api.example.com" }, "upstream": "u" },
    { "name": "host", "match": { "host": "www.example.com" }, "upstream": "u" },
    { "name": "host-path", "match": { "host": "www.example.com", "path_prefix": "/shop" }, "upstream": "u" },
    { "name": "put", "match": { "path_prefix": "/m", "methods": ["PUT", "PATCH"] }, "upstream": "u" },
    { "name": "canary", "match": { "path_prefix": "/m", "headers": { "X-Canary": "yes" } }, "upstream": "u" },
    { "name": "admin-only", "listener": "admin", "match": { "path_prefix": "/" }, "upstream": "u" }
  ]
})";

}  // namespace

class RouterTest : public QObject {
    Q_OBJECT
    std::shared_ptr<const core::Snapshot> snapshot_;

private slots:
    void initTestCase() {
        auto loaded = config::loadConfig(kConfig);
        for (const auto& d : loaded.diagnostics) qWarning("%s", d.toString().c_str());
        QVERIFY(loaded.ok());
        auto built = core::buildSnapshot(loaded.config, 1, 1);
        QVERIFY2(built.has_value(), built ? "" : built.error().c_str());
        snapshot_ = *built;
    }

    void match_data() {
        QTest::addColumn<QString>("listener");
        QTest::addColumn<QString>("request");
        QTest::addColumn<QString>("route");
        QTest::newRow("catch-all") << "web" << "GET /zzz HTTP/1.1\r\nHost: h\r\n\r\n" << "catch-all";
        QTest::newRow("prefix") << "web" << "GET /a/x HTTP/1.1\r\nHost: h\r\n\r\n" << "prefix-short";
        QTest::newRow("longer prefix wins") << "web" << "GET /a/b/c HTTP/1.1\r\nHost: h\r\n\r\n" << "prefix-long";
        QTest::newRow("regex beats prefix") << "web" << "GET /a/22 HTTP/1.1\r\nHost: h\r\n\r\n" << "regex";
        QTest::newRow("exact beats regex") << "web" << "GET /a/1 HTTP/1.1\r\nHost: h\r\n\r\n" << "exact";
        QTest::newRow("prefix is not a word match") << "web" << "GET /ab HTTP/1.1\r\nHost: h\r\n\r\n" << "catch-all";
        QTest::newRow("query does not affect path") << "web" << "GET /a/1?x=/a/b/ HTTP/1.1\r\nHost: h\r\n\r\n" << "exact";
        QTest::newRow("exact host") << "web" << "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n" << "host";
        QTest::newRow("host case and port") << "web" << "GET / HTTP/1.1\r\nHost: WWW.Example.COM:8080\r\n\r\n" << "host";
        QTest::newRow("host trailing dot") << "web" << "GET / HTTP/1.1\r\nHost: www.example.com.\r\n\r\n" << "host";
        QTest::newRow("exact host with path") << "web" << "GET /shop/cart HTTP/1.1\r\nHost: www.example.com\r\n\r\n" << "host-path";
        QTest::newRow("wildcard") << "web" << "GET / HTTP/1.1\r\nHost: img.example.com\r\n\r\n" << "wild";
        QTest::newRow("longer wildcard wins") << "web" << "GET / HTTP/1.1\r\nHost: v1.api.example.com\r\n\r\n" << "wild-deeper";
        QTest::newRow("wildcard needs a label") << "web" << "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n" << "catch-all";
        QTest::newRow("suffix is not a label") << "web" << "GET / HTTP/1.1\r\nHost: badexample.com\r\n\r\n" << "catch-all";
        QTest::newRow("host beats path") << "web" << "GET /a/1 HTTP/1.1\r\nHost: img.example.com\r\n\r\n" << "wild";
        QTest::newRow("method") << "web" << "PUT /m HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n" << "put";
        QTest::newRow("second method") << "web" << "PATCH /m HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n" << "put";
        QTest::newRow("method mismatch") << "web" << "GET /m HTTP/1.1\r\nHost: h\r\n\r\n" << "catch-all";
        QTest::newRow("header") << "web" << "GET /m HTTP/1.1\r\nHost: h\r\nx-canary: yes\r\n\r\n" << "canary";
        QTest::newRow("header value must match") << "web" << "GET /m HTTP/1.1\r\nHost: h\r\nX-Canary: no\r\n\r\n" << "catch-all";
        QTest::newRow("listener-scoped route") << "admin" << "GET /zzz HTTP/1.1\r\nHost: h\r\n\r\n" << "admin-only";
        QTest::newRow("other listener never sees it") << "web" << "GET /zzz HTTP/1.1\r\nHost: h\r\n\r\n" << "catch-all";
        QTest::newRow("unknown listener: global routes") << "nope" << "GET /a/x HTTP/1.1\r\nHost: h\r\n\r\n" << "prefix-short";
    }

    void match() {
        QFETCH(QString, listener);
        QFETCH(QString, request);
        QFETCH(QString, route);
        const std::string bytes = request.toStdString();
        http::RequestHead head;
        const auto r = http::parseRequestHead(bytes, http::H1Limits{}, head);
        QCOMPARE(int(r.status), int(http::ParseStatus::Complete));
        const auto* matched = snapshot_->router->match(listener.toStdString(), head);
        QVERIFY(matched != nullptr);
        QCOMPARE(QString::fromStdString(matched->name), route);
    }

    void noRouteMeansNull() {
        auto loaded = config::loadConfig(R"({"listeners":[{"name":"w","address":"127.0.0.1:1"}],
            "upstreams":[{"name":"u","servers":[{"address":"127.0.0.1:2"}]}],
            "routes":[{"name":"only","match":{"host":"a.test"},"upstream":"u"}]})");
        QVERIFY(loaded.ok());
        auto built = core::buildSnapshot(loaded.config, 1, 1);
        QVERIFY(built.has_value());
        http::RequestHead head;
        const std::string bytes = "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n";
        QCOMPARE(int(http::parseRequestHead(bytes, {}, head).status), int(http::ParseStatus::Complete));
        QVERIFY((*built)->router->match("w", head) == nullptr);
    }

    // hashString reads words with overlapping tails: every byte of every length up to 40 must
    // still count, equal strings must hash alike whatever their storage, and a StringMap built
    // with it must find what it holds (and only that).
    void hashStringUsesEveryByte() {
        std::string base = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        std::set<std::size_t> seen;
        std::size_t total = 0;
        for (std::size_t n = 0; n <= base.size(); ++n) {
            const std::string s = base.substr(0, n);
            QCOMPARE(routing::hashString(s), routing::hashString(std::string(s)));
            seen.insert(routing::hashString(s));
            ++total;
            for (std::size_t i = 0; i < n; ++i) {
                std::string t = s;
                t[i] = static_cast<char>(t[i] ^ 0x01);
                QVERIFY2(routing::hashString(t) != routing::hashString(s),
                         qPrintable(QString::fromStdString(t)));
                seen.insert(routing::hashString(t));
                ++total;
            }
        }
        QCOMPARE(seen.size(), total);  // no collision among these 861 strings
        QVERIFY(routing::hashString("") != routing::hashString(std::string_view("\0", 1)));
        QVERIFY(routing::hashString("ab") != routing::hashString("ba"));

        routing::StringMap<int> map;
        for (int i = 0; i < 200; ++i) map.emplace("key-" + std::to_string(i), i);
        for (int i = 0; i < 200; ++i) {
            const std::string k = "key-" + std::to_string(i);
            const auto it = map.find(std::string_view(k));
            QVERIFY(it != map.end());
            QCOMPARE(it->second, i);
        }
        QVERIFY(map.find(std::string_view("key-200")) == map.end());
        QVERIFY(map.find(std::string_view("key-")) == map.end());
    }

    void normalizeHost_data() {
        QTest::addColumn<QString>("in");
        QTest::addColumn<QString>("out");
        QTest::newRow("plain") << "Example.COM" << "example.com";
        QTest::newRow("port") << "a.b:81" << "a.b";
        QTest::newRow("ipv6") << "[::1]:8080" << "[::1]";
        QTest::newRow("dot") << "a.b." << "a.b";
        QTest::newRow("empty") << "" << "";
        QTest::newRow("broken ipv6") << "[::1" << "";
        QTest::newRow("too long") << QString(300, 'a') << "";
    }

    void normalizeHost() {
        QFETCH(QString, in);
        QFETCH(QString, out);
        char buffer[256];
        const std::string s = in.toStdString();
        QCOMPARE(QString::fromStdString(std::string(routing::normalizeHost(s, buffer))), out);
    }
};

QTEST_GUILESS_MAIN(RouterTest)
#include "router_test.moc"
