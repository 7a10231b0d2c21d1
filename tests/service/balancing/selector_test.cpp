// Smooth weighted round robin and failover selection.
#include <QTest>

#include <map>
#include <set>

#include "balancing/selector.h"
#include "upstream/upstream_group.h"

using namespace proxy;

namespace {

struct Servers {
    std::vector<std::unique_ptr<upstream::ServerState>> owned;
    balancing::ServerList list;
    explicit Servers(std::vector<std::uint32_t> weights) {
        for (auto w : weights) {
            auto s = std::make_unique<upstream::ServerState>();
            s->config.weight = w;
            s->key = "s" + std::to_string(owned.size());
            list.push_back(s.get());
            owned.push_back(std::move(s));
        }
    }
};

std::string sequence(balancing::Selector& selector, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        const auto pick = selector.pick({}, {});
        out += pick ? char('a' + *pick) : '-';
    }
    return out;
}

}  // namespace

class SelectorTest : public QObject {
    Q_OBJECT

private slots:
    void smoothSequenceMatchesNginx() {
        // nginx's documented example: weights 5, 1, 1 give a a b a c a a (no long runs).
        Servers s({5, 1, 1});
        balancing::RoundRobinSelector rr(s.list, 0);
        QCOMPARE(QString::fromStdString(sequence(rr, 14)), QString("aabacaaaabacaa"));
    }

    void distributionFollowsWeights_data() {
        QTest::addColumn<QList<int>>("weights");
        QTest::newRow("equal") << QList<int>{1, 1, 1};
        QTest::newRow("3:1") << QList<int>{3, 1};
        QTest::newRow("uneven") << QList<int>{7, 2, 1, 10};
        QTest::newRow("single") << QList<int>{4};
    }

    void distributionFollowsWeights() {
        QFETCH(QList<int>, weights);
        std::vector<std::uint32_t> w(weights.begin(), weights.end());
        Servers s(w);
        balancing::RoundRobinSelector rr(s.list, 0);
        int total = 0;
        for (auto x : w) total += static_cast<int>(x);
        std::map<std::size_t, int> counts;
        const int cycles = 50;
        for (int i = 0; i < total * cycles; ++i) ++counts[*rr.pick({}, {})];
        // Smooth WRR is exact over whole cycles.
        for (std::size_t i = 0; i < w.size(); ++i) QCOMPARE(counts[i], static_cast<int>(w[i]) * cycles);
    }

    void staggerShiftsTheStart() {
        Servers s({1, 1});
        balancing::RoundRobinSelector w0(s.list, 0), w1(s.list, 1);
        QCOMPARE(*w0.pick({}, {}), std::size_t(0));
        QCOMPARE(*w1.pick({}, {}), std::size_t(1));
    }

    void skipsIneligibleServers() {
        Servers s({1, 1, 1});
        balancing::RoundRobinSelector rr(s.list, 0);
        s.owned[0]->admin = upstream::AdminState::Draining;
        s.owned[2]->admin = upstream::AdminState::Disabled;
        for (int i = 0; i < 10; ++i) QCOMPARE(*rr.pick({}, {}), std::size_t(1));
        s.owned[1]->config.maxConnections = 2;
        s.owned[1]->active = 2;  // full
        QVERIFY(!rr.pick({}, {}).has_value());
        s.owned[1]->active = 1;
        QCOMPARE(*rr.pick({}, {}), std::size_t(1));
    }

    void selectionFailsOverThroughEveryServerOnce() {
        Servers s({5, 1, 1, 1});
        balancing::RoundRobinSelector rr(s.list, 0);
        balancing::Selection selection(&rr, {});
        std::set<std::size_t> seen;
        while (auto next = selection.next()) QVERIFY(seen.insert(*next).second);
        QCOMPARE(seen.size(), std::size_t(4));
        QCOMPARE(selection.attempts(), std::size_t(4));
        QVERIFY(!selection.next().has_value());
    }

    void leastConnectionsPrefersTheIdlest() {
        Servers s({1, 1, 1});
        balancing::LeastConnectionsSelector lc(s.list, 0);
        s.owned[0]->active = 5;
        s.owned[1]->active = 2;
        s.owned[2]->active = 3;
        QCOMPARE(*lc.pick({}, {}), std::size_t(1));
        s.owned[1]->active = 9;
        QCOMPARE(*lc.pick({}, {}), std::size_t(2));
        const std::size_t tried[] = {2};
        QCOMPARE(*lc.pick({}, tried), std::size_t(0));
    }

