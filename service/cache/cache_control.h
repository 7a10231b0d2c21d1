#pragma once
// Cache-Control (RFC 9111 5.2) as pure parsers over a field value. Each parser reads one field
// line and merges into its directives struct, so a message with several Cache-Control lines is
// parsed line by line into one result.
//
// Hostile input is answered conservatively, never guessed at:
// - a directive whose argument is not valid delta-seconds (max-age=abc, max-age=-1, max-age=)
//   counts as max-age=0: stale at once (RFC 9111 4.2.1, "considered stale");
// - the same delta-seconds directive twice with different values: the smallest wins (for request
//   and response both that is the most conservative reading);
// - a value that is not a list of token[=token/quoted-string] items sets `malformed` with the
//   offset of the first bad byte; the cache then does not store the response at all, since it
//   cannot know what the sender meant (perhaps no-store);
// - numbers larger than 2^31 are clamped to 2^31 (RFC 9111 1.2.2).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace proxy::cache {

inline constexpr std::uint32_t kDeltaSecondsMax = 2147483648u;  // 2^31, RFC 9111 1.2.2

struct ResponseDirectives {
    bool noStore = false;
    bool noCache = false;   // with or without a field list: both mean "revalidate every time" here
    bool isPrivate = false; // with or without a field list: never stored by this shared cache
    bool isPublic = false;
    bool mustRevalidate = false;
    bool proxyRevalidate = false;
    bool noTransform = false;
    bool immutable = false;
    std::optional<std::uint32_t> maxAge;
    std::optional<std::uint32_t> sMaxAge;
    std::optional<std::uint32_t> staleWhileRevalidate;
    std::optional<std::uint32_t> staleIfError;
    bool malformed = false;
    std::size_t malformedAt = 0;  // byte offset in the field value that failed first
};

struct RequestDirectives {
    bool noStore = false;
    bool noCache = false;
    bool onlyIfCached = false;
    bool noTransform = false;
    std::optional<std::uint32_t> maxAge;
    std::optional<std::uint32_t> minFresh;
    std::optional<std::uint32_t> maxStale;  // max-stale=N
    bool maxStaleAny = false;               // max-stale without a value
    bool malformed = false;
    std::size_t malformedAt = 0;
};

void parseResponseCacheControl(std::string_view value, ResponseDirectives& out);
void parseRequestCacheControl(std::string_view value, RequestDirectives& out);

// One directive, as the tokenizer yields it (exposed for tests and the fuzzer).
struct Directive {
    std::string_view name;      // token, as sent (compare case-insensitively)
    std::string_view argument;  // token or the inside of a quoted-string (escapes left in)
    bool hasArgument = false;
    bool quoted = false;
};

// Calls onDirective for each list member. Returns the offset of the first byte that breaks the
// grammar, or nullopt when the whole value parsed. Empty list members (", ,") are allowed.
template <typename F>
std::optional<std::size_t> forEachDirective(std::string_view value, F&& onDirective);

// delta-seconds: 1*DIGIT, clamped to 2^31. nullopt when not all digits or empty.
std::optional<std::uint32_t> parseDeltaSeconds(std::string_view text);

namespace detail {
bool isTokenChar(char c);
std::optional<std::size_t> tokenize(std::string_view value, void (*emit)(const Directive&, void*),
                                    void* context);
}  // namespace detail

template <typename F>
std::optional<std::size_t> forEachDirective(std::string_view value, F&& onDirective) {
    return detail::tokenize(
        value, [](const Directive& d, void* c) { (*static_cast<F*>(c))(d); },
        static_cast<void*>(&onDirective));
}

}  // namespace proxy::cache
