// The console's pure helpers: the line diff shown before an apply, and the stats sampler that
// turns successive stats.get answers (in each shape the service has used) into chart points.
#include <QTest>

#include "app/line_diff.h"
#include "app/stats_sampler.h"

using namespace proxy::console;

class AppTest : public QObject {
    Q_OBJECT

  private slots:
    void diffOfAChangedLine() {
        const QString before = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}\n";
        const QString after = "{\n  \"a\": 1,\n  \"b\": 20,\n  \"c\": 3\n}\n";
        const QString diff = unifiedDiff(before, after, "old", "new");
        QVERIFY2(diff.startsWith("--- old\n+++ new\n@@ -1,5 +1,5 @@\n"), qPrintable(diff));
        QVERIFY(diff.contains("\n-  \"b\": 2,\n+  \"b\": 20,\n"));
        QVERIFY(unifiedDiff(before, before, "a", "b").isEmpty());
    }

    void diffKeepsOrderAndCounts() {
        const QStringList a = {"1", "2", "3", "4", "5"};
        const QStringList b = {"0", "1", "3", "4", "4b", "5"};
        const auto lines = diffLines(a, b);
        const auto s = summarize(lines);
        QCOMPARE(s.added, 2);
        QCOMPARE(s.removed, 1);
        QStringList rebuiltB, rebuiltA;
        for (const auto& l : lines) {
            if (l.kind != DiffLine::Kind::Removed) rebuiltB << l.text;
            if (l.kind != DiffLine::Kind::Added) rebuiltA << l.text;
        }
        QCOMPARE(rebuiltA, a);
        QCOMPARE(rebuiltB, b);
    }

    void hugeDiffStaysBounded() {
        QStringList a, b;
        for (int i = 0; i < 20000; ++i) {
            a << QString::number(i);
            b << QString::number(i * 7);
        }
        QElapsedTimer t;
        t.start();
        const auto lines = diffLines(a, b);
        QVERIFY(t.elapsed() < 20000);  // no 400M-cell table
        const auto s = summarize(lines);
        QCOMPARE(s.added + s.removed, 39998);  // "0" is common to both
    }

    void ratesFromMetricsShape() {
        auto stats = [](int requests, int e5, int none, double sum, int count, int p50, int p99) {
            return Json{
                {"access_log", {{"dropped", 7}}},
                {"metrics",
                 {{"listeners",
                   {{"web",
                     {{"requests", requests},
                      {"by_class", {{"2xx", requests - e5 - none}, {"5xx", e5}, {"none", none}}},
                      {"latency_us",
                       {{"count", count},
                        {"sum", sum},
                        {"p50", p50},
                        {"p95", p99},
                        {"p99", p99}}}}}}}}}};
        };
        StatsSampler sampler;
        QVERIFY(!sampler.add(1000, stats(100, 0, 0, 100000, 100, 900, 5000)));
        const auto p = sampler.add(3000, stats(300, 30, 10, 500000, 300, 1000, 8000));
        QVERIFY(p);
        QCOMPARE(p->requestsPerSec, 100.0);
        QCOMPARE(p->errorRatePct, 20.0);
        QCOMPARE(*p->meanMs, 2.0);  // 400000 us over 200 requests
        QCOMPARE(*p->p50Ms, 1.0);
        QCOMPARE(*p->p99Ms, 8.0);
        QCOMPARE(*sampler.lastTotals()->droppedRecords, qint64(7));
        // The service restarted: counters went back; the baseline starts over.
        QVERIFY(!sampler.add(4000, stats(5, 0, 0, 100, 5, 10, 10)));
        QVERIFY(sampler.add(5000, stats(15, 0, 0, 200, 15, 10, 10)));
        QCOMPARE(sampler.points().back().requestsPerSec, 10.0);
    }

    void ratesFromOlderShapes() {
        StatsSampler a;
        a.add(0, {{"requests", {{"total", 10}, {"5xx", 1}}}});
        auto p = a.add(1000, {{"requests", {{"total", 30}, {"5xx", 6}}}});
        QVERIFY(p);
        QCOMPARE(p->requestsPerSec, 20.0);
        QCOMPARE(p->errorRatePct, 25.0);
        QVERIFY(!p->p99Ms);

        StatsSampler b;
        b.add(0, {{"requests", 10}, {"responses_5xx", 0}});
        p = b.add(500, {{"requests", 20}, {"responses_5xx", 10}});
        QVERIFY(p);
        QCOMPARE(p->requestsPerSec, 20.0);
        QCOMPARE(p->errorRatePct, 100.0);

        StatsSampler c;  // nonsense never throws
        c.add(0, Json::array());
        QVERIFY(c.add(1000, {{"requests", "many"}, {"metrics", 5}}));
    }

    void samplerIsBounded() {
        StatsSampler s(10);
        for (int i = 0; i < 100; ++i) s.add(i * 1000, {{"requests", i}});
        QCOMPARE(s.points().size(), std::size_t(10));
    }
};

QTEST_GUILESS_MAIN(AppTest)
#include "app_test.moc"
