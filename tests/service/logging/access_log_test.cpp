// Tests for service/logging/access_log.{h,cpp}, sqlite_access_log.cpp, json_lines_sink.cpp and
// access_log_filter.cpp: completeness, drops, hostile queries, paging, aggregates, retention, a
// dead disk, a killed writer, row groups (rollover, migration from schemas 1-3, damaged blobs),
// JSON lines.
#include <QCoreApplication>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <algorithm>
#include <functional>
#include <limits>
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
    std::expected<void, std::string> writeBatch(RecordRange batch) override {
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
// The columns of a query row, in the order of the test's access_log table.
constexpr const char* kRowFields[] = {
    "id", "ts_us", "request_id", "client_addr", "client_port", "listener", "route", "method", "host", "path",
    "query", "http_version", "status", "bytes_in", "bytes_out", "duration_us", "upstream", "upstream_server",
    "upstream_connect_us", "upstream_response_us", "user_agent", "referer", "tls_version", "cache_status",
    "security_action", "error"};

struct Db {
    sqlite3* db = nullptr;
    std::string path;
    explicit Db(const QString& p) : path(p.toStdString()) {
        sqlite3_open_v2(p.toUtf8().constData(), &db, SQLITE_OPEN_READWRITE, nullptr);
        // The writer may hold a lock for a moment (a checkpoint, a group commit): wait, as the
        // service's own reader does, rather than read -1.
        sqlite3_busy_timeout(db, 5000);
    }
    ~Db() { sqlite3_close(db); }
    // The rows live in column blobs (schema 4) and perhaps schema-3 segments: SQL cannot read
    // them, so a TEMP table named access_log is filled with every row the service's reader
    // returns (paging through logs.query), and the checks below read it as one table. Rebuilt
    // before each query.
    void refreshView() {
        sqlite3_exec(db, "DROP TABLE IF EXISTS temp.access_log", nullptr, nullptr, nullptr);
        std::string ddl = "CREATE TEMP TABLE access_log (";
        for (std::size_t i = 0; i < std::size(kRowFields); ++i) ddl += (i ? ", " : "") + std::string(kRowFields[i]);
        ddl += ")";
        sqlite3_exec(db, ddl.c_str(), nullptr, nullptr, nullptr);
        auto reader = AccessLogReader::open(path);
        if (!reader) return;
        std::string insert = "INSERT INTO temp.access_log VALUES (";
        for (std::size_t i = 0; i < std::size(kRowFields); ++i) insert += i ? ", ?" : "?";
        insert += ")";
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, insert.c_str(), -1, &s, nullptr) != SQLITE_OK) return;
        AccessQuery q;
        q.limit = AccessQuery::kMaxLimit;
        for (;;) {
            auto page = (*reader)->query(q);
            if (!page) {
                qWarning("%s", page.error().c_str());
                break;
            }
            for (const Json& row : page->at("rows")) {
                for (std::size_t i = 0; i < std::size(kRowFields); ++i) {
                    const Json& v = row.at(kRowFields[i]);
                    const int index = static_cast<int>(i) + 1;
                    if (v.is_null()) sqlite3_bind_null(s, index);
                    else if (v.is_number()) sqlite3_bind_int64(s, index, v.get<std::int64_t>());
                    else {
                        const std::string text = v.get<std::string>();
                        sqlite3_bind_text(s, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
                    }
                }
                sqlite3_step(s);
                sqlite3_reset(s);
            }
            if (page->at("next_cursor").is_null()) break;
            q.before = parseCursor(page->at("next_cursor").get<std::string>());
        }
        sqlite3_finalize(s);
    }
    // Catalog checks and the table share one transaction of this connection.
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
    o.groups.maxRows = 3000;  // many group commits through the load
    auto log = AccessLog::create(o);
    if (!log) return 2;
    std::uint64_t next = 0;
    for (;;) {
        for (int i = 0; i < 200; ++i, ++next)
            if (!(*log)->submit(makeRecord(nowUs(), 200, 1000, "/load", "10.0.0.9", std::to_string(next)))) --next, --i;
        // What the SQLite sink has committed (not what waits in the group being filled).
        const Json facts = (*log)->statsJson()["access_log"]["sinks"];
        const auto committed = facts.empty() ? 0 : facts[0].value("rows_written", std::uint64_t{0});
        std::printf("written %llu\n", static_cast<unsigned long long>(committed));
        std::fflush(stdout);
        std::this_thread::sleep_for(1ms);
    }
#else
    (void)path;
    return 3;
#endif
}

// The access_log table's columns as schema version 1 created them (no closing parenthesis).
constexpr const char* kV1Columns =
    " (id INTEGER PRIMARY KEY, ts_us INTEGER NOT NULL,"
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
    " security_action TEXT NOT NULL DEFAULT ''";

}  // namespace

