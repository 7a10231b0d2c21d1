// Row groups (service/logging/row_group.*): worst-case records survive encode + decode unchanged,
// and a corrupt column blob is a clear error, never a crash or a read outside the blob.
#include <QTest>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "logging/row_group.h"

using namespace proxy::logging::rowgroup;

namespace {

// Rows with owned strings, so a test can build them and compare after decoding.
struct Row {
    std::array<std::int64_t, kIntColumns> ints{};
    std::array<std::string, kTextColumns> texts;
    RowView view() const {
        RowView v;
        v.ints = ints;
        for (std::size_t c = 0; c < kTextColumns; ++c) v.texts[c] = texts[c];
        return v;
    }
};

// Encodes rows, decodes every column and compares value by value. Returns the blobs.
std::vector<std::string> roundTrip(const std::vector<Row>& rows) {
    Encoder enc;
    for (const Row& r : rows) {
        if (!enc.add(r.view())) {
            QTest::qFail("add refused a row", __FILE__, __LINE__);
            return {};
        }
    }
    std::vector<std::string> blobs;
    for (std::size_t c = 0; c < kColumns; ++c) {
        blobs.push_back(enc.encodeColumn(c));
        Column col;
        const std::string err = decodeColumn(blobs.back(), c, static_cast<std::uint32_t>(rows.size()), col);
        if (!err.empty()) {
            QTest::qFail(("column " + std::to_string(c) + ": " + err).c_str(), __FILE__, __LINE__);
            return {};
        }
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const bool same = c < kIntColumns ? col.ints.at(i) == rows[i].ints[c]
                                              : col.texts.at(i) == rows[i].texts[c - kIntColumns];
            if (!same) {
                QTest::qFail(("column " + std::to_string(c) + " row " + std::to_string(i) + " differs").c_str(),
                             __FILE__, __LINE__);
                return {};
            }
        }
        if ((c < kIntColumns ? col.ints.size() : col.texts.size()) != rows.size()) {
            QTest::qFail("wrong number of values", __FILE__, __LINE__);
            return {};
        }
    }
    return blobs;
}

// The blob format written out independently of the encoder (row_group.h's comment), so a change
// to how the encoder builds a blob cannot change what a blob is: stored groups stay readable and
// equal whatever the encoder's internal shortcuts.
void refVarint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>(v | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}
std::string referenceBlob(const std::vector<Row>& rows, std::size_t c) {
    std::string out;
    if (c < kIntColumns) {
        out.push_back(c == TimeUs ? 1 : 0);
        std::uint64_t previous = 0;
        for (const Row& r : rows) {
            const auto v = static_cast<std::uint64_t>(r.ints[c]);
            const auto d = static_cast<std::int64_t>(c == TimeUs ? v - previous : v);
            previous = v;
            refVarint(out, (static_cast<std::uint64_t>(d) << 1) ^ static_cast<std::uint64_t>(d >> 63));
        }
        return out;
    }
    std::vector<std::string> values;
    for (const Row& r : rows) values.push_back(r.texts[c - kIntColumns].substr(0, kMaxTextBytes));
    std::vector<std::string> dict;  // distinct values in order of first appearance
    std::vector<std::uint8_t> index;
    for (const std::string& v : values) {
        const auto it = std::find(dict.begin(), dict.end(), v);
        if (it == dict.end()) {
            if (dict.size() == kMaxDictionary) { dict.clear(); break; }
            dict.push_back(v);
            index.push_back(static_cast<std::uint8_t>(dict.size() - 1));
        } else {
            index.push_back(static_cast<std::uint8_t>(it - dict.begin()));
        }
    }
    if (!rows.empty() && !dict.empty()) {
        out.push_back(3);
        refVarint(out, dict.size());
        for (const std::string& d : dict) {
            refVarint(out, d.size());
            out += d;
        }
        if (dict.size() > 1) out.append(index.begin(), index.end());
        return out;
    }
    out.push_back(2);
    for (const std::string& v : values) refVarint(out, v.size());
    for (const std::string& v : values) out += v;
    return out;
}

