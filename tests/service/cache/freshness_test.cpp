// RFC 9111 freshness arithmetic: HTTP dates (the RFC 9110 5.6.7 examples), current_age (4.2.3),
// freshness_lifetime (4.2.1, 4.2.2) and what requests may accept (5.2.1).
#include <QTest>

#include "cache/freshness.h"

using namespace proxy::cache;

namespace {
constexpr Seconds k1994 = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
}

class FreshnessTest : public QObject {
    Q_OBJECT
private slots:
    void dates_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<qint64>("expected");  // -1 = invalid
        QTest::newRow("IMF-fixdate") << "Sun, 06 Nov 1994 08:49:37 GMT" << qint64(k1994);
        QTest::newRow("RFC 850") << "Sunday, 06-Nov-94 08:49:37 GMT" << qint64(k1994);
        QTest::newRow("asctime") << "Sun Nov  6 08:49:37 1994" << qint64(k1994);
        QTest::newRow("epoch") << "Thu, 01 Jan 1970 00:00:00 GMT" << qint64(0);
        QTest::newRow("leap day") << "Thu, 29 Feb 2024 12:00:00 GMT" << qint64(1709208000);
        QTest::newRow("not leap") << "Thu, 29 Feb 2023 12:00:00 GMT" << qint64(-1);
        QTest::newRow("2-digit 2030") << "Wednesday, 06-Nov-30 08:49:37 GMT" << qint64(1920185377);
        QTest::newRow("bad month") << "Sun, 06 Nox 1994 08:49:37 GMT" << qint64(-1);
        QTest::newRow("no GMT") << "Sun, 06 Nov 1994 08:49:37" << qint64(-1);
        QTest::newRow("UTC not GMT") << "Sun, 06 Nov 1994 08:49:37 UTC" << qint64(-1);
        QTest::newRow("hour 24") << "Sun, 06 Nov 1994 24:00:00 GMT" << qint64(-1);
        QTest::newRow("trailing") << "Sun, 06 Nov 1994 08:49:37 GMTx" << qint64(-1);
        QTest::newRow("zero") << "0" << qint64(-1);
        QTest::newRow("empty") << "" << qint64(-1);
        QTest::newRow("-1") << "-1" << qint64(-1);
    }
    void dates() {
        QFETCH(QString, text);
        QFETCH(qint64, expected);
        const auto t = parseHttpDate(text.toStdString());
        QCOMPARE(t ? qint64(*t) : qint64(-1), expected);
    }

    void formatRoundTrip() {
        char out[30];
        formatHttpDate(k1994, out);
        QCOMPARE(std::string(out), std::string("Sun, 06 Nov 1994 08:49:37 GMT"));
        for (Seconds t : {Seconds(0), Seconds(951782400), Seconds(4102444799), Seconds(1709208000)}) {
            formatHttpDate(t, out);
            QCOMPARE(parseHttpDate(out), std::optional<Seconds>(t));
        }
    }

    void currentAgeFormula() {
        // RFC 9111 4.2.3 with numbers: sent at 100, answered at 102, Date 90 (the origin's clock
        // or an upstream cache held it 12 s), Age: 5, now 150.
        AgeInputs in{100, 102, Seconds(90), 5};
        // apparent_age = 102-90 = 12; corrected_age_value = 5 + (102-100) = 7;
        // corrected_initial_age = 12; resident = 48; current_age = 60.
        QCOMPARE(currentAge(in, 150), Seconds(60));
        // A Date in the future (clock skew) never makes the age negative.
        AgeInputs skew{100, 100, Seconds(500), 0};
        QCOMPARE(currentAge(skew, 100), Seconds(0));
        // No Date: response_time stands in; Age alone counts.
        AgeInputs noDate{100, 100, std::nullopt, 30};
        QCOMPARE(currentAge(noDate, 110), Seconds(40));
        // A clock that went back (now before response_time): the resident time is 0, not < 0.
        QCOMPARE(currentAge(noDate, 50), Seconds(30));
    }

    void lifetime() {
        ResponseDirectives cc;
        FreshnessInputs in;
        in.directives = &cc;
        in.date = 1000;
        in.responseTime = 1000;
        QCOMPARE(int(freshnessLifetime(in).source), int(LifetimeSource::None));
        // Expires - Date.
        in.hasExpires = true;
        in.expires = 1600;
        QCOMPARE(freshnessLifetime(in).seconds, Seconds(600));
        QCOMPARE(int(freshnessLifetime(in).source), int(LifetimeSource::Expires));
        // An Expires before Date is already stale, not negative.
        in.expires = 10;
        QCOMPARE(freshnessLifetime(in).seconds, Seconds(0));
        // An invalid Expires ("0") means already expired (RFC 9111 5.3).
        in.expires.reset();
        QCOMPARE(freshnessLifetime(in).seconds, Seconds(0));
        // max-age beats Expires; s-maxage beats both in a shared cache.
        cc.maxAge = 60;
        QCOMPARE(freshnessLifetime(in).seconds, Seconds(60));
        cc.sMaxAge = 5;
        QCOMPARE(freshnessLifetime(in).seconds, Seconds(5));
        QCOMPARE(int(freshnessLifetime(in).source), int(LifetimeSource::SMaxAge));
    }

    void heuristic() {
        ResponseDirectives cc;
        FreshnessInputs in;
        in.directives = &cc;
        in.date = 100000;
        in.responseTime = 100000;
        in.lastModified = 100000 - 5000;
        auto l = freshnessLifetime(in);
        QCOMPARE(int(l.source), int(LifetimeSource::Heuristic));
        QCOMPARE(l.seconds, Seconds(500));  // 10% of the time since Last-Modified
        in.lastModified = 100000 - 10 * 86400 * 3;  // modified long ago: capped at one day
        QCOMPARE(freshnessLifetime(in).seconds, Seconds(86400));
        in.status = 302;  // not heuristically cacheable
        QCOMPARE(int(freshnessLifetime(in).source), int(LifetimeSource::None));
        cc.isPublic = true;  // "public" allows it for any status
        QCOMPARE(int(freshnessLifetime(in).source), int(LifetimeSource::Heuristic));
        in.status = 200;
        cc.isPublic = false;
        in.lastModified.reset();  // nothing to base a heuristic on
        QCOMPARE(int(freshnessLifetime(in).source), int(LifetimeSource::None));
        QVERIFY(heuristicallyCacheable(404));
        QVERIFY(!heuristicallyCacheable(500));
        QVERIFY(!heuristicallyCacheable(307));
    }

    void requestPolicy() {
        ResponseDirectives stored;
        RequestDirectives req;
        UseInputs in{100, 10, &stored, &req};
        QCOMPARE(int(usability(in)), int(Usability::Fresh));
        req.maxAge = 5;  // the client wants nothing older than 5 s
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        req.maxAge.reset();
        req.minFresh = 95;  // must stay fresh 95 s more: 100 - 10 = 90 left
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        req.minFresh.reset();
        req.noCache = true;
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        req.noCache = false;
        // Stale by 20 s: max-stale=30 accepts it, max-stale=10 does not.
        in.age = 120;
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        req.maxStale = 30;
        QCOMPARE(int(usability(in)), int(Usability::StaleAllowed));
        req.maxStale = 10;
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        req.maxStale.reset();
        req.maxStaleAny = true;
        QCOMPARE(int(usability(in)), int(Usability::StaleAllowed));
        // must-revalidate, proxy-revalidate and s-maxage forbid serving it stale at all.
        stored.mustRevalidate = true;
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        stored.mustRevalidate = false;
        stored.sMaxAge = 100;
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
        stored.sMaxAge.reset();
        // A stored no-cache always revalidates, even when fresh.
        stored.noCache = true;
        in.age = 0;
        QCOMPARE(int(usability(in)), int(Usability::MustValidate));
    }

    void staleExtensions() {
        ResponseDirectives cc;
        QVERIFY(!staleIfErrorAllows(cc, 60, 100));
        cc.staleIfError = 60;
        QVERIFY(staleIfErrorAllows(cc, 60, 100));   // 40 s stale, within 60
        QVERIFY(!staleIfErrorAllows(cc, 60, 121));  // 61 s stale
        cc.mustRevalidate = true;
        QVERIFY(!staleIfErrorAllows(cc, 60, 100));
        ResponseDirectives w;
        w.staleWhileRevalidate = 30;
        QVERIFY(staleWhileRevalidateAllows(w, 60, 70));
        QVERIFY(!staleWhileRevalidateAllows(w, 60, 91));
        QVERIFY(!staleWhileRevalidateAllows(w, 60, 30));  // still fresh: nothing to do
    }
};

QTEST_APPLESS_MAIN(FreshnessTest)
#include "freshness_test.moc"
