// The upstreams, log and history models: shapes from the service, updates in place, state-change
// reports, keyset paging requests, the row cap and CSV export. Every model passes
// QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QBuffer>
#include <QSignalSpy>
#include <QTest>

#include "models/history_model.h"
#include "models/log_model.h"
#include "models/upstreams_model.h"

using namespace proxy::console;

namespace {
Json upstreams(const char* state2, const char* health2) {
    return {{"upstreams", Json::array({{{"name", "app"},
                                        {"balance", "round_robin"},
                                        {"servers", Json::array({{{"address", "10.0.0.1:80"},
                                                                  {"state", "enabled"},
                                                                  {"active", 2},
                                                                  {"weight", 1}},
                                                                 {{"address", "10.0.0.2:80"},
                                                                  {"state", state2},
                                                                  {"health", health2},
                                                                  {"weight", 3}}})}}})}};
}
Json page(int first, int count, const char* cursor) {
    Json rows = Json::array();
    for (int i = first; i < first + count; ++i)
        rows.push_back({{"id", i},
                        {"ts_us", 1'700'000'000'000'000LL + i},
                        {"request_id", "r" + std::to_string(i)},
                        {"status", 200},
                        {"method", "GET"},
                        {"path", "/p"},
                        {"query", "a=1"},
                        {"client_addr", "10.1.1.1"},
                        {"user_agent", "curl, \"quoted\""}});
    return {{"rows", rows}, {"next_cursor", cursor ? Json(cursor) : Json(nullptr)}};
}
}  // namespace

class OtherModelsTest : public QObject {
    Q_OBJECT

  private slots:
    void upstreamsUpdateInPlaceAndReportChanges() {
        UpstreamsModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy changes(&model, &UpstreamsModel::serverChanged);
        QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
        QVERIFY(model.update(upstreams("enabled", "up")));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(changes.count(), 0);  // the first answer is the baseline
        QVERIFY(model.update(upstreams("draining", "down")));
        QCOMPARE(resets.count(), 1);  // same rows: updated in place, no second reset
        QCOMPARE(changes.count(), 2);
        QCOMPARE(changes.at(0).at(1).toString(), QString("10.0.0.2:80"));
        QCOMPARE(changes.at(0).at(3).toString(), QString("enabled"));
        QCOMPARE(changes.at(0).at(4).toString(), QString("draining"));
        QCOMPARE(changes.at(1).at(2).toString(), QString("health"));
        QCOMPARE(model.data(model.index(1, UpstreamsModel::Weight), Qt::DisplayRole).toLongLong(),
                 3LL);
        // Metrics from stats.get are merged by server address.
        model.mergeServerMetrics({{"metrics",
                                   {{"servers",
                                     {{"10.0.0.2:80",
                                       {{"requests", 10},
                                        {"by_class", {{"5xx", 4}}},
                                        {"latency_us", {{"count", 10}, {"p99", 25000}}}}}}}}}});
        QCOMPARE(model.data(model.index(1, UpstreamsModel::Errors), Qt::DisplayRole).toLongLong(),
                 4LL);
        QCOMPARE(model.data(model.index(1, UpstreamsModel::P99), Qt::DisplayRole).toString(),
                 QString("25.0"));
        // Wrong shapes change nothing.
        QVERIFY(!model.update(Json::array()));
        QVERIFY(!model.update({{"upstreams", "x"}}));
        QCOMPARE(model.rowCount(), 2);
        QVERIFY(model.update(
            {{"upstreams",
              Json::array({{{"name", 5}, {"servers", Json::array({7, {{"address", 1}}})}}})}}));
        QCOMPARE(model.rowCount(), 2);  // odd entries read as empty text, never a throw
    }

    void logModelPassesTheTester() {
        LogModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.reset();
        QVERIFY(model.appendPage(page(0, 10, "c1")));
        model.fetchMore({});  // the tester may have asked already; either way one request is open
        QVERIFY(model.loading());
        QVERIFY(model.appendPage(page(10, 10, nullptr)));
        QCOMPARE(model.rowCount(), 20);
        model.reset();
        QCOMPARE(model.rowCount(), 0);
    }

    // No tester here: it calls fetchMore itself, which is what this test counts.
    void logPagesAreRequestedByCursor() {
        LogModel model;
        QSignalSpy wanted(&model, &LogModel::fetchRequested);
        model.reset();
        QVERIFY(!model.canFetchMore({}));  // the first page is on its way
        QVERIFY(model.appendPage(page(0, 100, "1700000000000099.99")));
        QCOMPARE(model.rowCount(), 100);
        QVERIFY(model.canFetchMore({}));
        model.fetchMore({});
        QCOMPARE(wanted.count(), 1);
        QCOMPARE(wanted.at(0).at(0).toString(), QString("1700000000000099.99"));
        QVERIFY(!model.canFetchMore({}));  // not twice while loading
        model.fetchMore({});
        QCOMPARE(wanted.count(), 1);
        QVERIFY(model.appendPage(page(100, 50, nullptr)));
        QCOMPARE(model.rowCount(), 150);
        QVERIFY(!model.hasMore());
        QCOMPARE(model.data(model.index(0, LogModel::Path), Qt::DisplayRole).toString(),
                 QString("/p?a=1"));
        QCOMPARE(model.data(model.index(0, LogModel::Client), Qt::DisplayRole).toString(),
                 QString("10.1.1.1"));

        QVERIFY(!model.appendPage({{"rows", "nope"}}));
        QCOMPARE(model.rowCount(), 150);
        model.reset();
        QCOMPARE(model.rowCount(), 0);
    }

    void logModelIsCapped() {
        LogModel model;
        model.reset();
        for (int p = 0; p < LogModel::kMaxRows / 1000 + 2; ++p)
            model.appendPage(page(p * 1000, 1000, "c"));
        QCOMPARE(model.rowCount(), LogModel::kMaxRows);
        QVERIFY(model.full());
        QVERIFY(!model.canFetchMore({}));
    }

    void csvQuotesWhatNeedsIt() {
        LogModel model;
        model.reset();
        model.appendPage(page(0, 2, nullptr));
        QBuffer buffer;
        buffer.open(QIODevice::WriteOnly);
        QVERIFY(model.writeCsv(buffer));
        const QString csv = QString::fromUtf8(buffer.data());
        const QStringList lines = csv.split("\r\n", Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 3);
        QVERIFY(lines[0].startsWith("time,request_id,client_addr"));
        QVERIFY2(lines[1].contains("\"curl, \"\"quoted\"\"\""), qPrintable(lines[1]));
        QVERIFY(lines[1].contains(",r0,10.1.1.1,"));
    }

    void history() {
        HistoryModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(model.update(
            {{"current_version", 3},
             {"versions",
              Json::array(
                  {{{"version", 3}, {"applied_by", "alice"}, {"current", true}, {"note", "x"}},
                   {{"version", 2}, {"applied_by", "bob"}, {"current", false}}})}}));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.currentVersion(), qint64(3));
        QCOMPARE(model.data(model.index(0, 0), Qt::DisplayRole).toString(),
                 QString("v3 (current)"));
        QVERIFY(model.data(model.index(0, 0), Qt::FontRole).value<QFont>().bold());
        QVERIFY(!model.update({{"versions", 1}}));
        QCOMPARE(model.rowCount(), 2);
    }
};

QTEST_MAIN(OtherModelsTest)
#include "other_models_test.moc"
