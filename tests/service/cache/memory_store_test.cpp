// The memory store (byte budget, LRU eviction, Vary variants, erase) and the storability rules
// (RFC 9111 3 and 3.5, plus this cache's policy).
#include <QTest>

#include <thread>

#include "cache/cache.h"
#include "cache/cache_filter.h"
#include "cache/memory_store.h"

using namespace proxy::cache;

namespace {
EntryPtr makeEntry(const std::string& key, std::size_t bodySize, std::string varyValue = {}) {
    auto e = std::make_shared<CachedResponse>();
    e->primaryKey = key;
    e->url = "http://h" + key;
    e->body = std::make_shared<const std::string>(bodySize, 'b');
    if (!varyValue.empty()) e->vary.fields = {{"accept-language", varyValue}};
    return e;
}
bool any(const CachedResponse&) { return true; }
}  // namespace

class MemoryStoreTest : public QObject {
    Q_OBJECT
private slots:
    void findInsertReplace() {
        MemoryStore store(1 << 20);
        QVERIFY(!store.find("/a", any));
        QVERIFY(store.insert(makeEntry("/a", 100)));
        QVERIFY(store.find("/a", any));
        QVERIFY(store.insert(makeEntry("/a", 200)));  // same variant: replaced, not added
        QCOMPARE(store.stats().entries, std::uint64_t(1));
        QCOMPARE(store.find("/a", any)->body->size(), std::size_t(200));
    }

    void variantsNeverCross() {
        MemoryStore store(1 << 20);
        store.insert(makeEntry("/v", 10, "de"));
        store.insert(makeEntry("/v", 20, "en"));
        QCOMPARE(store.stats().entries, std::uint64_t(2));
        auto want = [](std::string lang) {
            return [lang](const CachedResponse& e) { return e.vary.fields[0].second == lang; };
        };
        QCOMPARE(store.find("/v", want("de"))->body->size(), std::size_t(10));
        QCOMPARE(store.find("/v", want("en"))->body->size(), std::size_t(20));
        QVERIFY(!store.find("/v", want("fr")));
    }

    void lruEvictionHoldsTheBudget() {
        const std::uint64_t budget = 64 * 1024;
        MemoryStore store(budget);
        for (int i = 0; i < 1000; ++i) {
            store.insert(makeEntry("/k" + std::to_string(i), 1000));
            QVERIFY(store.stats().bytes <= budget);
            // Keep /k0 in use: it must survive while colder ones go.
            QVERIFY2(store.find("/k0", any), qPrintable(QString::number(i)));
        }
        QVERIFY(store.stats().evictions > 900);
        QVERIFY(!store.find("/k1", any));      // cold: evicted
        QVERIFY(store.find("/k999", any));     // newest: kept
        QVERIFY(!store.insert(makeEntry("/huge", budget)));  // larger than the budget alone
        store.setBudget(4096);
        QVERIFY(store.stats().bytes <= 4096);
    }

    void erase() {
        MemoryStore store(1 << 20);
        store.insert(makeEntry("/a/1", 1));
        store.insert(makeEntry("/a/2", 1));
        store.insert(makeEntry("/b", 1));
        QCOMPARE(store.erase([](const CachedResponse& e) { return e.url.starts_with("http://h/a/"); }),
                 std::size_t(2));
        QVERIFY(!store.find("/a/1", any));
        QVERIFY(store.find("/b", any));
        const auto before = store.stats().bytes;
        QVERIFY(before > 0);
        store.erase(any);
        QCOMPARE(store.stats().bytes, std::uint64_t(0));
    }

