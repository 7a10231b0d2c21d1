#pragma once
// The live traffic feed: a summary of each completed request for subscribers on the control
// channel (traffic.subscribe). Fed by the access log's writer thread, never by the data path, so
// subscribers cannot slow a request down. Each subscriber has a bounded queue: when it is full the
// subscriber misses events and, once it catches up, gets one marker saying how many it missed.
//
// Contract (docs/logging.md): events arrive in the order the writer saw them; a drop marker sits
// exactly where the gap is; after a marker the next events are newer than every dropped one.

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "control/json_rpc.h"
#include "logging/access_record.h"

namespace proxy::logging {

struct FeedEvent {
    std::uint64_t dropped = 0;  // > 0: a marker, "dropped N events here"; the other fields are empty
    std::int64_t timeUs = 0;
    std::string requestId, client, method, host, path, route, server;
    std::string security;  // the access log's security action ("rate-limit", "waf-block 942100")
    int status = 0;
    std::int64_t durationUs = 0;
    std::uint64_t bytesOut = 0;

    bool isDropMarker() const { return dropped > 0; }
    // {"time", "request_id", "client", "method", "host", "path", "route", "server", "status",
    //  "duration_us", "bytes_out"}, and "security" when a defence acted; or {"dropped": N}
    control::Json toJson() const;
};

class LiveFeed {
public:
    using SubscriberId = std::uint64_t;
    // Called on the writer thread when a subscriber's queue goes from empty to non-empty. Must not
    // block: typically asio::post() to the control io_context, which then calls poll().
    using Wake = std::function<void()>;

    static constexpr std::size_t kMaxPathBytes = 256;  // feed events carry a shortened path

    SubscriberId subscribe(std::size_t capacity = 1000, Wake wake = {});
    void unsubscribe(SubscriberId id);
    // Takes up to max queued events (any thread). A pending drop marker comes after the events
    // that preceded the gap. Unknown ids get an empty list.
    std::vector<FeedEvent> poll(SubscriberId id, std::size_t max = std::numeric_limits<std::size_t>::max());

    // Writer thread: one event per record. Cheap when nobody subscribes.
    void publish(RecordRange records);
    void publish(const FeedEvent& event);

    bool hasSubscribers() const;
    std::size_t subscriberCount() const;
    std::uint64_t droppedTotal() const;  // over all subscribers, ever
    // Any thread, no lock: whether anyone subscribes right now (a hint; it may change at once).
    bool anySubscriber() const { return subscriberHint_.load(std::memory_order_relaxed) != 0; }

private:
    struct Subscriber {
        std::size_t capacity = 0;
        std::vector<FeedEvent> queue;  // FIFO, bounded by capacity
        std::size_t head = 0;
        std::uint64_t dropped = 0;     // events missed since the last delivered marker
        Wake wake;
    };
    mutable std::mutex mutex_;
    std::map<SubscriberId, Subscriber> subscribers_;
    SubscriberId nextId_ = 1;
    std::uint64_t droppedTotal_ = 0;
    std::atomic<std::size_t> subscriberHint_{0};  // subscribers_.size(), readable without the lock
};

}  // namespace proxy::logging
