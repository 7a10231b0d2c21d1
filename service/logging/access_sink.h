#pragma once
// Where access records go. The writer thread owns every sink and calls it from that thread only,
// so sinks need no locks. SQLite (the default, queryable) and JSON lines (for builds without SQLite
// and for shipping logs elsewhere) today; a later fleet adds a sink that ships to a central store.

#include <chrono>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "control/json_rpc.h"
#include "logging/access_record.h"

namespace proxy::logging {

class AccessLogSink {
public:
    virtual ~AccessLogSink() = default;
    virtual std::string_view name() const = 0;
    // Stores the whole batch, or fails with a sentence (the caller counts the batch as dropped).
    // A sink that failed retries by itself on a later call (e.g. reopens its file), rate-limited.
    virtual std::expected<void, std::string> writeBatch(std::span<const AccessRecord> batch) = 0;
    // The same for records read in place: the writer passes the queue's slots, not a copy. The
    // default copies them for writeBatch(); the shipped sinks override it and read them in place.
    virtual std::expected<void, std::string> writeRecords(RecordRange records) {
        std::vector<AccessRecord> copy;
        copy.reserve(records.size());
        for (const AccessRecord& r : records) copy.push_back(r);
        return writeBatch(copy);
    }
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
