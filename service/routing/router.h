#pragma once
// Route matching, compiled once per config snapshot. Precedence (docs/configuration.md):
// host exact > host wildcard (longer suffix first) > "*"; within a host class path_exact >
// path_regex > path_prefix (longer first) > no path condition; then more method/header conditions
// first; then routes bound to the listener before routes for every listener; ties keep config
// order. The first route whose conditions all hold wins.

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "http/message.h"

namespace proxy::filter { class Filter; }
namespace proxy::upstream { class UpstreamGroup; }

namespace proxy::routing {

// Paths longer than this never match a path_regex and are never regex-rewritten (std::regex
// recurses once per input character; this bounds its stack use).
inline constexpr std::size_t kMaxRegexInput = 4096;

struct CompiledRoute {
    const config::Route* config = nullptr;  // not owned; lives in the same snapshot
    std::string name;
    enum class HostKind : std::uint8_t { Any, Exact, Suffix } hostKind = HostKind::Any;
    std::string host;  // lower case; for Suffix the ".example.com" part
    enum class PathKind : std::uint8_t { None, Prefix, Regex, Exact } pathKind = PathKind::None;
    std::string path;
    std::regex pathRegex;
    std::uint32_t methodMask = 0;  // bit per http::Method; 0 = any
    std::vector<std::string> otherMethods;  // extension methods, compared as text
    std::vector<std::pair<std::string, std::string>> headers;
    std::string listener;  // empty = all listeners
    upstream::UpstreamGroup* upstream = nullptr;  // not owned; lives in the same snapshot
    std::vector<filter::Filter*> filters;         // not owned; the route's filter chain
    std::size_t order = 0;

    bool matchesRequest(const http::RequestHead& request) const;  // path, method, headers
};

// Lower-cases the host, drops a port and a trailing dot. Writes into `out` (at most 255 chars);
// returns an empty view for an invalid host.
std::string_view normalizeHost(std::string_view host, char (&out)[256]);

// A string hash that reads 8 bytes a step (the last word overlapping), for the maps the data path
// looks up per request (the listener's table, exact hosts, the connection pool's keys): about a
// quarter of std::hash's instructions on 10-40 byte keys. Not seeded: these maps hold config
// values only, so a client choosing the looked-up key cannot crowd a bucket.
inline std::size_t hashString(std::string_view s) noexcept {
    constexpr std::uint64_t kMul = 0x9fb21c651e98df25ull;
    const char* p = s.data();
    std::size_t n = s.size();
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * kMul);
    std::uint64_t w = 0;
    if (n >= 8) {
        while (n > 8) {
            std::memcpy(&w, p, 8);
            h = std::rotl((h ^ w) * kMul, 31);
            p += 8;
            n -= 8;
        }
        std::memcpy(&w, p + n - 8, 8);  // the last 8 bytes, overlapping the previous word
    } else if (n >= 4) {
        std::uint32_t a, b;
        std::memcpy(&a, p, 4);
        std::memcpy(&b, p + n - 4, 4);
        w = (std::uint64_t{a} << 32) | b;
    } else if (n > 0) {
        w = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
            (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) |
            static_cast<unsigned char>(p[n - 1]);
    }
    h = (h ^ w) * kMul;
    h ^= h >> 32;
    h *= kMul;
    h ^= h >> 29;
    return static_cast<std::size_t>(h);
}

// Hash for unordered containers keyed by std::string that are looked up with string_view.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return hashString(s); }
};
template <typename T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

class Router {
public:
    // routes must outlive the router (they live in the snapshot beside it).
    explicit Router(std::vector<CompiledRoute*> routes);
    const CompiledRoute* match(std::string_view listener, const http::RequestHead& request) const;

private:
    struct Table {  // one per listener name ("" holds routes for every listener)
        StringMap<std::vector<const CompiledRoute*>> exact;
        std::vector<const CompiledRoute*> suffix;  // sorted by suffix length, longest first
        std::vector<const CompiledRoute*> any;
    };
    const Table* tableFor(std::string_view listener) const;
    StringMap<Table> tables_;
};

}  // namespace proxy::routing
