#include "cache/disk_store.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <system_error>

#include "cache/disk_entry.h"

namespace proxy::cache {

namespace fs = std::filesystem;

namespace {

// Inserts whose writes are still queued hold their bodies in memory: at most this many bytes.
constexpr std::uint64_t kMaxPendingBytes = 64ull * 1024 * 1024;
constexpr std::size_t kScanBatch = 256;  // files indexed between two looks at the write queue

std::int64_t nowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Index data only: what erase() and find() match on.
EntryPtr indexData(const CachedResponse& e) {
    auto m = std::make_shared<CachedResponse>();
    m->primaryKey = e.primaryKey;
    m->url = e.url;
    m->tags = e.tags;
    m->vary = e.vary;
    return m;
}

bool readExactly(std::ifstream& in, std::string& out, std::size_t n) {
    out.resize(n);
    in.read(out.data(), static_cast<std::streamsize>(n));
    return static_cast<std::size_t>(in.gcount()) == n;
}

std::string pathText(const fs::path& p) {
    const std::u8string u = p.u8string();
    return std::string(u.begin(), u.end());
}

}  // namespace

fs::path DiskStore::defaultPath() {
#ifdef _WIN32
    if (const wchar_t* programData = _wgetenv(L"ProgramData"); programData != nullptr && *programData != 0)
        return fs::path(programData) / L"proxy" / L"cache";
    return fs::path(L"C:\\ProgramData\\proxy\\cache");
#else
    return fs::path("/var/cache/proxy");
#endif
}

DiskStore::DiskStore(fs::path dir, std::uint64_t budgetBytes) : dir_(std::move(dir)), budget_(budgetBytes) {
    counters_.enabled = true;
    counters_.path = pathText(dir_);
}

DiskStore::~DiskStore() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool DiskStore::open(std::string& error) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec || !fs::is_directory(dir_, ec)) {
        error = "cannot create the cache directory " + pathText(dir_) + (ec ? ": " + ec.message() : "");
    } else {
        // Prove it is writable now rather than at the first store.
        const fs::path probe = dir_ / "write-test.tmp";
        {
            std::ofstream out(probe, std::ios::binary | std::ios::trunc);
            out << "proxy";
            if (!out.good()) error = "cannot write in the cache directory " + pathText(dir_);
        }
        fs::remove(probe, ec);
    }
    std::lock_guard lock(mutex_);
    if (!error.empty()) {
        counters_.error = error;
        return false;
    }
    open_ = true;
    counters_.available = true;
    counters_.scanning = true;
    thread_ = std::thread([this] { run(); });
    return true;
}

void DiskStore::run() {
    std::error_code ec;
    fs::directory_iterator it(dir_, ec);
    bool scanning = !ec;
    if (!scanning) {
        std::lock_guard lock(mutex_);
        counters_.scanning = false;
    }
    for (;;) {
        if (scanning) {
            scanSome(it, kScanBatch);
            if (it == fs::directory_iterator()) {
                scanning = false;
                std::lock_guard lock(mutex_);
                counters_.scanning = false;
                // Recency after a restart is the files' write times; what was used since the
                // start is newer still.
                std::vector<std::pair<std::int64_t, std::string>> order;
                lru_.clear();
                for (auto& [name, item] : items_) order.emplace_back(item.lastUse, name);
                std::sort(order.begin(), order.end(), std::greater<>());
                for (auto& [t, name] : order) {
                    lru_.push_back(name);
                    items_[name].lru = std::prev(lru_.end());
                }
                evictLocked();
                if (ops_.empty()) idle_.notify_all();
            }
        }
        Op op;
        {
            std::unique_lock lock(mutex_);
            if (stop_) scanning = false;
            if (!scanning) wake_.wait(lock, [&] { return stop_ || !ops_.empty(); });
            if (ops_.empty()) {
                if (!scanning) {
                    idle_.notify_all();
                    if (stop_) break;
                }
                continue;
            }
            op = std::move(ops_.front());
            ops_.pop_front();
            busy_ = true;
        }
        if (op.kind == Op::Write) {
            write(op);
        } else {
            fs::remove(fileOf(op.name), ec);
        }
        {
            std::lock_guard lock(mutex_);
            busy_ = false;
            if (op.kind == Op::Write) pendingBytes_ -= op.size;
            if (ops_.empty() && !scanning) idle_.notify_all();
        }
    }
}

void DiskStore::scanSome(fs::directory_iterator& it, std::size_t max) {
    std::error_code ec;
    for (std::size_t n = 0; n < max && it != fs::directory_iterator(); ++n) {
        const fs::path file = it->path();
        const bool regular = it->is_regular_file(ec);
        it.increment(ec);
        if (ec) {
            it = fs::directory_iterator();
            return;
        }
        if (!regular) continue;
        const std::string name = pathText(file.filename());
        if (name.ends_with(".tmp")) {
            fs::remove(file, ec);  // a write cut short (a crash); only this thread writes them
        } else if (name.ends_with(".pce")) {
            indexScanned(file);
        }
        // Other files are not the store's: left alone, never deleted.
    }
}