class AccessLogTest : public QObject {
    Q_OBJECT

private slots:
    void jsonLinesRoundTrip();
    void queueFullDropsAreCountedExactly();
    void writerStopsCleanly();
    void filterFillsRecord();
    void recordCopyKeepsEverything();
    void queueDrainsInPlaceAcrossTheRingEnd();
    void dataPathCost();
    void recordsSkippedWithoutReaders();
#if PROXY_WITH_SQLITE
    void completeness();
    void hostileFilters_data();
    void hostileFilters();
    void hostileFiltersCannotInject();
    void keysetPaging();
    void filtersSelectRows();
    void clientRunsAreEachFound();
    void perMinuteAggregates();
    void retentionByAgeDropsGroups();
    void retentionBySize();
    void deadDiskCountsDrops();
    void failedGroupCommitIsCounted();
    void migrationRefusesNewerSchema();
    void crashSafety();
    void groupRollover();
    void pagingAcrossGroups();
    void aggregatesAcrossGroups();
    void retentionDropsWholeGroups();
    void migrationFromV2();
    void migrationFromV3();
    void tamperedCatalogIsRefused();
    void corruptBlobs_data();
    void corruptBlobs();
    void garbledClientFilterIsOnlyAHint();
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
    // The sinks read the batch in its queue slots, so the one record being written still holds
    // its slot: 63 of the 64 are free.
    int accepted = 0, refused = 0;
    for (int i = 0; i < 63 + 37; ++i) (log.submit(makeRecord(nowUs(), 200, 1, "/x")) ? accepted : refused)++;
    QCOMPARE(accepted, 63);
    QCOMPARE(refused, 37);
    QCOMPARE(log.stats().droppedQueueFull, 37u);
    g->release();
    QVERIFY(log.flush(5s));
    const AccessLogStats s = log.stats();
    QCOMPARE(s.written, 64u);
    QCOMPARE(s.droppedQueueFull, 37u);
    QCOMPARE(s.droppedSinkError, 0u);
    QCOMPARE(g->rows, std::size_t{64});
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

void AccessLogTest::recordCopyKeepsEverything() {
    // A copy takes the numbers and only the text in use; nothing may be lost or mixed up, also
    // when the copy lands on a record that held longer text before.
    using F = AccessRecord;
    AccessRecord r;
    for (int f = 0; f < F::kFieldCount; ++f)  // first: set() marks cut fields in `truncated`
        r.set(static_cast<F::Field>(f), std::string(static_cast<std::size_t>(f) * 3, static_cast<char>('a' + f)));
    r.timeUs = 1;
    r.bytesIn = 2;
    r.bytesOut = 3;
    r.durationUs = 4;
    r.connectUs = 5;
    r.responseUs = 6;
    r.sequence = 7;
    r.status = 8;
    r.clientPort = 9;
    r.truncated = 10;
    AccessRecord target;
    for (int f = 0; f < F::kFieldCount; ++f) target.set(static_cast<F::Field>(f), std::string(100, 'z'));
    const AccessRecord copy(r);
    target = r;
    for (const AccessRecord* c : {static_cast<const AccessRecord*>(&copy), static_cast<const AccessRecord*>(&target)}) {
        QCOMPARE(c->timeUs, std::int64_t(1));
        QCOMPARE(c->bytesIn, std::uint64_t(2));
        QCOMPARE(c->bytesOut, std::uint64_t(3));
        QCOMPARE(c->durationUs, std::int64_t(4));
        QCOMPARE(c->connectUs, std::int64_t(5));
        QCOMPARE(c->responseUs, std::int64_t(6));
        QCOMPARE(c->sequence, std::uint64_t(7));
        QCOMPARE(c->status, 8);
        QCOMPARE(c->clientPort, std::uint16_t(9));
        QCOMPARE(c->truncated, std::uint16_t(10));
        for (int f = 0; f < F::kFieldCount; ++f)
            QCOMPARE(std::string(c->field(static_cast<F::Field>(f))), std::string(r.field(static_cast<F::Field>(f))));
    }
}

void AccessLogTest::queueDrainsInPlaceAcrossTheRingEnd() {
    // The writer reads records in their slots (no copy): a drain stops at the end of the ring and
    // the next one goes on from the start, in order, each record once, and a freed slot takes a
    // new record only after the reader is done with it.
    BoundedQueue<AccessRecord> q(8);
    std::uint64_t nextIn = 0, nextOut = 0;
    auto push = [&](int n) {
        for (int i = 0; i < n; ++i)
            QVERIFY(q.tryPush([&](AccessRecord& r, std::uint64_t) {
                r.clearText();
                r.status = static_cast<std::int32_t>(nextIn);
                r.set(AccessRecord::Path, "/" + std::to_string(nextIn++));
            }));
    };
    auto drain = [&](std::size_t max) {
        return q.drainInPlace(max, [&](const AccessRecord* first, std::size_t stride, std::size_t n) {
            const RecordRange batch(first, stride, n);
            QCOMPARE(batch.size(), n);
            for (const AccessRecord& r : batch) {  // in order, each once, text intact
                QCOMPARE(r.status, static_cast<std::int32_t>(nextOut));
                QCOMPARE(std::string(r.field(AccessRecord::Path)), "/" + std::to_string(nextOut));
                ++nextOut;
            }
            QCOMPARE(batch[n - 1].status, static_cast<std::int32_t>(nextOut - 1));
        });
    };
    QCOMPARE(drain(8), std::size_t{0});  // empty: the callback is not called
    push(6);
    QCOMPARE(drain(4), std::size_t{4});
    push(6);  // slots 6, 7, then 0..3 again: the ring wraps
    QVERIFY(!q.tryPush([](AccessRecord&, std::uint64_t) {}));  // 8 queued: full
    QCOMPARE(drain(100), std::size_t{4});  // slots 4..7, up to the end of the ring
    QCOMPARE(drain(100), std::size_t{4});  // slots 0..3
    QCOMPARE(drain(100), std::size_t{0});
    QCOMPARE(nextOut, nextIn);
    // Many rounds of odd sizes: every record comes out once, in order.
    for (int round = 0; round < 200; ++round) {
        push(1 + round % 8);
        while (drain(1 + round % 5) > 0) {}
    }
    QCOMPARE(nextOut, nextIn);
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

void AccessLogTest::clientRunsAreEachFound() {
    // The group's client bloom filter takes a run of rows from one client once: every client of
    // every run must still be found (a bloom filter may only say "maybe", never miss one).
    QTemporaryDir dir;
    auto log = sqliteLog(dir.path() + "/runs.db");
    QVERIFY(log);
    const std::int64_t t = nowUs();
    const std::pair<const char*, int> runs[] = {{"10.0.0.1", 50}, {"10.0.0.2", 30}, {"10.0.0.1", 20},
                                                {"10.0.0.3", 1},  {"10.0.0.2", 10}, {"2001:db8::7", 3}};
    int i = 0;
    for (const auto& [client, n] : runs)
        for (int k = 0; k < n; ++k, ++i) QVERIFY(log->submit(makeRecord(t + i, 200, 1, "/r", client)));
    QVERIFY(log->flush(2s));
    auto count = [&](const char* client) -> int {
        auto r = log->query(Json{{"client", client}, {"limit", 1000}});
        if (!r) qWarning("%s", r.error().c_str());
        return r ? static_cast<int>(r->at("rows").size()) : -1;
    };
    QCOMPARE(count("10.0.0.1"), 70);
    QCOMPARE(count("10.0.0.2"), 40);
    QCOMPARE(count("10.0.0.3"), 1);
    QCOMPARE(count("2001:db8::7"), 3);
    QCOMPARE(count("10.0.0.4"), 0);
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

void AccessLogTest::retentionByAgeDropsGroups() {
    // Age retention drops whole groups whose newest row is past the cut-off, one per step.
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/r.db").toStdString();
    RetentionOptions retention;
    retention.maxAge = 1h;
    retention.maxBytes = 0;
    retention.checkInterval = 3600s;
    SqliteAccessSink sink(path, retention, GroupOptions{100, std::chrono::hours(1)});
    QVERIFY(sink.open().has_value());
    std::vector<AccessRecord> batch;
    const std::int64_t t = nowUs();
    for (int i = 0; i < 350; ++i) batch.push_back(makeRecord(t - 2 * 3600'000'000LL + i, 200, 1, "/old"));
    QVERIFY(sink.writeBatch(batch).has_value());
    QVERIFY(sink.flush().has_value());  // groups of 100, 100, 100, 50
    batch.clear();
    for (int i = 0; i < 10; ++i) batch.push_back(makeRecord(t, 200, 1, "/new"));
    QVERIFY(sink.writeBatch(batch).has_value());
    QVERIFY(sink.flush().has_value());
    const auto now = std::chrono::system_clock::now();
    std::vector<std::uint64_t> afterEachStep;
    for (int step = 0; step < 10 && sink.maintain(now); ++step) afterEachStep.push_back(sink.rowsDeletedByAge());
    // One group per call, so the writer can interleave batches between them.
    QVERIFY(afterEachStep.size() >= 4);
    QCOMPARE(afterEachStep[0], 100u);
    QCOMPARE(afterEachStep[1], 200u);
    QCOMPARE(afterEachStep[2], 300u);
    QCOMPARE(afterEachStep[3], 350u);
    QCOMPARE(sink.rowsDeletedByAge(), 350u);
    QCOMPARE(sink.groupsDropped(), 4u);
    Db db(QString::fromStdString(path));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{10});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE path = '/old'"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_groups"), std::int64_t{1});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_columns"), std::int64_t{27});  // no orphan blobs
    QCOMPARE(db.integer("PRAGMA auto_vacuum"), std::int64_t{2});  // incremental
    QVERIFY(!sink.maintain(now));  // nothing due until the next interval
}

