// Tests for service/logging/access_log.{h,cpp}, sqlite_access_log.cpp, json_lines_sink.cpp and
// access_log_filter.cpp: completeness, drops, hostile queries, paging, aggregates, retention, a
// dead disk, a killed writer, JSON lines.
#include <QCoreApplication>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "build_info.h"
#include "filter/request_context.h"
#include "logging/access_log.h"
#include "logging/access_log_filter.h"
#include "logging/json_lines_sink.h"
#include "routing/router.h"
#include "upstream/upstream_group.h"

#if PROXY_WITH_SQLITE
#include <sqlite3.h>
#endif

using namespace proxy;
using namespace proxy::logging;
using Json = control::Json;
using namespace std::chrono_literals;

namespace {

std::int64_t nowUs() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

AccessRecord makeRecord(std::int64_t timeUs, int status, std::int64_t durationUs, const std::string& path,
                        const std::string& client = "10.0.0.1", const std::string& id = {}) {
    AccessRecord r;
    r.clearText();
    r.timeUs = timeUs;
    r.status = status;
    r.durationUs = durationUs;
    r.bytesIn = 100;
    r.bytesOut = 2000;
    r.clientPort = 40000;
    r.set(AccessRecord::RequestId, id);
    r.set(AccessRecord::ClientAddress, client);
    r.set(AccessRecord::Listener, "main");
    r.set(AccessRecord::Route, "api");
    r.set(AccessRecord::Method, "GET");
    r.set(AccessRecord::Host, "example.com");
    r.set(AccessRecord::Path, path);
    r.set(AccessRecord::Query, "a=1");
    r.set(AccessRecord::HttpVersion, "HTTP/1.1");
    r.set(AccessRecord::Upstream, "backend");
    r.set(AccessRecord::Server, "10.1.1.1:8080");
    return r;
}

// A sink that can hold the writer inside writeBatch until released.
class GateSink final : public AccessLogSink {
public:
    std::string_view name() const override { return "gate"; }
    std::expected<void, std::string> writeBatch(std::span<const AccessRecord> batch) override {
        std::unique_lock lock(mutex);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return open; });
        rows += batch.size();
        return {};
    }
    Json describe() const override { return Json{{"sink", "gate"}}; }

    void release() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
    bool waitEntered() {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, 5s, [&] { return entered; });
    }

    std::mutex mutex;
    std::condition_variable cv;
    bool entered = false;
    bool open = false;
    std::size_t rows = 0;
};

#if PROXY_WITH_SQLITE
struct Db {
    sqlite3* db = nullptr;
    explicit Db(const QString& path) {
        sqlite3_open_v2(path.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE, nullptr);
        // The writer may hold a lock for a moment (a checkpoint, a segment close): wait, as the
        // service's own reader does, rather than read -1.
        sqlite3_busy_timeout(db, 5000);
    }
    ~Db() { sqlite3_close(db); }
    // The rows live in time segments (schema 3): a TEMP view named access_log over every segment
    // in the catalog lets the checks below read them as one table. Rebuilt before each query.
    void refreshView() {
        sqlite3_exec(db, "DROP VIEW IF EXISTS temp.access_log", nullptr, nullptr, nullptr);
        auto names = accessLogSegments(db);
        if (!names || names->empty()) return;
        std::string sql = "CREATE TEMP VIEW access_log AS ";
        for (std::size_t i = 0; i < names->size(); ++i)
            sql += (i == 0 ? "SELECT * FROM main." : " UNION ALL SELECT * FROM main.") + (*names)[i];
        sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    }
    // The view and the query share one read transaction: the writer's retention may drop a
    // segment (a fresh database's empty first one, for instance) between two snapshots.
    std::int64_t integer(const char* sql) {
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        refreshView();
        sqlite3_stmt* s = nullptr;
        std::int64_t v = -1;
        if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
        return v;
    }
    std::string text(const char* sql) {
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        refreshView();
        sqlite3_stmt* s = nullptr;
        std::string v;
        if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
        return v;
    }
};

std::unique_ptr<AccessLog> sqliteLog(const QString& path, RetentionOptions retention = {},
                                     std::size_t queue = 8192) {
    AccessLogOptions o;
    o.databasePath = path.toStdString();
    o.queueCapacity = queue;
    o.flushInterval = 10ms;
    o.retention = retention;
    auto log = AccessLog::create(o);
    if (!log) qWarning("%s", log.error().c_str());
    return log ? std::move(*log) : nullptr;
}
#endif

// The child of crashSafety(): writes records under load and reports what was committed.
int crashChild(const char* path) {
#if PROXY_WITH_SQLITE
    AccessLogOptions o;
    o.databasePath = path;
    o.queueCapacity = 65536;
    o.batchMax = 500;
    o.flushInterval = 5ms;
    o.segments.maxRows = 3000;  // segment closes and index builds all through the load
    auto log = AccessLog::create(o);
    if (!log) return 2;
    std::uint64_t next = 0;
    for (;;) {
        for (int i = 0; i < 200; ++i, ++next)
            if (!(*log)->submit(makeRecord(nowUs(), 200, 1000, "/load", "10.0.0.9", std::to_string(next)))) --next, --i;
        std::printf("written %llu\n", static_cast<unsigned long long>((*log)->stats().written));
        std::fflush(stdout);
        std::this_thread::sleep_for(1ms);
    }
#else
    (void)path;
    return 3;
#endif
}

}  // namespace

class AccessLogTest : public QObject {
    Q_OBJECT

private slots:
    void jsonLinesRoundTrip();
    void queueFullDropsAreCountedExactly();
    void writerStopsCleanly();
    void filterFillsRecord();
    void dataPathCost();
    void recordsSkippedWithoutReaders();
#if PROXY_WITH_SQLITE
    void completeness();
    void hostileFilters_data();
    void hostileFilters();
    void hostileFiltersCannotInject();
    void keysetPaging();
    void filtersSelectRows();
    void perMinuteAggregates();
    void retentionByAgeInChunks();
    void retentionBySize();
    void deadDiskCountsDrops();
    void migrationRefusesNewerSchema();
    void crashSafety();
    void segmentRollover();
    void pagingAcrossSegments();
    void aggregatesAcrossSegments();
    void retentionDropsWholeSegments();
    void migrationFromV2();
    void tamperedCatalogIsRefused();
#endif
};

