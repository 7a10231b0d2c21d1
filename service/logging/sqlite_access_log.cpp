#include "logging/sqlite_access_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <bit>
#include <cstring>
#include <map>
#include <utility>
#include <variant>
#include <vector>

namespace proxy::logging {
namespace {

using Json = control::Json;

std::uint64_t toLittleEndian(std::uint64_t v) {
    if constexpr (std::endian::native == std::endian::big) {
        std::uint64_t r = 0;
        for (int i = 0; i < 8; ++i) r |= ((v >> (8 * i)) & 0xff) << (8 * (7 - i));
        return r;
    }
    return v;
}

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
    // 4: row groups. Schema-3 segments are closed and stay as they are (read, indexed if a close
    // was interrupted, and aged out by retention); new records go to groups: one summary row per
    // group (its zone map: time range, status classes, blob bytes) and one blob per column, keyed
    // grp * 32 + column (row_group.h's 26 columns, then 26 = the clients' bloom filter).
    "UPDATE access_log_segments SET closed = 1;"
    "CREATE TABLE access_log_groups ("
    " grp INTEGER PRIMARY KEY,"
    " first_id INTEGER NOT NULL,"
    " rows INTEGER NOT NULL,"
    " min_ts INTEGER NOT NULL,"
    " max_ts INTEGER NOT NULL,"
    " status_mask INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL);"
    "CREATE INDEX access_log_groups_max_ts ON access_log_groups(max_ts);"
    "CREATE TABLE access_log_columns (key INTEGER PRIMARY KEY, data BLOB NOT NULL);",
};

constexpr const char* kSegmentPrefix = "access_log_seg_";

// Schema-3 segments' secondary indexes, built in bulk (sort-based CREATE INDEX) once a segment was
// closed; a segment the v4 migration closed early gets them in the writer's maintenance steps.
struct DeferredIndex {
    const char* suffix;
    const char* columns;
};
constexpr DeferredIndex kDeferredIndexes[] = {
    {"_status", "(status, ts_us)"},   {"_host", "(host, ts_us)"},
    {"_path", "(path)"},              {"_client", "(client_addr, ts_us)"},
    {"_upstream", "(upstream, ts_us)"}, {"_server", "(upstream_server, ts_us)"},
};

static_assert(std::size(kMigrations) == kAccessLogSchemaVersion);

constexpr const char* kColumns =
    "id, ts_us, request_id, client_addr, client_port, listener, route, method, host, path, query,"
    " http_version, status, bytes_in, bytes_out, duration_us, upstream, upstream_server,"
    " upstream_connect_us, upstream_response_us, user_agent, referer, tls_version, cache_status,"
    " security_action, error";

// Row groups (schema 4).
constexpr std::int64_t kKeysPerGroup = 32;  // access_log_columns.key = grp * 32 + column
constexpr std::int64_t kBloomColumn = rowgroup::kColumns;
constexpr std::uint64_t kClientSeed = 1;
static_assert(rowgroup::kColumns + 1 <= kKeysPerGroup);

rowgroup::RowView rowView(const AccessRecord& r) {
    rowgroup::RowView v;
    v.ints[rowgroup::TimeUs] = r.timeUs;
    v.ints[rowgroup::DurationUs] = r.durationUs;
    v.ints[rowgroup::BytesIn] = static_cast<std::int64_t>(r.bytesIn);
    v.ints[rowgroup::BytesOut] = static_cast<std::int64_t>(r.bytesOut);
    v.ints[rowgroup::ConnectUs] = r.connectUs;
    v.ints[rowgroup::ResponseUs] = r.responseUs;
    v.ints[rowgroup::Status] = r.status;
    v.ints[rowgroup::ClientPort] = r.clientPort;
    v.ints[rowgroup::Truncated] = r.truncated;
    for (std::size_t f = 0; f < rowgroup::kTextColumns; ++f) v.texts[f] = r.field(static_cast<AccessRecord::Field>(f));
    return v;
}

// A bloom filter of 64-bit hashes: a power of two of bits, ~10 per key, 3 probes (~1% false
// positives). Stored as little-endian 64-bit words.
void bloomFill(std::vector<std::uint64_t>& words, const std::vector<std::uint64_t>& keys) {
    std::size_t bits = 64;
    while (bits < keys.size() * 10) bits <<= 1;
    words.assign(bits / 64, 0);
    const std::uint64_t mask = bits - 1;
    for (std::uint64_t h : keys) {
        const std::uint64_t h2 = (h >> 32) | 1;
        for (int k = 0; k < 3; ++k, h += h2) words[(h & mask) >> 6] |= 1ull << (h & 63);
    }
    for (auto& w : words) w = toLittleEndian(w);
}

// False only when the key is certainly absent. A malformed filter says "maybe" (the rows decide).
bool bloomMayHave(std::string_view blob, std::uint64_t h) {
    const std::size_t words = blob.size() / 8;
    if (words == 0 || blob.size() % 8 != 0 || (words & (words - 1)) != 0) return true;
    const std::uint64_t mask = words * 64 - 1;
    const std::uint64_t h2 = (h >> 32) | 1;
    for (int k = 0; k < 3; ++k, h += h2) {
        const std::uint64_t bit = h & mask;
        std::uint64_t w;
        std::memcpy(&w, blob.data() + (bit >> 6) * 8, 8);
        if (!((toLittleEndian(w) >> (bit & 63)) & 1)) return false;
    }
    return true;
}

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

// One row of access_log_groups. Ids of its rows are first_id + position.
struct Group {
    std::int64_t grp = 0, firstId = 0, rows = 0, minTs = 0, maxTs = 0;
    std::uint32_t statusMask = 0;
    std::int64_t lastId() const { return firstId + rows - 1; }
};

// Groups overlapping [from, to), any order (the caller merges them with the segments).
std::expected<std::vector<Group>, std::string> loadGroups(sqlite3* db, const AccessQuery& q) {
    Statement stmt;
    if (sqlite3_prepare_v2(db,
                           "SELECT grp, first_id, rows, min_ts, max_ts, status_mask FROM access_log_groups"
                           " WHERE max_ts >= ?1 AND min_ts < ?2 AND rows > 0",
                           -1, &stmt.stmt, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db, "cannot read the group catalog"));
    sqlite3_bind_int64(stmt.stmt, 1, q.fromUs.value_or(std::numeric_limits<std::int64_t>::min()));
    sqlite3_bind_int64(stmt.stmt, 2, q.toUs.value_or(std::numeric_limits<std::int64_t>::max()));
    std::vector<Group> out;
    int rc;
    while ((rc = sqlite3_step(stmt.stmt)) == SQLITE_ROW) {
        Group g;
        g.grp = sqlite3_column_int64(stmt.stmt, 0);
        g.firstId = sqlite3_column_int64(stmt.stmt, 1);
        g.rows = sqlite3_column_int64(stmt.stmt, 2);
        g.minTs = sqlite3_column_int64(stmt.stmt, 3);
        g.maxTs = sqlite3_column_int64(stmt.stmt, 4);
        g.statusMask = static_cast<std::uint32_t>(sqlite3_column_int64(stmt.stmt, 5));
        if (g.rows > static_cast<std::int64_t>(rowgroup::kMaxRows))
            return std::unexpected("the access log group " + std::to_string(g.grp) + " is damaged: it claims " +
                                   std::to_string(g.rows) + " rows");
        out.push_back(g);
    }
    if (rc != SQLITE_DONE) return std::unexpected(errorText(db, "cannot read the group catalog"));
    return out;
}

// The status classes (bit 0 = none or out of range, bit n = nxx) any of the query's ranges touch.
std::uint32_t statusClassMask(const AccessQuery& q) {
    std::uint32_t mask = 0;
    for (const auto& [lo, hi] : q.statusRanges) {
        if (lo < 100 || hi > 599) mask |= 1;
        for (int c = 1; c <= 5; ++c)
            if (lo <= c * 100 + 99 && hi >= c * 100) mask |= 1u << c;
    }
    return mask;
}

// The columns of one group, fetched and decoded on demand. A blob that is missing or does not
// decode is an error naming the group and the column, never a read outside it.
class GroupColumns {
public:
    GroupColumns(sqlite3* db, sqlite3_stmt* select, const Group& g) : db_(db), select_(select), group_(g) {}

