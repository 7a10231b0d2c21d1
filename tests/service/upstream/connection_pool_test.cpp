// ConnectionPool over real loopback sockets: a pooled connection whose origin closed it, or
// wrote to it unasked, while it sat idle is never handed out again (unless the caller can retry
// and the connection came back within the fresh window); a quiet one is, warmest first;
// the idle bound and the sweep close what they should.
#include <QTest>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "upstream/connection_pool.h"

using namespace proxy::upstream;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// One accepted origin-side socket per pooled connection, so the test can close or write to it.
struct Origin {
    asio::io_context& io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    std::vector<tcp::socket> peers;

    std::unique_ptr<UpstreamConnection> connect(const std::string& key) {
        auto connection = std::make_unique<UpstreamConnection>(io.get_executor(), key);
        connection->stream.socket().connect(acceptor.local_endpoint());
        // As Session::connectUpstream leaves it: the pool's liveness peek must never block.
        connection->stream.socket().non_blocking(true);
        peers.push_back(acceptor.accept());
        return connection;
    }
};

// Lets the kernel deliver the origin's FIN or bytes (and runs the loop, in case a pool version
// watches idle sockets with async waits).
void settle(asio::io_context& io) {
    for (int i = 0; i < 20; ++i) {
        io.restart();
        io.run_for(5ms);
    }
}

}  // namespace

class ConnectionPoolTest : public QObject {
    Q_OBJECT
private slots:
    void aQuietConnectionIsReusedWarmestFirst() {
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        auto a = origin.connect("s1");
        auto b = origin.connect("s1");
        UpstreamConnection* second = b.get();
        pool.put(std::move(a), 8, 10s);
        pool.put(std::move(b), 8, 10s);
        settle(io);
        QCOMPARE(pool.idleCount(), std::size_t(2));
        auto taken = pool.take("s1");
        QVERIFY(taken != nullptr);
        QCOMPARE(taken.get(), second);  // the most recently returned
        QVERIFY(pool.take("other") == nullptr);
        // The taken connection still works both ways.
        settle(io);
        taken->stream.socket().non_blocking(false);  // for this test's blocking reads
        asio::write(taken->stream.socket(), asio::buffer("ping", 4));
        char got[4];
        asio::read(origin.peers[1], asio::buffer(got));
        QCOMPARE(std::string(got, 4), std::string("ping"));
        asio::write(origin.peers[1], asio::buffer("pong", 4));
        asio::read(taken->stream.socket(), asio::buffer(got));
        QCOMPARE(std::string(got, 4), std::string("pong"));
        // Back into the pool after a clean exchange: reusable again.
        taken->stream.socket().non_blocking(true);
        pool.put(std::move(taken), 8, 10s);
        settle(io);
        QVERIFY(pool.take("s1") != nullptr);
        QVERIFY(pool.take("s1") != nullptr);
        QVERIFY(pool.take("s1") == nullptr);
    }

    void aConnectionTheOriginClosedWhileIdleIsDropped_data() {
        QTest::addColumn<bool>("verify");
        QTest::addColumn<int>("idleMs");
        QTest::newRow("verified take") << true << 0;
        // A retry-safe request (verify false) skips the peek only for a connection returned
        // within kFreshWindow; one that sat longer is checked like any other.
        QTest::newRow("unverified take after the fresh window")
            << false << int((ConnectionPool::kFreshWindow + 50ms).count());
    }

    void aConnectionTheOriginClosedWhileIdleIsDropped() {
        QFETCH(bool, verify);
        QFETCH(int, idleMs);
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        auto first = origin.connect("s1");
        UpstreamConnection* survivor = first.get();
        pool.put(std::move(first), 8, 10s);
        pool.put(origin.connect("s1"), 8, 10s);
        origin.peers[1].close();  // the warmest one: take() would pick it first
        settle(io);
        QTest::qWait(idleMs);
        auto taken = pool.take("s1", verify);
        QCOMPARE(taken.get(), survivor);  // the one whose origin side is still open
        QVERIFY(pool.take("s1") == nullptr);
        QCOMPARE(pool.idleCount(), std::size_t(0));
    }

