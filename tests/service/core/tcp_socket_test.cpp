// TcpSocket over real loopback sockets: a read that drained the socket waits for the next arrival
// instead of trying first, and still sees everything: later data, a FIN that came in the same
// read as the last bytes, a FIN that came later, a reset, a cancel. Accepted sockets inherit
// TCP_NODELAY and the drain hint from the listener, and one closed without EPOLL_CTL_DEL leaves
// the reactor clean for the next connection (which usually gets the same descriptor number).
// TcpListener (Linux) accepts with accept4(): the socket is non-blocking and close-on-exec from
// birth, and asio knows it (no ioctl later); its first read waits for epoll and misses nothing.
// hasUnread() tells a lingering close whether bytes wait on the socket.
#include <QTest>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <functional>
#include <vector>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/awaitable.h"
#include "core/tcp_socket.h"

using proxy::core::TcpListener;
using proxy::core::TcpSocket;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

struct ReadResult {
    asio::error_code ec;
    std::string bytes;
};

struct Pair {
    asio::io_context io;
    TcpListener acceptor{io.get_executor()};
    tcp::socket client{io};
    std::optional<TcpSocket> server;
    tcp::endpoint peer;  // as accept reported it

    explicit Pair(bool connect = true) {
        acceptor.open(tcp::v4());
        acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        asio::error_code ec;
        acceptor.listen(SOMAXCONN, ec);
        if (ec) throw std::runtime_error("listen failed");
        acceptor.prepare();
        if (connect) accept();
    }
    // Connects the client and accepts its connection as the engine does.
    void accept() {
        client = tcp::socket(io);
        client.connect(acceptor.local_endpoint());
        server.emplace(acceptOne(peer));
    }
    TcpSocket acceptOne(tcp::endpoint& from) {
#if PROXY_DRAINED_READS
        TcpSocket socket(io.get_executor());
        std::optional<asio::error_code> done;
        acceptor.acceptInto(socket, from, [&](asio::error_code ec) { done = ec; });
        runUntil([&] { return done.has_value(); });
        if (!done || *done) throw std::runtime_error("accept failed");
        return socket;
#else
        return TcpSocket(acceptor.accept(from));
#endif
    }
    void send(const std::string& bytes) { asio::write(client, asio::buffer(bytes)); }

    // Starts a read into `buffer`; the result lands in `out` when it completes.
    void startRead(std::string& buffer, std::optional<ReadResult>& out) {
        out.reset();
        server->readSome(asio::buffer(buffer.data(), buffer.size()), [&buffer, &out](asio::error_code ec, std::size_t n) {
            out = ReadResult{ec, buffer.substr(0, n)};
        });
    }
    // Runs the loop until `done` holds or `limit` passes.
    template <typename Done>
    bool runUntil(Done done, std::chrono::milliseconds limit = 3000ms) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < end) {
            io.restart();
            io.run_for(5ms);
        }
        return done();
    }
    // Sends a few bytes, reads them (so the socket is drained), then starts a read that must wait:
    // false when any of that went otherwise.
    bool startWaitingRead(std::string& buffer, std::optional<ReadResult>& out) {
        send("abc");
        const auto first = readOnce();
        if (!first || first->ec || first->bytes != "abc") return false;
        startRead(buffer, out);
        return !runUntil([&] { return out.has_value(); }, 30ms);
    }
    std::optional<ReadResult> readOnce(std::size_t size = 64) {
        std::string buffer(size, '\0');
        std::optional<ReadResult> out;
        startRead(buffer, out);
        runUntil([&] { return out.has_value(); });
        return out;
    }
};

int tcpOption(int fd, int option) {
    int value = -1;
    socklen_t size = sizeof(value);
    if (::getsockopt(fd, IPPROTO_TCP, option, &value, &size) != 0) return -1;
    return value;
}

}  // namespace

class TcpSocketTest : public QObject {
    Q_OBJECT
private slots:
    void acceptedSocketsInheritNoDelayAndTheDrainHint() {
        Pair p;
        QCOMPARE(tcpOption(p.server->native_handle(), TCP_NODELAY), 1);
#if PROXY_DRAINED_READS
        QCOMPARE(tcpOption(p.server->native_handle(), TCP_INQ), 1);
#endif
        // A socket that did not come from a prepared listener has neither until asked.
        TcpSocket upstream(p.io.get_executor());
        upstream.connect(p.acceptor.local_endpoint());
        tcp::endpoint from;
        auto peer = p.acceptOne(from);
        QCOMPARE(tcpOption(upstream.native_handle(), TCP_NODELAY), 0);
#if PROXY_DRAINED_READS
        QCOMPARE(tcpOption(upstream.native_handle(), TCP_INQ), 0);
        upstream.enableDrainHint();
        QCOMPARE(tcpOption(upstream.native_handle(), TCP_INQ), 1);
#endif
    }

