// Connection limits: per address and in total, released exactly, bounded memory, and sharing a
// counter only ever limits sooner.
#include <QTest>
#include <thread>

#include "security/connection_limiter.h"

using proxy::security::ConnectionLimiter;
using proxy::security::IpKey;
using Verdict = ConnectionLimiter::Verdict;

namespace {
IpKey ip(std::uint32_t n) {
    IpKey k{};
    k[10] = k[11] = 0xff;
    for (int i = 0; i < 4; ++i) k[static_cast<std::size_t>(12 + i)] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
    return k;
}
}  // namespace

class ConnectionLimiterTest : public QObject {
    Q_OBJECT
private slots:
    void perClient() {
        ConnectionLimiter limiter;
        const IpKey a = ip(1), b = ip(2);
        for (int i = 0; i < 3; ++i) QCOMPARE(limiter.acquire(&a, 3, 0), Verdict::Accepted);
        QCOMPARE(limiter.acquire(&a, 3, 0), Verdict::OverClientLimit);
        QCOMPARE(limiter.acquire(&b, 3, 0), Verdict::Accepted);  // another address is unaffected
        QCOMPARE(limiter.total(), std::uint64_t{4});
        limiter.release(&a);
        QCOMPARE(limiter.acquire(&a, 3, 0), Verdict::Accepted);
        QCOMPARE(limiter.refusedPerClient(), std::uint64_t{1});
    }

    void total() {
        ConnectionLimiter limiter;
        for (std::uint32_t i = 0; i < 5; ++i) {
            const IpKey k = ip(i);
            QCOMPARE(limiter.acquire(&k, 0, 5), Verdict::Accepted);
        }
        const IpKey k = ip(99);
        QCOMPARE(limiter.acquire(&k, 0, 5), Verdict::OverTotalLimit);
        QCOMPARE(limiter.acquire(nullptr, 0, 5), Verdict::OverTotalLimit);
        QCOMPARE(limiter.total(), std::uint64_t{5});
        const IpKey first = ip(0);
        limiter.release(&first);  // one place frees up
        QCOMPARE(limiter.acquire(nullptr, 0, 5), Verdict::Accepted);
        QCOMPARE(limiter.refusedTotal(), std::uint64_t{2});
    }

    void boundedMemoryAndSharingIsStricter() {
        ConnectionLimiter limiter(4);  // four counters for a million addresses
        const std::size_t bytes = limiter.memoryBytes();
        std::uint64_t accepted = 0;
        for (std::uint32_t i = 0; i < 1'000'000; ++i) {
            const IpKey k = ip(i);
            accepted += limiter.acquire(&k, 2, 0) == Verdict::Accepted;
        }
        QCOMPARE(limiter.memoryBytes(), bytes);
        QVERIFY2(accepted <= 4 * 2, qPrintable(QString::number(accepted)));  // never more than the counters allow
        QVERIFY(accepted >= 2);
    }

    void concurrentAcquireRelease() {
        ConnectionLimiter limiter;
        const IpKey k = ip(7);
        auto work = [&] {
            for (int i = 0; i < 100000; ++i)
                if (limiter.acquire(&k, 10, 100) == Verdict::Accepted) limiter.release(&k);
        };
        std::thread a(work), b(work);
        a.join();
        b.join();
        QCOMPARE(limiter.total(), std::uint64_t{0});
        for (int i = 0; i < 10; ++i) QCOMPARE(limiter.acquire(&k, 10, 100), Verdict::Accepted);
        QCOMPARE(limiter.acquire(&k, 10, 100), Verdict::OverClientLimit);
    }
};

QTEST_GUILESS_MAIN(ConnectionLimiterTest)
#include "connection_limiter_test.moc"
