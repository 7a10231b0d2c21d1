// Tests for service/http/field_name.h: every well-known name in any case gets its id, and every
// near miss (one byte more or less, a changed byte, a byte that only differs in bit 0x20 without
// being a letter) stays Other. Also that HeaderList keeps ids and matches by them.
#include <QTest>

#include <string>

#include "http/field_name.h"
#include "http/message.h"

using namespace proxy::http;

namespace {

struct Known {
    const char* name;
    FieldName id;
};

constexpr Known kKnown[] = {
    {"Host", FieldName::Host},
    {"Content-Length", FieldName::ContentLength},
    {"Transfer-Encoding", FieldName::TransferEncoding},
    {"Connection", FieldName::Connection},
    {"Expect", FieldName::Expect},
    {"Upgrade", FieldName::Upgrade},
    {"Keep-Alive", FieldName::KeepAlive},
    {"Proxy-Connection", FieldName::ProxyConnection},
    {"TE", FieldName::Te},
    {"Trailer", FieldName::Trailer},
    {"Proxy-Authenticate", FieldName::ProxyAuthenticate},
    {"X-Request-Id", FieldName::XRequestId},
    {"X-Forwarded-For", FieldName::XForwardedFor},
    {"X-Forwarded-Proto", FieldName::XForwardedProto},
    {"X-Forwarded-Host", FieldName::XForwardedHost},
    {"Forwarded", FieldName::Forwarded},
    {"Via", FieldName::Via},
};

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    return s;
}
std::string upper(std::string s) {
    for (char& c : s)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c & ~0x20);
    return s;
}
// Alternates the case of letters, starting with the opposite of the first letter's.
std::string mixed(std::string s) {
    bool up = !(s[0] >= 'A' && s[0] <= 'Z');
    for (char& c : s) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
            c = static_cast<char>(up ? (c & ~0x20) : (c | 0x20));
            up = !up;
        }
    }
    return s;
}

}  // namespace

class FieldNameTest : public QObject {
    Q_OBJECT
  private slots:
    void everyKnownNameInEveryCase();
    void eachByteMatters();
    void lengthNearMisses();
    void nearMisses_data();
    void nearMisses();
    void idsAreDistinct();
    void headerListMatchesById();
    void headerListOtherNames();
};

void FieldNameTest::everyKnownNameInEveryCase() {
    QCOMPARE(std::size(kKnown), static_cast<std::size_t>(FieldName::Count_) - 1);
    for (const auto& k : kKnown) {
        const std::string n = k.name;
        for (const std::string& v : {n, lower(n), upper(n), mixed(n)}) {
            QVERIFY2(classifyFieldName(v) == k.id, v.c_str());
            QVERIFY2(Header(v, "x").id == k.id, v.c_str());
        }
    }
}

// Changing any single byte of a known name to anything but its other case gives Other: every
// byte of every name is compared, including the ones in the overlapping and middle words.
void FieldNameTest::eachByteMatters() {
    for (const auto& k : kKnown) {
        const std::string n = k.name;
        for (std::size_t i = 0; i < n.size(); ++i) {
            for (int b = 0; b < 256; ++b) {
                std::string v = n;
                v[i] = static_cast<char>(b);
                const bool sameLetter = (v[i] | 0x20) == (n[i] | 0x20) &&
                                        (n[i] | 0x20) >= 'a' && (n[i] | 0x20) <= 'z';
                const bool same = v[i] == n[i] || sameLetter;
                const FieldName want = same ? k.id : FieldName::Other;
                if (classifyFieldName(v) != want)
                    QFAIL(qPrintable(QStringLiteral("%1 with byte %2 = 0x%3")
                                         .arg(k.name)
                                         .arg(i)
                                         .arg(b, 2, 16, QLatin1Char('0'))));
            }
        }
    }
}