// Adds rows to enc (which may have held an earlier group: it is reset first) and checks every
// column's blob against referenceBlob and that it decodes back to the rows.
void checkAgainstReference(Encoder& enc, const std::vector<Row>& rows, const char* what) {
    enc.reset();
    for (const Row& r : rows) {
        if (!enc.add(r.view())) {
            QTest::qFail((std::string(what) + ": add refused a row").c_str(), __FILE__, __LINE__);
            return;
        }
    }
    for (std::size_t c = 0; c < kColumns; ++c) {
        const std::string blob = enc.encodeColumn(c);
        if (blob != referenceBlob(rows, c)) {
            QTest::qFail((std::string(what) + ": column " + std::to_string(c) + " differs from the format").c_str(),
                         __FILE__, __LINE__);
            return;
        }
        Column col;
        const std::string err = decodeColumn(blob, c, static_cast<std::uint32_t>(rows.size()), col);
        const std::size_t n = c < kIntColumns ? col.ints.size() : col.texts.size();
        if (!err.empty() || n != rows.size()) {
            QTest::qFail((std::string(what) + ": column " + std::to_string(c) + " does not decode").c_str(),
                         __FILE__, __LINE__);
            return;
        }
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const bool same = c < kIntColumns
                                  ? col.ints[i] == rows[i].ints[c]
                                  : col.texts[i] == std::string_view(rows[i].texts[c - kIntColumns]).substr(0, kMaxTextBytes);
            if (!same) {
                QTest::qFail((std::string(what) + ": column " + std::to_string(c) + " row " + std::to_string(i) +
                              " differs")
                                 .c_str(),
                             __FILE__, __LINE__);
                return;
            }
        }
    }
}

Row typical(int i) {
    Row r;
    r.ints[TimeUs] = 1'764'000'000'000'000 + i * 125;
    r.ints[DurationUs] = 1000 + i;
    r.ints[Status] = i % 7 == 0 ? 502 : 200;
    r.ints[ConnectUs] = -1;
    r.ints[ResponseUs] = i % 3 == 0 ? -1 : 900;
    r.texts[0] = "req-" + std::to_string(i);
    r.texts[1] = "10.0.0." + std::to_string(i % 200);
    r.texts[2] = "public";
    r.texts[4] = "GET";
    r.texts[5] = "example.com";
    r.texts[6] = "/api/v1/items/" + std::to_string(i);
    return r;
}

}  // namespace

class RowGroupTest : public QObject {
    Q_OBJECT
private slots:
    void emptyGroup() {
        const auto blobs = roundTrip({});
        QCOMPARE(blobs.size(), kColumns);
        Encoder enc;
        QCOMPARE(enc.rows(), 0u);
        QCOMPARE(enc.statusClasses(), 0u);
    }

    void oneEmptyRecord() {
        Row r;  // every int 0, every text empty
        roundTrip({r});
    }

    void extremeIntegers() {
        std::vector<Row> rows;
        const std::int64_t values[] = {0, -1, 1, std::numeric_limits<std::int64_t>::min(),
                                       std::numeric_limits<std::int64_t>::max(), -2, 127, 128, -64, -65};
        for (std::size_t i = 0; i < std::size(values); ++i) {
            Row r;
            r.ints.fill(values[i]);
            rows.push_back(r);
        }
        // Time going backwards and jumping across the whole range (deltas overflow and wrap).
        rows[3].ints[TimeUs] = std::numeric_limits<std::int64_t>::max();
        rows[4].ints[TimeUs] = std::numeric_limits<std::int64_t>::min();
        roundTrip(rows);
    }

    void hostileText() {
        std::vector<Row> rows;
        Row a;
        a.texts[6] = std::string("/a\0b\0", 5);                 // NULs inside
        a.texts[11] = "\xff\xfe\xc3\x28\xed\xa0\x80 invalid";    // invalid UTF-8, surrogate
        a.texts[16] = std::string(1, '\0');
        rows.push_back(a);
        Row b;
        for (std::size_t c = 0; c < kTextColumns; ++c) b.texts[c] = std::string(640, static_cast<char>(0x80 + c));
        b.texts[7] = std::string(kMaxTextBytes, 'q');           // one value at the decoder's cap
        rows.push_back(b);
        rows.push_back(a);                                       // repeats: dictionary indexes
        rows.push_back(Row{});
        roundTrip(rows);
    }

