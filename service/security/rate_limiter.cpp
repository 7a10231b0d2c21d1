#include "security/rate_limiter.h"

#include <algorithm>
#include <bit>
#include <random>

namespace proxy::security {

struct RateLimiter::Slot {
    std::atomic<bool> locked{false};
    std::uint64_t key = 0;          // 0 = never used
    std::int64_t lastMs = 0;        // when the bucket was last refilled
    std::int64_t milliTokens = 0;   // 1000 per request

    void lock() {
        while (locked.exchange(true, std::memory_order_acquire)) {
            while (locked.load(std::memory_order_relaxed)) {
            }
        }
    }
    void unlock() { locked.store(false, std::memory_order_release); }
};

namespace {

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finalizer
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

RateLimiter::RateLimiter(std::uint32_t rate, std::uint32_t burst, std::size_t slots)
    : rate_(std::max<std::uint32_t>(rate, 1)),
      burst_(burst == 0 ? std::max<std::uint32_t>(rate, 1) : burst),
      fullMillis_(static_cast<std::int64_t>(burst_) * 1000),
      mask_(std::bit_ceil(std::max<std::size_t>(slots, 2)) - 1),
      slots_(new Slot[mask_ + 1]) {
    std::random_device rd;
    seed_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

RateLimiter::~RateLimiter() = default;

std::int64_t RateLimiter::nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::size_t RateLimiter::memoryBytes() const { return (mask_ + 1) * sizeof(Slot); }

RateLimiter::Verdict RateLimiter::take(const IpKey& client, std::int64_t now) {
    std::uint64_t a = 0, b = 0;
    for (int i = 0; i < 8; ++i) a = (a << 8) | client[static_cast<std::size_t>(i)];
    for (int i = 8; i < 16; ++i) b = (b << 8) | client[static_cast<std::size_t>(i)];
    return takeHashed(mix(a ^ seed_) ^ mix(b + 0x632be59bd9b4e019ULL), now);
}

RateLimiter::Verdict RateLimiter::take(std::string_view text, std::int64_t now) {
    // Each 8-byte word goes through the seeded chain: without the seed nobody can make two keys
    // (or a key and an address) meet in a slot on purpose. The final step adds the length, and
    // the starting constant keeps this domain apart from addresses' hashes.
    std::uint64_t h = mix(seed_ ^ 0x5bd1e9955bd1e995ULL);
    std::size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t w = 0;
        for (std::size_t j = 0; j < 8; ++j) w = (w << 8) | static_cast<unsigned char>(text[i + j]);
        h = mix(h ^ w);
    }
    std::uint64_t tail = 0;
    for (; i < text.size(); ++i) tail = (tail << 8) | static_cast<unsigned char>(text[i]);
    h = mix(h ^ tail);
    return takeHashed(mix(h ^ (text.size() * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL)), now);
}

RateLimiter::Verdict RateLimiter::takeHashed(std::uint64_t key, std::int64_t now) {
    key |= 1;  // never 0 (free)
    Slot* candidates[2] = {&slots_[key & mask_], &slots_[mix(key) & mask_]};

    // Refilled milli-tokens of a slot at `now` (the caller holds its lock).
    auto level = [&](const Slot& s) {
        const std::int64_t elapsed = std::max<std::int64_t>(now - s.lastMs, 0);
        // elapsed ms * rate = milli-tokens; capped before it can overflow.
        if (elapsed >= fullMillis_ / std::max<std::int64_t>(rate_, 1) + 1) return fullMillis_;
        return std::min(fullMillis_, s.milliTokens + elapsed * rate_);
    };

    Slot* chosen = nullptr;
    for (Slot* s : candidates) {
        s->lock();
        if (s->key == key) {
            chosen = s;
            break;
        }
        s->unlock();
    }
    if (chosen == nullptr) {
        // Not there: claim a free or idle (full again) candidate, else share the first.
        for (Slot* s : candidates) {
            s->lock();
            if (s->key == 0 || level(*s) >= fullMillis_) {
                s->key = key;
                s->lastMs = now;
                s->milliTokens = fullMillis_;
                chosen = s;
                break;
            }
            s->unlock();
        }
        if (chosen == nullptr) {
            chosen = candidates[0];
            chosen->lock();
            shared_.fetch_add(1, std::memory_order_relaxed);
        }
    }
    Verdict v;
    std::int64_t tokens = level(*chosen);
    chosen->lastMs = std::max(chosen->lastMs, now);
    if (tokens >= 1000) {
        tokens -= 1000;
    } else {
        v.allowed = false;
        v.retryAfterMs = static_cast<std::uint32_t>((1000 - tokens + rate_ - 1) / rate_);
    }
    chosen->milliTokens = tokens;
    chosen->unlock();
    return v;
}

}  // namespace proxy::security