void DiskStore::indexScanned(const fs::path& file) {
    const std::string name = pathText(file.filename());
    std::error_code ec;
    const std::uint64_t size = fs::file_size(file, ec);
    if (ec) return;
    CachedResponse meta;
    DiskEntryError why = DiskEntryError::None;
    DiskEntryHead head;
    bool ok = false;
    {
        std::ifstream in(file, std::ios::binary);
        std::string prefix;
        if (in && readExactly(in, prefix, kDiskHeadSize)) {
            if (const auto parsed = parseDiskHead(prefix, why)) {
                std::string rest;
                const std::size_t more = std::size_t{parsed->keyLength} + parsed->metaLength;
                if (size >= parsed->fileSize() && readExactly(in, rest, more)) prefix += rest;
                ok = decodeDiskMeta(prefix, size, head, meta, why) &&
                     diskFileName(meta.primaryKey, meta.vary) == name;
                if (!ok && why == DiskEntryError::None) why = DiskEntryError::Meta;  // misnamed
            }
        } else {
            why = DiskEntryError::Short;
        }
    }
    std::lock_guard lock(mutex_);
    if (items_.contains(name)) return;  // put since the start: newer than the file
    if (!ok) {
        ++counters_.corrupt;
        ops_.push_back(Op{Op::Remove, name, nullptr, 0, 0});
        return;
    }
    Item item;
    item.meta = indexData(meta);
    item.size = size;
    fs::file_time_type written = fs::last_write_time(file, ec);
    item.lastUse = ec ? 0
                      : std::chrono::duration_cast<std::chrono::seconds>(
                            (written - fs::file_time_type::clock::now()) + std::chrono::system_clock::now().time_since_epoch())
                            .count();
    lru_.push_back(name);
    item.lru = std::prev(lru_.end());
    byKey_[meta.primaryKey].push_back(name);
    bytes_ += size;
    items_.emplace(name, std::move(item));
}

void DiskStore::write(const Op& op) {
    {
        std::lock_guard lock(mutex_);
        const auto it = items_.find(op.name);
        if (it == items_.end() || it->second.generation != op.generation) return;  // moot
    }
    const std::string bytes = encodeDiskEntry(*op.entry);
    const fs::path final = fileOf(op.name);
    const fs::path temp = fileOf(op.name + "." + std::to_string(op.generation) + ".tmp");
    bool ok = !bytes.empty();
    if (ok) {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.close();
        ok = !out.fail();
    }
    std::error_code ec;
    if (ok) {
        fs::rename(temp, final, ec);  // atomic replace (MoveFileExW with REPLACE_EXISTING on Windows)
        ok = !ec;
    }
    if (!ok) fs::remove(temp, ec);
    std::lock_guard lock(mutex_);
    const auto it = items_.find(op.name);
    if (!ok) {
        ++counters_.writeErrors;
        if (it != items_.end() && it->second.generation == op.generation) removeLocked(it, false);
        return;
    }
    ++counters_.writes;
    if (it != items_.end() && it->second.generation == op.generation) {
        bytes_ = bytes_ - it->second.size + bytes.size();
        it->second.size = bytes.size();
        it->second.meta = indexData(*op.entry);  // the body now lives in the file
        it->second.pending = false;
        evictLocked();
    }
    // Else it was erased or replaced meanwhile: the Remove or the newer Write queued after this
    // one deals with the file.
}

void DiskStore::removeLocked(std::unordered_map<std::string, Item>::iterator it, bool queueDelete) {
    const std::string name = it->first;
    if (auto k = byKey_.find(it->second.meta->primaryKey); k != byKey_.end()) {
        auto& names = k->second;
        names.erase(std::remove(names.begin(), names.end(), name), names.end());
        if (names.empty()) byKey_.erase(k);
    }
    bytes_ -= it->second.size;
    lru_.erase(it->second.lru);
    items_.erase(it);
    if (queueDelete) {
        ops_.push_back(Op{Op::Remove, name, nullptr, 0, 0});
        wake_.notify_one();
    }
}

void DiskStore::evictLocked() {
    while (bytes_ > budget_ && !lru_.empty()) {
        removeLocked(items_.find(lru_.back()), true);
        ++counters_.evictions;
    }
}

void DiskStore::dropCorrupt(const std::string& name, std::uint64_t generation) {
    std::lock_guard lock(mutex_);
    ++counters_.corrupt;
    const auto it = items_.find(name);
    if (it != items_.end() && it->second.generation == generation) removeLocked(it, true);
}

