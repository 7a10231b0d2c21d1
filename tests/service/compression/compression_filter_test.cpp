// The compression rules and header edits (service/compression/compression_filter.cpp): which
// responses are compressed, Vary, Content-Length, ETag, and the filter's body hook end to end
// over parsed heads (no network).

#include <zlib.h>

#include <QTest>

#include "compression/compression_filter.h"
#include "filter/request_context.h"
#include "http/h1_parser.h"

using namespace proxy;
using compression::Coding;

namespace {

struct Exchange {
    std::string requestBytes, responseBytes;
    http::RequestHead request;
    http::ResponseHead response;
    filter::RequestContext ctx;
    Exchange(std::string req, std::string resp) : requestBytes(std::move(req)), responseBytes(std::move(resp)) {
        if (http::parseRequestHead(requestBytes, {}, request).status != http::ParseStatus::Complete)
            qFatal("bad test request");
        if (http::parseResponseHead(responseBytes, {}, request.method, response).status !=
            http::ParseStatus::Complete)
            qFatal("bad test response");
        ctx.request = &request;
        ctx.response = &response;
    }
    std::vector<std::string> all(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& h : response.headers.fields())
            if (http::iequals(h.name, name)) out.emplace_back(h.value);
        return out;
    }
    std::string one(std::string_view name) const {
        const auto v = all(name);
        return v.empty() ? "<absent>" : v.size() == 1 ? v[0] : "<" + std::to_string(v.size()) + " fields>";
    }
};

config::Compression defaults() {
    config::Compression c;
    c.enabled = true;
    return c;
}

std::string request(const std::string& extra = "Accept-Encoding: gzip, deflate\r\n",
                    const std::string& method = "GET") {
    return method + " /x HTTP/1.1\r\nHost: h\r\n" + extra + "\r\n";
}

std::string response(const std::string& extra, int status = 200, const std::string& length = "5000") {
    std::string head = "HTTP/1.1 " + std::to_string(status) + " X\r\n" + extra;
    if (!length.empty()) head += "Content-Length: " + length + "\r\n";
    return head + "\r\n";
}

}  // namespace

class CompressionFilterTest : public QObject {
    Q_OBJECT

private slots:
    void rules_data() {
        QTest::addColumn<QString>("req");
        QTest::addColumn<QString>("resp");
        QTest::addColumn<bool>("compressible");  // Vary: Accept-Encoding added
        QTest::addColumn<QString>("coding");
        const QString html = "Content-Type: text/html; charset=utf-8\r\n";
        const QString get = QString::fromStdString(request());
        auto resp = [](const QString& extra, int status = 200, const std::string& length = "5000") {
            return QString::fromStdString(response(extra.toStdString(), status, length));
        };
        QTest::newRow("html gzip") << get << resp(html) << true << "gzip";
        QTest::newRow("deflate client")
            << QString::fromStdString(request("Accept-Encoding: deflate\r\n")) << resp(html) << true << "deflate";
        QTest::newRow("no accept-encoding: vary only")
            << QString::fromStdString(request("")) << resp(html) << true << "identity";
        QTest::newRow("gzip refused: vary only")
            << QString::fromStdString(request("Accept-Encoding: gzip;q=0, deflate;q=0\r\n")) << resp(html)
            << true << "identity";
        QTest::newRow("client no-transform: vary only")
            << QString::fromStdString(request("Accept-Encoding: gzip\r\nCache-Control: no-transform\r\n"))
            << resp(html) << true << "identity";
        QTest::newRow("json") << get << resp("Content-Type: application/json\r\n") << true << "gzip";
        QTest::newRow("svg") << get << resp("Content-Type: image/svg+xml\r\n") << true << "gzip";
        QTest::newRow("png") << get << resp("Content-Type: image/png\r\n") << false << "identity";
        QTest::newRow("no content-type") << get << resp("") << false << "identity";
        QTest::newRow("bad content-type") << get << resp("Content-Type: text\r\n") << false << "identity";
        QTest::newRow("already encoded") << get << resp(html + "Content-Encoding: br\r\n") << false << "identity";
        QTest::newRow("identity content-encoding")
            << get << resp(html + "Content-Encoding: identity\r\n") << false << "identity";
        QTest::newRow("no-transform") << get << resp(html + "Cache-Control: public, No-Transform\r\n") << false
                                      << "identity";
        QTest::newRow("206") << get << resp(html + "Content-Range: bytes 0-4999/9000\r\n", 206) << false
                             << "identity";
        QTest::newRow("content-range on 200") << get << resp(html + "Content-Range: bytes 0-4999/5000\r\n")
                                              << false << "identity";
        QTest::newRow("204") << get << resp(html, 204, "") << false << "identity";
        QTest::newRow("404") << get << resp(html, 404) << false << "identity";
        QTest::newRow("500") << get << resp(html, 500) << false << "identity";
        QTest::newRow("301") << get << resp(html, 301) << false << "identity";
        QTest::newRow("below min_size") << get << resp(html, 200, "1023") << false << "identity";
        QTest::newRow("at min_size") << get << resp(html, 200, "1024") << true << "gzip";
        QTest::newRow("empty body") << get << resp(html, 200, "0") << false << "identity";
        QTest::newRow("chunked: length unknown")
            << get << resp(html + "Transfer-Encoding: chunked\r\n", 200, "") << true << "gzip";
        QTest::newRow("HEAD: vary only")
            << QString::fromStdString(request("Accept-Encoding: gzip\r\n", "HEAD")) << resp(html) << true
            << "identity";
        QTest::newRow("HEAD small") << QString::fromStdString(request("Accept-Encoding: gzip\r\n", "HEAD"))
                                    << resp(html, 200, "10") << false << "identity";
        QTest::newRow("304 with type: vary only") << get << resp(html, 304, "") << true << "identity";
        QTest::newRow("304 bare") << get << resp("", 304, "") << false << "identity";
    }

