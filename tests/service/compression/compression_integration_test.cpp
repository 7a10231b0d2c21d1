// Compression end to end: the real proxy-service between a raw client and a fake origin, with
// Content-Length, chunked and close-delimited origin bodies, HTTP/1.0 clients, HEAD, 304, 206,
// no-transform, Vary merging, origins lying about their encoding, and keep-alive afterwards.

#include <zlib.h>

#include <QTest>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "proxy_process.h"
#include "raw_client.h"

using namespace proxy::test;
using json = nlohmann::json;

namespace {

std::optional<std::string> inflateAll(const std::string& data, int windowBits) {
    z_stream z{};
    if (inflateInit2(&z, windowBits) != Z_OK) return std::nullopt;
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    char buffer[65536];
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buffer);
        z.avail_out = sizeof(buffer);
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buffer, sizeof(buffer) - z.avail_out);
    }
    const bool ok = rc == Z_STREAM_END && z.avail_in == 0;
    inflateEnd(&z);
    if (!ok) return std::nullopt;
    return out;
}

std::string unzip(const std::string& data, int windowBits) {
    return inflateAll(data, windowBits).value_or("<does not inflate>");
}

std::string get(const std::string& target, const std::string& extra = "Accept-Encoding: gzip\r\n",
                const std::string& host = "test.local", const std::string& method = "GET",
                const std::string& version = "HTTP/1.1") {
    return method + " " + target + " " + version + "\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

std::string gen(std::size_t len, const std::string& extra = "", const std::string& kind = "text",
                const std::string& framing = "cl") {
    return "/gen?type=text/html%3B%20charset%3Dutf-8&len=" + std::to_string(len) + "&kind=" + kind +
           "&framing=" + framing + extra;
}

}  // namespace

class CompressionIntegrationTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;

    // Sends one request on `c` and checks the keep-alive connection still serves a plain one.
    void checkStillAlive(RawClient& c) {
        QVERIFY(c.send(get("/after", "")));
        const auto r = c.readResponse();
        QVERIFY(r.ok);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.body, std::string("O GET /after"));
    }

