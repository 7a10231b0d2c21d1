#pragma once
// The config's source of truth at run time: the current version number, its text and validated
// snapshot, and the last N versions. Every change goes through apply(): validate, check the base
// version, persist atomically (record first, then the document), and only then publish the new
// snapshot to the listener (the engine's hot swap) and the observers (config.changed
// notifications). A failure at any step leaves both the running and the stored config unchanged.
//
// Thread-safe: one mutex serialises changes (so listeners see versions in order), another guards
// the readable state, so readers never wait for a slow disk. Not on the data path.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "config/validator.h"
#include "config_store/config_source.h"

namespace proxy::config_store {

struct ConfigStoreOptions {
    std::size_t historyLimit = 20;  // versions kept in memory and in the source (>= 1)
    // Defaults to proxy::config::loadConfig; tests may substitute one.
    std::function<config::LoadResult(std::string_view)> validator;
};

struct ApplyResult {
    enum class Status : std::uint8_t {
        Applied,       // a new version is live
        Unchanged,     // the text equals the current version's: nothing happened
        Invalid,       // diagnostics say why; nothing happened
        Conflict,      // baseVersion is not the current version; nothing happened
        NotFound,      // rollback/diff: the version is not in the history
        StorageError,  // the source refused the write; nothing happened
        NotOpen,       // open() has not succeeded yet
    };
    Status status = Status::NotOpen;
    std::uint64_t version = 0;  // Applied/Unchanged: the live version; otherwise the current one
    std::vector<config::Diagnostic> diagnostics;  // Invalid: all; Applied: warnings
    std::string message;                          // a sentence for failures
    bool ok() const { return status == Status::Applied || status == Status::Unchanged; }
};

struct ConfigChange {
    std::uint64_t version = 0;
    std::shared_ptr<const config::Config> config;
    std::string appliedBy;
    std::string note;
};

struct ConfigDiff {
    bool ok = false;
    std::string message;  // when !ok
    std::string text;     // unified diff of the pretty-printed documents ("" when equal)
    std::size_t added = 0;
    std::size_t removed = 0;
};

class ConfigStore {
  public:
    using Listener = std::function<void(std::shared_ptr<const config::Config>)>;
    using Observer = std::function<void(const ConfigChange&)>;
    // Runs after validation and before anything is persisted; an error sentence refuses the
    // change (status Invalid, the sentence as a diagnostic on the document). The engine uses it to
    // build its runtime snapshot early, so a config it cannot run is never stored.
    using Precheck = std::function<std::optional<std::string>(const config::Config&)>;

    explicit ConfigStore(std::unique_ptr<ConfigSource> source, ConfigStoreOptions options = {});
    ConfigStore(const ConfigStore&) = delete;
    ConfigStore& operator=(const ConfigStore&) = delete;

    // Loads the history and the document, validates it and makes it current. The version is the
    // newest record's if its text is the document's, otherwise a new version is recorded (the
    // file was edited while we were down). Listeners are not called: the caller starts with
    // current().config. Status Applied on success.
    ApplyResult open(const std::string& who = "startup");

    // The engine's hot swap, called with the new snapshot after it is persisted, on the thread
    // that applied it, with changes serialised. Set before open().
    void setListener(Listener listener);
    void setPrecheck(Precheck precheck);
    // Further observers (the control channel's config.changed). Returns an id for removeObserver.
    std::uint64_t addObserver(Observer observer);
    void removeObserver(std::uint64_t id);

    struct Current {
        std::uint64_t version = 0;  // 0 before open()
        std::string text;
        std::shared_ptr<const config::Config> config;
    };
    Current current() const;

    // Validates `text`; refuses when baseVersion is not current (pass current().version to
    // apply unconditionally); persists; publishes. `who` and `note` go to the history.
    ApplyResult apply(std::string_view text, std::uint64_t baseVersion, const std::string& who,
                      const std::string& note = {});
    // Applies the text of an earlier version as a new version. baseVersion as in apply();
    // std::nullopt skips the check.
    ApplyResult rollback(std::uint64_t version, std::optional<std::uint64_t> baseVersion,
                         const std::string& who);
    // Re-reads the source (SIGHUP, "reload") and applies it if it changed.
    ApplyResult reload(const std::string& who);

    // Line diff of two versions' pretty-printed JSON.
    ConfigDiff diff(std::uint64_t from, std::uint64_t to) const;
    // Oldest first, the current version last.
    std::vector<VersionRecord> history() const;
    std::optional<VersionRecord> record(std::uint64_t version) const;

    // {"version", "source", "history": [versions], "history_limit", "problems": [...]}
    nlohmann::json dumpState() const;

    const ConfigSource& source() const { return *source_; }

  private:
    ApplyResult commit(std::string_view text, config::LoadResult loaded, const std::string& who,
                       const std::string& note);  // applyMutex_ held
    ApplyResult failure(ApplyResult::Status status, std::string message) const;

    std::unique_ptr<ConfigSource> source_;
    ConfigStoreOptions options_;

    std::mutex applyMutex_;  // serialises open/apply/rollback/reload, listener calls included
    Listener listener_;      // guarded by applyMutex_
    Precheck precheck_;      // guarded by applyMutex_
    std::map<std::uint64_t, Observer> observers_;  // guarded by observersMutex_
    std::uint64_t nextObserverId_ = 1;
    mutable std::mutex observersMutex_;

    mutable std::mutex stateMutex_;  // guards everything below; never held across I/O
    bool open_ = false;
    std::uint64_t version_ = 0;
    std::string text_;
    std::shared_ptr<const config::Config> config_;
    std::vector<VersionRecord> history_;  // oldest first, at most historyLimit
    std::vector<std::string> problems_;   // skipped history records, from open()
};

// "alice" style helpers for history entries are the caller's business; this one formats
// appliedAtMs as ISO 8601 UTC ("2026-11-27T11:50:45.123Z").
std::string formatTimestamp(std::int64_t epochMs);

}  // namespace proxy::config_store
