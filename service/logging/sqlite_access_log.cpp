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
    // 3: time segments. The v2 table becomes segment 1 (closed and indexed; its rows are neither
    // moved nor rewritten: a rename only edits the schema), and the catalog lists every segment.
    // first_id/last_id and min_ts/max_ts bound the rows of a segment (the reader skips and stops
    // by them); closed = no more inserts; indexed = every secondary index is built.
    "ALTER TABLE access_log RENAME TO access_log_seg_1;"
    "CREATE TABLE access_log_segments ("
    " seg INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " first_id INTEGER NOT NULL,"
    " last_id INTEGER NOT NULL,"
    " min_ts INTEGER,"
    " max_ts INTEGER,"
    " rows INTEGER NOT NULL DEFAULT 0,"
    " closed INTEGER NOT NULL DEFAULT 0,"
    " indexed INTEGER NOT NULL DEFAULT 0,"
    " created_us INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO access_log_segments (seg, name, first_id, last_id, min_ts, max_ts, rows, closed,"
    " indexed, created_us)"
    " SELECT 1, 'access_log_seg_1', COALESCE(MIN(id), 1), COALESCE(MAX(id), 0), MIN(ts_us),"
    " MAX(ts_us), COUNT(*), 1, 1, 0 FROM access_log_seg_1;",
};

constexpr const char* kSegmentPrefix = "access_log_seg_";

// A segment table (the columns of schema v2). id is assigned by the writer: global across segments.
constexpr const char* kSegmentColumnsDdl =
    " (id INTEGER PRIMARY KEY,"
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
    " security_action TEXT NOT NULL DEFAULT '',"
    " error TEXT NOT NULL DEFAULT '')";

// Built when the segment is created: newest-first walks and the aggregates' covering index.
constexpr const char* kTimeIndex = "(ts_us, status, duration_us)";
// Built in bulk (sort-based CREATE INDEX) once the segment is closed; the same keys as v2.
struct DeferredIndex {
    const char* suffix;
    const char* columns;
};
constexpr DeferredIndex kDeferredIndexes[] = {
    {"_status", "(status, ts_us)"},   {"_host", "(host, ts_us)"},
    {"_path", "(path)"},              {"_client", "(client_addr, ts_us)"},
    {"_upstream", "(upstream, ts_us)"}, {"_server", "(upstream_server, ts_us)"},
};

std::string segmentName(std::int64_t seg) { return kSegmentPrefix + std::to_string(seg); }
static_assert(std::size(kMigrations) == kAccessLogSchemaVersion);

// The table name is appended by insertSql().
constexpr const char* kInsertColumns =
    " (ts_us, request_id, client_addr, client_port, listener, route, method,"
    " host, path, query, http_version, status, bytes_in, bytes_out, duration_us, upstream,"
    " upstream_server, upstream_connect_us, upstream_response_us, user_agent, referer, tls_version,"
    " cache_status, security_action, error, id)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,"
    " ?20, ?21, ?22, ?23, ?24, ?25, ?26)";

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

// Counts rows of one segment matching one range filter (and the time bounds), stopping at
// kSelectiveRows.
std::int64_t probe(sqlite3* db, const std::string& table, const AccessQuery& q, bool status) {
    AccessQuery only;
    only.fromUs = q.fromUs;
    only.toUs = q.toUs;
    if (status) only.statusRanges = q.statusRanges; else only.pathPrefix = q.pathPrefix;
    const Where where = buildWhere(only, false);
    const std::string sql = "SELECT count(*) FROM (SELECT 1 FROM " + table + where.sql +
                            " LIMIT " + std::to_string(kSelectiveRows) + ")";
    Statement stmt;
    if (!prepare(db, sql, where, stmt)) return kSelectiveRows;
    return sqlite3_step(stmt.stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt.stmt, 0) : kSelectiveRows;
}

IndexChoice chooseIndexes(sqlite3* db, const std::string& table, bool indexed, const AccessQuery& q) {
    IndexChoice use;
    if (!indexed) return use;  // only the time index exists: nothing to choose
    // An equality filter with its own (column, ts_us) index already gives ordered rows.
    const bool orderedEquality = !q.client.empty() || !q.host.empty() || !q.upstream.empty() || !q.server.empty();
    if (!q.statusRanges.empty()) use.status = !orderedEquality && probe(db, table, q, true) < kSelectiveRows;
    if (!q.pathPrefix.empty()) use.path = !orderedEquality && probe(db, table, q, false) < kSelectiveRows;
    if (use.status && use.path) use.status = false;  // one range index is enough
    return use;
}

