#include "cache/cache.h"

#include <algorithm>

#include "cache/memory_store.h"
#include "logging/log.h"

namespace proxy::cache {

Cache::Cache(const config::CacheStorage& settings)
    : store_(std::make_unique<TieredStore>(settings.memoryMb * 1024 * 1024)) {
    configure(settings);
}

void Cache::configure(const config::CacheStorage& settings) {
    maxObject_.store(settings.maxObjectKb * 1024, std::memory_order_relaxed);
    collapseMs_.store(settings.collapseTimeout.count(), std::memory_order_relaxed);
    store_->setBudget(settings.memoryMb * 1024 * 1024);
    if (!settings.diskEnabled) {
        store_->setDisk(nullptr);
        return;
    }
    // The configured path is UTF-8; path(u8string) keeps it so on Windows (wide API underneath).
    const std::filesystem::path dir =
        settings.diskPath.empty()
            ? DiskStore::defaultPath()
            : std::filesystem::path(std::u8string(settings.diskPath.begin(), settings.diskPath.end()));
    const std::uint64_t budget = settings.diskMaxMb * 1024 * 1024;
    if (const auto current = store_->disk(); current && current->path() == dir && current->stats().available) {
        current->setBudget(budget);
        return;
    }
    auto disk = std::make_shared<DiskStore>(dir, budget);
    std::string error;
    if (disk->open(error))
        logging::log(logging::Level::Info, "cache: disk store in %s (%llu MiB)", disk->stats().path.c_str(),
                     static_cast<unsigned long long>(settings.diskMaxMb));
    else
        logging::log(logging::Level::Error, "cache: the disk store is off, caching in memory only: %s",
                     error.c_str());
    store_->setDisk(std::move(disk));
}

DiskStats Cache::diskStats() const {
    const auto disk = store_->disk();
    return disk ? disk->stats() : DiskStats{};
}

std::shared_ptr<Fill> Cache::joinFill(const std::string& key, bool& leader) {
    std::lock_guard lock(fillsMutex_);
    auto [it, inserted] = fills_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Fill>();
    leader = inserted;
    return it->second;
}

bool Cache::fillRunning(const std::string& key) const {
    std::lock_guard lock(fillsMutex_);
    return fills_.contains(key);
}

void Cache::finishFill(const std::string& key, const std::shared_ptr<Fill>& fill, bool stored) {
    // Publish the outcome first, then leave the table: a waiter that sees the state re-looks the
    // store, which already holds the entry.
    fill->state.store(stored ? Fill::Stored : Fill::NotStored, std::memory_order_release);
    std::lock_guard lock(fillsMutex_);
    if (auto it = fills_.find(key); it != fills_.end() && it->second == fill) fills_.erase(it);
}

std::size_t Cache::fillsInProgress() const {
    std::lock_guard lock(fillsMutex_);
    return fills_.size();
}

std::size_t Cache::purge(PurgeKind kind, std::string_view value) {
    std::size_t n = 0;
    switch (kind) {
        case PurgeKind::Url: {
            const std::string url = normalizePurgeUrl(value);
            if (url.empty()) return 0;
            n = store_->erase([&](const CachedResponse& e) { return e.url == url; });
            break;
        }
        case PurgeKind::Prefix: {
            const std::string prefix = normalizePurgeUrl(value);
            if (prefix.empty()) return 0;
            n = store_->erase([&](const CachedResponse& e) { return e.url.starts_with(prefix); });
            break;
        }
        case PurgeKind::Tag:
            if (value.empty()) return 0;
            n = store_->erase([&](const CachedResponse& e) {
                return std::find(e.tags.begin(), e.tags.end(), value) != e.tags.end();
            });
            break;
    }
    counters_.purged.fetch_add(n, std::memory_order_relaxed);
    return n;
}

std::string normalizePurgeUrl(std::string_view text) {
    bool tls = false;
    if (text.starts_with("https://")) {
        tls = true;
        text.remove_prefix(8);
    } else if (text.starts_with("http://")) {
        text.remove_prefix(7);
    }
    const std::size_t slash = text.find('/');
    const std::string_view host = text.substr(0, slash);
    if (host.empty()) return {};
    for (char c : host)
        if (static_cast<unsigned char>(c) <= 0x20 || c == '@') return {};
    std::string_view rest = slash == std::string_view::npos ? "/" : text.substr(slash);
    std::string_view path = rest, query;
    if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
        path = rest.substr(0, q);
        query = rest.substr(q + 1);
    }
    return urlKey(tls, host, path, query, KeyRules{});
}

}  // namespace proxy::cache
