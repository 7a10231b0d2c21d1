#include "config_store/file_config_source.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "config/validator.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace proxy::config_store {

namespace fs = std::filesystem;

namespace {

// A history record holds the text JSON-escaped plus a few fields.
constexpr std::uintmax_t kMaxRecordBytes = 2 * config::kMaxConfigBytes + (64u << 10);

fs::path toPath(const std::string& utf8) {
#ifdef _WIN32
    return fs::path(std::u8string(reinterpret_cast<const char8_t*>(utf8.data()), utf8.size()));
#else
    return fs::path(utf8);
#endif
}

std::string fromPath(const fs::path& p) {
    const auto u8 = p.u8string();
    return std::string(u8.begin(), u8.end());
}

#ifdef _WIN32
std::string lastErrorText(DWORD code) {
    char* buffer = nullptr;
    const DWORD n = FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<LPSTR>(&buffer), 0, nullptr);
    std::string text = n && buffer ? std::string(buffer, n) : "error " + std::to_string(code);
    if (buffer) LocalFree(buffer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '.'))
        text.pop_back();
    return text;
}
#endif

std::string tempNameFor(const fs::path& target) {
    static std::atomic<unsigned> counter{0};
#ifdef _WIN32
    const auto pid = static_cast<unsigned long>(GetCurrentProcessId());
#else
    const auto pid = static_cast<unsigned long>(getpid());
#endif
    // Piecewise: GCC 12 warns falsely (-Wrestrict) on "." + string.
    std::string name = ".";
    name += fromPath(target.filename());
    name += ".tmp-";
    name += std::to_string(pid);
    name += '-';
    name += std::to_string(counter.fetch_add(1));
    return name;
}

// Reads a regular file of at most maxBytes. error is set on failure.
std::optional<std::string> readBounded(const fs::path& path, std::uintmax_t maxBytes,
                                       std::string& error) {
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (ec) {
        error = "cannot read " + fromPath(path) + ": " + ec.message();
        return std::nullopt;
    }
    if (!fs::is_regular_file(status)) {
        error = fromPath(path) + " is not a regular file";
        return std::nullopt;
    }
    const auto size = fs::file_size(path, ec);
    if (ec) {
        error = "cannot read " + fromPath(path) + ": " + ec.message();
        return std::nullopt;
    }
    if (size > maxBytes) {
        error = fromPath(path) + " is " + std::to_string(size) + " bytes, over the limit of " +
                std::to_string(maxBytes);
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot open " + fromPath(path);
        return std::nullopt;
    }
    std::string text;
    text.reserve(static_cast<std::size_t>(size));
    // Read at most one byte past the bound so a file that grew meanwhile is still refused.
    char buffer[64 * 1024];
    while (in && text.size() <= maxBytes) {
        in.read(buffer, sizeof buffer);
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) {
        error = "error while reading " + fromPath(path);
        return std::nullopt;
    }
    if (text.size() > maxBytes) {
        error = fromPath(path) + " grew over the limit of " + std::to_string(maxBytes) + " bytes";
        return std::nullopt;
    }
    return text;
}

std::string recordFileName(std::uint64_t version) {
    std::string digits = std::to_string(version);
    if (digits.size() < 10) digits.insert(0, 10 - digits.size(), '0');
    return "v" + digits + ".json";
}

std::optional<std::uint64_t> versionFromFileName(const std::string& name) {
    if (name.size() < 7 || name.front() != 'v' || !name.ends_with(".json")) return std::nullopt;
    const auto digits = std::string_view(name).substr(1, name.size() - 6);
    if (digits.empty() || digits.size() > 19) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

void ensureDirectory(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return;
    fs::create_directories(dir, ec);
#ifndef _WIN32
    // History holds past configs: no more readable than the config folder itself.
    if (!ec) ::chmod(dir.c_str(), 0750);
#endif
}

}  // namespace