private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("O");
        port_ = freePort();
        const json server = {{"address", "127.0.0.1:" + std::to_string(origin_->port())}};
        const json config = {
            {"workers", 2},
            {"control", {{"endpoint", "/tmp/proxy-compression-test-" + std::to_string(port_) + ".sock"}}},
            {"timeouts", {{"upstream_response_ms", 5000}, {"client_idle_ms", 5000}}},
            {"logging", {{"database", ""}}},  // no access log: nothing written outside the test
            // Top-level defaults: off, but a route that says "enabled" inherits level and size.
            {"compression", {{"enabled", false}, {"min_size", 1024}, {"level", 6}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams", json::array({{{"name", "o"}, {"servers", json::array({server})}}})},
            {"routes", json::array({
                {{"name", "plain"}, {"match", {{"host", "plain.test"}}}, {"upstream", "o"}},
                {{"name", "deflate-first"},
                 {"match", {{"host", "deflate.test"}}},
                 {"compression", {{"enabled", true}, {"formats", json::array({"deflate", "gzip"})}}},
                 {"upstream", "o"}},
                {{"name", "all"}, {"compression", {{"enabled", true}}}, {"upstream", "o"}},
            })},
        };
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(config.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        const int rc = proxy_->stop();
        QVERIFY2(rc == 0, qPrintable("exit code " + QString::number(rc) + "; output:\n" + proxy_->output()));
    }

    void bodies_data() {
        QTest::addColumn<int>("size");
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("framing");
        QTest::addColumn<QString>("coding");
        for (int size : {0, 1, 1023, 1024, 20 * 1024, 64 * 1024, 1024 * 1024})
            for (const char* kind : {"text", "random"})
                for (const char* framing : {"cl", "chunked", "close"})
                    for (const char* coding : {"gzip", "deflate"})
                        QTest::addRow("%d %s %s %s", size, kind, framing, coding)
                            << size << QString(kind) << QString(framing) << QString(coding);
    }

    void bodies() {
        QFETCH(int, size);
        QFETCH(QString, kind);
        QFETCH(QString, framing);
        QFETCH(QString, coding);
        const std::string expected = FakeOrigin::generatedBody(kind.toStdString(), std::size_t(size));
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get(gen(std::size_t(size), "&piece=3000", kind.toStdString(), framing.toStdString()),
                           "Accept-Encoding: " + coding.toStdString() + "\r\n")));
        const auto r = c.readResponse(std::chrono::seconds(20));
        QVERIFY(r.ok);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("vary"), std::string(framing == "cl" && size < 1024 ? "" : "Accept-Encoding"));
        // Known lengths under min_size stay as they are; everything else is compressed.
        const bool compressed = framing != "cl" || size >= 1024;
        if (compressed) {
            QCOMPARE(r.header("content-encoding"), coding.toStdString());
            QVERIFY(!r.has("content-length"));
            QVERIFY(r.chunked);
            const auto body = inflateAll(r.body, coding == "gzip" ? 31 : 15);
            QVERIFY2(body, "the body does not inflate");
            QCOMPARE(body->size(), expected.size());
            QVERIFY(*body == expected);
            if (kind == "text" && size >= 20 * 1024) QVERIFY(r.body.size() * 4 < expected.size());
        } else {
            QVERIFY(!r.has("content-encoding"));
            QCOMPARE(r.header("content-length"), std::to_string(size));
            QVERIFY(r.body == expected);
        }
        checkStillAlive(c);
    }

    void http10ClientGetsCloseDelimited() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get(gen(50000), "Accept-Encoding: gzip\r\nConnection: keep-alive\r\n", "test.local",
                           "GET", "HTTP/1.0")));
        const auto r = c.readResponse(std::chrono::seconds(20));
        QVERIFY(r.ok);  // for a close-delimited body: complete only when the proxy closed
        QCOMPARE(r.header("content-encoding"), std::string("gzip"));
        QVERIFY(!r.has("content-length"));
        QVERIFY(!r.has("transfer-encoding"));
        QCOMPARE(r.header("connection"), std::string("close"));
        QVERIFY(unzip(r.body, 31) == FakeOrigin::generatedBody("text", 50000));
    }

    void http10SmallStaysKeepAlive() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get(gen(100), "Accept-Encoding: gzip\r\nConnection: keep-alive\r\n", "test.local",
                           "GET", "HTTP/1.0")));
        const auto r = c.readResponse();
        QVERIFY(r.ok);
        QCOMPARE(r.header("content-length"), std::string("100"));
        QCOMPARE(r.header("connection"), std::string("keep-alive"));
    }

    void headIsNeverCompressed() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get(gen(5000), "Accept-Encoding: gzip\r\n", "test.local", "HEAD")));
        const auto r = c.readResponse(std::chrono::seconds(10), false, true);
        QVERIFY(r.ok);
        QCOMPARE(r.status, 200);
        QVERIFY(!r.has("content-encoding"));
        QCOMPARE(r.header("vary"), std::string("Accept-Encoding"));
        QCOMPARE(r.header("content-length"), std::string("5000"));
        checkStillAlive(c);
    }

    void notModified() {
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get("/gen?status=304&type=text/html&h=ETag:%22v7%22")));
        const auto r = c.readResponse();
        QVERIFY(r.ok);
        QCOMPARE(r.status, 304);
        QVERIFY(!r.has("content-encoding"));
        QCOMPARE(r.header("etag"), std::string("W/\"v7\""));
        QCOMPARE(r.header("vary"), std::string("Accept-Encoding"));
        checkStillAlive(c);
    }

    void untouched_data() {
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("expectedVary");
        QTest::addColumn<int>("status");
        QTest::newRow("206") << QString::fromStdString(gen(5000, "&status=206&h=Content-Range:bytes%200-4999/9000"))
                             << "" << 206;
        QTest::newRow("no-transform") << QString::fromStdString(gen(5000, "&h=Cache-Control:no-transform")) << ""
                                      << 200;
        QTest::newRow("404") << QString::fromStdString(gen(5000, "&status=404")) << "" << 404;
        QTest::newRow("image") << "/gen?type=image/png&len=5000" << "" << 200;
        QTest::newRow("no type") << "/gen?len=5000" << "" << 200;
        // An origin that says gzip but sends something else: passed on byte for byte.
        QTest::newRow("lying gzip") << QString::fromStdString(gen(5000, "&h=Content-Encoding:gzip", "random"))
                                    << "" << 200;
        QTest::newRow("origin vary kept") << QString::fromStdString(gen(5000, "&h=Vary:Origin&h=Content-Encoding:br"))
                                          << "Origin" << 200;
    }

    void untouched() {
        QFETCH(QString, target);
        QFETCH(QString, expectedVary);
        QFETCH(int, status);
        RawClient c;
        QVERIFY(c.connect(port_));
        QVERIFY(c.send(get(target.toStdString())));
        const auto r = c.readResponse();
        QVERIFY(r.ok);
        QCOMPARE(r.status, status);
        QVERIFY(r.header("content-encoding") != "gzip" ||
                target.contains("Content-Encoding:gzip"));  // the origin's own, if any
        QCOMPARE(r.header("content-length"), std::string("5000"));
        QCOMPARE(r.header("vary"), expectedVary.toStdString());
        const bool random = target.contains("random");
        QVERIFY(r.body == FakeOrigin::generatedBody(random ? "random" : "text", 5000));
        checkStillAlive(c);
    }

    void varyMerged() {
        const auto r = roundTrip(port_, get(gen(5000, "&h=Vary:Origin")));
        QVERIFY(r.ok);
        QCOMPARE(r.header("content-encoding"), std::string("gzip"));
        QCOMPARE(r.header("vary"), std::string("Origin, Accept-Encoding"));
        QCOMPARE(r.headers.count("vary"), std::size_t{1});
    }

    void strongETagWeakened() {
        const auto r = roundTrip(port_, get(gen(5000, "&h=ETag:%22abc%22&h=Accept-Ranges:bytes")));
        QVERIFY(r.ok);
        QCOMPARE(r.header("etag"), std::string("W/\"abc\""));
        QVERIFY(!r.has("accept-ranges"));
    }

    void routeWithoutCompression() {
        const auto r = roundTrip(port_, get(gen(50000), "Accept-Encoding: gzip\r\n", "plain.test"));
        QVERIFY(r.ok);
        QVERIFY(!r.has("content-encoding"));
        QVERIFY(!r.has("vary"));
        QCOMPARE(r.header("content-length"), std::string("50000"));
    }

    void routeFormatOrder() {
        const auto r = roundTrip(port_, get(gen(50000), "Accept-Encoding: gzip, deflate\r\n", "deflate.test"));
        QVERIFY(r.ok);
        QCOMPARE(r.header("content-encoding"), std::string("deflate"));
        QVERIFY(unzip(r.body, 15) == FakeOrigin::generatedBody("text", 50000));
    }

    void hostileAcceptEncoding() {
        // Empty and malformed elements, a q out of range, a quoted string hiding "gzip;q=2, x;q=":
        // only "deflate;q=0.5" is a usable element.
        const std::string junk = "Accept-Encoding: ;;;,,\"\\, gzip;q=2, x;q=\"1, deflate;q=0.5\r\n";
        const auto r = roundTrip(port_, get(gen(5000), junk));
        QVERIFY(r.ok);
        QCOMPARE(r.status, 200);
        QCOMPARE(r.header("content-encoding"), std::string("deflate"));
        QCOMPARE(r.header("vary"), std::string("Accept-Encoding"));
        QVERIFY(unzip(r.body, 15) == FakeOrigin::generatedBody("text", 5000));
    }

    // Many tiny chunks arriving in one read (more than the relay gathers per write) must all be
    // relayed, compressed or not, without waiting on the origin for more.
    void manyTinyChunks() {
        for (const char* host : {"test.local", "plain.test"}) {
            RawClient c;
            QVERIFY(c.connect(port_));
            QVERIFY(c.send(get(gen(3000, "&piece=1", "text", "chunked"), "Accept-Encoding: gzip\r\n", host)));
            const auto r = c.readResponse(std::chrono::seconds(4));
            QVERIFY2(r.ok, host);
            const std::string body = r.has("content-encoding") ? unzip(r.body, 31) : r.body;
            QVERIFY(body == FakeOrigin::generatedBody("text", 3000));
            checkStillAlive(c);
        }
    }

    void gzipRequestBodyPassesThrough() {
        const std::string body("\x1f\x8b\x08\x00not-really-gzip", 19);
        const auto r = roundTrip(port_, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: gzip\r\nContent-Length: " +
                                            std::to_string(body.size()) + "\r\n\r\n" + body);
        QVERIFY(r.ok);
        QCOMPARE(r.status, 200);
        const auto requests = origin_->requests();
        QVERIFY(!requests.empty());
        QCOMPARE(requests.back().header("Content-Encoding"), std::string("gzip"));
        QVERIFY(requests.back().body == body);
    }
};

QTEST_GUILESS_MAIN(CompressionIntegrationTest)
#include "compression_integration_test.moc"