// One catalog row.
struct Segment {
    std::int64_t seg = 0;
    std::string name;
    std::int64_t firstId = 0, lastId = 0, minTs = 0, maxTs = 0, rows = 0;
    bool closed = false, indexed = false;
};

// Every segment with rows, newest first by (max_ts, last_id): an upper bound of (ts_us, id) of
// every row in it. Names are checked, so no catalog content ever reaches SQL text unvalidated.
std::expected<std::vector<Segment>, std::string> loadCatalog(sqlite3* db, bool withEmpty, bool newestFirst) {
    const std::string sql = std::string(
        "SELECT seg, name, first_id, last_id, COALESCE(min_ts, 0), COALESCE(max_ts, 0), rows, closed,"
        " indexed FROM access_log_segments") + (withEmpty ? "" : " WHERE rows > 0") +
        (newestFirst ? " ORDER BY max_ts DESC, last_id DESC" : " ORDER BY seg");
    Statement stmt;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt.stmt, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db, "cannot read the segment catalog"));
    std::vector<Segment> out;
    int rc;
    while ((rc = sqlite3_step(stmt.stmt)) == SQLITE_ROW) {
        Segment s;
        s.seg = sqlite3_column_int64(stmt.stmt, 0);
        s.name = columnText(stmt.stmt, 1);
        s.firstId = sqlite3_column_int64(stmt.stmt, 2);
        s.lastId = sqlite3_column_int64(stmt.stmt, 3);
        s.minTs = sqlite3_column_int64(stmt.stmt, 4);
        s.maxTs = sqlite3_column_int64(stmt.stmt, 5);
        s.rows = sqlite3_column_int64(stmt.stmt, 6);
        s.closed = sqlite3_column_int(stmt.stmt, 7) != 0;
        s.indexed = sqlite3_column_int(stmt.stmt, 8) != 0;
        if (!isSegmentTableName(s.name))
            return std::unexpected("the access log catalog names an unexpected table '" + sanitizeUtf8(s.name) + "'");
        out.push_back(std::move(s));
    }
    if (rc != SQLITE_DONE) return std::unexpected(errorText(db, "cannot read the segment catalog"));
    return out;
}

// A read transaction: every statement of one query sees the same snapshot, so a segment dropped
// by retention meanwhile is still there for us.
struct ReadTransaction {
    sqlite3* db;
    bool open = false;
    explicit ReadTransaction(sqlite3* d) : db(d) { open = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK; }
    ~ReadTransaction() {
        if (open) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    }
};

// Does the segment hold rows inside the query's time range (and older than its cursor)?
bool mayMatch(const Segment& s, const AccessQuery& q, bool withCursor) {
    if (q.fromUs && s.maxTs < *q.fromUs) return false;
    if (q.toUs && s.minTs >= *q.toUs) return false;
    if (withCursor && q.before) {
        // Every row has ts_us >= min_ts and id >= first_id.
        if (s.minTs > q.before->timeUs || (s.minTs == q.before->timeUs && s.firstId > q.before->id)) return false;
    }
    return true;
}

