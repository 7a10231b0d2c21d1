#include "logging/sqlite_access_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <variant>
#include <vector>

namespace proxy::logging {
namespace {

using Json = control::Json;

std::int64_t steadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string errorText(sqlite3* db, const char* what) {
    return std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

std::expected<void, std::string> exec(sqlite3* db, const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string text = message != nullptr ? message : sqlite3_errmsg(db);
        sqlite3_free(message);
        return std::unexpected(text);
    }
    return {};
}

std::expected<std::int64_t, std::string> pragmaInt(sqlite3* db, const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK) return std::unexpected(errorText(db, sql));
    std::int64_t value = 0;
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return std::unexpected(errorText(db, sql));
    return value;
}

// Migrations, one per schema version; each runs in its own transaction with the version bump.
// Never edit a shipped step: add the next one.
constexpr const char* kMigrations[] = {
    // 1: the table. id is the rowid: monotonic, the keyset paging tiebreak.
    "CREATE TABLE access_log ("
    " id INTEGER PRIMARY KEY,"
    " ts_us INTEGER NOT NULL,"
    " request_id TEXT NOT NULL DEFAULT '',"
    " client_addr TEXT NOT NULL DEFAULT '',"
    " client_port INTEGER NOT NULL DEFAULT 0,"
    " listener TEXT NOT NULL DEFAULT '',"
    " route TEXT NOT NULL DEFAULT '',"
    " method TEXT NOT NULL DEFAULT '',"
    " host TEXT NOT NULL DEFAULT '',"
    " path TEXT NOT NULL DEFAULT '',"
    " query TEXT NOT NULL DEFAULT '',"
    " http_version TEXT NOT NULL DEFAULT '',"
    " status INTEGER NOT NULL DEFAULT 0,"
    " bytes_in INTEGER NOT NULL DEFAULT 0,"
    " bytes_out INTEGER NOT NULL DEFAULT 0,"
    " duration_us INTEGER NOT NULL DEFAULT 0,"
    " upstream TEXT NOT NULL DEFAULT '',"
    " upstream_server TEXT NOT NULL DEFAULT '',"
    " upstream_connect_us INTEGER,"
    " upstream_response_us INTEGER,"
    " user_agent TEXT NOT NULL DEFAULT '',"
    " referer TEXT NOT NULL DEFAULT '',"
    " tls_version TEXT NOT NULL DEFAULT '',"
    " cache_status TEXT NOT NULL DEFAULT '',"
    " security_action TEXT NOT NULL DEFAULT '');",
    // 2: who failed, and the console's indexes. Each ends in ts_us (plus the implicit rowid), so
    // "newest first" walks an index backwards instead of sorting.
    "ALTER TABLE access_log ADD COLUMN error TEXT NOT NULL DEFAULT '';"
    // status and duration_us make the time index covering for aggregates (no row lookups).
    "CREATE INDEX access_log_time ON access_log(ts_us, status, duration_us);"
    "CREATE INDEX access_log_status ON access_log(status, ts_us);"
    "CREATE INDEX access_log_host ON access_log(host, ts_us);"
    "CREATE INDEX access_log_path ON access_log(path);"
    "CREATE INDEX access_log_client ON access_log(client_addr, ts_us);"
    "CREATE INDEX access_log_upstream ON access_log(upstream, ts_us);"
    "CREATE INDEX access_log_server ON access_log(upstream_server, ts_us);",
};
static_assert(std::size(kMigrations) == kAccessLogSchemaVersion);

constexpr const char* kInsert =
    "INSERT INTO access_log (ts_us, request_id, client_addr, client_port, listener, route, method,"
    " host, path, query, http_version, status, bytes_in, bytes_out, duration_us, upstream,"
    " upstream_server, upstream_connect_us, upstream_response_us, user_agent, referer, tls_version,"
    " cache_status, security_action, error)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
    " ?20, ?21, ?22, ?23, ?24, ?25)";

constexpr const char* kColumns =
    "id, ts_us, request_id, client_addr, client_port, listener, route, method, host, path, query,"
    " http_version, status, bytes_in, bytes_out, duration_us, upstream, upstream_server,"
    " upstream_connect_us, upstream_response_us, user_agent, referer, tls_version, cache_status,"
    " security_action, error";

bool fatalForConnection(int rc) {
    const int primary = rc & 0xff;
    return primary == SQLITE_IOERR || primary == SQLITE_FULL || primary == SQLITE_READONLY ||
           primary == SQLITE_CANTOPEN || primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ||
           primary == SQLITE_PERM;
}

// The smallest string greater than every string starting with prefix, or empty when none exists.
std::string prefixUpperBound(std::string prefix) {
    while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
    if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
    return prefix;
}

// A WHERE clause built from fixed fragments; every value is a bound parameter.
struct Where {
    std::string sql;
    std::vector<std::variant<std::int64_t, std::string>> binds;

