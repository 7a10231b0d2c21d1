#pragma once
// The proxy's own answers: short, plain text, tagged with the request id.

#include <cstdint>
#include <string>
#include <string_view>

namespace proxy::core {

// Appends a complete HTTP/1.1 response (head and body) to out.
void writeErrorPage(std::string& out, int status, std::string_view reason,
                    std::string_view requestId, bool close, std::uint32_t retryAfterSeconds = 0);

}  // namespace proxy::core