std::int64_t nowUs(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

bool isSegmentTableName(std::string_view name) {
    const std::string_view prefix = kSegmentPrefix;
    if (!name.starts_with(prefix)) return false;
    const std::string_view digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 18 || digits.front() == '0') return false;
    return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::expected<std::vector<std::string>, std::string> accessLogSegments(sqlite3* db) {
    auto segments = loadCatalog(db, true, false);
    if (!segments) return std::unexpected(segments.error());
    std::vector<std::string> names;
    for (const auto& s : *segments) names.push_back(s.name);
    return names;
}

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


SqliteAccessSink::SqliteAccessSink(std::string path, RetentionOptions retention, SegmentOptions segments)
    : path_(std::move(path)), retention_(retention), segments_(segments) {}

SqliteAccessSink::~SqliteAccessSink() { close(); }

void SqliteAccessSink::close() {
    sqlite3_finalize(insert_);
    insert_ = nullptr;
    sqlite3_finalize(touch_);
    touch_ = nullptr;
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = nullptr;
    stateValid_ = false;
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
    // transactions but never corrupts the file. The page cache holds the open segment and the
    // sort of a CREATE INDEX.
    for (const char* pragma : {"PRAGMA synchronous = NORMAL", "PRAGMA journal_size_limit = 67108864",
                               "PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 8192"})
        if (auto ok = exec(db_, pragma); !ok) return fail(pragma);
    if (auto migrated = migrateAccessLog(db_); !migrated) {
        lastError_ = path_ + ": " + migrated.error();
        close();
        return std::unexpected(lastError_);
    }
    if (auto loaded = loadState(); !loaded) {
        lastError_ = path_ + ": " + loaded.error();
        close();
        return std::unexpected(lastError_);
    }
    lastError_.clear();
    return {};
}

// Reads the open segment from the catalog (creating one when none is open) and prepares its
// statements. Runs at open and after a rolled-back batch, so memory never drifts from the file.
std::expected<void, std::string> SqliteAccessSink::loadState() {
    stateValid_ = false;
    sqlite3_finalize(insert_);
    insert_ = nullptr;
    sqlite3_finalize(touch_);
    touch_ = nullptr;
    auto catalog = loadCatalog(db_, true, false);
    if (!catalog) return std::unexpected(catalog.error());
    nextId_ = 1;
    openSeg_ = 0;
    for (const Segment& s : *catalog) {
        nextId_ = std::max(nextId_, s.lastId + 1);
        if (!s.closed) {
            openSeg_ = s.seg;
            openRows_ = s.rows;
            openMinTs_ = s.rows > 0 ? s.minTs : 0;
        }
        if (s.closed && !s.indexed) indexPending_ = true;  // a close interrupted by a crash resumes
    }
    if (openSeg_ == 0) {
        if (auto ok = exec(db_, "BEGIN IMMEDIATE"); !ok) return std::unexpected("cannot begin: " + ok.error());
        std::int64_t next = 1;
        for (const Segment& s : *catalog) next = std::max(next, s.seg + 1);
        auto created = rollover(next, nowUs(std::chrono::system_clock::now()));
        if (created) created = exec(db_, "COMMIT");
        if (!created) {
            (void)exec(db_, "ROLLBACK");
            return std::unexpected("cannot create a segment: " + created.error());
        }
    }
    const std::string table = segmentName(openSeg_);
    const std::string insert = "INSERT INTO " + table + kInsertColumns;
    if (sqlite3_prepare_v3(db_, insert.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &insert_, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "cannot prepare the insert"));
    constexpr const char* kTouch =
        "UPDATE access_log_segments SET last_id = ?1, rows = rows + ?2,"
        " min_ts = min(COALESCE(min_ts, ?3), ?3), max_ts = max(COALESCE(max_ts, ?4), ?4) WHERE seg = ?5";
    if (sqlite3_prepare_v3(db_, kTouch, -1, SQLITE_PREPARE_PERSISTENT, &touch_, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "cannot prepare the catalog update"));
    stateValid_ = true;
    return {};
}

// Inside the caller's transaction: closes the open segment (if any) and creates segment `seg`
// with its time index. One transaction with the batch that follows, so a crash leaves either the
// old state or the new one. The caller re-prepares the insert (loadState) afterwards.
std::expected<void, std::string> SqliteAccessSink::rollover(std::int64_t seg, std::int64_t createdUs) {
    if (openSeg_ != 0) {
        const std::string close = "UPDATE access_log_segments SET closed = 1 WHERE seg = " + std::to_string(openSeg_);
        if (auto ok = exec(db_, close.c_str()); !ok) return ok;
    }
    const std::string table = segmentName(seg);
    const std::string ddl = "CREATE TABLE " + table + kSegmentColumnsDdl + ";CREATE INDEX " + table +
                            "_time ON " + table + kTimeIndex + ";"
                            "INSERT INTO access_log_segments (seg, name, first_id, last_id, rows, closed,"
                            " indexed, created_us) VALUES (" + std::to_string(seg) + ", '" + table + "', " +
                            std::to_string(nextId_) + ", " + std::to_string(nextId_ - 1) + ", 0, 0, 0, " +
                            std::to_string(createdUs) + ")";
    if (auto ok = exec(db_, ddl.c_str()); !ok) return ok;
    if (openSeg_ != 0) indexPending_ = true;
    openSeg_ = seg;
    openRows_ = 0;
    openMinTs_ = 0;
    return {};
}

std::expected<void, std::string> SqliteAccessSink::writeBatch(std::span<const AccessRecord> batch) {
    if (db_ == nullptr) {
        if (steadyMs() - lastOpenAttemptMs_ < 1000) return std::unexpected(lastError_);
        if (auto opened = open(); !opened) return opened;
    }
    if (!stateValid_) {
        if (auto loaded = loadState(); !loaded) {
            lastError_ = loaded.error();
            close();
            return std::unexpected(lastError_);
        }
    }
    if (batch.empty()) return {};
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        return fail("cannot begin a transaction");
    auto abandon = [&](const char* what, int rc) -> std::expected<void, std::string> {
        lastError_ = errorText(db_, what);
        (void)exec(db_, "ROLLBACK");
        stateValid_ = false;  // a rollover in this transaction was undone too
        if (fatalForConnection(rc)) close();
        return std::unexpected(lastError_);
    };
    const std::int64_t now = nowUs(std::chrono::system_clock::now());
    const std::int64_t maxAgeUs = std::chrono::duration_cast<std::chrono::microseconds>(segments_.maxAge).count();
    // The age is measured in the rows' own time (the batch's newest row against the segment's
    // oldest), so a replayed or back-dated log still makes segments of maxAge, not one per batch.
    std::int64_t batchNewest = batch.front().timeUs;
    for (const AccessRecord& r : batch) batchNewest = std::max(batchNewest, r.timeUs);
    if (openRows_ > 0 && (openRows_ >= static_cast<std::int64_t>(segments_.maxRows) ||
                          (maxAgeUs > 0 && batchNewest - openMinTs_ >= maxAgeUs))) {
        if (auto rolled = rollover(openSeg_ + 1, now); !rolled) return abandon("cannot close the segment", SQLITE_ERROR);
        if (auto loaded = loadState(); !loaded) return abandon("cannot open the next segment", SQLITE_ERROR);
    }
    using F = AccessRecord;
    std::int64_t id = nextId_;
    std::int64_t minTs = batch.front().timeUs, maxTs = batch.front().timeUs;
    for (const AccessRecord& r : batch) {
        sqlite3_stmt* s = insert_;
        auto text = [&](int index, F::Field f) {
            const std::string_view v = r.field(f);
            sqlite3_bind_text(s, index, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        };
        minTs = std::min(minTs, r.timeUs);
        maxTs = std::max(maxTs, r.timeUs);
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
        sqlite3_bind_int64(s, 26, id++);
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) return abandon("insert failed", rc);
    }
    const auto n = static_cast<std::int64_t>(batch.size());
    sqlite3_bind_int64(touch_, 1, id - 1);
    sqlite3_bind_int64(touch_, 2, n);
    sqlite3_bind_int64(touch_, 3, minTs);
    sqlite3_bind_int64(touch_, 4, maxTs);
    sqlite3_bind_int64(touch_, 5, openSeg_);
    const int touched = sqlite3_step(touch_);
    sqlite3_reset(touch_);
    if (touched != SQLITE_DONE) return abandon("cannot update the segment catalog", touched);
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        lastError_ = errorText(db_, "commit failed");
        (void)exec(db_, "ROLLBACK");
        close();
        return std::unexpected(lastError_);
    }
    openMinTs_ = openRows_ == 0 ? minTs : std::min(openMinTs_, minTs);
    openRows_ += n;
    nextId_ = id;
    rows_ += batch.size();
    ++batches_;
    return {};
}