void AccessLogTest::jsonLinesRoundTrip() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/access.jsonl").toStdString();
    auto sink = std::make_unique<JsonLinesSink>(path);
    std::vector<AccessRecord> batch;
    batch.push_back(makeRecord(1'700'000'000'123'456, 200, 1500, "/plain", "10.0.0.1", "id-1"));
    batch.push_back(makeRecord(1'700'000'001'000'000, 502, 9, "/q\"uote\\back\nline\ttab\x01", "::1", "id-2"));
    batch.push_back(makeRecord(1'700'000'002'000'000, 0, 0, std::string("/bad\xff\xfe utf8 \xc3\xa9"), "10.0.0.2", "id-3"));
    batch[1].connectUs = 12;
    batch[1].set(AccessRecord::Error, "upstream: connect refused");
    QVERIFY(sink->writeBatch(batch).has_value());
    sink.reset();

    QFile file(QString::fromStdString(path));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().split('\n');
    QCOMPARE(lines.size(), 4);  // three lines and the empty piece after the last newline
    QVERIFY(lines[3].isEmpty());
    std::vector<Json> parsed;
    for (int i = 0; i < 3; ++i) {
        const Json j = Json::parse(lines[i].toStdString(), nullptr, false);
        QVERIFY2(!j.is_discarded(), lines[i].constData());
        parsed.push_back(j);
    }
    QCOMPARE(parsed[0]["time"].get<std::string>(), std::string("2023-11-14T22:13:20.123456Z"));
    QCOMPARE(parsed[0]["time_us"].get<long long>(), 1'700'000'000'123'456LL);
    QCOMPARE(parsed[0]["request_id"].get<std::string>(), std::string("id-1"));
    QCOMPARE(parsed[0]["status"].get<int>(), 200);
    QCOMPARE(parsed[0]["duration_us"].get<int>(), 1500);
    QCOMPARE(parsed[0]["upstream_connect_us"].get<int>(), -1);
    QCOMPARE(parsed[0]["client_port"].get<int>(), 40000);
    QCOMPARE(parsed[1]["path"].get<std::string>(), std::string("/q\"uote\\back\nline\ttab\x01"));
    QCOMPARE(parsed[1]["error"].get<std::string>(), std::string("upstream: connect refused"));
    QCOMPARE(parsed[1]["upstream_connect_us"].get<int>(), 12);
    QCOMPARE(parsed[2]["path"].get<std::string>(), std::string("/bad\xEF\xBF\xBD\xEF\xBF\xBD utf8 \xc3\xa9"));
    QCOMPARE(parsed[2]["client_addr"].get<std::string>(), std::string("10.0.0.2"));
}

void AccessLogTest::queueFullDropsAreCountedExactly() {
    std::vector<std::unique_ptr<AccessLogSink>> sinks;
    auto gate = std::make_unique<GateSink>();
    GateSink* g = gate.get();
    sinks.push_back(std::move(gate));
    AccessLogOptions o;
    o.queueCapacity = 64;
    o.flushInterval = 1ms;
    AccessLog log(o, std::move(sinks));
    QVERIFY(log.submit(makeRecord(nowUs(), 200, 1, "/first")));
    QVERIFY(g->waitEntered());  // the writer holds one batch and is stuck in the sink
    int accepted = 0, refused = 0;
    for (int i = 0; i < 64 + 37; ++i) (log.submit(makeRecord(nowUs(), 200, 1, "/x")) ? accepted : refused)++;
    QCOMPARE(accepted, 64);
    QCOMPARE(refused, 37);
    QCOMPARE(log.stats().droppedQueueFull, 37u);
    g->release();
    QVERIFY(log.flush(5s));
    const AccessLogStats s = log.stats();
    QCOMPARE(s.written, 65u);
    QCOMPARE(s.droppedQueueFull, 37u);
    QCOMPARE(s.droppedSinkError, 0u);
    QCOMPARE(g->rows, std::size_t{65});
    QCOMPARE(log.statsJson()["access_log"]["dropped"].get<int>(), 37);
}

void AccessLogTest::writerStopsCleanly() {
    QTemporaryDir dir;
    AccessLogOptions o;
    o.jsonLinesPath = (dir.path() + "/a.jsonl").toStdString();
    o.flushInterval = 200ms;  // stop() must not wait for the timer
    auto log = AccessLog::create(o);
    QVERIFY2(log.has_value(), log ? "" : log.error().c_str());
    for (int i = 0; i < 1000; ++i) QVERIFY((*log)->submit(makeRecord(nowUs(), 200, 1, "/s")));
    const auto begin = std::chrono::steady_clock::now();
    (*log)->stop();
    QVERIFY(std::chrono::steady_clock::now() - begin < 2s);
    QCOMPARE((*log)->stats().written, 1000u);  // stop() writes what was queued
    QVERIFY(!(*log)->submit(makeRecord(nowUs(), 200, 1, "/late")));  // later ones are refused
    (*log)->stop();  // idempotent
    QFile file(QString::fromStdString(o.jsonLinesPath));
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll().count('\n'), 1000);
}

void AccessLogTest::filterFillsRecord() {
    QTemporaryDir dir;
    AccessLogOptions o;
    o.jsonLinesPath = (dir.path() + "/f.jsonl").toStdString();
    o.flushInterval = 5ms;
    auto log = AccessLog::create(o);
    QVERIFY(log.has_value());
    AccessLogFilter f(log->get());
    QCOMPARE(f.phases(), filter::phaseBit(filter::Phase::Log));

    filter::ConnectionInfo conn{"192.0.2.7", 51000, "public", "0.0.0.0", false, 0};
    http::RequestHead head;
    head.methodText = "POST";
    head.method = http::Method::Post;
    head.path = "/rewritten";
    head.query = "x=1";
    head.host = "api.example.com";
    head.headers.add("User-Agent", "curl/8.0");
    head.headers.add("Referer", "https://ref.example/");
    routing::CompiledRoute route;
    route.name = "api-route";
    upstream::ServerState server;
    server.key = "10.2.3.4:9000";
    filter::RequestContext ctx;
    ctx.connection = &conn;
    ctx.request = &head;
    ctx.requestId = "abc123";
    ctx.originalPath = "/original";
    ctx.route = &route;
    ctx.server = &server;
    ctx.status = 503;
    ctx.error = filter::ErrorSource::Upstream;
    ctx.errorText = "no eligible server";
    ctx.bytesIn = 321;
    ctx.bytesOut = 654;
    ctx.total = 1500us;
    ctx.upstreamConnect = 200us;
    ctx.wallStart = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    f.onLog(ctx);
    QVERIFY((*log)->flush(2s));
    (*log)->stop();

    QFile file(QString::fromStdString(o.jsonLinesPath));
    QVERIFY(file.open(QIODevice::ReadOnly));
    const Json j = Json::parse(file.readAll().trimmed().toStdString());
    QCOMPARE(j["request_id"].get<std::string>(), std::string("abc123"));
    QCOMPARE(j["client_addr"].get<std::string>(), std::string("192.0.2.7"));
    QCOMPARE(j["client_port"].get<int>(), 51000);
    QCOMPARE(j["listener"].get<std::string>(), std::string("public"));
    QCOMPARE(j["route"].get<std::string>(), std::string("api-route"));
    QCOMPARE(j["method"].get<std::string>(), std::string("POST"));
    QCOMPARE(j["host"].get<std::string>(), std::string("api.example.com"));
    QCOMPARE(j["path"].get<std::string>(), std::string("/original"));
    QCOMPARE(j["query"].get<std::string>(), std::string("x=1"));
    QCOMPARE(j["http_version"].get<std::string>(), std::string("HTTP/1.1"));
    QCOMPARE(j["user_agent"].get<std::string>(), std::string("curl/8.0"));
    QCOMPARE(j["referer"].get<std::string>(), std::string("https://ref.example/"));
    QCOMPARE(j["upstream_server"].get<std::string>(), std::string("10.2.3.4:9000"));
    QCOMPARE(j["status"].get<int>(), 503);
    QCOMPARE(j["bytes_in"].get<int>(), 321);
    QCOMPARE(j["bytes_out"].get<int>(), 654);
    QCOMPARE(j["duration_us"].get<int>(), 1500);
    QCOMPARE(j["upstream_connect_us"].get<int>(), 200);
    QCOMPARE(j["upstream_response_us"].get<int>(), -1);
    QCOMPARE(j["error"].get<std::string>(), std::string("upstream: no eligible server"));
    QCOMPARE(j["time_us"].get<long long>(), 1'700'000'000'000'000LL);
    // ... and the metrics saw it.
    const Json m = (*log)->metrics().toJson();
    QCOMPARE(m["listeners"]["public"]["requests"].get<int>(), 1);
    QCOMPARE(m["routes"]["api-route"]["by_class"]["5xx"].get<int>(), 1);
    QCOMPARE(m["servers"]["10.2.3.4:9000"]["bytes_out"].get<int>(), 654);
}

void AccessLogTest::dataPathCost() {
    // What one onLog costs the worker: metrics + one queue slot. Printed for the report; the bound
    // is loose (a debug/ASan build), it catches an accidental lock or allocation storm.
    std::vector<std::unique_ptr<AccessLogSink>> sinks;
    auto gate = std::make_unique<GateSink>();
    gate->release();  // a sink that stores instantly: without one the records would be skipped
    sinks.push_back(std::move(gate));
    AccessLogOptions o;
    o.queueCapacity = 1 << 17;
    AccessLog log(o, std::move(sinks));
    filter::ConnectionInfo conn{"192.0.2.7", 51000, "public", "0.0.0.0", false, 0};
    http::RequestHead head;
    head.methodText = "GET";
    head.path = "/api/items/12345";
    head.host = "api.example.com";
    head.headers.add("Host", "api.example.com");
    head.headers.add("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0");
    head.headers.add("Accept", "*/*");
    routing::CompiledRoute route;
    route.name = "api";
    filter::RequestContext ctx;
    ctx.connection = &conn;
    ctx.request = &head;
    ctx.requestId = "0a1b2c3d0100002a";
    ctx.route = &route;
    ctx.status = 200;
    ctx.total = 800us;
    ctx.wallStart = std::chrono::system_clock::now();
    AccessLogFilter f(&log);
    constexpr int kCalls = 100'000;
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) f.onLog(ctx);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - begin).count();
    qInfo("AccessLogFilter::onLog: %.0f ns per request (%lld dropped)", static_cast<double>(ns) / kCalls,
          static_cast<long long>(log.stats().droppedQueueFull));
    QVERIFY(ns / kCalls < 100'000);  // ASan Debug on a busy box: ~20 µs
    QCOMPARE(log.stats().submitted + log.stats().droppedQueueFull, static_cast<std::uint64_t>(kCalls));
}

// No sink and no live-feed subscriber: nothing would read a record, so onLog only counts it (and
// records metrics). Once someone subscribes, records flow again.
void AccessLogTest::recordsSkippedWithoutReaders() {
    AccessLogOptions o;
    o.flushInterval = 5ms;
    AccessLog log(o, {});
    filter::ConnectionInfo conn{"192.0.2.7", 51000, "public", "0.0.0.0", false, 0};
    http::RequestHead head;
    head.methodText = "GET";
    head.path = "/skipped";
    head.host = "example.com";
    filter::RequestContext ctx;
    ctx.connection = &conn;
    ctx.request = &head;
    ctx.requestId = "00000000000000aa";
    ctx.status = 200;
    ctx.wallStart = std::chrono::system_clock::now();
    AccessLogFilter f(&log);
    for (int i = 0; i < 100; ++i) f.onLog(ctx);
    QVERIFY(log.flush(5s));
    auto s = log.stats();
    QCOMPARE(s.submitted, std::uint64_t{100});
    QCOMPARE(s.notStored, std::uint64_t{100});
    QCOMPARE(s.droppedQueueFull, std::uint64_t{0});
    QCOMPARE(s.batches, std::uint64_t{0});  // the writer never saw them
    QCOMPARE(log.metrics().toJson()["listeners"]["public"]["requests"].get<int>(), 100);

    const auto id = log.liveFeed().subscribe(100);
    head.path = "/seen";
    f.onLog(ctx);
    // The writer counts the record before it hands it to the feed: wait for the event itself.
    std::vector<FeedEvent> events;
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            auto more = log.liveFeed().poll(id);
            events.insert(events.end(), more.begin(), more.end());
            return !events.empty();
        }(),
        5000);
    QCOMPARE(events.size(), std::size_t{1});
    QCOMPARE(events[0].path, std::string("/seen"));
    s = log.stats();
    QCOMPARE(s.submitted, std::uint64_t{101});
    QCOMPARE(s.notStored, std::uint64_t{101});  // seen live, stored nowhere
    QVERIFY(s.batches >= 1);
    log.liveFeed().unsubscribe(id);
}

#if PROXY_WITH_SQLITE

void AccessLogTest::completeness() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/access.db";
    auto log = sqliteLog(path);
    QVERIFY(log);
    constexpr int kProducers = 4, kEach = 500;  // sized so ASan builds on a busy box keep up
    std::vector<std::thread> threads;
    const std::int64_t t0 = nowUs();
    for (int p = 0; p < kProducers; ++p)
        threads.emplace_back([&, p] {
            for (int i = 0; i < kEach; ++i)
                while (!log->submit(makeRecord(t0 + i, 200, i, "/c", "10.0.0." + std::to_string(p),
                                               std::to_string(p) + "-" + std::to_string(i))))
                    std::this_thread::yield();  // the test wants all of them; the proxy never retries
        });
    for (auto& t : threads) t.join();
    const auto begin = std::chrono::steady_clock::now();
    Db db(path);
    std::int64_t rows = 0;
    while (std::chrono::steady_clock::now() - begin < 2s) {
        rows = db.integer("SELECT COUNT(*) FROM access_log");
        if (rows == kProducers * kEach) break;
        std::this_thread::sleep_for(10ms);
    }
    qInfo("%lld rows visible %lld ms after the producers finished", static_cast<long long>(rows),
          static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - begin).count()));
    QCOMPARE(rows, std::int64_t{kProducers * kEach});
    QCOMPARE(db.integer("SELECT COUNT(DISTINCT request_id) FROM access_log"), std::int64_t{kProducers * kEach});
    QCOMPARE(db.text("PRAGMA journal_mode"), std::string("wal"));
    QCOMPARE(db.integer("PRAGMA user_version"), std::int64_t{kAccessLogSchemaVersion});
    QVERIFY(log->stats().batches < static_cast<std::uint64_t>(kProducers * kEach));  // batched
}

