// Tests service/config_store: versions, conflicts, invalid configs, rollback, diff, history that
// survives a new store instance, and atomic persistence (a failed write changes nothing).
#include <QTest>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config_store/config_store.h"
#include "config_store/file_config_source.h"
#include "config_store/line_diff.h"

#ifndef _WIN32
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <csignal>
#endif

using namespace proxy::config_store;
namespace fs = std::filesystem;

namespace {

std::string configText(int port, const std::string& upstream = "app") {
    return R"({
  "listeners": [ { "name": "web", "address": "127.0.0.1:)" +
           std::to_string(port) + R"(" } ],
  "upstreams": [ { "name": ")" +
           upstream + R"(", "servers": [ { "address": "127.0.0.1:9000" } ] } ],
  "routes": [ { "name": "all", "upstream": ")" +
           upstream + R"(" } ]
}
)";
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void writeFile(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// A source whose writes can be made to fail, to test the store's all-or-nothing logic apart from
// any file system.
class FlakySource final : public ConfigSource {
  public:
    std::string text;
    std::vector<VersionRecord> records;
    bool failText = false;
    bool failRecord = false;

    std::string describe() const override { return "memory"; }
    TextLoad loadText() override { return TextLoad{text, {}}; }
    std::optional<std::string> storeText(std::string_view t) override {
        if (failText) return std::string("disk full");
        text = std::string(t);
        return std::nullopt;
    }
    HistoryLoad loadHistory() override { return HistoryLoad{records, {}}; }
    std::optional<std::string> storeRecord(const VersionRecord& r) override {
        if (failRecord) return std::string("disk full");
        records.push_back(r);
        return std::nullopt;
    }
    void removeRecord(std::uint64_t version) override {
        std::erase_if(records, [&](const VersionRecord& r) { return r.version == version; });
    }
};

}  // namespace

class ConfigStoreTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    fs::path configPath() const { return fs::path(dir_.path().toStdString()) / "config.json"; }

    std::unique_ptr<ConfigStore> openStore(std::size_t historyLimit = 20) {
        ConfigStoreOptions options;
        options.historyLimit = historyLimit;
        auto store = std::make_unique<ConfigStore>(
            std::make_unique<FileConfigSource>(configPath().string()), options);
        const auto opened = store->open();
        if (!opened.ok()) {
            qWarning("open failed: %s", opened.message.c_str());
            for (const auto& d : opened.diagnostics) qWarning("%s", d.toString().c_str());
        }
        return store;
    }

  private slots:
    void init() {
        QVERIFY(dir_.isValid());
        std::error_code ec;
        fs::remove_all(configPath().string() + ".history", ec);
        writeFile(configPath(), configText(8080));
    }

    void openAssignsVersionOne() {
        auto store = openStore();
        const auto current = store->current();
        QCOMPARE(current.version, std::uint64_t{1});
        QVERIFY(current.config);
        QCOMPARE(current.config->listeners.at(0).address.port, std::uint16_t{8080});
        QCOMPARE(store->history().size(), std::size_t{1});
        QVERIFY(fs::exists(configPath().string() + ".history/v0000000001.json"));
    }

    void openRefusesInvalidFile() {
        writeFile(configPath(), R"({"listeners": 5})");
        ConfigStore store(std::make_unique<FileConfigSource>(configPath().string()));
        const auto opened = store.open();
        QCOMPARE(opened.status, ApplyResult::Status::Invalid);
        QVERIFY(!opened.diagnostics.empty());
        QCOMPARE(store.current().version, std::uint64_t{0});
        QVERIFY(!store.current().config);
        // Nothing is applied until open() succeeds.
        QCOMPARE(store.apply(configText(1), 0, "t").status, ApplyResult::Status::NotOpen);
    }

    void openMissingFile() {
        ConfigStore store(std::make_unique<FileConfigSource>(configPath().string() + ".nope"));
        const auto opened = store.open();
        QCOMPARE(opened.status, ApplyResult::Status::StorageError);
        QVERIFY(opened.message.find(".nope") != std::string::npos);
    }

    void applyPersistsAndNotifies() {
        auto store = openStore();
        std::shared_ptr<const proxy::config::Config> swapped;
        std::vector<ConfigChange> changes;
        store->setListener([&](std::shared_ptr<const proxy::config::Config> c) { swapped = c; });
        store->addObserver([&](const ConfigChange& c) { changes.push_back(c); });

        const auto result = store->apply(configText(8081), 1, "alice", "move port");
        QVERIFY2(result.ok(), result.message.c_str());
        QCOMPARE(result.status, ApplyResult::Status::Applied);
        QCOMPARE(result.version, std::uint64_t{2});
        QVERIFY(swapped);
        QCOMPARE(swapped->listeners.at(0).address.port, std::uint16_t{8081});
        QCOMPARE(changes.size(), std::size_t{1});
        QCOMPARE(changes[0].version, std::uint64_t{2});
        QCOMPARE(changes[0].appliedBy, std::string("alice"));
        QCOMPARE(readFile(configPath()), configText(8081));
        QCOMPARE(store->current().version, std::uint64_t{2});
        const auto history = store->history();
        QCOMPARE(history.size(), std::size_t{2});
        QCOMPARE(history.back().note, std::string("move port"));
        // No temp files are left beside the config.
        for (const auto& entry : fs::directory_iterator(configPath().parent_path()))
            QVERIFY2(entry.path().filename().string().find(".tmp-") == std::string::npos,
                     entry.path().string().c_str());
    }

    void applySameTextIsUnchanged() {
        auto store = openStore();
        int calls = 0;
        store->setListener([&](auto) { ++calls; });
        const auto result = store->apply(configText(8080), 1, "alice");
        QCOMPARE(result.status, ApplyResult::Status::Unchanged);
        QCOMPARE(result.version, std::uint64_t{1});
        QCOMPARE(calls, 0);
    }

    // The engine's precheck runs after validation and before anything is stored.
    void precheckRefusal() {
        auto store = openStore();
        int calls = 0;
        store->setListener([&](auto) { ++calls; });
        store->setPrecheck([](const proxy::config::Config& c) -> std::optional<std::string> {
            if (c.listeners.at(0).address.port == 8081) return "port 8081 is in use";
            return std::nullopt;
        });
        const auto refused = store->apply(configText(8081), 1, "alice");
        QCOMPARE(refused.status, ApplyResult::Status::Invalid);
        QCOMPARE(refused.message, std::string("port 8081 is in use"));
        QCOMPARE(refused.diagnostics.back().message, std::string("port 8081 is in use"));
        QCOMPARE(calls, 0);
        QCOMPARE(readFile(configPath()), configText(8080));
        QCOMPARE(store->history().size(), std::size_t{1});
        QVERIFY(store->apply(configText(8082), 1, "alice").ok());
        QCOMPARE(calls, 1);
    }

    void conflict() {
        auto store = openStore();
        QVERIFY(store->apply(configText(8081), 1, "alice").ok());
        int calls = 0;
        store->setListener([&](auto) { ++calls; });
        const auto result = store->apply(configText(8082), 1, "bob");
        QCOMPARE(result.status, ApplyResult::Status::Conflict);
        QCOMPARE(result.version, std::uint64_t{2});
        QCOMPARE(calls, 0);
        QCOMPARE(readFile(configPath()), configText(8081));
    }

    void invalidKeepsEverything_data() {
        QTest::addColumn<QByteArray>("text");
        QTest::newRow("not json") << QByteArray("{ nope");
        QTest::newRow("wrong type") << QByteArray(R"({"listeners": "web"})");
        QTest::newRow("unknown upstream")
            << QByteArray(R"({"listeners":[{"name":"w","address":"127.0.0.1:1"}],
                              "routes":[{"name":"r","upstream":"missing"}]})");
    }
    void invalidKeepsEverything() {
        QFETCH(QByteArray, text);
        auto store = openStore();
        int calls = 0;
        store->setListener([&](auto) { ++calls; });
        const auto result = store->apply(text.toStdString(), 1, "alice");
        QCOMPARE(result.status, ApplyResult::Status::Invalid);
        QVERIFY(!result.diagnostics.empty());
        QCOMPARE(calls, 0);
        QCOMPARE(store->current().version, std::uint64_t{1});
        QCOMPARE(readFile(configPath()), configText(8080));
        QCOMPARE(store->history().size(), std::size_t{1});
    }

    void rollback() {
        auto store = openStore();
        QVERIFY(store->apply(configText(8081), 1, "alice").ok());
        QVERIFY(store->apply(configText(8082), 2, "alice").ok());
        QCOMPARE(store->rollback(9, std::nullopt, "bob").status, ApplyResult::Status::NotFound);
        QCOMPARE(store->rollback(1, 2, "bob").status, ApplyResult::Status::Conflict);
        const auto result = store->rollback(1, 3, "bob");
        QVERIFY2(result.ok(), result.message.c_str());
        QCOMPARE(result.version, std::uint64_t{4});
        QCOMPARE(readFile(configPath()), configText(8080));
        QCOMPARE(store->current().config->listeners.at(0).address.port, std::uint16_t{8080});
        QCOMPARE(store->history().back().note, std::string("rollback to v1"));
    }

    void diff() {
        auto store = openStore();
        QVERIFY(store->apply(configText(8081, "api"), 1, "alice").ok());
        const auto d = store->diff(1, 2);
        QVERIFY2(d.ok, d.message.c_str());
        QVERIFY(d.text.starts_with("--- v1\n+++ v2\n@@ "));
        QVERIFY(d.text.find("-      \"address\": \"127.0.0.1:8080\"") != std::string::npos);
        QVERIFY(d.text.find("+      \"address\": \"127.0.0.1:8081\"") != std::string::npos);
        QVERIFY(d.text.find("+      \"upstream\": \"api\"") != std::string::npos);
        QCOMPARE(d.added, d.removed);
        QCOMPARE(d.added, std::size_t{3});
        QVERIFY(store->diff(2, 2).text.empty());
        QVERIFY(!store->diff(1, 7).ok);
    }

    // Versions, texts and who/when/note come back from disk in a new instance, and the version
    // counter continues instead of starting over.
    void historySurvivesRestart() {
        {
            auto store = openStore();
            QVERIFY(store->apply(configText(8081), 1, "alice", "first").ok());
            QVERIFY(store->apply(configText(8082), 2, "bob", "second").ok());
        }
        auto store = openStore();
        QCOMPARE(store->current().version, std::uint64_t{3});
        const auto history = store->history();
        QCOMPARE(history.size(), std::size_t{3});
        QCOMPARE(history[1].appliedBy, std::string("alice"));
        QCOMPARE(history[1].note, std::string("first"));
        QCOMPARE(history[2].text, configText(8082));
        QVERIFY(history[2].appliedAtMs > 0);
        QVERIFY(store->diff(1, 3).ok);
        QVERIFY(store->apply(configText(8083), 3, "carol").ok());
        QCOMPARE(store->current().version, std::uint64_t{4});
    }

    // A file edited while the service was down becomes a new version on the next start.
    void editedWhileDownIsNewVersion() {
        {
            auto store = openStore();
            QVERIFY(store->apply(configText(8081), 1, "alice").ok());
        }
        writeFile(configPath(), configText(9999));
        auto store = openStore();
        QCOMPARE(store->current().version, std::uint64_t{3});
        QVERIFY(store->history().back().note.find("outside") != std::string::npos);
    }

    void reloadPicksUpEdits() {
        auto store = openStore();
        int calls = 0;
        store->setListener([&](auto) { ++calls; });
        QCOMPARE(store->reload("sighup").status, ApplyResult::Status::Unchanged);
        writeFile(configPath(), configText(8090));
        const auto result = store->reload("sighup");
        QVERIFY2(result.ok(), result.message.c_str());
        QCOMPARE(result.version, std::uint64_t{2});
        QCOMPARE(calls, 1);
        writeFile(configPath(), "{ broken");
        QCOMPARE(store->reload("sighup").status, ApplyResult::Status::Invalid);
        QCOMPARE(store->current().version, std::uint64_t{2});
        QCOMPARE(calls, 1);
    }

    void historyIsPruned() {
        auto store = openStore(3);
        for (int i = 1; i <= 5; ++i)
            QVERIFY(store->apply(configText(8080 + i), std::uint64_t(i), "t").ok());
        const auto history = store->history();
        QCOMPARE(history.size(), std::size_t{3});
        QCOMPARE(history.front().version, std::uint64_t{4});
        std::size_t files = 0;
        for (const auto& e : fs::directory_iterator(configPath().string() + ".history")) {
            (void)e;
            ++files;
        }
        QCOMPARE(files, std::size_t{3});
        QCOMPARE(store->rollback(1, std::nullopt, "t").status, ApplyResult::Status::NotFound);
    }

    void corruptHistoryRecordIsSkipped() {
        {
            auto store = openStore();
            QVERIFY(store->apply(configText(8081), 1, "alice").ok());
        }
        writeFile(configPath().string() + ".history/v0000000001.json", "garbage");
        auto store = openStore();
        QCOMPARE(store->current().version, std::uint64_t{2});
        QCOMPARE(store->history().size(), std::size_t{1});
        QCOMPARE(store->dumpState()["problems"].size(), std::size_t{1});
    }

    // The store's all-or-nothing rule, with a source that fails on command.
    void failedWritesChangeNothing() {
        auto source = std::make_unique<FlakySource>();
        auto* flaky = source.get();  // not owned: the store owns it
        flaky->text = configText(8080);
        ConfigStore store(std::move(source));
        QVERIFY(store.open().ok());
        int calls = 0;
        store.setListener([&](auto) { ++calls; });

        flaky->failRecord = true;
        auto result = store.apply(configText(8081), 1, "t");
        QCOMPARE(result.status, ApplyResult::Status::StorageError);
        QCOMPARE(flaky->text, configText(8080));

        flaky->failRecord = false;
        flaky->failText = true;
        result = store.apply(configText(8081), 1, "t");
        QCOMPARE(result.status, ApplyResult::Status::StorageError);
        QVERIFY(result.message.find("disk full") != std::string::npos);
        QCOMPARE(flaky->text, configText(8080));
        QCOMPARE(flaky->records.size(), std::size_t{1});  // the new record was taken back
        QCOMPARE(store.current().version, std::uint64_t{1});
        QCOMPARE(calls, 0);

        flaky->failText = false;
        QVERIFY(store.apply(configText(8081), 1, "t").ok());
        QCOMPARE(calls, 1);
    }

