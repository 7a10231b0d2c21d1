#include "tls/ocsp_fetcher.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <ctime>
#include <future>
#include <random>

#include "core/awaitable.h"
#include "core/snapshot.h"
#include "logging/log.h"
#include "tls/certificate.h"
#include "tls/server_tls.h"
#include "upstream/detached_lookup.h"

namespace proxy::tls {
namespace {

using core::kNoThrow;
using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kFirstRetry = 2s;
constexpr std::chrono::milliseconds kLongestRetry = 5min;

std::string digestHex(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &size) != 1) return "-";
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out.push_back(kHex[md[i] >> 4]);
        out.push_back(kHex[md[i] & 15]);
    }
    return out;
}

std::mt19937& generator() {
    thread_local std::mt19937 generator(std::random_device{}());
    return generator;
}

// `ms` scaled by a random factor in [low, high].
std::chrono::milliseconds jittered(std::chrono::milliseconds ms, double low, double high) {
    std::uniform_real_distribution<double> factor(low, high);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(ms.count()) * factor(generator())));
}

std::string timeText(std::int64_t unix) {
    if (unix == 0) return "none";
    const std::time_t t = static_cast<std::time_t>(unix);
    std::tm tm{};
#ifdef _WIN32
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &tm);
    return text;
}

std::string certStatusText(OcspCertStatus s) {
    switch (s) {
        case OcspCertStatus::Good:
            return "good";
        case OcspCertStatus::Revoked:
            return "revoked";
        case OcspCertStatus::Unknown:
            return "unknown";
    }
    return "unknown";
}

void logStray(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        logging::log(logging::Level::Error, "tls: OCSP fetch coroutine ended by exception: %s",
                     ex.what());
    } catch (...) {
        logging::log(logging::Level::Error,
                     "tls: OCSP fetch coroutine ended by an unknown exception");
    }
}

}  // namespace

// ---- OcspState ----

std::expected<std::shared_ptr<OcspState>, std::string> OcspState::forCertificate(
    X509* cert, X509* issuer, STACK_OF(X509) * chain, const ResponderUrl& url,
    const config::OcspFetch& settings, const std::string& name) {
    std::string identity = digestHex(cert) + '\n' + digestHex(issuer) + '\n' + url.authority() +
                           url.path + '\n' + std::to_string(settings.timeout.count()) + '\n' +
                           std::to_string(settings.refresh.count()) + '\n' +
                           (settings.proxy ? settings.proxy->toString() : std::string());
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<OcspState>> known;
    std::lock_guard lock(mutex);
    std::erase_if(known, [](const auto& entry) { return entry.second.expired(); });
    if (auto it = known.find(identity); it != known.end())
        if (auto state = it->second.lock()) return state;
    auto request = makeOcspRequest(cert, issuer);
    if (!request) return std::unexpected(request.error());
    std::shared_ptr<OcspState> state(new OcspState());
    X509_up_ref(cert);
    state->cert_ = cert;
    X509_up_ref(issuer);
    state->issuer_ = issuer;
    state->chain_ = chain != nullptr ? X509_chain_up_ref(chain) : sk_X509_new_null();
    state->url_ = url;
    state->settings_ = settings;
    state->name_ = name;
    state->request_ = std::move(*request);
    state->status_.url = "http://" + url.authority() + url.path;
    known[identity] = state;
    return state;
}

OcspState::~OcspState() {
    X509_free(cert_);
    X509_free(issuer_);
    if (chain_ != nullptr) sk_X509_pop_free(chain_, X509_free);
}

void OcspState::attach(SSL_CTX* ctx) {
    SSL_CTX_set_tlsext_status_cb(ctx, &OcspState::onStatusRequest);
    SSL_CTX_set_tlsext_status_arg(ctx, this);
}

std::shared_ptr<const OcspStaple> OcspState::current() const {
    std::lock_guard lock(mutex_);
    return current_;
}

// Worker threads, during handshakes whose client asked for the status (status_request).
int OcspState::onStatusRequest(SSL* ssl, void* arg) {
    const auto* self = static_cast<const OcspState*>(arg);
    if (self == nullptr) return SSL_TLSEXT_ERR_NOACK;
    const std::shared_ptr<const OcspStaple> s = self->current();
    return stapleResponse(ssl, s.get());
}

OcspState::Status OcspState::status() const {
    std::lock_guard lock(mutex_);
    Status out = status_;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    if (current_ && current_->nextUpdate != 0 && now > current_->nextUpdate)
        out.stapling = "expired";
    return out;
}