void AccessLogTest::hostileFilters_data() {
    QTest::addColumn<QByteArray>("params");
    QTest::addColumn<bool>("isError");
    const QByteArray big(1 << 20, 'a');
    QTest::newRow("quote") << QByteArray(R"({"host": "x' OR '1'='1"})") << false;
    QTest::newRow("drop") << QByteArray(R"({"path_contains": "'); DROP TABLE access_log; --"})") << false;
    QTest::newRow("like-wildcards") << QByteArray(R"({"path_prefix": "%_%"})") << false;
    QTest::newRow("nul") << QByteArray(R"({"client": "10.0.0.1\u0000' --"})") << false;
    QTest::newRow("1MB") << QByteArray(R"({"path_prefix": ")" + big + R"("})") << true;
    QTest::newRow("inverted") << QByteArray(R"({"from_ms": 2000, "to_ms": 1000})") << true;
    QTest::newRow("negative") << QByteArray(R"({"from_ms": -5})") << true;
    QTest::newRow("huge-time") << QByteArray(R"({"to_ms": 99999999999999999})") << true;
    QTest::newRow("limit-0") << QByteArray(R"({"limit": 0})") << true;
    QTest::newRow("limit-big") << QByteArray(R"({"limit": 100000000})") << true;
    QTest::newRow("status-text") << QByteArray(R"({"status": ["5xx; DROP"]})") << true;
    QTest::newRow("status-type") << QByteArray(R"({"status": [{"a": 1}]})") << true;
    QTest::newRow("unknown-key") << QByteArray(R"({"hots": "x"})") << true;
    QTest::newRow("wrong-type") << QByteArray(R"({"host": 5})") << true;
    QTest::newRow("bad-cursor") << QByteArray(R"({"cursor": "1;DROP"})") << true;
    QTest::newRow("not-object") << QByteArray(R"([1, 2])") << true;
}

void AccessLogTest::hostileFilters() {
    QFETCH(QByteArray, params);
    QFETCH(bool, isError);
    QTemporaryDir dir;
    const QString path = dir.path() + "/h.db";
    auto log = sqliteLog(path);
    QVERIFY(log);
    for (int i = 0; i < 10; ++i) log->submit(makeRecord(nowUs(), 200, 1, "/p"));
    QVERIFY(log->flush(2s));
    const Json j = Json::parse(params.toStdString());
    auto result = log->query(j);
    QCOMPARE(!result.has_value(), isError);
    if (result) QCOMPARE(result->at("rows").size(), std::size_t{0});  // nothing matches, nothing leaks
    else QVERIFY(!result.error().empty());
    Db db(path);
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{10});
}

void AccessLogTest::hostileFiltersCannotInject() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/i.db";
    auto log = sqliteLog(path);
    QVERIFY(log);
    log->submit(makeRecord(nowUs(), 200, 1, "/a'b", "1.1.1.1"));
    log->submit(makeRecord(nowUs(), 200, 1, std::string("/\xff\xfe"), "2.2.2.2"));
    QVERIFY(log->flush(2s));
    auto reader = AccessLogReader::open(path.toStdString());
    QVERIFY(reader.has_value());
    AccessQuery q;
    q.pathContains = "a'b";  // found literally
    auto r = (*reader)->query(q);
    QVERIFY(r.has_value());
    QCOMPARE(r->at("rows").size(), std::size_t{1});
    q = {};
    q.pathPrefix = std::string("/\xff");  // invalid UTF-8 filter: byte-wise match, valid UTF-8 out
    r = (*reader)->query(q);
    QVERIFY(r.has_value());
    QCOMPARE(r->at("rows").size(), std::size_t{1});
    QCOMPARE(r->at("rows")[0]["path"].get<std::string>(), std::string("/\xEF\xBF\xBD\xEF\xBF\xBD"));
    (void)r->dump();  // would throw on invalid UTF-8
    q = {};
    q.host = std::string(AccessQuery::kMaxFilterBytes + 1, 'h');
    QVERIFY(!(*reader)->query(q).has_value());
    q = {};
    q.fromUs = 10;
    q.toUs = 5;
    QVERIFY(!(*reader)->query(q).has_value());
    QVERIFY(!(*reader)->aggregate(q).has_value());
}

