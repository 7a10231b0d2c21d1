// NameResolver against an injected lookup: first answers, keep-last-good on failure, change
// detection, retries of names that never resolved, and names forgotten with the config.
#include <QTest>
#include <atomic>
#include <map>
#include <mutex>

#include "upstream/name_resolver.h"

using namespace proxy::upstream;
using namespace std::chrono_literals;
using Answer = proxy::upstream::LookupResult;

namespace {

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

// A DNS the test edits while the resolver runs.
struct FakeDns {
    std::mutex mutex;
    std::map<std::string, Answer> table;
    std::map<std::string, int> lookups;
    std::chrono::milliseconds delay{0};

    void set(const std::string& host, Answer answer) {
        std::lock_guard lock(mutex);
        table[host] = std::move(answer);
    }
    int count(const std::string& host) {
        std::lock_guard lock(mutex);
        return lookups[host];
    }
    LookupFn fn() {
        return [this](const std::string& host) -> Answer {
            std::chrono::milliseconds wait;
            {
                std::lock_guard lock(mutex);
                ++lookups[host];
                wait = delay;
            }
            std::this_thread::sleep_for(wait);
            std::lock_guard lock(mutex);
            if (host == "throws.test") throw std::runtime_error("resolver exploded");
            auto it = table.find(host);
            if (it == table.end()) return std::unexpected(std::string("Host not found"));
            return it->second;
        };
    }
};

const NameStatus* find(const std::vector<NameStatus>& all, const std::string& host) {
    for (const auto& s : all)
        if (s.host == host) return &s;
    return nullptr;
}

}  // namespace

class NameResolverTest : public QObject {
    Q_OBJECT
private slots:
    void firstAnswerIsSortedAndDeduplicated() {
        FakeDns dns;
        dns.set("app.test", std::vector{ip("10.0.0.2"), ip("10.0.0.1"), ip("10.0.0.2"), ip("::1")});
        NameResolver r(dns.fn());
        const auto unresolved = r.track({{"app.test", 30s}}, 5s);
        QVERIFY(unresolved.empty());
        const auto got = r.addresses("app.test");
        QCOMPARE(got.size(), std::size_t(3));
        QCOMPARE(got[0], ip("10.0.0.1"));
        QCOMPARE(got[1], ip("10.0.0.2"));
        QCOMPARE(got[2], ip("::1"));
        QVERIFY(r.addresses("other.test").empty());
        const auto status = r.status();
        const NameStatus* s = find(status, "app.test");
        QVERIFY(s != nullptr);
        QVERIFY(s->resolved);
        QVERIFY(s->error.empty());
        QCOMPARE(s->interval, 30s);
    }

    void failureKeepsTheLastGoodSetAndIsVisible() {
        FakeDns dns;
        dns.set("app.test", std::vector{ip("10.0.0.1")});
        NameResolver r(dns.fn());
        std::atomic<int> changes{0};
        r.setChangeCallback([&] { ++changes; });
        QVERIFY(r.track({{"app.test", 1s}}, 5s).empty());
        const auto generation = r.generation();
        dns.set("app.test", std::unexpected(std::string("SERVFAIL")));
        QTRY_VERIFY_WITH_TIMEOUT(find(r.status(), "app.test")->failures >= 1, 10000);
        const auto status = r.status();
        const NameStatus* s = find(status, "app.test");
        QCOMPARE(s->error, std::string("SERVFAIL"));
        QVERIFY(s->resolved);
        QCOMPARE(r.addresses("app.test"), std::vector{ip("10.0.0.1")});
        QCOMPARE(r.generation(), generation);
        // An empty answer is a failure too: it never empties the set.
        dns.set("app.test", std::vector<asio::ip::address>{});
        const int before = dns.count("app.test");
        QTRY_VERIFY_WITH_TIMEOUT(dns.count("app.test") > before, 10000);
        QCOMPARE(r.addresses("app.test"), std::vector{ip("10.0.0.1")});
        // The first good answer after failures clears the error.
        dns.set("app.test", std::vector{ip("10.0.0.1")});
        QTRY_VERIFY_WITH_TIMEOUT(find(r.status(), "app.test")->failures == 0, 10000);
        QVERIFY(find(r.status(), "app.test")->error.empty());
        QCOMPARE(changes.load(), 1);  // only the first answer changed the set
    }

