#include "tls/ocsp_http.h"

#include "http/h1_parser.h"
#include "http/message.h"

namespace proxy::tls {
namespace {

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

char lowerChar(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
    if (text.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (lowerChar(text[i]) != prefix[i]) return false;
    return true;
}

ResponderUrl failUrl(std::string error) {
    ResponderUrl out;
    out.error = std::move(error);
    return out;
}

// Standard base64, then percent-encoded for a path segment ('+', '/', '=' are escaped).
std::string base64PathSegment(std::span<const unsigned char> der) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string base64;
    base64.reserve((der.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < der.size(); i += 3) {
        const std::uint32_t a = der[i];
        const std::uint32_t b = i + 1 < der.size() ? der[i + 1] : 0;
        const std::uint32_t c = i + 2 < der.size() ? der[i + 2] : 0;
        const std::uint32_t triple = (a << 16) | (b << 8) | c;
        base64.push_back(kAlphabet[(triple >> 18) & 63]);
        base64.push_back(kAlphabet[(triple >> 12) & 63]);
        base64.push_back(i + 1 < der.size() ? kAlphabet[(triple >> 6) & 63] : '=');
        base64.push_back(i + 2 < der.size() ? kAlphabet[triple & 63] : '=');
    }
    std::string out;
    out.reserve(base64.size() + base64.size() / 4);
    for (char c : base64) {
        if (c == '+')
            out += "%2B";
        else if (c == '/')
            out += "%2F";
        else if (c == '=')
            out += "%3D";
        else
            out.push_back(c);
    }
    return out;
}

OcspHttpAnswer fail(int status, std::string error) {
    OcspHttpAnswer out;
    out.state = OcspHttpAnswer::State::Error;
    out.status = status;
    out.error = std::move(error);
    return out;
}

std::string tooLarge() {
    return "the responder's answer is larger than " + std::to_string(kMaxOcspResponseBody / 1024) +
           " KiB";
}

}  // namespace

std::string ResponderUrl::authority() const {
    std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != 80) out += ":" + std::to_string(port);
    return out;
}

ResponderUrl parseResponderUrl(std::string_view url) {
    if (url.size() > 2048) return failUrl("the responder URL is longer than 2048 bytes");
    for (char c : url) {
        const auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b >= 0x7f)
            return failUrl("the responder URL holds a space, control or non-ASCII byte");
    }
    if (startsWithNoCase(url, "https://"))
        return failUrl(
            "the responder URL is https://, and OCSP responses are fetched over plain "
            "HTTP only (they are signed)");
    if (!startsWithNoCase(url, "http://"))
        return failUrl("the responder URL is not an http:// URL");
    std::string_view rest = url.substr(7);
    if (rest.find('#') != std::string_view::npos)
        return failUrl("the responder URL has a fragment");
    const std::size_t slash = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, slash);
    ResponderUrl out;
    if (slash != std::string_view::npos) {
        out.path = std::string(rest.substr(slash));
        if (out.path.front() == '?') out.path.insert(out.path.begin(), '/');
    }
    if (authority.find('@') != std::string_view::npos)
        return failUrl("the responder URL carries user info");
    std::string_view portText;
    if (!authority.empty() && authority.front() == '[') {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return failUrl("the responder URL has an unclosed '['");
        out.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return failUrl("the responder URL has bytes after ']'");
            portText = after.substr(1);
            if (portText.empty()) return failUrl("the responder URL has an empty port");
        }
        if (out.host.empty() ||
            out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos)
            return failUrl("the responder URL's [host] is not an IPv6 address");
    } else {
        const std::size_t colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            portText = authority.substr(colon + 1);
            if (portText.empty()) return failUrl("the responder URL has an empty port");
        }
        for (char c : out.host)
            if (!(isDigit(c) || (lowerChar(c) >= 'a' && lowerChar(c) <= 'z') || c == '-' ||
                  c == '.'))
                return failUrl("the responder URL's host is not a DNS name or IPv4 address");
    }
    if (out.host.empty()) return failUrl("the responder URL has no host");
    if (out.host.size() > 253) return failUrl("the responder URL's host is longer than 253 bytes");
    if (!portText.empty()) {
        unsigned port = 0;
        for (char c : portText) {
            if (!isDigit(c) || port > 65535)
                return failUrl("the responder URL's port is not a number");
            port = port * 10 + static_cast<unsigned>(c - '0');
        }
        if (port == 0 || port > 65535) return failUrl("the responder URL's port is out of range");
        out.port = static_cast<std::uint16_t>(port);
    }
    out.ok = true;
    return out;
}