void AccessLogTest::retentionBySize() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/z.db").toStdString();
    RetentionOptions retention;
    retention.maxAge = std::chrono::hours(0);
    retention.maxBytes = 256 * 1024;
    SqliteAccessSink sink(path, retention, GroupOptions{250, std::chrono::hours(1)});
    QVERIFY(sink.open().has_value());
    const std::int64_t t = nowUs();
    for (int b = 0; b < 10; ++b) {
        std::vector<AccessRecord> batch;
        for (int i = 0; i < 500; ++i)  // distinct paths: ~300 bytes a row even in a dictionary
            batch.push_back(makeRecord(t + b * 500 + i, 200, 1, "/" + std::to_string(b * 500 + i) + std::string(300, 'p'),
                                       "10.0.0.1", std::to_string(b * 500 + i)));
        QVERIFY(sink.writeBatch(batch).has_value());
    }
    QCOMPARE(sink.pendingRows(), 0u);  // 20 groups of 250, all committed
    const auto now = std::chrono::system_clock::now();
    int steps = 0;
    while (sink.maintain(now) && steps < 1000) ++steps;
    QVERIFY(sink.rowsDeletedBySize() > 0);
    QCOMPARE(sink.rowsDeletedBySize() % 250, 0u);  // whole groups
    Db db(QString::fromStdString(path));
    const auto pages = db.integer("PRAGMA page_count"), pageSize = db.integer("PRAGMA page_size");
    QVERIFY2(pages * pageSize <= 256 * 1024 + 96 * 1024, std::to_string(pages * pageSize).c_str());
    // The oldest went first: the newest row is still there.
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE request_id = '4999'"), std::int64_t{1});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE request_id = '0'"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), 5000 - static_cast<std::int64_t>(sink.rowsDeletedBySize()));
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

