#include "logging/json_lines_sink.h"

namespace proxy::logging {

JsonLinesSink::JsonLinesSink(std::string path, std::uint64_t maxBytes, unsigned keepFiles)
    : file_(std::move(path), maxBytes, keepFiles) {}

std::expected<void, std::string> JsonLinesSink::writeBatch(RecordRange batch) {
    buffer_.clear();
    for (const AccessRecord& record : batch) {
        appendJsonLine(buffer_, record);
        buffer_.push_back('\n');
    }
    if (auto written = file_.append(buffer_); !written) {
        lastError_ = written.error();
        return written;
    }
    lines_ += batch.size();
    return {};
}

control::Json JsonLinesSink::describe() const {
    control::Json j = {{"sink", "json_lines"},
                       {"path", sanitizeUtf8(file_.path())},
                       {"lines_written", lines_},
                       {"rotations", file_.rotations()}};
    if (!lastError_.empty()) j["last_error"] = sanitizeUtf8(lastError_);
    return j;
}

}  // namespace proxy::logging
