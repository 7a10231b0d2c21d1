#include "cache/cache_control.h"

#include <algorithm>

#include "http/message.h"

namespace proxy::cache {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t'; }

// A delta-seconds directive: a bad argument counts as 0 (stale); a repeat keeps the smallest.
void mergeDelta(std::optional<std::uint32_t>& slot, const Directive& d) {
    std::optional<std::uint32_t> v = d.hasArgument ? parseDeltaSeconds(d.argument) : std::nullopt;
    const std::uint32_t value = v.value_or(0);
    slot = slot ? std::min(*slot, value) : value;
}

}  // namespace

namespace detail {

bool isTokenChar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
        case '.': case '^': case '_': case '`': case '|': case '~': return true;
        default: return false;
    }
}

std::optional<std::size_t> tokenize(std::string_view value, void (*emit)(const Directive&, void*),
                                    void* context) {
    std::size_t i = 0;
    const std::size_t n = value.size();
    std::optional<std::size_t> firstError;
    auto skipToComma = [&] {
        // Resynchronise after an error: the next comma outside a quoted string.
        bool inQuote = false;
        while (i < n) {
            const char c = value[i];
            if (inQuote) {
                if (c == '\\' && i + 1 < n) ++i;
                else if (c == '"') inQuote = false;
            } else if (c == '"') {
                inQuote = true;
            } else if (c == ',') {
                break;
            }
            ++i;
        }
    };
    while (i < n) {
        while (i < n && (isSpace(value[i]) || value[i] == ',')) ++i;
        if (i >= n) break;
        const std::size_t nameStart = i;
        while (i < n && isTokenChar(value[i])) ++i;
        if (i == nameStart) {
            if (!firstError) firstError = i;
            skipToComma();
            continue;
        }
        Directive d;
        d.name = value.substr(nameStart, i - nameStart);
        // RFC 9110 5.6.1 allows no whitespace around '=' in a parameter; be strict.
        if (i < n && value[i] == '=') {
            ++i;
            d.hasArgument = true;
            if (i < n && value[i] == '"') {
                ++i;
                const std::size_t argStart = i;
                bool closed = false;
                while (i < n) {
                    const char c = value[i];
                    if (c == '\\') {
                        if (i + 1 >= n) break;
                        i += 2;
                        continue;
                    }
                    if (c == '"') {
                        closed = true;
                        break;
                    }
                    if (static_cast<unsigned char>(c) < 0x20 && c != '\t') break;
                    ++i;
                }
                if (!closed) {
                    if (!firstError) firstError = i;
                    skipToComma();
                    continue;
                }
                d.argument = value.substr(argStart, i - argStart);
                d.quoted = true;
                ++i;  // closing quote
            } else {
                const std::size_t argStart = i;
                while (i < n && isTokenChar(value[i])) ++i;
                d.argument = value.substr(argStart, i - argStart);
            }
        }
        while (i < n && isSpace(value[i])) ++i;
        if (i < n && value[i] != ',') {
            if (!firstError) firstError = i;
            skipToComma();
            continue;  // the whole member is dropped
        }
        emit(d, context);
    }
    return firstError;
}

}  // namespace detail

std::optional<std::uint32_t> parseDeltaSeconds(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
        if (v > kDeltaSecondsMax) v = kDeltaSecondsMax;  // saturate; keeps reading digits
    }
    return static_cast<std::uint32_t>(v);
}

void parseResponseCacheControl(std::string_view value, ResponseDirectives& out) {
    const auto error = forEachDirective(value, [&](const Directive& d) {
        if (http::iequals(d.name, "no-store")) out.noStore = true;
        else if (http::iequals(d.name, "no-cache")) out.noCache = true;
        else if (http::iequals(d.name, "private")) out.isPrivate = true;
        else if (http::iequals(d.name, "public")) out.isPublic = true;
        else if (http::iequals(d.name, "must-revalidate")) out.mustRevalidate = true;
        else if (http::iequals(d.name, "proxy-revalidate")) out.proxyRevalidate = true;
        else if (http::iequals(d.name, "no-transform")) out.noTransform = true;
        else if (http::iequals(d.name, "immutable")) out.immutable = true;
        else if (http::iequals(d.name, "max-age")) mergeDelta(out.maxAge, d);
        else if (http::iequals(d.name, "s-maxage")) mergeDelta(out.sMaxAge, d);
        else if (http::iequals(d.name, "stale-while-revalidate")) mergeDelta(out.staleWhileRevalidate, d);
        else if (http::iequals(d.name, "stale-if-error")) mergeDelta(out.staleIfError, d);
        // Unknown directives are ignored (RFC 9111 5.2.3).
    });
    if (error && !out.malformed) {
        out.malformed = true;
        out.malformedAt = *error;
    }
}

void parseRequestCacheControl(std::string_view value, RequestDirectives& out) {
    const auto error = forEachDirective(value, [&](const Directive& d) {
        if (http::iequals(d.name, "no-store")) out.noStore = true;
        else if (http::iequals(d.name, "no-cache")) out.noCache = true;
        else if (http::iequals(d.name, "only-if-cached")) out.onlyIfCached = true;
        else if (http::iequals(d.name, "no-transform")) out.noTransform = true;
        else if (http::iequals(d.name, "max-age")) mergeDelta(out.maxAge, d);
        else if (http::iequals(d.name, "min-fresh")) mergeDelta(out.minFresh, d);
        else if (http::iequals(d.name, "max-stale")) {
            if (!d.hasArgument) out.maxStaleAny = true;
            else mergeDelta(out.maxStale, d);
        }
    });
    if (error && !out.malformed) {
        out.malformed = true;
        out.malformedAt = *error;
    }
}

}  // namespace proxy::cache
