// Tests for service/http/h1_writer.cpp: exact bytes, and parse(write(head)) round trips.
#include <QTest>

#include <string>

#include "http/h1_parser.h"
#include "http/h1_writer.h"

using namespace proxy::http;

class H1WriterTest : public QObject {
    Q_OBJECT
  private slots:
    void requestHead();
    void requestHeadFromEnumMethod();
    void responseHead_data();
    void responseHead();
    void reasonPhrases();
    void chunkHeader_data();
    void chunkHeader();
    void appendsWithoutReallocating();
    void requestRoundTrip();
    void responseRoundTrip();
};

void H1WriterTest::requestHead() {
    RequestHead h;
    h.methodText = "PATCH";
    h.method = Method::Patch;
    h.target = "/a?b=c";
    h.version = Version::Http10;  // always written as 1.1
    h.headers.add("Host", "example.com");
    h.headers.add("X-Empty", "");
    std::string out = "prefix|";
    writeRequestHead(h, out);
    QCOMPARE(out,
             std::string("prefix|PATCH /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-Empty: \r\n\r\n"));
}

void H1WriterTest::requestHeadFromEnumMethod() {
    RequestHead h;
    h.method = Method::Delete;
    h.target = "/x";
    std::string out;
    writeRequestHead(h, out);
    QCOMPARE(out, std::string("DELETE /x HTTP/1.1\r\n\r\n"));
}

void H1WriterTest::responseHead_data() {
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("reason");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("given reason") << 200 << QByteArray("Fine")
                                  << QByteArray("HTTP/1.1 200 Fine\r\nA: b\r\n\r\n");
    QTest::newRow("standard reason")
        << 404 << QByteArray() << QByteArray("HTTP/1.1 404 Not Found\r\nA: b\r\n\r\n");
    QTest::newRow("unknown status")
        << 299 << QByteArray() << QByteArray("HTTP/1.1 299 \r\nA: b\r\n\r\n");
    QTest::newRow("100") << 100 << QByteArray()
                         << QByteArray("HTTP/1.1 100 Continue\r\nA: b\r\n\r\n");
    QTest::newRow("out of range clamps")
        << 42 << QByteArray() << QByteArray("HTTP/1.1 500 \r\nA: b\r\n\r\n");
}

void H1WriterTest::responseHead() {
    QFETCH(int, status);
    QFETCH(QByteArray, reason);
    QFETCH(QByteArray, expected);
    ResponseHead h;
    h.status = status;
    const std::string r = reason.toStdString();
    h.reason = r;
    h.headers.add("A", "b");
    std::string out;
    writeResponseHead(h, out);
    QCOMPARE(QByteArray::fromStdString(out), expected);
}

void H1WriterTest::reasonPhrases() {
    QCOMPARE(reasonPhrase(200), std::string_view("OK"));
    QCOMPARE(reasonPhrase(400), std::string_view("Bad Request"));
    QCOMPARE(reasonPhrase(414), std::string_view("URI Too Long"));
    QCOMPARE(reasonPhrase(417), std::string_view("Expectation Failed"));
    QCOMPARE(reasonPhrase(431), std::string_view("Request Header Fields Too Large"));
    QCOMPARE(reasonPhrase(501), std::string_view("Not Implemented"));
    QCOMPARE(reasonPhrase(502), std::string_view("Bad Gateway"));
    QCOMPARE(reasonPhrase(505), std::string_view("HTTP Version Not Supported"));
    QVERIFY(reasonPhrase(299).empty());
    QVERIFY(reasonPhrase(-1).empty());
}

void H1WriterTest::chunkHeader_data() {
    QTest::addColumn<qulonglong>("n");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("0") << 0ull << QByteArray("0\r\n");
    QTest::newRow("1") << 1ull << QByteArray("1\r\n");
    QTest::newRow("15") << 15ull << QByteArray("f\r\n");
    QTest::newRow("16") << 16ull << QByteArray("10\r\n");
    QTest::newRow("4096") << 4096ull << QByteArray("1000\r\n");
    QTest::newRow("max") << qulonglong(SIZE_MAX) << QByteArray("ffffffffffffffff\r\n");
}

