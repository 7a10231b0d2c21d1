#pragma once
// A response the engine serves from storage instead of the origin (the cache's hits). A
// RequestHeaders filter points ctx.stored at one and returns FilterStatus::Serve; a
// ResponseHeaders filter may do the same to replace the origin's answer (a 304 that refreshed the
// stored copy, or stale-if-error after a 5xx). The engine then writes head() and the body bytes,
// framed by Content-Length, without running the response filters again: the stored head is the
// head the first client got.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "http/message.h"

namespace proxy::filter {

class StoredResponse {
public:
    enum class Readiness : std::uint8_t {
        Ready,     // serve it now
        Wait,      // another exchange is fetching it (collapsed forwarding): poll again soon
        Upstream,  // forward the request after all (the fill failed, or the wait ran out)
    };
    virtual ~StoredResponse() = default;

    // Called before serving, and again every few milliseconds while it says Wait. Worker thread;
    // never blocks.
    virtual Readiness poll() = 0;
    // The longest the engine polls a Wait before it gives up and calls giveUp().
    virtual std::chrono::milliseconds waitLimit() const = 0;
    // The wait ran out: the request goes upstream (the cache records why).
    virtual void giveUp() = 0;
    // The origin could not be reached or failed (502/503/504 about to be sent). True when a stale
    // copy may be served instead (stale-if-error); poll() then says Ready.
    virtual bool upstreamFailed() { return false; }

    // When Ready: fills the head to send (status, reason, fields; the engine adds framing and
    // Connection) and says how many body bytes follow (0 for 304 and HEAD).
    virtual std::uint64_t writeHead(http::ResponseHead& out) = 0;
    // The body bytes from offset on (at least one byte while offset < size). They stay valid
    // until the exchange ends.
    virtual std::string_view body(std::uint64_t offset) const = 0;
};

}  // namespace proxy::filter
