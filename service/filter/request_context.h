#pragma once
// What the filters of one exchange share. The engine owns it; filters read and edit it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "balancing/selector.h"
#include "http/message.h"

namespace proxy::routing { struct CompiledRoute; }
namespace proxy::upstream { class UpstreamGroup; struct ServerState; }

namespace proxy::filter {

// Facts about the client connection, fixed when it is accepted.
struct ConnectionInfo {
    std::string_view clientAddress;  // textual IP, no brackets
    std::uint16_t clientPort = 0;
    std::string_view listenerName;
    std::string_view localAddress;
    bool tls = false;
    unsigned worker = 0;
    // mTLS listeners: the header that carries the client certificate's subject to the upstream
    // (a client's own copy is always removed), and the subject ("" = no certificate).
    std::string_view clientSubjectHeader;
    std::string_view clientSubject;
};

// Who is to blame for a failed exchange, and whether retrying it elsewhere is allowed.
enum class ErrorSource : std::uint8_t { None, Downstream, Upstream, Internal };

class Filter;
class StoredResponse;

// State a filter keeps for one exchange, between its hooks (a compressor's stream, say). Filters
// live in the shared, immutable snapshot and serve every connection at once, so anything that
// belongs to one exchange hangs off its RequestContext instead. The engine destroys it when the
// exchange ends (after the Log phase), so an idle keep-alive connection holds none.
class ExchangeState {
public:
    virtual ~ExchangeState() = default;
};

struct LocalResponse {
    int status = 0;           // 0 = none
    std::string_view reason;  // short static text shown on the error page, e.g. "no route"
    std::uint32_t retryAfterSeconds = 0;  // > 0: a Retry-After header (429, 503)
};

struct RequestContext {
    const ConnectionInfo* connection = nullptr;  // not owned; outlives the exchange
    http::RequestHead* request = nullptr;        // not owned
    http::ResponseHead* response = nullptr;      // not owned; meaningful from ResponseHeaders on
    std::string_view requestId;
    std::string_view originalPath;               // before rewrites (for logs)
    std::string_view originalHost;
    // The client as the edge sees it: the peer, or the address trusted proxies reported in
    // X-Forwarded-For (set by the security filter; empty = connection->clientAddress).
    std::string_view clientAddress;
    // "deny", "not-allowed", "rate-limit", "waf-block 942100,949110", ...: static text, or text
    // held by a filter's ExchangeState (which lives until after the Log phase).
    std::string_view securityAction;

    // Set by routing (RequestHeaders):
    const routing::CompiledRoute* route = nullptr;  // not owned; lives in the config snapshot
    // Set by load balancing (UpstreamSelect):
    upstream::UpstreamGroup* upstream = nullptr;    // not owned; lives in the config snapshot
    balancing::Selection selection;                 // yields servers in failover order
    upstream::ServerState* server = nullptr;        // not owned; the server finally used

    LocalResponse local;  // a filter's or the engine's own answer
    // A stored answer (the cache's), served on FilterStatus::Serve or when the origin fails and it
    // allows a stale copy. Not owned: it is the owning filter's ExchangeState.
    StoredResponse* stored = nullptr;
    std::string_view cacheStatus;  // static text for the access log: "hit", "miss", ...

    // Set by a ResponseHeaders filter whose ResponseBody hook changes the body's length (such as
    // compression). The engine then sends no Content-Length and frames the body itself: chunked
    // to an HTTP/1.1 client, delimited by closing the connection to an HTTP/1.0 one.
    bool responseLengthChanged = false;

    // Per-exchange filter state (see ExchangeState), found by the filter that made it.
    ExchangeState* state(const Filter* owner) const {
        for (const auto& [who, s] : states_)
            if (who == owner) return s.get();
        return nullptr;
    }
    void setState(const Filter* owner, std::unique_ptr<ExchangeState> s) {
        states_.emplace_back(owner, std::move(s));
    }
    void clearStates() { states_.clear(); }

    // Outcome, for the log phase:
    int status = 0;                 // status sent to the client (0 = none sent)
    ErrorSource error = ErrorSource::None;
    std::string_view errorText;     // static text
    std::uint64_t bytesIn = 0;      // request bytes read from the client (head + body)
    std::uint64_t bytesOut = 0;     // response bytes written to the client
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::duration upstreamConnect{};
    std::chrono::steady_clock::duration upstreamResponse{};  // until the response head arrived
    std::chrono::steady_clock::duration total{};
    std::chrono::system_clock::time_point wallStart;

private:
    std::vector<std::pair<const Filter*, std::unique_ptr<ExchangeState>>> states_;
};

}  // namespace proxy::filter
