#include "http/h1_parser.h"

#include "http/token.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>

#if defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64)
#include <emmintrin.h>
#define PROXY_HTTP_SSE2 1
#endif

// Decisions where RFC 9110/9112 leave room (each one is a row in h1_parser_test.cpp):
// - Content-Length: repeated identical values ("5, 5" or two fields "5") are accepted as one value
//   (RFC 9110 8.6) and the head is rewritten to a single field; different values, empty list
//   elements, signs, hex, inner spaces, or a value above 2^63-1 are rejected.
// - Transfer-Encoding on a request: only a lone final "chunked" is served. Any other coding,
//   including "gzip, chunked", is 501 (we do not decode codings); "chunked" applied twice, a
//   malformed list or parameters on chunked is 400. On responses a final chunked is framing,
//   codings before it pass through opaque; a final coding other than chunked means
//   read-until-close.
// - Host: must be a valid uri-host with an optional non-empty port <= 65535, no userinfo; an empty
//   Host is rejected too, because the proxy routes by host and origin-form always has one.
// - request-target: visible ASCII only; '#' is rejected (fragments are never sent); other
//   characters outside RFC 3986 such as '{' or '|' are let through, since real clients send them
//   and they cannot affect framing.
// - A status line without the SP after the code ("HTTP/1.1 200\r\n") is accepted with an empty
//   reason: origins do send it, and it is unambiguous.
// - Expect on HTTP/1.0 is checked but expectContinue stays false (RFC 9110 10.1.1), and Upgrade on
//   HTTP/1.0 is ignored (RFC 9110 7.8).
// - Leading empty lines are skipped only before a request line, never before a status line.

namespace proxy::http {

namespace {

constexpr std::uint8_t kTchar = 1;      // token character (RFC 9110 5.6.2)
constexpr std::uint8_t kFieldStop = 2;  // may not appear in a field value: CTL other than HTAB, DEL
constexpr std::uint8_t kLineStop = 4;   // outside 0x20..0x7E: ends a request line scan
constexpr std::uint8_t kHostChar = 8;   // reg-name: unreserved / sub-delims ('%' handled apart)
constexpr std::uint8_t kHex = 16;

constexpr std::array<std::uint8_t, 256> makeClasses() {
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        std::uint8_t v = 0;
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const bool digit = c >= '0' && c <= '9';
        if (alpha || digit) v |= kHostChar;
        if (isTokenChar(static_cast<char>(c))) v |= kTchar;
        if (c > 0 && std::string_view("-._~!$&'()*+,;=").find(static_cast<char>(c)) !=
                         std::string_view::npos)
            v |= kHostChar;
        if ((c < 0x20 && c != '\t') || c == 0x7f) v |= kFieldStop;
        if (c < 0x20 || c >= 0x7f) v |= kLineStop;
        if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kHex;
        t[static_cast<std::size_t>(c)] = v;
    }
    return t;
}

constexpr std::array<std::uint8_t, 256> kClass = makeClasses();

inline std::uint8_t cls(char c) {
    return kClass[static_cast<unsigned char>(c)];
}
inline bool isTchar(char c) {
    return cls(c) & kTchar;
}
inline bool isOws(char c) {
    return c == ' ' || c == '\t';
}
inline bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

inline int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// First byte in [p, end) that may not appear in a field value (CTL other than HTAB, or DEL); end
// when there is none. The CRLF ending a line is such a byte, so this finds line ends too.
inline const char* findFieldStop(const char* p, const char* end) {
#ifdef PROXY_HTTP_SSE2
    const __m128i k1f = _mm_set1_epi8(0x1f);
    const __m128i kTab = _mm_set1_epi8(0x09);
    const __m128i kDel = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v);  // unsigned v <= 0x1f
        const __m128i bad =
            _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, kTab), ctl), _mm_cmpeq_epi8(v, kDel));
        const int mask = _mm_movemask_epi8(bad);
        if (mask != 0) return p + std::countr_zero(static_cast<unsigned>(mask));
        p += 16;
    }
#endif
    while (p < end && !(cls(*p) & kFieldStop)) ++p;
    return p;
}

// First byte in [p, end) outside printable ASCII 0x20..0x7E.
inline const char* findLineStop(const char* p, const char* end) {
#ifdef PROXY_HTTP_SSE2
    const __m128i k1f = _mm_set1_epi8(0x1f);
    const __m128i kDel = _mm_set1_epi8(0x7f);
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, k1f), v);
        const __m128i bad = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, kDel));
        const int mask = _mm_movemask_epi8(bad) | _mm_movemask_epi8(v);  // high bit: >= 0x80
        if (mask != 0) return p + std::countr_zero(static_cast<unsigned>(mask));
        p += 16;
    }