    void rules() {
        QFETCH(QString, req);
        QFETCH(QString, resp);
        QFETCH(bool, compressible);
        QFETCH(QString, coding);
        Exchange e(req.toStdString(), resp.toStdString());
        const compression::CompressionPolicy policy(defaults());
        const auto d = policy.decide(e.request, e.response);
        QCOMPARE(d.compressible, compressible);
        QCOMPARE(QString::fromLatin1(compression::codingName(d.coding).data()), coding);
        const std::string originEncoding = e.one("Content-Encoding");
        compression::CompressionPolicy::applyHeaders(d, e.response);
        QCOMPARE(e.one("Vary"), std::string(compressible ? "Accept-Encoding" : "<absent>"));
        QCOMPARE(e.one("Content-Encoding"), d.coding != Coding::Identity ? coding.toStdString() : originEncoding);
    }

    void configuredTypesAndMinSize() {
        auto c = defaults();
        c.types = {"application/x-custom"};
        c.minSize = 10;
        const compression::CompressionPolicy policy(c);
        Exchange custom(request(), response("Content-Type: application/x-custom\r\n", 200, "10"));
        QCOMPARE(policy.decide(custom.request, custom.response).coding, Coding::Gzip);
        Exchange html(request(), response("Content-Type: text/html\r\n"));
        QVERIFY(!policy.decide(html.request, html.response).compressible);
    }

    void formatsOrder() {
        auto c = defaults();
        c.formats = {"deflate", "gzip"};
        Exchange e(request("Accept-Encoding: gzip, deflate\r\n"), response("Content-Type: text/plain\r\n"));
        QCOMPARE(compression::CompressionPolicy(c).decide(e.request, e.response).coding, Coding::Deflate);
        c.formats = {"gzip"};
        Exchange d(request("Accept-Encoding: deflate\r\n"), response("Content-Type: text/plain\r\n"));
        const auto decision = compression::CompressionPolicy(c).decide(d.request, d.response);
        QVERIFY(decision.compressible);
        QCOMPARE(decision.coding, Coding::Identity);
    }

    void varyMerge_data() {
        QTest::addColumn<QString>("vary");      // the origin's Vary fields, '|' between fields
        QTest::addColumn<QString>("expected");  // after, '|' between fields
        QTest::newRow("none") << "" << "Accept-Encoding";
        QTest::newRow("merged") << "Origin" << "Origin, Accept-Encoding";
        QTest::newRow("merged list") << "Origin, Cookie" << "Origin, Cookie, Accept-Encoding";
        QTest::newRow("trailing comma") << "Origin," << "Origin, Accept-Encoding";
        QTest::newRow("already there") << "accept-encoding" << "accept-encoding";
        QTest::newRow("already in a list") << "Origin, Accept-Encoding" << "Origin, Accept-Encoding";
        QTest::newRow("in a second field") << "Origin|Accept-Encoding" << "Origin|Accept-Encoding";
        QTest::newRow("star untouched") << "*" << "*";
        QTest::newRow("star in a list") << "Origin, *" << "Origin, *";
        QTest::newRow("first of two merged") << "Origin|Cookie" << "Origin, Accept-Encoding|Cookie";
    }

    void varyMerge() {
        QFETCH(QString, vary);
        QFETCH(QString, expected);
        std::string extra = "Content-Type: text/html\r\n";
        for (const QString& v : vary.split('|', Qt::SkipEmptyParts)) extra += "Vary: " + v.toStdString() + "\r\n";
        for (bool compress : {true, false}) {
            Exchange e(request(compress ? "Accept-Encoding: gzip\r\n" : ""), response(extra));
            const compression::CompressionPolicy policy(defaults());
            const auto d = policy.decide(e.request, e.response);
            QVERIFY(d.compressible);
            compression::CompressionPolicy::applyHeaders(d, e.response);
            QStringList got;
            for (const auto& v : e.all("Vary")) got << QString::fromStdString(v);
            QCOMPARE(got.join('|'), expected);
        }
    }