    void changeRunsTheCallbackAndBumpsTheGeneration() {
        FakeDns dns;
        dns.set("app.test", std::vector{ip("10.0.0.1")});
        NameResolver r(dns.fn());
        std::atomic<int> changes{0};
        r.setChangeCallback([&] { ++changes; });
        QVERIFY(r.track({{"app.test", 1s}}, 5s).empty());
        // The callback runs after the answer is recorded, so track() may return before it ran.
        QTRY_COMPARE_WITH_TIMEOUT(changes.load(), 1, 5000);
        const auto generation = r.generation();
        dns.set("app.test", std::vector{ip("10.0.0.1"), ip("10.0.0.3")});
        QTRY_COMPARE_WITH_TIMEOUT(changes.load(), 2, 10000);
        QCOMPARE(r.generation(), generation + 1);
        QCOMPARE(r.addresses("app.test"), (std::vector{ip("10.0.0.1"), ip("10.0.0.3")}));
        QVERIFY(find(r.status(), "app.test")->lastChange != NameStatus::WallClock::time_point{});
    }

    void aNameThatNeverResolvedIsRetriedSoon() {
        FakeDns dns;
        NameResolver r(dns.fn());
        std::atomic<int> changes{0};
        r.setChangeCallback([&] { ++changes; });
        // The interval is an hour, but a name without addresses is retried after 1, 2, 4 ... s.
        const auto unresolved = r.track({{"late.test", 3600s}}, 5s);
        QCOMPARE(unresolved, std::vector<std::string>{"late.test"});
        QVERIFY(!find(r.status(), "late.test")->resolved);
        QCOMPARE(find(r.status(), "late.test")->error, std::string("Host not found"));
        dns.set("late.test", std::vector{ip("192.0.2.7")});
        QTRY_COMPARE_WITH_TIMEOUT(changes.load(), 1, 10000);
        QCOMPARE(r.addresses("late.test"), std::vector{ip("192.0.2.7")});
    }

    void aThrowingLookupIsAFailure() {
        FakeDns dns;
        NameResolver r(dns.fn());
        QCOMPARE(r.track({{"throws.test", 30s}}, 5s), std::vector<std::string>{"throws.test"});
        QCOMPARE(find(r.status(), "throws.test")->error, std::string("resolver exploded"));
    }

    void aSlowLookupDoesNotHoldTrackPastItsWait() {
        FakeDns dns;
        dns.delay = 1500ms;
        dns.set("slow.test", std::vector{ip("10.0.0.9")});
        NameResolver r(dns.fn());
        QElapsedTimer t;
        t.start();
        QCOMPARE(r.track({{"slow.test", 30s}}, 100ms), std::vector<std::string>{"slow.test"});
        QVERIFY2(t.elapsed() < 1400, qPrintable(QString::number(t.elapsed())));
        QTRY_COMPARE_WITH_TIMEOUT(r.addresses("slow.test").size(), std::size_t(1), 10000);
    }

    void namesLeftOutAreForgotten() {
        FakeDns dns;
        dns.set("a.test", std::vector{ip("10.0.0.1")});
        dns.set("b.test", std::vector{ip("10.0.0.2")});
        NameResolver r(dns.fn());
        QVERIFY(r.track({{"a.test", 30s}, {"b.test", 30s}}, 5s).empty());
        QCOMPARE(r.status().size(), std::size_t(2));
        QVERIFY(r.track({{"b.test", 30s}}, 5s).empty());
        QCOMPARE(r.status().size(), std::size_t(1));
        QVERIFY(r.addresses("a.test").empty());
        QCOMPARE(r.addresses("b.test"), std::vector{ip("10.0.0.2")});
        QCOMPARE(dns.count("b.test"), 1);  // kept, not looked up again
    }

    void theIntervalDrivesLookups() {
        FakeDns dns;
        dns.set("app.test", std::vector{ip("10.0.0.1")});
        NameResolver r(dns.fn());
        QVERIFY(r.track({{"app.test", 1s}}, 5s).empty());
        QTRY_VERIFY_WITH_TIMEOUT(dns.count("app.test") >= 3, 10000);
    }

    void stopWhileLookingUpReturns() {
        FakeDns dns;
        dns.delay = 300ms;
        auto r = std::make_unique<NameResolver>(dns.fn());
        r->track({{"app.test", 1s}}, 0ms);
        QTRY_VERIFY_WITH_TIMEOUT(dns.count("app.test") >= 1, 5000);
        r->stop();
        r->stop();  // idempotent
        r.reset();
    }

    void theSystemLookupAnswersForLocalhostAndFailsForInvalidNames() {
        const auto local = systemLookup("localhost");
        QVERIFY2(local.has_value(), local ? "" : local.error().c_str());
        QVERIFY(!local->empty());
        for (const auto& a : *local) QVERIFY(a.is_loopback());
        // RFC 6761: .invalid never resolves.
        QVERIFY(!systemLookup("no-such-host.invalid").has_value());
    }
};

QTEST_GUILESS_MAIN(NameResolverTest)
#include "name_resolver_test.moc"