#endif
    while (p < end && !(cls(*p) & kLineStop)) ++p;
    return p;
}

// Skips the bytes of a field name from p. Most names are letters, digits and '-', which a vector
// compare covers 16 at a time; the table loop finishes the rarer token characters and the stop.
inline const char* skipToken(const char* p, const char* end) {
#ifdef PROXY_HTTP_SSE2
    const __m128i k20 = _mm_set1_epi8(0x20);
    const __m128i kA = _mm_set1_epi8('a' - 1);
    const __m128i kZ = _mm_set1_epi8('z' + 1);
    const __m128i k0 = _mm_set1_epi8('0' - 1);
    const __m128i k9 = _mm_set1_epi8('9' + 1);
    const __m128i kDash = _mm_set1_epi8('-');
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        // Signed compares: bytes >= 0x80 are negative and so fail every range test, as they should.
        const __m128i lower = _mm_or_si128(v, k20);
        const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, kA), _mm_cmplt_epi8(lower, kZ));
        const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, k0), _mm_cmplt_epi8(v, k9));
        const __m128i ok = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmpeq_epi8(v, kDash));
        const unsigned stop = ~static_cast<unsigned>(_mm_movemask_epi8(ok)) & 0xffffu;
        if (stop != 0) {
            p += std::countr_zero(stop);
            break;
        }
        p += 16;
    }
#endif
    while (p < end && isTchar(*p)) ++p;
    return p;
}

std::string_view trimOws(std::string_view s) {
    while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
    while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
    return s;
}

// Calls fn(element) for each non-empty element of a comma-separated list (RFC 9110 5.6.1), OWS
// trimmed. Stops early when fn returns false.
template <class Fn>
void forEachListElement(std::string_view value, Fn&& fn) {
    while (true) {
        const auto comma = value.find(',');
        const auto element = trimOws(value.substr(0, comma));
        if (!element.empty() && !fn(element)) return;
        if (comma == std::string_view::npos) return;
        value.remove_prefix(comma + 1);
    }
}

bool startsWithNoCase(std::string_view s, std::string_view lowerPrefix) {
    if (s.size() < lowerPrefix.size()) return false;
    for (std::size_t i = 0; i < lowerPrefix.size(); ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
        if (c != lowerPrefix[i]) return false;
    }
    return true;
}

// uri-host [ ":" port ] (RFC 9110 7.2 / RFC 3986 3.2.2), without userinfo.
bool validHost(std::string_view s) {
    if (s.empty()) return false;
    std::size_t i = 0;
    if (s[0] == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close < 2) return false;
        for (i = 1; i < close; ++i) {
            const char c = s[i];
            if (!(cls(c) & (kHex | kHostChar)) && c != ':') return false;
        }
        i = close + 1;
    } else {
        for (; i < s.size() && s[i] != ':'; ++i) {
            const char c = s[i];
            if (cls(c) & kHostChar) continue;
            if (c == '%' && i + 2 < s.size() && (cls(s[i + 1]) & kHex) && (cls(s[i + 2]) & kHex)) {
                i += 2;
                continue;
            }
            return false;
        }
        if (i == 0) return false;
    }
    if (i == s.size()) return true;
    if (s[i] != ':') return false;
    const auto port = s.substr(i + 1);
    if (port.empty() || port.size() > 5) return false;
    unsigned value = 0;
    for (const char c : port) {
        if (!isDigit(c)) return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value <= 65535;
}

// What the field scan noticed, so the semantic checks need not search the list again.
struct FieldInfo {
    std::size_t hostCount = 0, hostIndex = 0;
    std::size_t clCount = 0, clIndex = 0;
    std::size_t teCount = 0, teIndex = 0;
    std::size_t connectionCount = 0, connectionIndex = 0;
    std::size_t expectCount = 0;
    std::size_t upgradeCount = 0;
};

ParseResult error(int status, const char* base, const char* at, std::string_view reason) {
    ParseResult r;
    r.status = ParseStatus::Error;
    r.error.status = status;
    r.error.offset = static_cast<std::size_t>(at - base);
    r.error.reason = reason;
    return r;
}

ParseResult needMore() {
    return ParseResult{};
}

