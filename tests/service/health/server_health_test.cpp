// Passive ejection with its growing backoff, active rise/fall, and the slow-start ramp, on a fake
// clock (every ServerHealth method that needs the time takes it).
#include <QTest>

#include <thread>
#include <vector>

#include "health/server_health.h"

using namespace proxy;
using namespace std::chrono_literals;
using health::Clock;
using health::ServerHealth;

namespace {

const Clock::time_point kT0 = Clock::time_point(std::chrono::hours(1000));  // any fixed instant

config::PassiveCheck passive(std::uint32_t failures, std::uint32_t status5xx, int eject,
                             int maxEject) {
    config::PassiveCheck p;
    p.failures = failures;
    p.status5xx = status5xx;
    p.eject = std::chrono::seconds(eject);
    p.maxEject = std::chrono::seconds(maxEject);
    return p;
}

health::ProbeOutcome ok() {
    return {true, "status 200", 1ms};
}
health::ProbeOutcome bad() {
    return {false, "connect: Connection refused", 1ms};
}

}  // namespace

class ServerHealthTest : public QObject {
    Q_OBJECT

  private slots:
    void consecutiveFailuresEject() {
        ServerHealth h("u", "10.0.0.1:80");
        const auto p = passive(3, 0, 10, 300);
        h.transportFailed(&p, kT0);
        h.transportFailed(&p, kT0);
        QVERIFY(h.available(kT0));
        h.transportFailed(&p, kT0);
        QVERIFY(!h.available(kT0));
        QVERIFY(!h.available(kT0 + 9999ms));
        QVERIFY(h.available(kT0 + 10s));
        const auto status = h.status(1, 0s, kT0 + 1s, health::WallClock::now());
        QVERIFY(status.ejectedUntil.has_value());
        QCOMPARE(status.ejections, std::uint64_t(1));
        QVERIFY(status.reason.find("ejected") != std::string::npos);
    }

    void aSuccessBreaksTheRun() {
        ServerHealth h("u", "s");
        const auto p = passive(3, 0, 10, 300);
        for (int round = 0; round < 10; ++round) {
            h.transportFailed(&p, kT0);
            h.transportFailed(&p, kT0);
            h.connected();
        }
        QVERIFY(h.available(kT0));
        QCOMPARE(h.status(1, 0s, kT0, {}).ejections, std::uint64_t(0));
    }

    void offWhenNotConfigured() {
        ServerHealth h("u", "s");
        for (int i = 0; i < 100; ++i) {
            h.transportFailed(nullptr, kT0);
            h.responded(503, nullptr, kT0);
        }
        QVERIFY(h.available(kT0));
        const auto noFailures = passive(0, 2, 10, 300);  // only 5xx counts
        for (int i = 0; i < 100; ++i) h.transportFailed(&noFailures, kT0);
        QVERIFY(h.available(kT0));
    }

    void backoffDoublesToTheCapThenResets() {
        ServerHealth h("u", "s");
        const auto p = passive(2, 0, 10, 35);
        auto ejectAt = [&](Clock::time_point t) {
            h.transportFailed(&p, t);
            h.transportFailed(&p, t);
            QVERIFY(!h.available(t));
        };
        auto lastsFor = [&](Clock::time_point t) {
            // The first second at which it is available again.
            for (int s = 0; s <= 100; ++s)
                if (h.available(t + std::chrono::seconds(s))) return s;
            return -1;
        };
        Clock::time_point t = kT0;
        ejectAt(t);
        QCOMPARE(lastsFor(t), 10);
        t += 11s;  // back 1 s, fails again at once: double
        ejectAt(t);
        QCOMPARE(lastsFor(t), 20);
        t += 21s;
        ejectAt(t);
        QCOMPARE(lastsFor(t), 35);  // 40, capped at max_eject
        t += 36s;
        ejectAt(t);
        QCOMPARE(lastsFor(t), 35);
        // In service for longer than max_eject since its return: the backoff starts over.
        t += 35s + 36s;
        ejectAt(t);
        QCOMPARE(lastsFor(t), 10);
    }

    void failuresWhileEjectedDoNotExtendIt() {
        ServerHealth h("u", "s");
        const auto p = passive(1, 0, 10, 300);
        h.transportFailed(&p, kT0);
        for (int i = 0; i < 50; ++i) h.transportFailed(&p, kT0 + 5s);  // requests already in flight
        QVERIFY(h.available(kT0 + 10s));
        QCOMPARE(h.status(1, 0s, kT0, {}).ejections, std::uint64_t(1));
    }