    void add(const char* condition) { sql += sql.empty() ? " WHERE " : " AND "; sql += condition; }
    void add(const char* condition, std::int64_t value) { add(condition); binds.emplace_back(value); }
    void add(const char* condition, const std::string& value) { add(condition); binds.emplace_back(value); }
};

// Which range filters may drive the query through their own index. A page query wants rows
// newest first: walking the time index (or a (column, ts_us) index for an equality filter)
// backwards stops after `limit` matches, while a range on status or path must collect and sort
// every match. So a range index is only worth it when few rows match (probed with a capped count).
struct IndexChoice {
    bool status = true;
    bool path = true;
};

Where buildWhere(const AccessQuery& q, bool withCursor, IndexChoice use = {}) {
    Where w;
    if (q.fromUs) w.add("ts_us >= ?", *q.fromUs);
    if (q.toUs) w.add("ts_us < ?", *q.toUs);
    if (!q.statusRanges.empty()) {
        std::string clause = "(";
        for (std::size_t i = 0; i < q.statusRanges.size(); ++i) {
            clause += i == 0 ? "" : " OR ";
            clause += use.status ? "status BETWEEN ? AND ?" : "+status BETWEEN ? AND ?";
            w.binds.emplace_back(std::int64_t{q.statusRanges[i].first});
            w.binds.emplace_back(std::int64_t{q.statusRanges[i].second});
        }
        clause += ")";
        w.sql += w.sql.empty() ? " WHERE " : " AND ";
        w.sql += clause;
    }
    if (!q.method.empty()) w.add("method = ?", q.method);
    if (!q.host.empty()) w.add("host = ?", q.host);
    if (!q.client.empty()) w.add("client_addr = ?", q.client);
    if (!q.route.empty()) w.add("route = ?", q.route);
    if (!q.upstream.empty()) w.add("upstream = ?", q.upstream);
    if (!q.server.empty()) w.add("upstream_server = ?", q.server);
    if (!q.pathPrefix.empty()) {
        w.add(use.path ? "path >= ?" : "+path >= ?", q.pathPrefix);
        const std::string upper = prefixUpperBound(q.pathPrefix);
        if (!upper.empty()) w.add(use.path ? "path < ?" : "+path < ?", upper);
    }
    if (!q.pathContains.empty()) w.add("instr(path, ?) > 0", q.pathContains);
    if (withCursor && q.before) {
        w.add("(ts_us, id) < (?, ?)");
        w.binds.emplace_back(q.before->timeUs);
        w.binds.emplace_back(q.before->id);
    }
    return w;
}

struct Statement {
    sqlite3_stmt* stmt = nullptr;
    ~Statement() { sqlite3_finalize(stmt); }
};

std::expected<void, std::string> prepare(sqlite3* db, const std::string& sql, const Where& where,
                                         Statement& out) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &out.stmt, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db, "cannot prepare the query"));
    int index = 1;
    for (const auto& bind : where.binds) {
        int rc;
        if (const auto* n = std::get_if<std::int64_t>(&bind))
            rc = sqlite3_bind_int64(out.stmt, index, *n);
        else {
            const auto& s = std::get<std::string>(bind);
            rc = sqlite3_bind_text(out.stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
        }
        if (rc != SQLITE_OK) return std::unexpected(errorText(db, "cannot bind a filter"));
        ++index;
    }
    return {};
}

