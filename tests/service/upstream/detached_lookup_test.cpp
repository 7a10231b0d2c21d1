// lookupDetached (service/upstream/detached_lookup.h): the answer of a lookup running on its own
// thread, an error as a sentence, and, when the caller ends the wait first, nullopt at once: a
// slow lookup holds neither the caller nor its io_context's run(), and finishes on its own later
// without touching what the caller has let go.
#include <QTest>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <thread>

#include "upstream/detached_lookup.h"

using proxy::upstream::LookupResult;
using proxy::upstream::lookupDetached;
using namespace std::chrono_literals;

namespace {

// Runs one lookupDetached to its end on a fresh io_context. `endAfter`: the caller cancels its
// wait then (a deadline). Returns what it gave, and how long io_context::run() took.
struct Outcome {
    bool finished = false;
    std::optional<LookupResult> result;
    std::chrono::milliseconds runTime{0};
};

Outcome runLookup(proxy::upstream::LookupFn fn, std::optional<std::chrono::milliseconds> endAfter = std::nullopt) {
    Outcome out;
    asio::io_context io;
    auto wake = std::make_shared<asio::steady_timer>(io);
    asio::steady_timer deadline(io);
    if (endAfter) {
        deadline.expires_after(*endAfter);
        deadline.async_wait([wake](asio::error_code ec) {
            if (!ec) wake->cancel();
        });
    }
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            out.result = co_await lookupDetached("origin.test", fn, wake);
            out.finished = true;
            deadline.cancel();
        },
        asio::detached);
    const auto start = std::chrono::steady_clock::now();
    io.run();
    out.runTime = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return out;
}

}  // namespace

class DetachedLookupTest : public QObject {
    Q_OBJECT
private slots:
    void answerArrives() {
        const Outcome o = runLookup([](const std::string& host) -> LookupResult {
            if (host != "origin.test") return std::unexpected(std::string("wrong name"));
            return std::vector{asio::ip::make_address("192.0.2.7"), asio::ip::make_address("2001:db8::7")};
        });
        QVERIFY(o.finished);
        QVERIFY(o.result.has_value());
        QVERIFY(o.result->has_value());
        QCOMPARE((*o.result)->size(), std::size_t(2));
        QCOMPARE((**o.result)[0].to_string(), std::string("192.0.2.7"));
        QCOMPARE((**o.result)[1].to_string(), std::string("2001:db8::7"));
    }

    void errorIsASentence() {
        const Outcome o = runLookup([](const std::string&) -> LookupResult {
            return std::unexpected(std::string("Host not found (authoritative)"));
        });
        QVERIFY(o.finished);
        QVERIFY(o.result.has_value());
        QVERIFY(!o.result->has_value());
        QCOMPARE(o.result->error(), std::string("Host not found (authoritative)"));
    }

    void aSlowLookupHoldsNoOne() {
        // The lookup takes 2 s; the caller gives up after 100 ms. run() returns then, not when the
        // lookup does, and the lookup later ends on its thread without harm (ASan would see a
        // write to a freed caller).
        auto done = std::make_shared<std::atomic<bool>>(false);
        const Outcome o = runLookup(
            [done](const std::string&) -> LookupResult {
                std::this_thread::sleep_for(2s);
                done->store(true);
                return std::vector{asio::ip::make_address("192.0.2.8")};
            },
            100ms);
        QVERIFY(o.finished);
        QVERIFY(!o.result.has_value());
        QVERIFY2(o.runTime < 1500ms, qPrintable(QString::number(o.runTime.count()) + " ms"));
        QVERIFY(!done->load());
        QTRY_VERIFY_WITH_TIMEOUT(done->load(), 5000);
        std::this_thread::sleep_for(50ms);  // the thread's last steps after the flag
    }

    void anAnswerBeforeTheDeadlineWins() {
        const Outcome o = runLookup(
            [](const std::string&) -> LookupResult {
                std::this_thread::sleep_for(20ms);
                return std::vector{asio::ip::make_address("192.0.2.9")};
            },
            5000ms);
        QVERIFY(o.finished);
        QVERIFY(o.result.has_value() && o.result->has_value());
        QCOMPARE((**o.result)[0].to_string(), std::string("192.0.2.9"));
        QVERIFY(o.runTime < 4000ms);  // the deadline was cancelled, not waited out
    }
};

QTEST_GUILESS_MAIN(DetachedLookupTest)
#include "detached_lookup_test.moc"