std::chrono::milliseconds OcspState::failed(std::string error, std::int64_t now) {
    ++status_.failures;
    const bool changed = error != status_.lastError || status_.failures == 1;
    status_.lastError = std::move(error);
    if (current_ && current_->nextUpdate != 0 && now > current_->nextUpdate) {
        current_.reset();  // the handshake callback already refused it; now status says so too
        status_.thisUpdate = status_.nextUpdate = 0;
        if (!loggedExpiry_)
            logging::log(logging::Level::Error,
                         "tls: the OCSP response for %s has passed its nextUpdate and no newer "
                         "one could be fetched from %s: nothing is stapled until one is (%s)",
                         name_.c_str(), status_.url.c_str(), status_.lastError.c_str());
        loggedExpiry_ = true;
    }
    status_.stapling = current_ ? "fetched" : (loggedExpiry_ ? "expired" : "failed");
    auto delay = kFirstRetry;
    for (std::uint64_t i = 1; i < status_.failures && delay < kLongestRetry; ++i) delay *= 2;
    delay = std::min({delay, std::chrono::milliseconds(kLongestRetry),
                      std::chrono::duration_cast<std::chrono::milliseconds>(settings_.refresh)});
    delay = std::max(jittered(delay, 0.75, 1.25), std::chrono::milliseconds(500));
    status_.nextRefresh = now + (delay.count() + 999) / 1000;
    if (changed)
        logging::log(logging::Level::Warn,
                     "tls: fetching the OCSP response for %s from %s failed: %s; %s, retrying in "
                     "%lld s",
                     name_.c_str(), status_.url.c_str(), status_.lastError.c_str(),
                     current_ ? ("the response fetched at " + timeText(status_.lastSuccess) +
                                 " stays stapled until " + timeText(current_->nextUpdate))
                                    .c_str()
                              : "nothing is stapled",
                     static_cast<long long>((delay.count() + 999) / 1000));
    else
        logging::log(logging::Level::Debug,
                     "tls: fetching the OCSP response for %s failed again: %s", name_.c_str(),
                     status_.lastError.c_str());
    return delay;
}

std::chrono::milliseconds OcspState::record(const std::string* der, const std::string& error,
                                            std::int64_t now) {
    std::lock_guard lock(mutex_);
    ++status_.fetches;
    status_.lastFetch = now;
    if (der == nullptr) return failed(error, now);
    auto checked = checkFetchedOcsp(
        std::span(reinterpret_cast<const unsigned char*>(der->data()), der->size()), cert_, issuer_,
        chain_, now);
    if (!checked) return failed(checked.error(), now);
    status_.certStatus = certStatusText(checked->certStatus);
    if (checked->certStatus == OcspCertStatus::Revoked) {
        // Never keep stapling an older "good": the CA has spoken.
        current_.reset();
        status_.thisUpdate = status_.nextUpdate = 0;
        ++status_.failures;
        status_.lastError =
            "the responder says the certificate is revoked (" + checked->revocation + ")";
        status_.stapling = "failed";
        logging::log(logging::Level::Error,
                     "tls: the certificate %s is REVOKED, says its OCSP responder %s (%s): nothing "
                     "is stapled; replace the certificate",
                     name_.c_str(), status_.url.c_str(), checked->revocation.c_str());
        const auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::min<std::chrono::seconds>(settings_.refresh, 1h));
        status_.nextRefresh = now + delay.count() / 1000;
        return delay;
    }
    if (checked->certStatus == OcspCertStatus::Unknown)
        return failed("the responder does not know the certificate (status unknown)", now);
    const bool recovered = status_.failures > 0 || status_.lastSuccess == 0;
    current_ = std::make_shared<const OcspStaple>(std::move(checked->staple));
    status_.failures = 0;
    status_.lastError.clear();
    status_.lastSuccess = now;
    status_.thisUpdate = current_->thisUpdate;
    status_.nextUpdate = current_->nextUpdate;
    status_.stapling = "fetched";
    loggedExpiry_ = false;
    auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.refresh);
    if (current_->nextUpdate != 0) {
        const auto half = std::chrono::milliseconds((current_->nextUpdate - now) * 1000 / 2);
        delay = std::min(delay, std::max(half, std::chrono::milliseconds(1000)));
    }
    delay = std::max(jittered(delay, 0.9, 1.0), std::chrono::milliseconds(500));
    status_.nextRefresh = now + (delay.count() + 999) / 1000;
    logging::log(recovered ? logging::Level::Info : logging::Level::Debug,
                 "tls: OCSP response for %s fetched from %s: good, valid until %s; stapled, next "
                 "refresh in %lld s",
                 name_.c_str(), status_.url.c_str(), timeText(current_->nextUpdate).c_str(),
                 static_cast<long long>((delay.count() + 999) / 1000));
    return delay;
}

