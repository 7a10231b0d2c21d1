#pragma once
// The console's questions to the access log: filters, keyset paging, per-minute aggregates. The
// types and their JSON parsing are always built; running them needs SQLite (access_log_reader.h).

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/json_rpc.h"

namespace proxy::logging {

struct AccessQuery {
    // Position after the last row of the previous page (newest first: rows strictly older).
    struct Cursor {
        std::int64_t timeUs = 0;
        std::int64_t id = 0;
        friend bool operator==(const Cursor&, const Cursor&) = default;
    };
    static constexpr std::size_t kMaxFilterBytes = 4096;
    static constexpr std::size_t kMaxLimit = 1000;

    std::optional<std::int64_t> fromUs;  // inclusive
    std::optional<std::int64_t> toUs;    // exclusive
    std::vector<std::pair<int, int>> statusRanges;  // inclusive [lo, hi]; any of them matches
    std::string method;        // exact
    std::string host;          // exact (lower case as received)
    std::string pathPrefix;    // byte-wise prefix (uses the path index)
    std::string pathContains;  // substring (scans the time range)
    std::string client;        // exact client address
    std::string route;         // exact route name
    std::string upstream;      // exact upstream group name
    std::string server;        // exact upstream server "host:port"
    std::size_t limit = 100;
    std::optional<Cursor> before;
};

// Checks a query built in code (the JSON parser calls it too): lengths, ranges, limit.
std::expected<void, std::string> validate(const AccessQuery& query);
// What an aggregate needs beyond validate(): both ends of the range, at most 7 days apart.
std::expected<void, std::string> validateAggregate(const AccessQuery& query);

// params of logs.query / logs.aggregate (docs/logging.md):
//   {"from_ms": int, "to_ms": int, "status": ["5xx", 404, ...], "method", "host", "path_prefix",
//    "path_contains", "client", "route", "upstream", "server": string, "limit": 1..1000,
//    "cursor": string from a previous page}
// Unknown keys and wrong types are errors, so a typo never silently widens a query.
std::expected<AccessQuery, std::string> parseAccessQuery(const control::Json& params);

std::string formatCursor(const AccessQuery::Cursor& cursor);
std::optional<AccessQuery::Cursor> parseCursor(std::string_view text);

// Nearest-rank percentile of sorted values (p in (0, 100]); 0 when empty.
std::int64_t percentileSorted(const std::vector<std::int64_t>& sorted, double p);

}  // namespace proxy::logging
