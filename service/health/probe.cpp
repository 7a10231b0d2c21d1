#include "health/probe.h"

#include "http/h1_parser.h"
#include "http/message.h"

namespace proxy::health {
namespace {

ProbeVerdict fail(int status, std::string detail) {
    return {true, false, status, std::move(detail)};
}

std::string shortened(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 40)) {
        const auto b = static_cast<unsigned char>(c);
        out.push_back(b < 0x20 || b >= 0x7f ? '?' : c);
    }
    if (text.size() > 40) out += "...";
    return out;
}

}  // namespace

std::string probeRequest(const config::HealthCheck& check, std::string_view host) {
    std::string out;
    out.reserve(128 + check.path.size() + host.size());
    out.append(check.method).append(" ").append(check.path).append(" HTTP/1.1\r\nHost: ");
    out.append(host).append(
        "\r\nUser-Agent: proxy-health-check\r\nAccept: */*\r\nConnection: close\r\n");
    if (check.method == "POST") out.append("Content-Length: 0\r\n");
    out.append("\r\n");
    return out;
}

ProbeVerdict judgeProbe(std::span<const char> bytes, bool eof, const config::HealthCheck& check) {
    http::ResponseHead head;
    const http::H1Limits limits;
    const http::Method method = http::methodFromToken(check.method);
    http::ParseResult r{};
    // Interim (1xx) answers are skipped; the final answer decides.
    std::size_t offset = 0;
    for (;;) {
        head.reset();
        r = http::parseResponseHead(bytes.subspan(offset), limits, method, head);
        if (r.status != http::ParseStatus::Complete || head.status >= 200) break;
        offset += r.consumed;
    }
    if (r.status == http::ParseStatus::Error)
        return fail(0, "invalid response: " + std::string(r.error.reason));
    if (r.status == http::ParseStatus::NeedMore) {
        if (eof) return fail(0, bytes.empty() ? "closed without answering" : "closed mid-head");
        return {};
    }
    const int status = head.status;
    if (status < check.expectStatusMin || status > check.expectStatusMax)
        return fail(status, "status " + std::to_string(status) + " is outside " +
                                std::to_string(check.expectStatusMin) + "-" +
                                std::to_string(check.expectStatusMax));
    if (check.expectBody.empty()) return {true, true, status, "status " + std::to_string(status)};

    std::span<const char> rest = bytes.subspan(offset + r.consumed);
    std::string body;
    bool complete = false;
    switch (head.framing) {
        case http::BodyFraming::None:
            complete = true;
            break;
        case http::BodyFraming::ContentLength: {
            const std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(head.contentLength, kMaxProbeBody));
            body.assign(rest.data(), std::min(rest.size(), want));
            complete = body.size() == want;
            break;
        }
        case http::BodyFraming::Chunked: {
            http::ChunkedDecoder decoder;
            while (!rest.empty() && body.size() < kMaxProbeBody) {
                const auto step = decoder.decode(rest);
                // The text found before a framing error counts: the live probe stops reading at
                // the first match, so it never sees what follows.
                if (step.status == http::ParseStatus::Error)
                    return body.find(check.expectBody) != std::string::npos
                               ? ProbeVerdict{true, true, status,
                                              "status " + std::to_string(status) + ", body matches"}
                               : fail(status,
                                      "invalid chunked body: " + std::string(step.error.reason));
                body.append(step.data.substr(0, kMaxProbeBody - body.size()));
                rest = rest.subspan(step.consumed);
                if (step.status == http::ParseStatus::Complete) {
                    complete = true;
                    break;
                }
                if (step.consumed == 0) break;
            }
            if (body.size() >= kMaxProbeBody) complete = true;
            break;
        }
        case http::BodyFraming::UntilClose:
            body.assign(rest.data(), std::min(rest.size(), kMaxProbeBody));
            complete = eof || body.size() >= kMaxProbeBody;
            break;
    }
    if (body.find(check.expectBody) != std::string::npos)
        return {true, true, status, "status " + std::to_string(status) + ", body matches"};
    if (!complete && !eof) return {};
    if (!complete)
        return fail(status, "closed mid-body without '" + shortened(check.expectBody) + "'");
    return fail(status, "status " + std::to_string(status) + " but the body lacks '" +
                            shortened(check.expectBody) + "'");
}

}  // namespace proxy::health
