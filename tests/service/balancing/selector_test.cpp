// Smooth weighted round robin and failover selection.
#include <QtTest>

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

    void emptySelectionYieldsNothing() {
        balancing::Selection selection;
        QVERIFY(!selection.next().has_value());
    }
};

QTEST_GUILESS_MAIN(SelectorTest)
#include "selector_test.moc"
