#pragma once
// The access log service: one per process, created by the runtime and handed to the
// AccessLogFilter by pointer. It owns the bounded record queue, the writer thread, the sinks
// (SQLite and/or JSON lines), retention, the live feed and the metrics registry.
//
// Data path (submit): fill one fixed-size slot of a bounded MPSC queue; never waits, never
// allocates, never touches disk. A full queue drops the record and counts it. Everything else —
// formatting, SQLite, files, the live feed — happens on the writer thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control/json_rpc.h"
#include "logging/access_query.h"
#include "logging/access_record.h"
#include "logging/access_sink.h"
#include "logging/bounded_queue.h"
#include "logging/live_feed.h"
#include "logging/sqlite_access_log.h"
#include "metrics/metrics_registry.h"

namespace proxy::logging {

class AccessLogReader;

// Defaults are the proposed config defaults (docs/logging.md, "logging" object).
struct AccessLogOptions {
    std::string databasePath;           // logging.database: the SQLite access log ("" = none)
    std::string jsonLinesPath;          // logging.access_log_file: JSON lines ("" = none)
    std::uint64_t jsonLinesMaxBytes = 100ull << 20;  // logging.access_log_max_mb (0 = no rotation)
    unsigned jsonLinesKeepFiles = 5;                 // logging.access_log_keep_files
    std::size_t queueCapacity = 8192;   // logging.queue_size (records; ~2.1 KiB each)
    std::size_t batchMax = 1024;        // rows per transaction
    std::chrono::milliseconds flushInterval{50};  // writer wakes at least this often
    RetentionOptions retention;         // logging.retention_days, logging.max_db_mb
    GroupOptions groups;                // SQLite row groups: rows and age before a commit
    std::size_t metricsCapacity = 1024; // distinct listener/route/upstream/server names
};

struct AccessLogStats {
    std::uint64_t submitted = 0;         // records accepted into the queue
    std::uint64_t droppedQueueFull = 0;  // the data path found the queue full
    std::uint64_t droppedSinkError = 0;  // written to no sink (disk full, read-only, ...)
    std::uint64_t written = 0;           // stored by at least one sink
    std::uint64_t notStored = 0;         // processed with no sink configured (feed and metrics only)
    std::uint64_t batches = 0;
    std::size_t queueDepth = 0;
    std::size_t queueCapacity = 0;
};

class AccessLog {
public:
    // Builds the sinks from options: SQLite when databasePath is set and this build has SQLite,
    // JSON lines when jsonLinesPath is set (or, without SQLite, at databasePath + ".jsonl").
    // Fails with a sentence when a sink cannot be opened now (bad path, newer schema).
    static std::expected<std::unique_ptr<AccessLog>, std::string> create(AccessLogOptions options);
    // With ready-made sinks (tests, or a later fleet sink). Starts the writer thread.
    AccessLog(AccessLogOptions options, std::vector<std::unique_ptr<AccessLogSink>> sinks);
    ~AccessLog();  // stop()
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    // Data path (any worker thread). False when the record was dropped (queue full or stopped).
    bool submit(const filter::RequestContext& ctx);
    // Same for a ready record (tests, replay).
    bool submit(const AccessRecord& record);

    // Writes what is queued, then joins the writer. Idempotent; later submits are dropped.
    void stop();
    // Waits until every record submitted so far is written or counted as dropped, and what the
    // sinks held in memory then (a row group being filled) is stored (tests, shutdown).
    bool flush(std::chrono::milliseconds timeout);

    AccessLogStats stats() const;
    // For stats.get: {"access_log": {counters, sinks: [...]}, "metrics": registry.toJson(),
    // "live_feed": {...}}
    control::Json statsJson() const;
    // Prometheus text: the registry plus the access log's own counters.
    std::string prometheusText() const;

    LiveFeed& liveFeed() { return feed_; }
    metrics::MetricsRegistry& metrics() { return metrics_; }

    // Control-channel queries (logs.query / logs.aggregate). Run on the caller's thread with
    // their own read-only connection. Fail with a sentence on bad params, or when this build has
    // no SQLite or no database is configured.
    std::expected<control::Json, std::string> query(const control::Json& params);
    std::expected<control::Json, std::string> aggregate(const control::Json& params);

private:
    void run();
    std::expected<AccessLogReader*, std::string> reader();

    AccessLogOptions options_;
    std::vector<std::unique_ptr<AccessLogSink>> sinks_;  // writer thread only, after start
    BoundedQueue<AccessRecord> queue_;
    LiveFeed feed_;
    metrics::MetricsRegistry metrics_;

    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> submitted_{0};
    std::atomic<std::uint64_t> droppedQueueFull_{0};
    std::atomic<std::uint64_t> droppedSinkError_{0};
    std::atomic<std::uint64_t> written_{0};
    std::atomic<std::uint64_t> notStored_{0};
    std::atomic<std::uint64_t> batches_{0};
    // flush(): requests counted by callers, served by the writer (sinks store what they hold).
    std::atomic<std::uint64_t> flushRequests_{0};
    std::atomic<std::uint64_t> flushesDone_{0};

    mutable std::mutex wakeMutex_;
    std::condition_variable wake_;
    mutable std::mutex describeMutex_;     // guards sinkFacts_
    control::Json sinkFacts_ = control::Json::array();  // refreshed by the writer for stats
    std::mutex readerMutex_;
    std::shared_ptr<AccessLogReader> reader_;  // shared_ptr: complete type not needed without SQLite
    std::thread writer_;
};

}  // namespace proxy::logging