    void overlongTextIsCutAtTheCap() {
        Row r;
        r.texts[3] = std::string(kMaxTextBytes + 10, 'x');
        Encoder enc;
        QVERIFY(enc.add(r.view()));
        Column col;
        QCOMPARE(decodeColumn(enc.encodeColumn(kIntColumns + 3), kIntColumns + 3, 1, col), std::string());
        QCOMPARE(col.texts.at(0).size(), std::size_t(kMaxTextBytes));
    }

    void dictionaryOverflowGoesPlain() {
        // 1000 rows, 300 distinct hosts (more than the dictionary holds), plus constant columns.
        std::vector<Row> rows;
        for (int i = 0; i < 1000; ++i) {
            Row r = typical(i);
            r.texts[5] = "host" + std::to_string(i % 300) + ".example";
            rows.push_back(r);
        }
        const auto blobs = roundTrip(rows);
        QVERIFY(!blobs.empty());
        QCOMPARE(static_cast<int>(blobs[kIntColumns + 5][0]), 2);  // plain
        QCOMPARE(static_cast<int>(blobs[kIntColumns + 2][0]), 3);  // "public": dictionary
        // A constant column costs its value once, without an index per row.
        QVERIFY(blobs[kIntColumns + 2].size() < 16);
    }

    void dictionaryLookup() {
        // dictionaryHas answers from a dictionary blob's entries alone: present, absent, or -1 for
        // anything that is not a well-formed dictionary (the caller then decodes the rows).
        std::vector<Row> rows;
        for (int i = 0; i < 300; ++i) {  // 300 request ids: that column goes plain
            Row r = typical(i);
            r.texts[5] = i % 2 ? "a.example" : "b.example";
            rows.push_back(r);
        }
        const auto blobs = roundTrip(rows);
        QVERIFY(!blobs.empty());
        const std::string& hosts = blobs[kIntColumns + 5];
        QCOMPARE(dictionaryHas(hosts, "a.example"), 1);
        QCOMPARE(dictionaryHas(hosts, "b.example"), 1);
        QCOMPARE(dictionaryHas(hosts, "c.example"), 0);
        QCOMPARE(dictionaryHas(hosts, ""), 0);
        QCOMPARE(dictionaryHas(blobs[kIntColumns + 2], "public"), 1);  // a constant column
        QCOMPARE(dictionaryHas(blobs[kIntColumns + 0], "req-1"), -1);   // plain: decode instead
        QCOMPARE(dictionaryHas(blobs[TimeUs], "x"), -1);
        QCOMPARE(dictionaryHas("", "x"), -1);
        // Every truncation of the dictionary part is -1 or an honest answer, never a read past it.
        for (std::size_t n = 0; n < hosts.size(); ++n) {
            const int r = dictionaryHas(std::string_view(hosts).substr(0, n), "b.example");
            QVERIFY(r == -1 || r == 0 || r == 1);
        }
        QCOMPARE(dictionaryHas(std::string("\x03\x00", 2), "x"), -1);                 // no entries
        QCOMPARE(dictionaryHas(std::string("\x03\x01\xff\xff\xff\x0f", 6), "x"), -1);  // huge length
    }

    void exactlyTheDictionaryLimit() {
        std::vector<Row> rows;
        for (std::uint32_t i = 0; i < kMaxDictionary * 2; ++i) {
            Row r;
            r.texts[9] = "u" + std::to_string(i % kMaxDictionary);
            rows.push_back(r);
        }
        const auto blobs = roundTrip(rows);
        QVERIFY(!blobs.empty());
        QCOMPARE(static_cast<int>(blobs[kIntColumns + 9][0]), 3);
    }

