#pragma once
// An append-only file that rotates by size: path -> path.1 -> ... -> path.N (the oldest is
// removed). Used by the error log's file sink and the JSON-lines access log. Not thread-safe: its
// owner serialises calls.

#include <cstdint>
#include <cstdio>
#include <expected>
#include <string>
#include <string_view>

namespace proxy::logging {

class RotatingFile {
public:
    // maxBytes 0 = never rotate; keepFiles = how many rotated files are kept besides the live one.
    RotatingFile(std::string path, std::uint64_t maxBytes, unsigned keepFiles);
    ~RotatingFile();
    RotatingFile(const RotatingFile&) = delete;
    RotatingFile& operator=(const RotatingFile&) = delete;

    // Appends data (rotating first when it would pass maxBytes) and flushes to the OS, so a killed
    // process loses nothing that append() returned for. Reopens a failed file, at most once a second.
    std::expected<void, std::string> append(std::string_view data);
    const std::string& path() const { return path_; }
    std::uint64_t rotations() const { return rotations_; }

private:
    std::expected<void, std::string> open();
    void rotate();

    std::string path_;
    std::uint64_t maxBytes_;
    unsigned keepFiles_;
    std::FILE* file_ = nullptr;
    std::uint64_t size_ = 0;
    std::uint64_t rotations_ = 0;
    std::int64_t lastOpenAttemptMs_ = -1'000'000;
    std::string lastError_;
};

}  // namespace proxy::logging
