#include "security/ban_list.h"

#include <algorithm>

#include "logging/log.h"

namespace proxy::security {

std::size_t BanList::KeyHash::operator()(const Key& k) const {
    std::uint64_t h = 1469598103934665603ULL;
    for (std::uint8_t b : k.ip) h = (h ^ b) * 1099511628211ULL;
    return static_cast<std::size_t>(h);
}

void BanList::configure(const Settings& settings) {
    std::unique_lock lock(mutex_);
    settings_ = settings;
    while (records_.size() > settings_.capacity) evictOne(Clock::now());
}

BanList::Settings BanList::settings() const {
    std::shared_lock lock(mutex_);
    return settings_;
}

std::size_t BanList::tracked() const {
    std::shared_lock lock(mutex_);
    return records_.size();
}

void BanList::evictOne(Clock::time_point now) {
    // A sample, not a scan: up to kSample entries from a rotating bucket, so a flood of new
    // addresses costs a bounded amount per strike whatever the capacity. Among them: an address
    // that is not banned, least recently struck first; else the ban that ends first.
    constexpr std::size_t kSample = 32;
    if (records_.empty()) return;
    const std::size_t buckets = records_.bucket_count();
    cursor_ = (cursor_ + 1) % buckets;
    auto victim = records_.end();
    std::size_t seen = 0;
    auto better = [&](const Record& a, const Record& b) {  // is a the better victim than b?
        const bool aBanned = a.bannedUntil > now, bBanned = b.bannedUntil > now;
        if (aBanned != bBanned) return !aBanned;
        return aBanned ? a.bannedUntil < b.bannedUntil : a.lastStrike < b.lastStrike;
    };
    for (std::size_t step = 0; step < buckets && seen < kSample; ++step) {
        const std::size_t b = (cursor_ + step) % buckets;
        for (auto it = records_.begin(b); it != records_.end(b) && seen < kSample; ++it, ++seen) {
            if (victim == records_.end() || better(it->second, victim->second))
                victim = records_.find(it->first);
        }
    }
    if (victim != records_.end()) records_.erase(victim);
}

bool BanList::strike(const IpKey& ip, std::string_view address, std::string_view reason,
                     Clock::time_point now) {
    std::unique_lock lock(mutex_);
    if (settings_.strikes == 0 || settings_.capacity == 0) return false;
    auto it = records_.find(Key{ip});
    if (it == records_.end()) {
        // Eviction scans the table: a strike is a refusal already, and the table is bounded.
        if (records_.size() >= settings_.capacity) evictOne(now);
        it = records_.emplace(Key{ip}, Record{}).first;
        it->second.address = std::string(address.substr(0, 64));
        it->second.windowStart = now;
    }
    Record& r = it->second;
    if (r.bannedUntil > now) return false;  // already banned: strikes while banned do not count
    if (now - r.windowStart > settings_.window) {
        r.windowStart = now;
        r.strikes = 0;
    }
    r.lastStrike = now;
    r.reason = reason;
    if (++r.strikes < settings_.strikes) return false;
    // Banned: ban, 2 x ban, 4 x ban ... up to maxBan.
    std::chrono::milliseconds length = settings_.ban;
    for (std::uint32_t i = 0; i < r.bans && length < settings_.maxBan; ++i) length *= 2;
    length = std::min(length, settings_.maxBan);
    ++r.bans;
    r.strikes = 0;
    r.windowStart = now;
    r.banLength = length;
    r.bannedUntil = now + length;
    activeBans_.fetch_add(1, std::memory_order_relaxed);
    bansTotal_.fetch_add(1, std::memory_order_relaxed);
    const std::string who = r.address;
    const std::uint32_t count = settings_.strikes, nth = r.bans;
    lock.unlock();
    logging::log(logging::Level::Warn, "banned %s for %lld ms (ban %u) after %u refusals, the last: %.*s",
                 who.c_str(), static_cast<long long>(length.count()), nth, count,
                 static_cast<int>(reason.size()), reason.data());
    return true;
}

bool BanList::banned(const IpKey& ip, Clock::time_point now) const {
    if (activeBans_.load(std::memory_order_relaxed) == 0) return false;
    std::shared_lock lock(mutex_);
    const auto it = records_.find(Key{ip});
    if (it == records_.end()) return false;
    if (it->second.bannedUntil > now) return true;
    return false;
}

bool BanList::unban(const IpKey& ip) {
    std::unique_lock lock(mutex_);
    const auto it = records_.find(Key{ip});
    if (it == records_.end()) return false;
    const std::string who = it->second.address;
    records_.erase(it);
    lock.unlock();
    logging::log(logging::Level::Info, "unbanned %s (control channel)", who.c_str());
    return true;
}

std::vector<BanList::Entry> BanList::list(std::size_t limit, Clock::time_point now) const {
    std::vector<Entry> out;
    {
        std::shared_lock lock(mutex_);
        out.reserve(records_.size());
        for (const auto& [key, r] : records_) {
            Entry e;
            e.address = r.address;
            e.strikes = r.strikes;
            e.bans = r.bans;
            e.reason = std::string(r.reason);
            if (r.bannedUntil > now) {
                e.bannedForMs = std::chrono::duration_cast<std::chrono::milliseconds>(r.bannedUntil - now).count();
                e.banLengthMs = r.banLength.count();
            }
            out.push_back(std::move(e));
        }
    }
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
        if (a.bannedForMs != b.bannedForMs) return a.bannedForMs > b.bannedForMs;
        return a.address < b.address;
    });
    if (out.size() > limit) out.resize(limit);
    return out;
}

}  // namespace proxy::security
