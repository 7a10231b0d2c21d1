#pragma once
// The access log in SQLite (built when PROXY_WITH_SQLITE=ON): the writer's sink and the control
// channel's reader. Schema, indexes and migrations: docs/logging.md.
//
// The sink runs on the writer thread only, in WAL mode. Schema 4 stores row groups: records fill
// an in-memory group (row_group.h) that is committed in one transaction when it holds
// GroupOptions::maxRows records or is maxAge old: one summary row in access_log_groups (the zone
// map: time range, status classes) and one blob per column in access_log_columns, plus a bloom
// filter of the clients. Retention drops whole groups, then vacuums incrementally. Time segments
// left by schema 3 (access_log_segments) stay readable and age out the same way; nothing new is
// written to them. The reader is a separate read-only connection for the control thread; WAL lets
// it read while the writer writes; it merges groups and segments newest first.

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "logging/access_query.h"
#include "logging/access_sink.h"
#include "logging/row_group.h"

struct sqlite3;
struct sqlite3_stmt;

namespace proxy::logging {

struct RetentionOptions {
    std::chrono::hours maxAge{24 * 14};    // rows older than this are deleted (0 = keep)
    std::uint64_t maxBytes = 1024ull << 20;  // database size cap (0 = none); oldest rows go first
    std::uint32_t chunkRows = 5000;        // rows per DELETE, so no step holds the writer long
    std::uint32_t vacuumPages = 2000;      // pages released per incremental vacuum step
    std::chrono::seconds checkInterval{60};
};

// When the group being filled is committed. kill -9 loses at most that group; maxAge keeps rows
// visible to queries within ~maxAge + the writer's wake-up interval.
struct GroupOptions {
    std::uint32_t maxRows = 4096;              // 1 .. rowgroup::kMaxRows
    std::chrono::milliseconds maxAge{500};     // since the group's first record arrived (steady clock)
};

// The schema version this build writes. Older databases are migrated on open; a newer one is
// refused (a downgraded service must not write rows it cannot describe).
inline constexpr int kAccessLogSchemaVersion = 4;

class SqliteAccessSink final : public AccessLogSink {
public:
    SqliteAccessSink(std::string path, RetentionOptions retention = {}, GroupOptions groups = {});
    ~SqliteAccessSink() override;

    // Opens (creating and migrating) now, so a bad path is reported at start. writeBatch() also
    // opens lazily, retrying at most once a second, so a disk that comes back is picked up.
    std::expected<void, std::string> open();

    std::string_view name() const override { return "sqlite"; }
    std::expected<void, std::string> writeBatch(RecordRange batch) override;
    bool maintain(std::chrono::system_clock::time_point now) override;
    std::expected<void, std::string> flush() override;
    std::uint64_t takeLost() override;
    control::Json describe() const override;

    std::uint64_t rowsDeletedByAge() const { return deletedByAge_; }
    std::uint64_t rowsDeletedBySize() const { return deletedBySize_; }
    std::uint64_t segmentsDropped() const { return segmentsDropped_; }  // schema-3 leftovers
    std::uint64_t groupsWritten() const { return groupsWritten_; }
    std::uint64_t groupsDropped() const { return groupsDropped_; }
    std::uint32_t pendingRows() const { return encoder_.rows(); }  // in memory, not committed yet
    // Milliseconds of the longest group commit so far (the writer's longest pause but retention).
    double longestCommitMs() const { return longestCommitMs_; }
    // Milliseconds of the longest single CREATE INDEX step (schema-3 segments left unindexed).
    double longestIndexStepMs() const { return longestIndexMs_; }

private:
    void close();
    std::expected<void, std::string> fail(const char* what);
    std::expected<void, std::string> loadState();
    std::expected<void, std::string> commitGroup();
    std::expected<bool, std::string> dropGroup(bool byAge, std::int64_t cutoffUs);
    std::expected<bool, std::string> indexStep();
    std::expected<bool, std::string> retentionStep(std::chrono::system_clock::time_point now);
    std::expected<std::int64_t, std::string> deleteChunk(std::int64_t seg, const std::string& table,
                                                         std::int64_t beforeUs);

    std::string path_;
    RetentionOptions retention_;
    GroupOptions groups_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* insertGroup_ = nullptr;
    sqlite3_stmt* insertColumn_ = nullptr;
    rowgroup::Encoder encoder_;                 // the group being filled
    std::vector<std::uint64_t> clientHashes_;   // its clients, for the bloom filter
    std::string lastClient_;                    // the client of clientHashes_.back()
    std::vector<std::uint64_t> bloom_;
    std::string blob_;                          // scratch for one column
    std::chrono::steady_clock::time_point groupStarted_{};
    bool indexPending_ = false;        // a schema-3 segment still lacks indexes
    std::int64_t nextId_ = 1;          // ids are global: first_id + position in a group
    std::int64_t nextGroup_ = 1;
    bool stateValid_ = false;          // false after a rollback: reload from the catalog
    std::int64_t lastOpenAttemptMs_ = -1'000'000;
    std::chrono::system_clock::time_point nextCheck_{};
    bool pending_ = false;
    std::uint64_t rows_ = 0;
    std::uint64_t deletedByAge_ = 0;
    std::uint64_t deletedBySize_ = 0;
    std::uint64_t segmentsDropped_ = 0;
    std::uint64_t groupsWritten_ = 0;
    std::uint64_t groupsDropped_ = 0;
    std::uint64_t rowsLost_ = 0;       // accepted into a group whose commit failed
    std::uint64_t lostUntaken_ = 0;    // rowsLost_ not yet reported by takeLost()
    std::uint64_t indexesBuilt_ = 0;
    double longestIndexMs_ = 0;
    double longestCommitMs_ = 0;
    std::string lastError_;
};

// Migrates the database at path to kAccessLogSchemaVersion (used by the sink; tests call it).
std::expected<void, std::string> migrateAccessLog(sqlite3* db);

// The schema-3 catalog's segment table names, oldest first (tests and tools; validated names only).
std::expected<std::vector<std::string>, std::string> accessLogSegments(sqlite3* db);
// True when name is a segment table name this build writes ("access_log_seg_<digits>").
bool isSegmentTableName(std::string_view name);

class AccessLogReader {
public:
    // Opens read-only. Fails with a sentence when the file is missing or not an access log.
    static std::expected<std::unique_ptr<AccessLogReader>, std::string> open(
        const std::string& path, std::chrono::milliseconds timeLimit = std::chrono::milliseconds(2000));
    ~AccessLogReader();

    // Newest first: {"rows": [...], "next_cursor": "..." or null}. Every value in prepared-statement
    // parameters; text is sanitised to valid UTF-8.
    std::expected<control::Json, std::string> query(const AccessQuery& query);
    // Counts and per-minute charts over [from, to) (both required, at most 7 days):
    // {"totals": {...}, "minutes": [{"minute_ms", "requests", "errors", "p50_us", "p95_us",
    // "p99_us"}]}. Percentiles are exact (nearest rank) over the matching rows.
    std::expected<control::Json, std::string> aggregate(const AccessQuery& query);
    // EXPLAIN QUERY PLAN of the page query (bench and docs).
    std::expected<std::string, std::string> explain(const AccessQuery& query);

private:
    AccessLogReader() = default;
    std::mutex mutex_;
    sqlite3* db_ = nullptr;
    std::chrono::milliseconds timeLimit_{2000};
};

}  // namespace proxy::logging