void FieldNameTest::lengthNearMisses() {
    for (const auto& k : kKnown) {
        const std::string n = k.name;
        for (const char* tail : {"x", " ", "\t", ":", "\r", std::string_view("\0", 1).data()}) {
            std::string longer = n;
            longer.push_back(tail[0]);
            QVERIFY2(classifyFieldName(longer) == FieldName::Other, longer.c_str());
            QVERIFY2(classifyFieldName(std::string(1, tail[0]) + n) == FieldName::Other,
                     longer.c_str());
        }
        QVERIFY2(classifyFieldName(std::string_view(n).substr(1)) == FieldName::Other, k.name);
        QVERIFY2(classifyFieldName(std::string_view(n).substr(0, n.size() - 1)) ==
                     FieldName::Other,
                 k.name);
    }
    QCOMPARE(classifyFieldName(""), FieldName::Other);
    QCOMPARE(classifyFieldName("T"), FieldName::Other);
}

void FieldNameTest::nearMisses_data() {
    QTest::addColumn<QByteArray>("name");
    QTest::newRow("Content-Lengthx") << QByteArray("Content-Lengthx");
    QTest::newRow("Connection + SP") << QByteArray("Connection ");
    QTest::newRow("SP + Connection") << QByteArray(" Connection");
    QTest::newRow("Connection + NUL") << QByteArray("Connection\0", 11);
    QTest::newRow("underscore for dash") << QByteArray("Content_Length");
    QTest::newRow("CR for dash") << QByteArray("content\rlength");  // 0x0d | 0x20 == '-'
    QTest::newRow("'^' is not '~'") << QByteArray("Keep^Alive");
    QTest::newRow("'@' is not '`'") << QByteArray("@ia");
    QTest::newRow("Transfer-Encodinf") << QByteArray("Transfer-Encodinf");
    QTest::newRow("middle word differs") << QByteArray("Transfer-Xncoding");
    QTest::newRow("Proxy-Authorization") << QByteArray("Proxy-Authorization");
    QTest::newRow("X-Forwarded-Port") << QByteArray("X-Forwarded-Port");
    QTest::newRow("Hos\\xd4 (high bit)") << QByteArray("Hos\xd4");
    QTest::newRow("\\xc8ost (high bit)") << QByteArray("\xc8ost");
}

void FieldNameTest::nearMisses() {
    QFETCH(QByteArray, name);
    QCOMPARE(classifyFieldName(std::string_view(name.constData(), static_cast<std::size_t>(
                                                                      name.size()))),
             FieldName::Other);
}

void FieldNameTest::idsAreDistinct() {
    std::uint32_t seen = 0;
    for (const auto& k : kKnown) {
        QVERIFY(k.id != FieldName::Other);
        QVERIFY((seen & fieldBit(k.id)) == 0);
        seen |= fieldBit(k.id);
    }
}

void FieldNameTest::headerListMatchesById() {
    HeaderList h;
    h.add("content-length", "5");
    h.add("X-Other", "a");
    h.add("CONTENT-LENGTH", "5", FieldName::ContentLength);
    QCOMPARE(h.fields()[0].id, FieldName::ContentLength);
    QCOMPARE(h.fields()[1].id, FieldName::Other);
    QCOMPARE(h.count("Content-Length"), std::size_t{2});
    QVERIFY(h.find("Content-Lengthx") == nullptr);
    h.set("Content-Length", "7");
    QCOMPARE(h.size(), std::size_t{2});
    QCOMPARE(h.fields()[0].value, std::string_view("7"));
    QCOMPARE(h.remove("content-LENGTH"), std::size_t{1});
    h.set("Via", "1.1 proxy");
    QCOMPARE(h.fields().back().id, FieldName::Via);
    QVERIFY(h.hasToken("VIA", "1.1 proxy"));
}

void FieldNameTest::headerListOtherNames() {
    HeaderList h;
    h.add("X-Custom", "1");
    h.add("x-custom", "2");
    h.add("X-Customs", "3");
    QCOMPARE(h.count("X-CUSTOM"), std::size_t{2});
    QCOMPARE(h.find("x-customs")->value, std::string_view("3"));
    QCOMPARE(h.remove("X-Custom"), std::size_t{2});
    QCOMPARE(h.size(), std::size_t{1});
}

QTEST_APPLESS_MAIN(FieldNameTest)
#include "field_name_test.moc"
