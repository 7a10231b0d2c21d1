#include "cache/memory_store.h"

#include <algorithm>

namespace proxy::cache {

std::uint64_t CachedResponse::cost() const {
    std::uint64_t n = 256 + primaryKey.size() * 2 + url.size() + reason.size() + etag.size() +
                      lastModified.size();
    for (const auto& [k, v] : headers) n += k.size() + v.size() + 32;
    for (const auto& t : tags) n += t.size() + 32;
    for (const auto& [k, v] : vary.fields) n += k.size() + v.size() + 32;
    if (body) n += body->size();
    return n;
}

const std::string* CachedResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (k.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < k.size() && same; ++i) {
            char a = k[i], b = name[i];
            if (a >= 'A' && a <= 'Z') a = static_cast<char>(a + 32);
            if (b >= 'A' && b <= 'Z') b = static_cast<char>(b + 32);
            same = a == b;
        }
        if (same) return &v;
    }
    return nullptr;
}

EntryPtr MemoryStore::find(std::string_view key, const std::function<bool(const CachedResponse&)>& match) {
    std::lock_guard lock(mutex_);
    const auto found = index_.find(key);
    if (found == index_.end()) return nullptr;
    for (Lru::iterator it : found->second) {
        if (!match(**it)) continue;
        lru_.splice(lru_.begin(), lru_, it);  // iterators stay valid
        return *it;
    }
    return nullptr;
}

void MemoryStore::removeLocked(Lru::iterator it) {
    const auto found = index_.find((*it)->primaryKey);
    if (found != index_.end()) {
        auto& variants = found->second;
        variants.erase(std::remove(variants.begin(), variants.end(), it), variants.end());
        if (variants.empty()) index_.erase(found);
    }
    bytes_ -= (*it)->cost();
    lru_.erase(it);
}

void MemoryStore::evictLocked() {
    while (bytes_ > budget_ && !lru_.empty()) {
        removeLocked(std::prev(lru_.end()));
        ++evictions_;
    }
}

bool MemoryStore::insert(EntryPtr entry) {
    const std::uint64_t cost = entry->cost();
    std::lock_guard lock(mutex_);
    if (cost > budget_) return false;
    auto& variants = index_[entry->primaryKey];
    for (Lru::iterator it : variants) {
        if ((*it)->vary == entry->vary) {
            bytes_ -= (*it)->cost();
            *it = std::move(entry);
            bytes_ += cost;
            lru_.splice(lru_.begin(), lru_, it);
            evictLocked();
            return true;
        }
    }
    lru_.push_front(std::move(entry));
    variants.push_back(lru_.begin());
    bytes_ += cost;
    evictLocked();
    return true;
}

std::size_t MemoryStore::erase(const std::function<bool(const CachedResponse&)>& which) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto it = lru_.begin(); it != lru_.end();) {
        const auto next = std::next(it);
        if (which(**it)) {
            removeLocked(it);
            ++n;
        }
        it = next;
    }
    return n;
}

void MemoryStore::setBudget(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    budget_ = bytes;
    evictLocked();
}

StoreStats MemoryStore::stats() const {
    std::lock_guard lock(mutex_);
    return {lru_.size(), bytes_, budget_, evictions_};
}

}  // namespace proxy::cache