// ---- OcspFetcher ----

struct OcspFetcher::Loop {
    Loop(asio::io_context& io, std::shared_ptr<OcspState> s) : state(std::move(s)), wait(io) {}
    std::shared_ptr<OcspState> state;
    asio::steady_timer wait;                        // the pause between fetches
    std::shared_ptr<asio::ip::tcp::socket> socket;  // the fetch in progress, if any
    std::shared_ptr<asio::steady_timer> lookupWait;  // its wait for the responder's addresses
    bool stopped = false;

    void stop() {
        stopped = true;
        wait.cancel();
        if (lookupWait) lookupWait->cancel();
        if (socket) {
            asio::error_code ignored;
            socket->close(ignored);
        }
    }
};

namespace {

struct FetchResult {
    bool ok = false;
    std::string body;   // the DER response
    std::string error;  // why not
};

// One fetch: resolve, connect, send, read the answer until it is judged, all within timeout_ms.
asio::awaitable<FetchResult> fetchOnce(std::shared_ptr<OcspFetcher::Loop> loop) {
    auto executor = co_await asio::this_coro::executor;
    const OcspState& state = *loop->state;
    const config::OcspFetch& settings = state.settings();
    const bool viaProxy = settings.proxy.has_value();
    const std::string host = viaProxy ? settings.proxy->host : state.url().host;
    const std::uint16_t port = viaProxy ? settings.proxy->port : state.url().port;
    const std::string where =
        (viaProxy ? "the proxy " : "") + config::HostPort{host.find(':') != std::string::npos
                                                              ? config::HostPort::Kind::IPv6
                                                              : config::HostPort::Kind::Name,
                                                          host, port}
                                             .toString();
    auto socket = std::make_shared<asio::ip::tcp::socket>(executor);
    auto lookupWait = std::make_shared<asio::steady_timer>(executor);
    loop->socket = socket;
    loop->lookupWait = lookupWait;
    // The deadline closes the socket (and ends the wait for a lookup), which ends whichever step
    // waits.
    auto timedOut = std::make_shared<bool>(false);
    asio::steady_timer deadline(executor, settings.timeout);
    deadline.async_wait([socket, lookupWait, timedOut](const asio::error_code& ec) {
        if (ec) return;
        *timedOut = true;
        lookupWait->cancel();
        asio::error_code ignored;
        socket->close(ignored);
    });
    auto finish = [&](FetchResult result) {
        deadline.cancel();
        asio::error_code ignored;
        socket->close(ignored);
        loop->socket.reset();
        loop->lookupWait.reset();
        return result;
    };
    auto failed = [&](const std::string& step, const asio::error_code& ec) {
        if (*timedOut)
            return finish({false,
                           {},
                           step + " timed out (ocsp.timeout_ms is " +
                               std::to_string(settings.timeout.count()) + ")"});
        return finish({false, {}, step + ": " + ec.message()});
    };

    // The lookup runs on a thread of its own (upstream/detached_lookup.h): a slow DNS server
    // holds neither this fetch past its timeout nor the fetcher's stop.
    const auto addresses = co_await upstream::lookupDetached(host, upstream::systemLookup, lookupWait);
    // An answer that raced the deadline or a stop is not used: async_connect would reopen the
    // socket they closed.
    if (!addresses || *timedOut || loop->stopped)
        co_return failed("looking up " + where, asio::error::operation_aborted);
    if (!*addresses) co_return finish({false, {}, "looking up " + where + ": " + addresses->error()});
    std::vector<asio::ip::tcp::endpoint> endpoints;
    for (const auto& address : **addresses) endpoints.emplace_back(address, port);
    {
        auto [ec, endpoint] = co_await asio::async_connect(*socket, endpoints, kNoThrow);
        if (ec) co_return failed("connecting to " + where, ec);
    }
    const std::string request = ocspHttpRequest(state.url(), state.request(), viaProxy);
    {
        auto [ec, n] = co_await asio::async_write(*socket, asio::buffer(request), kNoThrow);
        if (ec) co_return failed("sending the request to " + where, ec);
    }
    std::string bytes;
    constexpr std::size_t kMaxBytes = kMaxOcspResponseHead + kMaxOcspResponseBody + 1024;
    std::array<char, 8192> chunk;
    for (;;) {
        auto [ec, n] = co_await socket->async_read_some(asio::buffer(chunk), kNoThrow);
        if (n > 0) bytes.append(chunk.data(), std::min(n, kMaxBytes - bytes.size()));
        const bool eof = ec == asio::error::eof;
        if (ec && !eof) co_return failed("reading the answer from " + where, ec);
        OcspHttpAnswer answer = judgeOcspAnswer(bytes, eof);
        if (answer.state == OcspHttpAnswer::State::NeedMore && bytes.size() >= kMaxBytes)
            co_return finish({false,
                              {},
                              "the responder's answer is larger than " +
                                  std::to_string(kMaxBytes / 1024) + " KiB"});
        if (answer.state == OcspHttpAnswer::State::Done)
            co_return finish({true, std::move(answer.body), {}});
        if (answer.state == OcspHttpAnswer::State::Error)
            co_return finish({false, {}, answer.error});
        if (eof) co_return finish({false, {}, "the responder closed before a complete answer"});
    }
}

}  // namespace

