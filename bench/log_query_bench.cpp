// The console's typical access-log queries over a large SQLite access log (default 1,000,000 rows
// spread over 24 hours): each must answer in < 100 ms. Also reports the insert rate of the writer's
// sink (schema 4, row groups): wall time and CPU per row, including the group commits (the bench
// calls maintain() after every batch, as the writer thread does).
// Usage: log_query_bench [rows] [db path] [group rows]   (exit status 1 when a query is over budget)
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "logging/sqlite_access_log.h"

using namespace proxy::logging;
using Clock = std::chrono::steady_clock;

namespace {

double msSince(Clock::time_point begin) {
    return std::chrono::duration<double, std::milli>(Clock::now() - begin).count();
}

}  // namespace

int main(int argc, char** argv) {
    const long rows = argc > 1 ? std::atol(argv[1]) : 1'000'000;
    const std::string path = argc > 2 ? argv[2] : (std::filesystem::temp_directory_path() / "log_query_bench.db").string();
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    GroupOptions groups;
    if (argc > 3) groups.maxRows = static_cast<std::uint32_t>(std::atol(argv[3]));

    const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
    const std::int64_t span = 24LL * 3600 * 1'000'000;
    {
        RetentionOptions keep;
        keep.maxAge = std::chrono::hours(0);
        keep.maxBytes = 0;
        SqliteAccessSink sink(path, keep, groups);
        if (auto ok = sink.open(); !ok) {
            std::fprintf(stderr, "%s\n", ok.error().c_str());
            return 2;
        }
        std::mt19937_64 rng(7);
        const char* prefixes[] = {"/api/v1/users/", "/api/v1/orders/", "/static/js/", "/img/", "/health"};
        std::vector<AccessRecord> batch(1000);
        const auto begin = Clock::now();
        const std::clock_t cpuBegin = std::clock();  // this process has one thread: the writer's CPU
        for (long i = 0; i < rows;) {
            std::size_t n = 0;
            for (; n < batch.size() && i < rows; ++n, ++i) {
                AccessRecord& r = batch[n];
                r.clearText();
                r.timeUs = now - span + span * i / rows;  // in time order, as the writer sees them
                const unsigned roll = static_cast<unsigned>(rng() % 1000);
                r.status = roll < 20 ? 502 : roll < 50 ? 404 : roll < 60 ? 304 : 200;
                r.durationUs = static_cast<std::int64_t>(200 + rng() % 50'000);
                r.bytesIn = 300;
                r.bytesOut = rng() % 100'000;
                r.clientPort = static_cast<std::uint16_t>(1024 + rng() % 60000);
                const std::string id = std::to_string(i);
                const std::string client = "10." + std::to_string(rng() % 4) + "." + std::to_string(rng() % 250) + "." + std::to_string(rng() % 250 + 1);
                const std::string p = std::string(prefixes[rng() % 5]) + std::to_string(rng() % 100000);
                r.set(AccessRecord::RequestId, id);
                r.set(AccessRecord::ClientAddress, client);
                r.set(AccessRecord::Listener, "public");
                r.set(AccessRecord::Route, p.starts_with("/api") ? "api" : "static");
                r.set(AccessRecord::Method, rng() % 10 == 0 ? "POST" : "GET");
                r.set(AccessRecord::Host, rng() % 3 == 0 ? "www.example.com" : "api.example.com");
                r.set(AccessRecord::Path, p);
                r.set(AccessRecord::HttpVersion, "HTTP/1.1");
                r.set(AccessRecord::Upstream, "backend");
                r.set(AccessRecord::Server, "10.9.0." + std::to_string(rng() % 8 + 1) + ":8080");
                r.set(AccessRecord::UserAgent, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) bench");
            }
            if (auto ok = sink.writeBatch(std::span(batch.data(), n)); !ok) {
                std::fprintf(stderr, "%s\n", ok.error().c_str());
                return 2;
            }
            (void)sink.maintain(std::chrono::system_clock::now());  // as the writer does between batches
        }
        if (auto ok = sink.flush(); !ok) {  // the last group
            std::fprintf(stderr, "%s\n", ok.error().c_str());
            return 2;
        }
        const double ms = msSince(begin);
        const double cpuMs = static_cast<double>(std::clock() - cpuBegin) * 1000.0 / CLOCKS_PER_SEC;
        std::printf("insert: %ld rows in %.0f ms = %.0f rows/s; writer CPU %.2f us/row (batches of 1000,"
                    " row groups of %u rows)\n",
                    rows, ms, static_cast<double>(rows) / ms * 1000, cpuMs * 1000.0 / static_cast<double>(rows),
                    groups.maxRows);
        std::printf("longest group commit (the writer's longest pause): %.1f ms\n", sink.longestCommitMs());
    }
    std::printf("database: %.1f MiB\n", static_cast<double>(std::filesystem::file_size(path)) / (1 << 20));

    auto reader = AccessLogReader::open(path);
    if (!reader) {
        std::fprintf(stderr, "%s\n", reader.error().c_str());
        return 2;
    }
    struct Case {
        const char* name;
        AccessQuery query;
        bool aggregate = false;
    };
    std::vector<Case> cases;
    AccessQuery q;
    q.limit = 100;
    cases.push_back({"one page of 100 (newest)", q});
    q.fromUs = now - 3600LL * 1'000'000;
    q.statusRanges = {{500, 599}};
    cases.push_back({"last hour's 5xx, page of 100", q});
    q = {};
    q.client = "10.1.17.42";
    cases.push_back({"one client", q});
    q = {};
    q.pathPrefix = "/api/v1/orders/12";
    cases.push_back({"one path prefix", q});
    q = {};
    q.pathPrefix = "/img/";  // a fifth of all rows match
    cases.push_back({"broad path prefix (/img/)", q});
    q = {};
    q.host = "www.example.com";
    q.fromUs = now - 3600LL * 1'000'000;
    cases.push_back({"one host, last hour", q});
    q = {};
    q.server = "10.9.0.3:8080";
    q.statusRanges = {{500, 599}};
    cases.push_back({"one upstream server's 5xx", q});
    q = {};
    q.pathContains = "orders/99";
    q.fromUs = now - 3600LL * 1'000'000;
    cases.push_back({"path substring, last hour", q});
    q = {};
    q.fromUs = now - 3600LL * 1'000'000;
    q.toUs = now;
    cases.push_back({"aggregate: last hour per minute", q, true});
    q.statusRanges = {{500, 599}};
    cases.push_back({"aggregate: last hour's 5xx per minute", q, true});

    bool over = false;
    std::printf("\n%-40s %8s %8s %6s  plan\n", "query", "median", "max", "rows");
    for (const Case& c : cases) {
        std::vector<double> times;
        std::size_t resultRows = 0;
        for (int run = 0; run < 7; ++run) {
            const auto begin = Clock::now();
            auto result = c.aggregate ? (*reader)->aggregate(c.query) : (*reader)->query(c.query);
            times.push_back(msSince(begin));
            if (!result) {
                std::printf("%-40s error: %s\n", c.name, result.error().c_str());
                over = true;
                break;
            }
            resultRows = c.aggregate ? result->at("totals")["requests"].get<std::size_t>() : result->at("rows").size();
            // The second page too, through the cursor, for the plain page.
            if (!c.aggregate && run == 0 && !result->at("next_cursor").is_null()) {
                AccessQuery next = c.query;
                next.before = parseCursor(result->at("next_cursor").get<std::string>());
                const auto b2 = Clock::now();
                auto page2 = (*reader)->query(next);
                if (!page2 || msSince(b2) > 100) over = true;
            }
        }
        if (times.empty()) continue;
        std::sort(times.begin(), times.end());
        const double median = times[times.size() / 2], worst = times.back();
        over = over || worst > 100;
        const auto plan = c.aggregate ? std::string("(scan of matching rows)") : (*reader)->explain(c.query).value_or("?");
        std::printf("%-40s %6.1fms %6.1fms %6zu  %s\n", c.name, median, worst, resultRows, plan.c_str());
    }
    std::printf("\n%s\n", over ? "OVER BUDGET: some query took >= 100 ms" : "all queries < 100 ms");
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
    return over ? 1 : 0;
}
