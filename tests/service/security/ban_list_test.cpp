// BanList: strikes within the window ban, each further ban doubles up to the maximum, strikes
// during a ban do not count, unban forgets, and memory stays bounded under a flood of distinct
// addresses without pushing out a ban while unbanned addresses can make room.
#include <QTest>

#include "security/ban_list.h"

using namespace proxy::security;
using namespace std::chrono_literals;
using Clock = BanList::Clock;

namespace {

IpKey ip(std::uint32_t n) {
    IpKey k{};
    k[10] = k[11] = 0xff;
    k[12] = static_cast<std::uint8_t>(n >> 24);
    k[13] = static_cast<std::uint8_t>(n >> 16);
    k[14] = static_cast<std::uint8_t>(n >> 8);
    k[15] = static_cast<std::uint8_t>(n);
    return k;
}

BanList::Settings settings(std::size_t capacity = 100) {
    BanList::Settings s;
    s.strikes = 3;
    s.window = 10s;
    s.ban = 1s;
    s.maxBan = 5s;
    s.capacity = capacity;
    return s;
}

}  // namespace

class BanListTest : public QObject {
    Q_OBJECT

private slots:
    void offByDefault() {
        BanList bans;
        const auto t = Clock::now();
        for (int i = 0; i < 100; ++i) QVERIFY(!bans.strike(ip(1), "a", "rate-limit", t));
        QVERIFY(!bans.banned(ip(1), t));
        QCOMPARE(bans.tracked(), std::size_t{0});
    }

    void strikesWithinTheWindowBan() {
        BanList bans;
        bans.configure(settings());
        const auto t = Clock::now();
        QVERIFY(!bans.strike(ip(1), "10.0.0.1", "rate-limit", t));
        QVERIFY(!bans.strike(ip(1), "10.0.0.1", "rate-limit", t + 1s));
        QVERIFY(!bans.banned(ip(1), t + 1s));
        QVERIFY(bans.strike(ip(1), "10.0.0.1", "waf", t + 2s));
        QVERIFY(bans.banned(ip(1), t + 2s));
        QVERIFY(!bans.banned(ip(2), t + 2s));
        QVERIFY(bans.banned(ip(1), t + 2s + 999ms));
        QVERIFY(!bans.banned(ip(1), t + 3s));
        const auto list = bans.list(10, t + 2s);
        QCOMPARE(list.size(), std::size_t{1});
        QCOMPARE(list[0].address, std::string("10.0.0.1"));
        QCOMPARE(list[0].reason, std::string("waf"));
        QCOMPARE(list[0].bannedForMs, std::int64_t{1000});
        QCOMPARE(bans.bansTotal(), std::uint64_t{1});
    }

    void strikesOutsideTheWindowStartOver() {
        BanList bans;
        bans.configure(settings());
        const auto t = Clock::now();
        bans.strike(ip(1), "a", "rate-limit", t);
        bans.strike(ip(1), "a", "rate-limit", t + 1s);
        QVERIFY(!bans.strike(ip(1), "a", "rate-limit", t + 12s));  // a new window: 1 strike
        QVERIFY(!bans.banned(ip(1), t + 12s));
    }

    void bansGrowAndStrikesDuringABanDoNotCount() {
        BanList bans;
        bans.configure(settings());
        auto t = Clock::now();
        std::vector<std::int64_t> lengths;
        for (int round = 0; round < 5; ++round) {
            for (int i = 0; i < 3; ++i) bans.strike(ip(7), "a", "rate-limit", t);
            QVERIFY(bans.banned(ip(7), t));
            lengths.push_back(bans.list(1, t)[0].banLengthMs);
            for (int i = 0; i < 10; ++i) QVERIFY(!bans.strike(ip(7), "a", "rate-limit", t + 100ms));
            t += std::chrono::milliseconds(lengths.back());  // the ban is over
            QVERIFY(!bans.banned(ip(7), t));
        }
        QCOMPARE(lengths, (std::vector<std::int64_t>{1000, 2000, 4000, 5000, 5000}));
    }

    void unbanForgets() {
        BanList bans;
        bans.configure(settings());
        const auto t = Clock::now();
        for (int i = 0; i < 3; ++i) bans.strike(ip(1), "a", "rate-limit", t);
        QVERIFY(bans.banned(ip(1), t));
        QVERIFY(bans.unban(ip(1)));
        QVERIFY(!bans.banned(ip(1), t));
        QVERIFY(!bans.unban(ip(1)));
        QCOMPARE(bans.tracked(), std::size_t{0});
        // Its history is gone: the next ban is a first ban again.
        for (int i = 0; i < 3; ++i) bans.strike(ip(1), "a", "rate-limit", t);
        QCOMPARE(bans.list(1, t)[0].banLengthMs, std::int64_t{1000});
    }

    void memoryIsBoundedAndBansSurviveAFlood() {
        BanList bans;
        bans.configure(settings(1000));
        const auto t = Clock::now();
        for (int i = 0; i < 3; ++i) bans.strike(ip(1), "victim-of-its-own-doing", "rate-limit", t);
        QVERIFY(bans.banned(ip(1), t));
        // 300,000 distinct addresses strike once each (a spoofed flood): the table stays at its
        // capacity, and the ban is not pushed out (unbanned entries make room first).
        for (std::uint32_t n = 100; n < 300'100; ++n) bans.strike(ip(n), "x", "rate-limit", t + 1ms);
        QCOMPARE(bans.tracked(), std::size_t{1000});
        QVERIFY(bans.banned(ip(1), t + 2ms));
    }

    void shrinkingCapacityEvicts() {
        BanList bans;
        bans.configure(settings(100));
        const auto t = Clock::now();
        for (std::uint32_t n = 0; n < 100; ++n) bans.strike(ip(n), "x", "rate-limit", t);
        QCOMPARE(bans.tracked(), std::size_t{100});
        bans.configure(settings(10));
        QCOMPARE(bans.tracked(), std::size_t{10});
    }
};

QTEST_GUILESS_MAIN(BanListTest)
#include "ban_list_test.moc"
