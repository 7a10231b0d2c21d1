#include "health/health_monitor.h"

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <future>
#include <random>

#include "core/awaitable.h"
#include "core/snapshot.h"
#include "core/stream.h"
#include "health/probe.h"
#include "logging/log.h"
#include "upstream/upstream_group.h"
#if PROXY_WITH_OPENSSL
#include "tls/client_tls.h"
#endif

namespace proxy::health {
namespace {

using core::kNoThrow;

void logStray(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        logging::log(logging::Level::Error, "health check coroutine ended by exception: %s",
                     ex.what());
    } catch (...) {
        logging::log(logging::Level::Error, "health check coroutine ended by an unknown exception");
    }
}

std::chrono::milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

}  // namespace

struct HealthMonitor::Probe {
    Probe(asio::io_context& io, std::shared_ptr<ServerHealth> h, config::HealthCheck c,
          std::vector<asio::ip::tcp::endpoint> e, std::string host,
          std::shared_ptr<const tls::ClientTls> t, std::string name)
        : health(std::move(h)),
          check(std::move(c)),
          endpoints(std::move(e)),
          request(probeRequest(check, host)),
          tls(std::move(t)),
          tlsName(std::move(name)),
          wait(io) {}
    std::shared_ptr<ServerHealth> health;
    config::HealthCheck check;
    std::vector<asio::ip::tcp::endpoint> endpoints;
    std::string request;
    std::shared_ptr<const tls::ClientTls> tls;  // a TLS upstream: probes speak TLS too
    std::string tlsName;                        // the server's host, for SNI and the name check
    asio::steady_timer wait;                    // the pause between probes
    std::shared_ptr<core::Stream> socket;       // the probe in progress, if any
    bool stopped = false;

    void stop() {
        stopped = true;
        wait.cancel();
        if (socket) socket->close();
    }
};

namespace {

// One probe: connect, send, read until the answer is judged, all within timeout_ms.
asio::awaitable<ProbeOutcome> probeOnce(std::shared_ptr<HealthMonitor::Probe> p);

}  // namespace

HealthMonitor::HealthMonitor() : work_(asio::make_work_guard(io_)), tick_(io_) {
    scheduleTick();
    thread_ = std::thread([this] { io_.run(); });
}

HealthMonitor::~HealthMonitor() {
    stop();
}

void HealthMonitor::stop() {
    if (!thread_.joinable()) return;
    std::promise<void> done;
    asio::post(io_, [this, &done] {
        stopped_ = true;
        for (auto& [key, probe] : probes_) probe->stop();
        probes_.clear();
        live_.reset();
        tick_.cancel();
        done.set_value();
    });
    done.get_future().wait();
    work_.reset();
    // The probes unwind on their own (their I/O was cancelled); run() returns when they have.
    thread_.join();
    std::lock_guard lock(mutex_);
    probeCount_ = 0;
}

std::size_t HealthMonitor::probeCount() const {
    std::lock_guard lock(mutex_);
    return probeCount_;
}

void HealthMonitor::adopt(upstream::UpstreamGroup& group) {
    std::lock_guard lock(mutex_);
    for (auto& server : group.servers()) {
        auto& slot = healths_[{group.name(), server->key}];
        if (!slot) slot = server->health;  // the group made a fresh one; keep it from now on
        server->health = slot;
    }
}

void HealthMonitor::activate(std::shared_ptr<const core::Snapshot> snapshot) {
    if (!snapshot) return;
    {
        // Forget servers the live config no longer has (snapshots still running keep theirs).
        std::lock_guard lock(mutex_);
        std::map<Key, std::shared_ptr<ServerHealth>> kept;
        for (const auto& group : snapshot->upstreams)
            for (const auto& server : group->servers()) {
                const Key key{group->name(), server->key};
                if (auto it = healths_.find(key); it != healths_.end())
                    kept.emplace(key, it->second);
            }
        healths_ = std::move(kept);
    }
    asio::post(
        io_, [this, snapshot = std::move(snapshot)]() mutable { reconcile(std::move(snapshot)); });
}