// Finds the end of the start line beginning at p. On success sets lineEnd to the CR (followed by
// LF). Returns NeedMore or an Error (status `tooLong` when the line passes maxLine bytes).
// `printableOnly` rejects HTAB and obs-text too (request lines); status lines allow both in the
// reason phrase.
ParseResult findStartLine(const char* base, const char* p, const char* end, std::size_t maxLine,
                          bool printableOnly, int badStatus, int tooLong, const char*& lineEnd) {
    // Look one byte past the limit: a line of exactly maxLine bytes has its CR there.
    const char* window = (static_cast<std::size_t>(end - p) > maxLine) ? p + maxLine + 1 : end;
    const char* stop = printableOnly ? findLineStop(p, window) : findFieldStop(p, window);
    if (stop == window) {
        if (static_cast<std::size_t>(window - p) > maxLine)
            return error(tooLong, base, window - 1, "start line too long");
        return needMore();
    }
    if (*stop != '\r') {
        return error(badStatus, base, stop,
                     *stop == '\n' ? "bare LF in start line" : "invalid character in start line");
    }
    if (stop + 1 == end) return needMore();
    if (stop[1] != '\n') return error(badStatus, base, stop, "bare CR in start line");
    lineEnd = stop;
    return ParseResult{ParseStatus::Complete, 0, {}};
}

// Parses field lines from p up to and including the empty line. Fills headers and info, and on
// Complete sets `consumed` to the end of the head relative to base.
ParseResult parseFields(const char* base, const char* p, const char* end, const H1Limits& limits,
                        int badStatus, int tooMany, HeaderList& headers, FieldInfo& info) {
    while (true) {
        if (p == end) return needMore();
        const char first = *p;
        if (first == '\r') {
            if (p + 1 == end) return needMore();
            if (p[1] != '\n') return error(badStatus, base, p, "bare CR in header");
            ParseResult r;
            r.status = ParseStatus::Complete;
            r.consumed = static_cast<std::size_t>(p + 2 - base);
            return r;
        }
        if (headers.size() >= limits.maxHeaders)
            return error(tooMany, base, p, "too many header fields");
        const char* nameBegin = p;
        p = skipToken(p, end);
        if (p == end) return needMore();
        if (*p != ':') {
            if (p == nameBegin) {
                if (isOws(first))
                    return error(badStatus, base, p, "obs-fold or leading whitespace");
                if (first == '\n') return error(badStatus, base, p, "bare LF in header");
            }
            if (isOws(*p)) return error(badStatus, base, p, "whitespace before colon");
            return error(badStatus, base, p, "invalid character in field name");
        }
        if (p == nameBegin) return error(badStatus, base, p, "empty field name");
        const std::string_view name(nameBegin, static_cast<std::size_t>(p - nameBegin));
        ++p;
        while (p < end && isOws(*p)) ++p;
        const char* valueBegin = p;
        const char* stop = findFieldStop(p, end);
        if (stop == end) return needMore();
        if (*stop != '\r') {
            return error(badStatus, base, stop,
                         *stop == '\n' ? "bare LF in header" : "control character in field value");
        }
        if (stop + 1 == end) return needMore();
        if (stop[1] != '\n') return error(badStatus, base, stop, "bare CR in header");
        const char* valueEnd = stop;
        while (valueEnd > valueBegin && isOws(valueEnd[-1])) --valueEnd;
        p = stop + 2;

        const std::size_t index = headers.size();
        const FieldName id = classifyFieldName(name);
        headers.add(name,
                    std::string_view(valueBegin, static_cast<std::size_t>(valueEnd - valueBegin)),
                    id);
        switch (id) {
            case FieldName::Host:
                if (info.hostCount++ == 0) info.hostIndex = index;
                break;
            case FieldName::ContentLength:
                if (info.clCount++ == 0) info.clIndex = index;
                break;
            case FieldName::TransferEncoding:
                if (info.teCount++ == 0) info.teIndex = index;
                break;
            case FieldName::Connection:
                if (info.connectionCount++ == 0) info.connectionIndex = index;
                break;
            case FieldName::Expect:
                ++info.expectCount;
                break;
            case FieldName::Upgrade:
                ++info.upgradeCount;
                break;
            default:
                break;
        }
    }
}

