// Sticky-session cookies: SipHash-2-4 against the paper's vectors, tokens, Cookie parsing and the
// Set-Cookie value (balancing/sticky.cpp).
#include <QTest>

#include <set>

#include "balancing/sticky.h"

using namespace proxy;

class StickyTest : public QObject {
    Q_OBJECT

  private slots:
    void sipHashReferenceVectors() {
        // Key 00 01 .. 0f; messages 00 01 .. (n-1) (Aumasson and Bernstein, appendix A).
        const balancing::StickyKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
        std::string message;
        for (int i = 0; i < 15; ++i) message.push_back(static_cast<char>(i));
        QCOMPARE(balancing::sipHash24(key, {}), std::uint64_t(0x726fdb47dd0e0e31ull));
        QCOMPARE(balancing::sipHash24(key, message), std::uint64_t(0xa129ca6149be45e5ull));
        QCOMPARE(balancing::sipHash24(key, message.substr(0, 8)),
                 std::uint64_t(0x93f5f5799a932462ull));
    }

    void tokensHideTheAddressAndDependOnTheSecret() {
        const auto a = balancing::stickyKey("a secret of sixteen+");
        const auto b = balancing::stickyKey("another secret, long");
        const std::string t = balancing::stickyToken(a, "app", "10.0.0.1:8080");
        QCOMPARE(t.size(), std::size_t(16));
        QVERIFY(t.find_first_not_of("0123456789abcdef") == std::string::npos);
        QCOMPARE(balancing::stickyToken(a, "app", "10.0.0.1:8080"), t);  // stable
        QVERIFY(balancing::stickyToken(b, "app", "10.0.0.1:8080") != t);
        QVERIFY(balancing::stickyToken(a, "other", "10.0.0.1:8080") != t);
        std::set<std::string> distinct;
        for (int port = 1; port <= 500; ++port)
            distinct.insert(balancing::stickyToken(a, "app", "10.0.0.1:" + std::to_string(port)));
        QCOMPARE(distinct.size(), std::size_t(500));
        // Without a secret: one random key per process, the same on every call.
        QCOMPARE(balancing::stickyToken(balancing::stickyKey(""), "app", "s"),
                 balancing::stickyToken(balancing::stickyKey(""), "app", "s"));
    }

    void cookieValue_data() {
        QTest::addColumn<QStringList>("fields");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("value");  // "<none>" when absent
        QTest::newRow("only") << QStringList{"PROXYSRV=abc"} << "PROXYSRV"
                              << "abc";
        QTest::newRow("among others") << QStringList{"a=1; PROXYSRV=abc; b=2"} << "PROXYSRV"
                                      << "abc";
        QTest::newRow("spaces") << QStringList{"a=1 ;  PROXYSRV = abc  "} << "PROXYSRV"
                                << "abc";
        QTest::newRow("quoted") << QStringList{"PROXYSRV=\"abc\""} << "PROXYSRV"
                                << "abc";
        QTest::newRow("second field") << QStringList{"a=1", "PROXYSRV=x"} << "PROXYSRV"
                                      << "x";
        QTest::newRow("case matters") << QStringList{"proxysrv=abc"} << "PROXYSRV"
                                      << "<none>";
        QTest::newRow("prefix is not a match") << QStringList{"PROXYSRV2=abc"} << "PROXYSRV"
                                               << "<none>";
        QTest::newRow("no equals") << QStringList{"PROXYSRV"} << "PROXYSRV"
                                   << "<none>";
        QTest::newRow("empty value") << QStringList{"PROXYSRV="} << "PROXYSRV"
                                     << "";
        QTest::newRow("first wins") << QStringList{"PROXYSRV=1; PROXYSRV=2"} << "PROXYSRV"
                                    << "1";
        QTest::newRow("absent") << QStringList{} << "PROXYSRV"
                                << "<none>";
        QTest::newRow("junk") << QStringList{";;;=;=x;"} << "PROXYSRV"
                              << "<none>";
    }

    void cookieValue() {
        QFETCH(QStringList, fields);
        QFETCH(QString, name);
        QFETCH(QString, value);
        std::vector<std::string> storage;
        for (const auto& f : fields) storage.push_back(f.toStdString());
        http::HeaderList headers;
        headers.add("Accept", "*/*");
        for (const auto& f : storage) headers.add("cookie", f);  // field names are case-insensitive
        const auto found = balancing::cookieValue(headers, name.toStdString());
        QCOMPARE(found ? QString::fromStdString(std::string(*found)) : QString("<none>"), value);
    }

    void setCookie() {
        config::StickyCookie c;
        QCOMPARE(QString::fromStdString(balancing::setCookieValue(c, "0123456789abcdef")),
                 QString("PROXYSRV=0123456789abcdef; Path=/; HttpOnly; SameSite=Lax"));
        c.name = "srv";
        c.path = "/app";
        c.httpOnly = false;
        c.secure = true;
        c.sameSite = "None";
        c.maxAge = 3600;
        QCOMPARE(QString::fromStdString(balancing::setCookieValue(c, "t")),
                 QString("srv=t; Path=/app; Max-Age=3600; Secure; SameSite=None"));
        c.sameSite = "";
        QCOMPARE(QString::fromStdString(balancing::setCookieValue(c, "t")),
                 QString("srv=t; Path=/app; Max-Age=3600; Secure"));
    }
};

QTEST_GUILESS_MAIN(StickyTest)
#include "sticky_test.moc"