void HealthMonitor::reconcile(std::shared_ptr<const core::Snapshot> snapshot) {
    if (stopped_) return;
    std::map<Key, std::shared_ptr<Probe>> next;
    std::mt19937 random(std::random_device{}());
    for (const auto& group : snapshot->upstreams) {
        const auto& check = group->config().healthCheck;
        for (const auto& server : group->servers()) {
            if (!check) {
                server->health->clearActive();
                continue;
            }
            const Key key{group->name(), server->key};
            if (auto it = probes_.find(key); it != probes_.end()) {
                const Probe& old = *it->second;
                if (old.check == *check && old.endpoints == server->endpoints &&
                    old.health == server->health && old.tls == group->sharedTls()) {
                    next.emplace(key, it->second);
                    probes_.erase(it);
                    continue;
                }
            }
            auto probe = std::make_shared<Probe>(io_, server->health, *check, server->endpoints,
                                                 server->config.address.toString(),
                                                 group->sharedTls(), server->config.address.host);
            next.emplace(key, probe);
            // The first probe comes soon (a dead server is found within about one timeout of a
            // start or reload), spread over up to a second so many servers are not probed at once.
            const auto first = std::chrono::milliseconds(std::uniform_int_distribution<int>(
                0, static_cast<int>(std::min<long long>(check->interval.count(), 1000)))(random));
            asio::co_spawn(
                io_,
                [probe, first]() -> asio::awaitable<void> {
                    probe->wait.expires_after(first);
                    co_await probe->wait.async_wait(kNoThrow);
                    while (!probe->stopped) {
                        ProbeOutcome outcome = co_await probeOnce(probe);
                        if (probe->stopped) break;
                        probe->health->activeResult(outcome, probe->check, Clock::now(),
                                                    WallClock::now());
                        probe->wait.expires_after(probe->check.interval);
                        co_await probe->wait.async_wait(kNoThrow);
                    }
                },
                logStray);
        }
    }
    for (auto& [key, probe] : probes_) probe->stop();  // servers or checks that are gone
    probes_ = std::move(next);
    live_ = std::move(snapshot);
    std::lock_guard lock(mutex_);
    probeCount_ = probes_.size();
}

void HealthMonitor::scheduleTick() {
    tick_.expires_after(std::chrono::seconds(1));
    tick_.async_wait([this](const asio::error_code& ec) {
        if (ec || stopped_) return;
        if (live_) {
            const auto now = Clock::now();
            for (const auto& group : live_->upstreams)
                for (const auto& server : group->servers())
                    server->health->noteReturn(now, server->slowStart);
        }
        scheduleTick();
    });
}

namespace {

asio::awaitable<ProbeOutcome> probeOnce(std::shared_ptr<HealthMonitor::Probe> p) {
    auto executor = co_await asio::this_coro::executor;
    auto socket = std::make_shared<core::Stream>(executor);
    p->socket = socket;
    const auto start = Clock::now();
    // The deadline closes the socket, which ends whichever step is waiting.
    auto timedOut = std::make_shared<bool>(false);
    asio::steady_timer deadline(executor, p->check.timeout);
    deadline.async_wait([socket, timedOut](const asio::error_code& ec) {
        if (ec) return;
        *timedOut = true;
        socket->close();
    });
    auto finish = [&](bool ok, std::string detail) {
        deadline.cancel();
        socket->close();
        p->socket.reset();
        return ProbeOutcome{ok, std::move(detail), since(start)};
    };
    auto failed = [&](std::string_view step, const asio::error_code& ec) {
        if (*timedOut)
            return finish(false, std::string(step) + " timed out after " +
                                     std::to_string(p->check.timeout.count()) + " ms");
        return finish(false, std::string(step) + ": " + ec.message());
    };

    if (p->endpoints.empty()) co_return finish(false, "no address to probe");
    {
        auto [ec, endpoint] = co_await asio::async_connect(socket->socket(), p->endpoints, kNoThrow);
        if (ec) co_return failed("connect", ec);
    }
#if PROXY_WITH_OPENSSL
    if (p->tls) {
        socket->startTls(p->tls->context());
        if (!p->tls->prepare(socket->ssl(), p->tlsName))
            co_return finish(false, "TLS: the server name cannot be used for SNI or the check");
        auto [ec] = co_await socket->tlsStream()->async_handshake(asio::ssl::stream_base::client, kNoThrow);
        if (ec) co_return failed("TLS handshake", ec);
    }
#endif
    {
        auto [ec, n] = co_await socket->write(asio::buffer(p->request), kNoThrow);
        if (ec) co_return failed("send", ec);
    }
    std::string bytes;
    constexpr std::size_t kMaxBytes = kMaxProbeBody + 80 * 1024;  // body plus a generous head
    std::array<char, 8192> chunk;
    for (;;) {
        auto [ec, n] = co_await socket->readSome(asio::buffer(chunk), kNoThrow);
        if (n > 0) bytes.append(chunk.data(), std::min(n, kMaxBytes - bytes.size()));
        const bool eof = core::Stream::isEof(ec);
        if (ec && !eof) co_return failed("read", ec);
        const ProbeVerdict verdict = judgeProbe(bytes, eof || bytes.size() >= kMaxBytes, p->check);
        if (verdict.decided) {
            std::string detail = verdict.detail;
            if (verdict.ok) detail += " in " + std::to_string(since(start).count()) + " ms";
            co_return finish(verdict.ok, std::move(detail));
        }
        if (eof) co_return finish(false, "closed before a complete answer");
    }
}

}  // namespace

}  // namespace proxy::health
