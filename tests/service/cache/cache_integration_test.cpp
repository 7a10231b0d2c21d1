// The HTTP cache end to end: the real proxy-service between raw clients and fake origins. Hit and
// miss, what is never stored (private, no-store, Set-Cookie, Authorization), Vary variants,
// revalidation (304) and the cache's own 304s, collapsed forwarding (100 clients, one origin
// request), stale-if-error when the origin dies or fails, purges over proxyctl, the memory bound
// under a flood of keys, encoded-path key confusion, oversized objects, bypass rules, and the
// cache status in the access log. Each test uses its own paths, so they are independent.

#include <QProcess>
#include <QTest>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy::test;
using json = nlohmann::json;

namespace {

std::string get(const std::string& target, const std::string& host = "cache.test",
                const std::string& extra = "", const std::string& method = "GET") {
    return method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

// A /cache/ path on the origin with these response headers (already percent-encoded values).
std::string target(const std::string& name, const std::string& query) {
    return "/cache/" + name + "?" + query;
}

constexpr const char* kMaxAge60 = "h=Cache-Control:max-age%3D60";

}  // namespace

class CacheIntegrationTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<FakeOrigin> origin_;  // the usual origin
    std::unique_ptr<FakeOrigin> slow_;    // answers after 400 ms (collapsed forwarding)
    std::unique_ptr<FakeOrigin> mortal_;  // stopped by a test (stale-if-error)
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;

    RawResponse fetch(const std::string& request) {
        RawResponse r = roundTrip(port_, request);
        return r;
    }

