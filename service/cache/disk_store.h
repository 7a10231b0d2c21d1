#pragma once
// The disk store (docs/cache.md, "Disk store") and the tiered store the cache uses when it is on.
//
// One file per stored variant (format: disk_entry.h) in one directory. An index in memory holds
// each file's key, URL, tags, Vary values, size and recency; it is rebuilt at start by a scan on
// the store's own thread, so a big cache never delays the start (until the scan reaches a file,
// its entry is a miss). The same thread writes: an insert is indexed at once, holding the entry
// itself until its file is written (to a temporary name, then renamed over the final one), so a
// lookup in between is answered from memory and a purge in between removes it. Pending writes are
// bounded in bytes; past the bound an insert is not written (counted). Reads for a hit happen on
// the worker that asks, bounded by max_object_kb plus the metadata: a read is one open and one
// read of a file no bigger than that. A file that fails its checks (magic, version, lengths,
// checksums) is deleted and counted as corrupt, and the request that found it is a miss.

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cache/memory_store.h"
#include "cache/store.h"

namespace proxy::cache {

struct DiskStats {
    bool enabled = false;
    bool available = false;   // false: the directory could not be used (error says why)
    bool scanning = false;    // the start-up scan is still running
    std::string path;
    std::string error;
    std::uint64_t entries = 0, bytes = 0, budget = 0, evictions = 0, corrupt = 0, writes = 0,
                  writeErrors = 0, writesSkipped = 0, reads = 0;
};

class DiskStore {
public:
    // %ProgramData%\proxy\cache on Windows, /var/cache/proxy elsewhere.
    static std::filesystem::path defaultPath();

    DiskStore(std::filesystem::path dir, std::uint64_t budgetBytes);
    ~DiskStore();
    DiskStore(const DiskStore&) = delete;
    DiskStore& operator=(const DiskStore&) = delete;

    // Creates the directory, proves it writable, starts the thread (scan, then writes). False
    // with a message when the directory cannot be used; the store then holds nothing.
    bool open(std::string& error);

    EntryPtr find(std::string_view key, const std::function<bool(const CachedResponse&)>& match);
    // Queues entry to be written; false when not queued (too big, over the pending bound, closed).
    bool put(EntryPtr entry);
    // Removes the entries which() selects (on their index data: key, URL, tags, Vary values; no
    // headers or body) and the files named in also. Returns how many entries which() selected.
    std::size_t erase(const std::function<bool(const CachedResponse&)>& which,
                      const std::unordered_set<std::string>& also);
    void setBudget(std::uint64_t bytes);
    DiskStats stats() const;
    const std::filesystem::path& path() const { return dir_; }
    // Waits until the scan and the queued writes are done (tests and orderly shutdown).
    void flush();

private:
    struct Item {
        EntryPtr meta;        // the entry itself while its write is pending, else index data only
        std::uint64_t size = 0;
        std::uint64_t generation = 0;  // which put() wrote it (a pending write of an older one is moot)
        bool pending = false;
        std::int64_t lastUse = 0;  // seconds since the epoch: the last hit, or the write
        std::list<std::string>::iterator lru;
    };
    struct Op {
        enum Kind : std::uint8_t { Write, Remove } kind;
        std::string name;
        EntryPtr entry;
        std::uint64_t generation = 0;
        std::uint64_t size = 0;  // what a Write adds to the pending bytes
    };
    void run();
    void scanSome(std::filesystem::directory_iterator& it, std::size_t max);
    void indexScanned(const std::filesystem::path& file);
    void write(const Op& op);
    void removeLocked(std::unordered_map<std::string, Item>::iterator it, bool queueDelete);
    void evictLocked();
    void dropCorrupt(const std::string& name, std::uint64_t generation);
    std::filesystem::path fileOf(const std::string& name) const { return dir_ / name; }

    const std::filesystem::path dir_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::deque<Op> ops_;
    std::uint64_t pendingBytes_ = 0;
    std::unordered_map<std::string, Item> items_;  // by file name
    std::unordered_map<std::string, std::vector<std::string>> byKey_;  // primary key -> file names
    std::list<std::string> lru_;  // front = most recently used
    std::uint64_t bytes_ = 0, budget_ = 0, generation_ = 0;
    DiskStats counters_;
    bool stop_ = false, busy_ = false, open_ = false;
    std::thread thread_;
};

// Memory in front of disk: a lookup tries memory, then disk (a disk hit is copied into memory);
// an insert goes to both; an erase to both.
class TieredStore final : public Store {
public:
    explicit TieredStore(std::uint64_t memoryBudget) : memory_(memoryBudget) {}
    EntryPtr find(std::string_view key, const std::function<bool(const CachedResponse&)>& match) override;
    bool insert(EntryPtr entry) override;
    std::size_t erase(const std::function<bool(const CachedResponse&)>& which) override;
    void setBudget(std::uint64_t bytes) override { memory_.setBudget(bytes); }
    StoreStats stats() const override { return memory_.stats(); }

    // Replaces the disk tier (null: memory only). The old one finishes its writes first.
    void setDisk(std::shared_ptr<DiskStore> disk);
    std::shared_ptr<DiskStore> disk() const;

private:
    MemoryStore memory_;
    mutable std::mutex diskMutex_;
    std::shared_ptr<DiskStore> disk_;
};

}  // namespace proxy::cache