void AccessLogTest::failedGroupCommitIsCounted() {
    // A group whose commit fails (here: another connection holds the write lock past the busy
    // timeout; on a real box a full or read-only disk) is lost whole, and its records move from
    // written to dropped_sink_error: nothing is counted twice, nothing silently vanishes.
    QTemporaryDir dir;
    const QString path = dir.path() + "/lost.db";
    AccessLogOptions o;
    o.databasePath = path.toStdString();
    o.flushInterval = 5ms;
    o.groups.maxRows = 10;
    auto created = AccessLog::create(o);
    QVERIFY(created.has_value());
    auto& log = **created;
    Db locker(path);
    QCOMPARE(sqlite3_exec(locker.db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    for (int i = 0; i < 10; ++i) QVERIFY(log.submit(makeRecord(nowUs(), 200, 1, "/lost")));
    QVERIFY(log.flush(30s));  // the commit waits out the 5 s busy timeout, then gives up
    AccessLogStats s = log.stats();
    QCOMPARE(s.droppedSinkError, 10u);
    QCOMPARE(s.written, 0u);
    QTRY_COMPARE(log.statsJson()["access_log"]["sinks"][0].value("group_rows_lost", 0), 10);
    QVERIFY(log.statsJson()["access_log"]["sinks"][0].contains("last_error"));
    sqlite3_exec(locker.db, "COMMIT", nullptr, nullptr, nullptr);
    for (int i = 0; i < 5; ++i) QVERIFY(log.submit(makeRecord(nowUs(), 200, 1, "/kept")));
    QVERIFY(log.flush(10s));
    s = log.stats();
    QCOMPARE(s.written, 5u);
    QCOMPARE(s.written + s.droppedSinkError, s.submitted);
    QCOMPARE(locker.integer("SELECT COUNT(*) FROM access_log WHERE path = '/kept'"), std::int64_t{5});
    QCOMPARE(locker.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{5});
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
                 (std::string("CREATE TABLE access_log") + kV1Columns + ");"
                  "INSERT INTO access_log (ts_us, path) VALUES (1, '/kept');"
                  "PRAGMA user_version = 1;").c_str(),
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
    // The catalog agrees with the blobs (a group, its summary and its columns commit together),
    // and many groups were committed while the child ran.
    QCOMPARE(db.integer("SELECT SUM(rows) FROM access_log_groups"), rows);
    QVERIFY(db.integer("SELECT COUNT(*) FROM access_log_groups") >= 2);
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_columns"), 27 * db.integer("SELECT COUNT(*) FROM access_log_groups"));
    // Reopening carries on with the next id.
    SqliteAccessSink sink(path.toStdString());
    QVERIFY(sink.open().has_value());
    std::vector<AccessRecord> more{makeRecord(nowUs(), 200, 1, "/after", "10.0.0.9", "after")};
    QVERIFY(sink.writeBatch(more).has_value());
    QVERIFY(sink.flush().has_value());
    QCOMPARE(db.integer("SELECT id FROM access_log WHERE request_id = 'after'"),
             db.integer("SELECT MAX(id) FROM access_log WHERE request_id <> 'after'") + 1);
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
}

namespace {

std::vector<AccessRecord> tiedRows(int count, std::int64_t base) {
    std::vector<AccessRecord> rows;
    for (int i = 0; i < count; ++i) {
        // Groups of 7 share a timestamp (ids break the ties), and every 50th row arrives late
        // (an older time than its neighbours), so row groups overlap in time.
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
    return sink.flush();
}

void settle(SqliteAccessSink& sink) {
    for (int i = 0; i < 1000 && sink.maintain(std::chrono::system_clock::now()); ++i) {}
}

using Keys = std::vector<std::pair<std::int64_t, std::int64_t>>;

// Every row of a query, paging with the cursor; the (ts_us, id) keys in reply order.
Keys walk(AccessLogReader& reader, AccessQuery q, int* pages = nullptr) {
    Keys keys;
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

// What a query must return, worked out from the records the test wrote (ids firstId, firstId+1,
// ... in write order), newest first: independent of the store.
template <typename Pred>
Keys expectedKeys(const std::vector<AccessRecord>& rows, std::int64_t firstId, Pred keep) {
    Keys keys;
    for (std::size_t i = 0; i < rows.size(); ++i)
        if (keep(rows[i])) keys.emplace_back(rows[i].timeUs, firstId + static_cast<std::int64_t>(i));
    std::sort(keys.begin(), keys.end(), std::greater<>());
    return keys;
}

// Rows of a schema-3 segment table read with plain SQL (the old layout is still readable so).
Keys segmentKeys(Db& db, const std::string& table, const std::string& where) {
    Keys keys;
    const std::string sql = "SELECT ts_us, id FROM main." + table + " " + where;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db.db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return keys;
    while (sqlite3_step(s) == SQLITE_ROW) keys.emplace_back(sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return keys;
}

// Version 2 added the `error` column.
const std::string kV2Columns = std::string(kV1Columns) + ", error TEXT NOT NULL DEFAULT '')";

// A database as the schema-3 writer left it: segment 1 closed and indexed (ids 1..300), segment 2
// open with its time index only (ids 301..400); rows from base on, ties on ts_us, 5xx every 4th.
void writeV3(const QString& path, std::int64_t base) {
    sqlite3* raw = nullptr;
    sqlite3_open(path.toUtf8().constData(), &raw);
    std::string sql =
        "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; BEGIN;"
        "CREATE TABLE access_log_segments (seg INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, min_ts INTEGER, max_ts INTEGER,"
        " rows INTEGER NOT NULL DEFAULT 0, closed INTEGER NOT NULL DEFAULT 0,"
        " indexed INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL DEFAULT 0);";
    sql += std::string("CREATE TABLE access_log_seg_1") + kV2Columns + ";";
    sql += std::string("CREATE TABLE access_log_seg_2") + kV2Columns + ";";
    sql += "CREATE INDEX access_log_seg_1_time ON access_log_seg_1(ts_us, status, duration_us);"
           "CREATE INDEX access_log_seg_1_status ON access_log_seg_1(status, ts_us);"
           "CREATE INDEX access_log_seg_1_host ON access_log_seg_1(host, ts_us);"
           "CREATE INDEX access_log_seg_1_path ON access_log_seg_1(path);"
           "CREATE INDEX access_log_seg_1_client ON access_log_seg_1(client_addr, ts_us);"
           "CREATE INDEX access_log_seg_1_upstream ON access_log_seg_1(upstream, ts_us);"
           "CREATE INDEX access_log_seg_1_server ON access_log_seg_1(upstream_server, ts_us);"
           "CREATE INDEX access_log_seg_2_time ON access_log_seg_2(ts_us, status, duration_us);";
    for (int i = 0; i < 400; ++i)
        sql += "INSERT INTO access_log_seg_" + std::string(i < 300 ? "1" : "2") +
               " (id, ts_us, request_id, client_addr, path, status, duration_us) VALUES (" + std::to_string(i + 1) +
               ", " + std::to_string(base + (i / 4) * 1000) + ", 'v3-" + std::to_string(i) + "', '10.0.0." +
               std::to_string(i % 3) + "', '/v3/" + std::to_string(i % 2) + "', " + (i % 4 == 0 ? "503" : "200") +
               ", " + std::to_string(i) + ");";
    sql += "INSERT INTO access_log_segments SELECT 1, 'access_log_seg_1', 1, 300, MIN(ts_us), MAX(ts_us), COUNT(*), 1, 1, 0"
           " FROM access_log_seg_1;"
           "INSERT INTO access_log_segments SELECT 2, 'access_log_seg_2', 301, 400, MIN(ts_us), MAX(ts_us), COUNT(*), 0, 0, 0"
           " FROM access_log_seg_2;"
           "PRAGMA user_version = 3; COMMIT;";
    if (sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) qWarning("%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);
}

}  // namespace

void AccessLogTest::groupRollover() {
    // Row groups: committed at GroupOptions::maxRows records (mid-batch) or maxAge.
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/g.db").toStdString();
    RetentionOptions keep;
    keep.maxAge = std::chrono::hours(0);
    keep.maxBytes = 0;
    SqliteAccessSink sink(path, keep, GroupOptions{100, std::chrono::hours(1)});
    QVERIFY(sink.open().has_value());
    const auto rows = tiedRows(1030, nowUs() - 10'000'000);
    for (std::size_t i = 0; i < rows.size(); i += 60)
        QVERIFY(sink.writeBatch(std::span(rows.data() + i, std::min<std::size_t>(60, rows.size() - i))).has_value());
    QCOMPARE(sink.pendingRows(), 30u);  // the group being filled is not in the file yet
    QCOMPARE(sink.groupsWritten(), 10u);
    Db db(QString::fromStdString(path));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{1000});
    QVERIFY(sink.flush().has_value());
    settle(sink);  // drops the empty schema-3 segment a fresh database migrates through
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_groups"), std::int64_t{11});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_groups WHERE rows = 100"), std::int64_t{10});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_columns"), std::int64_t{11 * 27});
    // Every group's summary bounds its rows: ids first_id + position, time range, status classes.
    for (int g = 0; g < 11; ++g) {
        std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = std::numeric_limits<std::int64_t>::min();
        std::int64_t mask = 0;
        for (int i = g * 100; i < std::min(1030, g * 100 + 100); ++i) {
            lo = std::min(lo, rows[i].timeUs);
            hi = std::max(hi, rows[i].timeUs);
            mask |= std::int64_t{1} << (rows[i].status / 100);
        }
        const std::string check = "SELECT COUNT(*) FROM access_log_groups WHERE grp = " + std::to_string(g + 1) +
                                  " AND first_id = " + std::to_string(g * 100 + 1) + " AND min_ts = " +
                                  std::to_string(lo) + " AND max_ts = " + std::to_string(hi) +
                                  " AND status_mask = " + std::to_string(mask);
        QVERIFY2(db.integer(check.c_str()) == 1, check.c_str());
    }
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{1030});
    QCOMPARE(db.integer("SELECT COUNT(DISTINCT id) FROM access_log"), std::int64_t{1030});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE id = CAST(request_id AS INTEGER) + 1"),
             std::int64_t{1030});
    // By age: a group is committed once it is maxAge old, by the next batch or maintenance step.
    SqliteAccessSink aged(path, keep, GroupOptions{1'000'000, std::chrono::milliseconds(50)});
    QVERIFY(aged.open().has_value());
    std::vector<AccessRecord> one{makeRecord(nowUs(), 200, 1, "/aged", "10.0.0.1", "aged")};
    QVERIFY(aged.writeBatch(one).has_value());
    QCOMPARE(aged.pendingRows(), 1u);
    std::this_thread::sleep_for(60ms);
    aged.maintain(std::chrono::system_clock::now());
    QCOMPARE(aged.pendingRows(), 0u);
    QCOMPARE(db.integer("SELECT id FROM access_log WHERE request_id = 'aged'"), std::int64_t{1031});
    QVERIFY(aged.longestCommitMs() > 0.0);
}

void AccessLogTest::pagingAcrossGroups() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/p.db").toStdString();
    SqliteAccessSink sink(path, {}, GroupOptions{50, std::chrono::hours(1)});
    QVERIFY(sink.open().has_value());
    // Batches of 7 with ties on ts_us: group boundaries cut tie groups in the middle.
    const auto rows = tiedRows(700, nowUs() - 10'000'000);
    QVERIFY(writeAll(sink, rows, 7).has_value());
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    Db db(QString::fromStdString(path));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_groups"), std::int64_t{14});
    AccessQuery all;
    all.limit = 13;
    int pages = 0;
    const auto got = walk(**reader, all, &pages);
    QCOMPARE(got.size(), std::size_t{700});
    QVERIFY(got == expectedKeys(rows, 1, [](const AccessRecord&) { return true; }));
    QCOMPARE(pages, 54);  // 53 full pages of 13 (689 rows), then 11
    AccessQuery errors;
    errors.limit = 9;
    errors.statusRanges = {{500, 599}};
    errors.client = "10.0.0.5";
    const auto wantErrors = expectedKeys(rows, 1, [](const AccessRecord& r) {
        return r.status >= 500 && r.field(AccessRecord::ClientAddress) == "10.0.0.5";
    });
    QVERIFY(!wantErrors.empty());
    QVERIFY(walk(**reader, errors) == wantErrors);
    AccessQuery prefix;
    prefix.limit = 100;
    prefix.pathPrefix = "/a/";
    prefix.fromUs = got[600].first;
    prefix.toUs = got[20].first;
    const auto want = expectedKeys(rows, 1, [&](const AccessRecord& r) {
        return r.field(AccessRecord::Path).starts_with("/a/") && r.timeUs >= *prefix.fromUs && r.timeUs < *prefix.toUs;
    });
    QVERIFY(want.size() > 100);
    QVERIFY(walk(**reader, prefix) == want);
    // Exact filters whose value no group's dictionary holds: nothing, and no error.
    AccessQuery none;
    none.host = "other.example";
    QVERIFY(walk(**reader, none).empty());
    none = {};
    none.client = "192.0.2.1";
    QVERIFY(walk(**reader, none).empty());
    AccessQuery contains;
    contains.pathContains = "x";
    contains.upstream = "backend";
    contains.limit = 1000;
    QVERIFY(walk(**reader, contains) ==
            expectedKeys(rows, 1, [](const AccessRecord& r) { return r.field(AccessRecord::Path) == "/a/x"; }));
    // The reply keeps its shape: every column, a formatted time, a cursor string.
    auto page = (*reader)->query(all);
    QVERIFY(page.has_value());
    QCOMPARE(page->at("rows").size(), std::size_t{13});
    for (const char* field : kRowFields) QVERIFY2(page->at("rows")[0].contains(field), field);
    QVERIFY(page->at("rows")[0].contains("time"));
    QVERIFY(page->at("rows")[0]["upstream_connect_us"].is_null());  // -1: no upstream connection
    QCOMPARE(page->at("rows")[0]["upstream_server"].get<std::string>(), std::string("10.1.1.1:8080"));
    QVERIFY(page->at("next_cursor").is_string());
}

