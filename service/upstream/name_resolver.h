#pragma once
// Resolves the DNS names that upstream servers are given by, off the data path, and keeps the
// answers for snapshot builds.
//
// One dedicated thread looks names up (getaddrinfo blocks, so it must never run on a worker or the
// control thread) and looks each one up again on its upstream's resolve_interval_seconds. A name
// that has never resolved, or whose last lookup failed, is retried sooner: after 1, 2, 4, ... s up
// to the interval. A failed lookup keeps the last good address set, and the failure is visible in
// status(). When any name's set changes, the change callback runs (on the resolver thread); the
// runtime then builds a new snapshot of the same config, which requests adopt as they do a reload,
// so exchanges in flight finish on the servers they started with.
//
// Only host names are kept here; each server's port is applied by the snapshot build.

#include <asio/ip/address.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace proxy::upstream {

// What a lookup of a host name gives: every address it has, or an error sentence.
using LookupResult = std::expected<std::vector<asio::ip::address>, std::string>;

// One blocking lookup of a host name. It runs only on the resolver's thread (or a detached one:
// detached_lookup.h). Tests inject their own.
using LookupFn = std::function<LookupResult(const std::string& host)>;

// getaddrinfo, through asio's synchronous resolver: A and AAAA answers, de-duplicated.
LookupResult systemLookup(const std::string& host);

// What a snapshot build asks: the addresses to use now for a host name (empty: none known yet).
using AddressSource = std::function<std::vector<asio::ip::address>(const std::string& host)>;

struct NameStatus {
    using WallClock = std::chrono::system_clock;
    std::string host;
    std::vector<asio::ip::address> addresses;  // the set in use: the last good answer, sorted
    std::chrono::seconds interval{0};
    bool resolved = false;       // some lookup has succeeded
    std::string error;           // the last lookup's failure; empty when it succeeded
    std::uint32_t failures = 0;  // consecutive failed lookups
    WallClock::time_point lastAttempt{}, lastSuccess{}, lastChange{};  // epoch = never
};

class NameResolver {
  public:
    using Clock = std::chrono::steady_clock;

    explicit NameResolver(LookupFn lookup = systemLookup);  // starts the thread
    ~NameResolver();                                        // stop()
    NameResolver(const NameResolver&) = delete;
    NameResolver& operator=(const NameResolver&) = delete;

    // Runs on the resolver thread after any name's address set changed (not after a failure that
    // keeps the last good set). Set it before the first track(). It runs after the answer is
    // recorded, so it may still be running (or not yet have run) when track() returns with that
    // answer: callers compare generation() to see whether they already have it.
    void setChangeCallback(std::function<void()> callback);

    // Any thread. The names the config in use (or about to be) refers to, each with how often to
    // look it up again. New names are looked up at once, and this waits up to `wait` for their
    // first answers; names no longer listed are forgotten. Returns the names still without any
    // address when it returns.
    std::vector<std::string> track(const std::map<std::string, std::chrono::seconds>& names,
                                   std::chrono::milliseconds wait);

    // Any thread: the addresses to use now for `host` (empty when it never resolved).
    std::vector<asio::ip::address> addresses(const std::string& host) const;
    AddressSource source() const {
        return [this](const std::string& host) { return addresses(host); };
    }
    // Bumped by every change of any name's address set.
    std::uint64_t generation() const;
    std::vector<NameStatus> status() const;

    // Ends the thread (a lookup in progress is waited for). Idempotent.
    void stop();

  private:
    struct Entry {
        NameStatus status;
        Clock::time_point due{};  // next lookup
        bool wanted = true;
    };
    void run();
    // Applies one lookup's outcome; true when the address set changed.
    bool record(const std::string& host,
                const LookupResult& result);

    LookupFn lookup_;
    std::function<void()> onChange_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;      // the thread: the set of names or a due time changed
    std::condition_variable answered_;  // track(): a lookup finished
    std::map<std::string, Entry> entries_;
    std::uint64_t generation_ = 0;
    bool stopping_ = false;
    std::thread thread_;  // last: starts after everything above exists
};

}  // namespace proxy::upstream
