#pragma once
// Where the config text lives. The store (config_store.h) owns versions and validation; a source
// only loads and stores text, atomically, plus the records of past versions. FileConfigSource is
// the one we ship; an etcd or Consul source would implement the same five calls.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::config_store {

// One applied version, as kept in the history.
struct VersionRecord {
    std::uint64_t version = 0;
    std::string text;              // the config document exactly as applied
    std::string appliedBy;         // "uid 1000 (alice)", "startup", "DOMAIN\\user", ...
    std::int64_t appliedAtMs = 0;  // Unix epoch milliseconds (UTC)
    std::string note;              // "rollback to v3", "loaded from /etc/proxy/config.json", ...
};

struct TextLoad {
    std::optional<std::string> text;  // set on success
    std::string error;                // why not, on failure
};

struct HistoryLoad {
    std::vector<VersionRecord> records;  // oldest first
    std::vector<std::string> problems;   // unreadable records that were skipped
};

class ConfigSource {
  public:
    virtual ~ConfigSource() = default;

    // For messages: "file /etc/proxy/config.json".
    virtual std::string describe() const = 0;

    // The current document. Bounded by config::kMaxConfigBytes.
    virtual TextLoad loadText() = 0;

    // Replaces the document atomically: after a failure (returned message) the previous document
    // is intact; after success the new one is durable.
    virtual std::optional<std::string> storeText(std::string_view text) = 0;

    // Version records. A missing history is an empty one, not an error.
    virtual HistoryLoad loadHistory() = 0;
    virtual std::optional<std::string> storeRecord(const VersionRecord& record) = 0;
    // Best effort (pruning old versions, undoing a record whose document failed to store).
    virtual void removeRecord(std::uint64_t version) = 0;
};

}  // namespace proxy::config_store