// One CREATE INDEX of the oldest closed segment that still lacks some (bulk, sort-based: far
// cheaper than maintaining random-key indexes row by row). Each index is its own statement, so
// the writer's pause is one index over one segment; a crash loses at most that index, and the
// next open resumes (indexed = 0 until all are there). True when more may be pending.
std::expected<bool, std::string> SqliteAccessSink::indexStep() {
    auto catalog = loadCatalog(db_, true, false);
    if (!catalog) return std::unexpected(catalog.error());
    for (const Segment& s : *catalog) {
        if (!s.closed || s.indexed) continue;
        for (const DeferredIndex& index : kDeferredIndexes) {
            const std::string name = s.name + index.suffix;
            Statement exists;
            if (sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1", -1,
                                   &exists.stmt, nullptr) != SQLITE_OK)
                return std::unexpected(errorText(db_, "cannot read the schema"));
            sqlite3_bind_text(exists.stmt, 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
            const int rc = sqlite3_step(exists.stmt);
            if (rc == SQLITE_ROW) continue;
            if (rc != SQLITE_DONE) return std::unexpected(errorText(db_, "cannot read the schema"));
            const std::string sql = "CREATE INDEX IF NOT EXISTS " + name + " ON " + s.name + index.columns;
            const auto begin = std::chrono::steady_clock::now();
            if (auto ok = exec(db_, sql.c_str()); !ok) return std::unexpected("cannot index " + s.name + ": " + ok.error());
            longestIndexMs_ = std::max(
                longestIndexMs_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
            ++indexesBuilt_;
            return true;
        }
        const std::string done = "UPDATE access_log_segments SET indexed = 1 WHERE seg = " + std::to_string(s.seg);
        if (auto ok = exec(db_, done.c_str()); !ok) return std::unexpected("cannot update the catalog: " + ok.error());
        return true;
    }
    return false;
}

// Deletes at most chunkRows rows of one segment (by age: older than beforeUs; by size: the
// oldest) and fixes its catalog row, in one transaction. Only the edge segments need this: whole
// segments are dropped.
std::expected<std::int64_t, std::string> SqliteAccessSink::deleteChunk(std::int64_t seg, const std::string& table,
                                                                       bool byAge, std::int64_t beforeUs) {
    const std::string sql = byAge ? "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table +
                                        " WHERE ts_us < ?1 LIMIT ?2)"
                                  : "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table +
                                        " ORDER BY id LIMIT ?2)";
    if (auto ok = exec(db_, "BEGIN IMMEDIATE"); !ok) return std::unexpected("retention: " + ok.error());
    auto rollback = [&](const char* what) -> std::expected<std::int64_t, std::string> {
        const std::string text = errorText(db_, what);
        (void)exec(db_, "ROLLBACK");
        return std::unexpected(text);
    };
    Statement stmt;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt.stmt, nullptr) != SQLITE_OK) return rollback("retention");
    sqlite3_bind_int64(stmt.stmt, 1, beforeUs);
    sqlite3_bind_int64(stmt.stmt, 2, retention_.chunkRows);
    if (sqlite3_step(stmt.stmt) != SQLITE_DONE) return rollback("retention");
    const std::int64_t deleted = sqlite3_changes(db_);
    const std::string fix = "UPDATE access_log_segments SET rows = rows - " + std::to_string(deleted) +
                            ", min_ts = (SELECT min(ts_us) FROM " + table + "), max_ts = (SELECT max(ts_us) FROM " +
                            table + ") WHERE seg = " + std::to_string(seg);
    if (auto ok = exec(db_, fix.c_str()); !ok) return rollback("retention");
    if (auto ok = exec(db_, "COMMIT"); !ok) return rollback("retention");
    if (seg == openSeg_) stateValid_ = false;  // reload its row count and oldest time
    return deleted;
}

