#include "logging/access_record.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "filter/request_context.h"
#include "routing/router.h"
#include "upstream/upstream_group.h"

namespace proxy::logging {
namespace {

struct FieldInfo {
    std::string_view name;
    std::uint16_t cap;
};

// Caps keep one record bounded (their sum may exceed the buffer; later fields then get less).
constexpr std::array<FieldInfo, AccessRecord::kFieldCount> kFields{{
    {"request_id", 64},  {"client_addr", 64},  {"listener", 64},   {"route", 96},
    {"method", 24},      {"host", 192},        {"path", 640},      {"query", 320},
    {"http_version", 12}, {"upstream", 96},    {"upstream_server", 128}, {"user_agent", 256},
    {"referer", 256},    {"tls_version", 16},  {"cache_status", 16}, {"security_action", 96},
    {"error", 96},
}};

std::int64_t micros(std::chrono::steady_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid (overlongs, surrogates and
// code points past U+10FFFF are invalid too).
std::size_t utf8Sequence(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) { n = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) n = 3;
    else if (c == 0xED) { n = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) n = 3;
    else if (c == 0xF0) { n = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else if (c == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if (i + n > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
    return n;
}

}  // namespace

std::string_view AccessRecord::fieldName(Field f) { return kFields[f].name; }
std::size_t AccessRecord::fieldCap(Field f) { return kFields[f].cap; }

void AccessRecord::clearText() {
    offset_.fill(0);
    length_.fill(0);
    used_ = 0;
    truncated = 0;
}

void AccessRecord::set(Field f, std::string_view value) {
    if (value.empty()) {  // the fields that stay empty (query, cache status, ...): no memcpy call
        length_[f] = 0;
        return;
    }
    const std::size_t cap = std::min<std::size_t>(kFields[f].cap, kTextCapacity - used_);
    const std::size_t n = std::min(value.size(), cap);
    if (n < value.size()) truncated = static_cast<std::uint16_t>(truncated | (1u << f));
    std::memcpy(text_.data() + used_, value.data(), n);
    offset_[f] = used_;
    length_[f] = static_cast<std::uint16_t>(n);
    used_ = static_cast<std::uint16_t>(used_ + n);
}

void fillRecord(AccessRecord& r, const filter::RequestContext& ctx) {
    using F = AccessRecord;
    r.clearText();
    const auto wall = ctx.wallStart.time_since_epoch().count() != 0
                          ? ctx.wallStart
                          : std::chrono::system_clock::now() -
                                std::chrono::duration_cast<std::chrono::system_clock::duration>(ctx.total);
    r.timeUs = std::chrono::duration_cast<std::chrono::microseconds>(wall.time_since_epoch()).count();
    r.bytesIn = ctx.bytesIn;
    r.bytesOut = ctx.bytesOut;
    r.durationUs = micros(ctx.total);
    r.status = ctx.status;
    const bool upstreamUsed = ctx.server != nullptr;
    r.connectUs = upstreamUsed ? micros(ctx.upstreamConnect) : -1;
    r.responseUs = upstreamUsed && ctx.upstreamResponse.count() > 0 ? micros(ctx.upstreamResponse) : -1;
    r.set(F::RequestId, ctx.requestId);
    if (const filter::ConnectionInfo* c = ctx.connection) {
        r.set(F::ClientAddress, ctx.clientAddress.empty() ? c->clientAddress : ctx.clientAddress);
        r.clientPort = c->clientPort;
        r.set(F::Listener, c->listenerName);
    }
    if (ctx.route != nullptr) r.set(F::Route, ctx.route->name);
    if (const http::RequestHead* q = ctx.request) {
        r.set(F::Method, q->methodText);
        r.set(F::Host, ctx.originalHost.empty() ? q->host : ctx.originalHost);
        r.set(F::Path, ctx.originalPath.empty() ? q->path : ctx.originalPath);
        r.set(F::Query, q->query);
        if (!q->methodText.empty()) r.set(F::HttpVersion, http::versionText(q->version));
        if (const http::Header* h = q->headers.find("User-Agent")) r.set(F::UserAgent, h->value);
        if (const http::Header* h = q->headers.find("Referer")) r.set(F::Referer, h->value);
    }
    if (ctx.upstream != nullptr) r.set(F::Upstream, ctx.upstream->name());
    r.set(F::SecurityAction, ctx.securityAction);
    r.set(F::CacheStatus, ctx.cacheStatus);
    if (ctx.server != nullptr) r.set(F::Server, ctx.server->key);
    if (ctx.error != filter::ErrorSource::None) {
        // "upstream: connect refused": who failed, then the engine's static text.
        constexpr std::string_view kSource[] = {"", "downstream: ", "upstream: ", "internal: "};
        char buffer[128];
        const std::string_view source = kSource[static_cast<unsigned>(ctx.error) & 3];
        const std::size_t n = std::min(ctx.errorText.size(), sizeof(buffer) - source.size());
        std::copy(source.begin(), source.end(), buffer);
        std::copy_n(ctx.errorText.data(), n, buffer + source.size());
        r.set(F::Error, std::string_view(buffer, source.size() + n));
    }
}

void appendJsonString(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            const std::size_t n = utf8Sequence(s, i);
            if (n == 0) {
                out += "\xEF\xBF\xBD";
                ++i;
            } else {
                out.append(s.data() + i, n);
                i += n;
            }
            continue;
        }
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out.push_back(kHex[c >> 4]);
                    out.push_back(kHex[c & 15]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
        ++i;
    }
    out.push_back('"');
}

std::string sanitizeUtf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8Sequence(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.data() + i, n);
            i += n;
        }
    }
    return out;
}

std::string formatTimeUs(std::int64_t timeUs) {
    std::int64_t seconds = timeUs / 1'000'000;
    std::int64_t fraction = timeUs % 1'000'000;
    if (fraction < 0) {
        fraction += 1'000'000;
        --seconds;
    }
    const std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
#if defined(_WIN32)
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    char buffer[80];
    std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(fraction));
    return buffer;
}

void appendJsonLine(std::string& out, const AccessRecord& r) {
    using F = AccessRecord;
    auto number = [&](std::string_view key, long long value) {
        out += ",\"";
        out += key;
        out += "\":";
        out += std::to_string(value);
    };
    out += "{\"time\":";
    appendJsonString(out, formatTimeUs(r.timeUs));
    number("time_us", r.timeUs);
    for (unsigned f = 0; f < F::kFieldCount; ++f) {
        const auto field = static_cast<F::Field>(f);
        out += ",\"";
        out += F::fieldName(field);
        out += "\":";
        appendJsonString(out, r.field(field));
        if (field == F::ClientAddress) number("client_port", r.clientPort);
    }
    number("status", r.status);
    number("bytes_in", static_cast<long long>(r.bytesIn));
    number("bytes_out", static_cast<long long>(r.bytesOut));
    number("duration_us", r.durationUs);
    number("upstream_connect_us", r.connectUs);
    number("upstream_response_us", r.responseUs);
    if (r.truncated != 0) number("truncated", r.truncated);
    out.push_back('}');
}

}  // namespace proxy::logging
