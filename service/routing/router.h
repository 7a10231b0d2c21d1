#pragma once
// Route matching, compiled once per config snapshot. Precedence (docs/configuration.md):
// host exact > host wildcard (longer suffix first) > "*"; within a host class path_exact >
// path_regex > path_prefix (longer first) > no path condition; then more method/header conditions
// first; then routes bound to the listener before routes for every listener; ties keep config
// order. The first route whose conditions all hold wins.

#include <cstdint>
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

// Hash for unordered containers keyed by std::string that are looked up with string_view.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
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