// Content-Length: one decimal value, possibly repeated identically (list or several fields).
// Returns false with `bad` pointing at the offending field. On success, when the value was given
// more than once, the fields are replaced by one field holding the first value.
bool evaluateContentLength(HeaderList& headers, const FieldInfo& info, std::uint64_t& length,
                           const Header*& bad) {
    constexpr std::uint64_t kMax =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    bool haveValue = false;
    bool repeated = info.clCount > 1;
    std::string_view firstDigits;
    std::string_view clName;
    const auto& fields = headers.fields();
    for (std::size_t i = info.clIndex; i < fields.size(); ++i) {
        const Header& h = fields[i];
        if (h.id != FieldName::ContentLength) continue;
        clName = clName.empty() ? h.name : clName;
        std::string_view rest = h.value;
        if (rest.empty()) {
            bad = &h;
            return false;
        }
        while (true) {
            const auto comma = rest.find(',');
            const auto element = trimOws(rest.substr(0, comma));
            if (element.empty() || element.size() > 19) {
                bad = &h;
                return false;
            }
            // At most 19 digits (checked above) stay below 10^19 < 2^64, so the sum cannot wrap
            // and one compare after the loop replaces a division per digit.
            std::uint64_t v = 0;
            for (const char c : element) {
                if (!isDigit(c)) {
                    bad = &h;
                    return false;
                }
                v = v * 10 + static_cast<std::uint64_t>(c - '0');
            }
            if (v > kMax) {
                bad = &h;
                return false;
            }
            if (haveValue && v != length) {
                bad = &h;
                return false;
            }
            if (!haveValue) firstDigits = element;
            haveValue = true;
            length = v;
            if (comma == std::string_view::npos) break;
            repeated = true;
            rest.remove_prefix(comma + 1);
        }
    }
    if (repeated) headers.set(clName, firstDigits);
    return true;
}

enum class TeVerdict : std::uint8_t { Chunked, ChunkedAfterOthers, NotChunked, Malformed };

// Transfer-Encoding: every field's list, in order, is one list of codings.
TeVerdict evaluateTransferEncoding(const HeaderList& headers, const FieldInfo& info,
                                   const Header*& where) {
    bool sawChunked = false;
    bool lastIsChunked = false;
    bool others = false;
    bool malformed = false;
    bool any = false;
    const auto& fields = headers.fields();
    for (std::size_t i = info.teIndex; i < fields.size() && !malformed; ++i) {
        const Header& h = fields[i];
        if (h.id != FieldName::TransferEncoding) continue;
        where = &h;
        forEachListElement(h.value, [&](std::string_view element) {
            any = true;
            std::size_t n = 0;
            while (n < element.size() && isTchar(element[n])) ++n;
            const auto coding = element.substr(0, n);
            const auto params = trimOws(element.substr(n));
            if (coding.empty() || (!params.empty() && params.front() != ';')) {
                malformed = true;
                return false;
            }
            if (iequals(coding, "chunked")) {
                // chunked takes no parameters and is applied at most once (RFC 9112 7).
                if (!params.empty() || sawChunked) {
                    malformed = true;
                    return false;
                }
                sawChunked = true;
                lastIsChunked = true;
            } else {
                others = true;
                lastIsChunked = false;
            }
            return true;
        });
    }
    if (malformed || !any) return TeVerdict::Malformed;
    if (!lastIsChunked) return TeVerdict::NotChunked;
    return others ? TeVerdict::ChunkedAfterOthers : TeVerdict::Chunked;
}

struct ConnectionTokens {
    bool close = false;
    bool keepAlive = false;
    bool upgrade = false;
};

ConnectionTokens connectionTokens(const HeaderList& headers, const FieldInfo& info) {
    ConnectionTokens t;
    if (info.connectionCount == 0) return t;
    const auto& fields = headers.fields();
    for (std::size_t i = info.connectionIndex; i < fields.size(); ++i) {
        const Header& h = fields[i];
        if (h.id != FieldName::Connection) continue;
        forEachListElement(h.value, [&](std::string_view token) {
            if (iequals(token, "close"))
                t.close = true;
            else if (iequals(token, "keep-alive"))
                t.keepAlive = true;
            else if (iequals(token, "upgrade"))
                t.upgrade = true;
            return true;
        });
    }
    return t;
}

enum class VersionClass : std::uint8_t { Http10, Http11, Unsupported, Malformed };

VersionClass classifyVersion(std::string_view v) {
    if (v.size() == 8 && v.starts_with("HTTP/") && isDigit(v[5]) && v[6] == '.' && isDigit(v[7])) {
        if (v[5] == '1' && v[7] == '1') return VersionClass::Http11;
        if (v[5] == '1' && v[7] == '0') return VersionClass::Http10;
        return VersionClass::Unsupported;
    }
    // "HTTP/2" and "HTTP/3" are how later versions name themselves; "HTTP/1" is just broken.
    if (v.size() == 6 && v.starts_with("HTTP/") && v[5] >= '2' && v[5] <= '9')
        return VersionClass::Unsupported;
    return VersionClass::Malformed;
}

