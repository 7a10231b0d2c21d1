// Tests for service/http/h1_parser.cpp: every strictness rule is a table row.
#include <QTest>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "http/h1_parser.h"

using namespace proxy::http;
using namespace std::literals;

namespace {

QByteArray B(std::string_view s) {
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

std::span<const char> spanOf(const QByteArray& a) {
    return {a.constData(), static_cast<std::size_t>(a.size())};
}

QByteArray sv2ba(std::string_view s) {
    return B(s);
}

constexpr int kComplete = 0;
constexpr int kNeedMore = 1;
constexpr int kError = 2;

int outcome(ParseStatus s) {
    switch (s) {
        case ParseStatus::Complete:
            return kComplete;
        case ParseStatus::NeedMore:
            return kNeedMore;
        case ParseStatus::Error:
            return kError;
    }
    return -1;
}

// A simple request with extra header lines (each given without its CRLF).
QByteArray req(std::string_view requestLine, std::initializer_list<std::string_view> fields) {
    std::string s(requestLine);
    s += "\r\n";
    for (auto f : fields) {
        s += f;
        s += "\r\n";
    }
    s += "\r\n";
    return B(s);
}

QByteArray get11(std::initializer_list<std::string_view> fields) {
    return req("GET / HTTP/1.1", fields);
}

struct ChunkRun {
    int outcome = kNeedMore;
    std::string body;
    std::size_t errorOffset = 0;  // absolute, in the whole input
    std::size_t consumed = 0;     // total bytes consumed
};

// Feeds `input` to a fresh decoder, making only [pos, limit) visible per call, where limit moves
// to the next cut when the decoder has consumed everything visible. Each call gets its own copy of
// the visible bytes so that a read past the span is caught by ASan.
ChunkRun runChunked(const QByteArray& input, std::vector<std::size_t> cuts,
                    std::size_t maxTrailer) {
    ChunkRun run;
    ChunkedDecoder d(maxTrailer);
    cuts.push_back(static_cast<std::size_t>(input.size()));
    std::size_t pos = 0;
    std::size_t cutIndex = 0;
    std::size_t limit = cuts[0];
    for (int guard = 0; guard < 1000000; ++guard) {
        std::vector<char> visible(input.constData() + pos, input.constData() + limit);
        const auto step = d.decode(std::span<const char>(visible.data(), visible.size()));
        if (!step.data.empty()) {
            // data must be a view into what we handed over
            if (step.data.data() < visible.data() ||
                step.data.data() + step.data.size() > visible.data() + visible.size()) {
                run.outcome = -1;
                return run;
            }
            run.body.append(step.data);
        }
        if (step.status == ParseStatus::Error) {
            run.outcome = kError;
            run.errorOffset = pos + step.error.offset;
            run.consumed = pos + step.consumed;
            return run;
        }
        pos += step.consumed;
        if (step.status == ParseStatus::Complete) {
            run.outcome = kComplete;
            run.consumed = pos;
            return run;
        }
        if (pos == limit) {
            if (limit == static_cast<std::size_t>(input.size())) break;
            while (cuts[cutIndex] <= limit) ++cutIndex;
            limit = cuts[cutIndex];
        } else if (step.data.empty()) {
            run.outcome = -2;  // broke the contract: stopped early without producing data
            return run;
        }
    }
    run.outcome = kNeedMore;
    run.consumed = pos;
    return run;
}

}  // namespace

class H1ParserTest : public QObject {
    Q_OBJECT
  private slots:
    void validRequest_data();
    void validRequest();
    void invalidRequest_data();
    void invalidRequest();
    void prefixesAgree_data();
    void prefixesAgree();
    void pipelined();
    void duplicateContentLengthCollapsed();
    void requestLineLimit_data();
    void requestLineLimit();
    void requestLineLimitReportedEarly();
    void headBytesLimit_data();
    void headBytesLimit();
    void headerCountLimit_data();
    void headerCountLimit();
    void reparseReusesHead();

    void validResponse_data();
    void validResponse();
    void invalidResponse_data();
    void invalidResponse();
    void interimResponseThenFinal();

    void chunked_data();
    void chunked();
    void chunkedSplits_data();
    void chunkedSplits();
    void chunkedLeavesTail();
    void chunkedStaysFailed();
};

// --- requests ----------------------------------------------------------------------------------

void H1ParserTest::validRequest_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<QByteArray>("query");
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<bool>("http10");
    QTest::addColumn<int>("framing");
    QTest::addColumn<qulonglong>("contentLength");
    QTest::addColumn<bool>("keepAlive");
    QTest::addColumn<bool>("expectContinue");
    QTest::addColumn<bool>("upgrade");

    const int none = int(BodyFraming::None), cl = int(BodyFraming::ContentLength),
              chunked = int(BodyFraming::Chunked);
    auto row = [](const char* name) { return &QTest::newRow(name); };
    (void)row;