    void aDrainedReadWaitsForTheNextArrival() {
        Pair p;
        p.send("abc");
        auto first = p.readOnce();
        QVERIFY(first);
        QVERIFY(!first->ec);
        QCOMPARE(first->bytes, std::string("abc"));

        // Nothing queued now: the read waits, and completes when the next bytes arrive.
        std::string buffer(64, '\0');
        std::optional<ReadResult> second;
        p.startRead(buffer, second);
        QVERIFY(!p.runUntil([&] { return second.has_value(); }, 100ms));
        p.send("defg");
        QVERIFY(p.runUntil([&] { return second.has_value(); }));
        QVERIFY(!second->ec);
        QCOMPARE(second->bytes, std::string("defg"));

        // Many rounds, as a keep-alive connection reads request after request.
        for (int i = 0; i < 200; ++i) {
            const std::string message = "request " + std::to_string(i);
            p.send(message);
            auto got = p.readOnce();
            QVERIFY(got);
            QVERIFY(!got->ec);
            QCOMPARE(got->bytes, message);
        }
    }

    void aCoroutineReadsThroughIt() {
        Pair p;
        std::string seen;
        bool finished = false;
        asio::co_spawn(
            p.io,
            [&]() -> asio::awaitable<void> {
                std::array<char, 16> chunk{};
                for (;;) {
                    auto [ec, n] = co_await p.server->readSome(asio::buffer(chunk), proxy::core::kNoThrow);
                    seen.append(chunk.data(), n);
                    if (ec) break;
                }
                finished = true;
            },
            asio::detached);
        p.runUntil([] { return false; }, 30ms);
        p.send("0123456789");
        QVERIFY(p.runUntil([&] { return seen.size() == 10; }));
        p.send("abcdefghijklmnopqrstuvwxyz");  // longer than the chunk: two reads
        QVERIFY(p.runUntil([&] { return seen.size() == 36; }));
        p.client.shutdown(tcp::socket::shutdown_send);
        QVERIFY(p.runUntil([&] { return finished; }));
        QCOMPARE(seen, std::string("0123456789abcdefghijklmnopqrstuvwxyz"));
    }

    // A client that writes its request and half-closes at once: the FIN is read together with the
    // last bytes, so epoll has no later edge for it. The kernel's hint counts the FIN, so the next
    // read tries at once and sees the end of stream instead of waiting for an edge that never comes.
    void aFinInTheSameReadIsNotMissed() {
        Pair p;
        // The read waits first, so epoll's one edge for the bytes and the FIN is what performs it.
        std::string buffer(64, '\0');
        std::optional<ReadResult> first;
        p.startRead(buffer, first);
        QVERIFY(!p.runUntil([&] { return first.has_value(); }, 30ms));
        p.send("last words");
        p.client.shutdown(tcp::socket::shutdown_send);
        std::this_thread::sleep_for(20ms);  // both the bytes and the FIN are queued
        QVERIFY(p.runUntil([&] { return first.has_value(); }));
        QVERIFY(!first->ec);
        QCOMPARE(first->bytes, std::string("last words"));
        auto second = p.readOnce();
        QVERIFY2(second.has_value(), "the end of stream was never reported");
        QCOMPARE(second->ec, asio::error_code(asio::error::eof));
        QCOMPARE(second->bytes, std::string());
    }

    void aFinAfterADrainedReadIsSeen() {
        Pair p;
        std::string buffer(64, '\0');
        std::optional<ReadResult> second;
        QVERIFY(p.startWaitingRead(buffer, second));
        p.client.shutdown(tcp::socket::shutdown_send);
        QVERIFY(p.runUntil([&] { return second.has_value(); }));
        QCOMPARE(second->ec, asio::error_code(asio::error::eof));
    }

    void aResetEndsAWaitingRead() {
        Pair p;
        std::string buffer(64, '\0');
        std::optional<ReadResult> second;
        QVERIFY(p.startWaitingRead(buffer, second));
        p.client.set_option(asio::socket_base::linger(true, 0));
        p.client.close();  // RST
        QVERIFY(p.runUntil([&] { return second.has_value(); }));
        QCOMPARE(second->ec, asio::error_code(asio::error::connection_reset));
    }