std::string ocspHttpRequest(const ResponderUrl& url, std::span<const unsigned char> der,
                            bool viaProxy) {
    const std::string authority = url.authority();
    const std::string prefix = viaProxy ? "http://" + authority : std::string();
    std::string getPath = url.path;
    if (getPath.find('?') == std::string::npos) {
        if (getPath.back() != '/') getPath.push_back('/');
        getPath += base64PathSegment(der);
    }
    std::string out;
    // RFC 5019: GET when the whole URL stays under 255 bytes (and the configured URL has no query
    // the request could be appended to).
    const bool get =
        url.path.find('?') == std::string::npos && 7 + authority.size() + getPath.size() < 255;
    if (get) {
        out = "GET " + prefix + getPath + " HTTP/1.1\r\n";
    } else {
        out = "POST " + prefix + url.path + " HTTP/1.1\r\n";
        out += "Content-Type: application/ocsp-request\r\n";
        out += "Content-Length: " + std::to_string(der.size()) + "\r\n";
    }
    out += "Host: " + authority + "\r\n";
    out +=
        "User-Agent: proxy-ocsp-fetch\r\nAccept: application/ocsp-response\r\n"
        "Connection: close\r\n\r\n";
    if (!get) out.append(reinterpret_cast<const char*>(der.data()), der.size());
    return out;
}

OcspHttpAnswer judgeOcspAnswer(std::span<const char> bytes, bool eof) {
    http::ResponseHead head;
    http::H1Limits limits;
    limits.maxHeaderBytes = kMaxOcspResponseHead;
    limits.maxRequestLine = 4096;
    http::ParseResult r{};
    std::size_t offset = 0;
    for (;;) {  // interim (1xx) answers are skipped; the final answer decides
        head.reset();
        r = http::parseResponseHead(bytes.subspan(offset), limits, http::Method::Post, head);
        if (r.status != http::ParseStatus::Complete || head.status >= 200) break;
        offset += r.consumed;
    }
    if (r.status == http::ParseStatus::Error)
        return fail(0,
                    "the responder's answer is not valid HTTP/1.1: " + std::string(r.error.reason));
    if (r.status == http::ParseStatus::NeedMore) {
        if (eof)
            return fail(0, bytes.empty() ? "the responder closed without answering"
                                         : "the responder closed in the middle of its answer");
        return {};
    }
    const int status = head.status;
    if (status != 200) return fail(status, "the responder answered HTTP " + std::to_string(status));
    if (const http::Header* type = head.headers.find("content-type")) {
        std::string_view value = type->value;
        value = value.substr(0, value.find(';'));
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
            value.remove_suffix(1);
        if (!startsWithNoCase(value, "application/ocsp-response") ||
            value.size() != std::string_view("application/ocsp-response").size())
            return fail(status, "the responder answered with Content-Type '" +
                                    std::string(value.substr(0, 64)) +
                                    "', not application/ocsp-response");
    }
    const std::span<const char> rest = bytes.subspan(offset + r.consumed);
    OcspHttpAnswer out;
    out.status = status;
    switch (head.framing) {
        case http::BodyFraming::None:
            return fail(status, "the responder's answer has no body");
        case http::BodyFraming::ContentLength:
            if (head.contentLength > kMaxOcspResponseBody) return fail(status, tooLarge());
            if (rest.size() < head.contentLength) {
                if (eof) return fail(status, "the responder closed in the middle of its answer");
                return out;
            }
            out.body.assign(rest.data(), static_cast<std::size_t>(head.contentLength));
            break;
        case http::BodyFraming::UntilClose:
            if (rest.size() > kMaxOcspResponseBody) return fail(status, tooLarge());
            if (!eof) return out;
            out.body.assign(rest.data(), rest.size());
            break;
        case http::BodyFraming::Chunked: {
            http::ChunkedDecoder decoder;
            std::span<const char> input = rest;
            for (;;) {
                const auto step = decoder.decode(input);
                if (step.status == http::ParseStatus::Error)
                    return fail(status, "the responder's chunked body is malformed: " +
                                            std::string(step.error.reason));
                out.body.append(step.data);
                if (out.body.size() > kMaxOcspResponseBody) return fail(status, tooLarge());
                input = input.subspan(step.consumed);
                if (step.status == http::ParseStatus::Complete) break;
                if (input.empty() || (step.consumed == 0 && step.data.empty())) {
                    if (eof)
                        return fail(status, "the responder closed in the middle of its answer");
                    out.body.clear();
                    return out;
                }
            }
            break;
        }
    }
    if (out.body.empty()) return fail(status, "the responder's answer has an empty body");
    out.state = OcspHttpAnswer::State::Done;
    return out;
}

}  // namespace proxy::tls