    void blobsFollowTheFormat() {
        // The encoder keeps no per-row index while a column is constant and remembers the previous
        // row's value; neither may change a blob. Groups built to hit every transition: constant
        // columns (empty or not), a change only at the first or the very last row, runs, values
        // coming back, the dictionary filling up exactly, overflowing early and late, and values
        // cut at the cap that equal the previous row only after the cut.
        Encoder enc;  // one encoder for every group: nothing may leak from one group to the next
        const std::uint32_t sizes[] = {1, 2, 3, 255, 256, 257, 4096};
        std::mt19937_64 rng(7);
        for (const std::uint32_t n : sizes) {
            std::vector<Row> rows(n);
            for (std::uint32_t i = 0; i < n; ++i) {
                Row& r = rows[i];
                r.ints[TimeUs] = 1'764'000'000'000'000 + static_cast<std::int64_t>(rng() % 1000) - 500;
                r.ints[Status] = i % 5 ? 200 : 404;
                r.ints[ClientPort] = static_cast<std::int64_t>(rng() % 65536);
                r.texts[0] = "";                                               // constant empty
                r.texts[1] = "10.0.0.1";                                       // constant
                r.texts[2] = i + 1 == n ? "last" : "listener";                 // changes at the last row
                r.texts[3] = i == 0 ? "first" : "route";                       // changes after the first
                r.texts[4] = (i / 7) % 2 ? "POST" : "GET";                     // runs
                r.texts[5] = i + 1 == n ? "" : "host";                         // back to empty at the end
                r.texts[6] = "/p" + std::to_string(i % 256);                   // exactly fills the dictionary
                r.texts[7] = "q" + std::to_string(i);                          // overflows at row 256
                r.texts[8] = i < 3 ? "HTTP/1.1" : "HTTP/1.0";
                r.texts[9] = i % 300 == 299 ? "u" + std::to_string(i) : "u";   // overflows late, if at all
                if (n <= 3) r.texts[10] = std::string(kMaxTextBytes, 'a') + (i % 2 ? "x" : "y");  // equal after the cut
                r.texts[11] = std::string(i % 3, 'z');                         // "", "z", "zz": prefixes
                r.texts[12] = (rng() % 2) ? "a" : "";
                r.texts[16] = i == n / 2 ? "upstream: connect refused" : "";  // one row in the middle
            }
            checkAgainstReference(enc, rows, ("group of " + std::to_string(n)).c_str());
        }
        // Random groups with few distinct values per column (runs and repeats, not noise).
        for (int g = 0; g < 30; ++g) {
            std::vector<Row> rows(1 + rng() % 700);
            const std::uint64_t distinct = 1 + rng() % 300;
            for (auto& r : rows)
                for (std::size_t c = 0; c < kTextColumns; ++c)
                    if (c % 3 != 0) r.texts[c] = "v" + std::to_string(rng() % (c % 3 == 1 ? 2 : distinct));
            checkAgainstReference(enc, rows, ("random group " + std::to_string(g)).c_str());
        }
    }

    void constantColumnChangesAtTheLastRow() {
        // A whole full group of one value, then one other: the per-row indexes appear only then,
        // and the first 65535 rows must still read as the first value.
        Encoder enc;
        Row r;
        r.texts[2] = "public";
        for (std::uint32_t i = 0; i + 1 < kMaxRows; ++i) QVERIFY(enc.add(r.view()));
        QCOMPARE(enc.encodeColumn(kIntColumns + 2), std::string("\x03\x01\x06public", 9));  // no indexes
        r.texts[2] = "admin";
        QVERIFY(enc.add(r.view()));
        const std::string blob = enc.encodeColumn(kIntColumns + 2);  // the decoded values point into it
        Column col;
        QCOMPARE(decodeColumn(blob, kIntColumns + 2, kMaxRows, col), std::string());
        QCOMPARE(col.texts.size(), std::size_t(kMaxRows));
        QCOMPARE(col.texts.front(), std::string_view("public"));
        QCOMPARE(col.texts[kMaxRows - 2], std::string_view("public"));
        QCOMPARE(col.texts.back(), std::string_view("admin"));
        QCOMPARE(dictionaryHas(blob, "admin"), 1);
        QCOMPARE(dictionaryHas(blob, "public"), 1);
        // After a reset the first row's value is an entry again, even if it equals the old one.
        enc.reset();
        r.texts[2] = "admin";
        QVERIFY(enc.add(r.view()));
        QCOMPARE(enc.encodeColumn(kIntColumns + 2), std::string("\x03\x01\x05" "admin", 8));
    }