// The request-target forms a reverse proxy serves: origin-form, absolute-form (http/https) and
// asterisk-form for OPTIONS. Sets path/query (and host for absolute-form).
ParseResult parseTarget(const char* base, RequestHead& out, std::string_view& authority) {
    const std::string_view t = out.target;
    const char* at = t.data();
    if (const auto hash = t.find('#'); hash != std::string_view::npos)
        return error(400, base, at + hash, "fragment in request-target");
    std::string_view pathAndQuery;
    if (t[0] == '/') {
        pathAndQuery = t;
    } else if (t == "*") {
        if (out.method != Method::Options)
            return error(400, base, at, "asterisk-form only with OPTIONS");
        out.path = t;
        return ParseResult{ParseStatus::Complete, 0, {}};
    } else {
        std::size_t schemeLen = 0;
        if (startsWithNoCase(t, "http://"))
            schemeLen = 7;
        else if (startsWithNoCase(t, "https://"))
            schemeLen = 8;
        else
            return error(400, base, at, "unsupported request-target form");
        const auto rest = t.substr(schemeLen);
        const auto authEnd = rest.find_first_of("/?");
        authority = rest.substr(0, authEnd);
        if (!validHost(authority))
            return error(400, base, authority.data(), "invalid authority in request-target");
        pathAndQuery =
            authEnd == std::string_view::npos ? std::string_view() : rest.substr(authEnd);
    }
    const auto q = pathAndQuery.find('?');
    out.path = pathAndQuery.substr(0, q);
    if (q != std::string_view::npos) out.query = pathAndQuery.substr(q + 1);
    if (out.path.empty()) out.path = "/";  // absolute-form with an empty path means "/"
    return ParseResult{ParseStatus::Complete, 0, {}};
}

ParseResult parseRequestBounded(const char* base, const char* end, const H1Limits& limits,
                                RequestHead& out) {
    const char* p = base;
    // RFC 9112 2.2: ignore at least one empty line before the request line; we allow two.
    for (int empties = 0;; ++empties) {
        if (p == end) return needMore();
        if (*p != '\r') break;
        if (p + 1 == end) return needMore();
        if (p[1] != '\n') return error(400, base, p, "bare CR before request line");
        if (empties == 2) return error(400, base, p, "too many empty lines before request line");
        p += 2;
    }

    const char* lineEnd = nullptr;
    if (auto r = findStartLine(base, p, end, limits.maxRequestLine, true, 400, 414, lineEnd);
        r.status != ParseStatus::Complete)
        return r;

    // method SP request-target SP HTTP-version; the line is known to be printable ASCII.
    const char* m = p;
    while (m < lineEnd && isTchar(*m)) ++m;
    if (m == p || m == lineEnd || *m != ' ') return error(400, base, m, "invalid method");
    out.methodText = std::string_view(p, static_cast<std::size_t>(m - p));
    out.method = methodFromToken(out.methodText);
    const char* targetBegin = m + 1;
    const auto* sp = static_cast<const char*>(
        std::memchr(targetBegin, ' ', static_cast<std::size_t>(lineEnd - targetBegin)));
    if (sp == nullptr) return error(400, base, lineEnd, "malformed request line");
    if (sp == targetBegin) return error(400, base, sp, "empty request-target");
    out.target = std::string_view(targetBegin, static_cast<std::size_t>(sp - targetBegin));
    switch (classifyVersion(std::string_view(sp + 1, static_cast<std::size_t>(lineEnd - sp - 1)))) {
        case VersionClass::Http11:
            out.version = Version::Http11;
            break;
        case VersionClass::Http10:
            out.version = Version::Http10;
            break;
        case VersionClass::Unsupported:
            return error(505, base, sp + 1, "HTTP version not supported");
        case VersionClass::Malformed:
            return error(400, base, sp + 1, "malformed HTTP version");
    }
    if (out.method == Method::Connect) return error(405, base, p, "CONNECT not allowed");
    std::string_view authority;
    if (auto r = parseTarget(base, out, authority); r.status != ParseStatus::Complete) return r;

    FieldInfo info;
    auto result = parseFields(base, lineEnd + 2, end, limits, 400, 431, out.headers, info);
    if (result.status != ParseStatus::Complete) return result;

    const auto& fields = out.headers.fields();
    // Host (RFC 9112 3.2): exactly one on HTTP/1.1, at most one on 1.0, always valid.
    if (info.hostCount > 1) {
        const Header* second = nullptr;
        for (std::size_t i = info.hostIndex + 1; i < fields.size() && !second; ++i)
            if (fields[i].id == FieldName::Host) second = &fields[i];
        return error(400, base, second->name.data(), "more than one Host");
    }
    if (info.hostCount == 1) {
        const Header& h = fields[info.hostIndex];
        if (!validHost(h.value)) return error(400, base, h.value.data(), "invalid Host");
        out.host = h.value;
    } else if (out.version == Version::Http11) {
        return error(400, base, base + result.consumed - 2, "missing Host");
    }
    if (!authority.empty()) out.host = authority;  // RFC 9112 3.2.2: the target's authority wins

    if (info.teCount > 0) {
        const Header& te = fields[info.teIndex];
        if (out.version == Version::Http10)
            return error(400, base, te.name.data(), "Transfer-Encoding on HTTP/1.0");
        if (info.clCount > 0)
            return error(400, base, te.name.data(), "both Content-Length and Transfer-Encoding");
        const Header* where = &te;
        switch (evaluateTransferEncoding(out.headers, info, where)) {
            case TeVerdict::Chunked:
                out.framing = BodyFraming::Chunked;
                break;
            case TeVerdict::Malformed:
                return error(400, base, where->value.data(), "invalid Transfer-Encoding");
            case TeVerdict::ChunkedAfterOthers:
            case TeVerdict::NotChunked:
                return error(501, base, where->value.data(), "transfer coding not implemented");
        }
    } else if (info.clCount > 0) {
        const Header* bad = nullptr;
        if (!evaluateContentLength(out.headers, info, out.contentLength, bad))
            return error(400, base, bad->value.data(), "invalid Content-Length");
        out.framing = out.contentLength > 0 ? BodyFraming::ContentLength : BodyFraming::None;
    }

    if (info.expectCount > 0) {
        for (const Header& h : out.headers.fields()) {
            if (h.id != FieldName::Expect) continue;
            if (!iequals(h.value, "100-continue"))
                return error(417, base, h.value.data(), "unsupported Expect");
        }
        out.expectContinue = out.version == Version::Http11;
    }

    const auto conn = connectionTokens(out.headers, info);
    out.keepAlive = out.version == Version::Http11 ? !conn.close : (conn.keepAlive && !conn.close);
    out.upgrade = out.version == Version::Http11 && conn.upgrade && info.upgradeCount > 0;
    return result;
}

