// Address sets at the edges: /0, /32, /128, IPv4-mapped IPv6, merging, and bad ranges refused
// with a sentence (the validator passes the sentence on as a diagnostic).
#include <QTest>

#include "config/address.h"
#include "security/ip_set.h"

using proxy::config::Cidr;
using proxy::config::parseCidr;
using proxy::security::IpKey;
using proxy::security::IpSet;
using proxy::security::parseClientIp;

namespace {

IpSet setOf(std::initializer_list<const char*> texts) {
    std::vector<Cidr> list;
    for (const char* t : texts) {
        auto c = parseCidr(t);
        if (!c) qFatal("bad test range %s", t);
        list.push_back(*c);
    }
    return IpSet(list);
}

bool in(const IpSet& set, const char* address) {
    IpKey ip;
    if (!parseClientIp(address, ip)) qFatal("bad test address %s", address);
    return set.contains(ip);
}

}  // namespace

class IpSetTest : public QObject {
    Q_OBJECT
private slots:
    void edges_data() {
        QTest::addColumn<QString>("range");
        QTest::addColumn<QString>("address");
        QTest::addColumn<bool>("inside");
        QTest::newRow("v4 /0 first") << "0.0.0.0/0" << "0.0.0.0" << true;
        QTest::newRow("v4 /0 last") << "0.0.0.0/0" << "255.255.255.255" << true;
        QTest::newRow("v4 /0 excludes v6") << "0.0.0.0/0" << "2001:db8::1" << false;
        QTest::newRow("v6 /0 includes v6") << "::/0" << "2001:db8::1" << true;
        QTest::newRow("v6 /0 includes mapped v4") << "::/0" << "10.1.2.3" << true;
        QTest::newRow("/32 itself") << "203.0.113.7/32" << "203.0.113.7" << true;
        QTest::newRow("/32 neighbour below") << "203.0.113.7/32" << "203.0.113.6" << false;
        QTest::newRow("/32 neighbour above") << "203.0.113.7/32" << "203.0.113.8" << false;
        QTest::newRow("bare address = /32") << "203.0.113.7" << "203.0.113.7" << true;
        QTest::newRow("/8 first") << "10.0.0.0/8" << "10.0.0.0" << true;
        QTest::newRow("/8 last") << "10.0.0.0/8" << "10.255.255.255" << true;
        QTest::newRow("/8 just above") << "10.0.0.0/8" << "11.0.0.0" << false;
        QTest::newRow("/8 just below") << "10.0.0.0/8" << "9.255.255.255" << false;
        QTest::newRow("/128 itself") << "2001:db8::1/128" << "2001:db8::1" << true;
        QTest::newRow("/128 neighbour") << "2001:db8::1/128" << "2001:db8::2" << false;
        QTest::newRow("/64 boundary in") << "2001:db8:0:1::/64" << "2001:db8:0:1:ffff:ffff:ffff:ffff" << true;
        QTest::newRow("/64 boundary out") << "2001:db8:0:1::/64" << "2001:db8:0:2::" << false;
        QTest::newRow("/65 odd prefix") << "2001:db8::8000:0:0:0/65" << "2001:db8::7fff:ffff:ffff:ffff" << false;
        QTest::newRow("mapped v4 range, v4 client") << "::ffff:10.0.0.0/104" << "10.9.9.9" << true;
        QTest::newRow("v4 range, mapped client") << "10.0.0.0/8" << "::ffff:10.9.9.9" << true;
        QTest::newRow("v4 range, mapped client outside") << "10.0.0.0/8" << "::ffff:11.0.0.1" << false;
        QTest::newRow("compat-looking v6 is not v4") << "10.0.0.0/8" << "::10.9.9.9" << false;
    }
    void edges() {
        QFETCH(QString, range);
        QFETCH(QString, address);
        QFETCH(bool, inside);
        const QByteArray r = range.toUtf8(), a = address.toUtf8();
        QCOMPARE(in(setOf({r.constData()}), a.constData()), inside);
    }

