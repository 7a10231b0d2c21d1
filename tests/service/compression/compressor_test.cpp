// The streaming compressor (service/compression/compressor.cpp): bodies of many sizes and
// chunkings go through it and back through real zlib inflate, byte for byte.

#include <zlib.h>

#include <QTest>

#include <random>
#include <string>

#include "compression/compressor.h"

using namespace proxy::compression;

namespace {

// Compressible prose, or bytes that do not compress (a fixed PRNG: the same input every run).
std::string body(const QString& kind, std::size_t size) {
    std::string out;
    out.reserve(size + 64);
    if (kind == "random") {
        std::mt19937_64 rng(size);
        while (out.size() < size) out += static_cast<char>(rng() & 0xff);
    } else {
        for (std::size_t line = 0; out.size() < size; ++line)
            out += "<p class=\"row\">item " + std::to_string(line) + " of the catalogue</p>\n";
    }
    out.resize(size);
    return out;
}

// Inflates a whole stream of the given coding; fails the caller (empty optional) on any error,
// trailing bytes or a stream that does not end.
std::optional<std::string> inflateAll(const std::string& data, Coding coding, bool mustEnd = true) {
    z_stream z{};
    if (inflateInit2(&z, coding == Coding::Gzip ? 15 + 16 : 15) != Z_OK) return std::nullopt;
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    char buffer[16384];
    while (rc == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buffer);
        z.avail_out = sizeof(buffer);
        rc = inflate(&z, Z_NO_FLUSH);
        out.append(buffer, sizeof(buffer) - z.avail_out);
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && !mustEnd) rc = Z_STREAM_END;  // decoded so far
    }
    const bool ok = rc == Z_STREAM_END && (!mustEnd || z.avail_in == 0);
    inflateEnd(&z);
    if (!ok) return std::nullopt;
    return out;
}

}  // namespace

class CompressorTest : public QObject {
    Q_OBJECT

private slots:
    void roundTrip_data() {
        QTest::addColumn<int>("coding");
        QTest::addColumn<QString>("kind");
        QTest::addColumn<int>("size");
        QTest::addColumn<int>("piece");  // 0: pieces of random sizes
        QTest::addColumn<int>("flush");
        QTest::addColumn<bool>("hint");  // tell the compressor the length (smaller window)
        const int sizes[] = {0, 1, 1023, 1024, 20 * 1024, 64 * 1024, 1024 * 1024};
        const int pieces[] = {1, 7, 4096, 16384, 0, 1 << 21};
        for (int coding : {int(Coding::Gzip), int(Coding::Deflate)})
            for (const char* kind : {"text", "random"})
                for (int size : sizes)
                    for (int piece : pieces) {
                        if (piece == 1 && size > 64 * 1024) continue;  // a million calls: slow, no news
                        for (int flush : {int(Compressor::Flush::None), int(Compressor::Flush::Sync)}) {
                            if (flush == int(Compressor::Flush::Sync) && piece < 4096 && size > 1024)
                                continue;  // sync flushing every few bytes is legal but slow here
                            const bool hint = (size + piece) % 3 == 0;
                            QTest::addRow("%s %s %d by %d flush%d%s",
                                          coding == int(Coding::Gzip) ? "gzip" : "deflate", kind, size,
                                          piece, flush, hint ? " hinted" : "")
                                << coding << QString(kind) << size << piece << flush << hint;
                        }
                    }
    }

    void roundTrip() {
        QFETCH(int, coding);
        QFETCH(QString, kind);
        QFETCH(int, size);
        QFETCH(int, piece);
        QFETCH(int, flush);
        QFETCH(bool, hint);
        const std::string input = body(kind, static_cast<std::size_t>(size));
        auto c = Compressor::create(Coding(coding), 6, hint ? input.size() : 0);
        QVERIFY(c);
        std::string compressed;
        std::mt19937 rng(static_cast<unsigned>(size));
        std::size_t at = 0;
        while (at < input.size()) {
            std::size_t n = piece > 0 ? static_cast<std::size_t>(piece) : 1 + rng() % 40000;
            n = std::min(n, input.size() - at);
            const auto out = c->compress(std::string_view(input).substr(at, n), Compressor::Flush(flush));
            QVERIFY(out);
            // The output buffer stays bounded by one piece plus what zlib held back.
            QVERIFY2(out->size() <= n + 128 * 1024, qPrintable(QString::number(out->size())));
            compressed.append(*out);
            at += n;
            if (Compressor::Flush(flush) == Compressor::Flush::Sync) {
                // Everything so far is decodable now: what a streaming client has seen.
                const auto partial = inflateAll(compressed, Coding(coding), false);
                QVERIFY(partial);
                QCOMPARE(partial->size(), at);
            }
        }
        const auto tail = c->compress({}, Compressor::Flush::Finish);
        QVERIFY(tail);
        compressed.append(*tail);
        QVERIFY(c->finished());
        QCOMPARE(c->bytesIn(), std::uint64_t(input.size()));
        QCOMPARE(c->bytesOut(), std::uint64_t(compressed.size()));
        if (coding == int(Coding::Gzip)) {
            QCOMPARE(std::uint8_t(compressed[0]), std::uint8_t(0x1f));
            QCOMPARE(std::uint8_t(compressed[1]), std::uint8_t(0x8b));
        } else {
            QCOMPARE(std::uint8_t(compressed[0]) & 0x0f, 8);  // zlib header: deflate method
        }
        const auto back = inflateAll(compressed, Coding(coding));
        QVERIFY2(back, "zlib could not inflate the stream");
        QCOMPARE(back->size(), input.size());
        QVERIFY(*back == input);
        if (kind == "text" && size >= 1024 && Compressor::Flush(flush) == Compressor::Flush::None)
            QVERIFY2(compressed.size() * 4 < input.size(), "prose should compress at least 4:1");
    }

