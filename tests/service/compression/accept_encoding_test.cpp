// Accept-Encoding parsing and the choice of a coding (service/compression/accept_encoding.cpp),
// including hostile field values, and Content-Type matching (media_type.cpp).

#include <QTest>

#include <string>
#include <vector>

#include "compression/accept_encoding.h"
#include "compression/media_type.h"

using namespace proxy::compression;

namespace {

std::vector<Coding> offeredFrom(const QString& text) {
    std::vector<Coding> out;
    for (const QString& name : text.split(',', Qt::SkipEmptyParts))
        out.push_back(*codingFromName(name.toStdString()));
    return out;
}

// Fields are separated by '\n' in the table: each is one Accept-Encoding field.
AcceptEncoding parseFields(const QByteArray& fields) {
    AcceptEncoding ae;
    for (const QByteArray& field : fields.split('\n'))
        parseAcceptEncoding(std::string_view(field.constData(), static_cast<std::size_t>(field.size())), ae);
    return ae;
}

}  // namespace

class AcceptEncodingTest : public QObject {
    Q_OBJECT

private slots:
    void choose_data() {
        QTest::addColumn<QByteArray>("field");
        QTest::addColumn<QString>("offered");
        QTest::addColumn<QString>("expected");
        const QString both = "gzip,deflate";
        QTest::newRow("gzip") << QByteArray("gzip") << both << "gzip";
        QTest::newRow("deflate only") << QByteArray("deflate") << both << "deflate";
        QTest::newRow("browser") << QByteArray("gzip, deflate, br, zstd") << both << "gzip";
        QTest::newRow("server order breaks ties") << QByteArray("deflate, gzip") << both << "gzip";
        QTest::newRow("server order deflate first") << QByteArray("gzip, deflate") << "deflate,gzip" << "deflate";
        QTest::newRow("q picks deflate") << QByteArray("gzip;q=0.5, deflate") << both << "deflate";
        QTest::newRow("q picks gzip") << QByteArray("gzip;q=1.0, deflate;q=0.999") << both << "gzip";
        QTest::newRow("gzip refused") << QByteArray("gzip;q=0") << both << "identity";
        QTest::newRow("gzip refused, deflate ok") << QByteArray("gzip;q=0, deflate;q=0.1") << both << "deflate";
        QTest::newRow("star") << QByteArray("*") << both << "gzip";
        QTest::newRow("star but not gzip") << QByteArray("*, gzip;q=0") << both << "deflate";
        QTest::newRow("star zero") << QByteArray("*;q=0") << both << "identity";
        QTest::newRow("low q still asks for gzip") << QByteArray("gzip;q=0.1") << both << "gzip";
        QTest::newRow("star weighs identity") << QByteArray("gzip;q=0.3, *;q=0.5") << both << "deflate";
        QTest::newRow("star zero identity ok") << QByteArray("*;q=0, identity") << both << "identity";
        QTest::newRow("identity only") << QByteArray("identity") << both << "identity";
        QTest::newRow("identity preferred") << QByteArray("gzip;q=0.5, identity") << both << "identity";
        QTest::newRow("identity tie goes to gzip") << QByteArray("gzip, identity") << both << "gzip";
        QTest::newRow("identity refused") << QByteArray("gzip, identity;q=0") << both << "gzip";
        QTest::newRow("nothing acceptable") << QByteArray("br, identity;q=0") << both << "identity";
        QTest::newRow("unknown codings only") << QByteArray("br, zstd, compress") << both << "identity";
        QTest::newRow("empty field") << QByteArray("") << both << "identity";
        QTest::newRow("offered gzip only") << QByteArray("deflate, gzip;q=0.1") << "gzip" << "gzip";
        QTest::newRow("offered nothing") << QByteArray("gzip") << "" << "identity";
        QTest::newRow("case") << QByteArray("GZip;Q=0.8, DEFLATE;q=0.9") << both << "deflate";
        QTest::newRow("x-gzip") << QByteArray("x-gzip") << both << "gzip";
        QTest::newRow("whitespace") << QByteArray(" \t gzip \t ; \t q=0.3 \t ,\tdeflate ;q=0.2 ") << both << "gzip";
        QTest::newRow("empty elements") << QByteArray(",,, ,gzip,,") << both << "gzip";
        QTest::newRow("two fields") << QByteArray("br\ngzip;q=0.4, deflate;q=0.5") << both << "deflate";
        QTest::newRow("first mention wins") << QByteArray("gzip;q=0, gzip") << both << "identity";
        QTest::newRow("first mention wins across fields") << QByteArray("gzip;q=0.1\ngzip;q=1, deflate;q=0.2") << both << "deflate";
        QTest::newRow("first q wins") << QByteArray("gzip;q=0;q=1") << both << "identity";
        QTest::newRow("other params tolerated") << QByteArray("gzip;level=9;q=0.7, deflate;q=0.6") << both << "gzip";
        QTest::newRow("quoted param") << QByteArray("gzip;x=\"a,b;q=0\";q=0.9, deflate;q=0.8") << both << "gzip";
        QTest::newRow("q three decimals") << QByteArray("gzip;q=0.001, deflate;q=0.0005") << both << "gzip";
        // Malformed elements are skipped; the rest of the list still counts.
        QTest::newRow("bad q skipped") << QByteArray("gzip;q=2, deflate") << both << "deflate";
        QTest::newRow("q four decimals skipped") << QByteArray("gzip;q=0.0001, deflate") << both << "deflate";
        QTest::newRow("q 1.001 skipped") << QByteArray("gzip;q=1.001, deflate;q=0.5") << both << "deflate";
        QTest::newRow("q negative skipped") << QByteArray("gzip;q=-1, deflate;q=0.5") << both << "deflate";
        QTest::newRow("q empty skipped") << QByteArray("gzip;q=, deflate") << both << "deflate";
        QTest::newRow("q spaced skipped") << QByteArray("gzip;q = 0.5, deflate") << both << "deflate";
        QTest::newRow("q garbage skipped") << QByteArray("gzip;q=0.5x, deflate") << both << "deflate";
        QTest::newRow("q exponent skipped") << QByteArray("gzip;q=1e0, deflate") << both << "deflate";
        QTest::newRow("stray bytes skipped") << QByteArray("gzip foo, deflate") << both << "deflate";
        QTest::newRow("lone semicolon") << QByteArray(";, gzip") << both << "gzip";
        QTest::newRow("dangling semicolon") << QByteArray("gzip;") << both << "identity";
        QTest::newRow("unclosed quote eats the rest") << QByteArray("br;x=\"abc, gzip") << both << "identity";
        QTest::newRow("control bytes") << QByteArray("g\x01zip, \x7f, deflate") << both << "deflate";
        QTest::newRow("nul byte") << QByteArray("gzip\0;q=0, deflate;q=0.5", 24) << both << "deflate";
        QTest::newRow("high bytes") << QByteArray("gz\xc3\xa9ip, gzip;q=0.2") << both << "gzip";
        QTest::newRow("star star") << QByteArray("**") << both << "identity";
    }