    std::expected<std::string_view, std::string> blob(std::int64_t c) {
        auto& slot = blobs_[static_cast<std::size_t>(c)];
        if (slot) return std::string_view(*slot);
        sqlite3_reset(select_);
        sqlite3_bind_int64(select_, 1, group_.grp * kKeysPerGroup + c);
        const int rc = sqlite3_step(select_);
        if (rc == SQLITE_DONE) return std::unexpected(damaged(c, "its column is missing"));
        if (rc != SQLITE_ROW) return std::unexpected(errorText(db_, "cannot read a column"));
        const auto* data = static_cast<const char*>(sqlite3_column_blob(select_, 0));
        const int size = sqlite3_column_bytes(select_, 0);
        slot.emplace(data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(size)));
        sqlite3_reset(select_);
        return std::string_view(*slot);
    }
    std::expected<const rowgroup::Column*, std::string> column(std::size_t c) {
        auto& slot = columns_[c];
        if (slot) return &*slot;
        auto data = blob(static_cast<std::int64_t>(c));
        if (!data) return std::unexpected(data.error());
        slot.emplace();
        if (std::string why = rowgroup::decodeColumn(*data, c, static_cast<std::uint32_t>(group_.rows), *slot);
            !why.empty()) {
            slot.reset();
            return std::unexpected(damaged(static_cast<std::int64_t>(c), why));
        }
        return &*slot;
    }

private:
    std::string damaged(std::int64_t c, const std::string& why) const {
        const std::string name =
            c == kBloomColumn ? "client filter"
            : c >= rowgroup::kIntColumns
                ? std::string(AccessRecord::fieldName(static_cast<AccessRecord::Field>(c - rowgroup::kIntColumns)))
                : "number " + std::to_string(c);
        return "the access log group " + std::to_string(group_.grp) + " is damaged (column " + name + "): " + why;
    }

