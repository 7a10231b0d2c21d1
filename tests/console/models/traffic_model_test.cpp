// The live traffic model: batched inserts, the row cap under a firehose, pause, drop markers,
// malformed events, and the filter bar's terms. Every model passes QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTest>

#include "models/traffic_model.h"

using namespace proxy::console;

namespace {
Json feedEvent(int n, int status = 200, const char* method = "GET",
               const char* host = "example.com", const char* path = "/x") {
    return {{"time", "2026-11-27T10:00:00.123Z"},
            {"request_id", "req-" + std::to_string(n)},
            {"client", "10.0.0." + std::to_string(n % 250)},
            {"method", method},
            {"host", host},
            {"path", path},
            {"route", "all"},
            {"server", "127.0.0.1:9001"},
            {"status", status},
            {"duration_us", 1500},
            {"bytes_out", 42}};
}
}  // namespace

class TrafficModelTest : public QObject {
    Q_OBJECT

  private slots:
    void oneEventOrABatch() {
        TrafficModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QCOMPARE(model.enqueue(feedEvent(1)), 1);
        QCOMPARE(model.enqueue({{"events", Json::array({feedEvent(2), feedEvent(3, 503)})}}), 2);
        QCOMPARE(model.rowCount(), 0);  // nothing until the batch timer
        QTRY_COMPARE(model.rowCount(), 3);
        QCOMPARE(model.event(2).status, 503);
        QCOMPARE(model.data(model.index(2, TrafficModel::Status), Qt::DisplayRole).toString(),
                 QString("503"));
        QCOMPARE(model.data(model.index(0, TrafficModel::RequestId), Qt::DisplayRole).toString(),
                 QString("req-1"));
        QCOMPARE(model.data(model.index(0, TrafficModel::Duration), Qt::DisplayRole).toString(),
                 QString("1.5"));
        // Colour by status class.
        QCOMPARE(model.data(model.index(2, 0), Qt::BackgroundRole).value<QColor>(),
                 TrafficModel::statusColor(5));
        QVERIFY(TrafficModel::statusColor(5) != TrafficModel::statusColor(2));
    }

    void firehoseStaysBounded() {
        TrafficModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setCapacity(500);
        int maxRows = 0;
        connect(&model, &QAbstractItemModel::rowsInserted, this,
                [&] { maxRows = std::max(maxRows, model.rowCount()); });
        int n = 0;
        for (int batch = 0; batch < 200; ++batch) {
            Json events = Json::array();
            for (int i = 0; i < 250; ++i) {
                const int k = n++;
                events.push_back(feedEvent(k, 200 + (k % 4) * 100));
            }
            model.enqueue({{"events", events}});
            if (batch % 3 == 0) model.flush();  // several batches sometimes pile up between ticks
        }
        model.flush();
        QCOMPARE(model.rowCount(), 500);
        QVERIFY(maxRows <= 500);
        QCOMPARE(model.received(), qint64(50000));
        QCOMPARE(model.evicted(), qint64(50000 - 500));
        // The newest events are the ones kept, in order.
        QCOMPARE(model.event(499).requestId, QString("req-49999"));
        QCOMPARE(model.event(0).requestId, QString("req-49500"));
    }