    void levelsDiffer() {
        const std::string input = body("text", 256 * 1024);
        std::size_t sizes[2] = {};
        for (int i = 0; i < 2; ++i) {
            auto c = Compressor::create(Coding::Gzip, i == 0 ? 1 : 9, 0);
            QVERIFY(c);
            const auto out = c->compress(input, Compressor::Flush::Finish);
            QVERIFY(out);
            sizes[i] = out->size();
            QCOMPARE(inflateAll(std::string(*out), Coding::Gzip).value_or("<does not inflate>"), input);
        }
        QVERIFY2(sizes[1] < sizes[0], "level 9 should beat level 1 on prose");
    }

    void finishedStreamRefusesMore() {
        auto c = Compressor::create(Coding::Deflate, 6, 0);
        QVERIFY(c);
        QVERIFY(c->compress("abc", Compressor::Flush::Finish));
        QVERIFY(!c->compress("more", Compressor::Flush::None));
        QVERIFY(!c->compress({}, Compressor::Flush::Finish));
    }

    // Streams are reused per thread: one abandoned halfway, or set up for another coding or
    // level, must never leak state into the next body.
    void reusedStreamsStartClean() {
        const std::string first = body("text", 50000), second = body("random", 3000);
        for (int round = 0; round < 3; ++round) {
            {
                auto abandoned = Compressor::create(Coding::Gzip, 6, 0);
                QVERIFY(abandoned);
                QVERIFY(abandoned->compress(first.substr(0, 20000), Compressor::Flush::Sync));
            }  // dropped mid-body: reset and cached
            for (Coding coding : {Coding::Gzip, Coding::Deflate}) {
                for (int level : {6, 1}) {
                    auto c = Compressor::create(coding, level, 0);
                    QVERIFY(c);
                    std::string out(*c->compress(second, Compressor::Flush::None));
                    out += *c->compress({}, Compressor::Flush::Finish);
                    QCOMPARE(c->bytesIn(), std::uint64_t(second.size()));
                    QCOMPARE(inflateAll(out, coding).value_or("<does not inflate>"), second);
                }
            }
        }
    }

    // Pieces that may wait are gathered up to kHoldBack before zlib starts; beyond that, output
    // flows, so what is held stays bounded.
    void holdBackIsBounded() {
        const std::string input = body("random", 3 * Compressor::kHoldBack);
        auto c = Compressor::create(Coding::Gzip, 6, input.size());
        QVERIFY(c);
        const std::size_t piece = 16 * 1024;
        std::string out;
        std::size_t producedAt = 0;
        for (std::size_t at = 0; at < input.size(); at += piece) {
            const auto o = c->compress(std::string_view(input).substr(at, piece), Compressor::Flush::None);
            QVERIFY(o);
            if (!o->empty() && producedAt == 0) producedAt = at + piece;
            out.append(*o);
        }
        QVERIFY2(producedAt > 0 && producedAt <= Compressor::kHoldBack + piece,
                 qPrintable(QString::number(producedAt)));
        out.append(*c->compress({}, Compressor::Flush::Finish));
        QCOMPARE(inflateAll(out, Coding::Gzip).value_or("<does not inflate>"), input);
        // A small body: nothing until the end, then all of it.
        auto small = Compressor::create(Coding::Deflate, 6, 0);
        const std::string page = body("text", 20000);
        QCOMPARE(small->compress(std::string_view(page).substr(0, 12000), Compressor::Flush::None)->size(),
                 std::size_t{0});
        std::string whole(*small->compress(std::string_view(page).substr(12000), Compressor::Flush::Finish));
        QCOMPARE(inflateAll(whole, Coding::Deflate).value_or("<does not inflate>"), page);
    }

    void identityHasNoCompressor() { QVERIFY(!Compressor::create(Coding::Identity, 6, 0)); }

    void emptyBodyIsAValidStream() {
        for (Coding coding : {Coding::Gzip, Coding::Deflate}) {
            auto c = Compressor::create(coding, 6, 0);
            QVERIFY(c);
            const auto out = c->compress({}, Compressor::Flush::Finish);
            QVERIFY(out);
            QCOMPARE(inflateAll(std::string(*out), coding).value_or("<does not inflate>"), std::string());
        }
    }
};

QTEST_GUILESS_MAIN(CompressorTest)
#include "compressor_test.moc"