    sqlite3* db_;
    sqlite3_stmt* select_;  // not owned: SELECT data FROM access_log_columns WHERE key = ?1
    Group group_;
    std::array<std::optional<std::string>, rowgroup::kColumns + 1> blobs_;
    std::array<std::optional<rowgroup::Column>, rowgroup::kColumns> columns_;
};

constexpr std::size_t textColumn(AccessRecord::Field f) {
    return std::size_t{rowgroup::kIntColumns} + static_cast<std::size_t>(f);
}

// The query's exact-match text filters, by column.
std::vector<std::pair<AccessRecord::Field, const std::string*>> equalityFilters(const AccessQuery& q) {
    std::vector<std::pair<AccessRecord::Field, const std::string*>> out;
    auto add = [&](AccessRecord::Field f, const std::string& v) {
        if (!v.empty()) out.emplace_back(f, &v);
    };
    add(AccessRecord::Method, q.method);
    add(AccessRecord::Host, q.host);
    add(AccessRecord::ClientAddress, q.client);
    add(AccessRecord::Route, q.route);
    add(AccessRecord::Upstream, q.upstream);
    add(AccessRecord::Server, q.server);
    return out;
}

// The positions of a group's rows matching every filter (and, for a page, older than the cursor),
// after skipping the whole group by its zone map when it cannot match: the status classes, the
// clients' bloom filter and the dictionaries of the dictionary-encoded columns.
std::expected<std::vector<std::uint32_t>, std::string> matchGroup(const Group& g, GroupColumns& cols,
                                                                   const AccessQuery& q, bool withCursor) {
    std::vector<std::uint32_t> out;
    if (!q.statusRanges.empty() && (statusClassMask(q) & g.statusMask) == 0) return out;
    const auto equal = equalityFilters(q);
    if (!q.client.empty()) {
        auto bloom = cols.blob(kBloomColumn);
        if (!bloom) return std::unexpected(bloom.error());
        if (!bloomMayHave(*bloom, rowgroup::hashBytes(q.client, kClientSeed))) return out;
    }
    for (const auto& [field, value] : equal) {
        if (field == AccessRecord::ClientAddress) continue;  // plain encoded: the bloom filter did it
        auto data = cols.blob(static_cast<std::int64_t>(textColumn(field)));
        if (!data) return std::unexpected(data.error());
        if (rowgroup::dictionaryHas(*data, *value) == 0) return out;
    }
    auto time = cols.column(rowgroup::TimeUs);
    if (!time) return std::unexpected(time.error());
    const auto& ts = (*time)->ints;
    out.reserve(static_cast<std::size_t>(g.rows));
    for (std::uint32_t i = 0; i < g.rows; ++i) {
        if (q.fromUs && ts[i] < *q.fromUs) continue;
        if (q.toUs && ts[i] >= *q.toUs) continue;
        if (withCursor && q.before) {
            const std::int64_t id = g.firstId + i;
            if (ts[i] > q.before->timeUs || (ts[i] == q.before->timeUs && id >= q.before->id)) continue;
        }
        out.push_back(i);
    }
    auto keep = [&](auto&& pred) {
        out.erase(std::remove_if(out.begin(), out.end(), [&](std::uint32_t i) { return !pred(i); }), out.end());
    };
    if (!out.empty() && !q.statusRanges.empty()) {
        auto status = cols.column(rowgroup::Status);
        if (!status) return std::unexpected(status.error());
        keep([&](std::uint32_t i) {
            const std::int64_t s = (*status)->ints[i];
            for (const auto& [lo, hi] : q.statusRanges)
                if (s >= lo && s <= hi) return true;
            return false;
        });
    }
    for (const auto& [field, value] : equal) {
        if (out.empty()) break;
        auto col = cols.column(textColumn(field));
        if (!col) return std::unexpected(col.error());
        keep([&](std::uint32_t i) { return (*col)->texts[i] == *value; });
    }
    if (!out.empty() && (!q.pathPrefix.empty() || !q.pathContains.empty())) {
        auto path = cols.column(textColumn(AccessRecord::Path));
        if (!path) return std::unexpected(path.error());
        keep([&](std::uint32_t i) {
            const std::string_view p = (*path)->texts[i];
            return p.starts_with(q.pathPrefix) &&
                   (q.pathContains.empty() || p.find(q.pathContains) != std::string_view::npos);
        });
    }
    return out;
}

