#pragma once
// The access log in SQLite (built when PROXY_WITH_SQLITE=ON): the writer's sink and the control
// channel's reader. Schema, indexes and migrations: docs/logging.md.
//
// The sink runs on the writer thread only: WAL mode, one prepared INSERT, one transaction per
// batch. Rows go into time segments: the open segment has only its time index (appends in time
// order are cheap); a closed segment gets its other indexes built in bulk, one CREATE INDEX per
// maintain() step, and retention drops whole segments (plus bounded chunked deletes at the edges)
// then vacuums incrementally. The catalog table access_log_segments lists the segments. The
// reader is a separate read-only connection for the control thread; WAL lets it read while the
// writer writes; it merges the segments newest first.

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

// When the open segment closes (its secondary indexes are then built in the background steps).
struct SegmentOptions {
    std::uint32_t maxRows = 32768;             // bounds one CREATE INDEX step (docs/logging.md)
    std::chrono::minutes maxAge{60};           // newest row - oldest row; a quiet log's segments
                                               // still close (at the next row) and get indexed
};

// The schema version this build writes. Older databases are migrated on open; a newer one is
// refused (a downgraded service must not write rows it cannot describe).
inline constexpr int kAccessLogSchemaVersion = 3;

class SqliteAccessSink final : public AccessLogSink {
public:
    SqliteAccessSink(std::string path, RetentionOptions retention = {}, SegmentOptions segments = {});
    ~SqliteAccessSink() override;

    // Opens (creating and migrating) now, so a bad path is reported at start. writeBatch() also
    // opens lazily, retrying at most once a second, so a disk that comes back is picked up.
    std::expected<void, std::string> open();

    std::string_view name() const override { return "sqlite"; }
    std::expected<void, std::string> writeBatch(std::span<const AccessRecord> batch) override;
    bool maintain(std::chrono::system_clock::time_point now) override;
    control::Json describe() const override;

    std::uint64_t rowsDeletedByAge() const { return deletedByAge_; }
    std::uint64_t rowsDeletedBySize() const { return deletedBySize_; }
    std::uint64_t segmentsDropped() const { return segmentsDropped_; }
    // Milliseconds of the longest single CREATE INDEX step so far (the writer's longest pause).
    double longestIndexStepMs() const { return longestIndexMs_; }

private:
    void close();
    std::expected<void, std::string> fail(const char* what);
    std::expected<void, std::string> loadState();
    std::expected<void, std::string> rollover(std::int64_t seg, std::int64_t createdUs);
    std::expected<bool, std::string> indexStep();
    std::expected<bool, std::string> retentionStep(std::chrono::system_clock::time_point now);
    std::expected<std::int64_t, std::string> deleteChunk(std::int64_t seg, const std::string& table,
                                                         bool byAge, std::int64_t beforeUs);

    std::string path_;
    RetentionOptions retention_;
    SegmentOptions segments_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* touch_ = nullptr;    // updates the open segment's catalog row per batch
    std::int64_t openSeg_ = 0;         // the open segment's number
    std::int64_t openRows_ = 0;
    std::int64_t openMinTs_ = 0;       // the open segment's oldest row (closes it by age)
    bool indexPending_ = false;        // a closed segment still lacks indexes
    std::int64_t nextId_ = 1;          // ids are global across segments
    bool stateValid_ = false;          // false after a rollback: reload from the catalog
    std::int64_t lastOpenAttemptMs_ = -1'000'000;
    std::chrono::system_clock::time_point nextCheck_{};
    bool pending_ = false;
    std::uint64_t rows_ = 0;
    std::uint64_t batches_ = 0;
    std::uint64_t deletedByAge_ = 0;
    std::uint64_t deletedBySize_ = 0;
    std::uint64_t segmentsDropped_ = 0;
    std::uint64_t indexesBuilt_ = 0;
    double longestIndexMs_ = 0;
    std::string lastError_;
};

// Migrates the database at path to kAccessLogSchemaVersion (used by the sink; tests call it).
std::expected<void, std::string> migrateAccessLog(sqlite3* db);

// The catalog's segment table names, oldest first (tests and tools; validated names only).
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