    void fiveHundredsEjectAndOthersReset() {
        ServerHealth h("u", "s");
        const auto p = passive(3, 2, 10, 300);
        h.responded(500, &p, kT0);
        h.responded(404, &p, kT0);  // not a server failure: breaks the run
        h.responded(502, &p, kT0);
        QVERIFY(h.available(kT0));
        h.responded(503, &p, kT0);
        QVERIFY(!h.available(kT0));
        QCOMPARE(h.status(1, 0s, kT0, {}).ejectReason, health::EjectReason::Status5xx);
    }

    void racingWorkersEjectOnce() {
        ServerHealth h("u", "s");
        const auto p = passive(3, 0, 60, 300);
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                for (int i = 0; i < 2000; ++i)
                    h.transportFailed(&p, kT0 + std::chrono::milliseconds(i));
            });
        for (auto& t : threads) t.join();
        QCOMPARE(h.status(1, 0s, kT0, {}).ejections, std::uint64_t(1));
        QVERIFY(!h.available(kT0 + 2s));
    }

    void activeFirstResultDecidesThenRiseAndFall() {
        ServerHealth h("u", "s");
        config::HealthCheck check;
        check.rise = 2;
        check.fall = 3;
        QCOMPARE(h.active(), health::ActiveState::Unknown);
        QVERIFY(h.available(kT0));
        h.activeResult(bad(), check, kT0, {});
        QCOMPARE(h.active(), health::ActiveState::Down);  // the first answer counts at once
        QVERIFY(!h.available(kT0));
        h.activeResult(ok(), check, kT0, {});
        QCOMPARE(h.active(), health::ActiveState::Down);  // rise 2
        h.activeResult(bad(), check, kT0, {});
        h.activeResult(ok(), check, kT0, {});
        QCOMPARE(h.active(), health::ActiveState::Down);  // not two in a row
        h.activeResult(ok(), check, kT0, {});
        QCOMPARE(h.active(), health::ActiveState::Up);
        h.activeResult(bad(), check, kT0, {});
        h.activeResult(bad(), check, kT0, {});
        QCOMPARE(h.active(), health::ActiveState::Up);  // fall 3
        h.activeResult(bad(), check, kT0, {});
        QCOMPARE(h.active(), health::ActiveState::Down);
        const auto status = h.status(1, 0s, kT0, health::WallClock::now());
        QCOMPARE(QString::fromStdString(status.reason), QString("connect: Connection refused"));
        QVERIFY(status.lastCheckAt.has_value());
        QCOMPARE(status.activeFailures, 3u);
        h.clearActive();
        QCOMPARE(h.active(), health::ActiveState::Unknown);
        QVERIFY(h.available(kT0));
    }

    void slowStartRampsAfterEjection() {
        ServerHealth h("u", "s");
        const auto p = passive(1, 0, 10, 300);
        const auto window = 30s;
        QCOMPARE(h.scaledWeight(4, window, kT0), 4 * health::kWeightScale);  // never returned: full
        h.transportFailed(&p, kT0);
        const auto back = kT0 + 10s;
        QCOMPARE(h.scaledWeight(4, window, back), std::uint64_t(1));
        const auto quarter = h.scaledWeight(4, window, back + 7500ms);
        QVERIFY2(quarter >= health::kWeightScale - 2 && quarter <= health::kWeightScale + 2,
                 qPrintable(QString::number(quarter)));
        std::uint64_t previous = 0;
        for (int s = 0; s <= 30; ++s) {  // never decreasing
            const auto w = h.scaledWeight(4, window, back + std::chrono::seconds(s));
            QVERIFY(w >= previous);
            previous = w;
        }
        QCOMPARE(h.scaledWeight(4, window, back + window), 4 * health::kWeightScale);
        QCOMPARE(h.scaledWeight(4, 0s, back + 1s), 4 * health::kWeightScale);  // no slow start
        QCOMPARE(h.status(4, window, back + 15s, {}).weightPercent, 50u);
    }

    void slowStartRampsAfterActiveRecovery() {
        ServerHealth h("u", "s");
        config::HealthCheck check;
        check.rise = 1;
        check.fall = 1;
        h.activeResult(ok(), check, kT0, {});  // Unknown -> Up: no ramp, it was presumed up
        QCOMPARE(h.scaledWeight(1, 20s, kT0 + 1s), health::kWeightScale);
        h.activeResult(bad(), check, kT0 + 2s, {});
        h.activeResult(ok(), check, kT0 + 4s, {});  // Down -> Up: ramps
        QCOMPARE(h.scaledWeight(1, 20s, kT0 + 14s), health::kWeightScale / 2);
    }
};

QTEST_GUILESS_MAIN(ServerHealthTest)
#include "server_health_test.moc"