std::string columnText(sqlite3_stmt* stmt, int column) {
    const auto* text = sqlite3_column_text(stmt, column);
    const int size = sqlite3_column_bytes(stmt, column);
    return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

struct Deadline {
    std::int64_t atMs = 0;
};

int progressHandler(void* data) { return steadyMs() > static_cast<Deadline*>(data)->atMs ? 1 : 0; }

std::string stepError(sqlite3* db, int rc, std::chrono::milliseconds limit) {
    if (rc == SQLITE_INTERRUPT)
        return "the query took longer than " + std::to_string(limit.count()) +
               " ms; narrow the time range or the filters";
    return errorText(db, "query failed");
}

constexpr std::int64_t kSelectiveRows = 20000;

// Counts rows matching one range filter (and the time bounds), stopping at kSelectiveRows.
std::int64_t probe(sqlite3* db, const AccessQuery& q, bool status) {
    AccessQuery only;
    only.fromUs = q.fromUs;
    only.toUs = q.toUs;
    if (status) only.statusRanges = q.statusRanges; else only.pathPrefix = q.pathPrefix;
    const Where where = buildWhere(only, false);
    const std::string sql = "SELECT count(*) FROM (SELECT 1 FROM access_log" + where.sql +
                            " LIMIT " + std::to_string(kSelectiveRows) + ")";
    Statement stmt;
    if (!prepare(db, sql, where, stmt)) return kSelectiveRows;
    return sqlite3_step(stmt.stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt.stmt, 0) : kSelectiveRows;
}

IndexChoice chooseIndexes(sqlite3* db, const AccessQuery& q) {
    IndexChoice use;
    // An equality filter with its own (column, ts_us) index already gives ordered rows.
    const bool orderedEquality = !q.client.empty() || !q.host.empty() || !q.upstream.empty() || !q.server.empty();
    if (!q.statusRanges.empty()) use.status = !orderedEquality && probe(db, q, true) < kSelectiveRows;
    if (!q.pathPrefix.empty()) use.path = !orderedEquality && probe(db, q, false) < kSelectiveRows;
    if (use.status && use.path) use.status = false;  // one range index is enough
    return use;
}

}  // namespace

std::expected<void, std::string> migrateAccessLog(sqlite3* db) {
    auto version = pragmaInt(db, "PRAGMA user_version");
    if (!version) return std::unexpected(version.error());
    if (*version > kAccessLogSchemaVersion)
        return std::unexpected("access log schema version " + std::to_string(*version) +
                               " is newer than this build's (" +
                               std::to_string(kAccessLogSchemaVersion) + ")");
    for (auto v = *version; v < kAccessLogSchemaVersion; ++v) {
        if (auto ok = exec(db, "BEGIN IMMEDIATE"); !ok) return std::unexpected("migration: " + ok.error());
        auto step = exec(db, kMigrations[v]);
        if (step) {
            const std::string bump = "PRAGMA user_version = " + std::to_string(v + 1);
            step = exec(db, bump.c_str());
        }
        if (step) step = exec(db, "COMMIT");
        if (!step) {
            (void)exec(db, "ROLLBACK");
            return std::unexpected("migration to schema version " + std::to_string(v + 1) +
                                   " failed: " + step.error());
        }
    }
    return {};
}

SqliteAccessSink::SqliteAccessSink(std::string path, RetentionOptions retention)
    : path_(std::move(path)), retention_(retention) {}

SqliteAccessSink::~SqliteAccessSink() { close(); }

void SqliteAccessSink::close() {
    sqlite3_finalize(insert_);
    insert_ = nullptr;
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
}

std::expected<void, std::string> SqliteAccessSink::fail(const char* what) {
    lastError_ = errorText(db_, what);
    close();
    return std::unexpected(lastError_);
}

std::expected<void, std::string> SqliteAccessSink::open() {
    lastOpenAttemptMs_ = steadyMs();
    close();
    // NOMUTEX: only the writer thread uses this connection, so SQLite's per-call mutex (taken
    // by every bind and step) is pure cost.
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
        return fail(("cannot open " + path_).c_str());
    sqlite3_busy_timeout(db_, 5000);
    // Before anything creates a table (a no-op on an existing database): lets retention hand
    // pages back to the OS with incremental vacuum.
    if (auto ok = exec(db_, "PRAGMA auto_vacuum = INCREMENTAL"); !ok) return fail("cannot set auto_vacuum");
    auto mode = [&]() -> std::expected<void, std::string> {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &stmt, nullptr) != SQLITE_OK)
            return std::unexpected(errorText(db_, "cannot set WAL mode"));
        std::string result;
        if (sqlite3_step(stmt) == SQLITE_ROW) result = columnText(stmt, 0);
        sqlite3_finalize(stmt);
        if (result != "wal") return std::unexpected(errorText(db_, ("cannot use WAL mode on " + path_).c_str()));
        return {};
    }();
    if (!mode) {
        lastError_ = mode.error();
        close();
        return std::unexpected(lastError_);
    }
    // NORMAL in WAL mode: a killed process loses nothing committed; a power cut may lose the last
    // transactions but never corrupts the file.
    // A 64 MiB page cache keeps the indexes' hot pages in memory: with the default 2 MiB, random
    // keys (client, path) made every insert read pages back from disk.
    for (const char* pragma : {"PRAGMA synchronous = NORMAL", "PRAGMA journal_size_limit = 67108864",
                               "PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 8192"})
        if (auto ok = exec(db_, pragma); !ok) return fail(pragma);
    if (auto migrated = migrateAccessLog(db_); !migrated) {
        lastError_ = path_ + ": " + migrated.error();
        close();
        return std::unexpected(lastError_);
    }
    if (sqlite3_prepare_v3(db_, kInsert, -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr) != SQLITE_OK)
        return fail("cannot prepare the insert");
    lastError_.clear();
    return {};
}