// One bounded retention step: drop a whole segment, or delete one chunk at an edge, or release
// free pages. True when more is pending.
std::expected<bool, std::string> SqliteAccessSink::retentionStep(std::chrono::system_clock::time_point now) {
    auto catalog = loadCatalog(db_, true, false);
    if (!catalog) return std::unexpected(catalog.error());
    auto drop = [&](const Segment& s) -> std::expected<void, std::string> {
        const std::string sql = "BEGIN IMMEDIATE; DROP TABLE IF EXISTS " + s.name +
                                "; DELETE FROM access_log_segments WHERE seg = " + std::to_string(s.seg) + "; COMMIT";
        if (auto ok = exec(db_, sql.c_str()); !ok) {
            (void)exec(db_, "ROLLBACK");
            return std::unexpected("retention: " + ok.error());
        }
        ++segmentsDropped_;
        return {};
    };
    if (retention_.maxAge.count() > 0) {
        const std::int64_t cutoffUs = nowUs(now - retention_.maxAge);
        for (const Segment& s : *catalog) {
            if (s.rows == 0 || s.minTs >= cutoffUs) continue;
            if (s.closed && s.maxTs < cutoffUs) {
                if (auto ok = drop(s); !ok) return std::unexpected(ok.error());
                deletedByAge_ += static_cast<std::uint64_t>(s.rows);
                return true;
            }
            auto deleted = deleteChunk(s.seg, s.name, true, cutoffUs);
            if (!deleted) return std::unexpected(deleted.error());
            deletedByAge_ += static_cast<std::uint64_t>(*deleted);
            if (*deleted > 0) return true;
        }
    }
    // Closed segments left empty (by chunked deletes, or a fresh database's first segment).
    for (const Segment& s : *catalog)
        if (s.closed && s.rows == 0) {
            if (auto ok = drop(s); !ok) return std::unexpected(ok.error());
            return true;
        }
    const auto pageSize = pragmaInt(db_, "PRAGMA page_size");
    const auto pages = pragmaInt(db_, "PRAGMA page_count");
    const auto freePages = pragmaInt(db_, "PRAGMA freelist_count");
    if (!pageSize || !pages || !freePages) return std::unexpected(std::string("retention: cannot read the size"));
    if (retention_.maxBytes > 0 &&
        static_cast<std::uint64_t>((*pages - *freePages) * *pageSize) > retention_.maxBytes) {
        for (const Segment& s : *catalog) {  // oldest first
            if (s.rows == 0) continue;
            if (s.closed) {
                if (auto ok = drop(s); !ok) return std::unexpected(ok.error());
                deletedBySize_ += static_cast<std::uint64_t>(s.rows);
                return true;
            }
            // Only the open segment is left: its oldest rows go in chunks.
            auto deleted = deleteChunk(s.seg, s.name, false, 0);
            if (!deleted) return std::unexpected(deleted.error());
            deletedBySize_ += static_cast<std::uint64_t>(*deleted);
            if (*deleted > 0) return true;
            break;
        }
    }
    if (*freePages > 0) {
        const std::string vacuum = "PRAGMA incremental_vacuum(" + std::to_string(retention_.vacuumPages) + ")";
        (void)exec(db_, vacuum.c_str());
        return *freePages > static_cast<std::int64_t>(retention_.vacuumPages);
    }
    return false;
}