    // The firehose seen through the filter bar's proxy, with the tester on both models: the
    // table stays bounded, the timer-driven flush (not explicit calls) does the inserting, and the
    // filtered view holds exactly the kept rows that match, also across pause and resume.
    void firehoseThroughTheFilterStaysBoundedAndCorrect() {
        TrafficModel model;
        TrafficFilterModel filtered;
        filtered.setSourceModel(&model);
        QAbstractItemModelTester sourceTester(
            &model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester proxyTester(
            &filtered, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setCapacity(300);
        QCOMPARE(filtered.setFilterText("status:5xx method:GET"), QString());
        QSignalSpy inserts(&model, &QAbstractItemModel::rowsInserted);
        int n = 0;
        auto burst = [&](int events) {
            Json batch = Json::array();
            for (int i = 0; i < events; ++i, ++n)
                batch.push_back(feedEvent(n, n % 5 == 0 ? 503 : 200, n % 2 ? "GET" : "POST"));
            model.enqueue({{"events", batch}});
        };
        for (int round = 0; round < 40; ++round) {
            burst(500);
            if (round == 10) model.setPaused(true);
            if (round == 20) model.setPaused(false);
            QTest::qWait(5);  // the ~100 ms flush timer runs now and then, not per event
        }
        QTRY_COMPARE_WITH_TIMEOUT(model.pendingCount(), 0, 5000);
        QCOMPARE(model.rowCount(), 300);
        QCOMPARE(model.received(), qint64(n));
        QVERIFY(inserts.count() < 200);  // batched: far fewer inserts than 20,000 events
        int expected = 0;
        for (int r = 0; r < model.rowCount(); ++r) {
            const TrafficEvent& e = model.event(r);
            expected += e.status == 503 && e.method == "GET";
        }
        QCOMPARE(filtered.rowCount(), expected);
        // n % 5 == 0 and odd: one event in ten.
        QVERIFY(expected >= 25 && expected <= 35);
        QCOMPARE(model.event(299).requestId, QString("req-%1").arg(n - 1));
    }

    void pauseHoldsRowsAndKeepsTheQueueBounded() {
        TrafficModel model;
        model.setCapacity(100);
        model.enqueue(feedEvent(0));
        model.flush();
        model.setPaused(true);
        for (int i = 1; i <= 1000; ++i) model.enqueue(feedEvent(i));
        model.flush();
        QCOMPARE(model.rowCount(), 1);  // paused: the table does not move
        QCOMPARE(model.pendingCount(), 100);
        model.setPaused(false);
        QCOMPARE(model.rowCount(), 100);
        QCOMPARE(model.event(99).requestId, QString("req-1000"));
        QCOMPARE(model.received(), qint64(1001));
        QCOMPARE(model.evicted(), qint64(1001 - 100));
    }

    void dropMarkersAndGarbageAreCounted() {
        TrafficModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.enqueue({{"events", Json::array({feedEvent(1), {{"dropped", 17}}, feedEvent(2)})}});
        model.enqueue({{"dropped", 3}});
        model.enqueue(Json::array({1, 2}));  // not an object
        model.enqueue(nullptr);
        model.enqueue({{"events", Json::array({42, "x", Json::object(), {{"status", "200"}}})}});
        model.enqueue(
            {{"status", 99999999999LL}, {"path", std::string(5000, 'p')}});  // clamped, kept
        model.flush();
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.droppedByService(), qint64(20));
        QCOMPARE(model.malformed(), qint64(6));
        QCOMPARE(model.event(2).status, 999);
        model.clear();
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(model.droppedByService(), qint64(0));
    }

    void filterTerms_data() {
        QTest::addColumn<QString>("filter");
        QTest::addColumn<int>("expected");
        QTest::newRow("none") << "" << 6;
        QTest::newRow("class") << "status:5xx" << 2;
        QTest::newRow("code") << "status:404" << 1;
        QTest::newRow("method") << "method:post" << 1;
        QTest::newRow("host") << "host:API.example" << 2;
        QTest::newRow("path") << "path:/img" << 1;
        QTest::newRow("two terms") << "status:5xx method:post" << 1;
        QTest::newRow("both api 5xx") << "status:5xx host:api" << 2;
        QTest::newRow("free word") << "req-3" << 1;
        QTest::newRow("id") << "id:req-4" << 1;
        QTest::newRow("client") << "client:10.0.0.5" << 1;
        QTest::newRow("nothing") << "host:nowhere" << 0;
    }
    void filterTerms() {
        QFETCH(QString, filter);
        QFETCH(int, expected);
        TrafficModel model;
        TrafficFilterModel proxyModel;
        proxyModel.setSourceModel(&model);
        QAbstractItemModelTester tester(&proxyModel,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.enqueue(feedEvent(1, 200, "GET", "example.com", "/"));
        model.enqueue(feedEvent(2, 503, "GET", "api.example.com", "/v1"));
        model.enqueue(feedEvent(3, 404, "GET", "example.com", "/missing"));
        model.enqueue(feedEvent(4, 500, "POST", "api.example.com", "/v1/orders"));
        model.enqueue(feedEvent(5, 200, "GET", "example.com", "/img/a.png"));
        model.enqueue(feedEvent(6, 0, "GET", "example.com", "/aborted"));
        model.flush();
        QCOMPARE(proxyModel.setFilterText(filter), QString());
        QCOMPARE(proxyModel.rowCount(), expected);
        // New rows are filtered as they arrive.
        model.enqueue(feedEvent(7, 502, "GET", "api.example.com", "/v1"));
        model.flush();
        QVERIFY(proxyModel.rowCount() >= expected);
    }

    void badFilterTermIsExplainedAndIgnored() {
        TrafficModel model;
        TrafficFilterModel proxyModel;
        proxyModel.setSourceModel(&model);
        model.enqueue(feedEvent(1, 503));
        model.flush();
        QCOMPARE(proxyModel.setFilterText("status:5xx"), QString());
        QCOMPARE(proxyModel.rowCount(), 1);
        const QString error = proxyModel.setFilterText("status:abc");
        QVERIFY(error.contains("abc"));
        QCOMPARE(proxyModel.rowCount(), 1);  // the previous filter stays
        QVERIFY(!proxyModel.setFilterText("host:").isEmpty());
    }
};

QTEST_MAIN(TrafficModelTest)
#include "traffic_model_test.moc"
