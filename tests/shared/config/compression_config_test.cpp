// The "compression" keys of the config (shared/config/validator.cpp): the top-level defaults,
// what a route inherits and overrides, every diagnostic, and the serializer's round trip.

#include <QTest>

#include <nlohmann/json.hpp>

#include "config/serialize.h"
#include "config/validator.h"

using namespace proxy::config;
using Json = nlohmann::ordered_json;

namespace {

QByteArray document(const char* compression, const char* routeCompression) {
    Json doc = Json::parse("{"
        " \"listeners\": [{\"name\": \"web\", \"address\": \"127.0.0.1:8080\"}],"
        " \"upstreams\": [{\"name\": \"app\", \"servers\": [{\"address\": \"127.0.0.1:9001\"}]}],"
        " \"routes\": [{\"name\": \"a\", \"upstream\": \"app\", \"match\": {\"path_prefix\": \"/a\"}},"
        " {\"name\": \"b\", \"upstream\": \"app\", \"match\": {\"path_prefix\": \"/b\"}}]"
        " }");
    if (compression) doc["compression"] = Json::parse(compression);
    if (routeCompression) doc["routes"][1]["compression"] = Json::parse(routeCompression);
    return QByteArray::fromStdString(doc.dump());
}

QString dump(const std::vector<Diagnostic>& diagnostics) {
    QString out;
    for (const Diagnostic& d : diagnostics) out += QString::fromStdString(d.toString()) + '\n';
    return out;
}

}  // namespace

class CompressionConfigTest : public QObject {
    Q_OBJECT

private slots:
    void builtInDefaults() {
        const LoadResult r = loadConfig(document(nullptr, nullptr).toStdString());
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        const Compression& c = r.config->compression;
        QVERIFY(!c.enabled);
        QCOMPARE(c.level, 6u);
        QCOMPARE(c.minSize, std::uint64_t{1024});
        QCOMPARE(c.formats, (std::vector<std::string>{"gzip", "deflate"}));
        for (const char* type : {"text/*", "application/json", "application/javascript", "image/svg+xml",
                                 "application/xml"})
            QVERIFY2(std::find(c.types.begin(), c.types.end(), type) != c.types.end(), type);
        QVERIFY(r.config->routes.at(0).compression == c);
    }

    void routesInheritAndOverride() {
        const LoadResult r = loadConfig(
            document("{\"enabled\": true, \"level\": 3, \"types\": [\"text/html\"], \"min_size\": 10}",
                     "{\"level\": 9, \"formats\": [\"deflate\"]}")
                .toStdString());
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        const Compression& a = r.config->routes.at(0).compression;
        const Compression& b = r.config->routes.at(1).compression;
        QVERIFY(a == r.config->compression);  // no object: the defaults as they are
        QVERIFY(a.enabled && b.enabled);
        QCOMPARE(a.level, 3u);
        QCOMPARE(b.level, 9u);
        QCOMPARE(b.types, (std::vector<std::string>{"text/html"}));
        QCOMPARE(b.minSize, std::uint64_t{10});
        QCOMPARE(b.formats, (std::vector<std::string>{"deflate"}));
        QCOMPARE(a.formats, (std::vector<std::string>{"gzip", "deflate"}));
    }

    void routeCanSwitchOff() {
        const LoadResult r = loadConfig(document("{\"enabled\": true}", "{\"enabled\": false}").toStdString());
        QVERIFY(r.ok());
        QVERIFY(r.config->routes.at(0).compression.enabled);
        QVERIFY(!r.config->routes.at(1).compression.enabled);
    }

    void typesAreNormalized() {
        const LoadResult r = loadConfig(document(nullptr, "{\"types\": [\"Text/HTML\", \"*/*\"]}").toStdString());
        QVERIFY2(r.ok(), qPrintable(dump(r.diagnostics)));
        QCOMPARE(r.config->routes.at(1).compression.types, (std::vector<std::string>{"text/html", "*/*"}));
    }