void AccessLogTest::keysetPaging() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/k.db";
    auto log = sqliteLog(path);
    QVERIFY(log);
    const std::int64_t base = nowUs() - 1'000'000;
    constexpr int kRows = 1000;
    for (int i = 0; i < kRows; ++i)  // groups of 7 share a timestamp: the id must break the ties
        QVERIFY(log->submit(makeRecord(base + (i / 7) * 10, i % 3 == 0 ? 500 : 200, i, "/k", "10.0.0.1",
                                       std::to_string(i))));
    QVERIFY(log->flush(2s));
    std::set<std::string> seen;
    std::int64_t lastTs = std::numeric_limits<std::int64_t>::max(), lastId = std::numeric_limits<std::int64_t>::max();
    Json params = {{"limit", 100}};
    int pages = 0;
    for (;;) {
        auto page = log->query(params);
        QVERIFY2(page.has_value(), page ? "" : page.error().c_str());
        const Json& rows = page->at("rows");
        for (const Json& row : rows) {
            const auto ts = row["ts_us"].get<std::int64_t>(), id = row["id"].get<std::int64_t>();
            QVERIFY(ts < lastTs || (ts == lastTs && id < lastId));  // strictly newest first
            lastTs = ts;
            lastId = id;
            QVERIFY(seen.insert(row["request_id"].get<std::string>()).second);
        }
        ++pages;
        if (page->at("next_cursor").is_null()) break;
        params["cursor"] = page->at("next_cursor");
        QVERIFY(pages < 20);
    }
    QCOMPARE(seen.size(), std::size_t{kRows});
    QCOMPARE(pages, 11);  // ten full pages, then an empty one that ends the walk
    // Paging with a filter: only the 5xx rows, each once.
    params = {{"limit", 50}, {"status", {"5xx"}}};
    std::size_t errors = 0;
    for (;;) {
        auto page = log->query(params);
        QVERIFY(page.has_value());
        for (const Json& row : page->at("rows")) {
            QCOMPARE(row["status"].get<int>(), 500);
            ++errors;
        }
        if (page->at("next_cursor").is_null()) break;
        params["cursor"] = page->at("next_cursor");
    }
    QCOMPARE(errors, std::size_t{(kRows + 2) / 3});
}

void AccessLogTest::filtersSelectRows() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/s.db";
    auto log = sqliteLog(path);
    QVERIFY(log);
    const std::int64_t t = nowUs();
    log->submit(makeRecord(t - 7200'000'000LL, 500, 1, "/api/old", "10.0.0.1"));
    log->submit(makeRecord(t, 500, 1, "/api/users", "10.0.0.1"));
    log->submit(makeRecord(t, 404, 1, "/api/users/7", "10.0.0.2"));
    log->submit(makeRecord(t, 200, 1, "/apix", "10.0.0.3"));
    log->submit(makeRecord(t, 200, 1, "/static/app.js", "10.0.0.1"));
    QVERIFY(log->flush(2s));
    auto count = [&](Json params) -> int {
        params["limit"] = 1000;
        auto r = log->query(params);
        if (!r) qWarning("%s", r.error().c_str());
        return r ? static_cast<int>(r->at("rows").size()) : -1;
    };
    const long long hourAgoMs = (t - 3600'000'000LL) / 1000;
    QCOMPARE(count({{"from_ms", hourAgoMs}, {"status", {"5xx"}}}), 1);
    QCOMPARE(count({{"status", {"5xx"}}}), 2);
    QCOMPARE(count({{"status", {"4xx", "5xx"}}}), 3);
    QCOMPARE(count({{"status", {404}}}), 1);
    QCOMPARE(count({{"path_prefix", "/api/"}}), 3);
    QCOMPARE(count({{"path_prefix", "/api"}}), 4);
    QCOMPARE(count({{"path_contains", "users"}}), 2);
    QCOMPARE(count({{"client", "10.0.0.1"}}), 3);
    QCOMPARE(count({{"client", "10.0.0.1"}, {"from_ms", hourAgoMs}}), 2);
    QCOMPARE(count({{"method", "GET"}, {"host", "example.com"}, {"route", "api"}}), 5);
    QCOMPARE(count({{"upstream", "backend"}, {"server", "10.1.1.1:8080"}}), 5);
    QCOMPARE(count({{"upstream", "other"}}), 0);
    QCOMPARE(count({{"to_ms", hourAgoMs}}), 1);
}