    void leastConnectionsWeighsAndRotatesTies() {
        Servers w({3, 1});
        balancing::LeastConnectionsSelector weighted(w.list, 0);
        w.owned[0]->active = 5;  // 5/3 per weight
        w.owned[1]->active = 2;  // 2/1
        QCOMPARE(*weighted.pick({}, {}), std::size_t(0));
        Servers s({1, 1, 1});
        balancing::LeastConnectionsSelector lc(s.list, 0);
        std::map<std::size_t, int> counts;
        for (int i = 0; i < 300; ++i) ++counts[*lc.pick({}, {})];  // all idle: ties
        QCOMPARE(counts[0], 100);
        QCOMPARE(counts[1], 100);
        QCOMPARE(counts[2], 100);
    }

    void ipHashIsStickyAndFollowsWeights() {
        Servers s({1, 1, 2});
        balancing::HashRingSelector ring(s.list, true);
        std::map<std::size_t, int> counts;
        const int n = 20000;
        for (int i = 0; i < n; ++i) {
            const std::string ip = "10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) +
                                   "." + std::to_string(i % 256);
            const auto first = ring.pick({ip, {}}, {});
            QCOMPARE(ring.pick({ip, {}}, {}), first);  // the same client, the same server
            ++counts[*first];
        }
        // Expected shares 25%, 25%, 50%; 160 points per weight keep it within a few percent.
        QVERIFY2(std::abs(counts[0] - n / 4) < n / 20, qPrintable(QString::number(counts[0])));
        QVERIFY2(std::abs(counts[1] - n / 4) < n / 20, qPrintable(QString::number(counts[1])));
        QVERIFY2(std::abs(counts[2] - n / 2) < n / 20, qPrintable(QString::number(counts[2])));
    }

    void ipHashRemapsAboutOneInN() {
        // Four servers, then a fifth: about 1/5 of the clients move, all of them to the new one.
        Servers four({1, 1, 1, 1});
        Servers five({1, 1, 1, 1, 1});
        balancing::HashRingSelector before(four.list, true), after(five.list, true);
        const int n = 20000;
        int moved = 0, movedElsewhere = 0;
        for (int i = 0; i < n; ++i) {
            const std::string ip = "192.168." + std::to_string(i / 256) + "." + std::to_string(i % 256);
            const auto a = *before.pick({ip, {}}, {});
            const auto b = *after.pick({ip, {}}, {});
            if (a != b) {
                ++moved;
                if (b != 4) ++movedElsewhere;
            }
        }
        const double fraction = double(moved) / n;
        QVERIFY2(fraction > 0.15 && fraction < 0.25, qPrintable(QString::number(fraction)));
        QCOMPARE(movedElsewhere, 0);
        // Taking a server out moves only its own clients.
        five.owned[2]->admin = upstream::AdminState::Disabled;
        int disturbed = 0;
        for (int i = 0; i < n; ++i) {
            const std::string ip = "172.16." + std::to_string(i / 256) + "." + std::to_string(i % 256);
            five.owned[2]->admin = upstream::AdminState::Up;
            const auto was = *after.pick({ip, {}}, {});
            five.owned[2]->admin = upstream::AdminState::Disabled;
            const auto now = *after.pick({ip, {}}, {});
            if (was != 2 && now != was) ++disturbed;
            QVERIFY(now != 2);
        }
        QCOMPARE(disturbed, 0);
    }

    void ipHashFailoverWalksTheRing() {
        Servers s({1, 1, 1});
        balancing::HashRingSelector ring(s.list, true);
        balancing::Selection selection(&ring, {"198.51.100.4", {}});
        std::set<std::size_t> seen;
        while (auto next = selection.next()) QVERIFY(seen.insert(*next).second);
        QCOMPARE(seen.size(), std::size_t(3));
    }

    void hashIsStable() {
        // Fixed values: the ring must not change between runs, builds or platforms.
        QCOMPARE(balancing::HashRingSelector::hash(""), balancing::HashRingSelector::hash(""));
        QVERIFY(balancing::HashRingSelector::hash("a") != balancing::HashRingSelector::hash("b"));
        // Reference value computed independently (FNV-1a 64 + splitmix64 finish, in Python).
        QCOMPARE(balancing::HashRingSelector::hash("10.0.0.1"), std::uint64_t(0x49a05b5f5530b88bull));
    }