bool SqliteAccessSink::maintain(std::chrono::system_clock::time_point now) {
    if (db_ == nullptr) return false;
    if (!stateValid_) {
        if (auto loaded = loadState(); !loaded) {
            lastError_ = loaded.error();
            return false;
        }
    }
    // Index building first and at every call: a closed segment is slow to query until it is done.
    // One index per call; the writer takes a batch between calls.
    if (indexPending_) {
        auto more = indexStep();
        if (!more) {
            lastError_ = more.error();
            indexPending_ = false;  // retried at the next segment close or open
        } else {
            indexPending_ = *more;
            if (*more) return true;
        }
    }
    if (!pending_ && now < nextCheck_) return false;
    nextCheck_ = now + retention_.checkInterval;
    auto more = retentionStep(now);
    if (!more) {
        lastError_ = more.error();
        pending_ = false;
        return false;
    }
    pending_ = *more;
    return pending_;
}

Json SqliteAccessSink::describe() const {
    Json j = {{"sink", "sqlite"},
              {"path", sanitizeUtf8(path_)},
              {"open", db_ != nullptr},
              {"schema_version", kAccessLogSchemaVersion},
              {"rows_written", rows_},
              {"batches", batches_},
              {"open_segment", openSeg_},
              {"open_segment_rows", openRows_},
              {"segment_indexes_built", indexesBuilt_},
              {"segment_index_longest_ms", longestIndexMs_},
              {"segments_dropped", segmentsDropped_},
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
    ReadTransaction snapshot(db_);
    auto catalog = loadCatalog(db_, false, true);
    if (!catalog) return std::unexpected(catalog.error());
    struct Row {
        AccessQuery::Cursor key;
        Json json;
    };
    auto newer = [](const Row& a, const Row& b) {
        return a.key.timeUs != b.key.timeUs ? a.key.timeUs > b.key.timeUs : a.key.id > b.key.id;
    };
    std::vector<Row> page;
    Deadline deadline{steadyMs() + timeLimit_.count()};
    sqlite3_progress_handler(db_, 1000, progressHandler, &deadline);
    struct Reset {
        sqlite3* db;
        ~Reset() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
    } reset{db_};
    // Segments newest first by their upper bound (max_ts, last_id); once the page is full and its
    // last row is newer than a segment's bound, no later segment can contribute either.
    for (const Segment& seg : *catalog) {
        if (!mayMatch(seg, q, true)) continue;
        if (page.size() >= q.limit) {
            const auto& last = page[q.limit - 1].key;
            if (last.timeUs > seg.maxTs || (last.timeUs == seg.maxTs && last.id > seg.lastId)) break;
        }
        Where where = buildWhere(q, true, chooseIndexes(db_, seg.name, seg.indexed, q));
        std::string sql = std::string("SELECT ") + kColumns + " FROM " + seg.name + where.sql +
                          " ORDER BY ts_us DESC, id DESC LIMIT ?";
        where.binds.emplace_back(static_cast<std::int64_t>(q.limit));
        Statement stmt;
        if (auto ok = prepare(db_, sql, where, stmt); !ok) return std::unexpected(ok.error());
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
            const AccessQuery::Cursor key{sqlite3_column_int64(stmt.stmt, 1), sqlite3_column_int64(stmt.stmt, 0)};
            row["time"] = formatTimeUs(key.timeUs);
            page.push_back({key, std::move(row)});
        }
        if (rc != SQLITE_DONE) return std::unexpected(stepError(db_, rc, timeLimit_));
        std::sort(page.begin(), page.end(), newer);
        if (page.size() > q.limit) page.resize(q.limit);
    }
    Json rows = Json::array();
    for (auto& r : page) rows.push_back(std::move(r.json));
    Json result = {{"rows", rows}, {"next_cursor", nullptr}};
    if (page.size() == q.limit) result["next_cursor"] = formatCursor(page.back().key);
    return result;
}

