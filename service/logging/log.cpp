#include "logging/log.h"

#include "logging/rotating_file.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace proxy::logging {
namespace {

class StderrSink final : public LogSink {
public:
    void write(Level, std::string_view line) override {
        std::lock_guard lock(mutex_);
        std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
        std::fflush(stderr);
    }

private:
    std::mutex mutex_;
};

std::atomic<int> gLevel{static_cast<int>(Level::Info)};
std::mutex gSinkMutex;
std::shared_ptr<LogSink> gSink = std::make_shared<StderrSink>();
std::shared_ptr<LogSink> gFileSink;

constexpr const char* kNames[] = {"error", "warn", "info", "debug"};

}  // namespace

void setSink(std::shared_ptr<LogSink> sink) {
    std::lock_guard lock(gSinkMutex);
    gSink = sink ? std::move(sink) : std::make_shared<StderrSink>();
}

void setFileSink(std::shared_ptr<LogSink> sink) {
    std::lock_guard lock(gSinkMutex);
    gFileSink = std::move(sink);
}

void setLevel(Level level) { gLevel = static_cast<int>(level); }

bool enabled(Level level) { return static_cast<int>(level) <= gLevel.load(std::memory_order_relaxed); }

Level parseLevel(std::string_view text, Level fallback) {
    for (int i = 0; i < 4; ++i)
        if (text == kNames[i]) return static_cast<Level>(i);
    return fallback;
}

namespace {

void vlog(Level level, std::string_view requestId, const char* format, va_list args) {
    char line[2048];
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
#if defined(_WIN32)
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    int n = std::snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ", tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms),
                          kNames[static_cast<int>(level)]);
    if (!requestId.empty()) {
        const int idLength = static_cast<int>(std::min<std::size_t>(requestId.size(), 128));
        n += std::snprintf(line + n, sizeof(line) - static_cast<std::size_t>(n), "[req %.*s] ", idLength,
                           requestId.data());
    }
    const int m = std::vsnprintf(line + n, sizeof(line) - static_cast<std::size_t>(n), format, args);
    std::size_t length = static_cast<std::size_t>(n) + (m > 0 ? static_cast<std::size_t>(m) : 0);
    if (length >= sizeof(line)) length = sizeof(line) - 1;
    std::shared_ptr<LogSink> sink, file;
    {
        std::lock_guard lock(gSinkMutex);
        sink = gSink;
        file = gFileSink;
    }
    sink->write(level, std::string_view(line, length));
    if (file) file->write(level, std::string_view(line, length));
}

}  // namespace

void log(Level level, const char* format, ...) {
    if (!enabled(level)) return;
    va_list args;
    va_start(args, format);
    vlog(level, {}, format, args);
    va_end(args);
}

void logRequest(Level level, std::string_view requestId, const char* format, ...) {
    if (!enabled(level)) return;
    va_list args;
    va_start(args, format);
    vlog(level, requestId, format, args);
    va_end(args);
}

RotatingFileSink::RotatingFileSink(std::string path, std::uint64_t maxBytes, unsigned keepFiles)
    : file_(std::make_unique<RotatingFile>(std::move(path), maxBytes, keepFiles)) {}

RotatingFileSink::~RotatingFileSink() = default;

void RotatingFileSink::write(Level, std::string_view line) {
    std::lock_guard lock(mutex_);
    buffer_.assign(line);
    buffer_.push_back('\n');
    auto written = file_->append(buffer_);
    if (!written) {
        if (!failing_)
            std::fprintf(stderr, "error log: %s; writing to stderr until it works again\n",
                         written.error().c_str());
        failing_ = true;
        std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
        return;
    }
    failing_ = false;
}

}  // namespace proxy::logging