    void concurrentUse() {
        // Workers share the store: hammer it from four threads (run under ASan/TSan in CI).
        MemoryStore store(256 * 1024);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&store, t] {
                for (int i = 0; i < 5000; ++i) {
                    const std::string key = "/c" + std::to_string((i * 7 + t) % 300);
                    if (i % 3 == 0) store.insert(makeEntry(key, 500));
                    else if (auto e = store.find(key, any)) QVERIFY(e->body->size() == 500);
                    if (i % 1000 == 999) store.erase([](const CachedResponse& e) { return e.url.size() % 2; });
                }
            });
        for (auto& th : threads) th.join();
        QVERIFY(store.stats().bytes <= 256 * 1024);
    }

    void purgeUrlsAreNormalised() {
        QCOMPARE(normalizePurgeUrl("http://Example.com:80/a%7e?x=1"), std::string("http://example.com/a~?x=1"));
        QCOMPARE(normalizePurgeUrl("example.com/a"), std::string("http://example.com/a"));
        QCOMPARE(normalizePurgeUrl("https://h"), std::string("https://h/"));
        QCOMPARE(normalizePurgeUrl("http:///nohost"), std::string());
        QCOMPARE(normalizePurgeUrl("http://us@er/x"), std::string());
    }

    void fillsCollapse() {
        proxy::config::CacheStorage settings;
        Cache cache(settings);
        bool leader = false;
        auto first = cache.joinFill("k", leader);
        QVERIFY(leader);
        auto second = cache.joinFill("k", leader);
        QVERIFY(!leader);
        QCOMPARE(first.get(), second.get());
        QVERIFY(cache.fillRunning("k"));
        cache.finishFill("k", first, true);
        QCOMPARE(int(second->state.load()), int(Fill::Stored));
        QVERIFY(!cache.fillRunning("k"));
        auto third = cache.joinFill("k", leader);
        QVERIFY(leader);  // a new fill after the last one finished
        cache.finishFill("k", third, false);
        QCOMPARE(cache.fillsInProgress(), std::size_t(0));
    }

    void storable_data() {
        QTest::addColumn<QString>("cacheControl");
        QTest::addColumn<int>("status");
        QTest::addColumn<bool>("authorization");
        QTest::addColumn<bool>("allowAuthorized");
        QTest::addColumn<bool>("setCookie");
        QTest::addColumn<bool>("lifetime");
        QTest::addColumn<bool>("expected");
        QTest::newRow("max-age") << "max-age=60" << 200 << false << false << false << true << true;
        QTest::newRow("no-store") << "no-store, max-age=60" << 200 << false << false << false << true << false;
        QTest::newRow("private") << "private, max-age=60" << 200 << false << false << false << true << false;
        QTest::newRow("private=field") << "private=\"x\", max-age=60" << 200 << false << false << false << true << false;
        QTest::newRow("malformed") << "max-age=60; no-store" << 200 << false << false << false << true << false;
        QTest::newRow("no freshness") << "" << 200 << false << false << false << false << false;
        QTest::newRow("status 500") << "max-age=60" << 500 << false << false << false << true << false;
        QTest::newRow("status 206") << "max-age=60" << 206 << false << false << false << true << false;
        QTest::newRow("404") << "max-age=60" << 404 << false << false << false << true << true;
        QTest::newRow("auth refused") << "public, max-age=60" << 200 << true << false << false << true << false;
        QTest::newRow("auth allowed, public") << "public, max-age=60" << 200 << true << true << false << true << true;
        QTest::newRow("auth allowed, s-maxage") << "s-maxage=60" << 200 << true << true << false << true << true;
        QTest::newRow("auth allowed, must-revalidate") << "must-revalidate, max-age=6" << 200 << true << true << false << true << true;
        QTest::newRow("auth allowed, plain max-age") << "max-age=60" << 200 << true << true << false << true << false;
        QTest::newRow("set-cookie") << "public, max-age=60" << 200 << false << false << true << true << false;
    }
    void storable() {
        QFETCH(QString, cacheControl);
        QFETCH(int, status);
        QFETCH(bool, authorization);
        QFETCH(bool, allowAuthorized);
        QFETCH(bool, setCookie);
        QFETCH(bool, lifetime);
        QFETCH(bool, expected);
        ResponseDirectives cc;
        parseResponseCacheControl(cacheControl.toStdString(), cc);
        StorableInputs in;
        in.status = status;
        in.directives = &cc;
        in.authorization = authorization;
        in.allowAuthorized = allowAuthorized;
        in.setCookie = setCookie;
        in.hasLifetime = lifetime;
        std::string_view why;
        QCOMPARE(proxy::cache::storable(in, why), expected);
        if (!expected) QVERIFY(!why.empty());
        // Never for anything but GET, and never when the request said no-store.
        in.method = proxy::http::Method::Post;
        QVERIFY(!proxy::cache::storable(in, why));
        in.method = proxy::http::Method::Get;
        RequestDirectives req;
        req.noStore = true;
        in.request = &req;
        QVERIFY(!proxy::cache::storable(in, why));
    }
};

QTEST_APPLESS_MAIN(MemoryStoreTest)
#include "memory_store_test.moc"