std::expected<Json, std::string> AccessLogReader::aggregate(const AccessQuery& q) {
    if (auto valid = validateAggregate(q); !valid) return std::unexpected(valid.error());
    std::lock_guard lock(mutex_);
    ReadTransaction snapshot(db_);
    auto catalog = loadCatalog(db_, false, true);
    if (!catalog) return std::unexpected(catalog.error());
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
    struct Reset {
        sqlite3* db;
        ~Reset() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
    } reset{db_};
    // Every segment overlapping the range adds its rows to the same per-minute lists, so the
    // percentiles stay exact (nearest rank over all matching rows).
    for (const Segment& seg : *catalog) {
        if (!mayMatch(seg, q, false)) continue;
        Where where = buildWhere(q, false);
        const std::string sql = "SELECT ts_us, duration_us, status FROM " + seg.name + where.sql;
        Statement stmt;
        if (auto ok = prepare(db_, sql, where, stmt); !ok) return std::unexpected(ok.error());
        int rc;
        while ((rc = sqlite3_step(stmt.stmt)) == SQLITE_ROW) {
            if (++total > kMaxRows)
                return std::unexpected("more than 5000000 rows match; narrow the time range or the filters");
            const std::int64_t ts = sqlite3_column_int64(stmt.stmt, 0);
            const int status = sqlite3_column_int(stmt.stmt, 2);
            Minute& m = minutes[ts / 60'000'000];
            m.durations.push_back(sqlite3_column_int64(stmt.stmt, 1));
            const bool failed = status >= 500 || status == 0;
            m.errors += failed ? 1 : 0;
            errors += failed ? 1 : 0;
            classes[status >= 100 && status < 600 ? status / 100 : 0]++;
        }
        if (rc != SQLITE_DONE) return std::unexpected(stepError(db_, rc, timeLimit_));
    }
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
    ReadTransaction snapshot(db_);
    auto catalog = loadCatalog(db_, false, true);
    if (!catalog) return std::unexpected(catalog.error());
    // The plans of the newest open segment and of the newest indexed one it may visit.
    std::string plan;
    bool sawOpen = false, sawIndexed = false;
    for (const Segment& seg : *catalog) {
        if (!mayMatch(seg, q, true)) continue;
        if (seg.indexed ? sawIndexed : sawOpen) continue;
        (seg.indexed ? sawIndexed : sawOpen) = true;
        Where where = buildWhere(q, true, chooseIndexes(db_, seg.name, seg.indexed, q));
        std::string sql = std::string("EXPLAIN QUERY PLAN SELECT ") + kColumns + " FROM " + seg.name +
                          where.sql + " ORDER BY ts_us DESC, id DESC LIMIT ?";
        where.binds.emplace_back(static_cast<std::int64_t>(q.limit));
        Statement stmt;
        if (auto ok = prepare(db_, sql, where, stmt); !ok) return std::unexpected(ok.error());
        if (!plan.empty()) plan += " | ";
        plan += seg.name + (seg.indexed ? " (indexed): " : " (time index only): ");
        bool first = true;
        while (sqlite3_step(stmt.stmt) == SQLITE_ROW) {
            if (!first) plan += "; ";
            first = false;
            plan += columnText(stmt.stmt, 3);
        }
        if (sawOpen && sawIndexed) break;
    }
    return plan;
}

}  // namespace proxy::logging
