#pragma once
// An active health check's HTTP exchange, as pure functions: the request to send, and a verdict on
// the bytes read so far (decided, or "need more"). The checker does the I/O; these are unit-tested
// and fuzzed on their own.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"

namespace proxy::health {

// Body bytes searched for `expect_body`; the answer's head may add up to the parser's head limit.
inline constexpr std::size_t kMaxProbeBody = 64 * 1024;

// "GET /health HTTP/1.1" with Host, User-Agent and Connection: close.
std::string probeRequest(const config::HealthCheck& check, std::string_view host);

struct ProbeVerdict {
    bool decided = false;  // false: read more (unless the server closed: then it is decided)
    bool ok = false;
    int status = 0;      // the answer's status, once the head has arrived
    std::string detail;  // why it failed, or the status line summary
};

// Judges `bytes` (everything read so far). `eof`: the server closed, so nothing more will come.
ProbeVerdict judgeProbe(std::span<const char> bytes, bool eof, const config::HealthCheck& check);

}  // namespace proxy::health
