// Cache-Control directive parsing (RFC 9111 5.2): well-formed, duplicated, hostile and malformed.
#include <QTest>

#include "cache/cache_control.h"

using namespace proxy::cache;

class CacheControlTest : public QObject {
    Q_OBJECT
private slots:
    void response_data() {
        QTest::addColumn<QString>("value");
        QTest::addColumn<int>("maxAge");    // -1 = absent
        QTest::addColumn<int>("sMaxAge");   // -1 = absent
        QTest::addColumn<QString>("flags"); // letters: S no-store, C no-cache, P private, U public,
                                            // M must-revalidate, R proxy-revalidate, X malformed
        QTest::newRow("max-age") << "max-age=60" << 60 << -1 << "";
        QTest::newRow("case") << "Max-Age=60, PUBLIC" << 60 << -1 << "U";
        QTest::newRow("quoted") << "max-age=\"60\"" << 60 << -1 << "";
        QTest::newRow("spaces") << "  public ,  s-maxage=10 ,max-age=5  " << 5 << 10 << "U";
        QTest::newRow("empty members") << ",,max-age=1,,  ," << 1 << -1 << "";
        QTest::newRow("no-store") << "no-store" << -1 << -1 << "S";
        QTest::newRow("private field list") << "private=\"set-cookie, x\", max-age=9" << 9 << -1 << "P";
        QTest::newRow("no-cache field list") << "no-cache=\"a\"" << -1 << -1 << "C";
        QTest::newRow("revalidate") << "must-revalidate, proxy-revalidate" << -1 << -1 << "MR";
        QTest::newRow("duplicate keeps smallest") << "max-age=100, max-age=10" << 10 << -1 << "";
        QTest::newRow("duplicate reversed") << "max-age=10, max-age=100" << 10 << -1 << "";
        QTest::newRow("bad number is stale") << "max-age=abc" << 0 << -1 << "";
        QTest::newRow("negative is stale") << "max-age=-1" << 0 << -1 << "";
        QTest::newRow("empty arg is stale") << "max-age=" << 0 << -1 << "";
        QTest::newRow("no arg is stale") << "s-maxage" << -1 << 0 << "";
        QTest::newRow("huge clamps") << "max-age=99999999999999999999" << -1 << -1 << "";
        QTest::newRow("unknown ignored") << "foo=bar, max-age=3, x-y" << 3 << -1 << "";
        QTest::newRow("space before equals") << "max-age =60" << -1 << -1 << "X";
        QTest::newRow("garbage") << "max-age=60; no-store" << -1 << -1 << "X";
        QTest::newRow("unterminated quote") << "private=\"abc, max-age=60" << -1 << -1 << "X";
        QTest::newRow("quoted escape") << "private=\"a\\\"b\", max-age=4" << 4 << -1 << "P";
        QTest::newRow("control char") << QString("max-age=6\x01") << -1 << -1 << "X";
        QTest::newRow("bad member then good") << "@@@, no-store" << -1 << -1 << "SX";
    }
    void response() {
        QFETCH(QString, value);
        QFETCH(int, maxAge);
        QFETCH(int, sMaxAge);
        QFETCH(QString, flags);
        const std::string text = value.toStdString();
        ResponseDirectives d;
        parseResponseCacheControl(text, d);
        if (QTest::currentDataTag() == QByteArray("huge clamps")) {
            QVERIFY(d.maxAge.has_value());
            QCOMPARE(*d.maxAge, kDeltaSecondsMax);
            return;
        }
        QCOMPARE(d.maxAge ? int(*d.maxAge) : -1, maxAge);
        QCOMPARE(d.sMaxAge ? int(*d.sMaxAge) : -1, sMaxAge);
        QCOMPARE(d.noStore, flags.contains('S'));
        QCOMPARE(d.noCache, flags.contains('C'));
        QCOMPARE(d.isPrivate, flags.contains('P'));
        QCOMPARE(d.isPublic, flags.contains('U'));
        QCOMPARE(d.mustRevalidate, flags.contains('M'));
        QCOMPARE(d.proxyRevalidate, flags.contains('R'));
        QCOMPARE(d.malformed, flags.contains('X'));
        if (d.malformed) QVERIFY(d.malformedAt <= text.size());
    }

    void severalLinesMerge() {
        ResponseDirectives d;
        parseResponseCacheControl("public", d);
        parseResponseCacheControl("max-age=30", d);
        parseResponseCacheControl("max-age=20, stale-if-error=600, stale-while-revalidate=5", d);
        QVERIFY(d.isPublic);
        QCOMPARE(*d.maxAge, 20u);
        QCOMPARE(*d.staleIfError, 600u);
        QCOMPARE(*d.staleWhileRevalidate, 5u);
    }

    void request() {
        RequestDirectives q;
        parseRequestCacheControl("no-cache, max-stale, min-fresh=5, only-if-cached, max-age=0", q);
        QVERIFY(q.noCache);
        QVERIFY(q.maxStaleAny);
        QVERIFY(!q.maxStale);
        QCOMPARE(*q.minFresh, 5u);
        QVERIFY(q.onlyIfCached);
        QCOMPARE(*q.maxAge, 0u);
        RequestDirectives r;
        parseRequestCacheControl("max-stale=30, no-store", r);
        QCOMPARE(*r.maxStale, 30u);
        QVERIFY(!r.maxStaleAny);
        QVERIFY(r.noStore);
        RequestDirectives bad;
        parseRequestCacheControl("max-age=x", bad);
        QCOMPARE(*bad.maxAge, 0u);  // unreadable: as strict as possible
    }

    void deltaSeconds() {
        QCOMPARE(parseDeltaSeconds("0"), std::optional<std::uint32_t>(0));
        QCOMPARE(parseDeltaSeconds("2147483648"), std::optional<std::uint32_t>(kDeltaSecondsMax));
        QCOMPARE(parseDeltaSeconds("2147483649"), std::optional<std::uint32_t>(kDeltaSecondsMax));
        QCOMPARE(parseDeltaSeconds(std::string(10000, '9')), std::optional<std::uint32_t>(kDeltaSecondsMax));
        QVERIFY(!parseDeltaSeconds(""));
        QVERIFY(!parseDeltaSeconds("1.5"));
        QVERIFY(!parseDeltaSeconds("+1"));
        QVERIFY(!parseDeltaSeconds(" 1"));
    }

    void hostileSizes() {
        // 100k directives, deep quotes, and lone backslashes: bounded work, no crash.
        std::string many;
        for (int i = 0; i < 100000; ++i) many += "max-age=1,";
        ResponseDirectives d;
        parseResponseCacheControl(many, d);
        QCOMPARE(*d.maxAge, 1u);
        ResponseDirectives q;
        parseResponseCacheControl(std::string(50000, '"'), q);
        QVERIFY(q.malformed);
        ResponseDirectives b;
        parseResponseCacheControl("private=\"\\", b);
        QVERIFY(b.malformed);
        QVERIFY(!b.isPrivate);  // dropped, but the cache refuses to store a malformed header
    }
};

QTEST_APPLESS_MAIN(CacheControlTest)
#include "cache_control_test.moc"
