// Tests for service/http/message.cpp: header list operations and the string arena.
#include <QTest>

#include <string>
#include <vector>

#include "http/message.h"

using namespace proxy::http;

class MessageTest : public QObject {
    Q_OBJECT
  private slots:
    void iequalsWorks_data();
    void iequalsWorks();
    void methodTokens();
    void findAndCount();
    void setReplacesAll();
    void setAppendsWhenAbsent();
    void removeAll();
    void hasToken_data();
    void hasToken();
    void arenaViewsStayValid();
    void arenaBigStrings();
    void arenaResetAndReuse();
    void headResetClearsEverything();
};

void MessageTest::iequalsWorks_data() {
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::addColumn<bool>("equal");
    QTest::newRow("same") << "Host"
                          << "Host" << true;
    QTest::newRow("case") << "content-LENGTH"
                          << "Content-Length" << true;
    QTest::newRow("length differs") << "Host"
                                    << "Hosts" << false;
    QTest::newRow("char differs") << "Host"
                                  << "Hust" << false;
    QTest::newRow("empty") << ""
                           << "" << true;
    QTest::newRow("non-letters not folded") << "a["
                                            << "A{" << false;
}

void MessageTest::iequalsWorks() {
    QFETCH(QString, a);
    QFETCH(QString, b);
    QFETCH(bool, equal);
    const auto sa = a.toStdString(), sb = b.toStdString();
    QCOMPARE(iequals(sa, sb), equal);
    QCOMPARE(iequals(sb, sa), equal);
}

void MessageTest::methodTokens() {
    QCOMPARE(methodFromToken("GET"), Method::Get);
    QCOMPARE(methodFromToken("HEAD"), Method::Head);
    QCOMPARE(methodFromToken("POST"), Method::Post);
    QCOMPARE(methodFromToken("PUT"), Method::Put);
    QCOMPARE(methodFromToken("DELETE"), Method::Delete);
    QCOMPARE(methodFromToken("OPTIONS"), Method::Options);
    QCOMPARE(methodFromToken("TRACE"), Method::Trace);
    QCOMPARE(methodFromToken("PATCH"), Method::Patch);
    QCOMPARE(methodFromToken("CONNECT"), Method::Connect);
    QCOMPARE(methodFromToken("get"), Method::Other);  // methods are case-sensitive
    QCOMPARE(methodFromToken("PROPFIND"), Method::Other);
    QCOMPARE(methodFromToken(""), Method::Other);
    for (auto m : {Method::Get, Method::Head, Method::Post, Method::Put, Method::Delete,
                   Method::Options, Method::Trace, Method::Patch, Method::Connect})
        QCOMPARE(methodFromToken(methodName(m)), m);
    QVERIFY(methodName(Method::Other).empty());
    QCOMPARE(versionText(Version::Http10), std::string_view("HTTP/1.0"));
    QCOMPARE(versionText(Version::Http11), std::string_view("HTTP/1.1"));
}

void MessageTest::findAndCount() {
    HeaderList h;
    h.add("Host", "a");
    h.add("Accept", "x");
    h.add("accept", "y");
    QVERIFY(h.find("ACCEPT") != nullptr);
    QCOMPARE(h.find("ACCEPT")->value, std::string_view("x"));
    QCOMPARE(h.count("Accept"), std::size_t(2));
    QCOMPARE(h.count("host"), std::size_t(1));
    QCOMPARE(h.count("Missing"), std::size_t(0));
    QVERIFY(h.find("Missing") == nullptr);
    QVERIFY(!h.has("Acce"));
    QVERIFY(h.has("HOST"));
}

void MessageTest::setReplacesAll() {
    HeaderList h;
    h.add("X-A", "1");
    h.add("Via", "a");
    h.add("x-a", "2");
    h.add("Other", "o");
    h.add("X-A", "3");
    h.set("x-A", "new");
    QCOMPARE(h.size(), std::size_t(3));
    QCOMPARE(h.count("X-A"), std::size_t(1));
    QCOMPARE(h.fields()[0].value, std::string_view("new"));  // keeps the first position
    QCOMPARE(h.fields()[1].name, std::string_view("Via"));
    QCOMPARE(h.fields()[2].name, std::string_view("Other"));
}

void MessageTest::setAppendsWhenAbsent() {
    HeaderList h;
    h.add("A", "1");
    h.set("B", "2");
    QCOMPARE(h.size(), std::size_t(2));
    QCOMPARE(h.fields()[1].name, std::string_view("B"));
    QCOMPARE(h.find("b")->value, std::string_view("2"));
}