void H1WriterTest::chunkHeader() {
    QFETCH(qulonglong, n);
    QFETCH(QByteArray, expected);
    std::string out = "x";
    writeChunkHeader(static_cast<std::size_t>(n), out);
    QCOMPARE(QByteArray::fromStdString(out), "x" + expected);
    // What we write, our own decoder reads.
    if (n > 0 && n < 100) {
        std::string chunked;
        writeChunkHeader(static_cast<std::size_t>(n), chunked);
        chunked += std::string(static_cast<std::size_t>(n), 'd') + "\r\n";
        chunked += kLastChunk;
        ChunkedDecoder d;
        std::size_t pos = 0;
        std::string body;
        while (!d.done()) {
            const auto step = d.decode(std::span<const char>(chunked).subspan(pos));
            QVERIFY(step.status != ParseStatus::Error);
            QVERIFY(step.consumed > 0 || d.done());
            body.append(step.data);
            pos += step.consumed;
        }
        QCOMPARE(body, std::string(static_cast<std::size_t>(n), 'd'));
        QCOMPARE(pos, chunked.size());
    }
}

void H1WriterTest::appendsWithoutReallocating() {
    RequestHead h;
    h.methodText = "GET";
    h.target = "/";
    for (int i = 0; i < 20; ++i) h.headers.add("X-Header-Name", "some value of moderate length");
    std::string out;
    out.reserve(4096);
    const char* before = out.data();
    writeRequestHead(h, out);
    ResponseHead r;
    r.headers = h.headers;
    writeResponseHead(r, out);
    writeChunkHeader(12345, out);
    out += kLastChunk;
    QCOMPARE(static_cast<const void*>(out.data()), static_cast<const void*>(before));
    QVERIFY(out.size() > 1000);
}

void H1WriterTest::requestRoundTrip() {
    const std::string wire =
        "POST /upload?id=7 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 11\r\n"
        "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n";
    RequestHead parsed;
    auto r = parseRequestHead(std::span<const char>(wire), H1Limits{}, parsed);
    QCOMPARE(r.status, ParseStatus::Complete);
    std::string out;
    writeRequestHead(parsed, out);
    QCOMPARE(out, wire);
    RequestHead again;
    r = parseRequestHead(std::span<const char>(out), H1Limits{}, again);
    QCOMPARE(r.status, ParseStatus::Complete);
    QCOMPARE(again.method, Method::Post);
    QCOMPARE(again.path, std::string_view("/upload"));
    QCOMPARE(again.query, std::string_view("id=7"));
    QCOMPARE(again.host, std::string_view("example.com:8080"));
    QCOMPARE(again.contentLength, std::uint64_t(11));
    QCOMPARE(again.framing, BodyFraming::ContentLength);
    QVERIFY(again.upgrade);
    QCOMPARE(again.headers.size(), parsed.headers.size());
    for (std::size_t i = 0; i < again.headers.size(); ++i) {
        QCOMPARE(again.headers.fields()[i].name, parsed.headers.fields()[i].name);
        QCOMPARE(again.headers.fields()[i].value, parsed.headers.fields()[i].value);
    }
}

void H1WriterTest::responseRoundTrip() {
    ResponseHead h;
    h.status = 304;
    h.headers.add("ETag", "\"abc\"");
    h.headers.add("Content-Length", "10");
    std::string out;
    writeResponseHead(h, out);
    ResponseHead parsed;
    const auto r = parseResponseHead(std::span<const char>(out), H1Limits{}, Method::Get, parsed);
    QCOMPARE(r.status, ParseStatus::Complete);
    QCOMPARE(r.consumed, out.size());
    QCOMPARE(parsed.status, 304);
    QCOMPARE(parsed.reason, std::string_view("Not Modified"));
    QCOMPARE(parsed.framing, BodyFraming::None);
    QCOMPARE(parsed.contentLength, std::uint64_t(10));
    QCOMPARE(parsed.headers.find("etag")->value, std::string_view("\"abc\""));
}

QTEST_APPLESS_MAIN(H1WriterTest)
#include "h1_writer_test.moc"