    void diagnostics_data() {
        QTest::addColumn<QByteArray>("doc");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("word");
        QTest::addColumn<bool>("isError");
        QTest::newRow("not an object") << document("true", nullptr) << "/compression" << "object" << true;
        QTest::newRow("enabled type") << document("{\"enabled\": \"yes\"}", nullptr) << "/compression/enabled"
                                      << "true or false" << true;
        QTest::newRow("level 0") << document("{\"level\": 0}", nullptr) << "/compression/level" << "1 to 9" << true;
        QTest::newRow("level 10") << document(nullptr, "{\"level\": 10}") << "/routes/1/compression/level"
                                  << "1 to 9" << true;
        QTest::newRow("min_size negative") << document("{\"min_size\": -1}", nullptr) << "/compression/min_size"
                                           << "negative" << true;
        QTest::newRow("type without slash") << document("{\"types\": [\"html\"]}", nullptr)
                                            << "/compression/types/0" << "type/subtype" << true;
        QTest::newRow("type with parameters") << document("{\"types\": [\"text/html; charset=utf-8\"]}", nullptr)
                                              << "/compression/types/0" << "without parameters" << true;
        QTest::newRow("type wildcard type") << document("{\"types\": [\"*/html\"]}", nullptr)
                                            << "/compression/types/0" << "type/subtype" << true;
        QTest::newRow("type not a string") << document("{\"types\": [1]}", nullptr) << "/compression/types/0"
                                           << "string" << true;
        QTest::newRow("types empty") << document(nullptr, "{\"types\": []}") << "/routes/1/compression/types"
                                     << "enabled" << true;
        QTest::newRow("types twice") << document("{\"types\": [\"text/html\", \"TEXT/html\"]}", nullptr)
                                     << "/compression/types/1" << "twice" << false;
        QTest::newRow("format unknown") << document("{\"formats\": [\"gzip\", \"br\"]}", nullptr)
                                        << "/compression/formats/1" << "gzip, deflate" << true;
        QTest::newRow("format typo") << document("{\"formats\": [\"gzp\"]}", nullptr) << "/compression/formats/0"
                                     << "did you mean 'gzip'" << true;
        QTest::newRow("formats empty") << document("{\"formats\": []}", nullptr) << "/compression/formats"
                                       << "enabled" << true;
        QTest::newRow("formats twice") << document("{\"formats\": [\"gzip\", \"gzip\"]}", nullptr)
                                       << "/compression/formats/1" << "twice" << false;
        QTest::newRow("unknown key") << document(nullptr, "{\"levle\": 3}") << "/routes/1/compression/levle"
                                     << "did you mean 'level'" << true;
    }

    void diagnostics() {
        QFETCH(QByteArray, doc);
        QFETCH(QString, path);
        QFETCH(QString, word);
        QFETCH(bool, isError);
        const LoadResult r = loadConfig(doc.toStdString());
        const auto severity = isError ? Diagnostic::Severity::Error : Diagnostic::Severity::Warning;
        const bool found = std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [&](const Diagnostic& d) {
            return d.severity == severity && d.path == path.toStdString() &&
                   QString::fromStdString(d.message).contains(word);
        });
        QVERIFY2(found, qPrintable("expected " + path + " " + word + ", got:\n" + dump(r.diagnostics)));
        QCOMPARE(r.ok(), !isError);
    }

    void roundTrip() {
        const LoadResult first = loadConfig(
            document("{\"enabled\": true, \"level\": 2, \"types\": [\"text/plain\"], \"min_size\": 0,"
        " \"formats\": [\"deflate\", \"gzip\"]}",
                     "{\"level\": 8, \"enabled\": false}")
                .toStdString());
        QVERIFY2(first.ok(), qPrintable(dump(first.diagnostics)));
        const Json json = toJson(*first.config);
        QCOMPARE(json["compression"]["level"].get<int>(), 2);
        QCOMPARE(json["routes"][1]["compression"]["level"].get<int>(), 8);
        const LoadResult second = loadConfig(json.dump());
        QVERIFY2(second.ok(), qPrintable(dump(second.diagnostics)));
        QVERIFY(*second.config == *first.config);
        Config changed = *first.config;
        changed.routes.at(1).compression.minSize += 1;
        QVERIFY(!(changed == *first.config));
    }
};

QTEST_GUILESS_MAIN(CompressionConfigTest)
#include "compression_config_test.moc"