    void compressedHeaders() {
        Exchange e(request(), response("Content-Type: text/html\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\n"
                                       "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n"));
        const compression::CompressionPolicy policy(defaults());
        const auto d = policy.decide(e.request, e.response);
        compression::CompressionPolicy::applyHeaders(d, e.response);
        QCOMPARE(e.one("Content-Encoding"), std::string("gzip"));
        QCOMPARE(e.one("Content-Length"), std::string("<absent>"));
        QCOMPARE(e.one("Accept-Ranges"), std::string("<absent>"));
        QCOMPARE(e.one("ETag"), std::string("W/\"v1\""));
        QCOMPARE(e.one("Last-Modified"), std::string("Mon, 01 Jan 2024 00:00:00 GMT"));
    }

    void weakETagStaysAndIdentityKeepsStrong() {
        Exchange weak(request(), response("Content-Type: text/html\r\nETag: W/\"v1\"\r\n"));
        const compression::CompressionPolicy policy(defaults());
        compression::CompressionPolicy::applyHeaders(policy.decide(weak.request, weak.response), weak.response);
        QCOMPARE(weak.one("ETag"), std::string("W/\"v1\""));
        Exchange plain(request(""), response("Content-Type: text/html\r\nETag: \"v1\"\r\n"));
        compression::CompressionPolicy::applyHeaders(policy.decide(plain.request, plain.response), plain.response);
        QCOMPARE(plain.one("ETag"), std::string("\"v1\""));
        QCOMPARE(plain.one("Content-Length"), std::string("5000"));
    }

    void notModifiedWeakensForCompressingClients() {
        const compression::CompressionPolicy policy(defaults());
        Exchange gz(request(), response("Content-Type: text/html\r\nETag: \"v1\"\r\n", 304, ""));
        compression::CompressionPolicy::applyHeaders(policy.decide(gz.request, gz.response), gz.response);
        QCOMPARE(gz.one("ETag"), std::string("W/\"v1\""));
        QCOMPARE(gz.one("Content-Encoding"), std::string("<absent>"));
        Exchange plain(request(""), response("Content-Type: text/html\r\nETag: \"v1\"\r\n", 304, ""));
        compression::CompressionPolicy::applyHeaders(policy.decide(plain.request, plain.response), plain.response);
        QCOMPARE(plain.one("ETag"), std::string("\"v1\""));
    }

    // The filter's two hooks over a whole body: state per exchange, framing flag, valid gzip.
    void filterHooks() {
        compression::CompressionFilter f(defaults());
        Exchange e(request(), response("Content-Type: text/plain\r\n", 200, "30000"));
        QCOMPARE(f.onResponseHeaders(e.ctx), filter::FilterStatus::Continue);
        QVERIFY(e.ctx.responseLengthChanged);
        QVERIFY(e.ctx.state(&f) != nullptr);
        std::string input, compressed;
        for (int i = 0; input.size() < 30000; ++i) input += "row " + std::to_string(i) + " of text\n";
        input.resize(30000);
        for (std::size_t at = 0; at < input.size(); at += 7000) {
            const std::size_t n = std::min<std::size_t>(7000, input.size() - at);
            filter::BodyChunk chunk{std::string_view(input).substr(at, n), at + n == input.size()};
            QCOMPARE(f.onResponseBody(e.ctx, chunk), filter::FilterStatus::Continue);
            compressed.append(chunk.data);
        }
        z_stream z{};
        QCOMPARE(inflateInit2(&z, 31), Z_OK);
        std::string out(input.size() + 10, '\0');
        z.next_in = reinterpret_cast<Bytef*>(compressed.data());
        z.avail_in = static_cast<uInt>(compressed.size());
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        QCOMPARE(inflate(&z, Z_FINISH), Z_STREAM_END);
        out.resize(z.total_out);
        inflateEnd(&z);
        QVERIFY(out == input);
        e.ctx.clearStates();
        QVERIFY(e.ctx.state(&f) == nullptr);
    }

    void filterLeavesOthersAlone() {
        compression::CompressionFilter f(defaults());
        Exchange e(request(""), response("Content-Type: text/plain\r\n"));
        QCOMPARE(f.onResponseHeaders(e.ctx), filter::FilterStatus::Continue);
        QVERIFY(!e.ctx.responseLengthChanged);
        QVERIFY(e.ctx.state(&f) == nullptr);
        const std::string data = "unchanged";
        filter::BodyChunk chunk{data, true};
        QCOMPARE(f.onResponseBody(e.ctx, chunk), filter::FilterStatus::Continue);
        QCOMPARE(chunk.data.data(), data.data());
    }
};

QTEST_GUILESS_MAIN(CompressionFilterTest)
#include "compression_filter_test.moc"