void AccessLogTest::perMinuteAggregates() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/agg.db";
    auto log = sqliteLog(path);
    QVERIFY(log);
    const std::int64_t minuteA = (nowUs() / 60'000'000 - 10) * 60'000'000;
    const std::int64_t minuteB = minuteA + 60'000'000;
    for (int i = 1; i <= 100; ++i)  // latencies 1..100 ms, shuffled in time within the minute
        log->submit(makeRecord(minuteA + ((i * 37) % 100) * 100'000, 200, i * 1000, "/a"));
    for (int i = 0; i < 10; ++i) log->submit(makeRecord(minuteB + i, i < 3 ? 503 : (i < 4 ? 0 : 200), 7000, "/b"));
    log->submit(makeRecord(minuteB + 120'000'000, 200, 1, "/outside"));  // after to_ms
    QVERIFY(log->flush(2s));
    const Json params = {{"from_ms", minuteA / 1000}, {"to_ms", (minuteB + 60'000'000) / 1000}};
    auto r = log->aggregate(params);
    QVERIFY2(r.has_value(), r ? "" : r.error().c_str());
    const Json& minutes = r->at("minutes");
    QCOMPARE(minutes.size(), std::size_t{2});
    QCOMPARE(minutes[0]["minute_ms"].get<std::int64_t>(), minuteA / 1000);
    QCOMPARE(minutes[0]["requests"].get<int>(), 100);
    QCOMPARE(minutes[0]["errors"].get<int>(), 0);
    QCOMPARE(minutes[0]["p50_us"].get<int>(), 50'000);
    QCOMPARE(minutes[0]["p95_us"].get<int>(), 95'000);
    QCOMPARE(minutes[0]["p99_us"].get<int>(), 99'000);
    QCOMPARE(minutes[1]["requests"].get<int>(), 10);
    QCOMPARE(minutes[1]["errors"].get<int>(), 4);  // three 503s and one without a response
    QCOMPARE(minutes[1]["p99_us"].get<int>(), 7000);
    QCOMPARE(r->at("totals")["requests"].get<int>(), 110);
    QCOMPARE(r->at("totals")["status_5xx"].get<int>(), 3);
    QCOMPARE(r->at("totals")["no_status"].get<int>(), 1);
    QVERIFY(!log->aggregate(Json{{"from_ms", 0}}).has_value());  // both ends required
    QVERIFY(!log->aggregate(Json{{"from_ms", 0}, {"to_ms", 8LL * 24 * 3600 * 1000}}).has_value());
}

void AccessLogTest::retentionByAgeInChunks() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/r.db").toStdString();
    RetentionOptions retention;
    retention.maxAge = 1h;
    retention.maxBytes = 0;
    retention.chunkRows = 100;
    retention.checkInterval = 3600s;
    SqliteAccessSink sink(path, retention);
    QVERIFY(sink.open().has_value());
    std::vector<AccessRecord> batch;
    const std::int64_t t = nowUs();
    for (int i = 0; i < 350; ++i) batch.push_back(makeRecord(t - 2 * 3600'000'000LL + i, 200, 1, "/old"));
    for (int i = 0; i < 10; ++i) batch.push_back(makeRecord(t, 200, 1, "/new"));
    QVERIFY(sink.writeBatch(batch).has_value());
    const auto now = std::chrono::system_clock::now();
    std::vector<std::uint64_t> afterEachStep;
    for (int step = 0; step < 10 && sink.maintain(now); ++step) afterEachStep.push_back(sink.rowsDeletedByAge());
    // One chunk per call, so the writer can interleave batches between them.
    QCOMPARE(afterEachStep.size() >= 4, true);
    QCOMPARE(afterEachStep[0], 100u);
    QCOMPARE(afterEachStep[1], 200u);
    QCOMPARE(afterEachStep[2], 300u);
    QCOMPARE(afterEachStep[3], 350u);
    QCOMPARE(sink.rowsDeletedByAge(), 350u);
    Db db(QString::fromStdString(path));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{10});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE path = '/old'"), std::int64_t{0});
    QCOMPARE(db.integer("PRAGMA auto_vacuum"), std::int64_t{2});  // incremental
    QVERIFY(!sink.maintain(now));  // nothing due until the next interval
}

void AccessLogTest::retentionBySize() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/z.db").toStdString();
    RetentionOptions retention;
    retention.maxAge = std::chrono::hours(0);
    retention.maxBytes = 256 * 1024;
    retention.chunkRows = 200;
    SqliteAccessSink sink(path, retention);
    QVERIFY(sink.open().has_value());
    const std::int64_t t = nowUs();
    for (int b = 0; b < 10; ++b) {
        std::vector<AccessRecord> batch;
        for (int i = 0; i < 500; ++i)
            batch.push_back(makeRecord(t + b * 500 + i, 200, 1, "/" + std::string(300, 'p'), "10.0.0.1",
                                       std::to_string(b * 500 + i)));
        QVERIFY(sink.writeBatch(batch).has_value());
    }
    const auto now = std::chrono::system_clock::now();
    int steps = 0;
    while (sink.maintain(now) && steps < 1000) ++steps;
    QVERIFY(sink.rowsDeletedBySize() > 0);
    QCOMPARE(sink.rowsDeletedBySize() % 200, 0u);  // whole chunks
    Db db(QString::fromStdString(path));
    const auto pages = db.integer("PRAGMA page_count"), pageSize = db.integer("PRAGMA page_size");
    QVERIFY2(pages * pageSize <= 256 * 1024 + 64 * 1024, std::to_string(pages * pageSize).c_str());
    // The oldest went first: the newest row is still there.
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE request_id = '4999'"), std::int64_t{1});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE request_id = '0'"), std::int64_t{0});
}

void AccessLogTest::deadDiskCountsDrops() {
    // A path nobody can create (under /proc): opening fails with a sentence at start...
    AccessLogOptions o;
    o.databasePath = "/proc/proxy-no-such-dir/access.db";
    auto created = AccessLog::create(o);
    QVERIFY(!created.has_value());
    QVERIFY(created.error().find("access.db") != std::string::npos);
    // ... and a sink that dies while running only costs counted drops; producers never wait.
    std::vector<std::unique_ptr<AccessLogSink>> sinks;
    sinks.push_back(std::make_unique<SqliteAccessSink>(o.databasePath));
    o.flushInterval = 5ms;
    AccessLog log(o, std::move(sinks));
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < 3000; ++i) QVERIFY(log.submit(makeRecord(nowUs(), 200, 1, "/d")));
    QVERIFY(std::chrono::steady_clock::now() - begin < 1s);
    QVERIFY(log.flush(5s));
    const AccessLogStats s = log.stats();
    QCOMPARE(s.written, 0u);
    QCOMPARE(s.droppedSinkError, 3000u);
    QTRY_VERIFY(log.statsJson()["access_log"]["sinks"][0].contains("last_error"));
}

void AccessLogTest::migrationRefusesNewerSchema() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/m.db";
    {
        Db db(path);  // does not exist yet: create it
    }
    sqlite3* raw = nullptr;
    sqlite3_open(path.toUtf8().constData(), &raw);
    sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    SqliteAccessSink sink(path.toStdString());
    auto opened = sink.open();
    QVERIFY(!opened.has_value());
    QVERIFY2(opened.error().find("newer") != std::string::npos, opened.error().c_str());
    // A version-1 database is migrated to the current version, keeping its rows.
    const QString old = dir.path() + "/v1.db";
    sqlite3_open(old.toUtf8().constData(), &raw);
    sqlite3_exec(raw,
                 "CREATE TABLE access_log (id INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL,"
                 " request_id TEXT NOT NULL DEFAULT '', client_addr TEXT NOT NULL DEFAULT '',"
                 " client_port INTEGER NOT NULL DEFAULT 0, listener TEXT NOT NULL DEFAULT '',"
                 " route TEXT NOT NULL DEFAULT '', method TEXT NOT NULL DEFAULT '',"
                 " host TEXT NOT NULL DEFAULT '', path TEXT NOT NULL DEFAULT '',"
                 " query TEXT NOT NULL DEFAULT '', http_version TEXT NOT NULL DEFAULT '',"
                 " status INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL DEFAULT 0,"
                 " bytes_out INTEGER NOT NULL DEFAULT 0, duration_us INTEGER NOT NULL DEFAULT 0,"
                 " upstream TEXT NOT NULL DEFAULT '', upstream_server TEXT NOT NULL DEFAULT '',"
                 " upstream_connect_us INTEGER, upstream_response_us INTEGER,"
                 " user_agent TEXT NOT NULL DEFAULT '', referer TEXT NOT NULL DEFAULT '',"
                 " tls_version TEXT NOT NULL DEFAULT '', cache_status TEXT NOT NULL DEFAULT '',"
                 " security_action TEXT NOT NULL DEFAULT '');"
                 "INSERT INTO access_log (ts_us, path) VALUES (1, '/kept');"
                 "PRAGMA user_version = 1;",
                 nullptr, nullptr, nullptr);
    sqlite3_close(raw);
    SqliteAccessSink upgraded(old.toStdString());
    QVERIFY(upgraded.open().has_value());
    Db db(old);
    QCOMPARE(db.integer("PRAGMA user_version"), std::int64_t{kAccessLogSchemaVersion});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE path = '/kept' AND error = ''"), std::int64_t{1});
    // The old table is segment 1, with its seven v2 indexes.
    QCOMPARE(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'access_log_seg_1'"),
             std::int64_t{7});
}