void AccessLogTest::aggregatesAcrossGroups() {
    QTemporaryDir dir;
    const std::int64_t base = (nowUs() / 60'000'000 - 30) * 60'000'000;
    std::vector<AccessRecord> rows;
    for (int i = 0; i < 3000; ++i)  // 20 minutes, 150 rows a minute, durations spread widely
        rows.push_back(makeRecord(base + i * 400'000, i % 11 == 0 ? 503 : i % 7 == 0 ? 404 : 200,
                                  (i * 7919) % 100'000, "/m"));
    // The same rows in one big group and in groups of 64: identical answers.
    SqliteAccessSink one((dir.path() + "/one.db").toStdString(), {}, GroupOptions{65536, std::chrono::hours(1)});
    SqliteAccessSink many((dir.path() + "/many.db").toStdString(), {}, GroupOptions{64, std::chrono::hours(1)});
    QVERIFY(one.open().has_value() && many.open().has_value());
    QVERIFY(writeAll(one, rows, 100).has_value());
    QVERIFY(writeAll(many, rows, 100).has_value());
    QCOMPARE(one.groupsWritten(), 1u);
    QCOMPARE(many.groupsWritten(), 47u);
    auto a = AccessLogReader::open((dir.path() + "/one.db").toStdString());
    auto b = AccessLogReader::open((dir.path() + "/many.db").toStdString());
    QVERIFY(a.has_value() && b.has_value());
    AccessQuery q;
    q.fromUs = base + 90'000'000;  // starts and ends mid-minute, mid-group
    q.toUs = base + 1'000'000'000;
    auto ra = (*a)->aggregate(q);
    auto rb = (*b)->aggregate(q);
    QVERIFY(ra.has_value() && rb.has_value());
    QCOMPARE(rb->dump(), ra->dump());
    const auto inRange = std::count_if(rows.begin(), rows.end(), [&](const AccessRecord& r) {
        return r.timeUs >= *q.fromUs && r.timeUs < *q.toUs;
    });
    QCOMPARE(ra->at("totals")["requests"].get<std::int64_t>(), static_cast<std::int64_t>(inRange));
    QVERIFY(ra->at("minutes").size() >= 15);
    q.statusRanges = {{500, 599}};
    ra = (*a)->aggregate(q);
    rb = (*b)->aggregate(q);
    QVERIFY(ra.has_value() && rb.has_value());
    QCOMPARE(rb->dump(), ra->dump());
    QCOMPARE(ra->at("totals")["status_5xx"].get<int>(), ra->at("totals")["requests"].get<int>());
    QVERIFY(ra->at("totals")["requests"].get<int>() > 100);
    q.statusRanges = {{100, 199}};  // no group has a 1xx: all skipped by their status classes
    rb = (*b)->aggregate(q);
    QVERIFY(rb.has_value());
    QCOMPARE(rb->at("totals")["requests"].get<int>(), 0);
}

void AccessLogTest::retentionDropsWholeGroups() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/d.db").toStdString();
    RetentionOptions retention;
    retention.maxAge = 1h;
    retention.maxBytes = 0;
    SqliteAccessSink sink(path, retention, GroupOptions{100, std::chrono::hours(10)});
    QVERIFY(sink.open().has_value());
    const std::int64_t t = nowUs();
    std::vector<AccessRecord> rows;
    for (int i = 0; i < 500; ++i) rows.push_back(makeRecord(t - 3 * 3600'000'000LL + i, 200, 1, "/old"));
    for (int i = 0; i < 55; ++i) rows.push_back(makeRecord(t - 2 * 3600'000'000LL + i, 200, 1, "/edge"));  // shares a group
    for (int i = 0; i < 45; ++i) rows.push_back(makeRecord(t + i, 200, 1, "/edge-new"));
    for (int i = 0; i < 200; ++i) rows.push_back(makeRecord(t + 100 + i, 200, 1, "/new"));
    QVERIFY(writeAll(sink, rows, 100).has_value());
    settle(sink);
    // Five old groups went whole (one DELETE of a summary row and its blobs each); the mixed
    // group stays whole until its newest row is past the cut-off.
    QCOMPARE(sink.groupsDropped(), 5u);
    QCOMPARE(sink.rowsDeletedByAge(), 500u);
    Db db(QString::fromStdString(path));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{300});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE path = '/old'"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log WHERE path = '/edge'"), std::int64_t{55});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_columns"), 27 * db.integer("SELECT COUNT(*) FROM access_log_groups"));
    QCOMPARE(db.integer("SELECT MIN(first_id) FROM access_log_groups"), std::int64_t{501});
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    AccessQuery q;
    q.limit = 1000;
    QCOMPARE(walk(**reader, q).size(), std::size_t{300});
}

