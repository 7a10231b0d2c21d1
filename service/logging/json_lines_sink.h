#pragma once
// The access log as JSON lines: one object per request, the same fields as the SQLite table
// (docs/logging.md). The access log of builds without SQLite (PROXY_WITH_SQLITE=OFF, the mingw
// build), and a format to ship elsewhere. Rotates by size.

#include <cstdint>
#include <string>

#include "logging/access_sink.h"
#include "logging/rotating_file.h"

namespace proxy::logging {

class JsonLinesSink final : public AccessLogSink {
public:
    // maxBytes 0 = never rotate.
    JsonLinesSink(std::string path, std::uint64_t maxBytes = 0, unsigned keepFiles = 5);
    std::string_view name() const override { return "json_lines"; }
    std::expected<void, std::string> writeBatch(RecordRange batch) override;
    control::Json describe() const override;

private:
    RotatingFile file_;
    std::string buffer_;  // reused across batches
    std::uint64_t lines_ = 0;
    std::string lastError_;
};

}  // namespace proxy::logging