void AccessLogTest::crashSafety() {
    QTemporaryDir dir;
    const QString path = dir.path() + "/crash.db";
    QProcess child;
    child.start(QCoreApplication::applicationFilePath(), {"--crash-child", path});
    QVERIFY(child.waitForStarted());
    std::uint64_t reported = 0;
    QByteArray pending;
    const auto begin = std::chrono::steady_clock::now();
    while (reported < 5'000 && std::chrono::steady_clock::now() - begin < 60s) {
        child.waitForReadyRead(200);
        pending += child.readAllStandardOutput();
        int nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
            const QByteArray line = pending.left(nl);
            pending.remove(0, nl + 1);
            if (line.startsWith("written ")) reported = line.mid(8).toULongLong();
        }
    }
    QVERIFY2(reported >= 5'000, "the child did not write fast enough");
    child.kill();  // SIGKILL: no destructor, no flush, no checkpoint
    QVERIFY(child.waitForFinished(5000));
    Db db(path);
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
    const std::int64_t rows = db.integer("SELECT COUNT(*) FROM access_log");
    // Everything the child saw committed is there, and what is there is a gap-free prefix of what
    // it submitted: only whole batches after the last report can be missing.
    QVERIFY2(rows >= static_cast<std::int64_t>(reported), (std::to_string(rows) + " < " + std::to_string(reported)).c_str());
    QCOMPARE(db.integer("SELECT MAX(CAST(request_id AS INTEGER)) FROM access_log"), rows - 1);
    QCOMPARE(db.integer("SELECT COUNT(DISTINCT request_id) FROM access_log"), rows);
    // The catalog agrees with the tables (each batch and its catalog update commit together), and
    // several segments were closed while the child ran.
    QCOMPARE(db.integer("SELECT SUM(rows) FROM access_log_segments"), rows);
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 0"), std::int64_t{1});
    QVERIFY(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 1") >= 1);
    // Reopening resumes any index build the kill interrupted, and the writer carries on with the
    // next id.
    SqliteAccessSink sink(path.toStdString());
    QVERIFY(sink.open().has_value());
    for (int i = 0; i < 200 && sink.maintain(std::chrono::system_clock::now()); ++i) {}
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 1 AND indexed = 0"), std::int64_t{0});
    std::vector<AccessRecord> more{makeRecord(nowUs(), 200, 1, "/after", "10.0.0.9", "after")};
    QVERIFY(sink.writeBatch(more).has_value());
    QCOMPARE(db.integer("SELECT id FROM access_log WHERE request_id = 'after'"),
             db.integer("SELECT MAX(id) FROM access_log WHERE request_id <> 'after'") + 1);
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
}

namespace {

// Writes rows through a sink with tiny segments; returns the sink's path.
std::vector<AccessRecord> tiedRows(int count, std::int64_t base) {
    std::vector<AccessRecord> rows;
    for (int i = 0; i < count; ++i) {
        // Groups of 7 share a timestamp (ids break the ties), and every 50th row arrives late
        // (an older time than its neighbours), so segments overlap in time.
        const std::int64_t ts = base + (i / 7) * 10 - (i % 50 == 49 ? 300 : 0);
        rows.push_back(makeRecord(ts, i % 3 == 0 ? 500 : 200, (i * 37) % 1000, i % 2 ? "/a/x" : "/b/y",
                                  i % 5 == 0 ? "10.0.0.5" : "10.0.0.1", std::to_string(i)));
    }
    return rows;
}

std::expected<void, std::string> writeAll(SqliteAccessSink& sink, const std::vector<AccessRecord>& rows,
                                          std::size_t batch) {
    for (std::size_t i = 0; i < rows.size(); i += batch) {
        const std::size_t n = std::min(batch, rows.size() - i);
        if (auto ok = sink.writeBatch(std::span(rows.data() + i, n)); !ok) return ok;
    }
    return {};
}

void settle(SqliteAccessSink& sink) {
    for (int i = 0; i < 1000 && sink.maintain(std::chrono::system_clock::now()); ++i) {}
}

// Every row of a query, paging with the cursor; the (ts_us, id) keys in reply order.
std::vector<std::pair<std::int64_t, std::int64_t>> walk(AccessLogReader& reader, AccessQuery q, int* pages = nullptr) {
    std::vector<std::pair<std::int64_t, std::int64_t>> keys;
    for (int page = 0; page < 10000; ++page) {
        auto reply = reader.query(q);
        if (!reply) {
            qWarning("%s", reply.error().c_str());
            return {};
        }
        for (const Json& row : reply->at("rows"))
            keys.emplace_back(row["ts_us"].get<std::int64_t>(), row["id"].get<std::int64_t>());
        if (pages != nullptr) *pages = page + 1;
        if (reply->at("next_cursor").is_null()) break;
        q.before = parseCursor(reply->at("next_cursor").get<std::string>());
        if (!q.before) return {};
    }
    return keys;
}

// The same rows straight from the tables (through the test's view), newest first.
std::vector<std::pair<std::int64_t, std::int64_t>> expected(Db& db, const char* where) {
    db.refreshView();
    std::vector<std::pair<std::int64_t, std::int64_t>> keys;
    const std::string sql = std::string("SELECT ts_us, id FROM access_log ") + where + " ORDER BY ts_us DESC, id DESC";
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return keys;
    while (sqlite3_step(s) == SQLITE_ROW) keys.emplace_back(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return keys;
}

}  // namespace

void AccessLogTest::segmentRollover() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/seg.db").toStdString();
    RetentionOptions keep;
    keep.maxAge = std::chrono::hours(0);
    keep.maxBytes = 0;
    SqliteAccessSink sink(path, keep, SegmentOptions{100, std::chrono::minutes(60)});
    QVERIFY(sink.open().has_value());
    const auto rows = tiedRows(1000, nowUs() - 10'000'000);
    QVERIFY(writeAll(sink, rows, 60).has_value());
    Db db(QString::fromStdString(path));
    // A segment closes at the first batch that finds it holding >= 100 rows: 120 rows each.
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 0"), std::int64_t{1});
    QCOMPARE(db.integer("SELECT MAX(rows) FROM access_log_segments"), std::int64_t{120});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE rows > 0"), std::int64_t{9});
    // Closed segments are not indexed until the writer's maintenance builds them, one index a step.
    QVERIFY(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 1 AND rows > 0 AND indexed = 0") >= 1);
    QVERIFY(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE name = 'access_log_seg_2_host'") == 0);
    settle(sink);
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 1 AND indexed = 0"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'access_log_seg_2'"),
             std::int64_t{7});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'access_log_seg_10'"),
             std::int64_t{1});  // the open one: time index only
    QVERIFY(sink.longestIndexStepMs() >= 0.0);
    // The fresh database's empty first segment was dropped; one row per record; ids are global,
    // increasing in write order across segments, and each segment's catalog bounds hold.
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE seg = 1"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{1000});
    QCOMPARE(db.integer("SELECT COUNT(DISTINCT id) FROM access_log"), std::int64_t{1000});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE id = CAST(request_id AS INTEGER) + 1"),
             std::int64_t{1000});
    for (int seg = 2; seg <= 10; ++seg) {
        const std::string t = "access_log_seg_" + std::to_string(seg);
        const std::string check =
            "SELECT COUNT(*) FROM access_log_segments c WHERE c.seg = " + std::to_string(seg) +
            " AND c.rows = (SELECT COUNT(*) FROM " + t + ") AND c.first_id = (SELECT MIN(id) FROM " + t +
            ") AND c.last_id = (SELECT MAX(id) FROM " + t + ") AND c.min_ts = (SELECT MIN(ts_us) FROM " + t +
            ") AND c.max_ts = (SELECT MAX(ts_us) FROM " + t + ")";
        QVERIFY2(db.integer(check.c_str()) == 1, t.c_str());
    }
    // By age too, in the rows' own time: a batch with a row maxAge newer than the open segment's
    // oldest row goes to a new segment; back-dated rows alone do not make a segment per batch.
    SqliteAccessSink aged(path, keep, SegmentOptions{1'000'000, std::chrono::minutes(1)});
    QVERIFY(aged.open().has_value());
    const std::int64_t t0 = nowUs() - 3600'000'000LL;
    std::vector<AccessRecord> old{makeRecord(t0, 200, 1, "/old")};
    QVERIFY(aged.writeBatch(old).has_value());  // seg 10 (40 rows from 10 s ago) takes it: t0 is older
    old[0].timeUs = t0 + 30'000'000;
    QVERIFY(aged.writeBatch(old).has_value());  // still in seg 10 (its oldest row is t0)
    QCOMPARE(db.integer("SELECT MAX(seg) FROM access_log_segments"), std::int64_t{10});
    old[0].timeUs = t0 + 61'000'000;
    QVERIFY(aged.writeBatch(old).has_value());  // 61 s after t0: a new segment
    QCOMPARE(db.integer("SELECT MAX(seg) FROM access_log_segments"), std::int64_t{11});
    QCOMPARE(db.integer("SELECT rows FROM access_log_segments WHERE seg = 11"), std::int64_t{1});
}

