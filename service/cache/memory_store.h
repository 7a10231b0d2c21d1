#pragma once
// The memory store: a byte budget with least-recently-used eviction, shared by every worker. One
// mutex guards it; each call holds it for a hash lookup and a list splice (never across I/O, and
// never while bytes are copied: bodies are shared, not copied).

#include <list>
#include <mutex>
#include <unordered_map>

#include "cache/store.h"

namespace proxy::cache {

class MemoryStore final : public Store {
public:
    explicit MemoryStore(std::uint64_t budgetBytes) : budget_(budgetBytes) {}
    EntryPtr find(std::string_view key, const std::function<bool(const CachedResponse&)>& match) override;
    bool insert(EntryPtr entry) override;
    std::size_t erase(const std::function<bool(const CachedResponse&)>& which) override;
    void setBudget(std::uint64_t bytes) override;
    StoreStats stats() const override;

private:
    using Lru = std::list<EntryPtr>;  // front = most recently used
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    void removeLocked(Lru::iterator it);
    void evictLocked();

    mutable std::mutex mutex_;
    Lru lru_;
    std::unordered_map<std::string, std::vector<Lru::iterator>, StringHash, std::equal_to<>> index_;
    std::uint64_t bytes_ = 0;
    std::uint64_t budget_ = 0;
    std::uint64_t evictions_ = 0;
};

}  // namespace proxy::cache
