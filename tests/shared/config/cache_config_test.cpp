// The "cache" keys of the config (shared/config/validator.cpp): the top-level storage, a route's
// rules, every diagnostic, and the serializer's round trip.

#include <QTest>

#include <nlohmann/json.hpp>

#include "config/serialize.h"
#include "config/validator.h"

using namespace proxy::config;
using Json = nlohmann::ordered_json;

namespace {

std::string document(const char* cache, const char* routeCache) {
    Json doc = Json::parse("{"
        " \"listeners\": [{\"name\": \"web\", \"address\": \"127.0.0.1:8080\"}],"
        " \"upstreams\": [{\"name\": \"app\", \"servers\": [{\"address\": \"127.0.0.1:9001\"}]}],"
        " \"routes\": [{\"name\": \"a\", \"upstream\": \"app\"}]"
        " }");
    if (cache) doc["cache"] = Json::parse(cache);
    if (routeCache) doc["routes"][0]["cache"] = Json::parse(routeCache);
    return doc.dump();
}

QString dump(const std::vector<Diagnostic>& diagnostics) {
    QString out;
    for (const Diagnostic& d : diagnostics) out += QString::fromStdString(d.toString()) + '\n';
    return out;
}

}  // namespace

class CacheConfigTest : public QObject {
    Q_OBJECT

private slots:
    void defaults() {
        const LoadResult r = loadConfig(document(nullptr, nullptr));
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        QCOMPARE(r.config->cache.memoryMb, std::uint64_t{256});
        QCOMPARE(r.config->cache.maxObjectKb, std::uint64_t{8192});
        QCOMPARE(r.config->cache.collapseTimeout, std::chrono::milliseconds(5000));
        const RouteCache& rc = r.config->routes[0].cache;
        QVERIFY(!rc.enabled);  // off unless enabled
        QVERIFY(!rc.allowAuthorized);
        QCOMPARE(rc.tagHeader, std::string("Cache-Tag"));
    }

    void fullRoute() {
        const LoadResult r = loadConfig(document(
            "{\"memory_mb\": 64, \"max_object_kb\": 512, \"collapse_timeout_ms\": 2000}",
            "{\"enabled\": true, \"default_ttl_seconds\": 30, \"allow_authorized\": true,"
            " \"tag_header\": \"Surrogate-Key\","
            " \"ttl_overrides\": [{\"path_prefix\": \"/static/\", \"seconds\": 3600},"
            "                     {\"content_type\": \"Image/*\", \"seconds\": 60}],"
            " \"key\": {\"query_ignore\": [\"utm_source\"], \"headers\": [\"X-Device\"],"
            "           \"cookies\": [\"lang\"]},"
            " \"bypass\": {\"cookies\": [\"session\"], \"headers\": [\"X-Debug\"]}}"));
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        QVERIFY2(r.diagnostics.empty(), qPrintable(dump(r.diagnostics)));
        QCOMPARE(r.config->cache.memoryMb, std::uint64_t{64});
        const RouteCache& rc = r.config->routes[0].cache;
        QVERIFY(rc.enabled);
        QCOMPARE(rc.defaultTtlSeconds, std::uint64_t{30});
        QCOMPARE(rc.ttlOverrides.size(), std::size_t{2});
        QCOMPARE(rc.ttlOverrides[1].contentType, std::string("image/*"));  // lower-cased
        QCOMPARE(rc.keyQueryIgnore, std::vector<std::string>{"utm_source"});
        QCOMPARE(rc.bypassHeaders, std::vector<std::string>{"X-Debug"});
        QCOMPARE(rc.tagHeader, std::string("Surrogate-Key"));
    }

