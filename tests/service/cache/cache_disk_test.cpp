// The disk store end to end: two runs of the real proxy-service on one cache directory. What the
// first stored is a hit for the second (the origin is not asked again); files damaged between the
// runs (a flipped body byte, a truncation, another format version, garbage with the right name)
// are dropped, counted and fetched afresh; purges reach entries that are only on disk; the byte
// budget holds; a directory that cannot be used leaves the cache in memory, with a logged error.

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string get(const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: disk.test\r\n\r\n";
}
std::string readFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void writeFile(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
// The entry file whose key holds needle (the file names are hashes).
fs::path fileHolding(const fs::path& dir, const std::string& needle) {
    for (const auto& f : fs::directory_iterator(dir))
        if (f.path().extension() == ".pce" && readFile(f.path()).find(needle) != std::string::npos) return f.path();
    return {};
}
std::size_t entryFiles(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& f : fs::directory_iterator(dir)) n += f.path().extension() == ".pce";
    return n;
}

}  // namespace

class CacheDiskTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    QTemporaryDir cacheDir_;
    int port_ = 0;
    std::string endpoint_;

    fs::path dir() const { return fs::path(cacheDir_.path().toStdString()) / "cache"; }

    json configFor(const std::string& path, int maxMb = 64) const {
        return {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"logging", {{"database", ""}}},
            {"cache", {{"memory_mb", 4}, {"max_object_kb", 256}, {"disk", {{"path", path}, {"max_mb", maxMb}}}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams", json::array({{{"name", "o"},
                                        {"servers", json::array({{{"address", "127.0.0.1:" +
                                                                                   std::to_string(origin_->port())}}})}}})},
            {"routes", json::array({{{"name", "cached"},
                                     {"cache", {{"enabled", true}}},
                                     {"upstream", "o"}}})},
        };
    }

    bool startProxy(const json& config) {
        proxy_ = std::make_unique<ProxyProcess>();
        return proxy_->start(config.dump(2), port_);
    }
    int stopProxy() {
        const int rc = proxy_->stop();
        return rc;
    }

    json ctl(const QStringList& args) { return proxyctlJson(endpoint_, args); }
    json disk() {
        const json s = ctl({"cache", "stats"});
        return s.is_object() && s.contains("disk") ? s["disk"] : json();
    }
    std::uint64_t diskNumber(const char* field) {
        const json d = disk();
        return d.is_object() && d.contains(field) && d[field].is_number() ? d[field].get<std::uint64_t>() : 0;
    }
    bool diskIdle() {
        const json d = disk();
        return d.is_object() && d.value("scanning", true) == false;
    }
    std::string cacheStatus(const std::string& t) {
        const RawResponse r = roundTrip(port_, get(t));
        return r.ok ? r.header("cache-status") : std::string("no response");
    }