#ifndef _WIN32
    // A real failing write through FileConfigSource. Root ignores directory permissions, so the
    // failure comes from a file-size limit (like a full disk); a read-only folder is used too when
    // not root.
    void atomicPersistOnFailingWrite() {
        auto store = openStore();
        const std::string before = readFile(configPath());
        std::string big = configText(8081);
        big.insert(big.size() - 2, std::string(8192, ' '));  // whitespace keeps it valid JSON

        struct rlimit old {};
        QVERIFY(getrlimit(RLIMIT_FSIZE, &old) == 0);
        auto* previous = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit limited = old;
        limited.rlim_cur = 4096;
        QVERIFY(setrlimit(RLIMIT_FSIZE, &limited) == 0);
        const auto result = store->apply(big, 1, "alice");
        setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, previous);

        QCOMPARE(result.status, ApplyResult::Status::StorageError);
        QCOMPARE(readFile(configPath()), before);
        QCOMPARE(store->current().version, std::uint64_t{1});
        for (const auto& entry : fs::directory_iterator(configPath().parent_path()))
            QVERIFY(entry.path().filename().string().find(".tmp-") == std::string::npos);
        QCOMPARE(store->history().size(), std::size_t{1});
        // After the failure the store still works.
        QVERIFY(store->apply(configText(8082), 1, "alice").ok());
    }

    void readOnlyFolder() {
        if (geteuid() == 0) QSKIP("root ignores folder permissions; covered by the size limit");
        auto store = openStore();
        const auto folder = configPath().parent_path();
        ::chmod(folder.c_str(), 0500);
        const auto result = store->apply(configText(8081), 1, "alice");
        ::chmod(folder.c_str(), 0700);
        QCOMPARE(result.status, ApplyResult::Status::StorageError);
        QCOMPARE(readFile(configPath()), configText(8080));
        QCOMPARE(store->current().version, std::uint64_t{1});
    }