std::optional<std::string> writeFileAtomically(const std::string& pathUtf8,
                                               std::string_view bytes) {
    const fs::path target = toPath(pathUtf8);
    const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
    const fs::path temp = dir / toPath(tempNameFor(target));
#ifdef _WIN32
    const std::wstring wtemp = temp.wstring();
    const std::wstring wtarget = target.wstring();
    HANDLE h = CreateFileW(wtemp.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
        return "cannot create " + fromPath(temp) + ": " + lastErrorText(GetLastError());
    }
    auto fail = [&](std::string what) {
        const DWORD code = GetLastError();
        if (h != INVALID_HANDLE_VALUE) CloseHandle(h);
        DeleteFileW(wtemp.c_str());
        return std::optional<std::string>(what + ": " + lastErrorText(code));
    };
    std::size_t done = 0;
    while (done < bytes.size()) {
        const DWORD chunk =
            static_cast<DWORD>(std::min<std::size_t>(bytes.size() - done, 1u << 20));
        DWORD written = 0;
        if (!WriteFile(h, bytes.data() + done, chunk, &written, nullptr) || written == 0) {
            return fail("cannot write " + fromPath(temp));
        }
        done += written;
    }
    if (!FlushFileBuffers(h)) return fail("cannot flush " + fromPath(temp));
    if (!CloseHandle(h)) {
        h = INVALID_HANDLE_VALUE;
        return fail("cannot close " + fromPath(temp));
    }
    h = INVALID_HANDLE_VALUE;
    if (!MoveFileExW(wtemp.c_str(), wtarget.c_str(),
                     MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        return fail("cannot replace " + pathUtf8);
    }
    return std::nullopt;
#else
    // Keep the mode and group of the file we replace: the config is often group-readable.
    struct stat existing {};
    const bool hadTarget = ::stat(target.c_str(), &existing) == 0;
    const mode_t mode = hadTarget ? (existing.st_mode & 07777) : 0640;
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return "cannot create " + fromPath(temp) + ": " + std::strerror(errno);
    auto fail = [&](const std::string& what, int err, bool closeFd) {
        if (closeFd) ::close(fd);
        ::unlink(temp.c_str());
        return std::optional<std::string>(what + ": " + std::strerror(err));
    };
    if (hadTarget) {
        // Best effort: only root may give the file away, and failing here changes nothing.
        if (::fchown(fd, existing.st_uid, existing.st_gid) != 0) { /* keep our own owner */
        }
        ::fchmod(fd, mode);
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("cannot write " + fromPath(temp), errno, true);
        }
        if (n == 0) return fail("cannot write " + fromPath(temp), EIO, true);
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail("cannot flush " + fromPath(temp), errno, true);
    if (::close(fd) != 0) return fail("cannot close " + fromPath(temp), errno, false);
    if (::rename(temp.c_str(), target.c_str()) != 0) {
        return fail("cannot replace " + pathUtf8, errno, false);
    }
    // The rename is durable only once the folder's entry is on disk.
    const int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
    return std::nullopt;
#endif
}

FileConfigSource::FileConfigSource(std::string path, std::string historyDir)
    : path_(std::move(path)),
      historyDir_(historyDir.empty() ? path_ + ".history" : std::move(historyDir)) {}

std::string FileConfigSource::describe() const {
    return "file " + path_;
}

TextLoad FileConfigSource::loadText() {
    TextLoad out;
    out.text = readBounded(toPath(path_), config::kMaxConfigBytes, out.error);
    return out;
}

std::optional<std::string> FileConfigSource::storeText(std::string_view text) {
    if (text.size() > config::kMaxConfigBytes) {
        return "the document is " + std::to_string(text.size()) + " bytes, over the limit of " +
               std::to_string(config::kMaxConfigBytes);
    }
    return writeFileAtomically(path_, text);
}

HistoryLoad FileConfigSource::loadHistory() {
    HistoryLoad out;
    const fs::path dir = toPath(historyDir_);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    fs::directory_iterator it(dir, ec);
    if (ec) {
        out.problems.push_back("cannot list " + historyDir_ + ": " + ec.message());
        return out;
    }
    for (const auto& entry : it) {
        const std::string name = fromPath(entry.path().filename());
        const auto version = versionFromFileName(name);
        if (!version) continue;  // temp files and strangers
        std::string error;
        const auto text = readBounded(entry.path(), kMaxRecordBytes, error);
        if (!text) {
            out.problems.push_back(error);
            continue;
        }
        const auto doc = nlohmann::json::parse(*text, nullptr, false);
        const auto str = [&](const char* key) -> const std::string* {
            if (!doc.is_object()) return nullptr;
            const auto found = doc.find(key);
            return found != doc.end() && found->is_string() ? &found->get_ref<const std::string&>()
                                                            : nullptr;
        };
        if (doc.is_discarded() || !doc.is_object() || !str("text") || !doc.contains("version") ||
            !doc["version"].is_number_unsigned() ||
            doc["version"].get<std::uint64_t>() != *version) {
            out.problems.push_back(fromPath(entry.path()) + " is not a valid history record");
            continue;
        }
        VersionRecord record;
        record.version = *version;
        record.text = *str("text");
        if (const auto* who = str("applied_by")) record.appliedBy = *who;
        if (const auto* note = str("note")) record.note = *note;
        if (doc.contains("applied_at_ms") && doc["applied_at_ms"].is_number_integer())
            record.appliedAtMs = doc["applied_at_ms"].get<std::int64_t>();
        out.records.push_back(std::move(record));
    }
    std::sort(out.records.begin(), out.records.end(),
              [](const VersionRecord& a, const VersionRecord& b) { return a.version < b.version; });
    return out;
}

std::optional<std::string> FileConfigSource::storeRecord(const VersionRecord& record) {
    ensureDirectory(toPath(historyDir_));
    nlohmann::json doc = nlohmann::json::object();
    doc["version"] = record.version;
    doc["applied_by"] = record.appliedBy;
    doc["applied_at_ms"] = record.appliedAtMs;
    doc["note"] = record.note;
    doc["text"] = record.text;
    const std::string bytes =
        doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return writeFileAtomically(fromPath(toPath(historyDir_) / recordFileName(record.version)),
                               bytes);
}

void FileConfigSource::removeRecord(std::uint64_t version) {
    std::error_code ec;
    fs::remove(toPath(historyDir_) / recordFileName(version), ec);
}

}  // namespace proxy::config_store