void AccessLogTest::pagingAcrossSegments() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/p.db").toStdString();
    SqliteAccessSink sink(path, {}, SegmentOptions{50, std::chrono::minutes(60)});
    QVERIFY(sink.open().has_value());
    // Batches of 7 with ties on ts_us: segment boundaries cut tie groups in the middle.
    QVERIFY(writeAll(sink, tiedRows(700, nowUs() - 10'000'000), 7).has_value());
    // Half the closed segments indexed, half not, so both plans meet in one walk.
    for (int i = 0; i < 40; ++i) sink.maintain(std::chrono::system_clock::now());
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    Db db(QString::fromStdString(path));
    QVERIFY(db.integer("SELECT COUNT(*) FROM access_log_segments") >= 10);
    AccessQuery all;
    all.limit = 13;
    int pages = 0;
    const auto got = walk(**reader, all, &pages);
    QCOMPARE(got.size(), std::size_t{700});
    QVERIFY(got == expected(db, ""));
    QCOMPARE(pages, 54);  // 53 full pages of 13 (689 rows), then 11
    AccessQuery errors;
    errors.limit = 9;
    errors.statusRanges = {{500, 599}};
    errors.client = "10.0.0.5";
    QVERIFY(walk(**reader, errors) == expected(db, "WHERE status BETWEEN 500 AND 599 AND client_addr = '10.0.0.5'"));
    AccessQuery prefix;
    prefix.limit = 100;
    prefix.pathPrefix = "/a/";
    prefix.fromUs = got[600].first;
    prefix.toUs = got[20].first;
    const std::string where = "WHERE path >= '/a/' AND path < '/a0' AND ts_us >= " + std::to_string(got[600].first) +
                              " AND ts_us < " + std::to_string(got[20].first);
    const auto want = expected(db, where.c_str());
    QVERIFY(want.size() > 100);
    QVERIFY(walk(**reader, prefix) == want);
    // The reply keeps its shape: every column, a formatted time, a cursor string.
    auto page = (*reader)->query(all);
    QVERIFY(page.has_value());
    QCOMPARE(page->at("rows").size(), std::size_t{13});
    QVERIFY(page->at("rows")[0].contains("time") && page->at("rows")[0].contains("upstream_server"));
    QVERIFY(page->at("next_cursor").is_string());
    // Indexes built later change plans, not answers.
    settle(sink);
    QVERIFY(walk(**reader, all) == expected(db, ""));
    QVERIFY(walk(**reader, errors) == expected(db, "WHERE status BETWEEN 500 AND 599 AND client_addr = '10.0.0.5'"));
}

void AccessLogTest::aggregatesAcrossSegments() {
    QTemporaryDir dir;
    const std::int64_t base = (nowUs() / 60'000'000 - 30) * 60'000'000;
    std::vector<AccessRecord> rows;
    for (int i = 0; i < 3000; ++i)  // 20 minutes, 150 rows a minute, durations spread widely
        rows.push_back(makeRecord(base + i * 400'000, i % 11 == 0 ? 503 : i % 7 == 0 ? 404 : 200,
                                  (i * 7919) % 100'000, "/m"));
    // The same rows in one big segment and in segments of 64 rows: identical answers.
    SqliteAccessSink one((dir.path() + "/one.db").toStdString(), {}, SegmentOptions{1'000'000, std::chrono::minutes(1000)});
    SqliteAccessSink many((dir.path() + "/many.db").toStdString(), {}, SegmentOptions{64, std::chrono::minutes(1000)});
    QVERIFY(one.open().has_value() && many.open().has_value());
    QVERIFY(writeAll(one, rows, 100).has_value());
    QVERIFY(writeAll(many, rows, 100).has_value());
    settle(many);
    auto a = AccessLogReader::open((dir.path() + "/one.db").toStdString());
    auto b = AccessLogReader::open((dir.path() + "/many.db").toStdString());
    QVERIFY(a.has_value() && b.has_value());
    AccessQuery q;
    q.fromUs = base + 90'000'000;  // starts and ends mid-minute, mid-segment
    q.toUs = base + 1'000'000'000;
    auto ra = (*a)->aggregate(q);
    auto rb = (*b)->aggregate(q);
    QVERIFY(ra.has_value() && rb.has_value());
    QCOMPARE(rb->dump(), ra->dump());
    QVERIFY(ra->at("totals")["requests"].get<int>() > 2000);
    QVERIFY(ra->at("minutes").size() >= 15);
    q.statusRanges = {{500, 599}};
    ra = (*a)->aggregate(q);
    rb = (*b)->aggregate(q);
    QVERIFY(ra.has_value() && rb.has_value());
    QCOMPARE(rb->dump(), ra->dump());
    QCOMPARE(ra->at("totals")["status_5xx"].get<int>(), ra->at("totals")["requests"].get<int>());
}

void AccessLogTest::retentionDropsWholeSegments() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/d.db").toStdString();
    RetentionOptions retention;
    retention.maxAge = 1h;
    retention.maxBytes = 0;
    retention.chunkRows = 10;
    SqliteAccessSink sink(path, retention, SegmentOptions{100, std::chrono::minutes(600)});
    QVERIFY(sink.open().has_value());
    const std::int64_t t = nowUs();
    std::vector<AccessRecord> rows;
    for (int i = 0; i < 500; ++i) rows.push_back(makeRecord(t - 3 * 3600'000'000LL + i, 200, 1, "/old"));
    for (int i = 0; i < 55; ++i) rows.push_back(makeRecord(t - 2 * 3600'000'000LL + i, 200, 1, "/edge"));  // shares a segment
    for (int i = 0; i < 45; ++i) rows.push_back(makeRecord(t + i, 200, 1, "/edge-new"));
    for (int i = 0; i < 200; ++i) rows.push_back(makeRecord(t + 100 + i, 200, 1, "/new"));
    QVERIFY(writeAll(sink, rows, 100).has_value());
    settle(sink);
    // Five old segments went whole (DROP TABLE, no row-by-row delete); the mixed one lost its 55
    // old rows in chunks of 10.
    QVERIFY2(sink.segmentsDropped() >= 5, std::to_string(sink.segmentsDropped()).c_str());
    QCOMPARE(sink.rowsDeletedByAge(), 555u);
    Db db(QString::fromStdString(path));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{245});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE path IN ('/old', '/edge')"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 'access_log_seg_[0-9]*'"),
             db.integer("SELECT COUNT(*) FROM access_log_segments"));
    QCOMPARE(db.integer("SELECT SUM(rows) FROM access_log_segments"), std::int64_t{245});
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
    // The reader answers from what is left.
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    AccessQuery q;
    q.limit = 1000;
    QCOMPARE(walk(**reader, q).size(), std::size_t{245});
}