    void summary() {
        Encoder enc;
        for (int i : {5, 1, 9}) {
            Row r = typical(i);
            r.ints[TimeUs] = i;
            r.ints[Status] = i == 1 ? 0 : i == 5 ? 404 : 503;
            QVERIFY(enc.add(r.view()));
        }
        QCOMPARE(enc.minTime(), std::int64_t(1));
        QCOMPARE(enc.maxTime(), std::int64_t(9));
        QCOMPARE(enc.statusClasses(), (1u << 0) | (1u << 4) | (1u << 5));
        enc.reset();
        QCOMPARE(enc.rows(), 0u);
    }

    void fullGroupRefusesMore() {
        Encoder enc;
        Row r;
        for (std::uint32_t i = 0; i < kMaxRows; ++i) QVERIFY(enc.add(r.view()));
        QVERIFY(!enc.add(r.view()));
        QCOMPARE(enc.rows(), kMaxRows);
        Column col;
        QCOMPARE(decodeColumn(enc.encodeColumn(TimeUs), TimeUs, kMaxRows, col), std::string());
        QCOMPARE(col.ints.size(), std::size_t(kMaxRows));
    }

    void fullTextColumnRefusesMore() {
        // The bound on one text column's bytes (1 GiB in the service; 4,096 here). A row that
        // would pass it is refused whole, and what the group holds stays intact.
        constexpr std::uint64_t kBound = 4096;
        Encoder enc(kBound);
        std::vector<Row> kept;
        for (int i = 0; i < 4; ++i) {
            Row r;
            r.texts[5] = std::string(1000, static_cast<char>('a' + i));  // 4 x 1,000 bytes
            QVERIFY(enc.add(r.view()));
            kept.push_back(r);
        }
        Row over;
        over.texts[5] = std::string(97, 'z');  // 4,097 bytes: one too many
        over.texts[1] = "GET";
        QVERIFY(!enc.add(over.view()));
        QCOMPARE(enc.rows(), std::uint32_t(4));
        // Exactly at the bound still fits; then nothing more does, even one byte; other columns
        // are bounded on their own.
        Row exact;
        exact.texts[5] = std::string(96, 'y');
        QVERIFY(enc.add(exact.view()));
        kept.push_back(exact);
        Row oneMore;
        oneMore.texts[5] = "x";
        QVERIFY(!enc.add(oneMore.view()));
        Row elsewhere;
        elsewhere.texts[3] = std::string(1000, 'q');
        QVERIFY(enc.add(elsewhere.view()));
        kept.push_back(elsewhere);
        QCOMPARE(enc.rows(), std::uint32_t(6));
        for (std::size_t c = kIntColumns; c < kColumns; ++c) {
            const std::string blob = enc.encodeColumn(c);  // the decoded texts point into it
            Column col;
            QCOMPARE(decodeColumn(blob, c, 6, col), std::string());
            for (std::size_t i = 0; i < kept.size(); ++i) QCOMPARE(col.texts.at(i), kept[i].texts[c - kIntColumns]);
        }
        // A new group starts empty under the same bound.
        enc.reset();
        QVERIFY(enc.add(over.view()));
    }

    void randomGroupsRoundTrip() {
        std::mt19937_64 rng(42);
        for (int g = 0; g < 20; ++g) {
            std::vector<Row> rows(rng() % 600);
            for (auto& r : rows) {
                for (auto& v : r.ints) v = static_cast<std::int64_t>(rng()) >> (rng() % 64);
                for (auto& t : r.texts) {
                    t.resize(rng() % 4 == 0 ? rng() % 300 : rng() % 3);
                    for (auto& ch : t) ch = static_cast<char>(rng());
                }
            }
            roundTrip(rows);
        }
    }

