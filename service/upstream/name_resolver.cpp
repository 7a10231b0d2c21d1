#include "upstream/name_resolver.h"

#include <algorithm>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "logging/log.h"

namespace proxy::upstream {
namespace {

std::string joined(const std::vector<asio::ip::address>& addresses) {
    if (addresses.empty()) return "none";
    std::string out;
    for (const auto& a : addresses) {
        if (!out.empty()) out += ", ";
        out += a.to_string();
    }
    return out;
}

// After `failures` failed lookups in a row: 1, 2, 4, ... s, never longer than the interval.
std::chrono::seconds retryDelay(std::uint32_t failures, std::chrono::seconds interval) {
    const std::uint32_t shift = std::min<std::uint32_t>(failures > 0 ? failures - 1 : 0, 10);
    return std::min(std::chrono::seconds(1u << shift), interval);
}

}  // namespace

LookupResult systemLookup(const std::string& host) {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    asio::error_code ec;
    const auto results = resolver.resolve(host, "80", ec);
    if (ec) return std::unexpected(ec.message());
    std::vector<asio::ip::address> out;
    for (const auto& entry : results) out.push_back(entry.endpoint().address());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (out.empty()) return std::unexpected(std::string("the name has no addresses"));
    return out;
}

NameResolver::NameResolver(LookupFn lookup) : lookup_(std::move(lookup)) {
    thread_ = std::thread([this] { run(); });
}

NameResolver::~NameResolver() { stop(); }

void NameResolver::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    answered_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void NameResolver::setChangeCallback(std::function<void()> callback) {
    std::lock_guard lock(mutex_);
    onChange_ = std::move(callback);
}

std::vector<std::string> NameResolver::track(const std::map<std::string, std::chrono::seconds>& names,
                                             std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    const auto now = Clock::now();
    for (auto& [host, entry] : entries_) entry.wanted = false;
    std::vector<std::string> fresh;
    for (const auto& [host, interval] : names) {
        auto [it, inserted] = entries_.try_emplace(host);
        Entry& entry = it->second;
        entry.wanted = true;
        if (inserted) {
            entry.status.host = host;
            entry.due = now;
            fresh.push_back(host);
        } else if (interval < entry.status.interval && entry.status.failures == 0) {
            // A shorter interval takes effect from the last lookup, not after the old one's wait.
            entry.due = std::min(entry.due, now + interval);
        }
        entry.status.interval = interval;
    }
    std::erase_if(entries_, [](const auto& kv) { return !kv.second.wanted; });
    wake_.notify_all();

    auto pending = [&] {
        for (const auto& host : fresh) {
            auto it = entries_.find(host);
            if (it != entries_.end() && it->second.status.lastAttempt == NameStatus::WallClock::time_point{})
                return true;
        }
        return false;
    };
    answered_.wait_for(lock, wait, [&] { return stopping_ || !pending(); });
    std::vector<std::string> unresolved;
    for (const auto& [host, entry] : entries_)
        if (!entry.status.resolved) unresolved.push_back(host);
    return unresolved;
}

std::vector<asio::ip::address> NameResolver::addresses(const std::string& host) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(host);
    return it != entries_.end() ? it->second.status.addresses : std::vector<asio::ip::address>{};
}

std::uint64_t NameResolver::generation() const {
    std::lock_guard lock(mutex_);
    return generation_;
}

std::vector<NameStatus> NameResolver::status() const {
    std::lock_guard lock(mutex_);
    std::vector<NameStatus> out;
    for (const auto& [host, entry] : entries_) out.push_back(entry.status);
    return out;
}

bool NameResolver::record(const std::string& host,
                          const LookupResult& result) {
    auto it = entries_.find(host);
    if (it == entries_.end()) return false;  // forgotten while it was being looked up
    Entry& entry = it->second;
    NameStatus& s = entry.status;
    const auto wallNow = NameStatus::WallClock::now();
    s.lastAttempt = wallNow;
    if (!result || result->empty()) {  // an empty answer never empties the set either
        const std::string error = !result ? (result.error().empty() ? "lookup failed" : result.error())
                                          : "the name has no addresses";
        ++s.failures;
        if (s.failures == 1)
            logging::log(logging::Level::Warn, "upstream name %s: lookup failed (%s); %s", host.c_str(),
                         error.c_str(),
                         s.resolved ? ("keeping the last good addresses: " + joined(s.addresses)).c_str()
                                    : "it has no servers until it resolves");
        s.error = error;
        entry.due = Clock::now() + retryDelay(s.failures, s.interval);
        return false;
    }
    if (s.failures > 0 && s.resolved)
        logging::log(logging::Level::Info, "upstream name %s resolves again after %u failed lookup(s)",
                     host.c_str(), s.failures);
    s.failures = 0;
    s.error.clear();
    s.lastSuccess = wallNow;
    entry.due = Clock::now() + s.interval;
    auto sorted = *result;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    const bool wasResolved = s.resolved;
    s.resolved = true;
    if (wasResolved && sorted == s.addresses) return false;
    logging::log(logging::Level::Info, "upstream name %s: addresses %s (were %s)", host.c_str(),
                 joined(sorted).c_str(), wasResolved ? joined(s.addresses).c_str() : "unknown");
    s.addresses = std::move(sorted);
    s.lastChange = wallNow;
    ++generation_;
    return true;
}

void NameResolver::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        auto next = entries_.end();
        for (auto it = entries_.begin(); it != entries_.end(); ++it)
            if (next == entries_.end() || it->second.due < next->second.due) next = it;
        if (next == entries_.end()) {
            wake_.wait(lock);
            continue;
        }
        if (const Clock::time_point due = next->second.due; due > Clock::now()) {
            wake_.wait_until(lock, due);  // a copy: track() may erase the entry meanwhile
            continue;
        }
        const std::string host = next->first;
        next->second.due = Clock::time_point::max();  // in progress
        lock.unlock();
        LookupResult result;
        try {
            result = lookup_(host);
        } catch (const std::exception& e) {
            result = std::unexpected(std::string(e.what()));
        }
        lock.lock();
        const bool changed = record(host, result);
        answered_.notify_all();
        if (changed && onChange_) {
            auto callback = onChange_;
            lock.unlock();
            callback();
            lock.lock();
        }
    }
}

}  // namespace proxy::upstream