// One result row of a group, with the same fields as a segment row.
std::expected<Json, std::string> groupRowJson(const Group& g, GroupColumns& cols, std::uint32_t i) {
    Json row = Json::object();
    const rowgroup::Column* c[rowgroup::kColumns];
    for (std::size_t k = 0; k < rowgroup::kColumns; ++k) {
        auto col = cols.column(k);
        if (!col) return std::unexpected(col.error());
        c[k] = *col;
    }
    const std::int64_t ts = c[rowgroup::TimeUs]->ints[i];
    row["id"] = g.firstId + i;
    row["ts_us"] = ts;
    row["time"] = formatTimeUs(ts);
    for (std::size_t f = 0; f < rowgroup::kTextColumns; ++f)
        row[std::string(AccessRecord::fieldName(static_cast<AccessRecord::Field>(f)))] =
            sanitizeUtf8(c[rowgroup::kIntColumns + f]->texts[i]);
    row["client_port"] = c[rowgroup::ClientPort]->ints[i];
    row["status"] = c[rowgroup::Status]->ints[i];
    row["bytes_in"] = c[rowgroup::BytesIn]->ints[i];
    row["bytes_out"] = c[rowgroup::BytesOut]->ints[i];
    row["duration_us"] = c[rowgroup::DurationUs]->ints[i];
    auto optional = [&](const char* name, std::int64_t v) {
        if (v >= 0) row[name] = v; else row[name] = nullptr;
    };
    optional("upstream_connect_us", c[rowgroup::ConnectUs]->ints[i]);
    optional("upstream_response_us", c[rowgroup::ResponseUs]->ints[i]);
    return row;
}

// A unit of the newest-first merge: a group or a schema-3 segment, with the upper bound
// (max_ts, last_id) of every row's (ts_us, id) in it.
struct Unit {
    std::int64_t maxTs = 0, lastId = 0;
    const Group* group = nullptr;      // not owned: one of these two
    const Segment* segment = nullptr;
};

std::vector<Unit> newestFirst(const std::vector<Group>& groups, const std::vector<Segment>& segments) {
    std::vector<Unit> units;
    units.reserve(groups.size() + segments.size());
    for (const Group& g : groups) units.push_back({g.maxTs, g.lastId(), &g, nullptr});
    for (const Segment& s : segments) units.push_back({s.maxTs, s.lastId, nullptr, &s});
    std::sort(units.begin(), units.end(), [](const Unit& a, const Unit& b) {
        return a.maxTs != b.maxTs ? a.maxTs > b.maxTs : a.lastId > b.lastId;
    });
    return units;
}

bool groupMayMatch(const Group& g, const AccessQuery& q, bool withCursor) {
    if (q.fromUs && g.maxTs < *q.fromUs) return false;
    if (q.toUs && g.minTs >= *q.toUs) return false;
    if (withCursor && q.before &&
        (g.minTs > q.before->timeUs || (g.minTs == q.before->timeUs && g.firstId >= q.before->id)))
        return false;
    return true;
}