    QTest::newRow("simple") << get11({"Host: example.com"}) << QByteArray("GET") << QByteArray("/")
                            << QByteArray() << QByteArray("example.com") << false << none << 0ull
                            << true << false << false;
    QTest::newRow("query") << req("GET /a/b?x=1&y=2 HTTP/1.1", {"Host: h"}) << QByteArray("GET")
                           << QByteArray("/a/b") << QByteArray("x=1&y=2") << QByteArray("h")
                           << false << none << 0ull << true << false << false;
    QTest::newRow("empty query") << req("GET /a? HTTP/1.1", {"Host: h"}) << QByteArray("GET")
                                 << QByteArray("/a") << QByteArray() << QByteArray("h") << false
                                 << none << 0ull << true << false << false;
    QTest::newRow("lenient target chars")
        << req("GET /a{b}|c^ HTTP/1.1", {"Host: h"}) << QByteArray("GET") << QByteArray("/a{b}|c^")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("1.0 without host")
        << req("GET / HTTP/1.0", {}) << QByteArray("GET") << QByteArray("/") << QByteArray()
        << QByteArray() << true << none << 0ull << false << false << false;
    QTest::newRow("1.0 keep-alive")
        << req("GET / HTTP/1.0", {"Connection: Keep-Alive"}) << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray() << true << none << 0ull << true << false << false;
    QTest::newRow("1.0 keep-alive and close")
        << req("GET / HTTP/1.0", {"Connection: keep-alive, close"}) << QByteArray("GET")
        << QByteArray("/") << QByteArray() << QByteArray() << true << none << 0ull << false << false
        << false;
    QTest::newRow("1.1 close") << get11({"Host: h", "Connection: close"}) << QByteArray("GET")
                               << QByteArray("/") << QByteArray() << QByteArray("h") << false
                               << none << 0ull << false << false << false;
    QTest::newRow("1.1 close in list")
        << get11({"Host: h", "Connection: foo ,\tCLOSE"}) << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray("h") << false << none << 0ull << false << false << false;
    QTest::newRow("1.1 close in second field")
        << get11({"Host: h", "Connection: te", "Connection: close"}) << QByteArray("GET")
        << QByteArray("/") << QByteArray() << QByteArray("h") << false << none << 0ull << false
        << false << false;
    QTest::newRow("content-length")
        << req("POST /up HTTP/1.1", {"Host: h", "Content-Length: 5"}) << QByteArray("POST")
        << QByteArray("/up") << QByteArray() << QByteArray("h") << false << cl << 5ull << true
        << false << false;
    QTest::newRow("content-length 0")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 0"}) << QByteArray("POST")
        << QByteArray("/") << QByteArray() << QByteArray("h") << false << none << 0ull << true
        << false << false;
    QTest::newRow("content-length list same")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 5, 5"}) << QByteArray("POST")
        << QByteArray("/") << QByteArray() << QByteArray("h") << false << cl << 5ull << true
        << false << false;
    QTest::newRow("content-length fields same")
        << req("POST / HTTP/1.1", {"Content-Length: 5", "Host: h", "content-length: 5"})
        << QByteArray("POST") << QByteArray("/") << QByteArray() << QByteArray("h") << false << cl
        << 5ull << true << false << false;
    QTest::newRow("content-length leading zeros")
        << req("PUT / HTTP/1.1", {"Host: h", "Content-Length: 007"}) << QByteArray("PUT")
        << QByteArray("/") << QByteArray() << QByteArray("h") << false << cl << 7ull << true
        << false << false;
    QTest::newRow("content-length max")
        << req("PUT / HTTP/1.1", {"Host: h", "Content-Length: 9223372036854775807"})
        << QByteArray("PUT") << QByteArray("/") << QByteArray() << QByteArray("h") << false << cl
        << 9223372036854775807ull << true << false << false;
    QTest::newRow("content-length ows")
        << req("PUT / HTTP/1.1", {"Host: h", "Content-Length: \t12 \t"}) << QByteArray("PUT")
        << QByteArray("/") << QByteArray() << QByteArray("h") << false << cl << 12ull << true
        << false << false;
    QTest::newRow("chunked") << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: chunked"})
                             << QByteArray("POST") << QByteArray("/") << QByteArray()
                             << QByteArray("h") << false << chunked << 0ull << true << false
                             << false;
    QTest::newRow("chunked case and ows")
        << req("POST / HTTP/1.1", {"Host: h", "transfer-encoding:  Chunked "}) << QByteArray("POST")
        << QByteArray("/") << QByteArray() << QByteArray("h") << false << chunked << 0ull << true
        << false << false;
    QTest::newRow("chunked empty list elements")
        << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: , chunked,"})
        << QByteArray("POST") << QByteArray("/") << QByteArray() << QByteArray("h") << false
        << chunked << 0ull << true << false << false;
    QTest::newRow("expect 100-continue")
        << req("PUT / HTTP/1.1", {"Host: h", "Expect: 100-Continue", "Content-Length: 3"})
        << QByteArray("PUT") << QByteArray("/") << QByteArray() << QByteArray("h") << false << cl
        << 3ull << true << true << false;
    QTest::newRow("expect ignored on 1.0")
        << req("PUT / HTTP/1.0", {"Expect: 100-continue", "Content-Length: 3"}) << QByteArray("PUT")
        << QByteArray("/") << QByteArray() << QByteArray() << true << cl << 3ull << false << false
        << false;
    QTest::newRow("upgrade") << get11({"Host: h", "Connection: Upgrade", "Upgrade: websocket"})
                             << QByteArray("GET") << QByteArray("/") << QByteArray()
                             << QByteArray("h") << false << none << 0ull << true << false << true;
    QTest::newRow("upgrade in list")
        << get11({"Host: h", "Upgrade: h2c", "Connection: keep-alive, upgrade"})
        << QByteArray("GET") << QByteArray("/") << QByteArray() << QByteArray("h") << false << none
        << 0ull << true << false << true;
    QTest::newRow("upgrade token without header")
        << get11({"Host: h", "Connection: upgrade"}) << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("upgrade header without token")
        << get11({"Host: h", "Upgrade: websocket"}) << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("upgrade ignored on 1.0")
        << req("GET / HTTP/1.0", {"Connection: upgrade", "Upgrade: websocket"}) << QByteArray("GET")
        << QByteArray("/") << QByteArray() << QByteArray() << true << none << 0ull << false << false
        << false;
    QTest::newRow("absolute-form")
        << req("GET http://example.com/p?q=1 HTTP/1.1", {"Host: other"}) << QByteArray("GET")
        << QByteArray("/p") << QByteArray("q=1") << QByteArray("example.com") << false << none
        << 0ull << true << false << false;
    QTest::newRow("absolute-form https port no path")
        << req("GET HTTPS://Ex.com:8443 HTTP/1.1", {"Host: x"}) << QByteArray("GET")
        << QByteArray("/") << QByteArray() << QByteArray("Ex.com:8443") << false << none << 0ull
        << true << false << false;
    QTest::newRow("absolute-form query no path")
        << req("GET http://h?x HTTP/1.1", {"Host: h"}) << QByteArray("GET") << QByteArray("/")
        << QByteArray("x") << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("absolute-form 1.0 no host")
        << req("GET http://h:81/x HTTP/1.0", {}) << QByteArray("GET") << QByteArray("/x")
        << QByteArray() << QByteArray("h:81") << true << none << 0ull << false << false << false;
    QTest::newRow("options asterisk")
        << req("OPTIONS * HTTP/1.1", {"Host: h"}) << QByteArray("OPTIONS") << QByteArray("*")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("one leading CRLF")
        << B("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("two leading CRLF")
        << B("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("extension method")
        << req("PROPFIND /dav HTTP/1.1", {"Host: h"}) << QByteArray("PROPFIND")
        << QByteArray("/dav") << QByteArray() << QByteArray("h") << false << none << 0ull << true
        << false << false;
    QTest::newRow("value trimmed") << get11({"Host:  \texample.com \t "}) << QByteArray("GET")
                                   << QByteArray("/") << QByteArray() << QByteArray("example.com")
                                   << false << none << 0ull << true << false << false;
    QTest::newRow("no space after colon")
        << get11({"Host:example.com"}) << QByteArray("GET") << QByteArray("/") << QByteArray()
        << QByteArray("example.com") << false << none << 0ull << true << false << false;
    QTest::newRow("tab and obs-text in value")
        << get11({"Host: h", "X-A: a\tb\xc3\xa9\xff z"}) << QByteArray("GET") << QByteArray("/")
        << QByteArray() << QByteArray("h") << false << none << 0ull << true << false << false;
    QTest::newRow("empty value") << get11({"X-Empty:", "Host: h", "X-Sp:   "}) << QByteArray("GET")
                                 << QByteArray("/") << QByteArray() << QByteArray("h") << false
                                 << none << 0ull << true << false << false;
    QTest::newRow("host port") << get11({"Host: h.example:8080"}) << QByteArray("GET")
                               << QByteArray("/") << QByteArray() << QByteArray("h.example:8080")
                               << false << none << 0ull << true << false << false;
    QTest::newRow("host ipv6") << get11({"Host: [::1]:443"}) << QByteArray("GET") << QByteArray("/")
                               << QByteArray() << QByteArray("[::1]:443") << false << none << 0ull
                               << true << false << false;
    QTest::newRow("host ipv4") << get11({"Host: 10.0.0.1"}) << QByteArray("GET") << QByteArray("/")
                               << QByteArray() << QByteArray("10.0.0.1") << false << none << 0ull
                               << true << false << false;
    QTest::newRow("host pct-encoded")
        << get11({"Host: a%2Db"}) << QByteArray("GET") << QByteArray("/") << QByteArray()
        << QByteArray("a%2Db") << false << none << 0ull << true << false << false;
    QTest::newRow("long values (simd path)")
        << get11({"Host: h",
                  "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
                  "like Gecko) Chrome/120.0.0.0 Safari/537.36"})
        << QByteArray("GET") << QByteArray("/") << QByteArray() << QByteArray("h") << false << none
        << 0ull << true << false << false;
}

void H1ParserTest::validRequest() {
    QFETCH(QByteArray, input);
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, path);
    QFETCH(QByteArray, query);
    QFETCH(QByteArray, host);
    QFETCH(bool, http10);
    QFETCH(int, framing);
    QFETCH(qulonglong, contentLength);
    QFETCH(bool, keepAlive);
    QFETCH(bool, expectContinue);
    QFETCH(bool, upgrade);

    RequestHead h;
    const auto r = parseRequestHead(spanOf(input), H1Limits{}, h);
    QCOMPARE(outcome(r.status), kComplete);
    QCOMPARE(r.consumed, static_cast<std::size_t>(input.size()));
    QCOMPARE(sv2ba(h.methodText), method);
    QCOMPARE(h.method, methodFromToken(h.methodText));
    QCOMPARE(sv2ba(h.path), path);
    QCOMPARE(sv2ba(h.query), query);
    QCOMPARE(sv2ba(h.host), host);
    QCOMPARE(h.version == Version::Http10, http10);
    QCOMPARE(int(h.framing), framing);
    QCOMPARE(h.contentLength, static_cast<std::uint64_t>(contentLength));
    QCOMPARE(h.keepAlive, keepAlive);
    QCOMPARE(h.expectContinue, expectContinue);
    QCOMPARE(h.upgrade, upgrade);
    // Views point into the input.
    QVERIFY(h.target.data() >= input.constData() &&
            h.target.data() + h.target.size() <= input.constData() + input.size());
}

void H1ParserTest::invalidRequest_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("offset");  // -1: not checked