    void choose() {
        QFETCH(QByteArray, field);
        QFETCH(QString, offered);
        QFETCH(QString, expected);
        const AcceptEncoding ae = parseFields(field);
        const auto formats = offeredFrom(offered);
        QCOMPARE(QString::fromLatin1(codingName(chooseCoding(ae, formats)).data()), expected);
    }

    void noHeaderMeansIdentity() {
        const AcceptEncoding none;  // no Accept-Encoding field at all
        const std::vector<Coding> both{Coding::Gzip, Coding::Deflate};
        QCOMPARE(chooseCoding(none, both), Coding::Identity);
    }

    void weights() {
        AcceptEncoding ae;
        parseAcceptEncoding("gzip;q=0.5, identity;q=0.25, *;q=0.125", ae);
        QCOMPARE(ae.weight(Coding::Gzip), 500);
        QCOMPARE(ae.weight(Coding::Identity), 250);
        QCOMPARE(ae.weight(Coding::Deflate), 125);
        QCOMPARE(ae.elements, std::size_t{3});
        QCOMPARE(ae.malformed, std::size_t{0});
        AcceptEncoding plain;
        parseAcceptEncoding("gzip", plain);
        QCOMPARE(plain.weight(Coding::Identity), 1);
        QCOMPARE(plain.weight(Coding::Deflate), 0);
    }