    void anUnverifiedTakeTrustsAFreshConnection() {
        // Within the window the peek is skipped: the closed connection is handed out, and the
        // caller (Session::forward) sends its retry-safe request again on a fresh one. A verified
        // take never hands such a connection out.
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        pool.put(origin.connect("s1"), 8, 10s);
        pool.put(origin.connect("s1"), 8, 10s);
        origin.peers[0].close();
        origin.peers[1].close();
        QTest::qWait(20);  // the FINs arrive; still well inside the 100 ms window
        auto fresh = pool.take("s1", false);
        QVERIFY(fresh != nullptr);
        char byte;
        asio::error_code ec;
        fresh->stream.socket().non_blocking(false);
        fresh->stream.socket().read_some(asio::buffer(&byte, 1), ec);
        QCOMPARE(ec, asio::error_code(asio::error::eof));
        QVERIFY(pool.take("s1", true) == nullptr);
        QCOMPARE(pool.idleCount(), std::size_t(0));
    }

    void aConnectionWithUnaskedBytesIsDropped() {
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        pool.put(origin.connect("s1"), 8, 10s);
        asio::write(origin.peers[0], asio::buffer("HTTP/1.1 200 OK\r\n\r\n", 19));  // nobody asked
        settle(io);
        QVERIFY(pool.take("s1") == nullptr);
    }

    void aReturnedConnectionIsWatchedAgain() {
        // The watch is per idle period: after one take/put round, a close in the second idle
        // period is still seen.
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        pool.put(origin.connect("s1"), 8, 10s);
        settle(io);
        auto taken = pool.take("s1");
        QVERIFY(taken != nullptr);
        settle(io);
        pool.put(std::move(taken), 8, 10s);
        origin.peers[0].close();
        settle(io);
        QVERIFY(pool.take("s1") == nullptr);
    }

    void theIdleBoundAndTheSweepClose() {
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        pool.put(origin.connect("s1"), 1, 10s);
        pool.put(origin.connect("s1"), 1, 10s);  // over max_idle 1: kept through the burst
        QCOMPARE(pool.idleCount(), std::size_t(2));
        pool.sweep(std::chrono::steady_clock::now());  // not idle for kBurstHold yet
        QCOMPARE(pool.idleCount(), std::size_t(2));
        pool.sweep(std::chrono::steady_clock::now() + ConnectionPool::kBurstHold + 10ms);
        QCOMPARE(pool.idleCount(), std::size_t(1));  // the surplus went, least recently used first
        char byte;
        asio::error_code ec;
        origin.peers[0].read_some(asio::buffer(&byte, 1), ec);
        QCOMPARE(ec, asio::error_code(asio::error::eof));
        origin.peers[1].non_blocking(true);
        origin.peers[1].read_some(asio::buffer(&byte, 1), ec);
        QCOMPARE(ec, asio::error_code(asio::error::would_block));  // the warm one stays open
        origin.peers[1].non_blocking(false);
        pool.put(origin.connect("s2"), 4, 0ms);  // idle timeout already over
        pool.sweep(std::chrono::steady_clock::now() + 1ms);
        QCOMPARE(pool.idleCount(), std::size_t(1));  // s1's 10 s are not over
        QVERIFY(pool.take("s2") == nullptr);
        origin.peers[2].read_some(asio::buffer(&byte, 1), ec);
        QCOMPARE(ec, asio::error_code(asio::error::eof));
        // max_idle 0: no pooling at all.
        pool.put(origin.connect("s3"), 0, 10s);
        QVERIFY(pool.take("s3") == nullptr);
        origin.peers[3].read_some(asio::buffer(&byte, 1), ec);
        QCOMPARE(ec, asio::error_code(asio::error::eof));
        settle(io);
    }

    void aBurstSurplusIsReusedNotReopened() {
        // 8 connections come back at once with max_idle 2; the next burst of 8 takes all 8 back
        // (none was closed in between), and only after kBurstHold unused does the pool shrink.
        asio::io_context io;
        Origin origin{io};
        ConnectionPool pool;
        for (int i = 0; i < 8; ++i) pool.put(origin.connect("s1"), 2, 10s);
        pool.sweep(std::chrono::steady_clock::now());
        std::vector<std::unique_ptr<UpstreamConnection>> busy;
        for (int i = 0; i < 8; ++i) {
            busy.push_back(pool.take("s1"));
            QVERIFY(busy.back() != nullptr);
        }
        QVERIFY(pool.take("s1") == nullptr);
        for (auto& c : busy) pool.put(std::move(c), 2, 10s);
        QCOMPARE(pool.idleCount(), std::size_t(8));
        pool.sweep(std::chrono::steady_clock::now() + ConnectionPool::kBurstHold + 10ms);
        QCOMPARE(pool.idleCount(), std::size_t(2));
        settle(io);
    }
};

QTEST_GUILESS_MAIN(ConnectionPoolTest)
#include "connection_pool_test.moc"
