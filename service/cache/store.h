#pragma once
// What the cache stores, and the storage interface. A CachedResponse is immutable once stored and
// shared (std::shared_ptr<const>) between the store and the exchanges serving it, so a purge or an
// eviction never pulls bytes from under a client that is still being sent them.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/cache_control.h"
#include "cache/cache_key.h"
#include "cache/freshness.h"

namespace proxy::cache {

struct CachedResponse {
    std::string primaryKey;       // the URL key plus the route's key parts
    std::string url;              // the URL key alone ("http://host/path?query"), for purges
    std::vector<std::string> tags;  // from the route's tag header, for purges
    VaryValues vary;              // the fields it varies on, with the storing request's values
    int status = 200;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;  // no framing, no hop-by-hop fields
    std::shared_ptr<const std::string> body;
    ResponseDirectives directives;
    AgeInputs age;
    Seconds lifetime = 0;
    std::string etag;          // "" when none
    std::string lastModified;  // "" when none

    // What it costs the store's budget: bytes held plus a fixed overhead per entry.
    std::uint64_t cost() const;
    const std::string* header(std::string_view name) const;  // the first field called name
};

struct StoreStats {
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
    std::uint64_t budget = 0;
    std::uint64_t evictions = 0;
};

using EntryPtr = std::shared_ptr<const CachedResponse>;

class Store {
public:
    virtual ~Store() = default;
    // The variant of key that match() accepts, marked as recently used; null when none.
    virtual EntryPtr find(std::string_view key, const std::function<bool(const CachedResponse&)>& match) = 0;
    // Stores entry, replacing a variant of the same key with equal Vary values, then evicts the
    // least recently used entries until the budget holds. False when the entry alone exceeds it.
    virtual bool insert(EntryPtr entry) = 0;
    // Removes every entry which() selects; returns how many.
    virtual std::size_t erase(const std::function<bool(const CachedResponse&)>& which) = 0;
    virtual void setBudget(std::uint64_t bytes) = 0;
    virtual StoreStats stats() const = 0;
};

}  // namespace proxy::cache