    void everyTruncationIsAnError() {
        std::vector<Row> rows;
        for (int i = 0; i < 50; ++i) rows.push_back(typical(i));
        Encoder enc;
        for (const auto& r : rows) QVERIFY(enc.add(r.view()));
        for (std::size_t c = 0; c < kColumns; ++c) {
            const std::string blob = enc.encodeColumn(c);
            for (std::size_t n = 0; n < blob.size(); ++n) {
                // A copy of exactly n bytes, so ASan catches any read past it.
                const std::vector<char> cut(blob.begin(), blob.begin() + static_cast<std::ptrdiff_t>(n));
                Column col;
                const std::string err = decodeColumn(std::string_view(cut.data(), n), c, 50, col);
                if (err.empty()) {
                    // Only possible if the cut drops nothing the 50 rows need: never with these rows.
                    QFAIL(qPrintable(QString("column %1 cut at %2 decoded").arg(c).arg(n)));
                }
                QVERIFY(col.ints.empty() && col.texts.empty());
            }
            Column col;
            QVERIFY(!decodeColumn(blob + "x", c, 50, col).empty());         // trailing bytes
            // More rows than stored (a constant text column stores no per-row data, so it cannot tell).
            const bool constant = blob.size() >= 2 && blob[0] == 3 && blob[1] == 1;
            if (!constant) QVERIFY(!decodeColumn(blob, c, 51, col).empty());
        }
    }

    void corruptBlobs() {
        Column col;
        QCOMPARE(decodeColumn("", TimeUs, 0, col), std::string("the column is empty"));
        QVERIFY(!decodeColumn(std::string("\x02\x00", 2), TimeUs, 1, col).empty());  // text kind in an int column
        QVERIFY(!decodeColumn(std::string("\x00\x00", 2), kIntColumns, 1, col).empty());  // int kind in a text column
        QVERIFY(!decodeColumn(std::string("\x07", 1), kIntColumns, 0, col).empty());      // unknown kind
        QVERIFY(!decodeColumn(std::string("\x00", 1), kColumns, 0, col).empty());         // no such column
        QVERIFY(!decodeColumn(std::string("\x00", 1), TimeUs, kMaxRows + 1, col).empty());
        // An 11-byte varint, and a 10-byte one over 64 bits.
        QVERIFY(!decodeColumn(std::string("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), TimeUs, 1, col).empty());
        QVERIFY(!decodeColumn(std::string("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11), TimeUs, 1, col).empty());
        // Dictionary: zero entries, too many entries, an index past the end.
        QVERIFY(!decodeColumn(std::string("\x03\x00", 2), kIntColumns, 0, col).empty());
        QVERIFY(!decodeColumn(std::string("\x03\x81\x02", 3), kIntColumns, 1, col).empty());
        QVERIFY(!decodeColumn(std::string("\x03\x02\x01" "a" "\x01" "b" "\x02", 7), kIntColumns, 1, col).empty());
        // Plain text: a length over the cap, and lengths summing past the blob.
        QVERIFY(!decodeColumn(std::string("\x02\xff\xff\xff\x7f", 5), kIntColumns, 1, col).empty());
        QVERIFY(!decodeColumn(std::string("\x02\x05\x05" "abc", 6), kIntColumns, 2, col).empty());
        QVERIFY(col.ints.empty() && col.texts.empty());
        // And a good one decodes.
        const std::string good("\x03\x02\x01" "a" "\x01" "b" "\x01\x00", 8);  // col points into it
        QCOMPARE(decodeColumn(good, kIntColumns, 2, col), std::string());
        QCOMPARE(col.texts.size(), std::size_t(2));
        QCOMPARE(col.texts[0], std::string_view("b"));
        QCOMPARE(col.texts[1], std::string_view("a"));
    }

    void hashIsStable() {
        // Hashes may be stored (bloom filters), so they must not change between builds.
        QCOMPARE(hashBytes(""), hashBytes(std::string_view()));
        QVERIFY(hashBytes("a") != hashBytes("b"));
        QVERIFY(hashBytes("abcdefgh") != hashBytes("abcdefgh", 1));
        QVERIFY(hashBytes(std::string("\0", 1)) != hashBytes(""));
        QCOMPARE(hashBytes("10.0.0.1"), hashBytes(std::string("10.0.0.1")));
    }
};

QTEST_GUILESS_MAIN(RowGroupTest)
#include "row_group_test.moc"