std::expected<void, std::string> SqliteAccessSink::writeBatch(std::span<const AccessRecord> batch) {
    if (db_ == nullptr) {
        if (steadyMs() - lastOpenAttemptMs_ < 1000) return std::unexpected(lastError_);
        if (auto opened = open(); !opened) return opened;
    }
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        return fail("cannot begin a transaction");
    using F = AccessRecord;
    for (const AccessRecord& r : batch) {
        sqlite3_stmt* s = insert_;
        auto text = [&](int index, F::Field f) {
            const std::string_view v = r.field(f);
            sqlite3_bind_text(s, index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        };
        sqlite3_bind_int64(s, 1, r.timeUs);
        text(2, F::RequestId);
        text(3, F::ClientAddress);
        sqlite3_bind_int(s, 4, r.clientPort);
        text(5, F::Listener);
        text(6, F::Route);
        text(7, F::Method);
        text(8, F::Host);
        text(9, F::Path);
        text(10, F::Query);
        text(11, F::HttpVersion);
        sqlite3_bind_int(s, 12, r.status);
        sqlite3_bind_int64(s, 13, static_cast<std::int64_t>(r.bytesIn));
        sqlite3_bind_int64(s, 14, static_cast<std::int64_t>(r.bytesOut));
        sqlite3_bind_int64(s, 15, r.durationUs);
        text(16, F::Upstream);
        text(17, F::Server);
        if (r.connectUs >= 0) sqlite3_bind_int64(s, 18, r.connectUs); else sqlite3_bind_null(s, 18);
        if (r.responseUs >= 0) sqlite3_bind_int64(s, 19, r.responseUs); else sqlite3_bind_null(s, 19);
        text(20, F::UserAgent);
        text(21, F::Referer);
        text(22, F::TlsVersion);
        text(23, F::CacheStatus);
        text(24, F::SecurityAction);
        text(25, F::Error);
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) {
            lastError_ = errorText(db_, "insert failed");
            (void)exec(db_, "ROLLBACK");
            if (fatalForConnection(rc)) close();
            return std::unexpected(lastError_);
        }
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        lastError_ = errorText(db_, "commit failed");
        (void)exec(db_, "ROLLBACK");
        close();
        return std::unexpected(lastError_);
    }
    rows_ += batch.size();
    ++batches_;
    return {};
}

std::expected<std::int64_t, std::string> SqliteAccessSink::deleteChunk(bool byAge, std::int64_t beforeUs) {
    const char* sql = byAge ? "DELETE FROM access_log WHERE id IN"
                              " (SELECT id FROM access_log WHERE ts_us < ?1 LIMIT ?2)"
                            : "DELETE FROM access_log WHERE id IN"
                              " (SELECT id FROM access_log ORDER BY id LIMIT ?2)";
    Statement stmt;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt.stmt, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "retention"));
    sqlite3_bind_int64(stmt.stmt, 1, beforeUs);
    sqlite3_bind_int64(stmt.stmt, 2, retention_.chunkRows);
    if (sqlite3_step(stmt.stmt) != SQLITE_DONE) return std::unexpected(errorText(db_, "retention"));
    return sqlite3_changes(db_);
}