void AccessLogTest::migrationFromV2() {
    // A database written by schema 2 (one table, seven indexes) opens, keeps every row and id
    // untouched (as schema-3 segment 1, read as it is), and new rows continue after it in row
    // groups; queries page across both.
    QTemporaryDir dir;
    const QString path = dir.path() + "/v2.db";
    sqlite3* raw = nullptr;
    sqlite3_open(path.toUtf8().constData(), &raw);
    std::string v2 =
        std::string("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;"
                    "CREATE TABLE access_log") +
        kV1Columns + ");"
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
    SqliteAccessSink sink(path.toStdString(), {}, GroupOptions{40, std::chrono::hours(1)});
    QVERIFY(sink.open().has_value());
    std::vector<AccessRecord> fresh;
    for (int i = 0; i < 100; ++i) fresh.push_back(makeRecord(base + 125'000 + (i / 4) * 1000, 503, 1, "/v3", "10.0.0.1", "new" + std::to_string(i)));
    QVERIFY(writeAll(sink, fresh, 25).has_value());
    settle(sink);
    Db db(path);
    QCOMPARE(db.integer("PRAGMA user_version"), std::int64_t{kAccessLogSchemaVersion});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_seg_1"), std::int64_t{500});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_seg_1 WHERE id = CAST(substr(request_id, 4) AS INTEGER) +"
                        " (CASE WHEN CAST(substr(request_id, 4) AS INTEGER) < 250 THEN 1 ELSE 101 END)"),
             std::int64_t{500});
    QCOMPARE(db.text("SELECT first_id || ',' || last_id || ',' || rows || ',' || indexed || ',' || closed"
                     " FROM access_log_segments WHERE seg = 1"),
             std::string("1,600,500,1,1"));
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_groups"), std::int64_t{3});  // 40 + 40 + 20
    QCOMPARE(db.integer("SELECT MIN(id) FROM access_log WHERE path = '/v3'"), std::int64_t{601});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{600});
    auto reader = AccessLogReader::open(path.toStdString());
    QVERIFY2(reader.has_value(), reader ? "" : reader.error().c_str());
    auto want = [&](std::int64_t from, std::int64_t to) {
        Keys keys = segmentKeys(db, "access_log_seg_1",
                                "WHERE ts_us >= " + std::to_string(from) + " AND ts_us < " + std::to_string(to));
        for (const auto& k : expectedKeys(fresh, 601, [&](const AccessRecord& r) { return r.timeUs >= from && r.timeUs < to; }))
            keys.push_back(k);
        std::sort(keys.begin(), keys.end(), std::greater<>());
        return keys;
    };
    AccessQuery all;
    all.limit = 7;
    QVERIFY(walk(**reader, all) == want(0, std::numeric_limits<std::int64_t>::max()));
    AccessQuery window;  // the new rows' times overlap the old ones
    window.fromUs = base + 100'000;
    window.toUs = base + 140'000;
    window.limit = 3;
    const auto got = walk(**reader, window);
    QVERIFY(got == want(*window.fromUs, *window.toUs));
    QVERIFY(got.size() > 20);
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
}

