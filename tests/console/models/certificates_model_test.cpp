// The certificates model and the decoding of status's tls_certificates: fields read from the
// service's shape (and hostile shapes read as empty, never a throw), days left and levels at a
// fixed clock (under 30 days a warning, past not_after an error), the three signals of a warning
// (colour, icon, text), in-place updates that keep the rows, and QAbstractItemModelTester on
// every change.
#include <QAbstractItemModelTester>
#include <QColor>
#include <QIcon>
#include <QSignalSpy>
#include <QTest>

#include "models/certificates_model.h"
#include "service_client/certificates.h"

using namespace proxy::console;
using Json = proxy::control::Json;

namespace {
constexpr qint64 kNow = 1'800'000'000;  // 2027-01-15
constexpr qint64 kDay = 86'400;

Json cert(const char* listener, int index, const char* cn, qint64 notAfter) {
    return {{"listener", listener},
            {"index", index},
            {"source", std::string("/etc/proxy/") + cn + ".pem"},
            {"subject", std::string("CN=") + cn},
            {"issuer", "CN=Test CA"},
            {"names", Json::array({cn, std::string("www.") + cn})},
            {"not_before", kNow - 300 * kDay},
            {"not_after", notAfter},
            {"days_left", (notAfter - kNow) / kDay},
            {"ocsp_responder", true},
            {"ocsp_stapling", "file"},
            {"ocsp_next_update", kNow + kDay},
            {"warning", ""}};
}

Json status(std::initializer_list<Json> certs) {
    Json list = Json::array();
    for (const Json& c : certs) list.push_back(c);
    return {{"version", "0.1.0"}, {"tls_certificates", list}};
}

std::vector<CertificateInfo> decode(const Json& s) {
    auto list = certificatesFromStatus(s);
    return list ? *list : std::vector<CertificateInfo>{};
}
}  // namespace

class CertificatesModelTest : public QObject {
    Q_OBJECT

  private slots:
    void decodesTheServiceShape() {
        const auto list = certificatesFromStatus(status({cert("secure", 0, "a.test", kNow + 9 * kDay)}));
        QVERIFY(list.has_value());
        QCOMPARE(list->size(), std::size_t(1));
        const CertificateInfo& c = list->front();
        QCOMPARE(c.listener, QString("secure"));
        QCOMPARE(c.index, 0);
        QCOMPARE(c.subject, QString("CN=a.test"));
        QCOMPARE(c.issuer, QString("CN=Test CA"));
        QCOMPARE(c.names, QStringList({"a.test", "www.a.test"}));
        QCOMPARE(c.notAfter, kNow + 9 * kDay);
        QVERIFY(c.ocspResponder);
        QCOMPARE(c.ocspStapling, QString("file"));
        QCOMPARE(c.source, QString("/etc/proxy/a.test.pem"));
    }

    void absentOrHostileShapesDoNotThrow() {
        QVERIFY(!certificatesFromStatus(Json{{"version", "0.1.0"}}).has_value());  // older service
        QVERIFY(!certificatesFromStatus(Json("not an object")).has_value());
        QVERIFY(!certificatesFromStatus(Json{{"tls_certificates", "x"}}).has_value());
        const auto empty = certificatesFromStatus(Json{{"tls_certificates", Json::array()}});
        QVERIFY(empty && empty->empty());
        // Wrong types everywhere, extreme numbers, non-object entries: skipped or read as empty.
        const Json hostile = {{"tls_certificates",
                               Json::array({42, nullptr, Json::array(),
                                            {{"listener", 7},
                                             {"index", -5},
                                             {"subject", Json::object()},
                                             {"names", Json::array({1, "ok.test", nullptr})},
                                             {"not_before", "soon"},
                                             {"not_after", std::numeric_limits<std::int64_t>::min()},
                                             {"ocsp_responder", "yes"}},
                                            {{"not_after", std::numeric_limits<std::uint64_t>::max()},
                                             {"index", 1e300}}})}};
        const auto list = certificatesFromStatus(hostile);
        QVERIFY(list.has_value());
        QCOMPARE(list->size(), std::size_t(2));
        QCOMPARE(list->at(0).listener, QString("7"));  // numbers read as text
        QCOMPARE(list->at(0).index, 0);
        QCOMPARE(list->at(0).subject, QString());
        QCOMPARE(list->at(0).names, QStringList({"ok.test"}));
        QCOMPARE(list->at(0).notBefore, qint64(0));
        QVERIFY(!list->at(0).ocspResponder);
        // The clamped times keep the day arithmetic defined (no overflow) and sensible.
        QCOMPARE(certificateLevel(list->at(0), kNow), CertificateLevel::Expired);
        QCOMPARE(certificateLevel(list->at(1), kNow), CertificateLevel::Ok);
        QVERIFY(certificateDaysLeft(list->at(1), kNow) > 2'000'000);

        CertificatesModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setClock([] { return kNow; });
        model.update(*list);
        QCOMPARE(model.rowCount(), 2);
        for (int r = 0; r < model.rowCount(); ++r)
            for (int c = 0; c < model.columnCount(); ++c)
                QVERIFY(model.data(model.index(r, c), Qt::DisplayRole).isValid());
    }

    void daysLeftAndLevels() {
        CertificateInfo c;
        c.notBefore = kNow - kDay;
        c.notAfter = kNow + 30 * kDay;
        QCOMPARE(certificateDaysLeft(c, kNow), qint64(30));
        QCOMPARE(certificateLevel(c, kNow), CertificateLevel::Ok);  // 30 whole days: not yet
        c.notAfter = kNow + 30 * kDay - 1;
        QCOMPARE(certificateDaysLeft(c, kNow), qint64(29));
        QCOMPARE(certificateLevel(c, kNow), CertificateLevel::Expiring);
        c.notAfter = kNow;
        QCOMPARE(certificateLevel(c, kNow), CertificateLevel::Expiring);  // its last second
        c.notAfter = kNow - 1;
        QCOMPARE(certificateDaysLeft(c, kNow), qint64(-1));
        QCOMPARE(certificateLevel(c, kNow), CertificateLevel::Expired);
        c.notAfter = kNow + 400 * kDay;
        c.notBefore = kNow + 1;
        QCOMPARE(certificateLevel(c, kNow), CertificateLevel::NotYetValid);
    }

