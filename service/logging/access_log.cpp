#include "logging/access_log.h"

#include <limits>

#include "build_info.h"
#include "logging/json_lines_sink.h"
#include "logging/log.h"
#include "metrics/prometheus.h"

namespace proxy::logging {

using control::Json;

std::expected<std::unique_ptr<AccessLog>, std::string> AccessLog::create(AccessLogOptions options) {
    std::vector<std::unique_ptr<AccessLogSink>> sinks;
    std::string jsonPath = options.jsonLinesPath;
#if PROXY_WITH_SQLITE
    if (!options.databasePath.empty()) {
        auto sink = std::make_unique<SqliteAccessSink>(options.databasePath, options.retention, options.groups);
        if (auto opened = sink->open(); !opened) return std::unexpected("access log: " + opened.error());
        sinks.push_back(std::move(sink));
    }
#else
    // Without SQLite the JSON-lines file is the access log; a configured database path still says
    // where the operator wants it.
    if (jsonPath.empty() && !options.databasePath.empty()) {
        jsonPath = options.databasePath + ".jsonl";
        log(Level::Info, "access log: this build has no SQLite; writing JSON lines to %s", jsonPath.c_str());
    }
#endif
    if (!jsonPath.empty()) {
        auto sink = std::make_unique<JsonLinesSink>(jsonPath, options.jsonLinesMaxBytes, options.jsonLinesKeepFiles);
        // An empty batch opens the file, so a bad path is reported now.
        if (auto opened = sink->writeBatch({}); !opened) return std::unexpected("access log: " + opened.error());
        sinks.push_back(std::move(sink));
    }
    return std::make_unique<AccessLog>(std::move(options), std::move(sinks));
}

AccessLog::AccessLog(AccessLogOptions options, std::vector<std::unique_ptr<AccessLogSink>> sinks)
    : options_(std::move(options)),
      sinks_(std::move(sinks)),
      queue_(options_.queueCapacity),
      metrics_(options_.metricsCapacity) {
    Json facts = Json::array();
    for (const auto& sink : sinks_) facts.push_back(sink->describe());
    sinkFacts_ = std::move(facts);
    writer_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { stop(); }

bool AccessLog::submit(const filter::RequestContext& ctx) {
    if (sinks_.empty() && !feed_.anySubscriber()) {
        // Nothing would read the record (logging off, no live view open): count it, skip the copy.
        submitted_.fetch_add(1, std::memory_order_relaxed);
        notStored_.fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    if (stopping_.load(std::memory_order_relaxed) ||
        !queue_.tryPush([&](AccessRecord& r, std::uint64_t seq) {
            fillRecord(r, ctx);
            r.sequence = seq;
        })) {
        droppedQueueFull_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    submitted_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool AccessLog::submit(const AccessRecord& record) {
    if (stopping_.load(std::memory_order_relaxed) ||
        !queue_.tryPush([&](AccessRecord& r, std::uint64_t seq) {
            r = record;
            r.sequence = seq;
        })) {
        droppedQueueFull_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    submitted_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

void AccessLog::run() {
    auto lastDescribe = std::chrono::steady_clock::now();
    bool finalPass = false;
    // Records a sink accepted and lost later (a group whose commit failed) move from written to
    // dropped when the SQLite sink is the only one; beside another sink they were stored there.
    auto countLost = [&] {
        std::uint64_t lost = 0;
        for (auto& sink : sinks_) lost += sink->takeLost();
        if (lost > 0 && sinks_.size() == 1) {
            written_.fetch_sub(lost, std::memory_order_relaxed);
            droppedSinkError_.fetch_add(lost, std::memory_order_relaxed);
        }
    };
    for (;;) {
        // Read before draining: every record submitted before a flush() call is drained below.
        const std::uint64_t flushWanted = flushRequests_.load(std::memory_order_acquire);
        // The sinks read the records in the queue's slots, which are freed after (no copy into a
        // batch). A batch stops at the end of the ring, so up to two take batchMax records.
        std::size_t taken = 0;
        while (taken < options_.batchMax) {
            const std::size_t n = queue_.drainInPlace(
                options_.batchMax - taken, [&](const AccessRecord* first, std::size_t stride, std::size_t count) {
                    const RecordRange batch(first, stride, count);
                    bool stored = false;
                    for (auto& sink : sinks_) {
                        auto ok = sink->writeBatch(batch);
                        stored = stored || ok.has_value();
                    }
                    if (sinks_.empty())
                        notStored_.fetch_add(batch.size(), std::memory_order_relaxed);  // none configured
                    else if (stored)
                        written_.fetch_add(batch.size(), std::memory_order_relaxed);
                    else
                        droppedSinkError_.fetch_add(batch.size(), std::memory_order_relaxed);
                    batches_.fetch_add(1, std::memory_order_relaxed);
                    feed_.publish(batch);
                });
            if (n == 0) break;
            taken += n;
        }
        queue_.publishDequeuePosition();
        bool moreMaintenance = false;
        const auto now = std::chrono::system_clock::now();
        for (auto& sink : sinks_) moreMaintenance = sink->maintain(now) || moreMaintenance;
        const bool draining = taken == options_.batchMax;
        if (!draining && (flushWanted != flushesDone_.load(std::memory_order_relaxed) ||
                          stopping_.load(std::memory_order_acquire))) {
            for (auto& sink : sinks_) (void)sink->flush();
            flushesDone_.store(flushWanted, std::memory_order_release);
        }
        countLost();
        if (std::chrono::steady_clock::now() - lastDescribe > std::chrono::milliseconds(250) || taken == 0) {
            Json facts = Json::array();
            for (const auto& sink : sinks_) facts.push_back(sink->describe());
            std::lock_guard lock(describeMutex_);
            sinkFacts_ = std::move(facts);
            lastDescribe = std::chrono::steady_clock::now();
        }
        if (taken == options_.batchMax || moreMaintenance) continue;  // more is waiting
        if (stopping_.load(std::memory_order_acquire)) {
            // A producer that checked stopping_ just before it was set may still be filling its
            // slot: once the queue looks empty, wait a moment and drain once more.
            if (taken > 0) continue;
            if (finalPass) break;
            finalPass = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            continue;
        }
        // No notify from the data path (it must not make syscalls for us): poll on a short timer.
        std::unique_lock lock(wakeMutex_);
        wake_.wait_for(lock, options_.flushInterval, [&] {
            return stopping_.load() || flushRequests_.load() != flushesDone_.load();
        });
    }
    flushesDone_.store(std::numeric_limits<std::uint64_t>::max(), std::memory_order_release);  // flush() after stop
}

void AccessLog::stop() {
    {
        std::lock_guard lock(wakeMutex_);  // so the writer cannot miss the notify below
        stopping_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    if (writer_.joinable()) writer_.join();
}

bool AccessLog::flush(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::uint64_t request = flushRequests_.fetch_add(1, std::memory_order_acq_rel) + 1;
    wake_.notify_all();
    for (;;) {
        const auto s = stats();
        if (s.written + s.droppedSinkError + s.notStored >= s.submitted &&
            (flushesDone_.load(std::memory_order_acquire) >= request))
            return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

AccessLogStats AccessLog::stats() const {
    AccessLogStats s;
    s.submitted = submitted_.load(std::memory_order_relaxed);
    s.droppedQueueFull = droppedQueueFull_.load(std::memory_order_relaxed);
    s.droppedSinkError = droppedSinkError_.load(std::memory_order_relaxed);
    s.written = written_.load(std::memory_order_relaxed);
    s.notStored = notStored_.load(std::memory_order_relaxed);
    s.batches = batches_.load(std::memory_order_relaxed);
    s.queueDepth = queue_.sizeApprox();
    s.queueCapacity = queue_.capacity();
    return s;
}

Json AccessLog::statsJson() const {
    const AccessLogStats s = stats();
    Json sinks;
    {
        std::lock_guard lock(describeMutex_);
        sinks = sinkFacts_;
    }
    return Json{{"access_log",
                 {{"submitted", s.submitted},
                  {"written", s.written},
                  {"not_stored", s.notStored},
                  {"dropped_queue_full", s.droppedQueueFull},
                  {"dropped_sink_error", s.droppedSinkError},
                  {"dropped", s.droppedQueueFull + s.droppedSinkError},
                  {"batches", s.batches},
                  {"queue_depth", s.queueDepth},
                  {"queue_capacity", s.queueCapacity},
                  {"sinks", sinks}}},
                {"metrics", metrics_.toJson()},
                {"live_feed",
                 {{"subscribers", feed_.subscriberCount()}, {"dropped", feed_.droppedTotal()}}}};
}

std::string AccessLog::prometheusText() const {
    const AccessLogStats s = stats();
    const metrics::ExtraMetric extra[] = {
        {"proxy_access_log_records_total", "Access records stored by a sink.", "counter", "",
         static_cast<double>(s.written)},
        {"proxy_access_log_dropped_total", "Access records lost, by reason.", "counter",
         "reason=\"queue_full\"", static_cast<double>(s.droppedQueueFull)},
        {"proxy_access_log_dropped_total", "", "counter", "reason=\"sink_error\"",
         static_cast<double>(s.droppedSinkError)},
        {"proxy_access_log_queue_depth", "Access records waiting for the writer.", "gauge", "",
         static_cast<double>(s.queueDepth)},
        {"proxy_live_feed_subscribers", "Live traffic feed subscribers.", "gauge", "",
         static_cast<double>(feed_.subscriberCount())},
    };
    return metrics::renderPrometheus(metrics_, extra);
}

std::expected<AccessLogReader*, std::string> AccessLog::reader() {
#if PROXY_WITH_SQLITE
    if (options_.databasePath.empty())
        return std::unexpected("no access log database is configured (logging.database)");
    if (!reader_) {
        auto opened = AccessLogReader::open(options_.databasePath);
        if (!opened) return std::unexpected(opened.error());
        reader_ = std::shared_ptr<AccessLogReader>(std::move(*opened));
    }
    return reader_.get();
#else
    return std::unexpected(
        "this build has no SQLite (PROXY_WITH_SQLITE=OFF): the access log is the JSON-lines file");
#endif
}

std::expected<Json, std::string> AccessLog::query(const Json& params) {
    auto q = parseAccessQuery(params);
    if (!q) return std::unexpected(q.error());
    std::lock_guard lock(readerMutex_);
    auto r = reader();
    if (!r) return std::unexpected(r.error());
#if PROXY_WITH_SQLITE
    return (*r)->query(*q);
#else
    return std::unexpected("unreachable");
#endif
}

std::expected<Json, std::string> AccessLog::aggregate(const Json& params) {
    auto q = parseAccessQuery(params);
    if (!q) return std::unexpected(q.error());
    std::lock_guard lock(readerMutex_);
    auto r = reader();
    if (!r) return std::unexpected(r.error());
#if PROXY_WITH_SQLITE
    return (*r)->aggregate(*q);
#else
    return std::unexpected("unreachable");
#endif
}

}  // namespace proxy::logging