void AccessLogTest::migrationFromV3() {
    // A schema-3 database: its segments stay readable (the open one is closed and gets its
    // indexes in the writer's maintenance steps), new rows go to groups, the reader merges both
    // by the same (max_ts, last_id) bound, and retention ages the segments out.
    QTemporaryDir dir;
    const QString path = dir.path() + "/v3.db";
    const std::int64_t base = nowUs() - 100'000'000;
    writeV3(path, base);
    SqliteAccessSink sink(path.toStdString(), {}, GroupOptions{30, std::chrono::hours(1)});
    QVERIFY(sink.open().has_value());
    std::vector<AccessRecord> fresh;
    for (int i = 0; i < 100; ++i)  // times inside the segments' range: the merge interleaves
        fresh.push_back(makeRecord(base + 50'000 + i * 500, i % 2 ? 503 : 200, 1, "/g", "10.0.0.1", "g" + std::to_string(i)));
    QVERIFY(writeAll(sink, fresh, 10).has_value());
    Db db(path);
    QCOMPARE(db.integer("PRAGMA user_version"), std::int64_t{4});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE closed = 1"), std::int64_t{2});
    QCOMPARE(db.integer("SELECT MIN(first_id) FROM access_log_groups"), std::int64_t{401});
    auto reader = AccessLogReader::open(path.toStdString());
    QVERIFY(reader.has_value());
    auto want = [&](const std::string& where, auto keep) {
        Keys keys = segmentKeys(db, "access_log_seg_1", where);
        for (const auto& k : segmentKeys(db, "access_log_seg_2", where)) keys.push_back(k);
        for (const auto& k : expectedKeys(fresh, 401, keep)) keys.push_back(k);
        std::sort(keys.begin(), keys.end(), std::greater<>());
        return keys;
    };
    AccessQuery all;
    all.limit = 11;
    QCOMPARE(walk(**reader, all).size(), std::size_t{500});
    QVERIFY(walk(**reader, all) == want("", [](const AccessRecord&) { return true; }));
    AccessQuery errors;  // before the segment's indexes exist, and after
    errors.limit = 6;
    errors.statusRanges = {{500, 599}};
    const auto wantErrors = want("WHERE status >= 500", [](const AccessRecord& r) { return r.status >= 500; });
    QVERIFY(walk(**reader, errors) == wantErrors);
    settle(sink);
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments WHERE indexed = 0"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'access_log_seg_2'"),
             std::int64_t{7});
    QVERIFY(walk(**reader, errors) == wantErrors);
    AccessQuery client;
    client.client = "10.0.0.1";
    client.limit = 1000;
    QVERIFY(walk(**reader, client) ==
            want("WHERE client_addr = '10.0.0.1'", [](const AccessRecord&) { return true; }));
    AccessQuery agg;
    agg.fromUs = base;
    agg.toUs = base + 200'000'000;
    auto totals = (*reader)->aggregate(agg);
    QVERIFY(totals.has_value());
    QCOMPARE(totals->at("totals")["requests"].get<int>(), 500);
    QCOMPARE(totals->at("totals")["status_5xx"].get<int>(), 100 + 50);
    // Retention ages the segments out by their own rows' time, then the groups.
    RetentionOptions retention;
    retention.maxAge = 1h;
    retention.maxBytes = 0;
    SqliteAccessSink later(path.toStdString(), retention);
    QVERIFY(later.open().has_value());
    const auto future = std::chrono::system_clock::now() + std::chrono::hours(2);
    for (int i = 0; i < 100 && later.maintain(future); ++i) {}
    QCOMPARE(later.segmentsDropped(), 2u);
    QCOMPARE(later.rowsDeletedByAge(), 500u);
    QCOMPARE(db.integer("SELECT COUNT(*) FROM sqlite_master WHERE name GLOB 'access_log_seg_*'"), std::int64_t{0});
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log"), std::int64_t{0});
    QCOMPARE(db.text("PRAGMA integrity_check"), std::string("ok"));
}