    // framing
    QTest::newRow("CL and TE") << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 5",
                                                          "Transfer-Encoding: chunked"})
                               << 400 << 45;
    QTest::newRow("TE and CL") << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: chunked",
                                                          "Content-Length: 5"})
                               << 400 << 26;
    QTest::newRow("CL different list")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 5, 6"}) << 400 << 42;
    QTest::newRow("CL different fields")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 5", "Content-Length: 6"}) << 400
        << 61;
    QTest::newRow("CL plus sign") << req("POST / HTTP/1.1", {"Host: h", "Content-Length: +5"})
                                  << 400 << 42;
    QTest::newRow("CL minus sign")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: -5"}) << 400 << -1;
    QTest::newRow("CL inner space")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 1 2"}) << 400 << -1;
    QTest::newRow("CL hex") << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 0x5"}) << 400
                            << -1;
    QTest::newRow("CL empty") << req("POST / HTTP/1.1", {"Host: h", "Content-Length:"}) << 400
                              << -1;
    QTest::newRow("CL blank") << req("POST / HTTP/1.1", {"Host: h", "Content-Length:   "}) << 400
                              << -1;
    QTest::newRow("CL empty element")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 5,"}) << 400 << -1;
    QTest::newRow("CL overflow 2^63")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 9223372036854775808"}) << 400 << -1;
    QTest::newRow("CL 19 nines (> 2^63-1, < 2^64)")
        << req("POST / HTTP/1.1", {"Host: h", "Content-Length: 9999999999999999999"}) << 400 << -1;
    QTest::newRow("CL 2^64 - 1") << req("POST / HTTP/1.1",
                                        {"Host: h", "Content-Length: 18446744073709551615"})
                                 << 400 << -1;
    QTest::newRow("CL 20 digits") << req("POST / HTTP/1.1",
                                         {"Host: h", "Content-Length: 00000000000000000001"})
                                  << 400 << -1;
    QTest::newRow("CL huge") << req("POST / HTTP/1.1",
                                    {"Host: h", "Content-Length: 99999999999999999999999"})
                             << 400 << -1;
    QTest::newRow("TE gzip") << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: gzip"})
                             << 501 << 45;
    QTest::newRow("TE chunked, gzip")
        << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: chunked, gzip"}) << 501 << -1;
    QTest::newRow("TE identity") << req("POST / HTTP/1.1",
                                        {"Host: h", "Transfer-Encoding: identity"})
                                 << 501 << -1;
    QTest::newRow("TE gzip, chunked")
        << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: gzip, chunked"}) << 501 << -1;
    QTest::newRow("TE gzip then chunked fields")
        << req("POST / HTTP/1.1",
               {"Host: h", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked"})
        << 501 << -1;
    QTest::newRow("TE chunked twice")
        << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: chunked, chunked"}) << 400 << -1;
    QTest::newRow("TE chunked two fields")
        << req("POST / HTTP/1.1",
               {"Host: h", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"})
        << 400 << -1;
    QTest::newRow("TE empty") << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding:"}) << 400
                              << -1;
    QTest::newRow("TE chunked with params")
        << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: chunked;q=1"}) << 400 << -1;
    QTest::newRow("TE not a token")
        << req("POST / HTTP/1.1", {"Host: h", "Transfer-Encoding: chu nked"}) << 400 << -1;
    QTest::newRow("TE on 1.0") << req("POST / HTTP/1.0", {"Transfer-Encoding: chunked"}) << 400
                               << 17;
    // field syntax
    QTest::newRow("obs-fold SP") << get11({"Host: h", "X-A: a", " b"}) << 400 << 33;
    QTest::newRow("obs-fold HTAB") << get11({"Host: h", "X-A: a", "\tb"}) << 400 << 33;
    QTest::newRow("leading space first field") << get11({" Host: h"}) << 400 << 16;
    QTest::newRow("space before colon") << get11({"Host : h"}) << 400 << 20;
    QTest::newRow("tab before colon") << get11({"Host\t: h"}) << 400 << 20;
    QTest::newRow("empty name") << get11({"Host: h", ": v"}) << 400 << 25;
    QTest::newRow("non-token in name") << get11({"Host: h", "X(a): v"}) << 400 << 26;
    QTest::newRow("no colon") << get11({"Host: h", "Garbage"}) << 400 << 32;
    QTest::newRow("CTL in name") << B("GET / HTTP/1.1\r\nHo\x01st: h\r\n\r\n") << 400 << 18;
    QTest::newRow("NUL in value") << B("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"sv) << 400
                                  << 29;
    QTest::newRow("CTL in value") << B("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
                                       "b\r\n\r\n")
                                  << 400 << 29;
    QTest::newRow("DEL in value") << B("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n") << 400
                                  << 29;
    QTest::newRow("CTL in long value")
        << B("GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789abcdef0123456789\x1b"
             "abcdef0123456789\r\n\r\n")
        << 400 << 54;
    QTest::newRow("bare LF in value line")
        << B("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n") << 400 << 23;
    QTest::newRow("bare CR in value") << B("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n") << 400 << 23;
    QTest::newRow("bare LF ends head") << B("GET / HTTP/1.1\r\nHost: h\r\n\n") << 400 << 25;
    QTest::newRow("bare CR ends head") << B("GET / HTTP/1.1\r\nHost: h\r\n\rx") << 400 << 25;
    QTest::newRow("bare LF request line") << B("GET / HTTP/1.1\nHost: h\r\n\r\n") << 400 << 14;
    QTest::newRow("bare CR request line") << B("GET / HTTP/1.1\rHost: h\r\n\r\n") << 400 << 14;
    QTest::newRow("LF only head") << B("GET / HTTP/1.1\n\n") << 400 << 14;
    // Host
    QTest::newRow("missing host") << get11({"Accept: */*"}) << 400 << -1;
    QTest::newRow("two hosts") << get11({"Host: a", "Host: a"}) << 400 << 25;
    QTest::newRow("two hosts 1.0") << req("GET / HTTP/1.0", {"Host: a", "host: b"}) << 400 << -1;
    QTest::newRow("host empty") << get11({"Host:"}) << 400 << -1;
    QTest::newRow("host with space") << get11({"Host: a b"}) << 400 << 22;
    QTest::newRow("host userinfo") << get11({"Host: u@h"}) << 400 << -1;
    QTest::newRow("host empty port") << get11({"Host: h:"}) << 400 << -1;
    QTest::newRow("host port too big") << get11({"Host: h:65536"}) << 400 << -1;
    QTest::newRow("host port not digits") << get11({"Host: h:8x"}) << 400 << -1;
    QTest::newRow("host unclosed ipv6") << get11({"Host: [::1"}) << 400 << -1;
    QTest::newRow("host bad pct") << get11({"Host: a%zz"}) << 400 << -1;
    QTest::newRow("host slash") << get11({"Host: a/b"}) << 400 << -1;
    QTest::newRow("host only port") << get11({"Host: :80"}) << 400 << -1;
    // request line
    QTest::newRow("bad method char") << req("G(T / HTTP/1.1", {"Host: h"}) << 400 << 1;
    QTest::newRow("leading space") << req(" GET / HTTP/1.1", {"Host: h"}) << 400 << 0;
    QTest::newRow("double space") << req("GET  / HTTP/1.1", {"Host: h"}) << 400 << 4;
    QTest::newRow("no version") << req("GET /", {"Host: h"}) << 400 << 5;
    QTest::newRow("only method") << req("GET", {"Host: h"}) << 400 << 3;
    QTest::newRow("HTTP/2.0") << req("GET / HTTP/2.0", {"Host: h"}) << 505 << 6;
    QTest::newRow("HTTP/1.2") << req("GET / HTTP/1.2", {"Host: h"}) << 505 << 6;
    QTest::newRow("HTTP/3") << req("GET / HTTP/3", {"Host: h"}) << 505 << 6;
    QTest::newRow("HTTP/0.9") << req("GET / HTTP/0.9", {"Host: h"}) << 505 << 6;
    QTest::newRow("HTTP/1") << req("GET / HTTP/1", {"Host: h"}) << 400 << 6;
    QTest::newRow("lowercase version") << req("GET / http/1.1", {"Host: h"}) << 400 << 6;
    QTest::newRow("HTTX") << req("GET / HTTX/1.1", {"Host: h"}) << 400 << 6;
    QTest::newRow("HTTP/1.10") << req("GET / HTTP/1.10", {"Host: h"}) << 400 << 6;
    QTest::newRow("trailing space") << req("GET / HTTP/1.1 ", {"Host: h"}) << 400 << 6;
    QTest::newRow("space in target") << req("GET /a b HTTP/1.1", {"Host: h"}) << 400 << 7;
    QTest::newRow("CONNECT") << req("CONNECT example.com:443 HTTP/1.1", {"Host: example.com:443"})
                             << 405 << 0;
    QTest::newRow("asterisk with GET") << req("GET * HTTP/1.1", {"Host: h"}) << 400 << 4;
    QTest::newRow("asterisk prefix") << req("OPTIONS *x HTTP/1.1", {"Host: h"}) << 400 << 8;
    QTest::newRow("relative target") << req("GET example.com/x HTTP/1.1", {"Host: h"}) << 400 << 4;
    QTest::newRow("ftp target") << req("GET ftp://h/x HTTP/1.1", {"Host: h"}) << 400 << 4;
    QTest::newRow("empty authority") << req("GET http:///x HTTP/1.1", {"Host: h"}) << 400 << 11;
    QTest::newRow("userinfo authority")
        << req("GET http://u@h/x HTTP/1.1", {"Host: h"}) << 400 << 11;
    QTest::newRow("fragment") << req("GET /a#b HTTP/1.1", {"Host: h"}) << 400 << 6;
    QTest::newRow("tab in target") << req("GET /a\tb HTTP/1.1", {"Host: h"}) << 400 << 6;
    QTest::newRow("DEL in target") << req("GET /a\x7f HTTP/1.1", {"Host: h"}) << 400 << 6;
    QTest::newRow("NUL in target") << B("GET /a\0 HTTP/1.1\r\nHost: h\r\n\r\n"sv) << 400 << 6;
    QTest::newRow("CTL in target") << req("GET /a\x01 HTTP/1.1", {"Host: h"}) << 400 << 6;
    QTest::newRow("non-ASCII in target") << req("GET /\xc3\xa9 HTTP/1.1", {"Host: h"}) << 400 << 5;
    QTest::newRow("three leading CRLF")
        << B("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") << 400 << 4;
    QTest::newRow("leading LF") << B("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n") << 400 << 0;
    QTest::newRow("leading bare CR") << B("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n") << 400 << 0;
    QTest::newRow("TLS handshake") << B("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") << 400 << 0;
    // Expect
    QTest::newRow("expect other") << get11({"Host: h", "Expect: something"}) << 417 << 33;
    QTest::newRow("expect second field bad")
        << get11({"Host: h", "Expect: 100-continue", "Expect: x"}) << 417 << -1;
}

void H1ParserTest::invalidRequest() {
    QFETCH(QByteArray, input);
    QFETCH(int, status);
    QFETCH(int, offset);
    RequestHead h;
    const auto r = parseRequestHead(spanOf(input), H1Limits{}, h);
    QCOMPARE(outcome(r.status), kError);
    QCOMPARE(r.error.status, status);
    QVERIFY(!r.error.reason.empty());
    QVERIFY(r.error.offset <= static_cast<std::size_t>(input.size()));
    if (qEnvironmentVariableIsSet("H1_SHOW_OFFSETS")) {
        qInfo("%s: %zu [%s]", QTest::currentDataTag(), r.error.offset,
              input.mid(static_cast<qsizetype>(r.error.offset), 12)
                  .toPercentEncoding(" :/,;")
                  .constData());
    }
    if (offset >= 0) QCOMPARE(r.error.offset, static_cast<std::size_t>(offset));
}

// Re-parsing every prefix gives NeedMore until the verdict, and that verdict never changes.
void H1ParserTest::prefixesAgree_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::newRow("valid") << get11(
        {"Host: example.com", "User-Agent: Mozilla/5.0 (X11; Linux x86_64)", "Accept: */*"});
    QTest::newRow("valid chunked")
        << req("POST /x?y HTTP/1.1", {"Host: h", "Transfer-Encoding: chunked"});
    QTest::newRow("leading CRLF") << B("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
    QTest::newRow("bad value") << B(
        "GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789abcdef\x01zz\r\n\r\n");
    QTest::newRow("CL+TE") << req("POST / HTTP/1.1",
                                  {"Host: h", "Content-Length: 5", "Transfer-Encoding: chunked"});
    QTest::newRow("505") << req("GET / HTTP/2.0", {"Host: h"});
    QTest::newRow("bare CR") << B("GET / HTTP/1.1\r\nHost: h\rX\r\n\r\n");
}

void H1ParserTest::prefixesAgree() {
    QFETCH(QByteArray, input);
    RequestHead full;
    const auto expected = parseRequestHead(spanOf(input), H1Limits{}, full);
    QVERIFY(expected.status != ParseStatus::NeedMore);
    bool decided = false;
    for (qsizetype n = 0; n <= input.size(); ++n) {
        const QByteArray prefix = input.left(n);  // own buffer: over-reads show up under ASan
        RequestHead h;
        const auto r = parseRequestHead(spanOf(prefix), H1Limits{}, h);
        if (r.status == ParseStatus::NeedMore) {
            QVERIFY2(!decided, qPrintable(QString("NeedMore after a verdict at %1").arg(n)));
            continue;
        }
        decided = true;
        QCOMPARE(outcome(r.status), outcome(expected.status));
        QCOMPARE(r.consumed, expected.consumed);
        QCOMPARE(r.error.status, expected.error.status);
        QCOMPARE(r.error.offset, expected.error.offset);
    }
    QVERIFY(decided);
}

void H1ParserTest::pipelined() {
    const QByteArray first = req("POST /a HTTP/1.1", {"Host: h", "Content-Length: 0"});
    const QByteArray second = req("GET /b HTTP/1.1", {"Host: h2"});
    const QByteArray both = first + second;
    RequestHead h;
    auto r = parseRequestHead(spanOf(both), H1Limits{}, h);
    QCOMPARE(outcome(r.status), kComplete);
    QCOMPARE(r.consumed, static_cast<std::size_t>(first.size()));
    QCOMPARE(sv2ba(h.path), QByteArray("/a"));
    r = parseRequestHead(spanOf(both).subspan(r.consumed), H1Limits{}, h);
    QCOMPARE(outcome(r.status), kComplete);
    QCOMPARE(r.consumed, static_cast<std::size_t>(second.size()));
    QCOMPARE(sv2ba(h.path), QByteArray("/b"));
    QCOMPARE(sv2ba(h.host), QByteArray("h2"));
}

void H1ParserTest::duplicateContentLengthCollapsed() {
    const QByteArray in =
        req("POST / HTTP/1.1", {"Content-Length: 7 , 7", "Host: h", "content-length: 7"});
    RequestHead h;
    const auto r = parseRequestHead(spanOf(in), H1Limits{}, h);
    QCOMPARE(outcome(r.status), kComplete);
    QCOMPARE(h.headers.count("Content-Length"), std::size_t(1));
    QCOMPARE(sv2ba(h.headers.find("content-length")->value), QByteArray("7"));
    QCOMPARE(h.contentLength, std::uint64_t(7));
    QCOMPARE(sv2ba(h.headers.fields()[0].name), QByteArray("Content-Length"));  // position kept
}

// A request line of exactly the limit passes; one byte more is 414.
void H1ParserTest::requestLineLimit_data() {
    QTest::addColumn<int>("delta");
    QTest::addColumn<int>("status");  // 0: Complete
    QTest::newRow("limit-1") << -1 << 0;
    QTest::newRow("limit") << 0 << 0;
    QTest::newRow("limit+1") << 1 << 414;
}

void H1ParserTest::requestLineLimit() {
    QFETCH(int, delta);
    QFETCH(int, status);
    H1Limits limits;
    limits.maxRequestLine = 100;
    const std::string base = "GET / HTTP/1.1";
    std::string line = "GET /" + std::string(100 + delta - base.size(), 'a') + " HTTP/1.1";
    QCOMPARE(line.size(), std::size_t(100 + delta));
    const QByteArray in = req(line, {"Host: h"});
    RequestHead h;
    const auto r = parseRequestHead(spanOf(in), limits, h);
    if (status == 0) {
        QCOMPARE(outcome(r.status), kComplete);
    } else {
        QCOMPARE(outcome(r.status), kError);
        QCOMPARE(r.error.status, status);
    }
}

void H1ParserTest::requestLineLimitReportedEarly() {
    H1Limits limits;
    limits.maxRequestLine = 64;
    // Exactly the limit without CRLF: still NeedMore (the CR may come next).
    QByteArray in = "GET /" + QByteArray(59, 'a');
    QCOMPARE(in.size(), 64);
    RequestHead h;
    QCOMPARE(outcome(parseRequestHead(spanOf(in), limits, h).status), kNeedMore);
    in += "\r";
    QCOMPARE(outcome(parseRequestHead(spanOf(in), limits, h).status), kNeedMore);
    in.chop(1);
    in += "a";  // one past the limit and no CRLF in sight
    const auto r = parseRequestHead(spanOf(in), limits, h);
    QCOMPARE(outcome(r.status), kError);
    QCOMPARE(r.error.status, 414);
    // Also with leading empty lines, which do not count toward the line.
    const QByteArray lead = "\r\n" + in.left(64) + " HTTP/1.1\r\n";
    QCOMPARE(parseRequestHead(spanOf(lead), limits, h).error.status, 414);
}

void H1ParserTest::headBytesLimit_data() {
    QTest::addColumn<int>("delta");
    QTest::addColumn<int>("status");
    QTest::newRow("limit-1") << -1 << 0;
    QTest::newRow("limit") << 0 << 0;
    QTest::newRow("limit+1") << 1 << 431;
}

void H1ParserTest::headBytesLimit() {
    QFETCH(int, delta);
    QFETCH(int, status);
    H1Limits limits;
    limits.maxHeaderBytes = 200;
    const QByteArray shell = get11({"Host: h", "X-Pad: "});
    const QByteArray in =
        get11({"Host: h", "X-Pad: " + std::string(200 + delta - shell.size(), 'p')});
    QCOMPARE(in.size(), 200 + delta);
    RequestHead h;
    auto r = parseRequestHead(spanOf(in), limits, h);
    if (status == 0) {
        QCOMPARE(outcome(r.status), kComplete);
        QCOMPARE(r.consumed, static_cast<std::size_t>(in.size()));
    } else {
        QCOMPARE(outcome(r.status), kError);
        QCOMPARE(r.error.status, status);
        // As soon as the limit is passed, without waiting for the end of the head.
        const QByteArray cut = in.left(201);
        r = parseRequestHead(spanOf(cut), limits, h);
        QCOMPARE(r.error.status, 431);
        QCOMPARE(outcome(parseRequestHead(spanOf(in.left(200)), limits, h).status), kNeedMore);
    }
}

void H1ParserTest::headerCountLimit_data() {
    QTest::addColumn<int>("fields");
    QTest::addColumn<int>("status");
    QTest::newRow("max-1") << 9 << 0;
    QTest::newRow("max") << 10 << 0;
    QTest::newRow("max+1") << 11 << 431;
}

void H1ParserTest::headerCountLimit() {
    QFETCH(int, fields);
    QFETCH(int, status);
    H1Limits limits;
    limits.maxHeaders = 10;
    std::string s = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 1; i < fields; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
    s += "\r\n";
    RequestHead h;
    const auto r = parseRequestHead(spanOf(B(s)), limits, h);
    if (status == 0) {
        QCOMPARE(outcome(r.status), kComplete);
        QCOMPARE(h.headers.size(), std::size_t(fields));
    } else {
        QCOMPARE(outcome(r.status), kError);
        QCOMPARE(r.error.status, status);
    }
}

void H1ParserTest::reparseReusesHead() {
    RequestHead h;
    const QByteArray a =
        req("POST /a?q HTTP/1.1", {"Host: a", "Content-Length: 3", "Connection: close"});
    QCOMPARE(outcome(parseRequestHead(spanOf(a), H1Limits{}, h).status), kComplete);
    const QByteArray b = req("GET /b HTTP/1.1", {"Host: b"});
    QCOMPARE(outcome(parseRequestHead(spanOf(b), H1Limits{}, h).status), kComplete);
    QCOMPARE(h.headers.size(), std::size_t(1));
    QCOMPARE(h.framing, BodyFraming::None);
    QCOMPARE(h.contentLength, std::uint64_t(0));
    QVERIFY(h.keepAlive);
    QVERIFY(h.query.empty());
}

// --- responses ---------------------------------------------------------------------------------

void H1ParserTest::validResponse_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("requestMethod");
    QTest::addColumn<int>("status");
    QTest::addColumn<QByteArray>("reason");
    QTest::addColumn<bool>("http10");
    QTest::addColumn<int>("framing");
    QTest::addColumn<qulonglong>("contentLength");
    QTest::addColumn<bool>("keepAlive");

    const int get = int(Method::Get), head = int(Method::Head);
    const int none = int(BodyFraming::None), cl = int(BodyFraming::ContentLength),
              chunked = int(BodyFraming::Chunked), close = int(BodyFraming::UntilClose);
    QTest::newRow("200 CL") << B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") << get << 200
                            << QByteArray("OK") << false << cl << 5ull << true;
    QTest::newRow("200 CL 0") << B("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") << get << 200
                              << QByteArray("OK") << false << none << 0ull << true;
    QTest::newRow("200 CL repeated") << B("HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\n\r\n") << get
                                     << 200 << QByteArray("OK") << false << cl << 4ull << true;
    QTest::newRow("no length") << B("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n") << get << 200
                               << QByteArray("OK") << false << close << 0ull << false;
    QTest::newRow("chunked") << B("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") << get
                             << 200 << QByteArray("OK") << false << chunked << 0ull << true;
    QTest::newRow("gzip, chunked")
        << B("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") << get << 200
        << QByteArray("OK") << false << chunked << 0ull << true;
    QTest::newRow("gzip only") << B("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") << get
                               << 200 << QByteArray("OK") << false << close << 0ull << false;
    QTest::newRow("chunked, gzip")
        << B("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") << get << 200
        << QByteArray("OK") << false << close << 0ull << false;
    QTest::newRow("204 with CL") << B("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n") << get
                                 << 204 << QByteArray("No Content") << false << none << 5ull
                                 << true;
    QTest::newRow("304 with CL") << B("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n")
                                 << get << 304 << QByteArray("Not Modified") << false << none
                                 << 100ull << true;
    QTest::newRow("304 no length") << B("HTTP/1.1 304 Not Modified\r\n\r\n") << get << 304
                                   << QByteArray("Not Modified") << false << none << 0ull << true;
    QTest::newRow("HEAD response") << B("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") << head
                                   << 200 << QByteArray("OK") << false << none << 100ull << true;
    QTest::newRow("HEAD chunked") << B("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                                  << head << 200 << QByteArray("OK") << false << none << 0ull
                                  << true;
    QTest::newRow("100 continue") << B("HTTP/1.1 100 Continue\r\n\r\n") << get << 100
                                  << QByteArray("Continue") << false << none << 0ull << true;
    QTest::newRow("101 switching")
        << B("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "
             "websocket\r\n\r\n")
        << get << 101 << QByteArray("Switching Protocols") << false << none << 0ull << true;
    QTest::newRow("1.0 keep-alive")
        << B("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n") << get << 200
        << QByteArray("OK") << true << cl << 2ull << true;
    QTest::newRow("1.0 default close") << B("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n") << get
                                       << 200 << QByteArray("OK") << true << cl << 2ull << false;
    QTest::newRow("1.0 TE chunked")
        << B("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
        << get << 200 << QByteArray("OK") << true << close << 0ull << false;
    QTest::newRow("connection close")
        << B("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n") << get << 200
        << QByteArray("OK") << false << cl << 1ull << false;
    QTest::newRow("empty reason") << B("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n") << get << 200
                                  << QByteArray() << false << none << 0ull << true;
    QTest::newRow("no reason no SP") << B("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n") << get << 404
                                     << QByteArray() << false << none << 0ull << true;
    QTest::newRow("reason obs-text tab")
        << B("HTTP/1.1 200 Tr\xc3\xa8s\tbien\r\nContent-Length: 0\r\n\r\n") << get << 200
        << B("Tr\xc3\xa8s\tbien") << false << none << 0ull << true;
    QTest::newRow("599") << B("HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n") << get << 599
                         << QByteArray("X") << false << none << 0ull << true;
}

void H1ParserTest::validResponse() {
    QFETCH(QByteArray, input);
    QFETCH(int, requestMethod);
    QFETCH(int, status);
    QFETCH(QByteArray, reason);
    QFETCH(bool, http10);
    QFETCH(int, framing);
    QFETCH(qulonglong, contentLength);
    QFETCH(bool, keepAlive);
    ResponseHead h;
    const auto r = parseResponseHead(spanOf(input), H1Limits{}, Method(requestMethod), h);
    QCOMPARE(outcome(r.status), kComplete);
    QCOMPARE(r.consumed, static_cast<std::size_t>(input.size()));
    QCOMPARE(h.status, status);
    QCOMPARE(sv2ba(h.reason), reason);
    QCOMPARE(h.version == Version::Http10, http10);
    QCOMPARE(int(h.framing), framing);
    QCOMPARE(h.contentLength, static_cast<std::uint64_t>(contentLength));
    QCOMPARE(h.keepAlive, keepAlive);
    // Every prefix is NeedMore.
    for (qsizetype n = 0; n < input.size(); ++n) {
        const QByteArray prefix = input.left(n);
        ResponseHead p;
        QCOMPARE(
            outcome(parseResponseHead(spanOf(prefix), H1Limits{}, Method(requestMethod), p).status),
            kNeedMore);
    }
}

void H1ParserTest::invalidResponse_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("offset");
    QTest::newRow("CL and TE")
        << B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") << 36;
    QTest::newRow("CL and TE on 204")
        << B("HTTP/1.1 204 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") << -1;
    QTest::newRow("bad CL") << B("HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n") << 33;
    QTest::newRow("different CLs")
        << B("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") << -1;
    QTest::newRow("bad CL on 304") << B("HTTP/1.1 304 OK\r\nContent-Length: -1\r\n\r\n") << -1;
    QTest::newRow("chunked twice")
        << B("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") << -1;
    QTest::newRow("status 099") << B("HTTP/1.1 099 X\r\n\r\n") << 9;
    QTest::newRow("status 600") << B("HTTP/1.1 600 X\r\n\r\n") << 9;
    QTest::newRow("status 2 digits") << B("HTTP/1.1 20 OK\r\n\r\n") << -1;
    QTest::newRow("status 4 digits") << B("HTTP/1.1 2000 OK\r\n\r\n") << 12;
    QTest::newRow("status letters") << B("HTTP/1.1 2x0 OK\r\n\r\n") << 9;
    QTest::newRow("HTTP/2.0") << B("HTTP/2.0 200 OK\r\n\r\n") << 0;
    QTest::newRow("HTTP/1.2") << B("HTTP/1.2 200 OK\r\n\r\n") << 0;
    QTest::newRow("lowercase") << B("http/1.1 200 OK\r\n\r\n") << 0;
    QTest::newRow("double SP") << B("HTTP/1.1  200 OK\r\n\r\n") << 9;
    QTest::newRow("obs-fold") << B("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n") << 23;
    QTest::newRow("bare LF") << B("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n") << 15;
    QTest::newRow("bare LF field") << B("HTTP/1.1 200 OK\r\nX: a\n\r\n") << 21;
    QTest::newRow("space before colon") << B("HTTP/1.1 200 OK\r\nX : a\r\n\r\n") << 18;
    QTest::newRow("NUL in value") << B("HTTP/1.1 200 OK\r\nX: a\0\r\n\r\n"sv) << 21;
    QTest::newRow("leading CRLF") << B("\r\nHTTP/1.1 200 OK\r\n\r\n") << 0;
    QTest::newRow("CTL in reason") << B("HTTP/1.1 200 O\x01K\r\n\r\n") << 14;
    QTest::newRow("garbage") << B("<html>\r\n\r\n") << -1;
}

void H1ParserTest::invalidResponse() {
    QFETCH(QByteArray, input);
    QFETCH(int, offset);
    ResponseHead h;
    const auto r = parseResponseHead(spanOf(input), H1Limits{}, Method::Get, h);
    QCOMPARE(outcome(r.status), kError);
    QCOMPARE(r.error.status, 502);
    QVERIFY(!r.error.reason.empty());
    if (offset >= 0) QCOMPARE(r.error.offset, static_cast<std::size_t>(offset));
}

void H1ParserTest::interimResponseThenFinal() {
    const QByteArray in =
        B("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    ResponseHead h;
    std::size_t pos = 0;
    std::vector<int> statuses;
    while (true) {
        const auto r = parseResponseHead(spanOf(in).subspan(pos), H1Limits{}, Method::Post, h);
        QCOMPARE(outcome(r.status), kComplete);
        pos += r.consumed;
        statuses.push_back(h.status);
        if (h.status >= 200) break;
    }
    QCOMPARE(statuses, (std::vector<int>{100, 103, 200}));
    QCOMPARE(h.framing, BodyFraming::ContentLength);
    QCOMPARE(in.mid(static_cast<qsizetype>(pos)), QByteArray("ok"));
    // Response limits: an over-long status line or head is 502 too.
    H1Limits small;
    small.maxRequestLine = 10;
    QCOMPARE(parseResponseHead(spanOf(in), small, Method::Get, h).error.status, 502);
    small = H1Limits{};
    small.maxHeaderBytes = 20;
    QCOMPARE(parseResponseHead(spanOf(in), small, Method::Get, h).error.status, 502);
    small = H1Limits{};
    small.maxHeaders = 0;
    const QByteArray withField = B("HTTP/1.1 200 OK\r\nX: y\r\n\r\n");
    QCOMPARE(parseResponseHead(spanOf(withField), small, Method::Get, h).error.status, 502);
}

// --- chunked -----------------------------------------------------------------------------------

void H1ParserTest::chunked_data() {
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<int>("outcome");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<int>("errorOffset");  // absolute; -1: not checked
    QTest::addColumn<int>("maxTrailer");

    const int d = 8192;
    QTest::newRow("one chunk") << B("5\r\nhello\r\n0\r\n\r\n") << kComplete << QByteArray("hello")
                               << -1 << d;
    QTest::newRow("two chunks") << B("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n") << kComplete
                                << QByteArray("abcde") << -1 << d;
    QTest::newRow("empty body") << B("0\r\n\r\n") << kComplete << QByteArray() << -1 << d;
    QTest::newRow("upper hex") << B("A\r\n0123456789\r\n0\r\n\r\n") << kComplete
                               << QByteArray("0123456789") << -1 << d;
    QTest::newRow("lower hex") << B("1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n") << kComplete
                               << QByteArray("abcdefghijklmnopqrstuvwxyz") << -1 << d;
    QTest::newRow("leading zeros")
        << B("0005\r\nhello\r\n0000\r\n\r\n") << kComplete << QByteArray("hello") << -1 << d;
    QTest::newRow("16 digits") << B("0000000000000005\r\nhello\r\n0\r\n\r\n") << kComplete
                               << QByteArray("hello") << -1 << d;
    QTest::newRow("CRLF inside data")
        << B("4\r\n\r\n\r\n\r\n0\r\n\r\n") << kComplete << QByteArray("\r\n\r\n") << -1 << d;
    QTest::newRow("binary data") << B("3\r\n\0\xff\n\r\n0\r\n\r\n"sv) << kComplete
                                 << B("\0\xff\n"sv) << -1 << d;
    QTest::newRow("ext token") << B("5;foo=bar\r\nhello\r\n0\r\n\r\n") << kComplete
                               << QByteArray("hello") << -1 << d;
    QTest::newRow("ext name only")
        << B("5;foo\r\nhello\r\n0;last\r\n\r\n") << kComplete << QByteArray("hello") << -1 << d;
    QTest::newRow("ext BWS") << B("5 \t;  a = b ;c\r\nhello\r\n0\r\n\r\n") << kComplete
                             << QByteArray("hello") << -1 << d;
    QTest::newRow("ext several") << B("5;a;b=c;d=\"e f\"\r\nhello\r\n0\r\n\r\n") << kComplete
                                 << QByteArray("hello") << -1 << d;
    QTest::newRow("ext quoted pair") << B("5;a=\"x\\\"y;z\"\r\nhello\r\n0\r\n\r\n") << kComplete
                                     << QByteArray("hello") << -1 << d;
    QTest::newRow("ext quoted then ws semi")
        << B("5;a=\"x\" ;b\r\nhello\r\n0\r\n\r\n") << kComplete << QByteArray("hello") << -1 << d;
    QTest::newRow("trailers") << B("2\r\nhi\r\n0\r\nX-T: v\r\nY:w\t \r\n\r\n") << kComplete
                              << QByteArray("hi") << -1 << d;
    QTest::newRow("trailer empty value")
        << B("0\r\nX:\r\n\r\n") << kComplete << QByteArray() << -1 << d;
    QTest::newRow("trailer exactly at limit")
        << B("0\r\nX: 1\r\n\r\n") << kComplete << QByteArray() << -1 << 8;
    // need more
    QTest::newRow("partial data") << B("5\r\nhel") << kNeedMore << QByteArray("hel") << -1 << d;
    QTest::newRow("after last chunk")
        << B("5\r\nhello\r\n0\r\n") << kNeedMore << QByteArray("hello") << -1 << d;
    QTest::newRow("in trailer") << B("0\r\nX: a\r\n") << kNeedMore << QByteArray() << -1 << d;
    QTest::newRow("empty") << QByteArray() << kNeedMore << QByteArray() << -1 << d;
    // errors
    QTest::newRow("missing size") << B("\r\nhello\r\n") << kError << QByteArray() << 0 << d;
    QTest::newRow("not hex") << B("g\r\n") << kError << QByteArray() << 0 << d;
    QTest::newRow("negative") << B("-5\r\n") << kError << QByteArray() << 0 << d;
    QTest::newRow("0x prefix") << B("0x5\r\nhello\r\n") << kError << QByteArray() << 1 << d;
    QTest::newRow("17 digits") << B("00000000000000005\r\nhello\r\n0\r\n\r\n") << kError
                               << QByteArray() << 16 << d;
    QTest::newRow("huge 17 digits")
        << B("fffffffffffffffff\r\n") << kError << QByteArray() << 16 << d;
    QTest::newRow("size bare LF") << B("5\nhello\r\n0\r\n\r\n") << kError << QByteArray() << 1 << d;
    QTest::newRow("size bare CR") << B("5\rhello\r\n0\r\n\r\n") << kError << QByteArray() << 2 << d;
    QTest::newRow("size trailing space")
        << B("5 \r\nhello\r\n") << kError << QByteArray() << 2 << d;
    QTest::newRow("size junk") << B("5x\r\nhello\r\n") << kError << QByteArray() << 1 << d;
    QTest::newRow("ext empty") << B("5;\r\nhello\r\n") << kError << QByteArray() << 2 << d;
    QTest::newRow("ext no name") << B("5;=x\r\nhello\r\n") << kError << QByteArray() << 2 << d;
    QTest::newRow("ext no value") << B("5;a=\r\nhello\r\n") << kError << QByteArray() << 4 << d;
    QTest::newRow("ext ws in name") << B("5;a b\r\nhello\r\n") << kError << QByteArray() << 4 << d;
    QTest::newRow("ext unterminated quote")
        << B("5;a=\"x\r\nhello\r\n") << kError << QByteArray() << 6 << d;
    QTest::newRow("ext bad char") << B("5;a@b\r\nhello\r\n") << kError << QByteArray() << 3 << d;
    QTest::newRow("ext ws before CR")
        << B("5;a=b \r\nhello\r\n") << kError << QByteArray() << 6 << d;
    QTest::newRow("ext too long") << B("5;a=" + std::string(5000, 'x') + "\r\nhello\r\n0\r\n\r\n")
                                  << kError << QByteArray() << 4097 << d;
    QTest::newRow("data too long")
        << B("5\r\nhelloX\r\n") << kError << QByteArray("hello") << 8 << d;
    QTest::newRow("data bare LF") << B("5\r\nhello\n0\r\n\r\n") << kError << QByteArray("hello")
                                  << 8 << d;
    QTest::newRow("data bare CR") << B("5\r\nhello\r0\r\n\r\n") << kError << QByteArray("hello")
                                  << 9 << d;
    QTest::newRow("last chunk bare LF") << B("0\r\n\n") << kError << QByteArray() << 3 << d;
    QTest::newRow("final CR then junk") << B("0\r\n\rx") << kError << QByteArray() << 4 << d;
    QTest::newRow("trailer obs-fold")
        << B("0\r\nX: a\r\n b\r\n\r\n") << kError << QByteArray() << 9 << d;
    QTest::newRow("trailer bare LF") << B("0\r\nX: a\n\r\n") << kError << QByteArray() << 7 << d;
    QTest::newRow("trailer ws before colon")
        << B("0\r\nX : a\r\n\r\n") << kError << QByteArray() << 4 << d;
    QTest::newRow("trailer empty name")
        << B("0\r\n: a\r\n\r\n") << kError << QByteArray() << 3 << d;
    QTest::newRow("trailer CTL") << B("0\r\nX: a\x01\r\n\r\n") << kError << QByteArray() << 7 << d;
    QTest::newRow("trailer NUL") << B("0\r\nX: a\0\r\n\r\n"sv) << kError << QByteArray() << 7 << d;
    QTest::newRow("trailer no colon") << B("0\r\nXa\r\n\r\n") << kError << QByteArray() << 5 << d;
    QTest::newRow("trailer too large")
        << B("0\r\nX-Long: 0123456789\r\n\r\n") << kError << QByteArray() << 13 << 10;
    QTest::newRow("trailer limit+1")
        << B("0\r\nX: 12\r\n\r\n") << kError << QByteArray() << 11 << 8;
}

void H1ParserTest::chunked() {
    QFETCH(QByteArray, input);
    QFETCH(int, outcome);
    QFETCH(QByteArray, body);
    QFETCH(int, errorOffset);
    QFETCH(int, maxTrailer);
    const auto run = runChunked(input, {}, static_cast<std::size_t>(maxTrailer));
    QCOMPARE(run.outcome, outcome);
    QCOMPARE(B(run.body), body);
    if (outcome == kComplete) QCOMPARE(run.consumed, static_cast<std::size_t>(input.size()));
    if (errorOffset >= 0) QCOMPARE(run.errorOffset, static_cast<std::size_t>(errorOffset));
}

// Splitting the input anywhere must not change the decoded body or the verdict.
void H1ParserTest::chunkedSplits_data() {
    chunked_data();
}

void H1ParserTest::chunkedSplits() {
    QFETCH(QByteArray, input);
    QFETCH(int, maxTrailer);
    const auto whole = runChunked(input, {}, static_cast<std::size_t>(maxTrailer));
    std::vector<std::size_t> everyByte;
    for (qsizetype i = 1; i < input.size(); ++i) everyByte.push_back(static_cast<std::size_t>(i));
    auto same = [&](const ChunkRun& r) {
        QCOMPARE(r.outcome, whole.outcome);
        QCOMPARE(r.body, whole.body);
        QCOMPARE(r.consumed, whole.consumed);
        if (whole.outcome == kError) QCOMPARE(r.errorOffset, whole.errorOffset);
    };
    same(runChunked(input, everyByte, static_cast<std::size_t>(maxTrailer)));
    if (QTest::currentTestFailed()) return;
    std::mt19937 rng(12345);
    for (int round = 0; round < 50; ++round) {
        std::vector<std::size_t> cuts;
        for (std::size_t i = 1; i < static_cast<std::size_t>(input.size()); ++i)
            if (rng() % 4 == 0) cuts.push_back(i);
        same(runChunked(input, cuts, static_cast<std::size_t>(maxTrailer)));
        if (QTest::currentTestFailed()) return;
    }
}

void H1ParserTest::chunkedLeavesTail() {
    const QByteArray in = B("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n");
    const auto run = runChunked(in, {}, 8192);
    QCOMPARE(run.outcome, kComplete);
    QCOMPARE(run.consumed, std::size_t(13));
    ChunkedDecoder d;
    std::size_t pos = 0;
    std::string body;
    while (!d.done()) {
        const auto step = d.decode(spanOf(in).subspan(pos));
        QVERIFY(step.status != ParseStatus::Error);
        body.append(step.data);
        pos += step.consumed;
    }
    QCOMPARE(pos, std::size_t(13));
    QCOMPARE(body, std::string("abc"));
    // Once done it stays done and consumes nothing.
    const auto again = d.decode(spanOf(in).subspan(pos));
    QCOMPARE(outcome(again.status), kComplete);
    QCOMPARE(again.consumed, std::size_t(0));
    d.reset();
    QVERIFY(!d.done());
}

void H1ParserTest::chunkedStaysFailed() {
    ChunkedDecoder d;
    const QByteArray bad = "zz";
    QCOMPARE(outcome(d.decode(spanOf(bad)).status), kError);
    const QByteArray good = "0\r\n\r\n";
    const auto step = d.decode(spanOf(good));
    QCOMPARE(outcome(step.status), kError);
    QCOMPARE(step.error.status, 400);
    QCOMPARE(step.consumed, std::size_t(0));
    d.reset();
    QCOMPARE(outcome(d.decode(spanOf(good)).status), kComplete);
}

QTEST_APPLESS_MAIN(H1ParserTest)
#include "h1_parser_test.moc"
