// The cache key's normalisation: equivalent spellings meet, different resources never do
// (percent-encoding tricks, reserved characters, hosts and ports, query rules, key parts).
#include <QTest>

#include <map>

#include "cache/cache_key.h"

using namespace proxy::cache;

namespace {
struct MapHeaders final : HeaderSource {
    std::multimap<std::string, std::string> fields;  // lower-case names
    bool get(std::string_view name, std::string& out) const override {
        std::string lower(name);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        bool any = false;
        for (auto [it, end] = fields.equal_range(lower); it != end; ++it) {
            if (any) out += ", ";
            out += it->second;
            any = true;
        }
        return any;
    }
};
std::string path(std::string_view p) {
    std::string out;
    normalizeComponent(p, out);
    return out;
}
}  // namespace

class CacheKeyTest : public QObject {
    Q_OBJECT
private slots:
    void components_data() {
        QTest::addColumn<QString>("in");
        QTest::addColumn<QString>("out");
        QTest::newRow("plain") << "/a/b.css" << "/a/b.css";
        QTest::newRow("unreserved decoded") << "/%61%62%2D%5F%7e" << "/ab-_~";
        QTest::newRow("dot stays encoded") << "/%2e" << "/%2E";
        QTest::newRow("hex case") << "/a%2fb%3a" << "/a%2Fb%3A";
        QTest::newRow("slash stays encoded") << "/a%2Fb" << "/a%2Fb";
        QTest::newRow("percent itself") << "/%25" << "/%25";
        QTest::newRow("lone percent") << "/100%" << "/100%";
        QTest::newRow("bad escape") << "/%zz" << "/%zz";
        QTest::newRow("half escape") << "/%4" << "/%4";
        // A decoded hex digit must not complete an escape with a lone '%' before it (found by
        // cache_control_fuzz: "/%7%41" became "/%7A", which the next pass decoded to "/z").
        QTest::newRow("half escape then hex digit") << "/%7%41" << "/%7%41";
        QTest::newRow("lone percent then two hex digits") << "/%%34%31" << "/%%341";
        QTest::newRow("lone percent then other letter") << "/%%67" << "/%g";
        QTest::newRow("raw space") << "/a b" << "/a%20b";
        QTest::newRow("raw non-ascii") << "/\xc3\xa9" << "/%C3%A9";
        QTest::newRow("dot segments kept") << "/a/../b" << "/a/../b";
        QTest::newRow("encoded dots are not a dot-segment") << "/a/%2E%2E/b" << "/a/%2E%2E/b";
        QTest::newRow("plus kept") << "/a+b" << "/a+b";
        QTest::newRow("null byte") << QString::fromLatin1("/a%00b") << "/a%00b";
    }
    void components() {
        QFETCH(QString, in);
        QFETCH(QString, out);
        const std::string input = in.toStdString();
        QCOMPARE(QString::fromStdString(path(input)), out);
        QCOMPARE(path(path(input)), path(input));  // idempotent
    }

    void confusionPairsStayApart() {
        // Each pair would be one resource to a lax normaliser and may be two to an origin.
        const std::pair<const char*, const char*> pairs[] = {
            {"/a/b", "/a%2Fb"},  {"/a?b", "/a%3Fb"}, {"/%25zz", "/%zz"},  {"/a+b", "/a%20b"},
            {"/a#b", "/a%23b"},  {"/A", "/a"},       {"/a;b", "/a%3Bb"}, {"/%2541", "/A"},
            {"/a/../b", "/a/%2E%2E/b"}, {"/a\\b", "/a/b"}, {"/%7%41", "/z"},
        };
        for (auto [a, b] : pairs)
            QVERIFY2(path(a) != path(b), qPrintable(QString(a) + " vs " + b));
        // Double encoding is not decoded twice.
        QCOMPARE(path("/%2541"), std::string("/%2541"));
    }

    void hosts() {
        QCOMPARE(normalizeHost("Example.COM", false), std::string("example.com"));
        QCOMPARE(normalizeHost("example.com:80", false), std::string("example.com"));
        QCOMPARE(normalizeHost("example.com:443", false), std::string("example.com:443"));
        QCOMPARE(normalizeHost("example.com:443", true), std::string("example.com"));
        QCOMPARE(normalizeHost("example.com.", false), std::string("example.com"));
        QCOMPARE(normalizeHost("[::1]:80", false), std::string("[::1]"));
        QCOMPARE(normalizeHost("[::1]", false), std::string("[::1]"));
        QCOMPARE(normalizeHost("example.com:8080", false), std::string("example.com:8080"));
    }

