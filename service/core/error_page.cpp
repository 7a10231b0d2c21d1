#include "core/error_page.h"

#include "http/h1_writer.h"

namespace proxy::core {

void writeErrorPage(std::string& out, int status, std::string_view reason,
                    std::string_view requestId, bool close, std::uint32_t retryAfterSeconds) {
    const std::string_view phrase = http::reasonPhrase(status);
    std::string body = std::to_string(status);
    body += ' ';
    body += phrase;
    if (!reason.empty()) {
        body += ": ";
        body += reason;
    }
    body += '\n';
    if (!requestId.empty()) {
        body += "request id: ";
        body += requestId;
        body += '\n';
    }
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += phrase;
    out += "\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nContent-Length: ";
    out += std::to_string(body.size());
    if (!requestId.empty()) {
        out += "\r\nX-Request-Id: ";
        out += requestId;
    }
    if (retryAfterSeconds > 0) {
        out += "\r\nRetry-After: ";
        out += std::to_string(retryAfterSeconds);
    }
    if (close) out += "\r\nConnection: close";
    out += "\r\n\r\n";
    out += body;
}

}  // namespace proxy::core