std::string timeLimitError(std::chrono::milliseconds limit) {
    return "the query took longer than " + std::to_string(limit.count()) +
           " ms; narrow the time range or the filters";
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


SqliteAccessSink::SqliteAccessSink(std::string path, RetentionOptions retention, GroupOptions groups)
    : path_(std::move(path)), retention_(retention), groups_(groups) {
    groups_.maxRows = std::clamp<std::uint32_t>(groups_.maxRows, 1, rowgroup::kMaxRows);
    clientHashes_.reserve(groups_.maxRows);
}

SqliteAccessSink::~SqliteAccessSink() {
    (void)commitGroup();  // what the writer accepted is stored, unless the disk refuses
    close();
}

void SqliteAccessSink::close() {
    sqlite3_finalize(insertGroup_);
    insertGroup_ = nullptr;
    sqlite3_finalize(insertColumn_);
    insertColumn_ = nullptr;
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
    // Before anything creates a table (no-ops on an existing database): lets retention hand pages
    // back to the OS with incremental vacuum; 16 KiB pages suit blobs of a few KiB to ~100 KiB.
    if (auto ok = exec(db_, "PRAGMA page_size = 16384"); !ok) return fail("cannot set the page size");
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

// Reads the next group number and id from the catalogs and prepares the statements. Runs at open
// and after a rolled-back commit, so memory never drifts from the file.
std::expected<void, std::string> SqliteAccessSink::loadState() {
    stateValid_ = false;
    sqlite3_finalize(insertGroup_);
    insertGroup_ = nullptr;
    sqlite3_finalize(insertColumn_);
    insertColumn_ = nullptr;
    auto catalog = loadCatalog(db_, true, false);
    if (!catalog) return std::unexpected(catalog.error());
    nextId_ = 1;
    for (const Segment& s : *catalog) {
        nextId_ = std::max(nextId_, s.lastId + 1);
        if (!s.indexed) indexPending_ = true;  // a schema-3 segment closed without its indexes
    }
    {
        Statement stmt;
        if (sqlite3_prepare_v2(db_, "SELECT COALESCE(MAX(grp), 0), COALESCE(MAX(first_id + rows), 1) FROM access_log_groups",
                               -1, &stmt.stmt, nullptr) != SQLITE_OK ||
            sqlite3_step(stmt.stmt) != SQLITE_ROW)
            return std::unexpected(errorText(db_, "cannot read the group catalog"));
        nextGroup_ = sqlite3_column_int64(stmt.stmt, 0) + 1;
        nextId_ = std::max<std::int64_t>(nextId_, sqlite3_column_int64(stmt.stmt, 1));
    }
    constexpr const char* kInsertGroup =
        "INSERT INTO access_log_groups (grp, first_id, rows, min_ts, max_ts, status_mask, bytes, created_us)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
    if (sqlite3_prepare_v3(db_, kInsertGroup, -1, SQLITE_PREPARE_PERSISTENT, &insertGroup_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v3(db_, "INSERT INTO access_log_columns (key, data) VALUES (?1, ?2)", -1,
                           SQLITE_PREPARE_PERSISTENT, &insertColumn_, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "cannot prepare the group insert"));
    stateValid_ = true;
    return {};
}

std::expected<void, std::string> SqliteAccessSink::writeBatch(RecordRange batch) {
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
    // From here every record is accepted into the group being filled; a group whose commit fails
    // is counted by takeLost(), so the writer never counts a record twice.
    for (const AccessRecord& r : batch) {
        const rowgroup::RowView view = rowView(r);
        if (encoder_.rows() == 0) groupStarted_ = std::chrono::steady_clock::now();
        if (!encoder_.add(view)) {  // a column's bytes would pass the group's bound
            (void)commitGroup();
            groupStarted_ = std::chrono::steady_clock::now();
            (void)encoder_.add(view);  // an empty group takes any record (values are capped)
        }
        // The bloom filter wants each client once: a run of rows from one client hashes it once.
        const std::string_view client = view.texts[AccessRecord::ClientAddress];
        if (clientHashes_.empty() || client != lastClient_) {
            clientHashes_.push_back(rowgroup::hashBytes(client, kClientSeed));
            lastClient_.assign(client);
        }
        if (encoder_.rows() >= groups_.maxRows) (void)commitGroup();
    }
    if (encoder_.rows() > 0 && std::chrono::steady_clock::now() - groupStarted_ >= groups_.maxAge) (void)commitGroup();
    return {};
}

std::expected<void, std::string> SqliteAccessSink::flush() { return commitGroup(); }

std::uint64_t SqliteAccessSink::takeLost() { return std::exchange(lostUntaken_, 0); }

// Commits the group being filled in one transaction: its summary row, one blob per column and the
// clients' bloom filter. On failure the group is lost (counted) and the connection is reopened
// later when the error was the disk's.
std::expected<void, std::string> SqliteAccessSink::commitGroup() {
    const std::uint32_t rows = encoder_.rows();
    if (rows == 0) return {};
    auto lose = [&](std::string why) -> std::expected<void, std::string> {
        rowsLost_ += rows;
        lostUntaken_ += rows;
        encoder_.reset();
        clientHashes_.clear();
        lastError_ = why;
        return std::unexpected(std::move(why));
    };
    if (db_ == nullptr && steadyMs() - lastOpenAttemptMs_ >= 1000) (void)open();
    if (db_ == nullptr) return lose(lastError_.empty() ? "the access log is not open" : lastError_);
    if (!stateValid_) {
        if (auto loaded = loadState(); !loaded) return lose(loaded.error());
    }
    const auto begin = std::chrono::steady_clock::now();
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::string why = errorText(db_, "cannot begin a transaction");
        close();
        return lose(std::move(why));
    }
    auto abandon = [&](const char* what, int rc) -> std::expected<void, std::string> {
        std::string why = errorText(db_, what);
        (void)exec(db_, "ROLLBACK");
        stateValid_ = false;
        if (fatalForConnection(rc)) close();
        return lose(std::move(why));
    };
    std::int64_t bytes = 0;
    auto putColumn = [&](std::int64_t column, const char* data, std::size_t size) -> int {
        sqlite3_bind_int64(insertColumn_, 1, nextGroup_ * kKeysPerGroup + column);
        sqlite3_bind_blob(insertColumn_, 2, data, static_cast<int>(size), SQLITE_STATIC);
        const int rc = sqlite3_step(insertColumn_);
        sqlite3_reset(insertColumn_);
        sqlite3_clear_bindings(insertColumn_);
        bytes += static_cast<std::int64_t>(size);
        return rc;
    };
    for (std::size_t c = 0; c < rowgroup::kColumns; ++c) {
        blob_ = encoder_.encodeColumn(c);
        if (const int rc = putColumn(static_cast<std::int64_t>(c), blob_.data(), blob_.size()); rc != SQLITE_DONE)
            return abandon("cannot store a column", rc);
    }
    bloomFill(bloom_, clientHashes_);
    if (const int rc = putColumn(kBloomColumn, reinterpret_cast<const char*>(bloom_.data()), bloom_.size() * 8);
        rc != SQLITE_DONE)
        return abandon("cannot store a column", rc);
    sqlite3_bind_int64(insertGroup_, 1, nextGroup_);
    sqlite3_bind_int64(insertGroup_, 2, nextId_);
    sqlite3_bind_int64(insertGroup_, 3, rows);
    sqlite3_bind_int64(insertGroup_, 4, encoder_.minTime());
    sqlite3_bind_int64(insertGroup_, 5, encoder_.maxTime());
    sqlite3_bind_int64(insertGroup_, 6, encoder_.statusClasses());
    sqlite3_bind_int64(insertGroup_, 7, bytes);
    sqlite3_bind_int64(insertGroup_, 8, nowUs(std::chrono::system_clock::now()));
    const int rc = sqlite3_step(insertGroup_);
    sqlite3_reset(insertGroup_);
    if (rc != SQLITE_DONE) return abandon("cannot store the group", rc);
    if (const int commit = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr); commit != SQLITE_OK)
        return abandon("commit failed", commit);
    longestCommitMs_ = std::max(
        longestCommitMs_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count());
    nextId_ += rows;
    ++nextGroup_;
    ++groupsWritten_;
    rows_ += rows;
    encoder_.reset();
    clientHashes_.clear();
    return {};
}

// One CREATE INDEX of the oldest schema-3 segment that still lacks some (a segment the v4
// migration closed before its indexes were built). Each index is its own statement, so the
// writer's pause is one index over one segment. True when more may be pending.
std::expected<bool, std::string> SqliteAccessSink::indexStep() {
    auto catalog = loadCatalog(db_, true, false);
    if (!catalog) return std::unexpected(catalog.error());
    for (const Segment& s : *catalog) {
        if (s.indexed) continue;
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

// Deletes at most chunkRows rows older than beforeUs of one schema-3 segment that straddles the
// age cut-off, and fixes its catalog row, in one transaction.
std::expected<std::int64_t, std::string> SqliteAccessSink::deleteChunk(std::int64_t seg, const std::string& table,
                                                                       std::int64_t beforeUs) {
    const std::string sql = "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table +
                            " WHERE ts_us < ?1 LIMIT ?2)";
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
    return deleted;
}

// Drops the oldest group (by age: only one whose newest row is older than cutoffUs), its summary
// row and its column blobs, in one transaction. True when a group went.
std::expected<bool, std::string> SqliteAccessSink::dropGroup(bool byAge, std::int64_t cutoffUs) {
    Statement pick;
    const char* sql = byAge ? "SELECT grp, rows FROM access_log_groups WHERE max_ts < ?1 ORDER BY max_ts LIMIT 1"
                            : "SELECT grp, rows FROM access_log_groups ORDER BY grp LIMIT 1";
    if (sqlite3_prepare_v2(db_, sql, -1, &pick.stmt, nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "retention"));
    if (byAge) sqlite3_bind_int64(pick.stmt, 1, cutoffUs);
    const int rc = sqlite3_step(pick.stmt);
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return std::unexpected(errorText(db_, "retention"));
    const std::int64_t grp = sqlite3_column_int64(pick.stmt, 0);
    const std::int64_t rows = sqlite3_column_int64(pick.stmt, 1);
    sqlite3_reset(pick.stmt);
    const std::string drop = "BEGIN IMMEDIATE; DELETE FROM access_log_groups WHERE grp = " + std::to_string(grp) +
                             "; DELETE FROM access_log_columns WHERE key >= " + std::to_string(grp * kKeysPerGroup) +
                             " AND key < " + std::to_string((grp + 1) * kKeysPerGroup) + "; COMMIT";
    if (auto ok = exec(db_, drop.c_str()); !ok) {
        (void)exec(db_, "ROLLBACK");
        return std::unexpected("retention: " + ok.error());
    }
    ++groupsDropped_;
    (byAge ? deletedByAge_ : deletedBySize_) += static_cast<std::uint64_t>(rows);
    return true;
}

// One bounded retention step: drop one whole group or schema-3 segment, or delete one chunk of
// the segment straddling the age cut-off, or release free pages. True when more is pending.
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
            if (s.maxTs < cutoffUs) {
                if (auto ok = drop(s); !ok) return std::unexpected(ok.error());
                deletedByAge_ += static_cast<std::uint64_t>(s.rows);
                return true;
            }
            auto deleted = deleteChunk(s.seg, s.name, cutoffUs);
            if (!deleted) return std::unexpected(deleted.error());
            deletedByAge_ += static_cast<std::uint64_t>(*deleted);
            if (*deleted > 0) return true;
        }
        // A group goes whole once its newest row is past the cut-off.
        auto dropped = dropGroup(true, cutoffUs);
        if (!dropped) return std::unexpected(dropped.error());
        if (*dropped) return true;
    }
    // Segments left empty (by chunked deletes, or the empty one a fresh database migrates through).
    for (const Segment& s : *catalog)
        if (s.rows == 0) {
            if (auto ok = drop(s); !ok) return std::unexpected(ok.error());
            return true;
        }
    const auto pageSize = pragmaInt(db_, "PRAGMA page_size");
    const auto pages = pragmaInt(db_, "PRAGMA page_count");
    const auto freePages = pragmaInt(db_, "PRAGMA freelist_count");
    if (!pageSize || !pages || !freePages) return std::unexpected(std::string("retention: cannot read the size"));
    if (retention_.maxBytes > 0 &&
        static_cast<std::uint64_t>((*pages - *freePages) * *pageSize) > retention_.maxBytes) {
        // The oldest first: schema-3 segments predate every group.
        if (!catalog->empty()) {
            const Segment& s = catalog->front();
            if (auto ok = drop(s); !ok) return std::unexpected(ok.error());
            deletedBySize_ += static_cast<std::uint64_t>(s.rows);
            return true;
        }
        auto dropped = dropGroup(false, 0);
        if (!dropped) return std::unexpected(dropped.error());
        if (*dropped) return true;
    }
    if (*freePages > 0) {
        const std::string vacuum = "PRAGMA incremental_vacuum(" + std::to_string(retention_.vacuumPages) + ")";
        (void)exec(db_, vacuum.c_str());
        return *freePages > static_cast<std::int64_t>(retention_.vacuumPages);
    }
    return false;
}