    void malformedAreCounted() {
        AcceptEncoding ae;
        parseAcceptEncoding("gzip;q=9, ;;, deflate, br;q=0.5;", ae);
        QCOMPARE(ae.malformed, std::size_t{3});
        QCOMPARE(ae.elements, std::size_t{1});
        QCOMPARE(ae.gzip, AcceptEncoding::kUnset);
        QCOMPARE(ae.deflate, 1000);
    }

    void hugeHostileFieldIsLinear() {
        // 4 MiB of alternating junk: must finish promptly and still see the last element.
        std::string field;
        while (field.size() < (4u << 20)) field += "x;q=\"a\\\"b\",;;,, \t;p=\"\\,\", zz;q=1.0000,";
        field += ", gzip;q=0.3";
        AcceptEncoding ae;
        QElapsedTimer timer;
        timer.start();
        parseAcceptEncoding(field, ae);
        QVERIFY2(timer.elapsed() < 20000, "parsing took far too long");
        QCOMPARE(ae.gzip, 300);
    }

    void mediaTypes_data() {
        QTest::addColumn<QByteArray>("contentType");
        QTest::addColumn<bool>("matches");
        QTest::newRow("exact") << QByteArray("application/json") << true;
        QTest::newRow("parameters") << QByteArray("text/html; charset=utf-8") << true;
        QTest::newRow("parameters tight") << QByteArray("application/json;charset=utf-8") << true;
        QTest::newRow("case") << QByteArray("Text/HTML") << true;
        QTest::newRow("spaces") << QByteArray("  text/plain  ") << true;
        QTest::newRow("wildcard subtype") << QByteArray("text/event-stream") << true;
        QTest::newRow("svg") << QByteArray("image/svg+xml") << true;
        QTest::newRow("png") << QByteArray("image/png") << false;
        QTest::newRow("prefix is not a match") << QByteArray("application/jsonx") << false;
        QTest::newRow("type only") << QByteArray("text") << false;
        QTest::newRow("empty subtype") << QByteArray("text/") << false;
        QTest::newRow("empty type") << QByteArray("/html") << false;
        QTest::newRow("empty") << QByteArray("") << false;
        QTest::newRow("stray bytes") << QByteArray("text/html garbage") << false;
        QTest::newRow("two slashes") << QByteArray("text/html/x") << false;
        QTest::newRow("nul") << QByteArray("text/h\0tml", 10) << false;
        QTest::newRow("textual trickery") << QByteArray("texts/html") << false;
    }

    void mediaTypes() {
        QFETCH(QByteArray, contentType);
        QFETCH(bool, matches);
        const std::vector<std::string> patterns{"text/*", "application/json", "image/svg+xml"};
        const std::string_view value(contentType.constData(), static_cast<std::size_t>(contentType.size()));
        QCOMPARE(mediaTypeMatches(value, patterns), matches);
    }

    void anyTypePattern() {
        const std::vector<std::string> all{"*/*"};
        QVERIFY(mediaTypeMatches("image/png", all));
        QVERIFY(!mediaTypeMatches("image", all));
        const std::vector<std::string> none;
        QVERIFY(!mediaTypeMatches("text/html", none));
    }
};

QTEST_GUILESS_MAIN(AcceptEncodingTest)
#include "accept_encoding_test.moc"