    void downServersAreSkippedByEveryStrategy() {
        Servers s({1, 1, 1});
        config::HealthCheck check;
        check.fall = 1;
        s.owned[1]->health->activeResult({false, "refused", {}}, check, health::Clock::now(), {});
        balancing::RoundRobinSelector rr(s.list, 0);
        balancing::LeastConnectionsSelector lc(s.list, 0);
        balancing::HashRingSelector ring(s.list, true);
        for (int i = 0; i < 50; ++i) {
            const std::string ip = "10.1.0." + std::to_string(i);
            QVERIFY(*rr.pick({}, {}) != 1);
            QVERIFY(*lc.pick({}, {}) != 1);
            QVERIFY(*ring.pick({ip, {}}, {}) != 1);
        }
        // Passive ejection too.
        config::PassiveCheck passive;
        passive.failures = 1;
        s.owned[0]->health->transportFailed(&passive, health::Clock::now());
        for (int i = 0; i < 10; ++i) QCOMPARE(*rr.pick({}, {}), std::size_t(2));
        s.owned[2]->health->activeResult({false, "refused", {}}, check, health::Clock::now(), {});
        QVERIFY(!rr.pick({}, {}).has_value());
        QVERIFY(!lc.pick({}, {}).has_value());
        QVERIFY(!ring.pick({"10.1.0.1", {}}, {}).has_value());
    }

    void slowStartHoldsBackAReturningServer() {
        // Server 1 just came back (Down -> Up) with a 60 s ramp: it gets almost nothing at first.
        Servers s({1, 1});
        config::HealthCheck check;
        check.rise = 1;
        check.fall = 1;
        for (auto& server : s.owned) server->slowStart = std::chrono::seconds(60);
        s.owned[1]->health->activeResult({false, "refused", {}}, check, health::Clock::now(), {});
        s.owned[1]->health->activeResult({true, "200", {}}, check, health::Clock::now(), {});
        balancing::RoundRobinSelector rr(s.list, 0);
        int toNew = 0;
        for (int i = 0; i < 1000; ++i) toNew += *rr.pick({}, {}) == 1 ? 1 : 0;
        // A ramp of 60 s is at most a few percent in after the test's first seconds.
        QVERIFY2(toNew < 200, qPrintable(QString::number(toNew)));
        // Without slow start, the same history gives an even split.
        for (auto& server : s.owned) server->slowStart = std::chrono::seconds(0);
        balancing::RoundRobinSelector even(s.list, 0);
        int evenNew = 0;
        for (int i = 0; i < 1000; ++i) evenNew += *even.pick({}, {}) == 1 ? 1 : 0;
        QCOMPARE(evenNew, 500);
    }

    void hashKeyIsStickyAndSpreads() {
        Servers s({1, 1, 1, 1});
        balancing::HashRingSelector ring(s.list, false);
        std::map<std::size_t, int> counts;
        for (int i = 0; i < 4000; ++i) {
            const std::string user = "user-" + std::to_string(i);
            const auto first = ring.pick({"192.0.2.1", user}, {});
            QCOMPARE(ring.pick({"192.0.2.99", user}, {}), first);  // the key decides, not the address
            ++counts[*first];
        }
        for (std::size_t i = 0; i < 4; ++i)
            QVERIFY2(counts[i] > 700 && counts[i] < 1300, qPrintable(QString::number(counts[i])));
        // No key: falls back to the client address.
        QCOMPARE(ring.pick({"192.0.2.7", {}}, {}), ring.pick({"192.0.2.7", {}}, {}));
        balancing::HashRingSelector byAddress(s.list, true);
        QCOMPARE(ring.pick({"192.0.2.7", {}}, {}), byAddress.pick({"192.0.2.7", {}}, {}));
    }

    void preferredServerComesFirstThenFailover() {
        Servers s({1, 1, 1});
        balancing::RoundRobinSelector rr(s.list, 0);
        balancing::Selection selection(&rr, {}, std::size_t(2));
        QCOMPARE(*selection.next(), std::size_t(2));
        std::set<std::size_t> rest;
        while (auto next = selection.next()) rest.insert(*next);
        QCOMPARE(rest, (std::set<std::size_t>{0, 1}));  // the preferred one is not repeated
    }

    void emptySelectionYieldsNothing() {
        balancing::Selection selection;
        QVERIFY(!selection.next().has_value());
    }
};

QTEST_GUILESS_MAIN(SelectorTest)
#include "selector_test.moc"