bool SqliteAccessSink::maintain(std::chrono::system_clock::time_point now) {
    if (db_ == nullptr) return false;
    if (!pending_ && now < nextCheck_) return false;
    nextCheck_ = now + retention_.checkInterval;
    pending_ = false;
    // One bounded step per call: the writer interleaves batches with these, so retention never
    // holds the log for long (each DELETE touches at most chunkRows rows).
    if (retention_.maxAge.count() > 0) {
        const auto cutoff = now - retention_.maxAge;
        const std::int64_t cutoffUs =
            std::chrono::duration_cast<std::chrono::microseconds>(cutoff.time_since_epoch()).count();
        auto deleted = deleteChunk(true, cutoffUs);
        if (!deleted) {
            lastError_ = deleted.error();
            return false;
        }
        deletedByAge_ += static_cast<std::uint64_t>(*deleted);
        if (*deleted > 0) {
            pending_ = true;  // maybe more; the vacuum follows once nothing is left to delete
            return true;
        }
    }
    const auto pageSize = pragmaInt(db_, "PRAGMA page_size");
    const auto pages = pragmaInt(db_, "PRAGMA page_count");
    const auto freePages = pragmaInt(db_, "PRAGMA freelist_count");
    if (!pageSize || !pages || !freePages) return false;
    if (retention_.maxBytes > 0 &&
        static_cast<std::uint64_t>((*pages - *freePages) * *pageSize) > retention_.maxBytes) {
        auto deleted = deleteChunk(false, 0);
        if (deleted && *deleted > 0) {
            deletedBySize_ += static_cast<std::uint64_t>(*deleted);
            pending_ = true;
            return true;
        }
    }
    if (*freePages > 0) {
        const std::string vacuum = "PRAGMA incremental_vacuum(" + std::to_string(retention_.vacuumPages) + ")";
        (void)exec(db_, vacuum.c_str());
        pending_ = *freePages > static_cast<std::int64_t>(retention_.vacuumPages);
    }
    return pending_;
}

Json SqliteAccessSink::describe() const {
    Json j = {{"sink", "sqlite"},
              {"path", sanitizeUtf8(path_)},
              {"open", db_ != nullptr},
              {"schema_version", kAccessLogSchemaVersion},
              {"rows_written", rows_},
              {"batches", batches_},
              {"retention_deleted_by_age", deletedByAge_},
              {"retention_deleted_by_size", deletedBySize_}};
    if (!lastError_.empty()) j["last_error"] = sanitizeUtf8(lastError_);
    return j;
}