    void badRanges_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("words");
        QTest::newRow("host bits set v4") << "10.0.0.1/8" << "10.0.0.0/8";
        QTest::newRow("host bits set v6") << "2001:db8::1/32" << "2001:db8:0:0:0:0:0:0/32";
        QTest::newRow("v4 prefix too long") << "10.0.0.0/33" << "/0 to /32";
        QTest::newRow("v6 prefix too long") << "::/129" << "/0 to /128";
        QTest::newRow("negative prefix") << "10.0.0.0/-1" << "prefix";
        QTest::newRow("empty prefix") << "10.0.0.0/" << "prefix";
        QTest::newRow("prefix with junk") << "10.0.0.0/8x" << "prefix";
        QTest::newRow("huge prefix") << "10.0.0.0/99999999999" << "prefix";
        QTest::newRow("not an address") << "example.com/8" << "IPv4";
        QTest::newRow("octet too big") << "256.0.0.0/8" << "IPv4";
        QTest::newRow("empty") << "" << "IPv4";
        QTest::newRow("zone id") << "fe80::1%eth0/64" << "";
    }
    void badRanges() {
        QFETCH(QString, text);
        QFETCH(QString, words);
        std::string why;
        const auto parsed = parseCidr(text.toStdString(), &why);
        QVERIFY2(!parsed, qPrintable(text));
        QVERIFY(!why.empty());
        QVERIFY2(QString::fromStdString(why).contains(words), why.c_str());
    }

    void mergesOverlapsAndNeighbours() {
        const IpSet set = setOf({"10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "192.168.0.0/24",
                                 "192.168.1.0/24", "::/0"});
        // 10/9 + 10.128/9 = 10/8; 10.1/16 inside it; the two /24s touch; ::/0 covers the rest.
        QCOMPARE(set.rangeCount(), std::size_t{1});
        const IpSet v4 = setOf({"10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "192.168.0.0/24", "192.168.1.0/24"});
        QCOMPARE(v4.rangeCount(), std::size_t{2});
        QVERIFY(in(v4, "10.200.0.1"));
        QVERIFY(in(v4, "192.168.1.255"));
        QVERIFY(!in(v4, "192.168.2.0"));
        QVERIFY(!IpSet().contains(IpKey{}));
    }

    void hundredThousandRanges() {
        // 100,000 separate /32s: every member found, every gap missed, by binary search.
        std::vector<Cidr> list;
        for (int i = 0; i < 100000; ++i) {
            const std::string text = "10." + std::to_string((i * 2) >> 16) + "." +
                                     std::to_string(((i * 2) >> 8) & 255) + "." + std::to_string((i * 2) & 255);
            list.push_back(*parseCidr(text));
        }
        const IpSet set(list);
        QCOMPARE(set.rangeCount(), std::size_t{100000});
        for (int i = 0; i < 100000; i += 997) {
            const int n = i * 2;
            const std::string member = "10." + std::to_string(n >> 16) + "." + std::to_string((n >> 8) & 255) + "." +
                                       std::to_string(n & 255);
            const std::string gap = "10." + std::to_string((n + 1) >> 16) + "." + std::to_string(((n + 1) >> 8) & 255) +
                                    "." + std::to_string((n + 1) & 255);
            QVERIFY2(in(set, member.c_str()), member.c_str());
            QVERIFY2(!in(set, gap.c_str()), gap.c_str());
        }
    }

    void clientAddressParsing() {
        IpKey ip;
        QVERIFY(parseClientIp("127.0.0.1", ip));
        QVERIFY(parseClientIp("::1", ip));
        QVERIFY(!parseClientIp("", ip));
        QVERIFY(!parseClientIp("1.2.3", ip));
        QVERIFY(!parseClientIp("[::1]", ip));
        QVERIFY(!parseClientIp("1.2.3.4:80", ip));
        QVERIFY(!parseClientIp(std::string(5000, '1'), ip));
        QVERIFY(!parseClientIp(std::string_view("1.2.3.4\0", 8), ip));
    }
};

QTEST_GUILESS_MAIN(IpSetTest)
#include "ip_set_test.moc"