void AccessLogTest::migrationFromV2() {
    // A database written by the previous release (schema 2, one table, seven indexes) opens, keeps
    // every row and id untouched, and new rows continue after it; queries page across both.
    QTemporaryDir dir;
    const QString path = dir.path() + "/v2.db";
    sqlite3* raw = nullptr;
    sqlite3_open(path.toUtf8().constData(), &raw);
    std::string v2 =
        "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
        "CREATE TABLE access_log (id INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL,"
        " request_id TEXT NOT NULL DEFAULT '', client_addr TEXT NOT NULL DEFAULT '',"
        " client_port INTEGER NOT NULL DEFAULT 0, listener TEXT NOT NULL DEFAULT '',"
        " route TEXT NOT NULL DEFAULT '', method TEXT NOT NULL DEFAULT '',"
        " host TEXT NOT NULL DEFAULT '', path TEXT NOT NULL DEFAULT '',"
        " query TEXT NOT NULL DEFAULT '', http_version TEXT NOT NULL DEFAULT '',"
        " status INTEGER NOT NULL DEFAULT 0, bytes_in INTEGER NOT NULL DEFAULT 0,"
        " bytes_out INTEGER NOT NULL DEFAULT 0, duration_us INTEGER NOT NULL DEFAULT 0,"
        " upstream TEXT NOT NULL DEFAULT '', upstream_server TEXT NOT NULL DEFAULT '',"
        " upstream_connect_us INTEGER, upstream_response_us INTEGER,"
        " user_agent TEXT NOT NULL DEFAULT '', referer TEXT NOT NULL DEFAULT '',"
        " tls_version TEXT NOT NULL DEFAULT '', cache_status TEXT NOT NULL DEFAULT '',"
        " security_action TEXT NOT NULL DEFAULT '');"
        "ALTER TABLE access_log ADD COLUMN error TEXT NOT NULL DEFAULT '';"
        "CREATE INDEX access_log_time ON access_log(ts_us, status, duration_us);"
        "CREATE INDEX access_log_status ON access_log(status, ts_us);"
        "CREATE INDEX access_log_host ON access_log(host, ts_us);"
        "CREATE INDEX access_log_path ON access_log(path);"
        "CREATE INDEX access_log_client ON access_log(client_addr, ts_us);"
        "CREATE INDEX access_log_upstream ON access_log(upstream, ts_us);"
        "CREATE INDEX access_log_server ON access_log(upstream_server, ts_us);"
        "PRAGMA user_version = 2; BEGIN;";
    const std::int64_t base = nowUs() - 100'000'000;
    for (int i = 0; i < 500; ++i)  // ids with a gap (retention deleted some), ties on ts_us
        v2 += "INSERT INTO access_log (id, ts_us, request_id, path, status) VALUES (" + std::to_string(i < 250 ? i + 1 : i + 101) +
              ", " + std::to_string(base + (i / 4) * 1000) + ", 'old" + std::to_string(i) + "', '/v2', 200);";
    v2 += "COMMIT;";
    QCOMPARE(sqlite3_exec(raw, v2.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
    {
        auto refused = AccessLogReader::open(path.toStdString());  // not migrated yet: a sentence
        QVERIFY(!refused.has_value());
        QVERIFY(refused.error().find("version 2") != std::string::npos);
    }
    SqliteAccessSink sink(path.toStdString(), {}, SegmentOptions{40, std::chrono::minutes(60)});
    QVERIFY(sink.open().has_value());
    std::vector<AccessRecord> fresh;
    for (int i = 0; i < 100; ++i) fresh.push_back(makeRecord(base + 125'000 + (i / 4) * 1000, 503, 1, "/v3", "10.0.0.1", "new" + std::to_string(i)));
    QVERIFY(writeAll(sink, fresh, 25).has_value());
    settle(sink);
    Db db(path);
    QCOMPARE(db.integer("PRAGMA user_version"), std::int64_t{3});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_seg_1"), std::int64_t{500});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_seg_1 WHERE id = CAST(substr(request_id, 4) AS INTEGER) +"
                        " (CASE WHEN CAST(substr(request_id, 4) AS INTEGER) < 250 THEN 1 ELSE 101 END)"),
             std::int64_t{500});
    QCOMPARE(db.text("SELECT first_id || ',' || last_id || ',' || rows || ',' || indexed FROM access_log_segments WHERE seg = 1"),
             std::string("1,600,500,1"));
    QCOMPARE(db.integer("SELECT MIN(id) FROM access_log WHERE path = '/v3'"), std::int64_t{601});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{600});
    auto reader = AccessLogReader::open(path.toStdString());
    QVERIFY2(reader.has_value(), reader ? "" : reader.error().c_str());
    AccessQuery all;
    all.limit = 7;
    QVERIFY(walk(**reader, all) == expected(db, ""));
    AccessQuery window;  // the new rows' times overlap the old ones
    window.fromUs = base + 100'000;
    window.toUs = base + 140'000;
    window.limit = 3;
    const auto got = walk(**reader, window);
    QVERIFY(got == expected(db, ("WHERE ts_us >= " + std::to_string(base + 100'000) + " AND ts_us < " +
                                 std::to_string(base + 140'000)).c_str()));
    QVERIFY(got.size() > 20);
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
}

void AccessLogTest::tamperedCatalogIsRefused() {
    // Table names come only from the catalog, and only names of the segment pattern are used: an
    // edited catalog gets a clear error, never SQL.
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/t.db").toStdString();
    {
        SqliteAccessSink sink(path);
        QVERIFY(sink.open().has_value());
        std::vector<AccessRecord> one{makeRecord(nowUs(), 200, 1, "/t")};
        QVERIFY(sink.writeBatch(one).has_value());
    }
    QVERIFY(isSegmentTableName("access_log_seg_12"));
    for (const char* bad : {"access_log_seg_", "access_log_seg_01", "access_log_seg_1 ", "access_log",
                            "access_log_seg_1; DROP TABLE access_log_segments", "x", "access_log_seg_1\n"})
        QVERIFY2(!isSegmentTableName(bad), bad);
    Db db(QString::fromStdString(path));
    QCOMPARE(sqlite3_exec(db.db,
                          "UPDATE access_log_segments SET name = 'access_log_segments WHERE 1; --'"
                          " WHERE rows > 0",
                          nullptr, nullptr, nullptr),
             SQLITE_OK);
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    auto reply = (*reader)->query(AccessQuery{});
    QVERIFY(!reply.has_value());
    QVERIFY2(reply.error().find("unexpected table") != std::string::npos, reply.error().c_str());
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments"), std::int64_t{2});  // untouched
}

#endif  // PROXY_WITH_SQLITE

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--crash-child") return crashChild(argv[2]);
    QCoreApplication app(argc, argv);
    AccessLogTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "access_log_test.moc"