std::expected<std::unique_ptr<AccessLogReader>, std::string> AccessLogReader::open(
    const std::string& path, std::chrono::milliseconds timeLimit) {
    std::unique_ptr<AccessLogReader> reader(new AccessLogReader());
    reader->timeLimit_ = timeLimit;
    if (sqlite3_open_v2(path.c_str(), &reader->db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(reader->db_, ("cannot open the access log " + path).c_str()));
    sqlite3_busy_timeout(reader->db_, 1000);
    (void)exec(reader->db_, "PRAGMA cache_size = -32768");
    (void)exec(reader->db_, "PRAGMA mmap_size = 268435456");
    auto version = pragmaInt(reader->db_, "PRAGMA user_version");
    if (!version) return std::unexpected(path + " is not an access log database: " + version.error());
    if (*version != kAccessLogSchemaVersion)
        return std::unexpected(path + " has access log schema version " + std::to_string(*version) +
                               ", this build reads version " + std::to_string(kAccessLogSchemaVersion));
    return reader;
}

AccessLogReader::~AccessLogReader() {
    if (db_ != nullptr) sqlite3_close_v2(db_);
}

std::expected<Json, std::string> AccessLogReader::query(const AccessQuery& q) {
    if (auto valid = validate(q); !valid) return std::unexpected(valid.error());
    std::lock_guard lock(mutex_);
    Where where = buildWhere(q, true, chooseIndexes(db_, q));
    std::string sql = std::string("SELECT ") + kColumns + " FROM access_log" + where.sql +
                      " ORDER BY ts_us DESC, id DESC LIMIT ?";
    where.binds.emplace_back(static_cast<std::int64_t>(q.limit));
    Statement stmt;
    if (auto ok = prepare(db_, sql, where, stmt); !ok) return std::unexpected(ok.error());
    Deadline deadline{steadyMs() + timeLimit_.count()};
    sqlite3_progress_handler(db_, 1000, progressHandler, &deadline);
    Json rows = Json::array();
    AccessQuery::Cursor last;
    int rc;
    while ((rc = sqlite3_step(stmt.stmt)) == SQLITE_ROW) {
        Json row = Json::object();
        const int columns = sqlite3_column_count(stmt.stmt);
        for (int c = 0; c < columns; ++c) {
            const char* name = sqlite3_column_name(stmt.stmt, c);
            switch (sqlite3_column_type(stmt.stmt, c)) {
                case SQLITE_INTEGER: row[name] = sqlite3_column_int64(stmt.stmt, c); break;
                case SQLITE_NULL: row[name] = nullptr; break;
                default: row[name] = sanitizeUtf8(columnText(stmt.stmt, c));
            }
        }
        last = {sqlite3_column_int64(stmt.stmt, 1), sqlite3_column_int64(stmt.stmt, 0)};
        row["time"] = formatTimeUs(last.timeUs);
        rows.push_back(std::move(row));
    }
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    if (rc != SQLITE_DONE) return std::unexpected(stepError(db_, rc, timeLimit_));
    Json result = {{"rows", rows}, {"next_cursor", nullptr}};
    if (rows.size() == q.limit) result["next_cursor"] = formatCursor(last);
    return result;
}

std::expected<Json, std::string> AccessLogReader::aggregate(const AccessQuery& q) {
    if (auto valid = validateAggregate(q); !valid) return std::unexpected(valid.error());
    std::lock_guard lock(mutex_);
    Where where = buildWhere(q, false);
    const std::string sql = "SELECT ts_us, duration_us, status FROM access_log" + where.sql;
    Statement stmt;
    if (auto ok = prepare(db_, sql, where, stmt); !ok) return std::unexpected(ok.error());
    struct Minute {
        std::vector<std::int64_t> durations;
        std::uint64_t errors = 0;
    };
    std::map<std::int64_t, Minute> minutes;
    std::uint64_t classes[6] = {};  // no status, 1xx .. 5xx
    std::uint64_t total = 0, errors = 0;
    constexpr std::uint64_t kMaxRows = 5'000'000;
    Deadline deadline{steadyMs() + timeLimit_.count()};
    sqlite3_progress_handler(db_, 1000, progressHandler, &deadline);
    int rc;
    while ((rc = sqlite3_step(stmt.stmt)) == SQLITE_ROW) {
        if (++total > kMaxRows) {
            sqlite3_progress_handler(db_, 0, nullptr, nullptr);
            return std::unexpected("more than 5000000 rows match; narrow the time range or the filters");
        }
        const std::int64_t ts = sqlite3_column_int64(stmt.stmt, 0);
        const int status = sqlite3_column_int(stmt.stmt, 2);
        Minute& m = minutes[ts / 60'000'000];
        m.durations.push_back(sqlite3_column_int64(stmt.stmt, 1));
        const bool failed = status >= 500 || status == 0;
        m.errors += failed ? 1 : 0;
        errors += failed ? 1 : 0;
        classes[status >= 100 && status < 600 ? status / 100 : 0]++;
    }
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    if (rc != SQLITE_DONE) return std::unexpected(stepError(db_, rc, timeLimit_));
    Json series = Json::array();
    for (auto& [minute, m] : minutes) {
        std::sort(m.durations.begin(), m.durations.end());
        series.push_back({{"minute_ms", minute * 60'000},
                          {"requests", m.durations.size()},
                          {"errors", m.errors},
                          {"p50_us", percentileSorted(m.durations, 50)},
                          {"p95_us", percentileSorted(m.durations, 95)},
                          {"p99_us", percentileSorted(m.durations, 99)}});
    }
    Json totals = {{"requests", total},   {"errors", errors},       {"no_status", classes[0]},
                   {"status_1xx", classes[1]}, {"status_2xx", classes[2]}, {"status_3xx", classes[3]},
                   {"status_4xx", classes[4]}, {"status_5xx", classes[5]}};
    return Json{{"totals", totals}, {"minutes", series}};
}

std::expected<std::string, std::string> AccessLogReader::explain(const AccessQuery& q) {
    std::lock_guard lock(mutex_);
    Where where = buildWhere(q, true, chooseIndexes(db_, q));
    std::string sql = std::string("EXPLAIN QUERY PLAN SELECT ") + kColumns + " FROM access_log" +
                      where.sql + " ORDER BY ts_us DESC, id DESC LIMIT ?";
    where.binds.emplace_back(static_cast<std::int64_t>(q.limit));
    Statement stmt;
    if (auto ok = prepare(db_, sql, where, stmt); !ok) return std::unexpected(ok.error());
    std::string plan;
    while (sqlite3_step(stmt.stmt) == SQLITE_ROW) {
        if (!plan.empty()) plan += "; ";
        plan += columnText(stmt.stmt, 3);
    }
    return plan;
}

}  // namespace proxy::logging
