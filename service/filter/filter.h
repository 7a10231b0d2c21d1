#pragma once
// The one filter interface for every request phase. Routing, header and path rewriting, load
// balancing, and later the cache, the WAF and compression plug in here. The phases, in order
// (docs/architecture.md draws them):
//
//   Accept -> RequestHeaders -> RequestBody -> UpstreamSelect -> ResponseHeaders -> ResponseBody -> Log
//
// A filter declares which phases it hooks (phases()), so the engine never calls the rest. Hooks run
// on the connection's worker thread and must not block: no disk, no locks held across calls.

#include <cstdint>
#include <string>
#include <string_view>

namespace proxy::filter {

struct RequestContext;
struct ConnectionInfo;

enum class Phase : std::uint8_t {
    Accept,          // a client connection was accepted (before any byte is read)
    RequestHeaders,  // the request head is parsed; routing happens here
    RequestBody,     // each piece of the request body, as it streams to the upstream
    UpstreamSelect,  // pick the upstream server (load balancing)
    ResponseHeaders, // the upstream's final response head arrived (or a local response is made)
    ResponseBody,    // each piece of the response body, as it streams to the client
    Log,             // the exchange is over (completed, failed or aborted)
};

constexpr unsigned phaseBit(Phase p) { return 1u << static_cast<unsigned>(p); }

// What a hook tells the engine to do next.
enum class FilterStatus : std::uint8_t {
    Continue,  // run the next filter, then the next phase
    Respond,   // stop here and answer the client with ctx.local (status, reason); nothing more is
               // forwarded upstream. After ResponseHeaders has been sent this acts like Close.
    Close,     // stop here and close the client connection without an answer (refused connection,
               // or an error after part of the response was sent)
    Serve,     // answer with ctx.stored (filter/stored_response.h), a stored head and body, instead
               // of the origin's: from RequestHeaders (a cache hit: nothing goes upstream) or
               // ResponseHeaders (the origin's answer is dropped). Elsewhere it acts like Close.
};

// A piece of body passing through a body hook. A filter may replace `data` with bytes it owns
// (they must stay valid until the hook is called again or the exchange ends).
struct BodyChunk {
    std::string_view data;
    bool last = false;  // true on the final call for this body (data may be empty)
};

class Filter {
public:
    virtual ~Filter() = default;
    virtual std::string_view name() const = 0;
    // Bitmask of phaseBit(...) for the hooks this filter implements.
    virtual unsigned phases() const = 0;

    // Accept: Close refuses the connection (e.g. a denied address). Default: Continue.
    virtual FilterStatus onAccept(ConnectionInfo&) { return FilterStatus::Continue; }
    // RequestHeaders: may edit ctx.request, pick ctx.route, or Respond. Default: Continue.
    virtual FilterStatus onRequestHeaders(RequestContext&) { return FilterStatus::Continue; }
    // RequestBody: sees each piece before it is forwarded. Default: Continue.
    virtual FilterStatus onRequestBody(RequestContext&, BodyChunk&) { return FilterStatus::Continue; }
    // UpstreamSelect: must leave ctx.selection able to yield servers, or Respond (e.g. 503).
    virtual FilterStatus onUpstreamSelect(RequestContext&) { return FilterStatus::Continue; }
    // ResponseHeaders: may edit ctx.response before it is written to the client.
    virtual FilterStatus onResponseHeaders(RequestContext&) { return FilterStatus::Continue; }
    // ResponseBody: sees (and may replace) each piece before it is written. Default: Continue.
    virtual FilterStatus onResponseBody(RequestContext&, BodyChunk&) { return FilterStatus::Continue; }
    // Log: the exchange is over; ctx holds its outcome. Must not fail.
    virtual void onLog(const RequestContext&) {}
};

}  // namespace proxy::filter
