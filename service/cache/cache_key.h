#pragma once
// The cache key (docs/cache.md, "The cache key"), pure. Two requests share a key only when every
// origin must treat them alike, so the normalisation is deliberately small (RFC 3986 6.2.2):
// - scheme: "http" or "https", from the connection;
// - host: lower case, a trailing dot and the scheme's default port removed;
// - path and query: percent-escapes of unreserved characters (A-Z a-z 0-9 - _ ~; not '.')
//   decoded, every other escape's hex digits upper-cased, bytes that may not appear raw
//   (controls, space, non-ASCII, '"' '<' '>' '\' '^' '`' '{' '|' '}') encoded. Nothing else:
//   "%2F" stays distinct from "/", "+" from "%20", "%2E" from ".", and dot-segments are kept,
//   because origins (and path filters in front of them) differ on those;
// - query parameters may be filtered (ignore all, keep only some, drop some); their order is kept.
// The extra parts the route adds (headers, cookies) follow, each tagged and length-prefixed, so
// no value can forge another part.

#include <string>
#include <string_view>
#include <vector>

namespace proxy::cache {

struct KeyRules {
    bool ignoreQuery = false;
    std::vector<std::string> queryInclude;  // non-empty: only these parameters (decoded names)
    std::vector<std::string> queryIgnore;
    std::vector<std::string> headers;
    std::vector<std::string> cookies;
};

// Normalises one path or query component (see above) into out.
void normalizeComponent(std::string_view in, std::string& out);
// "host[:port]" lower-cased, trailing dot and default port dropped.
std::string normalizeHost(std::string_view host, bool tls);
// The query after the rules, normalised; parameter names compared after normalisation.
std::string normalizeQuery(std::string_view query, const KeyRules& rules);

// The URL part of the key: "http://host/path?query" (purges match this).
std::string urlKey(bool tls, std::string_view host, std::string_view path, std::string_view query,
                   const KeyRules& rules);

// Looks up a request header (all lines joined by ", ") for key and Vary purposes.
struct HeaderSource {
    virtual ~HeaderSource() = default;
    // Appends every field line called name, joined with ", "; false when there is none.
    virtual bool get(std::string_view name, std::string& out) const = 0;
};

// The value of a cookie in the Cookie header(s); false when absent.
bool findCookie(std::string_view cookieHeader, std::string_view name, std::string& value);

// The primary key: the URL key plus the route's header and cookie parts.
std::string primaryKey(const std::string& urlKey, const KeyRules& rules, const HeaderSource& headers);

// Vary (RFC 9111 4.1): the normalised values of the request fields a response varies on. Field
// values are compared after whitespace around commas is dropped and runs of spaces are folded;
// an absent field differs from an empty one.
struct VaryValues {
    bool star = false;  // Vary: * — never matches
    std::vector<std::pair<std::string, std::string>> fields;  // lower-case name, "\x01" absent
    friend bool operator==(const VaryValues&, const VaryValues&) = default;
};
// Field names listed by the Vary header lines (lower case, sorted, deduplicated).
VaryValues varyNames(const std::vector<std::string_view>& varyLines);
// Fills the values of names' fields from a request.
VaryValues varyValues(const VaryValues& names, const HeaderSource& request);
std::string normalizeFieldValue(std::string_view v);

}  // namespace proxy::cache
