// The rate limiter's promises: accurate within a stated tolerance for one client, fair between
// clients, bounded memory under a million distinct addresses, and never more lenient when
// clients have to share a slot.
#include <QTest>
#include <thread>

#include "security/rate_limiter.h"

using proxy::security::IpKey;
using proxy::security::RateLimiter;

namespace {

IpKey v4(std::uint32_t n) {
    IpKey ip{};
    ip[10] = 0xff;
    ip[11] = 0xff;
    ip[12] = static_cast<std::uint8_t>(n >> 24);
    ip[13] = static_cast<std::uint8_t>(n >> 16);
    ip[14] = static_cast<std::uint8_t>(n >> 8);
    ip[15] = static_cast<std::uint8_t>(n);
    return ip;
}

}  // namespace

class RateLimiterTest : public QObject {
    Q_OBJECT
private slots:
    void burstThenSteadyRate() {
        RateLimiter limiter(100, 20);
        const IpKey client = v4(0x0a000001);
        // At t=0 the full burst passes, the next is refused with a retry hint of 10 ms.
        int allowed = 0;
        for (int i = 0; i < 50; ++i) allowed += limiter.take(client, 1'000'000).allowed;
        QCOMPARE(allowed, 20);
        const auto refused = limiter.take(client, 1'000'000);
        QVERIFY(!refused.allowed);
        QCOMPARE(refused.retryAfterMs, 10u);
        // Then 1000 attempts per second for 10 s: 100 per second pass, within 1%.
        allowed = 0;
        for (std::int64_t ms = 1; ms <= 10'000; ++ms) allowed += limiter.take(client, 1'000'000 + ms).allowed;
        QVERIFY2(allowed >= 990 && allowed <= 1010, qPrintable(QString::number(allowed)));
    }

    void idleClientRefillsToBurstOnly() {
        RateLimiter limiter(10, 5);
        const IpKey client = v4(0x0a000002);
        for (int i = 0; i < 5; ++i) QVERIFY(limiter.take(client, 0).allowed);
        QVERIFY(!limiter.take(client, 0).allowed);
        // An hour later the bucket holds the burst, not 36,000 tokens.
        int allowed = 0;
        for (int i = 0; i < 100; ++i) allowed += limiter.take(client, 3'600'000).allowed;
        QCOMPARE(allowed, 5);
    }

    void clientsAreIndependent() {
        RateLimiter limiter(1, 1);
        QVERIFY(limiter.take(v4(1), 0).allowed);
        QVERIFY(!limiter.take(v4(1), 0).allowed);
        QVERIFY(limiter.take(v4(2), 0).allowed);  // another client is not punished
        QVERIFY(limiter.take(v4(1), 1000).allowed);
    }

    // rate_limit.key: a header's or cookie's value is its own bucket, as accurate as an address's.
    void stringKeysAreAccurate() {
        RateLimiter limiter(50, 10);
        const std::string key = "api-key-0123456789abcdef-long-enough-for-three-words";
        int allowed = 0;
        for (int i = 0; i < 10'000; ++i) allowed += limiter.take(key, 5'000'000 + i).allowed;  // 10 s
        // 10 at once, then 50/s for 10 s: 510, within 1%.
        QVERIFY2(allowed >= 505 && allowed <= 515, qPrintable(QString::number(allowed)));
    }

    void stringKeysAreKeptApart() {
        RateLimiter limiter(1, 2);
        // Keys that differ only in length, in one byte, or in the last partial word, and a key
        // spelling an address: each has its own bucket.
        const std::string keys[] = {"a", "aa", "abcdefgh", "abcdefgi", std::string("abcdefgh\0", 9), "abcdefghX",
                                    "10.0.0.1", ""};
        for (const std::string& k : keys) {
            QVERIFY2(limiter.take(k, 0).allowed, k.c_str());
            QVERIFY2(limiter.take(k, 0).allowed, k.c_str());
            QVERIFY2(!limiter.take(k, 0).allowed, k.c_str());
        }
        QVERIFY(limiter.take(v4(0x0a000001), 0).allowed);  // the address 10.0.0.1 is not "10.0.0.1"
        QCOMPARE(limiter.sharedSlots(), std::uint64_t{0});
    }

    void manyStringKeysBoundedMemory() {
        RateLimiter limiter(5, 5);
        const std::size_t before = limiter.memoryBytes();
        for (int i = 0; i < 300'000; ++i) limiter.take("key-" + std::to_string(i), 0);
        QCOMPARE(limiter.memoryBytes(), before);
        // A key asking 1000 times a second for 10 s after the flood gets its own allowance (a
        // burst of 5, then 5/s), never more, and is not starved by the flood's leftovers.
        int allowed = 0;
        for (int ms = 1000; ms < 11'000; ++ms) allowed += limiter.take(std::string("victim"), ms).allowed;
        QVERIFY2(allowed >= 45 && allowed <= 55, qPrintable(QString::number(allowed)));
    }

    void millionAddressesBoundedMemory() {
        RateLimiter limiter(5, 5, 1 << 16);
        const std::size_t before = limiter.memoryBytes();
        const IpKey victim = v4(0xc0000201);
        // A million distinct attackers, one request each, interleaved with a victim that stays at
        // its rate. Memory does not move, and the victim is never allowed MORE than its rate.
        int victimAllowed = 0;
        for (std::uint32_t i = 0; i < 1'000'000; ++i) {
            limiter.take(v4(0x64000000u + i), i / 100);  // 10 s of simulated time
            if (i % 10'000 == 0) victimAllowed += limiter.take(victim, i / 100).allowed;
        }
        QCOMPARE(limiter.memoryBytes(), before);
        QVERIFY(limiter.memoryBytes() <= (std::size_t{4} << 20));
        // 100 attempts over 10 s at 5/s with burst 5: at most 5 + 50 pass.
        QVERIFY2(victimAllowed <= 55, qPrintable(QString::number(victimAllowed)));
        QVERIFY2(victimAllowed >= 1, "the victim was starved completely");
    }

    void sharedSlotsOnlyLimitSooner() {
        // Two slots only: three clients must share. Together they never get more than the sum of
        // their own allowances would be.
        RateLimiter limiter(10, 10, 2);
        int allowed = 0;
        for (int round = 0; round < 1000; ++round)
            for (std::uint32_t c = 1; c <= 3; ++c) allowed += limiter.take(v4(c), round).allowed;  // 1 s
        QVERIFY2(allowed <= 3 * (10 + 10), qPrintable(QString::number(allowed)));
        QVERIFY(limiter.sharedSlots() > 0);
    }

    void concurrentWorkersStayExact() {
        // Two threads hammer one client at one instant: exactly the burst passes.
        RateLimiter limiter(1, 1000);
        const IpKey client = v4(0x0a000003);
        std::atomic<int> allowed{0};
        auto work = [&] {
            for (int i = 0; i < 5000; ++i) allowed += limiter.take(client, 42).allowed;
        };
        std::thread a(work), b(work);
        a.join();
        b.join();
        QCOMPARE(allowed.load(), 1000);
    }
};

QTEST_GUILESS_MAIN(RateLimiterTest)
#include "rate_limiter_test.moc"
