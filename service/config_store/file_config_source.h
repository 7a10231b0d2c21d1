#pragma once
// The config file as the source of truth. Writes are atomic: a temp file in the same folder,
// flushed to disk (fsync / FlushFileBuffers), then renamed over the target (rename(2) /
// MoveFileExW with MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH). History records live in a
// folder beside the file: /etc/proxy/config.json -> /etc/proxy/config.json.history/v00000001.json.

#include <string>

#include "config_store/config_source.h"

namespace proxy::config_store {

class FileConfigSource final : public ConfigSource {
  public:
    // `path` is UTF-8 (converted to UTF-16 on Windows). historyDir empty = "<path>.history".
    explicit FileConfigSource(std::string path, std::string historyDir = {});

    std::string describe() const override;
    TextLoad loadText() override;
    std::optional<std::string> storeText(std::string_view text) override;
    HistoryLoad loadHistory() override;
    std::optional<std::string> storeRecord(const VersionRecord& record) override;
    void removeRecord(std::uint64_t version) override;

    const std::string& path() const { return path_; }
    const std::string& historyDir() const { return historyDir_; }

  private:
    std::string path_;
    std::string historyDir_;
};

// The atomic write used above, exposed for tests and for other files that need the same care
// (temp + flush + rename in the target's folder). Returns an error sentence on failure, after
// removing the temp file; the target is then untouched.
std::optional<std::string> writeFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace proxy::config_store