    void largeTransfersArriveWhole() {
        Pair p;
        std::string payload(1 << 20, '\0');
        for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + (i * 7919) % 26);
        std::string received;
        std::string buffer(4096, '\0');
        std::optional<ReadResult> out;
        std::function<void()> next = [&] {
            p.server->readSome(asio::buffer(buffer), [&](asio::error_code ec, std::size_t n) {
                received.append(buffer.data(), n);
                if (!ec && received.size() < payload.size()) next();
                else out = ReadResult{ec, {}};
            });
        };
        next();
        asio::async_write(p.client, asio::buffer(payload), [](asio::error_code, std::size_t) {});
        QVERIFY(p.runUntil([&] { return out.has_value(); }, 10000ms));
        QVERIFY(!out->ec);
        QCOMPARE(received.size(), payload.size());
        QVERIFY(received == payload);
    }

    void cancelEndsAPendingRead() {
        Pair p;
        std::string buffer(64, '\0');
        std::optional<ReadResult> pending;
        QVERIFY(p.startWaitingRead(buffer, pending));
        p.server->cancel();
        QVERIFY(p.runUntil([&] { return pending.has_value(); }));
        QCOMPARE(pending->ec, asio::error_code(asio::error::operation_aborted));
        // The socket still works after a cancel.
        p.send("again");
        auto after = p.readOnce();
        QVERIFY(after && !after->ec);
        QCOMPARE(after->bytes, std::string("again"));
    }