#endif

    void concurrentAppliesAreSerialised() {
        auto store = openStore();
        std::atomic<int> applied{0};
        std::atomic<int> conflicts{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 10; ++i) {
                    const auto base = store->current().version;
                    const auto r = store->apply(configText(10000 + t * 100 + i), base, "t");
                    if (r.ok())
                        ++applied;
                    else if (r.status == ApplyResult::Status::Conflict)
                        ++conflicts;
                }
            });
        }
        for (auto& t : threads) t.join();
        QCOMPARE(applied + conflicts, 40);
        QCOMPARE(store->current().version, std::uint64_t(1 + applied));
        QCOMPARE(readFile(configPath()), store->current().text);
    }

    void lineDiff_data() {
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("b");
        QTest::addColumn<int>("added");
        QTest::addColumn<int>("removed");
        QTest::newRow("equal") << "a\nb\nc\n"
                               << "a\nb\nc\n"
                               << 0 << 0;
        QTest::newRow("from empty") << ""
                                    << "a\nb\n"
                                    << 2 << 0;
        QTest::newRow("to empty") << "a\nb\n"
                                  << "" << 0 << 2;
        QTest::newRow("middle") << "a\nb\nc\n"
                                << "a\nx\nc\n"
                                << 1 << 1;
        QTest::newRow("insert") << "a\nc\n"
                                << "a\nb\nc\n"
                                << 1 << 0;
        QTest::newRow("classic") << "a\nb\nc\na\nb\nb\na\n"
                                 << "c\nb\na\nb\na\nc\n"
                                 << 2 << 3;
    }
    void lineDiff() {
        QFETCH(QString, a);
        QFETCH(QString, b);
        QFETCH(int, added);
        QFETCH(int, removed);
        const auto as = a.toStdString();
        const auto bs = b.toStdString();
        const auto d = unifiedDiff(as, bs, "a", "b");
        QCOMPARE(int(d.added), added);
        QCOMPARE(int(d.removed), removed);
        // Applying the script to a must give b.
        const auto la = splitLines(as);
        const auto lb = splitLines(bs);
        std::vector<std::string_view> rebuilt;
        for (const auto& op : diffLines(la, lb)) {
            if (op.kind == DiffOp::Kind::Equal) {
                QCOMPARE(la[op.a], lb[op.b]);
                rebuilt.push_back(la[op.a]);
            } else if (op.kind == DiffOp::Kind::Insert) {
                rebuilt.push_back(lb[op.b]);
            }
        }
        QVERIFY(rebuilt == lb);
    }

    // Past the edit bound the script is longer but still correct; hunks are separated.
    void lineDiffBoundedAndHunks() {
        std::vector<std::string> aLines, bLines;
        for (int i = 0; i < 400; ++i) {
            aLines.push_back("a" + std::to_string(i));
            bLines.push_back(i % 2 ? "b" + std::to_string(i) : "a" + std::to_string(i));
        }
        std::vector<std::string_view> a(aLines.begin(), aLines.end());
        std::vector<std::string_view> b(bLines.begin(), bLines.end());
        const auto ops = diffLines(a, b, 10);
        std::vector<std::string_view> rebuilt;
        for (const auto& op : ops)
            if (op.kind != DiffOp::Kind::Delete)
                rebuilt.push_back(op.kind == DiffOp::Kind::Equal ? a[op.a] : b[op.b]);
        QVERIFY(rebuilt == b);

        std::string x, y;
        for (int i = 0; i < 30; ++i) {
            x += "line" + std::to_string(i) + "\n";
            y += (i == 2 || i == 25 ? "changed" : "line" + std::to_string(i)) + "\n";
        }
        const auto d = unifiedDiff(x, y, "x", "y");
        QCOMPARE(d.text.find("@@ -1,6 +1,6 @@") != std::string::npos, true);
        QCOMPARE(d.text.find("@@ -23,7 +23,7 @@") != std::string::npos, true);
    }
};

QTEST_GUILESS_MAIN(ConfigStoreTest)
#include "config_store_test.moc"
