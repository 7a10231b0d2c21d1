// The disk store: the entry format (round trip, and every way a file can be wrong), and the store
// itself on a temporary directory (restart, corruption, budget, erase, an unusable directory).
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

#include "cache/disk_entry.h"
#include "cache/disk_store.h"

using namespace proxy::cache;
namespace fs = std::filesystem;

namespace {
std::shared_ptr<CachedResponse> makeEntry(const std::string& key, std::size_t bodySize, std::string varyValue = {}) {
    auto e = std::make_shared<CachedResponse>();
    e->primaryKey = key;
    e->url = "http://h" + key;
    e->tags = {"t1", "group"};
    e->status = 203;
    e->reason = "Non-Authoritative";
    e->headers = {{"Content-Type", "text/plain"}, {"ETag", "\"v1\""}, {"X-Empty", ""}};
    e->body = std::make_shared<const std::string>(bodySize, 'b');
    if (!varyValue.empty()) e->vary.fields = {{"accept-language", varyValue}};
    e->directives.maxAge = 60;
    e->directives.staleIfError = 5;
    e->directives.mustRevalidate = true;
    e->age = {100, 101, 99, 3};
    e->lifetime = 60;
    e->etag = "\"v1\"";
    e->lastModified = "Sun, 06 Nov 1994 08:49:37 GMT";
    return e;
}
bool any(const CachedResponse&) { return true; }

std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void writeFile(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
fs::path dirOf(const QTemporaryDir& d) { return fs::path(d.path().toStdString()); }
}  // namespace

class DiskStoreTest : public QObject {
    Q_OBJECT
private slots:
    void crcMatchesZlib() {
        QCOMPARE(crc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
        QCOMPARE(crc32(""), 0u);
    }

    void entryRoundTrip() {
        const auto e = makeEntry("/a?b", 1000, "de");
        e->age.date.reset();
        const std::string file = encodeDiskEntry(*e);
        CachedResponse back;
        DiskEntryError why{};
        QVERIFY(decodeDiskEntry(file, back, why));
        QCOMPARE(why, DiskEntryError::None);
        QCOMPARE(back.primaryKey, e->primaryKey);
        QCOMPARE(back.url, e->url);
        QCOMPARE(back.tags, e->tags);
        QVERIFY(back.vary == e->vary);
        QCOMPARE(back.status, 203);
        QCOMPARE(back.reason, e->reason);
        QCOMPARE(back.headers, e->headers);
        QCOMPARE(*back.body, *e->body);
        QCOMPARE(back.directives.maxAge, e->directives.maxAge);
        QCOMPARE(back.directives.staleIfError, e->directives.staleIfError);
        QVERIFY(!back.directives.sMaxAge);
        QVERIFY(back.directives.mustRevalidate);
        QVERIFY(!back.directives.isPublic);
        QCOMPARE(back.age.requestTime, Seconds(100));
        QCOMPARE(back.age.responseTime, Seconds(101));
        QVERIFY(!back.age.date);
        QCOMPARE(back.age.ageValue, Seconds(3));
        QCOMPARE(back.lifetime, Seconds(60));
        QCOMPARE(back.etag, e->etag);
        QCOMPARE(back.lastModified, e->lastModified);
        // An empty body round-trips too.
        const auto empty = makeEntry("/e", 0);
        QVERIFY(decodeDiskEntry(encodeDiskEntry(*empty), back, why));
        QCOMPARE(back.body->size(), std::size_t(0));
    }

    void everyDamageIsDetected_data() {
        QTest::addColumn<int>("kind");
        QTest::addColumn<int>("expected");
        QTest::newRow("body byte flipped") << 0 << int(DiskEntryError::BodyChecksum);
        QTest::newRow("meta byte flipped") << 1 << int(DiskEntryError::HeadChecksum);
        QTest::newRow("key byte flipped") << 2 << int(DiskEntryError::HeadChecksum);
        QTest::newRow("truncated body") << 3 << int(DiskEntryError::Short);
        QTest::newRow("truncated head") << 4 << int(DiskEntryError::Short);
        QTest::newRow("bytes appended") << 5 << int(DiskEntryError::Lengths);
        QTest::newRow("other version") << 6 << int(DiskEntryError::Version);
        QTest::newRow("foreign file") << 7 << int(DiskEntryError::Magic);
        QTest::newRow("length field changed") << 8 << int(DiskEntryError::Short);
        QTest::newRow("empty file") << 9 << int(DiskEntryError::Short);
    }
    void everyDamageIsDetected() {
        QFETCH(int, kind);
        QFETCH(int, expected);
        std::string f = encodeDiskEntry(*makeEntry("/k", 500));
        switch (kind) {
            case 0: f[f.size() - 10] ^= 0x01; break;
            case 1: f[kDiskHeadSize + 2 + 8] ^= 0x40; break;
            case 2: f[kDiskHeadSize] ^= 0x01; break;
            case 3: f.resize(f.size() - 1); break;
            case 4: f.resize(20); break;
            case 5: f += "x"; break;
            case 6: f[4] = 2; break;
            case 7: f = "<html>not a cache entry, but long enough to hold a head</html>"; break;
            case 8: f[16] = static_cast<char>(f[16] + 1); break;  // body length +1
            case 9: f.clear(); break;
        }
        CachedResponse out;
        DiskEntryError why{};
        QVERIFY(!decodeDiskEntry(f, out, why));
        QCOMPARE(int(why), expected);
    }

    void hostileCountsAreBounded() {
        // A meta whose tag count claims 4 billion items, with a valid head CRC: refused quickly.
        std::string f = encodeDiskEntry(*makeEntry("/k", 0));
        const std::size_t meta = kDiskHeadSize + 2;  // key "/k"
        const std::size_t tagCount = meta + 4 + std::string("http://h/k").size();
        for (int i = 0; i < 4; ++i) f[tagCount + i] = static_cast<char>(0xFF);
        std::uint32_t crc = crc32(std::string_view(f).substr(0, 28));
        const std::uint32_t metaLen = static_cast<unsigned char>(f[12]) | static_cast<unsigned char>(f[13]) << 8;
        crc = crc32(std::string_view(f).substr(kDiskHeadSize, 2 + metaLen), crc);
        for (int i = 0; i < 4; ++i) f[28 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
        CachedResponse out;
        DiskEntryError why{};
        QVERIFY(!decodeDiskEntry(f, out, why));
        QCOMPARE(why, DiskEntryError::Meta);
    }

    void fileNamesSeparateVariants() {
        VaryValues de, en;
        de.fields = {{"accept-language", "de"}};
        en.fields = {{"accept-language", "en"}};
        QVERIFY(diskFileName("/a", de) != diskFileName("/a", en));
        QVERIFY(diskFileName("/a", {}) != diskFileName("/b", {}));
        QCOMPARE(diskFileName("/a", de), diskFileName("/a", de));
        QCOMPARE(diskFileName("/a", {}).size(), std::size_t(20));
    }

    void survivesReopen() {
        QTemporaryDir tmp;
        {
            DiskStore store(dirOf(tmp), 1 << 20);
            std::string error;
            QVERIFY2(store.open(error), error.c_str());
            QVERIFY(store.put(makeEntry("/a", 100)));
            QVERIFY(store.put(makeEntry("/v", 10, "de")));
            QVERIFY(store.put(makeEntry("/v", 20, "en")));
            QVERIFY(store.find("/a", any));  // before or after the write: found
            store.flush();
            QCOMPARE(store.stats().writes, std::uint64_t(3));
        }
        DiskStore again(dirOf(tmp), 1 << 20);
        std::string error;
        QVERIFY(again.open(error));
        again.flush();  // the scan
        QCOMPARE(again.stats().entries, std::uint64_t(3));
        const EntryPtr a = again.find("/a", any);
        QVERIFY(a);
        QCOMPARE(a->body->size(), std::size_t(100));
        QCOMPARE(a->etag, std::string("\"v1\""));
        const EntryPtr en = again.find("/v", [](const CachedResponse& c) { return c.vary.fields[0].second == "en"; });
        QVERIFY(en);
        QCOMPARE(en->body->size(), std::size_t(20));
        QVERIFY(!again.find("/nothing", any));
    }

    void corruptFilesAreDroppedAndCounted() {
        QTemporaryDir tmp;
        const fs::path dir = dirOf(tmp);
        {
            DiskStore store(dir, 1 << 20);
            std::string error;
            QVERIFY(store.open(error));
            for (const char* k : {"/flip", "/trunc", "/version", "/good", "/late"}) store.put(makeEntry(k, 300));
            store.flush();
        }
        auto fileFor = [&](const char* k) { return dir / diskFileName(k, {}); };
        std::string b = readFile(fileFor("/flip"));
        b[b.size() - 1] ^= 0x20;
        writeFile(fileFor("/flip"), b);
        b = readFile(fileFor("/trunc"));
        writeFile(fileFor("/trunc"), b.substr(0, b.size() / 2));
        b = readFile(fileFor("/version"));
        b[4] = 9;
        writeFile(fileFor("/version"), b);
        writeFile(dir / "0123456789abcdef.pce", "garbage that merely has the right name");
        writeFile(dir / "README.txt", "not ours: left alone");
        writeFile(dir / "00000000000000aa.pce.7.tmp", "a write cut short");

        DiskStore store(dir, 1 << 20);
        std::string error;
        QVERIFY(store.open(error));
        store.flush();
        // The scan drops what its head check sees (truncated, wrong version, garbage); a body
        // flip is found when the entry is read.
        QCOMPARE(store.stats().corrupt, std::uint64_t(3));
        QCOMPARE(store.stats().entries, std::uint64_t(3));
        QVERIFY(!store.find("/flip", any));
        QCOMPARE(store.stats().corrupt, std::uint64_t(4));
        QVERIFY(!store.find("/trunc", any));
        QVERIFY(!store.find("/version", any));
        QVERIFY(store.find("/good", any));
        // Late damage: the file changes after the scan indexed it.
        b = readFile(fileFor("/late"));
        writeFile(fileFor("/late"), b.substr(0, 40));
        QVERIFY(!store.find("/late", any));
        QCOMPARE(store.stats().corrupt, std::uint64_t(5));
        store.flush();
        QVERIFY(!fs::exists(fileFor("/flip")));
        QVERIFY(!fs::exists(fileFor("/trunc")));
        QVERIFY(!fs::exists(fileFor("/version")));
        QVERIFY(!fs::exists(fileFor("/late")));
        QVERIFY(!fs::exists(dir / "0123456789abcdef.pce"));
        QVERIFY(!fs::exists(dir / "00000000000000aa.pce.7.tmp"));
        QVERIFY(fs::exists(dir / "README.txt"));
        QVERIFY(fs::exists(fileFor("/good")));
    }

    void budgetEvictsLeastRecentlyUsed() {
        QTemporaryDir tmp;
        DiskStore store(dirOf(tmp), 10'000);
        std::string error;
        QVERIFY(store.open(error));
        store.put(makeEntry("/1", 3000));
        store.put(makeEntry("/2", 3000));
        store.flush();
        QVERIFY(store.find("/1", any));  // /2 is now the least recently used
        store.put(makeEntry("/3", 3000));
        store.put(makeEntry("/4", 3000));
        store.flush();
        const auto s = store.stats();
        QVERIFY(s.bytes <= 10'000);
        QVERIFY(s.evictions >= 1);
        QVERIFY(!store.find("/2", any));
        QVERIFY(store.find("/4", any));
        QVERIFY(!fs::exists(dirOf(tmp) / diskFileName("/2", {})));
        // Budget holds across a reopen with a smaller budget too.
        store.setBudget(4000);
        store.flush();
        QVERIFY(store.stats().bytes <= 4000);
        QCOMPARE(store.stats().entries, std::uint64_t(1));
        // Bigger than the whole budget: not written.
        QVERIFY(!store.put(makeEntry("/huge", 5000)));
    }

    void eraseRemovesFilesEvenWhilePending() {
        QTemporaryDir tmp;
        const fs::path dir = dirOf(tmp);
        DiskStore store(dir, 1 << 20);
        std::string error;
        QVERIFY(store.open(error));
        store.put(makeEntry("/p/1", 10));
        store.put(makeEntry("/p/2", 10));
        store.put(makeEntry("/q", 10));
        // Possibly before the writes ran: the erase still wins.
        QCOMPARE(store.erase([](const CachedResponse& e) { return e.url.starts_with("http://h/p/"); }, {}),
                 std::size_t(2));
        store.flush();
        QVERIFY(!fs::exists(dir / diskFileName("/p/1", {})));
        QVERIFY(!fs::exists(dir / diskFileName("/p/2", {})));
        QVERIFY(fs::exists(dir / diskFileName("/q", {})));
        // By tag, on index data alone (after a reopen, nothing but the file has the tags).
        DiskStore again(dir, 1 << 20);
        QVERIFY(again.open(error));
        again.flush();
        QCOMPARE(again.erase([](const CachedResponse& e) { return e.tags.size() == 2 && e.tags[1] == "group"; }, {}),
                 std::size_t(1));
        QCOMPARE(again.stats().entries, std::uint64_t(0));
    }

    void tieredStoreReadsThroughAndErasesBoth() {
        QTemporaryDir tmp;
        const fs::path dir = dirOf(tmp);
        std::string error;
        {
            TieredStore tiered(1 << 20);
            auto disk = std::make_shared<DiskStore>(dir, 1 << 20);
            QVERIFY(disk->open(error));
            tiered.setDisk(disk);
            QVERIFY(tiered.insert(makeEntry("/t", 50)));
            disk->flush();
        }
        TieredStore tiered(1 << 20);
        auto disk = std::make_shared<DiskStore>(dir, 1 << 20);
        QVERIFY(disk->open(error));
        disk->flush();
        tiered.setDisk(disk);
        QCOMPARE(tiered.stats().entries, std::uint64_t(0));
        const EntryPtr hit = tiered.find("/t", any);
        QVERIFY(hit);
        QCOMPARE(tiered.stats().entries, std::uint64_t(1));  // copied into memory
        // An erase by identity (the filter drops exactly the copy it holds) reaches the disk copy.
        QCOMPARE(tiered.erase([&](const CachedResponse& e) { return &e == hit.get(); }), std::size_t(1));
        disk->flush();
        QVERIFY(!tiered.find("/t", any));
        QVERIFY(!fs::exists(dir / diskFileName("/t", {})));
    }

    void unusableDirectoryIsReported() {
        QTemporaryDir tmp;
        const fs::path file = dirOf(tmp) / "a-file";
        writeFile(file, "x");
        DiskStore store(file / "cache", 1 << 20);  // under a regular file: cannot be created
        std::string error;
        QVERIFY(!store.open(error));
        QVERIFY(error.find("cannot create") != std::string::npos);
        QVERIFY(!store.stats().available);
        QCOMPARE(store.stats().error, error);
        QVERIFY(!store.put(makeEntry("/x", 1)));
        QVERIFY(!store.find("/x", any));
    }
};

QTEST_GUILESS_MAIN(DiskStoreTest)
#include "disk_store_test.moc"