OcspFetcher::OcspFetcher() : work_(asio::make_work_guard(io_)) {
    thread_ = std::thread([this] { io_.run(); });
}

OcspFetcher::~OcspFetcher() {
    stop();
}

void OcspFetcher::stop() {
    if (!thread_.joinable()) return;
    std::promise<void> done;
    asio::post(io_, [this, &done] {
        stopped_ = true;
        for (auto& [state, loop] : loops_) loop->stop();
        loops_.clear();
        done.set_value();
    });
    done.get_future().wait();
    work_.reset();
    // The loops unwind on their own (their waits and I/O were cancelled); run() returns then.
    thread_.join();
    std::lock_guard lock(mutex_);
    loopCount_ = 0;
}

std::size_t OcspFetcher::loopCount() const {
    std::lock_guard lock(mutex_);
    return loopCount_;
}

void OcspFetcher::activate(std::shared_ptr<const core::Snapshot> snapshot) {
    if (!snapshot) return;
    std::vector<std::shared_ptr<OcspState>> states;
    for (const auto& [listener, tls] : snapshot->listenerTls)
        for (const auto& state : tls->ocspStates())
            if (state) states.push_back(state);
    asio::post(io_, [this, states = std::move(states)]() mutable { reconcile(std::move(states)); });
}

void OcspFetcher::reconcile(std::vector<std::shared_ptr<OcspState>> states) {
    if (stopped_) return;
    std::map<OcspState*, std::shared_ptr<Loop>> next;
    for (auto& state : states) {
        if (next.contains(state.get())) continue;  // two listeners share a certificate
        if (auto it = loops_.find(state.get()); it != loops_.end()) {
            next.emplace(state.get(), it->second);
            loops_.erase(it);
            continue;
        }
        auto loop = std::make_shared<Loop>(io_, state);
        next.emplace(state.get(), loop);
        // The first fetch comes at once for a state that has never fetched, spread over up to a
        // second so that many certificates do not hit their responders together.
        const auto first = std::chrono::milliseconds(
            state->status().fetches == 0 ? std::uniform_int_distribution<int>(0, 1000)(generator())
                                         : 0);
        asio::co_spawn(
            io_,
            [loop, first]() -> asio::awaitable<void> {
                loop->wait.expires_after(first);
                co_await loop->wait.async_wait(kNoThrow);
                while (!loop->stopped) {
                    FetchResult result = co_await fetchOnce(loop);
                    if (loop->stopped) break;
                    const auto delay =
                        loop->state->record(result.ok ? &result.body : nullptr, result.error,
                                            static_cast<std::int64_t>(std::time(nullptr)));
                    loop->wait.expires_after(delay);
                    co_await loop->wait.async_wait(kNoThrow);
                }
            },
            logStray);
    }
    for (auto& [state, loop] : loops_) loop->stop();  // certificates the live config dropped
    loops_ = std::move(next);
    std::lock_guard lock(mutex_);
    loopCount_ = loops_.size();
}

}  // namespace proxy::tls