void MessageTest::removeAll() {
    HeaderList h;
    h.add("Connection", "close");
    h.add("A", "1");
    h.add("connection", "x");
    QCOMPARE(h.remove("CONNECTION"), std::size_t(2));
    QCOMPARE(h.size(), std::size_t(1));
    QCOMPARE(h.fields()[0].name, std::string_view("A"));
    QCOMPARE(h.remove("Connection"), std::size_t(0));
    h.clear();
    QCOMPARE(h.size(), std::size_t(0));
}

void MessageTest::hasToken_data() {
    QTest::addColumn<QStringList>("values");
    QTest::addColumn<QString>("token");
    QTest::addColumn<bool>("expected");
    QTest::newRow("single") << QStringList{"close"} << "close" << true;
    QTest::newRow("case") << QStringList{"Keep-Alive"} << "keep-alive" << true;
    QTest::newRow("list with OWS") << QStringList{"foo , \tUpgrade\t, bar"} << "upgrade" << true;
    QTest::newRow("second field") << QStringList{"foo", "bar, close"} << "close" << true;
    QTest::newRow("substring is not a token") << QStringList{"closed, unclose"} << "close" << false;
    QTest::newRow("empty elements") << QStringList{",,, ,close,"} << "close" << true;
    QTest::newRow("absent") << QStringList{"keep-alive"} << "close" << false;
    QTest::newRow("no field") << QStringList{} << "close" << false;
}

void MessageTest::hasToken() {
    QFETCH(QStringList, values);
    QFETCH(QString, token);
    QFETCH(bool, expected);
    std::vector<std::string> storage;
    for (const auto& v : values) storage.push_back(v.toStdString());
    const auto t = token.toStdString();
    HeaderList h;
    h.add("Other", t);  // the token under another field name never counts
    for (const auto& v : storage) h.add("connection", v);
    QCOMPARE(h.hasToken("Connection", t), expected);
}

void MessageTest::arenaViewsStayValid() {
    StringArena arena;
    std::vector<std::string_view> views;
    std::vector<std::string> expected;
    for (int i = 0; i < 5000; ++i) {
        expected.push_back("value-" + std::to_string(i) +
                           std::string(static_cast<std::size_t>(i % 37), 'x'));
        views.push_back(arena.store(expected.back()));
    }
    for (std::size_t i = 0; i < views.size(); ++i) QCOMPARE(std::string(views[i]), expected[i]);
    QVERIFY(arena.store("").empty());
}

void MessageTest::arenaBigStrings() {
    StringArena arena;
    const auto small1 = arena.store("before");
    const std::string big(3 * 4096 + 17, 'B');
    const auto bigView = arena.store(big);
    const auto small2 = arena.store("after");
    const std::string exact(4096, 'E');
    const auto exactView = arena.store(exact);
    QCOMPARE(std::string(small1), std::string("before"));
    QCOMPARE(std::string(bigView), big);
    QCOMPARE(std::string(small2), std::string("after"));
    QCOMPARE(std::string(exactView), exact);
    QVERIFY(bigView.data() != big.data());  // copied, not aliased
}

void MessageTest::arenaResetAndReuse() {
    StringArena arena;
    for (int round = 0; round < 3; ++round) {
        std::vector<std::string_view> views;
        for (int i = 0; i < 300; ++i)
            views.push_back(arena.store("round" + std::to_string(round) + "-" + std::to_string(i)));
        for (int i = 0; i < 300; ++i)
            QCOMPARE(std::string(views[static_cast<std::size_t>(i)]),
                     "round" + std::to_string(round) + "-" + std::to_string(i));
        arena.reset();
    }
}

void MessageTest::headResetClearsEverything() {
    RequestHead r;
    r.method = Method::Post;
    r.target = "/x";
    r.headers.add("A", "b");
    r.host = r.arena.store("h");
    r.framing = BodyFraming::Chunked;
    r.contentLength = 4;
    r.keepAlive = false;
    r.expectContinue = true;
    r.upgrade = true;
    r.reset();
    QCOMPARE(r.method, Method::Get);
    QVERIFY(r.target.empty());
    QCOMPARE(r.headers.size(), std::size_t(0));
    QVERIFY(r.host.empty());
    QCOMPARE(r.framing, BodyFraming::None);
    QCOMPARE(r.contentLength, std::uint64_t(0));
    QVERIFY(r.keepAlive);
    QVERIFY(!r.expectContinue);
    QVERIFY(!r.upgrade);

    ResponseHead s;
    s.status = 404;
    s.reason = "Nope";
    s.headers.add("A", "b");
    s.framing = BodyFraming::UntilClose;
    s.keepAlive = false;
    s.reset();
    QCOMPARE(s.status, 200);
    QVERIFY(s.reason.empty());
    QCOMPARE(s.headers.size(), std::size_t(0));
    QCOMPARE(s.framing, BodyFraming::None);
    QVERIFY(s.keepAlive);
}

QTEST_APPLESS_MAIN(MessageTest)
#include "message_test.moc"