private slots:
    void initTestCase() {
        QVERIFY(cacheDir_.isValid());
        origin_ = std::make_unique<FakeOrigin>("O");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-cache-disk-test-" + std::to_string(port_) + ".sock";
    }

    void cleanup() {
        if (proxy_ && proxy_->running()) stopProxy();
    }

    void survivesRestartAndDropsDamage() {
        const std::vector<std::string> names = {"keep", "flip", "trunc", "version", "purge1", "purge2", "tagged"};
        auto t = [](const std::string& n) {
            return "/cache/" + n + "?h=Cache-Control:max-age%3D600" + (n == "tagged" ? "&h=Cache-Tag:blue" : "");
        };
        QVERIFY2(startProxy(configFor(dir().string())), qPrintable(proxy_->output()));
        for (const auto& n : names) QVERIFY(cacheStatus(t(n)).find("fwd=miss") != std::string::npos);
        QTRY_COMPARE_WITH_TIMEOUT(diskNumber("writes"), std::uint64_t(names.size()), 15000);
        QCOMPARE(stopProxy(), 0);
        QCOMPARE(entryFiles(dir()), names.size());

        // Damage between the runs.
        const fs::path flip = fileHolding(dir(), "/cache/flip");
        const fs::path trunc = fileHolding(dir(), "/cache/trunc");
        const fs::path version = fileHolding(dir(), "/cache/version");
        QVERIFY(!flip.empty() && !trunc.empty() && !version.empty());
        std::string b = readFile(flip);
        b[b.size() - 3] ^= 0x01;
        writeFile(flip, b);
        b = readFile(trunc);
        writeFile(trunc, b.substr(0, b.size() - 5));
        b = readFile(version);
        b[4] = 7;
        writeFile(version, b);
        writeFile(dir() / "fedcba9876543210.pce", std::string(200, 'Z'));
        writeFile(dir() / "notes.txt", "not the cache's");

        const std::size_t asked = origin_->requests().size();
        QVERIFY2(startProxy(configFor(dir().string())), qPrintable(proxy_->output()));
        QTRY_VERIFY_WITH_TIMEOUT(diskIdle(), 15000);
        // Kept: a hit, the origin not asked.
        const RawResponse keep = roundTrip(port_, get(t("keep")));
        QVERIFY2(keep.header("cache-status").find("hit") != std::string::npos, keep.head.c_str());
        QVERIFY(keep.body.find("/cache/keep") != std::string::npos);
        QCOMPARE(origin_->requests().size(), asked);
        // Damaged: dropped, counted, fetched again (and stored again).
        for (const char* n : {"flip", "trunc", "version"})
            QVERIFY2(cacheStatus(t(n)).find("fwd=miss") != std::string::npos, n);
        QCOMPARE(origin_->requests().size(), asked + 3);
        QCOMPARE(diskNumber("corrupt"), std::uint64_t(4));  // three damaged, one garbage
        QVERIFY(cacheStatus(t("flip")).find("hit") != std::string::npos);
        QVERIFY(!fs::exists(dir() / "fedcba9876543210.pce"));
        QVERIFY(fs::exists(dir() / "notes.txt"));

        // Purges reach entries only on disk (not read since the restart).
        json r = ctl({"cache", "purge", "prefix", "http://disk.test/cache/purge"});
        QVERIFY2(r.is_object() && r.value("purged", 0) == 2, r.dump().c_str());
        r = ctl({"cache", "purge", "tag", "blue"});
        QVERIFY2(r.is_object() && r.value("purged", 0) == 1, r.dump().c_str());
        QTRY_VERIFY_WITH_TIMEOUT(fileHolding(dir(), "/cache/purge1").empty(), 10000);
        QVERIFY(fileHolding(dir(), "/cache/tagged").empty());
        QVERIFY(cacheStatus(t("purge1")).find("fwd=miss") != std::string::npos);
        QVERIFY(cacheStatus(t("tagged")).find("fwd=miss") != std::string::npos);
        QCOMPARE(stopProxy(), 0);
    }

    void budgetHolds() {
        const fs::path small = fs::path(cacheDir_.path().toStdString()) / "small";
        QVERIFY2(startProxy(configFor(small.string(), 1)), qPrintable(proxy_->output()));
        for (int i = 0; i < 40; ++i) {
            const std::string t = "/cache/big" + std::to_string(i) + "?h=Cache-Control:max-age%3D600&len=60000";
            QVERIFY(roundTrip(port_, get(t)).ok);
        }
        // 40 x 60 KB against 1 MiB: evictions, and the files within the budget once the queued
        // writes and deletes are done.
        QTRY_VERIFY_WITH_TIMEOUT(diskNumber("evictions") >= 20, 15000);
        QVERIFY(diskNumber("writes") >= 10);
        QVERIFY(diskNumber("bytes") <= 1024 * 1024);
        std::uint64_t onDisk = 0;
        QTRY_VERIFY_WITH_TIMEOUT(
            (onDisk = 0, [&] {
                for (const auto& f : fs::directory_iterator(small)) onDisk += fs::file_size(f.path());
                return onDisk <= 1024 * 1024 + 4096;
            }()),
            10000);
        QCOMPARE(stopProxy(), 0);
    }

    void unusableDirectoryMeansMemoryOnly() {
        const fs::path file = fs::path(cacheDir_.path().toStdString()) / "a-file";
        writeFile(file, "x");
        QVERIFY2(startProxy(configFor((file / "cache").string())), qPrintable(proxy_->output()));
        const json d = disk();
        QVERIFY2(d.is_object() && d.value("available", true) == false, d.dump().c_str());
        QVERIFY(d.value("error", std::string()).find("cannot create") != std::string::npos);
        QTRY_VERIFY(proxy_->output().contains("disk store is off"));
        // Still a cache: in memory.
        const std::string t = "/cache/mem?h=Cache-Control:max-age%3D600";
        QVERIFY(cacheStatus(t).find("fwd=miss") != std::string::npos);
        QVERIFY(cacheStatus(t).find("hit") != std::string::npos);
        QCOMPARE(stopProxy(), 0);
    }
};

QTEST_GUILESS_MAIN(CacheDiskTest)
#include "cache_disk_test.moc"
