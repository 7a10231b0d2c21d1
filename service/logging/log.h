#pragma once
// The service's error and event log: levelled lines with a timestamp. Sinks plug in behind a small
// interface (stderr now; rotating files, the Windows Event Log and a central store later).

#include <cstdarg>
#include <memory>
#include <string_view>

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
void setLevel(Level level);
bool enabled(Level level);
Level parseLevel(std::string_view text, Level fallback = Level::Info);

// printf-style; formats only when the level is enabled.
void log(Level level, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

}  // namespace proxy::logging