bool SqliteAccessSink::maintain(std::chrono::system_clock::time_point now) {
    // The group being filled is committed by age here too, so a quiet log's rows are visible
    // within maxAge plus one writer wake-up.
    if (encoder_.rows() > 0 && std::chrono::steady_clock::now() - groupStarted_ >= groups_.maxAge) (void)commitGroup();
    if (db_ == nullptr) return false;
    if (!stateValid_) {
        if (auto loaded = loadState(); !loaded) {
            lastError_ = loaded.error();
            return false;
        }
    }
    if (indexPending_) {
        auto more = indexStep();
        if (!more) {
            lastError_ = more.error();
            indexPending_ = false;  // retried at the next open
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
              {"groups_written", groupsWritten_},
              {"group_rows_pending", encoder_.rows()},
              {"group_commit_longest_ms", longestCommitMs_},
              {"group_rows_lost", rowsLost_},
              {"groups_dropped", groupsDropped_},
              {"v3_segments_dropped", segmentsDropped_},
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
    auto groups = loadGroups(db_, q);
    if (!groups) return std::unexpected(groups.error());
    Statement selectColumn;
    if (sqlite3_prepare_v2(db_, "SELECT data FROM access_log_columns WHERE key = ?1", -1, &selectColumn.stmt,
                           nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "cannot prepare the query"));
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
    // Groups and segments newest first by their upper bound (max_ts, last_id); once the page is
    // full and its last row is newer than a unit's bound, no later unit can contribute either.
    for (const Unit& unit : newestFirst(*groups, *catalog)) {
        if (page.size() >= q.limit) {
            const auto& last = page[q.limit - 1].key;
            if (last.timeUs > unit.maxTs || (last.timeUs == unit.maxTs && last.id > unit.lastId)) break;
        }
        if (steadyMs() > deadline.atMs) return std::unexpected(timeLimitError(timeLimit_));
        if (unit.group != nullptr) {
            const Group& g = *unit.group;
            if (!groupMayMatch(g, q, true)) continue;
            GroupColumns cols(db_, selectColumn.stmt, g);
            auto match = matchGroup(g, cols, q, true);
            if (!match) return std::unexpected(match.error());
            if (match->empty()) continue;
            auto ts = cols.column(rowgroup::TimeUs);
            if (!ts) return std::unexpected(ts.error());
            // Newest first within the group; only the first `limit` can reach the page.
            auto& positions = *match;
            const auto byNewest = [&](std::uint32_t a, std::uint32_t b) {
                const std::int64_t ta = (*ts)->ints[a], tb = (*ts)->ints[b];
                return ta != tb ? ta > tb : a > b;
            };
            const std::size_t take = std::min(positions.size(), q.limit);
            std::partial_sort(positions.begin(), positions.begin() + static_cast<std::ptrdiff_t>(take),
                              positions.end(), byNewest);
            // A full page's last row so far: older rows of this group cannot get in.
            std::optional<Row> worst;
            if (page.size() >= q.limit) worst = Row{page[q.limit - 1].key, {}};
            for (std::size_t k = 0; k < take; ++k) {
                const std::uint32_t i = positions[k];
                const AccessQuery::Cursor key{(*ts)->ints[i], g.firstId + i};
                if (worst && !newer(Row{key, {}}, *worst)) break;
                auto row = groupRowJson(g, cols, i);
                if (!row) return std::unexpected(row.error());
                page.push_back({key, std::move(*row)});
            }
        } else {
            const Segment& seg = *unit.segment;
            if (!mayMatch(seg, q, true)) continue;
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
        }
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
    auto groups = loadGroups(db_, q);
    if (!groups) return std::unexpected(groups.error());
    Statement selectColumn;
    if (sqlite3_prepare_v2(db_, "SELECT data FROM access_log_columns WHERE key = ?1", -1, &selectColumn.stmt,
                           nullptr) != SQLITE_OK)
        return std::unexpected(errorText(db_, "cannot prepare the query"));
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
    auto add = [&](std::int64_t ts, std::int64_t duration, std::int64_t status) {
        Minute& m = minutes[ts / 60'000'000];
        m.durations.push_back(duration);
        const bool failed = status >= 500 || status == 0;
        m.errors += failed ? 1 : 0;
        errors += failed ? 1 : 0;
        classes[status >= 100 && status < 600 ? status / 100 : 0]++;
    };
    // Every group and segment overlapping the range adds its rows to the same per-minute lists,
    // so the percentiles stay exact (nearest rank over all matching rows).
    for (const Group& g : *groups) {
        if (steadyMs() > deadline.atMs) return std::unexpected(timeLimitError(timeLimit_));
        GroupColumns cols(db_, selectColumn.stmt, g);
        auto match = matchGroup(g, cols, q, false);
        if (!match) return std::unexpected(match.error());
        if (match->empty()) continue;
        auto ts = cols.column(rowgroup::TimeUs);
        auto duration = cols.column(rowgroup::DurationUs);
        auto status = cols.column(rowgroup::Status);
        if (!ts || !duration || !status)
            return std::unexpected(!ts ? ts.error() : !duration ? duration.error() : status.error());
        total += match->size();
        if (total > kMaxRows) return std::unexpected("more than 5000000 rows match; narrow the time range or the filters");
        for (const std::uint32_t i : *match) add((*ts)->ints[i], (*duration)->ints[i], (*status)->ints[i]);
    }
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
            add(sqlite3_column_int64(stmt.stmt, 0), sqlite3_column_int64(stmt.stmt, 1), sqlite3_column_int(stmt.stmt, 2));
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
    auto groups = loadGroups(db_, q);
    if (!groups) return std::unexpected(groups.error());
    std::size_t inRange = 0, byStatus = 0;
    const std::uint32_t mask = statusClassMask(q);
    for (const Group& g : *groups) {
        if (!groupMayMatch(g, q, true)) continue;
        ++inRange;
        if (!q.statusRanges.empty() && (mask & g.statusMask) == 0) ++byStatus;
    }
    std::string plan = std::to_string(inRange) + " row groups in the time range";
    if (!q.statusRanges.empty()) plan += ", " + std::to_string(byStatus) + " skipped by their status classes";
    if (!q.client.empty()) plan += "; client: bloom filter per group";
    if (!q.host.empty() || !q.method.empty() || !q.route.empty() || !q.upstream.empty() || !q.server.empty())
        plan += "; exact filters: group dictionaries";
    if (!q.pathPrefix.empty() || !q.pathContains.empty()) plan += "; path: column scan";
    auto catalog = loadCatalog(db_, false, true);
    if (!catalog) return std::unexpected(catalog.error());
    if (!catalog->empty()) plan += "; " + std::to_string(catalog->size()) + " schema-3 segments";
    return plan;
}

}  // namespace proxy::logging