    json ctl(const QStringList& args) { return proxyctlJson(endpoint_, args); }

private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("O");
        slow_ = std::make_unique<FakeOrigin>("S");
        slow_->setDelay(400);
        mortal_ = std::make_unique<FakeOrigin>("M");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-cache-test-" + std::to_string(port_) + ".sock";
        proxy_ = std::make_unique<ProxyProcess>();
        auto upstream = [](const std::string& name, int port) {
            return json{{"name", name},
                        {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(port)}}})}};
        };
        const json cacheOn = {{"enabled", true},
                              {"key", {{"query_ignore", json::array({"utm_source"})}}},
                              {"bypass", {{"cookies", json::array({"session"})}}}};
        const json config = {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"timeouts", {{"upstream_response_ms", 5000}, {"client_idle_ms", 5000}}},
            {"logging",
             {{"database", ""},
              {"access_log_file", proxy_->dir().toStdString() + "/access.jsonl"}}},
            {"cache", {{"memory_mb", 1}, {"max_object_kb", 64}, {"collapse_timeout_ms", 5000}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams", json::array({upstream("o", origin_->port()), upstream("s", slow_->port()),
                                       upstream("m", mortal_->port())})},
            {"routes", json::array({
                {{"name", "uncached"}, {"match", {{"host", "plain.test"}}}, {"upstream", "o"}},
                {{"name", "auth"},
                 {"match", {{"host", "auth.test"}}},
                 {"cache", {{"enabled", true}, {"allow_authorized", true}}},
                 {"upstream", "o"}},
                {{"name", "slow"}, {"match", {{"host", "slow.test"}}}, {"cache", cacheOn}, {"upstream", "s"}},
                {{"name", "mortal"}, {"match", {{"host", "mortal.test"}}}, {"cache", cacheOn}, {"upstream", "m"}},
                {{"name", "gz"},
                 {"match", {{"host", "gz.test"}}},
                 {"compression", {{"enabled", true}, {"min_size", 256}, {"formats", json::array({"gzip"})}}},
                 {"cache", cacheOn},
                 {"upstream", "o"}},
                {{"name", "cached"}, {"cache", cacheOn}, {"upstream", "o"}},
            })},
        };
        QVERIFY2(proxy_->start(config.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        const int rc = proxy_->stop();
        QVERIFY2(rc == 0, qPrintable("exit code " + QString::number(rc) + "; output:\n" + proxy_->output()));
    }

    void hitAndMiss() {
        const std::string t = target("hm", kMaxAge60);
        const auto first = fetch(get(t));
        QVERIFY(first.ok);
        QCOMPARE(first.status, 200);
        QVERIFY2(first.header("cache-status").find("fwd=miss") != std::string::npos,
                 first.head.c_str());
        const auto second = fetch(get(t));
        QVERIFY(second.ok);
        QCOMPARE(second.status, 200);
        QCOMPARE(second.body, first.body);
        QVERIFY2(second.header("cache-status").find("proxy; hit") != std::string::npos, second.head.c_str());
        QVERIFY(second.has("age"));
        QVERIFY(second.has("x-request-id"));
        QVERIFY(second.header("x-request-id") != first.header("x-request-id"));
        QCOMPARE(origin_->countTarget(t), std::size_t(1));
        // HEAD is answered from the stored GET: its length, no body.
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get(t, "cache.test", "", "HEAD")));
        const auto head = c.readResponse(std::chrono::seconds(10), true);
        QCOMPARE(head.status, 200);
        QCOMPARE(head.header("content-length"), std::to_string(first.body.size()));
        QCOMPARE(origin_->countTarget(t), std::size_t(1));
        // Keep-alive: a hit leaves the connection usable.
        QVERIFY(c.send(get(t)));
        const auto again = c.readResponse();
        QCOMPARE(again.body, first.body);
        // A route without the cache never stores.
        const std::string p = target("plain", kMaxAge60);
        fetch(get(p, "plain.test"));
        fetch(get(p, "plain.test"));
        QCOMPARE(origin_->countTarget(p), std::size_t(2));
    }

    void neverStored_data() {
        QTest::addColumn<QString>("query");
        QTest::addColumn<QString>("requestExtra");
        QTest::newRow("private") << "h=Cache-Control:private%2Cmax-age%3D60" << "";
        QTest::newRow("private=field") << "h=Cache-Control:private%3D%22x%22%2Cmax-age%3D60" << "";
        QTest::newRow("no-store") << "h=Cache-Control:no-store%2Cmax-age%3D60" << "";
        QTest::newRow("set-cookie") << "h=Cache-Control:public%2Cmax-age%3D60&h=Set-Cookie:sid%3D1" << "";
        QTest::newRow("no freshness") << "x=1" << "";
        QTest::newRow("malformed") << "h=Cache-Control:max-age%3D60%3Bno-store" << "";
        QTest::newRow("vary star") << "h=Cache-Control:max-age%3D60&h=Vary:*" << "";
        QTest::newRow("authorization") << "h=Cache-Control:public%2Cmax-age%3D60" << "Authorization: Basic dTpw\r\n";
        QTest::newRow("request no-store") << QString(kMaxAge60) << "Cache-Control: no-store\r\n";
        QTest::newRow("bypass cookie") << QString(kMaxAge60) << "Cookie: a=1; session=abc\r\n";
    }
    void neverStored() {
        QFETCH(QString, query);
        QFETCH(QString, requestExtra);
        std::string tag = QTest::currentDataTag();
        for (char& ch : tag)
            if (ch == ' ' || ch == '=') ch = '-';
        const std::string t = target("never-" + tag, query.toStdString());
        const auto first = fetch(get(t, "cache.test", requestExtra.toStdString()));
        QCOMPARE(first.status, 200);
        // The next request, plain, must reach the origin: nothing was stored.
        const auto second = fetch(get(t));
        QCOMPARE(second.status, 200);
        QVERIFY2(second.body != first.body, second.body.c_str());
        QCOMPARE(origin_->countTarget(t), std::size_t(2));
        QVERIFY(second.header("cache-status").find("hit") == std::string::npos);
    }

    void authorizationWhenAllowed() {
        // allow_authorized: stored only what RFC 9111 3.5 lets through (public here).
        const std::string pub = target("auth-public", "h=Cache-Control:public%2Cmax-age%3D60");
        const std::string auth = "Authorization: Bearer t\r\n";
        const auto a = fetch(get(pub, "auth.test", auth));
        const auto b = fetch(get(pub, "auth.test", auth));
        QCOMPARE(b.body, a.body);
        QCOMPARE(origin_->countTarget(pub), std::size_t(1));
        const std::string plain = target("auth-plain", kMaxAge60);
        fetch(get(plain, "auth.test", auth));
        fetch(get(plain, "auth.test", auth));
        QCOMPARE(origin_->countTarget(plain), std::size_t(2));
    }

    void varyVariantsNeverCross() {
        const std::string t =
            target("vary", std::string(kMaxAge60) + "&h=Vary:Accept-Language&echo=Accept-Language");
        const auto de = fetch(get(t, "cache.test", "Accept-Language: de\r\n"));
        QVERIFY(de.body.find("Accept-Language=de") != std::string::npos);
        const auto en = fetch(get(t, "cache.test", "Accept-Language: en\r\n"));
        QVERIFY2(en.body.find("Accept-Language=en") != std::string::npos, en.body.c_str());
        const auto none = fetch(get(t));
        QVERIFY2(none.body.find("Accept-Language= ") != std::string::npos ||
                     none.body.ends_with("Accept-Language="),
                 none.body.c_str());
        QCOMPARE(origin_->countTarget(t), std::size_t(3));
        // Each variant now comes from the cache, and only to its own kind of request.
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(fetch(get(t, "cache.test", "Accept-Language: de\r\n")).body, de.body);
            QCOMPARE(fetch(get(t, "cache.test", "Accept-Language: en\r\n")).body, en.body);
            QCOMPARE(fetch(get(t)).body, none.body);
        }
        QCOMPARE(origin_->countTarget(t), std::size_t(3));
        const auto fr = fetch(get(t, "cache.test", "Accept-Language: fr\r\n"));
        QVERIFY(fr.body.find("Accept-Language=fr") != std::string::npos);
        QCOMPARE(origin_->countTarget(t), std::size_t(4));
    }

    void revalidation() {
        const std::string t = target("reval", "etag=v1&h=Cache-Control:max-age%3D1");
        const auto first = fetch(get(t));
        QCOMPARE(first.status, 200);
        QCOMPARE(first.header("etag"), std::string("\"v1\""));
        // The client's own conditional is answered by the cache while fresh.
        const auto own = fetch(get(t, "cache.test", "If-None-Match: \"v1\"\r\n"));
        QCOMPARE(own.status, 304);
        QVERIFY(own.body.empty());
        QCOMPARE(origin_->countTarget(t), std::size_t(1));
        const auto other = fetch(get(t, "cache.test", "If-None-Match: \"v0\"\r\n"));
        QCOMPARE(other.status, 200);
        QCOMPARE(other.body, first.body);
        // Stale now: the cache asks the origin with its validator and gets a 304.
        std::this_thread::sleep_for(std::chrono::milliseconds(2200));
        const auto second = fetch(get(t));
        QCOMPARE(second.status, 200);
        QCOMPARE(second.body, first.body);
        QVERIFY2(second.header("cache-status").find("fwd-status=304") != std::string::npos,
                 second.head.c_str());
        QCOMPARE(origin_->countTarget(t), std::size_t(2));
        const auto requests = origin_->requests();
        std::string inm;
        for (const auto& r : requests)
            if (r.target == t) inm = r.header("If-None-Match");
        QCOMPARE(inm, std::string("\"v1\""));
        // The 304 refreshed the copy: fresh again for a second.
        const auto third = fetch(get(t));
        QCOMPARE(third.body, first.body);
        QVERIFY(origin_->countTarget(t) <= 3);  // 3 only if this machine took over a second
        // A request with no-cache always goes to the origin (conditionally).
        fetch(get(t, "cache.test", "Cache-Control: no-cache\r\n"));
        QVERIFY(origin_->countTarget(t) >= 3);
    }

    void collapsedForwarding() {
        const std::string t = target("collapse", kMaxAge60);
        constexpr int kClients = 100;
        std::vector<std::unique_ptr<RawClient>> clients;
        for (int i = 0; i < kClients; ++i) {
            clients.push_back(std::make_unique<RawClient>());
            QVERIFY(clients.back()->connect(port_));
        }
        for (auto& c : clients) QVERIFY(c->send(get(t, "slow.test")));
        std::string body;
        for (auto& c : clients) {
            const auto r = c->readResponse(std::chrono::seconds(20));
            QVERIFY(r.ok);
            QCOMPARE(r.status, 200);
            if (body.empty()) body = r.body;
            QCOMPARE(r.body, body);
        }
        QCOMPARE(slow_->countTarget(t), std::size_t(1));
        const json stats = ctl({"cache", "stats"});
        QVERIFY2(stats.is_object(), stats.dump().c_str());
        QVERIFY(stats.value("collapsed", 0) >= 1);
    }

    void staleIfErrorWhenTheOriginDies() {
        const std::string t =
            target("sie", "h=Cache-Control:max-age%3D1%2Cstale-if-error%3D600");
        const std::string strict = target("strict", "h=Cache-Control:max-age%3D1%2Cmust-revalidate");
        const auto first = fetch(get(t, "mortal.test"));
        QCOMPARE(first.status, 200);
        fetch(get(strict, "mortal.test"));
        std::this_thread::sleep_for(std::chrono::milliseconds(2200));
        mortal_->stop();
        const auto stale = fetch(get(t, "mortal.test"));
        QCOMPARE(stale.status, 200);
        QCOMPARE(stale.body, first.body);
        QVERIFY2(stale.header("cache-status").find("stale-if-error") != std::string::npos,
                 stale.head.c_str());
        // must-revalidate forbids it: the client gets the error.
        const auto error = fetch(get(strict, "mortal.test"));
        QVERIFY(error.status == 502 || error.status == 503 || error.status == 504);
    }

    void staleIfErrorOn5xx() {
        const std::string t = target("sie5xx", "h=Cache-Control:max-age%3D1%2Cstale-if-error%3D600");
        const auto first = fetch(get(t));
        QCOMPARE(first.status, 200);
        std::this_thread::sleep_for(std::chrono::milliseconds(2200));
        origin_->setFailStatus(503);
        const auto stale = fetch(get(t));
        origin_->setFailStatus(0);
        QCOMPARE(stale.status, 200);
        QCOMPARE(stale.body, first.body);
        QCOMPARE(origin_->countTarget(t), std::size_t(2));
    }

    void purge() {
        const std::string a = target("purge-a", std::string(kMaxAge60) + "&h=Cache-Tag:red%2Cblue");
        const std::string b = target("purge-b", std::string(kMaxAge60) + "&h=Cache-Tag:green");
        const std::string c = "/cache/purge-dir/c?" + std::string(kMaxAge60);
        for (const auto& t : {a, b, c}) fetch(get(t));
        for (const auto& t : {a, b, c}) fetch(get(t));
        QCOMPARE(origin_->countTarget(a) + origin_->countTarget(b) + origin_->countTarget(c), std::size_t(3));

        // Exact URL (normalised like keys: case of host, default port, hex case).
        json r = ctl({"cache", "purge", "url", QString::fromStdString("http://CACHE.test:80" + b)});
        QCOMPARE(r.value("purged", -1), 1);
        fetch(get(b));
        QCOMPARE(origin_->countTarget(b), std::size_t(2));
        fetch(get(a));
        QCOMPARE(origin_->countTarget(a), std::size_t(1));
        // Tag.
        r = ctl({"cache", "purge", "tag", "blue"});
        QCOMPARE(r.value("purged", -1), 1);
        fetch(get(a));
        QCOMPARE(origin_->countTarget(a), std::size_t(2));
        // Prefix.
        r = ctl({"cache", "purge", "prefix", "http://cache.test/cache/purge-dir/"});
        QCOMPARE(r.value("purged", -1), 1);
        fetch(get(c));
        QCOMPARE(origin_->countTarget(c), std::size_t(2));
        // Bad input is refused with a clear error, not a crash.
        const ProxyctlResult bad =
            runProxyctl(endpoint_, {"call", "cache.purge", "{\"url\":\"http:///\",\"tag\":\"x\"}"});
        QVERIFY(bad.finished);
        QVERIFY2(bad.exitCode > 0, bad.err.constData());
    }

    // No response filter runs on a hit: what is stored is what the first client got, after
    // compression. Compression marks every compressible response Vary: Accept-Encoding, so an
    // identity copy is never served to a gzip client as if it were all there is: the gzip client
    // is another variant (fetched once, then a hit, compressed), and each keeps its own.
    void compressionOnHits() {
        const std::string t = "/gen?type=text/html&len=4000&kind=text&h=Cache-Control:max-age%3D60";
        const std::string gzip = "Accept-Encoding: gzip\r\n";
        const auto plain1 = fetch(get(t, "gz.test"));
        QCOMPARE(plain1.status, 200);
        QVERIFY(!plain1.has("content-encoding"));
        QCOMPARE(plain1.body.size(), std::size_t(4000));
        QVERIFY2(plain1.header("vary").find("Accept-Encoding") != std::string::npos, plain1.head.c_str());
        const auto gz1 = fetch(get(t, "gz.test", gzip));
        QCOMPARE(gz1.header("content-encoding"), std::string("gzip"));
        QVERIFY2(gz1.header("cache-status").find("fwd=miss") != std::string::npos, gz1.head.c_str());
        QVERIFY(gz1.body.size() < 4000);
        QCOMPARE(origin_->countTarget(t), std::size_t(2));
        const auto gz2 = fetch(get(t, "gz.test", gzip));
        QVERIFY2(gz2.header("cache-status").find("hit") != std::string::npos, gz2.head.c_str());
        QCOMPARE(gz2.header("content-encoding"), std::string("gzip"));
        QCOMPARE(gz2.body, gz1.body);
        const auto plain2 = fetch(get(t, "gz.test"));
        QVERIFY2(plain2.header("cache-status").find("hit") != std::string::npos, plain2.head.c_str());
        QVERIFY(!plain2.has("content-encoding"));
        QCOMPARE(plain2.body, plain1.body);
        QCOMPARE(origin_->countTarget(t), std::size_t(2));
    }

    void encodedPathsDoNotConfuseTheKey() {
        const std::string slash = "/cache/enc%2Fx?" + std::string(kMaxAge60);
        const std::string real = "/cache/enc/x?" + std::string(kMaxAge60);
        const auto s = fetch(get(slash));
        const auto r = fetch(get(real));
        QVERIFY(s.body.find("path=/cache/enc%2Fx") != std::string::npos);
        QVERIFY2(r.body.find("path=/cache/enc/x") != std::string::npos, r.body.c_str());
        const std::string dots = "/cache/dots/%2E%2E/y?" + std::string(kMaxAge60);
        const auto d = fetch(get(dots));
        QVERIFY(d.body.find("%2E%2E") != std::string::npos);
        // Equivalent spellings of unreserved characters do share an entry.
        const std::string plainName = "/cache/abc?" + std::string(kMaxAge60);
        const std::string encodedName = "/cache/%61bc?" + std::string(kMaxAge60);
        const auto p1 = fetch(get(plainName));
        const auto p2 = fetch(get(encodedName));
        QCOMPARE(p2.body, p1.body);
        // An ignored query parameter (key.query_ignore) shares the entry too.
        const auto u = fetch(get(plainName + "&utm_source=mail"));
        QCOMPARE(u.body, p1.body);
    }

    void oversizedObjectsPassThrough() {
        const std::string t = target("big", std::string(kMaxAge60) + "&len=100000");
        const auto a = fetch(get(t));
        const auto b = fetch(get(t));
        QCOMPARE(a.body.size(), std::size_t(100000));
        QCOMPARE(b.body.size(), std::size_t(100000));
        QCOMPARE(origin_->countTarget(t), std::size_t(2));
        QVERIFY2(b.header("cache-status").find("too-large") != std::string::npos, b.head.c_str());
    }

    void memoryBoundUnderAFloodOfKeys() {
        // 1 MiB budget, 400 unique keys of 8 KB each (3 MiB): the store stays within its budget.
        RawClient c;
        QVERIFY(c.connect(port_));
        for (int i = 0; i < 400; ++i) {
            QVERIFY(c.send(get(target("flood" + std::to_string(i), std::string(kMaxAge60) + "&len=8000"))));
            const auto r = c.readResponse();
            QVERIFY(r.ok);
            QCOMPARE(r.body.size(), std::size_t(8000));
        }
        const json stats = ctl({"cache", "stats"});
        QVERIFY2(stats.is_object(), stats.dump().c_str());
        QVERIFY(stats.value("bytes", std::uint64_t(0)) <= stats.value("budget_bytes", std::uint64_t(0)));
        QCOMPARE(stats.value("budget_bytes", std::uint64_t(0)), std::uint64_t(1024 * 1024));
        QVERIFY(stats.value("evictions", 0) > 200);
        QVERIFY(stats.value("entries", 1000) < 400);
        // The newest key is still there.
        fetch(get(target("flood399", std::string(kMaxAge60) + "&len=8000")));
        QCOMPARE(origin_->countTarget(target("flood399", std::string(kMaxAge60) + "&len=8000")), std::size_t(1));
    }

    void unsafeMethodsInvalidate() {
        const std::string t = target("inval", kMaxAge60);
        fetch(get(t));
        fetch(get(t));
        QCOMPARE(origin_->countTarget(t), std::size_t(1));
        const auto post = fetch("POST " + t + " HTTP/1.1\r\nHost: cache.test\r\nContent-Length: 2\r\n\r\nhi");
        QCOMPARE(post.status, 200);
        fetch(get(t));
        QCOMPARE(origin_->countTarget(t), std::size_t(3));  // GET, POST, GET again
    }

    void onlyIfCached() {
        const auto r = fetch(get(target("oic", kMaxAge60), "cache.test", "Cache-Control: only-if-cached\r\n"));
        QCOMPARE(r.status, 504);
        QCOMPARE(origin_->countTarget(target("oic", kMaxAge60)), std::size_t(0));
    }

    void cacheStatusInTheAccessLog() {
        const std::string t = target("logged", kMaxAge60);
        fetch(get(t));
        fetch(get(t));
        const std::string path = proxy_->dir().toStdString() + "/access.jsonl";
        bool sawMiss = false, sawHit = false;
        QTRY_VERIFY_WITH_TIMEOUT(([&] {
                                     std::ifstream in(path);
                                     std::string line;
                                     while (std::getline(in, line)) {
                                         if (line.find("/cache/logged") == std::string::npos) continue;
                                         if (line.find("\"cache_status\":\"miss\"") != std::string::npos) sawMiss = true;
                                         if (line.find("\"cache_status\":\"hit\"") != std::string::npos) sawHit = true;
                                     }
                                     return sawMiss && sawHit;
                                 }()),
                                 10000);
    }
};

QTEST_GUILESS_MAIN(CacheIntegrationTest)
#include "cache_integration_test.moc"