    void errors_data() {
        QTest::addColumn<QString>("cache");
        QTest::addColumn<QString>("routeCache");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("words");
        QTest::newRow("disk relative path") << "{\"disk\": {\"path\": \"cache\"}}" << ""
                                            << "/cache/disk/path" << "absolute";
        QTest::newRow("disk empty path") << "{\"disk\": {\"path\": \"\"}}" << ""
                                         << "/cache/disk/path" << "not be empty";
        QTest::newRow("disk zero budget") << "{\"disk\": {\"max_mb\": 0}}" << "" << "/cache/disk/max_mb" << "";
        QTest::newRow("disk under object") << "{\"max_object_kb\": 4096, \"disk\": {\"max_mb\": 2}}" << ""
                                           << "/cache/max_object_kb" << "disk budget";
        QTest::newRow("disk not object") << "{\"disk\": true}" << "" << "/cache/disk" << "";
        QTest::newRow("disk unknown key") << "{\"disk\": {\"size_mb\": 1}}" << "" << "/cache/disk/size_mb" << "";
        QTest::newRow("zero memory") << "{\"memory_mb\": 0}" << "" << "/cache/memory_mb" << "";
        QTest::newRow("object over budget") << "{\"memory_mb\": 1, \"max_object_kb\": 2048}" << ""
                                            << "/cache/max_object_kb" << "memory budget";
        QTest::newRow("collapse too long") << "{\"collapse_timeout_ms\": 600000}" << ""
                                           << "/cache/collapse_timeout_ms" << "5 minutes";
        QTest::newRow("unknown key") << "{\"memroy_mb\": 1}" << "" << "/cache/memroy_mb" << "";
        QTest::newRow("enabled not bool") << "" << "{\"enabled\": \"yes\"}" << "/routes/0/cache/enabled" << "";
        QTest::newRow("both query lists") << ""
            << "{\"key\": {\"query_include\": [\"a\"], \"query_ignore\": [\"b\"]}}"
            << "/routes/0/cache/key/query_ignore" << "not both";
        QTest::newRow("bad header name") << "" << "{\"key\": {\"headers\": [\"X Device\"]}}"
                                         << "/routes/0/cache/key/headers/0" << "not a valid header";
        QTest::newRow("bad cookie name") << "" << "{\"bypass\": {\"cookies\": [\"a;b\"]}}"
                                         << "/routes/0/cache/bypass/cookies/0" << "not a valid cookie";
        QTest::newRow("override without seconds") << "" << "{\"ttl_overrides\": [{\"path_prefix\": \"/a\"}]}"
                                                  << "/routes/0/cache/ttl_overrides/0" << "seconds";
        QTest::newRow("override bad prefix") << "" << "{\"ttl_overrides\": [{\"path_prefix\": \"a\", \"seconds\": 1}]}"
                                             << "/routes/0/cache/ttl_overrides/0/path_prefix" << "start with /";
        QTest::newRow("override bad type") << "" << "{\"ttl_overrides\": [{\"content_type\": \"text\", \"seconds\": 1}]}"
                                           << "/routes/0/cache/ttl_overrides/0/content_type" << "media type";
        QTest::newRow("bad tag header") << "" << "{\"tag_header\": \"a b\"}" << "/routes/0/cache/tag_header" << "";
        QTest::newRow("cache not object") << "[]" << "" << "/cache" << "";
    }
    void errors() {
        QFETCH(QString, cache);
        QFETCH(QString, routeCache);
        QFETCH(QString, path);
        QFETCH(QString, words);
        const std::string c = cache.toStdString(), rc = routeCache.toStdString();
        const LoadResult r = loadConfig(document(c.empty() ? nullptr : c.c_str(), rc.empty() ? nullptr : rc.c_str()));
        QVERIFY(!r.ok());
        bool found = false;
        for (const Diagnostic& d : r.diagnostics)
            if (d.severity == Diagnostic::Severity::Error && QString::fromStdString(d.path) == path &&
                QString::fromStdString(d.message).contains(words))
                found = true;
        QVERIFY2(found, qPrintable(dump(r.diagnostics)));
    }

    void disk() {
        LoadResult r = loadConfig(document("{\"disk\": {}}", nullptr));
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        QVERIFY(r.config->cache.diskEnabled);
        QVERIFY(r.config->cache.diskPath.empty());  // the OS default
        QCOMPARE(r.config->cache.diskMaxMb, std::uint64_t{4096});
        r = loadConfig(document("{\"disk\": {\"path\": \"C:\\\\cache\", \"max_mb\": 10}}", nullptr));
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        QCOMPARE(r.config->cache.diskPath, std::string("C:\\cache"));
        QCOMPARE(r.config->cache.diskMaxMb, std::uint64_t{10});
        r = loadConfig(document("{\"disk\": {\"path\": \"/var/cache/proxy\"}}", nullptr));
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        r = loadConfig(document(nullptr, nullptr));
        QVERIFY(!r.config->cache.diskEnabled);
    }

    void duplicateNameWarns() {
        const LoadResult r = loadConfig(document(nullptr, "{\"key\": {\"cookies\": [\"a\", \"a\"]}}"));
        QVERIFY(r.ok());
        QCOMPARE(r.diagnostics.size(), std::size_t{1});
        QCOMPARE(r.config->routes[0].cache.keyCookies, std::vector<std::string>{"a"});
    }

    void roundTrip() {
        const LoadResult first = loadConfig(document(
            "{\"memory_mb\": 8, \"max_object_kb\": 100, \"collapse_timeout_ms\": 250,"
            " \"disk\": {\"path\": \"/srv/cache\", \"max_mb\": 5}}",
            "{\"enabled\": true, \"ttl_overrides\": [{\"content_type\": \"text/css\", \"seconds\": 9}],"
            " \"key\": {\"ignore_query\": true, \"cookies\": [\"c\"]}, \"bypass\": {\"headers\": [\"X-A\"]}}"));
        QVERIFY2(first.ok(), qPrintable(dump(first.diagnostics)));
        const Json json = toJson(*first.config);
        const LoadResult second = loadConfig(json.dump());
        QVERIFY2(second.ok(), qPrintable(dump(second.diagnostics)));
        QVERIFY(*second.config == *first.config);
        Config changed = *first.config;
        QVERIFY(second.config->cache.diskEnabled);
        QCOMPARE(second.config->cache.diskPath, std::string("/srv/cache"));
        changed.routes.at(0).cache.keyIgnoreQuery = false;
        QVERIFY(!(changed == *first.config));
    }
};

QTEST_GUILESS_MAIN(CacheConfigTest)
#include "cache_config_test.moc"