    void warningsAreColourIconAndText() {
        CertificatesModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setClock([] { return kNow; });
        QVERIFY(!model.reported());
        QVERIFY(model.summary().contains("does not report"));
        model.update(decode(status({cert("secure", 0, "near.test", kNow + 9 * kDay + 60),
                                    cert("secure", 1, "far.test", kNow + 365 * kDay),
                                    cert("old", 0, "gone.test", kNow - 3 * kDay - 60)})));
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.expiringCount(), 1);
        QCOMPARE(model.invalidCount(), 1);

        auto cell = [&](int r, int c, int role = Qt::DisplayRole) {
            return model.data(model.index(r, c), role);
        };
        QCOMPARE(cell(0, CertificatesModel::DaysLeft).toLongLong(), qint64(9));
        QCOMPARE(cell(1, CertificatesModel::DaysLeft).toLongLong(), qint64(365));
        QCOMPARE(cell(0, CertificatesModel::Status).toString(), QString("Warning: expires in 9 day(s)"));
        QCOMPARE(cell(1, CertificatesModel::Status).toString(), QString("OK"));
        QVERIFY(cell(2, CertificatesModel::Status).toString().startsWith("Error: expired 3 day"));
        QCOMPARE(cell(0, CertificatesModel::Listener).toString(), QString("secure (default)"));
        QCOMPARE(cell(1, CertificatesModel::Listener).toString(), QString("secure #1"));
        QCOMPARE(cell(0, CertificatesModel::Names).toString(), QString("near.test, www.near.test"));
        QCOMPARE(cell(0, CertificatesModel::Issuer).toString(), QString("CN=Test CA"));
        QVERIFY(cell(0, CertificatesModel::Ocsp).toString().startsWith("file"));
        QVERIFY(cell(0, CertificatesModel::NotAfter).toString().contains("UTC"));

        // Colour: warning and error differ from each other and from an OK row (which has none).
        const QVariant warnBg = cell(0, CertificatesModel::Subject, Qt::BackgroundRole);
        const QVariant errBg = cell(2, CertificatesModel::Subject, Qt::BackgroundRole);
        QVERIFY(warnBg.canConvert<QColor>() && errBg.canConvert<QColor>());
        QVERIFY(warnBg.value<QColor>() != errBg.value<QColor>());
        QVERIFY(!cell(1, CertificatesModel::Subject, Qt::BackgroundRole).isValid());
        // Icon on the status column.
        QVERIFY(!cell(0, CertificatesModel::Status, Qt::DecorationRole).value<QIcon>().isNull());
        QVERIFY(!cell(2, CertificatesModel::Status, Qt::DecorationRole).value<QIcon>().isNull());
        QVERIFY(cell(1, CertificatesModel::Status, Qt::DecorationRole).value<QIcon>().isNull());
        // Text for assistive technology on every cell of the row.
        QVERIFY(cell(0, CertificatesModel::Subject, Qt::AccessibleTextRole)
                    .toString()
                    .contains("Warning: expires in 9"));
        QCOMPARE(cell(0, 0, CertificatesModel::LevelRole).toInt(),
                 int(CertificateLevel::Expiring));
        QVERIFY2(model.summary().contains("1 expire(s) within 30 days") &&
                     model.summary().contains("near.test"),
                 qPrintable(model.summary()));
    }

    void updatesInPlaceAndFollowTheClock() {
        CertificatesModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        qint64 now = kNow;
        model.setClock([&] { return now; });
        QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
        QSignalSpy changes(&model, &QAbstractItemModel::dataChanged);
        QSignalSpy summaries(&model, &CertificatesModel::summaryChanged);
        const Json s = status({cert("secure", 0, "a.test", kNow + 40 * kDay),
                               cert("secure", 1, "b.test", kNow + 365 * kDay)});
        model.update(decode(s));
        QCOMPARE(resets.count(), 1);
        QCOMPARE(model.expiringCount(), 0);
        QVERIFY(model.summary().contains("all valid"));
        // The same certificates again: in place.
        now += 15 * kDay;  // and a fortnight later, a.test is inside the window
        model.update(decode(s));
        QCOMPARE(resets.count(), 1);
        QVERIFY(changes.count() >= 1);
        QCOMPARE(summaries.count(), 2);
        QCOMPARE(model.expiringCount(), 1);
        QCOMPARE(model.daysLeft(0), qint64(25));
        // A replaced certificate (renewed) keeps its row and updates its cells.
        model.update(decode(status({cert("secure", 0, "a.test", now + 90 * kDay),
                                    cert("secure", 1, "b.test", kNow + 365 * kDay)})));
        QCOMPARE(resets.count(), 1);
        QCOMPARE(model.expiringCount(), 0);
        // Another set (a listener removed): reset.
        model.update(decode(status({cert("secure", 1, "b.test", kNow + 365 * kDay)})));
        QCOMPARE(resets.count(), 2);
        QCOMPARE(model.rowCount(), 1);
        model.update({});
        QCOMPARE(model.rowCount(), 0);
        QVERIFY(model.summary().contains("No TLS listener"));
        model.clear();
        QVERIFY(!model.reported());
    }
};

QTEST_MAIN(CertificatesModelTest)
#include "certificates_model_test.moc"
