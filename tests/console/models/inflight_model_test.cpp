// The live view's "in flight" table: a traffic.inflight snapshot replaces the last, ages are
// formatted for people, the row cap holds, and bad shapes (not an object, wrong types, junk
// entries) neither crash nor wipe the last good snapshot. Checked with QAbstractItemModelTester.
#include <QAbstractItemModelTester>
#include <QTest>
#include <limits>

#include "models/inflight_model.h"

using namespace proxy::console;

namespace {
Json entry(int n, qint64 ageUs, const char* stage = "upstream") {
    return {{"request_id", "req-" + std::to_string(n)},
            {"client", "10.0.0.7"},
            {"method", "GET"},
            {"host", "example.com"},
            {"path", "/slow/" + std::to_string(n)},
            {"route", "all"},
            {"server", "127.0.0.1:9001"},
            {"stage", stage},
            {"age_us", ageUs},
            {"worker", n % 2}};
}

Json snapshot(std::vector<Json> entries, qint64 total, int workers = 2, int answered = 2) {
    Json list = Json::array();
    for (auto& e : entries) list.push_back(std::move(e));
    return {
        {"requests", list}, {"total", total}, {"workers", workers}, {"workers_answered", answered}};
}

QString cell(const InflightModel& m, int row, int column) {
    return m.data(m.index(row, column), Qt::DisplayRole).toString();
}
}  // namespace

class InflightModelTest : public QObject {
    Q_OBJECT

  private slots:
    void snapshotReplacesTheLast() {
        InflightModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(
            model.setSnapshot(snapshot({entry(1, 2'500'000), entry(2, 40'000, "response")}, 2)));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.columnCount(), int(InflightModel::ColumnCount));
        QCOMPARE(cell(model, 0, InflightModel::Age), QString("2.5 s"));
        QCOMPARE(cell(model, 0, InflightModel::Stage), QString("upstream"));
        QCOMPARE(cell(model, 0, InflightModel::Path), QString("/slow/1"));
        QCOMPARE(cell(model, 1, InflightModel::Age), QString("40 ms"));
        QCOMPARE(cell(model, 1, InflightModel::Stage), QString("response"));
        QCOMPARE(cell(model, 1, InflightModel::RequestId), QString("req-2"));
        QCOMPARE(model.request(0).worker, 1);
        QCOMPARE(model.request(1).worker, 0);
        QCOMPARE(model.data(model.index(0, InflightModel::Age), Qt::UserRole).toLongLong(),
                 2'500'000LL);
        QCOMPARE(model.total(), qint64(2));

        QVERIFY(model.setSnapshot(snapshot({entry(3, 10)}, 1)));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.request(0).requestId, QString("req-3"));
        QVERIFY(model.setSnapshot(snapshot({}, 0)));
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(model.total(), qint64(0));
    }

    void totalAndWorkersAreReported() {
        InflightModel model;
        // The call's limit cut the list: total says how many there are.
        QVERIFY(model.setSnapshot(snapshot({entry(1, 5), entry(2, 6)}, 700, 4, 3)));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.total(), qint64(700));
        QCOMPARE(model.workers(), 4);
        QCOMPARE(model.workersAnswered(), 3);
        // A total below the rows it came with is not believed.
        QVERIFY(model.setSnapshot(snapshot({entry(1, 5), entry(2, 6)}, 1)));
        QCOMPARE(model.total(), qint64(2));
        model.clear();
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(model.total(), qint64(0));
    }

    void ageText_data() {
        QTest::addColumn<qint64>("ageUs");
        QTest::addColumn<QString>("text");
        QTest::newRow("negative") << qint64(-5) << QString("0 ms");
        QTest::newRow("zero") << qint64(0) << QString("0 ms");
        QTest::newRow("sub-ms") << qint64(999) << QString("0 ms");
        QTest::newRow("ms") << qint64(850'000) << QString("850 ms");
        QTest::newRow("second") << qint64(1'000'000) << QString("1.0 s");
        QTest::newRow("seconds") << qint64(12'449'000) << QString("12.4 s");
        QTest::newRow("minutes") << qint64(185'000'000) << QString("3 min 05 s");
        QTest::newRow("huge") << std::numeric_limits<qint64>::max()
                              << QString("153722867280 min 54 s");
    }
    void ageText() {
        QFETCH(qint64, ageUs);
        QFETCH(QString, text);
        QCOMPARE(InflightModel::ageText(ageUs), text);
    }

    void slowRequestsStandOut() {
        InflightModel model;
        QVERIFY(model.setSnapshot(
            snapshot({entry(1, 1000), entry(2, 15'000'000), entry(3, 90'000'000)}, 3)));
        const auto background = [&](int row) {
            return model.data(model.index(row, InflightModel::Age), Qt::BackgroundRole);
        };
        QVERIFY(!background(0).isValid());
        QVERIFY(background(1).isValid());
        QVERIFY(background(2).isValid());
        QVERIFY(background(1) != background(2));
    }

    void badShapesKeepTheLastSnapshot_data() {
        QTest::addColumn<QString>("json");
        QTest::newRow("null") << "null";
        QTest::newRow("array") << "[1, 2]";
        QTest::newRow("no requests") << R"({"total": 3})";
        QTest::newRow("requests not a list") << R"({"requests": {"a": 1}})";
        QTest::newRow("requests a string") << R"({"requests": "many"})";
    }
    void badShapesKeepTheLastSnapshot() {
        QFETCH(QString, json);
        InflightModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(model.setSnapshot(snapshot({entry(1, 5)}, 1)));
        QVERIFY(!model.setSnapshot(fromText(json)));
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.request(0).requestId, QString("req-1"));
    }

    void junkEntriesAreSkippedAndFieldsTolerated() {
        InflightModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        Json list = Json::array({entry(1, 5), 42, "text", nullptr, Json::array(),
                                 Json{{"path", 7}, {"age_us", "soon"}, {"stage", nullptr}}});
        QVERIFY(model.setSnapshot({{"requests", list}, {"total", "lots"}, {"workers", -1}}));
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.malformed(), qint64(4));
        QCOMPARE(model.total(), qint64(2));
        QCOMPARE(model.request(1).ageUs, qint64(0));
        QCOMPARE(model.workers(), 0);
        QCOMPARE(model.workersAnswered(), 0);
        QCOMPARE(cell(model, 1, InflightModel::Age), QString("0 ms"));
        for (int c = 0; c < model.columnCount(); ++c)
            QVERIFY(model.data(model.index(1, c), Qt::DisplayRole).isValid());
        QVERIFY(!model.data(model.index(5, 0), Qt::DisplayRole).isValid());
        QVERIFY(!model.data(model.index(0, InflightModel::ColumnCount), Qt::DisplayRole).isValid());
    }

    void rowsAreCapped() {
        InflightModel model;
        std::vector<Json> many;
        for (int i = 0; i < InflightModel::kMaxRows + 50; ++i) many.push_back(entry(i, i));
        QVERIFY(model.setSnapshot(snapshot(std::move(many), InflightModel::kMaxRows + 50)));
        QCOMPARE(model.rowCount(), InflightModel::kMaxRows);
        QCOMPARE(model.total(), qint64(InflightModel::kMaxRows + 50));
    }
};

QTEST_MAIN(InflightModelTest)
#include "inflight_model_test.moc"