EntryPtr DiskStore::find(std::string_view key, const std::function<bool(const CachedResponse&)>& match) {
    std::string name;
    std::uint64_t generation = 0, size = 0;
    {
        std::lock_guard lock(mutex_);
        if (!open_) return nullptr;
        const auto k = byKey_.find(std::string(key));
        if (k == byKey_.end()) return nullptr;
        for (const std::string& candidate : k->second) {
            Item& item = items_.at(candidate);
            if (!match(*item.meta)) continue;
            lru_.splice(lru_.begin(), lru_, item.lru);
            item.lastUse = nowSeconds();
            if (item.pending) return item.meta;  // not written yet: the entry itself
            name = candidate;
            generation = item.generation;
            size = item.size;
            break;
        }
    }
    if (name.empty()) return nullptr;
    // One open and one read of a file no bigger than max_object_kb plus the metadata.
    std::string bytes;
    bool opened = false;
    {
        std::ifstream in(fileOf(name), std::ios::binary);
        opened = static_cast<bool>(in);
        if (opened) {
            in.seekg(0, std::ios::end);
            const std::streamoff actual = in.tellg();
            in.seekg(0);
            if (actual >= 0 && static_cast<std::uint64_t>(actual) <= size + kDiskMaxMeta)
                readExactly(in, bytes, static_cast<std::size_t>(actual));
        }
    }
    if (!opened) {  // deleted under us (an eviction, or by hand): forget it
        std::lock_guard lock(mutex_);
        const auto it = items_.find(name);
        if (it != items_.end() && it->second.generation == generation) removeLocked(it, false);
        return nullptr;
    }
    auto entry = std::make_shared<CachedResponse>();
    DiskEntryError why = DiskEntryError::None;
    if (!decodeDiskEntry(bytes, *entry, why)) {
        dropCorrupt(name, generation);
        return nullptr;
    }
    if (entry->primaryKey != key || !match(*entry)) return nullptr;  // replaced by another variant
    std::lock_guard lock(mutex_);
    ++counters_.reads;
    return entry;
}

bool DiskStore::put(EntryPtr entry) {
    const std::string name = diskFileName(entry->primaryKey, entry->vary);
    const std::uint64_t size = entry->cost();
    std::lock_guard lock(mutex_);
    if (!open_ || stop_) return false;
    if (size > budget_ || pendingBytes_ + size > kMaxPendingBytes) {
        ++counters_.writesSkipped;
        return false;
    }
    if (const auto old = items_.find(name); old != items_.end()) removeLocked(old, false);
    Item item;
    item.meta = entry;
    item.size = size;
    item.generation = ++generation_;
    item.pending = true;
    item.lastUse = nowSeconds();
    lru_.push_front(name);
    item.lru = lru_.begin();
    byKey_[entry->primaryKey].push_back(name);
    bytes_ += size;
    ops_.push_back(Op{Op::Write, name, std::move(entry), item.generation, size});
    items_.emplace(name, std::move(item));
    pendingBytes_ += size;
    evictLocked();
    wake_.notify_one();
    return true;
}

std::size_t DiskStore::erase(const std::function<bool(const CachedResponse&)>& which,
                             const std::unordered_set<std::string>& also) {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (auto it = items_.begin(); it != items_.end();) {
        const auto next = std::next(it);
        const bool named = also.contains(it->first);
        if (named || which(*it->second.meta)) {
            if (!named) ++n;
            removeLocked(it, true);
        }
        it = next;
    }
    return n;
}

void DiskStore::setBudget(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    budget_ = bytes;
    evictLocked();
}

DiskStats DiskStore::stats() const {
    std::lock_guard lock(mutex_);
    DiskStats s = counters_;
    s.entries = items_.size();
    s.bytes = bytes_;
    s.budget = budget_;
    return s;
}

void DiskStore::flush() {
    std::unique_lock lock(mutex_);
    if (!open_) return;
    idle_.wait(lock, [&] { return ops_.empty() && !busy_ && !counters_.scanning; });
}

// ---- TieredStore --------------------------------------------------------------------------------

EntryPtr TieredStore::find(std::string_view key, const std::function<bool(const CachedResponse&)>& match) {
    if (EntryPtr hit = memory_.find(key, match)) return hit;
    const auto disk = this->disk();
    if (!disk) return nullptr;
    EntryPtr hit = disk->find(key, match);
    if (hit) memory_.insert(hit);  // hot again: the next hit is a memory hit
    return hit;
}

bool TieredStore::insert(EntryPtr entry) {
    const bool inMemory = memory_.insert(entry);
    const auto disk = this->disk();
    const bool onDisk = disk && disk->put(std::move(entry));
    return inMemory || onDisk;
}

std::size_t TieredStore::erase(const std::function<bool(const CachedResponse&)>& which) {
    const auto disk = this->disk();
    std::unordered_set<std::string> names;
    const std::size_t n = memory_.erase([&](const CachedResponse& e) {
        if (!which(e)) return false;
        if (disk) names.insert(diskFileName(e.primaryKey, e.vary));
        return true;
    });
    return n + (disk ? disk->erase(which, names) : 0);
}

void TieredStore::setDisk(std::shared_ptr<DiskStore> disk) {
    std::shared_ptr<DiskStore> old;
    {
        std::lock_guard lock(diskMutex_);
        old = std::exchange(disk_, std::move(disk));
    }
    // old (when this held the last reference) finishes its queued writes as it is destroyed here.
}

std::shared_ptr<DiskStore> TieredStore::disk() const {
    std::lock_guard lock(diskMutex_);
    return disk_;
}

}  // namespace proxy::cache