ParseResult parseResponseBounded(const char* base, const char* end, const H1Limits& limits,
                                 Method requestMethod, ResponseHead& out) {
    const char* p = base;
    const char* lineEnd = nullptr;
    if (auto r = findStartLine(base, p, end, limits.maxRequestLine, false, 502, 502, lineEnd);
        r.status != ParseStatus::Complete)
        return r;

    // HTTP-version SP 3DIGIT SP reason-phrase
    const auto line = std::string_view(p, static_cast<std::size_t>(lineEnd - p));
    if (line.size() < 12 || line[8] != ' ')
        return error(502, base, p + std::min<std::size_t>(line.size(), 8), "malformed status line");
    switch (classifyVersion(line.substr(0, 8))) {
        case VersionClass::Http11:
            out.version = Version::Http11;
            break;
        case VersionClass::Http10:
            out.version = Version::Http10;
            break;
        default:
            return error(502, base, p, "unsupported HTTP version in status line");
    }
    if (!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]))
        return error(502, base, p + 9, "invalid status code");
    out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (out.status < 100 || out.status > 599) return error(502, base, p + 9, "invalid status code");
    if (line.size() > 12) {
        if (line[12] != ' ') return error(502, base, p + 12, "malformed status line");
        out.reason = line.substr(13);
    }

    FieldInfo info;
    auto result = parseFields(base, lineEnd + 2, end, limits, 502, 502, out.headers, info);
    if (result.status != ParseStatus::Complete) return result;

    const auto& fields = out.headers.fields();
    bool untilCloseForced = false;
    if (info.teCount > 0) {
        const Header& te = fields[info.teIndex];
        if (info.clCount > 0)
            return error(502, base, te.name.data(), "both Content-Length and Transfer-Encoding");
        const Header* where = &te;
        switch (evaluateTransferEncoding(out.headers, info, where)) {
            case TeVerdict::Chunked:
            case TeVerdict::ChunkedAfterOthers:
                out.framing = BodyFraming::Chunked;
                break;
            case TeVerdict::NotChunked:
                out.framing = BodyFraming::UntilClose;
                break;
            case TeVerdict::Malformed:
                return error(502, base, where->value.data(), "invalid Transfer-Encoding");
        }
        // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
        if (out.version == Version::Http10) {
            out.framing = BodyFraming::UntilClose;
            untilCloseForced = true;
        }
    } else if (info.clCount > 0) {
        const Header* bad = nullptr;
        if (!evaluateContentLength(out.headers, info, out.contentLength, bad))
            return error(502, base, bad->value.data(), "invalid Content-Length");
        out.framing = out.contentLength > 0 ? BodyFraming::ContentLength : BodyFraming::None;
    } else {
        out.framing = BodyFraming::UntilClose;
    }
    const bool bodiless =
        out.status < 200 || out.status == 204 || out.status == 304 || requestMethod == Method::Head;
    if (bodiless) out.framing = BodyFraming::None;

    const auto conn = connectionTokens(out.headers, info);
    out.keepAlive = out.version == Version::Http11 ? !conn.close : (conn.keepAlive && !conn.close);
    if (out.framing == BodyFraming::UntilClose || untilCloseForced) out.keepAlive = false;
    return result;
}

