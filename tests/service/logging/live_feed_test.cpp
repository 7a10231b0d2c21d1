// Tests for service/logging/live_feed.{h,cpp}: bounded per-subscriber queues, the drop marker,
// wake-ups, and a stuck subscriber that never slows the publisher.
#include <QTest>

#include <atomic>
#include <chrono>

#include "logging/live_feed.h"

using namespace proxy::logging;

namespace {

FeedEvent makeEvent(int n) {
    FeedEvent e;
    e.requestId = std::to_string(n);
    e.status = 200;
    e.path = "/p";
    return e;
}

}  // namespace

class LiveFeedTest : public QObject {
    Q_OBJECT

private slots:
    void deliversInOrder();
    void stuckSubscriberGetsDropMarker();
    void markerWaitsForQueuedEvents();
    void wakeOnFirstEvent();
    void unsubscribe();
    void recordsBecomeEvents();
};

void LiveFeedTest::deliversInOrder() {
    LiveFeed feed;
    const auto id = feed.subscribe(10);
    for (int i = 0; i < 5; ++i) feed.publish(makeEvent(i));
    const auto events = feed.poll(id);
    QCOMPARE(events.size(), std::size_t{5});
    for (int i = 0; i < 5; ++i) QCOMPARE(events[i].requestId, std::to_string(i));
    QVERIFY(feed.poll(id).empty());
}

void LiveFeedTest::stuckSubscriberGetsDropMarker() {
    LiveFeed feed;
    const auto stuck = feed.subscribe(100);
    const auto live = feed.subscribe(100'000);
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < 50'000; ++i) feed.publish(makeEvent(i));
    // The publisher never waited for the stuck one (generous bound for sanitizer builds).
    QVERIFY(std::chrono::steady_clock::now() - begin < std::chrono::seconds(5));
    QCOMPARE(feed.poll(live).size(), std::size_t{50'000});
    const auto events = feed.poll(stuck);
    QCOMPARE(events.size(), std::size_t{101});
    for (int i = 0; i < 100; ++i) QCOMPARE(events[i].requestId, std::to_string(i));
    QVERIFY(events[100].isDropMarker());
    QCOMPARE(events[100].dropped, 49'900u);
    QCOMPARE(events[100].toJson()["dropped"].get<int>(), 49'900);
    QCOMPARE(feed.droppedTotal(), 49'900u);
    feed.publish(makeEvent(50'000));  // after the marker: the feed resumes
    const auto after = feed.poll(stuck);
    QCOMPARE(after.size(), std::size_t{1});
    QCOMPARE(after[0].requestId, std::string("50000"));
}

void LiveFeedTest::markerWaitsForQueuedEvents() {
    LiveFeed feed;
    const auto id = feed.subscribe(4);
    for (int i = 0; i < 10; ++i) feed.publish(makeEvent(i));  // 0..3 queued, 4..9 dropped
    auto first = feed.poll(id, 2);
    QCOMPARE(first.size(), std::size_t{2});
    QVERIFY(!first[1].isDropMarker());
    feed.publish(makeEvent(10));  // the gap is still open: dropped too, never queued after it
    auto rest = feed.poll(id);
    QCOMPARE(rest.size(), std::size_t{3});
    QCOMPARE(rest[0].requestId, std::string("2"));
    QCOMPARE(rest[1].requestId, std::string("3"));
    QVERIFY(rest[2].isDropMarker());
    QCOMPARE(rest[2].dropped, 7u);
}

void LiveFeedTest::wakeOnFirstEvent() {
    LiveFeed feed;
    std::atomic<int> wakes{0};
    const auto id = feed.subscribe(10, [&] { ++wakes; });
    feed.publish(makeEvent(1));
    feed.publish(makeEvent(2));
    QCOMPARE(wakes.load(), 1);  // only when the queue goes from empty to non-empty
    feed.poll(id);
    feed.publish(makeEvent(3));
    QCOMPARE(wakes.load(), 2);
}

void LiveFeedTest::unsubscribe() {
    LiveFeed feed;
    QVERIFY(!feed.hasSubscribers());
    const auto id = feed.subscribe();
    QCOMPARE(feed.subscriberCount(), std::size_t{1});
    feed.unsubscribe(id);
    feed.publish(makeEvent(1));
    QVERIFY(feed.poll(id).empty());
    QVERIFY(!feed.hasSubscribers());
}

void LiveFeedTest::recordsBecomeEvents() {
    LiveFeed feed;
    const auto id = feed.subscribe();
    AccessRecord r;
    r.clearText();
    r.timeUs = 1'700'000'000'000'000;
    r.status = 404;
    r.durationUs = 12;
    r.set(AccessRecord::RequestId, "rid");
    r.set(AccessRecord::Path, std::string(1000, 'p'));
    r.set(AccessRecord::Host, std::string("h\xff"));
    feed.publish(std::span<const AccessRecord>(&r, 1));
    const auto events = feed.poll(id);
    QCOMPARE(events.size(), std::size_t{1});
    QCOMPARE(events[0].status, 404);
    QCOMPARE(events[0].path.size(), LiveFeed::kMaxPathBytes);
    const auto json = events[0].toJson();
    QCOMPARE(json["request_id"].get<std::string>(), std::string("rid"));
    QCOMPARE(json["host"].get<std::string>(), std::string("h\xEF\xBF\xBD"));
    QCOMPARE(json["time"].get<std::string>(), std::string("2023-11-14T22:13:20.000000Z"));
    (void)json.dump();
}

QTEST_GUILESS_MAIN(LiveFeedTest)
#include "live_feed_test.moc"
