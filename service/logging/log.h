#pragma once
// The service's error and event log: levelled lines with a timestamp. Sinks plug in behind a small
// interface (stderr now; rotating files, the Windows Event Log and a central store later).

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

// The format checks follow the formatter std::vsnprintf really is: on mingw-w64, libstdc++ selects
// the C99 one (__USE_MINGW_ANSI_STDIO), which takes %zu and %lld, where plain `printf` would mean
// msvcrt's rules and flag them.
#if defined(__MINGW32__)
#define PROXY_LOG_FORMAT(f, a) __attribute__((format(__MINGW_PRINTF_FORMAT, f, a)))
#elif defined(__GNUC__)
#define PROXY_LOG_FORMAT(f, a) __attribute__((format(printf, f, a)))
#else
#define PROXY_LOG_FORMAT(f, a)
#endif

namespace proxy::logging {

enum class Level : unsigned char { Error, Warn, Info, Debug };

class LogSink {
public:
    virtual ~LogSink() = default;
    // Called with one complete line (no newline). May be called from any thread.
    virtual void write(Level level, std::string_view line) = 0;
};

// Replaces the sink (stderr by default) and the minimum level. Not for the data path.
void setSink(std::shared_ptr<LogSink> sink);
// A second sink that gets every line too: the error log file (logging.error_log_file), written
// whether the primary sink is stderr or the Windows Event Log. nullptr removes it.
void setFileSink(std::shared_ptr<LogSink> sink);
void setLevel(Level level);
bool enabled(Level level);
Level parseLevel(std::string_view text, Level fallback = Level::Info);

// printf-style; formats only when the level is enabled.
void log(Level level, const char* format, ...) PROXY_LOG_FORMAT(2, 3);

// The same, for something that happened within a request: the line names it
// ("... warn  [req 0a1b2c3d0100002a] upstream reset"), so it can be found in the access log.
// An empty requestId gives a plain line.
void logRequest(Level level, std::string_view requestId, const char* format, ...) PROXY_LOG_FORMAT(3, 4);

class RotatingFile;

// Levelled lines to a file that rotates by size: path, path.1 .. path.keepFiles (oldest removed).
// Thread-safe. When the file cannot be written, lines go to stderr instead (with the reason once),
// and the file is retried at most once a second.
class RotatingFileSink final : public LogSink {
public:
    RotatingFileSink(std::string path, std::uint64_t maxBytes = 10ull << 20, unsigned keepFiles = 5);
    ~RotatingFileSink() override;
    void write(Level level, std::string_view line) override;

private:
    std::mutex mutex_;
    std::unique_ptr<RotatingFile> file_;
    std::string buffer_;
    bool failing_ = false;
};

}  // namespace proxy::logging
