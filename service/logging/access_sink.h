#pragma once
// Where access records go. The writer thread owns every sink and calls it from that thread only,
// so sinks need no locks. SQLite (the default, queryable) and JSON lines (for builds without SQLite
// and for shipping logs elsewhere) today; a later fleet adds a sink that ships to a central store.

#include <chrono>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "control/json_rpc.h"
#include "logging/access_record.h"

namespace proxy::logging {

class AccessLogSink {
public:
    virtual ~AccessLogSink() = default;
    virtual std::string_view name() const = 0;
    // Stores the whole batch, or fails with a sentence (the caller counts the batch as dropped).
    // A sink that failed retries by itself on a later call (e.g. reopens its file), rate-limited.
    // The writer passes the queue's slots, read in place; a span or vector converts too.
    virtual std::expected<void, std::string> writeBatch(RecordRange batch) = 0;
    // Housekeeping between batches (retention). Does one bounded step; returns true when more
    // work is pending, so the writer calls again soon instead of waiting for the next interval.
    virtual bool maintain(std::chrono::system_clock::time_point) { return false; }
    // Stores what the sink holds in memory (a row group being filled) now. The writer calls it
    // for AccessLog::flush() and at stop.
    virtual std::expected<void, std::string> flush() { return {}; }
    // Records an earlier writeBatch() accepted (and the writer counted as written) that were lost
    // since the last call, e.g. a group whose commit failed. The writer moves them to the drops.
    virtual std::uint64_t takeLost() { return 0; }
    // Facts for stats.get (path, rows deleted by retention, last error, ...).
    virtual control::Json describe() const = 0;
};

}  // namespace proxy::logging