    void urlKeys() {
        KeyRules none;
        QCOMPARE(urlKey(false, "h", "/p", "", none), std::string("http://h/p"));
        QCOMPARE(urlKey(true, "h", "/p", "a=1", none), std::string("https://h/p?a=1"));
        QVERIFY(urlKey(false, "h", "/p", "", none) != urlKey(true, "h", "/p", "", none));
        // The query's order counts (origins may care), and so does an empty query member.
        QVERIFY(urlKey(false, "h", "/p", "a=1&b=2", none) != urlKey(false, "h", "/p", "b=2&a=1", none));
        QCOMPARE(urlKey(false, "h", "/p", "a=%7e", none), std::string("http://h/p?a=~"));
        QVERIFY(urlKey(false, "h", "/p", "a=1%262", none) != urlKey(false, "h", "/p", "a=1&2", none));
    }

    void queryRules() {
        KeyRules ignore;
        ignore.ignoreQuery = true;
        QCOMPARE(normalizeQuery("a=1&b=2", ignore), std::string());
        KeyRules include;
        include.queryInclude = {"id", "page"};
        QCOMPARE(normalizeQuery("utm=x&id=7&page=2&x=1", include), std::string("id=7&page=2"));
        QCOMPARE(normalizeQuery("%69d=7", include), std::string("id=7"));  // names after decoding
        KeyRules drop;
        drop.queryIgnore = {"utm_source", "fbclid"};
        QCOMPARE(normalizeQuery("a=1&utm_source=x&fbclid=y&b=2", drop), std::string("a=1&b=2"));
        QCOMPARE(normalizeQuery("utm_source=x", drop), std::string());
        // An encoded '=' is not a separator: the parameter is not "utm_source".
        QCOMPARE(normalizeQuery("utm_source%3Dx=1", drop), std::string("utm_source%3Dx=1"));
    }

    void keyParts() {
        KeyRules rules;
        rules.headers = {"X-Device"};
        rules.cookies = {"lang"};
        MapHeaders a, b, c, d;
        a.fields = {{"x-device", "mobile"}, {"cookie", "sid=1; lang=de"}};
        b.fields = {{"x-device", "mobile"}, {"cookie", "lang=de; other=2"}};
        c.fields = {{"x-device", "desktop"}, {"cookie", "lang=de"}};
        d.fields = {{"cookie", "lang=de"}};
        const std::string url = "http://h/p";
        QCOMPARE(primaryKey(url, rules, a), primaryKey(url, rules, b));
        QVERIFY(primaryKey(url, rules, a) != primaryKey(url, rules, c));
        QVERIFY(primaryKey(url, rules, c) != primaryKey(url, rules, d));  // absent != any value
        MapHeaders empty;
        empty.fields = {{"x-device", ""}, {"cookie", "lang=de"}};
        QVERIFY(primaryKey(url, rules, d) != primaryKey(url, rules, empty));  // absent != empty
        // A value cannot forge another part: length prefixes keep them apart.
        MapHeaders forge;
        forge.fields = {{"x-device", "m\nc4:lang2:de"}};
        QVERIFY(primaryKey(url, rules, forge) != primaryKey(url, rules, a));
    }

    void cookies() {
        std::string v;
        QVERIFY(findCookie("a=1; b=2", "b", v));
        QCOMPARE(v, std::string("2"));
        QVERIFY(!findCookie("ab=1", "b", v));
        QVERIFY(!findCookie("xb=1; b", "b", v));
        QVERIFY(findCookie("b=", "b", v));
        QCOMPARE(v, std::string());
    }

    void vary() {
        const VaryValues names = varyNames({"Accept-Encoding, accept-language", " Accept-Encoding"});
        QVERIFY(!names.star);
        QCOMPARE(names.fields.size(), std::size_t(2));
        QCOMPARE(names.fields[0].first, std::string("accept-encoding"));
        QVERIFY(varyNames({"*"}).star);
        QVERIFY(varyNames({"Accept, *"}).star);
        QVERIFY(varyNames({"bad header"}).star);  // unreadable: never matches
        MapHeaders de, de2, en, none;
        de.fields = {{"accept-encoding", "gzip"}, {"accept-language", "de"}};
        de2.fields = {{"accept-encoding", "gzip"}, {"accept-language", "de"}};
        en.fields = {{"accept-encoding", "gzip"}, {"accept-language", "en"}};
        none.fields = {{"accept-encoding", "gzip"}};
        QCOMPARE(varyValues(names, de), varyValues(names, de2));
        QVERIFY(!(varyValues(names, de) == varyValues(names, en)));
        QVERIFY(!(varyValues(names, de) == varyValues(names, none)));
        MapHeaders spaced;
        spaced.fields = {{"accept-encoding", "gzip ,  br"}, {"accept-language", "de"}};
        MapHeaders tight;
        tight.fields = {{"accept-encoding", "gzip,br"}, {"accept-language", "de"}};
        QCOMPARE(varyValues(names, spaced), varyValues(names, tight));
    }
};

QTEST_APPLESS_MAIN(CacheKeyTest)
#include "cache_key_test.moc"