void AccessLogTest::tamperedCatalogIsRefused() {
    // Table names come only from the catalog, and only names of the segment pattern are used: an
    // edited catalog gets a clear error, never SQL. A group summary that lies about its rows is
    // refused too.
    QTemporaryDir dir;
    const QString qpath = dir.path() + "/t.db";
    const std::string path = qpath.toStdString();
    writeV3(qpath, nowUs() - 1'000'000);
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
    Db db(qpath);
    QCOMPARE(sqlite3_exec(db.db,
                          "UPDATE access_log_segments SET name = 'access_log_segments WHERE 1; --'"
                          " WHERE seg = 1",
                          nullptr, nullptr, nullptr),
             SQLITE_OK);
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    auto reply = (*reader)->query(AccessQuery{});
    QVERIFY(!reply.has_value());
    QVERIFY2(reply.error().find("unexpected table") != std::string::npos, reply.error().c_str());
    QCOMPARE(db.integer("SELECT COUNT(*) FROM access_log_segments"), std::int64_t{2});  // untouched
    QCOMPARE(sqlite3_exec(db.db, "UPDATE access_log_segments SET name = 'access_log_seg_1' WHERE seg = 1;"
                                 "UPDATE access_log_groups SET rows = 1000000", nullptr, nullptr, nullptr),
             SQLITE_OK);
    reply = (*reader)->query(AccessQuery{});
    QVERIFY(!reply.has_value());
    QVERIFY2(reply.error().find("damaged") != std::string::npos, reply.error().c_str());
}

void AccessLogTest::corruptBlobs_data() {
    QTest::addColumn<QString>("column");  // a field name, or "time" / "status" / "duration" / "bloom"
    QTest::addColumn<QString>("damage");  // SQL expression of the old blob `data`
    QTest::addColumn<bool>("aggregateFails");
    const QString cut = "substr(data, 1, length(data) - 1)";
    QTest::newRow("time-truncated") << "time" << cut << true;
    QTest::newRow("time-garbled") << "time" << "randomblob(length(data))" << true;
    QTest::newRow("status-empty") << "status" << "x''" << true;
    QTest::newRow("duration-longer") << "duration" << "data || x'00'" << true;
    QTest::newRow("path-truncated") << "path" << cut << false;
    QTest::newRow("path-garbled") << "path" << "x'02ffffffffffffffffff01'" << false;
    QTest::newRow("host-dictionary-index") << "host" << "x'0302016101620303'" << false;
    QTest::newRow("host-unknown-kind") << "host" << "x'07' || data" << false;
    QTest::newRow("client-huge-length") << "client_addr" << "x'02ffffffff0f'" << false;
}

void AccessLogTest::corruptBlobs() {
    // A damaged column blob in the file (a disk error, an edit) gives an error sentence naming
    // the group and the column on query, never a crash or a read outside the blob.
    QFETCH(QString, column);
    QFETCH(QString, damage);
    QFETCH(bool, aggregateFails);
    QTemporaryDir dir;
    const QString qpath = dir.path() + "/c.db";
    const std::string path = qpath.toStdString();
    const std::int64_t t = nowUs();
    {
        SqliteAccessSink sink(path);
        QVERIFY(sink.open().has_value());
        std::vector<AccessRecord> rows;
        for (int i = 0; i < 300; ++i)
            rows.push_back(makeRecord(t + i, i % 5 ? 200 : 500, i, "/c/" + std::to_string(i), "10.0.0." + std::to_string(i % 7)));
        QVERIFY(writeAll(sink, rows, 100).has_value());
    }
    int c = -1;
    if (column == "time") c = 0;
    else if (column == "duration") c = 1;
    else if (column == "status") c = 6;
    for (int f = 0; f < AccessRecord::kFieldCount && c < 0; ++f)
        if (AccessRecord::fieldName(static_cast<AccessRecord::Field>(f)) == column.toStdString()) c = 9 + f;
    QVERIFY(c >= 0);
    Db db(qpath);
    const std::string sql = "UPDATE access_log_columns SET data = " + damage.toStdString() +
                            " WHERE key = (SELECT grp FROM access_log_groups) * 32 + " + std::to_string(c);
    QCOMPARE(sqlite3_exec(db.db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    QCOMPARE(sqlite3_changes(db.db), 1);
    auto reader = AccessLogReader::open(path);
    QVERIFY(reader.has_value());
    auto reply = (*reader)->query(AccessQuery{});
    QVERIFY(!reply.has_value());
    QVERIFY2(reply.error().find("damaged") != std::string::npos, reply.error().c_str());
    AccessQuery agg;
    agg.fromUs = t - 1000;
    agg.toUs = t + 1000;
    auto totals = (*reader)->aggregate(agg);
    QCOMPARE(!totals.has_value(), aggregateFails);
    if (!totals) QVERIFY2(totals.error().find("damaged") != std::string::npos, totals.error().c_str());
    else QCOMPARE(totals->at("totals")["requests"].get<int>(), 300);
    // A missing column is an error too.
    QCOMPARE(sqlite3_exec(db.db, "DELETE FROM access_log_columns WHERE key % 32 = 15", nullptr, nullptr, nullptr), SQLITE_OK);
    reply = (*reader)->query(AccessQuery{});
    QVERIFY(!reply.has_value());
}

void AccessLogTest::garbledClientFilterIsOnlyAHint() {
    QTemporaryDir dir;
    const std::string path = (dir.path() + "/b.db").toStdString();
    {
        SqliteAccessSink sink(path);
        QVERIFY(sink.open().has_value());
        std::vector<AccessRecord> rows;
        for (int i = 0; i < 50; ++i) rows.push_back(makeRecord(nowUs(), 200, i, "/b", "10.0.0." + std::to_string(i % 5)));
        QVERIFY(writeAll(sink, rows, 50).has_value());
    }
    Db db(QString::fromStdString(path));
    AccessQuery q;
    q.client = "10.0.0.3";
    for (const char* damage : {"x''", "x'01'", "randomblob(24)", "zeroblob(64)", "x'ffffffffffffffff'"}) {
        const std::string sql = std::string("UPDATE access_log_columns SET data = ") + damage + " WHERE key % 32 = 26";
        QCOMPARE(sqlite3_exec(db.db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
        auto reader = AccessLogReader::open(path);
        QVERIFY(reader.has_value());
        const auto got = walk(**reader, q);
        // A filter that says "absent" (all zero bits) skips the group: 0 rows, otherwise all 10.
        QVERIFY2(got.size() == 10 || (got.empty() && std::string(damage) == "zeroblob(64)"), damage);
    }
}

#endif  // PROXY_WITH_SQLITE

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--crash-child") return crashChild(argv[2]);
    QCoreApplication app(argc, argv);
    AccessLogTest test;
    return QTest::qExec(&test, argc, argv);
}

#include "access_log_test.moc"
