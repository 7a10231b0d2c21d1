#include "logging/rotating_file.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace proxy::logging {
namespace {

std::int64_t steadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

RotatingFile::RotatingFile(std::string path, std::uint64_t maxBytes, unsigned keepFiles)
    : path_(std::move(path)), maxBytes_(maxBytes), keepFiles_(keepFiles) {}

RotatingFile::~RotatingFile() {
    if (file_ != nullptr) std::fclose(file_);
}

std::expected<void, std::string> RotatingFile::open() {
    const std::int64_t now = steadyMs();
    if (now - lastOpenAttemptMs_ < 1000) return std::unexpected(lastError_);
    lastOpenAttemptMs_ = now;
    file_ = std::fopen(path_.c_str(), "ab");
    if (file_ == nullptr) {
        lastError_ = "cannot open " + path_ + ": " + std::strerror(errno);
        return std::unexpected(lastError_);
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(path_, ec);
    size_ = ec ? 0 : size;
    return {};
}

void RotatingFile::rotate() {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    namespace fs = std::filesystem;
    if (keepFiles_ == 0) {
        fs::remove(path_, ec);
    } else {
        fs::remove(path_ + "." + std::to_string(keepFiles_), ec);
        for (unsigned i = keepFiles_; i > 1; --i) {
            const std::string from = path_ + "." + std::to_string(i - 1);
            if (fs::exists(from, ec)) fs::rename(from, path_ + "." + std::to_string(i), ec);
        }
        fs::rename(path_, path_ + ".1", ec);  // Windows: the target was moved away above
    }
    ++rotations_;
    lastOpenAttemptMs_ = -1'000'000;  // reopen now, whatever happened before
}

std::expected<void, std::string> RotatingFile::append(std::string_view data) {
    if (file_ != nullptr && maxBytes_ != 0 && size_ > 0 && size_ + data.size() > maxBytes_) rotate();
    if (file_ == nullptr)
        if (auto opened = open(); !opened) return opened;
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size() || std::fflush(file_) != 0) {
        lastError_ = "cannot write " + path_ + ": " + std::strerror(errno);
        std::fclose(file_);
        file_ = nullptr;
        lastOpenAttemptMs_ = steadyMs();
        return std::unexpected(lastError_);
    }
    size_ += data.size();
    return {};
}

}  // namespace proxy::logging
