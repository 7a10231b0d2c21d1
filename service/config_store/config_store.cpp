#include "config_store/config_store.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "config_store/line_diff.h"

namespace proxy::config_store {

namespace {

std::int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::vector<config::Diagnostic> warningsOf(const std::vector<config::Diagnostic>& all) {
    std::vector<config::Diagnostic> out;
    for (const auto& d : all)
        if (d.severity == config::Diagnostic::Severity::Warning) out.push_back(d);
    return out;
}

// Pretty-printed with the document's own key order, so the diff follows what the user wrote. A
// text that is not JSON (an old record edited by hand) is diffed as it is.
std::string prettyPrinted(const std::string& text) {
    const auto doc = nlohmann::ordered_json::parse(text, nullptr, false);
    if (doc.is_discarded()) return text;
    return doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string formatTimestamp(std::int64_t epochMs) {
    const std::time_t seconds = static_cast<std::time_t>(epochMs / 1000);
    std::tm tm{};
#ifdef _WIN32
    if (gmtime_s(&tm, &seconds) != 0) return std::to_string(epochMs);
#else
    if (!gmtime_r(&seconds, &tm)) return std::to_string(epochMs);
#endif
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(epochMs % 1000));
    return buffer;
}

ConfigStore::ConfigStore(std::unique_ptr<ConfigSource> source, ConfigStoreOptions options)
    : source_(std::move(source)), options_(std::move(options)) {
    if (options_.historyLimit == 0) options_.historyLimit = 1;
    if (!options_.validator)
        options_.validator = [](std::string_view t) { return config::loadConfig(t); };
}

ApplyResult ConfigStore::failure(ApplyResult::Status status, std::string message) const {
    ApplyResult out;
    out.status = status;
    out.message = std::move(message);
    std::lock_guard lock(stateMutex_);
    out.version = version_;
    return out;
}

ApplyResult ConfigStore::open(const std::string& who) {
    std::lock_guard applyLock(applyMutex_);
    auto history = source_->loadHistory();
    auto loaded = source_->loadText();
    if (!loaded.text) return failure(ApplyResult::Status::StorageError, loaded.error);

    auto result = options_.validator(*loaded.text);
    if (!result.ok()) {
        ApplyResult out = failure(ApplyResult::Status::Invalid,
                                  source_->describe() + " is not a valid configuration");
        out.diagnostics = std::move(result.diagnostics);
        return out;
    }

    // Keep the newest historyLimit records; older ones are pruned from the source too.
    auto& records = history.records;
    while (records.size() > options_.historyLimit) {
        source_->removeRecord(records.front().version);
        records.erase(records.begin());
    }

    std::uint64_t version = 0;
    if (!records.empty() && records.back().text == *loaded.text) {
        version = records.back().version;
    } else {
        VersionRecord record;
        record.version = records.empty() ? 1 : records.back().version + 1;
        record.text = *loaded.text;
        record.appliedBy = who;
        record.appliedAtMs = nowMs();
        record.note = records.empty() ? "loaded from " + source_->describe()
                                      : "changed outside the control channel; loaded from " +
                                            source_->describe();
        // A read-only history (e.g. a read-only /etc) must not stop the service from starting.
        if (auto error = source_->storeRecord(record)) {
            history.problems.push_back("cannot record version " + std::to_string(record.version) +
                                       ": " + *error);
        }
        version = record.version;
        records.push_back(std::move(record));
        if (records.size() > options_.historyLimit) {
            source_->removeRecord(records.front().version);
            records.erase(records.begin());
        }
    }

    {
        std::lock_guard lock(stateMutex_);
        open_ = true;
        version_ = version;
        text_ = std::move(*loaded.text);
        config_ = result.config;
        history_ = std::move(records);
        problems_ = std::move(history.problems);
    }
    ApplyResult out;
    out.status = ApplyResult::Status::Applied;
    out.version = version;
    out.diagnostics = warningsOf(result.diagnostics);
    return out;
}

void ConfigStore::setListener(Listener listener) {
    std::lock_guard lock(applyMutex_);
    listener_ = std::move(listener);
}

void ConfigStore::setPrecheck(Precheck precheck) {
    std::lock_guard lock(applyMutex_);
    precheck_ = std::move(precheck);
}

std::uint64_t ConfigStore::addObserver(Observer observer) {
    std::lock_guard lock(observersMutex_);
    const auto id = nextObserverId_++;
    observers_.emplace(id, std::move(observer));
    return id;
}

void ConfigStore::removeObserver(std::uint64_t id) {
    // Taking applyMutex_ waits out a change in flight: after this returns the observer is never
    // called again. (So an observer must not remove itself from inside the callback.)
    std::lock_guard applyLock(applyMutex_);
    std::lock_guard lock(observersMutex_);
    observers_.erase(id);
}

ConfigStore::Current ConfigStore::current() const {
    std::lock_guard lock(stateMutex_);
    return Current{version_, text_, config_};
}

ApplyResult ConfigStore::apply(std::string_view text, std::uint64_t baseVersion,
                               const std::string& who, const std::string& note) {
    std::lock_guard applyLock(applyMutex_);
    {
        std::lock_guard lock(stateMutex_);
        if (!open_)
            return ApplyResult{ApplyResult::Status::NotOpen, 0, {}, "no configuration is loaded"};
    }
    auto loaded = options_.validator(text);
    if (!loaded.ok()) {
        ApplyResult out = failure(ApplyResult::Status::Invalid, "the configuration is invalid");
        out.diagnostics = std::move(loaded.diagnostics);
        return out;
    }
    {
        std::lock_guard lock(stateMutex_);
        if (baseVersion != version_) {
            return ApplyResult{ApplyResult::Status::Conflict,
                               version_,
                               {},
                               "base version " + std::to_string(baseVersion) +
                                   " is not the current version " + std::to_string(version_)};
        }
        if (text == text_) {
            return ApplyResult{
                ApplyResult::Status::Unchanged, version_, warningsOf(loaded.diagnostics), {}};
        }
    }
    return commit(text, std::move(loaded), who, note);
}

ApplyResult ConfigStore::commit(std::string_view text, config::LoadResult loaded,
                                const std::string& who, const std::string& note) {
    if (precheck_) {
        if (auto refusal = precheck_(*loaded.config)) {
            ApplyResult out = failure(ApplyResult::Status::Invalid, *refusal);
            out.diagnostics = loaded.diagnostics;
            out.diagnostics.push_back(
                config::Diagnostic{config::Diagnostic::Severity::Error, "", *refusal});
            return out;
        }
    }
    VersionRecord record;
    std::optional<std::uint64_t> prune;
    {
        std::lock_guard lock(stateMutex_);
        record.version =
            (history_.empty() ? version_ : std::max(version_, history_.back().version)) + 1;
        if (history_.size() >= options_.historyLimit) prune = history_.front().version;
    }
    record.text = std::string(text);
    record.appliedBy = who;
    record.appliedAtMs = nowMs();
    record.note = note;

    // The record goes first: if the document then fails to store, the record is taken back and
    // nothing changed. The other order could leave a live document with no record of who set it.
    if (auto error = source_->storeRecord(record)) {
        return failure(ApplyResult::Status::StorageError,
                       "cannot record the new version: " + *error);
    }
    if (auto error = source_->storeText(text)) {
        source_->removeRecord(record.version);
        return failure(ApplyResult::Status::StorageError,
                       "cannot store the configuration: " + *error);
    }
    if (prune) source_->removeRecord(*prune);

    const auto version = record.version;
    {
        std::lock_guard lock(stateMutex_);
        version_ = version;
        text_ = record.text;
        config_ = loaded.config;
        history_.push_back(std::move(record));
        while (history_.size() > options_.historyLimit) history_.erase(history_.begin());
    }

    if (listener_) listener_(loaded.config);
    std::vector<Observer> observers;
    {
        std::lock_guard lock(observersMutex_);
        for (const auto& [id, observer] : observers_) observers.push_back(observer);
    }
    const ConfigChange change{version, loaded.config, who, note};
    for (const auto& observer : observers) observer(change);

    ApplyResult out;
    out.status = ApplyResult::Status::Applied;
    out.version = version;
    out.diagnostics = warningsOf(loaded.diagnostics);
    return out;
}

ApplyResult ConfigStore::rollback(std::uint64_t version, std::optional<std::uint64_t> baseVersion,
                                  const std::string& who) {
    const auto target = record(version);
    if (!target) {
        return failure(ApplyResult::Status::NotFound,
                       "version " + std::to_string(version) + " is not in the history");
    }
    const auto base = baseVersion ? *baseVersion : current().version;
    return apply(target->text, base, who, "rollback to v" + std::to_string(version));
}

ApplyResult ConfigStore::reload(const std::string& who) {
    auto loaded = source_->loadText();
    if (!loaded.text) return failure(ApplyResult::Status::StorageError, loaded.error);
    std::lock_guard applyLock(applyMutex_);
    std::uint64_t base = 0;
    {
        std::lock_guard lock(stateMutex_);
        if (!open_)
            return ApplyResult{ApplyResult::Status::NotOpen, 0, {}, "no configuration is loaded"};
        base = version_;
        if (*loaded.text == text_)
            return ApplyResult{ApplyResult::Status::Unchanged, version_, {}, {}};
    }
    auto result = options_.validator(*loaded.text);
    if (!result.ok()) {
        ApplyResult out = failure(ApplyResult::Status::Invalid,
                                  source_->describe() + " is not a valid configuration; keeping v" +
                                      std::to_string(base));
        out.diagnostics = std::move(result.diagnostics);
        return out;
    }
    // The document is already in the source; only the record is new. Storing the text again is
    // harmless and keeps one code path.
    return commit(*loaded.text, std::move(result), who, "reloaded from " + source_->describe());
}

std::optional<VersionRecord> ConfigStore::record(std::uint64_t version) const {
    std::lock_guard lock(stateMutex_);
    for (const auto& r : history_)
        if (r.version == version) return r;
    return std::nullopt;
}

std::vector<VersionRecord> ConfigStore::history() const {
    std::lock_guard lock(stateMutex_);
    return history_;
}

ConfigDiff ConfigStore::diff(std::uint64_t from, std::uint64_t to) const {
    ConfigDiff out;
    const auto a = record(from);
    const auto b = record(to);
    if (!a || !b) {
        out.message = "version " + std::to_string(!a ? from : to) + " is not in the history";
        return out;
    }
    const auto d = unifiedDiff(prettyPrinted(a->text), prettyPrinted(b->text),
                               "v" + std::to_string(from), "v" + std::to_string(to));
    out.ok = true;
    out.text = d.text;
    out.added = d.added;
    out.removed = d.removed;
    return out;
}

nlohmann::json ConfigStore::dumpState() const {
    std::lock_guard lock(stateMutex_);
    nlohmann::json out = nlohmann::json::object();
    out["open"] = open_;
    out["version"] = version_;
    out["source"] = source_->describe();
    out["history_limit"] = options_.historyLimit;
    nlohmann::json versions = nlohmann::json::array();
    for (const auto& r : history_) versions.push_back(r.version);
    out["history"] = versions;
    out["problems"] = problems_;
    return out;
}

}  // namespace proxy::config_store