// Runs a bounded parse over at most maxHeaderBytes of input; a head that has not ended by then is
// too big, and we can say so without waiting for more bytes.
template <class Parse>
ParseResult boundedByHeadLimit(std::span<const char> input, const H1Limits& limits, int tooBig,
                               Parse&& parse) {
    const char* base = input.data();
    const bool over = input.size() > limits.maxHeaderBytes;
    const char* end = base + (over ? limits.maxHeaderBytes : input.size());
    ParseResult r = parse(base, end);
    if (r.status == ParseStatus::NeedMore && over)
        return error(tooBig, base, end, "head too large");
    return r;
}

}  // namespace

ParseResult parseRequestHead(std::span<const char> input, const H1Limits& limits,
                             RequestHead& out) {
    out.reset();
    return boundedByHeadLimit(input, limits, 431, [&](const char* base, const char* end) {
        return parseRequestBounded(base, end, limits, out);
    });
}

ParseResult parseResponseHead(std::span<const char> input, const H1Limits& limits,
                              Method requestMethod, ResponseHead& out) {
    out.reset();
    return boundedByHeadLimit(input, limits, 502, [&](const char* base, const char* end) {
        return parseResponseBounded(base, end, limits, requestMethod, out);
    });
}

// --- ChunkedDecoder ----------------------------------------------------------------------------

namespace {

// Sub-states of State::Ext: the chunk-ext grammar *( BWS ";" BWS name [ BWS "=" BWS value ] ).
enum ExtSub : std::uint8_t {
    kExtStart,      // right after the size digits or a complete value
    kExtBwsSemi,    // whitespace, so only ';' may follow
    kExtNameStart,  // after ';'
    kExtName,
    kExtBwsEq,  // whitespace after a name: '=' or ';'
    kExtValueStart,
    kExtToken,
    kExtQuoted,
    kExtQuotedPair,
};

// Sub-states of State::Trailer.
enum TrailerSub : std::uint8_t { kTrLineStart, kTrName, kTrValue, kTrLineLf, kTrEndLf };

}  // namespace

ChunkedDecoder::Step ChunkedDecoder::fail(const char* base, const char* at,
                                          std::string_view reason) {
    state_ = State::Failed;
    failReason_ = reason;
    Step s;
    s.status = ParseStatus::Error;
    s.consumed = static_cast<std::size_t>(at - base);
    s.error.status = 400;
    s.error.offset = s.consumed;
    s.error.reason = reason;
    return s;
}

