#pragma once
// OCSP stapling from the certificate's own responder (nginx's "ssl_stapling on", HAProxy's
// ocsp-update, IIS's default): the service fetches the response itself, off the data path, and
// staples the last good one.
//
// OcspState is one certificate's live stapling state. ServerTls::build makes (or finds again)
// one for each certificate that names an http:// responder and has no ocsp_response file; its
// handshake callback runs on worker threads and reads the current response under a mutex (held
// for a shared_ptr copy). Like the ticket keys, the state outlives snapshots: a reload or an
// address refresh that keeps the certificate, its issuer, its responder and the listener's ocsp
// settings finds the same state, so a fetched response keeps being stapled across reloads.
//
// OcspFetcher runs the fetches: one dedicated thread with its own io_context (as the health
// checker does), one refresh loop per state of the live snapshot. A fetch is: resolve the
// responder (or the proxy), connect, send the request (tls/ocsp_http.h), read the answer (bounded
// in size), all under the listener's ocsp.timeout_ms; then the response is verified
// (checkFetchedOcsp) and, only when good, swapped in for every worker's next handshake.
//
// Schedule: after a good response, the next fetch comes at half the time left to its nextUpdate
// or after ocsp.refresh_seconds, whichever is sooner (minus up to 10 % jitter). After a failure,
// retries back off 2 s, 4 s, 8 s ... up to 5 minutes (and never beyond refresh_seconds), each
// +-25 % jitter; the last good response keeps being stapled until its nextUpdate, then nothing
// is. A "revoked" answer stops stapling at once and is logged as an error at every fetch.
//
// Lifecycle, driven by the runtime: activate() each snapshot once it is live, stop() before
// shutdown.

#include <openssl/ssl.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "tls/ocsp.h"
#include "tls/ocsp_http.h"

namespace proxy::core {
struct Snapshot;
}

namespace proxy::tls {

class OcspState {
  public:
    // What `status` shows for the certificate.
    struct Status {
        // "fetching" (no answer yet), "fetched" (a good response is stapled), "failed" (nothing
        // is stapled: the last fetch failed, or the certificate is revoked), "expired" (the
        // last good response passed its nextUpdate and no newer one came: nothing is stapled).
        std::string stapling = "fetching";
        std::string url;
        std::string certStatus;  // the responder's last word: "good", "revoked", "unknown" or ""
        std::string lastError;   // the last failed fetch's reason ("" after a success)
        std::int64_t lastFetch = 0;    // Unix seconds of the last attempt's end (0 = none yet)
        std::int64_t lastSuccess = 0;  // ... of the last good response
        std::int64_t nextRefresh = 0;  // when the next fetch is due
        std::int64_t thisUpdate = 0;   // of the stapled response (0 = none stapled)
        std::int64_t nextUpdate = 0;
        std::uint64_t fetches = 0;   // attempts so far
        std::uint64_t failures = 0;  // failed attempts in a row
    };

    // The state of the certificate `cert` (with `issuer`, both from `ctx`'s chain) fetched from
    // `url` with `settings`: the one an earlier snapshot made, or a new one. `name` says which
    // certificate it is in log lines. Control thread (snapshot builds). Fails only when OpenSSL
    // cannot make the request.
    static std::expected<std::shared_ptr<OcspState>, std::string> forCertificate(
        X509* cert, X509* issuer, STACK_OF(X509) * chain, const ResponderUrl& url,
        const config::OcspFetch& settings, const std::string& name);
    ~OcspState();
    OcspState(const OcspState&) = delete;
    OcspState& operator=(const OcspState&) = delete;

    // Makes `ctx` staple this state's current response. The state must outlive the context.
    void attach(SSL_CTX* ctx);
    Status status() const;
    // The response handshakes get now, or null.
    std::shared_ptr<const OcspStaple> current() const;

    // ---- fetcher thread ----
    const ResponderUrl& url() const { return url_; }
    const config::OcspFetch& settings() const { return settings_; }
    const std::string& name() const { return name_; }
    const std::vector<unsigned char>& request() const { return request_; }
    // Records one fetch's outcome (the responder's bytes, or why there are none), logs what
    // changed, and returns how long to wait before the next fetch. `now`: Unix seconds.
    std::chrono::milliseconds record(const std::string* der, const std::string& error,
                                     std::int64_t now);

  private:
    OcspState() = default;
    static int onStatusRequest(SSL* ssl, void* self);
    std::chrono::milliseconds failed(std::string error, std::int64_t now);  // mutex held

    X509* cert_ = nullptr;  // owned references
    X509* issuer_ = nullptr;
    STACK_OF(X509) * chain_ = nullptr;
    ResponderUrl url_;
    config::OcspFetch settings_;
    std::string name_;
    std::vector<unsigned char> request_;  // the DER OCSPRequest (the same every time)

    mutable std::mutex mutex_;
    std::shared_ptr<const OcspStaple> current_;  // guarded: what handshakes staple
    Status status_;                              // guarded
    bool loggedExpiry_ = false;                  // guarded
};

class OcspFetcher {
  public:
    OcspFetcher();   // starts the thread
    ~OcspFetcher();  // stop()
    OcspFetcher(const OcspFetcher&) = delete;
    OcspFetcher& operator=(const OcspFetcher&) = delete;

    // Any thread. The snapshot now serving traffic: fetch for its certificates' states, stop the
    // loops of states it no longer has.
    void activate(std::shared_ptr<const core::Snapshot> snapshot);
    // Cancels every fetch and joins the thread. Idempotent.
    void stop();
    // Refresh loops running now (for tests and status).
    std::size_t loopCount() const;

    struct Loop;  // one state's refresh loop (defined in the .cpp)

  private:
    void reconcile(std::vector<std::shared_ptr<OcspState>> states);  // fetcher thread

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread thread_;
    mutable std::mutex mutex_;  // guards loopCount_
    std::size_t loopCount_ = 0;
    // Fetcher thread only.
    std::map<OcspState*, std::shared_ptr<Loop>> loops_;
    bool stopped_ = false;
};

}  // namespace proxy::tls
