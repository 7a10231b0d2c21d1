#include "logging/live_feed.h"

#include <algorithm>

namespace proxy::logging {

control::Json FeedEvent::toJson() const {
    if (isDropMarker()) return control::Json{{"dropped", dropped}};
    control::Json out{{"time", formatTimeUs(timeUs)},
                         {"request_id", sanitizeUtf8(requestId)},
                         {"client", sanitizeUtf8(client)},
                         {"method", sanitizeUtf8(method)},
                         {"host", sanitizeUtf8(host)},
                         {"path", sanitizeUtf8(path)},
                         {"route", sanitizeUtf8(route)},
                         {"server", sanitizeUtf8(server)},
                         {"status", status},
                         {"duration_us", durationUs},
                         {"bytes_out", bytesOut}};
    if (!security.empty()) out["security"] = sanitizeUtf8(security);
    return out;
}

LiveFeed::SubscriberId LiveFeed::subscribe(std::size_t capacity, Wake wake) {
    std::lock_guard lock(mutex_);
    const SubscriberId id = nextId_++;
    Subscriber& s = subscribers_[id];
    s.capacity = std::max<std::size_t>(capacity, 1);
    s.wake = std::move(wake);
    subscriberHint_.store(subscribers_.size(), std::memory_order_relaxed);
    return id;
}

void LiveFeed::unsubscribe(SubscriberId id) {
    std::lock_guard lock(mutex_);
    subscribers_.erase(id);
    subscriberHint_.store(subscribers_.size(), std::memory_order_relaxed);
}

std::vector<FeedEvent> LiveFeed::poll(SubscriberId id, std::size_t max) {
    std::lock_guard lock(mutex_);
    std::vector<FeedEvent> out;
    const auto it = subscribers_.find(id);
    if (it == subscribers_.end() || max == 0) return out;
    Subscriber& s = it->second;
    const std::size_t queued = s.queue.size() - s.head;
    const std::size_t n = std::min(queued, max);
    out.reserve(n + 1);
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::move(s.queue[s.head + i]));
    s.head += n;
    if (s.head == s.queue.size()) {
        s.queue.clear();
        s.head = 0;
        // The gap closes only once everything before it was delivered, so the marker sits where
        // the events were lost.
        if (s.dropped > 0 && out.size() < max) {
            FeedEvent marker;
            marker.dropped = s.dropped;
            out.push_back(std::move(marker));
            s.dropped = 0;
        }
    }
    return out;
}

void LiveFeed::publish(const FeedEvent& event) {
    std::vector<Wake*> wakes;
    std::unique_lock lock(mutex_);
    for (auto& [id, s] : subscribers_) {
        const std::size_t queued = s.queue.size() - s.head;
        // While a gap is open (dropped > 0) keep dropping: nothing may be queued after the gap
        // before its marker.
        if (s.dropped > 0 || queued >= s.capacity) {
            ++s.dropped;
            ++droppedTotal_;
            continue;
        }
        if (queued == 0 && s.wake) wakes.push_back(&s.wake);
        s.queue.push_back(event);
    }
    // Copies, because the subscriber may unsubscribe as soon as the lock is released.
    std::vector<Wake> calls;
    calls.reserve(wakes.size());
    for (Wake* w : wakes) calls.push_back(*w);
    lock.unlock();
    for (const Wake& w : calls) w();
}

void LiveFeed::publish(RecordRange records) {
    if (!hasSubscribers()) return;
    using F = AccessRecord;
    for (const AccessRecord& r : records) {
        FeedEvent e;
        e.timeUs = r.timeUs;
        e.requestId = r.field(F::RequestId);
        e.client = r.field(F::ClientAddress);
        e.method = r.field(F::Method);
        e.host = r.field(F::Host);
        e.path = r.field(F::Path).substr(0, kMaxPathBytes);
        e.route = r.field(F::Route);
        e.server = r.field(F::Server);
        e.security = r.field(F::SecurityAction);
        e.status = r.status;
        e.durationUs = r.durationUs;
        e.bytesOut = r.bytesOut;
        publish(e);
    }
}

bool LiveFeed::hasSubscribers() const {
    std::lock_guard lock(mutex_);
    return !subscribers_.empty();
}

std::size_t LiveFeed::subscriberCount() const {
    std::lock_guard lock(mutex_);
    return subscribers_.size();
}

std::uint64_t LiveFeed::droppedTotal() const {
    std::lock_guard lock(mutex_);
    return droppedTotal_;
}

}  // namespace proxy::logging