#if PROXY_DRAINED_READS
    void acceptedSocketsAreNonBlockingFromBirth() {
        Pair p;
        const int fd = p.server->native_handle();
        QVERIFY((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
        QVERIFY((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
        // asio knows: its first operation issues no ioctl(FIONBIO) (it would if this were false).
        QVERIFY(p.server->native_non_blocking());
        QCOMPARE(p.peer, p.client.local_endpoint());
        p.send("hello");
        auto got = p.readOnce();
        QVERIFY(got && !got->ec);
        QCOMPARE(got->bytes, std::string("hello"));
        asio::write(*p.server, asio::buffer(std::string("back")));
        std::array<char, 4> reply{};
        asio::read(p.client, asio::buffer(reply));
        QCOMPARE(std::string(reply.data(), reply.size()), std::string("back"));
    }

    // A new connection's first read waits for epoll (no recvmsg that only finds EAGAIN), and
    // misses nothing however the request and the read are ordered.
    void aNewConnectionsFirstReadWaitsForEpoll() {
        Pair p(false);
        tcp::endpoint from;
        // Nothing sent yet: the first read will not try at once, and still gets what comes.
        p.client = tcp::socket(p.io);
        p.client.connect(p.acceptor.local_endpoint());
        p.server.emplace(p.acceptOne(from));
        QVERIFY(!p.server->readTriesFirst());
        std::string buffer(64, '\0');
        std::optional<ReadResult> got;
        p.startRead(buffer, got);
        QVERIFY(!p.runUntil([&] { return got.has_value(); }, 30ms));
        p.send("GET / HTTP/1.1\r\n\r\n");
        QVERIFY(p.runUntil([&] { return got.has_value(); }));
        QVERIFY(!got->ec);
        QCOMPARE(got->bytes, std::string("GET / HTTP/1.1\r\n\r\n"));

        // The request came before the accept, and the loop ran (epoll reported the socket with
        // no read waiting) before the first read: the event is remembered, and the read tries
        // at once.
        p.client = tcp::socket(p.io);
        p.client.connect(p.acceptor.local_endpoint());
        p.send("early");
        p.server.emplace(p.acceptOne(from));
        // (A timer keeps the loop waiting in epoll; without pending work it would not wait.)
        asio::steady_timer tick(p.io, 20ms);
        bool ticked = false;
        tick.async_wait([&](asio::error_code) { ticked = true; });
        QVERIFY(p.runUntil([&] { return ticked; }));
        QVERIFY(p.server->readTriesFirst());
        auto early = p.readOnce();
        QVERIFY(early && !early->ec);
        QCOMPARE(early->bytes, std::string("early"));

        // The request came before the accept, and the read starts in the accept's handler, with
        // no epoll_wait in between: EPOLL_CTL_ADD reported the socket readable, so the read
        // completes on the next wait.
        p.client = tcp::socket(p.io);
        p.client.connect(p.acceptor.local_endpoint());
        p.send("inline");
        TcpSocket next(p.io.get_executor());
        std::optional<ReadResult> inlineRead;
        std::string inlineBuffer(64, '\0');
        p.acceptor.acceptInto(next, from, [&](asio::error_code ec) {
            if (ec) {
                inlineRead = ReadResult{ec, {}};
                return;
            }
            next.readSome(asio::buffer(inlineBuffer.data(), inlineBuffer.size()),
                          [&](asio::error_code readEc, std::size_t n) {
                              inlineRead = ReadResult{readEc, inlineBuffer.substr(0, n)};
                          });
        });
        QVERIFY(p.runUntil([&] { return inlineRead.has_value(); }));
        QVERIFY(!inlineRead->ec);
        QCOMPARE(inlineRead->bytes, std::string("inline"));
    }

    void acceptWaitsForAConnectionAndTakesABacklogInTurn() {
        Pair p(false);
        TcpSocket socket(p.io.get_executor());
        tcp::endpoint peer;
        std::optional<asio::error_code> done;
        p.acceptor.acceptInto(socket, peer, [&](asio::error_code ec) { done = ec; });
        QVERIFY(!p.runUntil([&] { return done.has_value(); }, 50ms));  // nothing queued: it waits
        tcp::socket first(p.io);
        first.connect(p.acceptor.local_endpoint());
        QVERIFY(p.runUntil([&] { return done.has_value(); }));
        QVERIFY(!*done);
        QCOMPARE(peer, first.local_endpoint());

        // Five queued at once: each accept takes the next, none is lost, then it waits again.
        std::vector<tcp::socket> clients;
        for (int i = 0; i < 5; ++i) {
            clients.emplace_back(p.io);
            clients.back().connect(p.acceptor.local_endpoint());
        }
        std::vector<tcp::endpoint> seen;
        for (int i = 0; i < 6; ++i) {
            TcpSocket next(p.io.get_executor());
            tcp::endpoint from;
            std::optional<asio::error_code> ok;
            p.acceptor.acceptInto(next, from, [&](asio::error_code ec) { ok = ec; });
            const bool completed = p.runUntil([&] { return ok.has_value(); }, i < 5 ? 3000ms : 50ms);
            if (i == 5) {
                QVERIFY(!completed);
                p.acceptor.close();  // ends the pending accept
                QVERIFY(p.runUntil([&] { return ok.has_value(); }));
                QCOMPARE(*ok, asio::error_code(asio::error::operation_aborted));
                QVERIFY(!next.is_open());
                break;
            }
            QVERIFY(completed);
            QVERIFY(!*ok);
            QVERIFY(next.is_open());
            seen.push_back(from);
        }
        QCOMPARE(seen.size(), std::size_t(5));
        for (std::size_t i = 0; i < clients.size(); ++i)
            QVERIFY(std::find(seen.begin(), seen.end(), clients[i].local_endpoint()) != seen.end());
    }

    void hasUnreadTellsWhatWaitsOnTheSocket() {
        Pair p;
        // Nothing read yet, nothing sent: the kernel is asked, and says nothing.
        QVERIFY(!p.server->hasUnread());
        // Nothing read yet, bytes queued: the kernel says so.
        p.send("0123456789");
        std::this_thread::sleep_for(20ms);
        QVERIFY(p.server->hasUnread());
        // A read that leaves bytes behind: unread.
        auto part = p.readOnce(4);
        QVERIFY(part && !part->ec);
        QCOMPARE(part->bytes, std::string("0123"));
        QVERIFY(p.server->hasUnread());
        // A read that takes the rest: nothing unread.
        auto rest = p.readOnce(64);
        QVERIFY(rest && !rest->ec);
        QCOMPARE(rest->bytes, std::string("456789"));
        QVERIFY(!p.server->hasUnread());
        // The peer's FIN: nothing can follow.
        p.client.shutdown(tcp::socket::shutdown_send);
        auto end = p.readOnce();
        QVERIFY(end);
        QCOMPARE(end->ec, asio::error_code(asio::error::eof));
        QVERIFY(!p.server->hasUnread());
    }
#endif

    void closedAcceptedSocketsLeaveTheReactorClean() {
        Pair p;
        for (int round = 0; round < 50; ++round) {
            std::string buffer(64, '\0');
            std::optional<ReadResult> pending;
            p.startRead(buffer, pending);
            p.server->close();  // no EPOLL_CTL_DEL: the descriptor's close removes it
            QVERIFY(p.runUntil([&] { return pending.has_value(); }));
            QCOMPARE(pending->ec, asio::error_code(asio::error::operation_aborted));
            p.accept();  // most often the same descriptor number again
            const std::string message = "round " + std::to_string(round);
            p.send(message);
            auto got = p.readOnce();
            QVERIFY(got && !got->ec);
            QCOMPARE(got->bytes, message);
        }
    }
};

QTEST_GUILESS_MAIN(TcpSocketTest)
#include "tcp_socket_test.moc"