ChunkedDecoder::Step ChunkedDecoder::decode(std::span<const char> input) {
    const char* const base = input.data();
    const char* p = base;
    const char* const end = base + input.size();
    Step s;
    if (state_ == State::Failed) {
        s.status = ParseStatus::Error;
        s.error.status = 400;
        s.error.reason = failReason_;
        return s;
    }
    while (p < end && state_ != State::Done) {
        const char c = *p;
        switch (state_) {
            case State::Size: {
                const int d = hexValue(c);
                if (d >= 0) {
                    if (sizeDigits_ == 16) return fail(base, p, "chunk size too long");
                    remaining_ = (remaining_ << 4) | static_cast<std::uint64_t>(d);
                    ++sizeDigits_;
                    ++p;
                    break;
                }
                if (sizeDigits_ == 0) return fail(base, p, "missing chunk size");
                state_ = State::Ext;
                sub_ = kExtStart;
                extBytes_ = 0;
                break;  // the same byte is looked at again as extension/line end
            }
            case State::Ext: {
                if (c == '\r') {
                    if (sub_ != kExtStart && sub_ != kExtName && sub_ != kExtToken)
                        return fail(base, p, "invalid chunk extension");
                    state_ = State::SizeLf;
                    ++p;
                    break;
                }
                if (++extBytes_ > kMaxChunkExtBytes)
                    return fail(base, p, "chunk extension too long");
                const bool ws = isOws(c);
                const bool tchar = isTchar(c);
                bool ok = true;
                switch (sub_) {
                    case kExtStart:
                    case kExtBwsSemi:
                        if (c == ';')
                            sub_ = kExtNameStart;
                        else if (ws)
                            sub_ = kExtBwsSemi;
                        else
                            ok = false;
                        break;
                    case kExtNameStart:
                        if (tchar)
                            sub_ = kExtName;
                        else
                            ok = ws;
                        break;
                    case kExtName:
                        if (c == ';')
                            sub_ = kExtNameStart;
                        else if (c == '=')
                            sub_ = kExtValueStart;
                        else if (ws)
                            sub_ = kExtBwsEq;
                        else
                            ok = tchar;
                        break;
                    case kExtBwsEq:
                        if (c == ';')
                            sub_ = kExtNameStart;
                        else if (c == '=')
                            sub_ = kExtValueStart;
                        else
                            ok = ws;
                        break;
                    case kExtValueStart:
                        if (tchar)
                            sub_ = kExtToken;
                        else if (c == '"')
                            sub_ = kExtQuoted;
                        else
                            ok = ws;
                        break;
                    case kExtToken:
                        if (c == ';')
                            sub_ = kExtNameStart;
                        else if (ws)
                            sub_ = kExtBwsSemi;
                        else
                            ok = tchar;
                        break;
                    case kExtQuoted:
                        // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
                        if (c == '"')
                            sub_ = kExtStart;
                        else if (c == '\\')
                            sub_ = kExtQuotedPair;
                        else
                            ok = !(cls(c) & kFieldStop);
                        break;
                    case kExtQuotedPair:
                        ok = !(cls(c) & kFieldStop);
                        sub_ = kExtQuoted;
                        break;
                    default:
                        ok = false;
                        break;
                }
                if (!ok) return fail(base, p, "invalid chunk extension");
                ++p;
                break;
            }
            case State::SizeLf:
                if (c != '\n') return fail(base, p, "chunk size line not ended by CRLF");
                ++p;
                if (remaining_ == 0) {
                    state_ = State::Trailer;
                    sub_ = kTrLineStart;
                    trailerBytes_ = 0;
                } else {
                    state_ = State::Data;
                }
                break;
            case State::Data: {
                const auto avail = static_cast<std::uint64_t>(end - p);
                const auto n = static_cast<std::size_t>(std::min(remaining_, avail));
                s.data = std::string_view(p, n);
                p += n;
                remaining_ -= n;
                if (remaining_ == 0) state_ = State::DataCr;
                s.consumed = static_cast<std::size_t>(p - base);
                return s;  // one run of data per step
            }
            case State::DataCr:
                if (c != '\r') return fail(base, p, "chunk data not followed by CRLF");
                state_ = State::DataLf;
                ++p;
                break;
            case State::DataLf:
                if (c != '\n') return fail(base, p, "chunk data not followed by CRLF");
                state_ = State::Size;
                sizeDigits_ = 0;
                remaining_ = 0;
                ++p;
                break;
            case State::Trailer: {
                if (++trailerBytes_ > maxTrailer_)
                    return fail(base, p, "trailer section too large");
                bool ok = true;
                switch (sub_) {
                    case kTrLineStart:
                        if (c == '\r')
                            sub_ = kTrEndLf;
                        else if (isTchar(c))
                            sub_ = kTrName;
                        else
                            ok = false;
                        break;
                    case kTrName:
                        if (c == ':')
                            sub_ = kTrValue;
                        else
                            ok = isTchar(c);
                        break;
                    case kTrValue:
                        if (c == '\r')
                            sub_ = kTrLineLf;
                        else
                            ok = !(cls(c) & kFieldStop);
                        break;
                    case kTrLineLf:
                        if (c == '\n')
                            sub_ = kTrLineStart;
                        else
                            ok = false;
                        break;
                    case kTrEndLf:
                        if (c == '\n')
                            state_ = State::Done;
                        else
                            ok = false;
                        break;
                    default:
                        ok = false;
                        break;
                }
                if (!ok) return fail(base, p, "invalid trailer section");
                ++p;
                break;
            }
            case State::Done:
            case State::Failed:
                break;  // not reached: the loop and the check above exclude them
        }
    }
    s.consumed = static_cast<std::size_t>(p - base);
    if (state_ == State::Done) s.status = ParseStatus::Complete;
    return s;
}

}  // namespace proxy::http
