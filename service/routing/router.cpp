#include "routing/router.h"

#include <algorithm>
#include <set>

namespace proxy::routing {
namespace {

int pathRank(const CompiledRoute& r) {
    switch (r.pathKind) {
        case CompiledRoute::PathKind::Exact: return 3;
        case CompiledRoute::PathKind::Regex: return 2;
        case CompiledRoute::PathKind::Prefix: return 1;
        case CompiledRoute::PathKind::None: return 0;
    }
    return 0;
}

// True when a sorts before b: more specific path, then more conditions, then a listener-bound
// route before a global one, then config order.
bool morePathSpecific(const CompiledRoute* a, const CompiledRoute* b) {
    const int ra = pathRank(*a), rb = pathRank(*b);
    if (ra != rb) return ra > rb;
    if (a->pathKind == CompiledRoute::PathKind::Prefix && a->path.size() != b->path.size())
        return a->path.size() > b->path.size();
    const auto conditions = [](const CompiledRoute* r) {
        return (r->methodMask != 0 || !r->otherMethods.empty() ? 1u : 0u) + r->headers.size();
    };
    if (conditions(a) != conditions(b)) return conditions(a) > conditions(b);
    // A route bound to its listener is more specific than one for every listener.
    if (a->listener.empty() != b->listener.empty()) return !a->listener.empty();
    return a->order < b->order;
}

const CompiledRoute* firstMatch(const std::vector<const CompiledRoute*>& routes,
                                const http::RequestHead& request) {
    for (const CompiledRoute* r : routes)
        if (r->matchesRequest(request)) return r;
    return nullptr;
}

}  // namespace

std::string_view normalizeHost(std::string_view host, char (&out)[256]) {
    if (host.empty()) return {};
    std::size_t end = host.size();
    if (host.front() == '[') {  // IPv6 literal: keep through the closing bracket
        const auto close = host.find(']');
        if (close == std::string_view::npos) return {};
        end = close + 1;
    } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
        end = colon;
    }
    if (end > 0 && host[end - 1] == '.') --end;
    if (end == 0 || end >= sizeof(out)) return {};
    for (std::size_t i = 0; i < end; ++i) {
        const char c = host[i];
        out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
    }
    return {out, end};
}

bool CompiledRoute::matchesRequest(const http::RequestHead& request) const {
    switch (pathKind) {
        case PathKind::None: break;
        case PathKind::Exact:
            if (request.path != path) return false;
            break;
        case PathKind::Prefix:
            if (!request.path.starts_with(path)) return false;
            break;
        case PathKind::Regex:
            // std::regex recurses per input character: a huge path must not reach it.
            if (request.path.size() > kMaxRegexInput ||
                !std::regex_match(request.path.begin(), request.path.end(), pathRegex))
                return false;
            break;
    }
    if (methodMask != 0 || !otherMethods.empty()) {
        const bool known = request.method != http::Method::Other &&
                           (methodMask & (1u << static_cast<unsigned>(request.method))) != 0;
        const bool other =
            std::find(otherMethods.begin(), otherMethods.end(), request.methodText) !=
            otherMethods.end();
        if (!known && !other) return false;
    }
    for (const auto& [headerName, value] : headers) {
        bool found = false;
        for (const auto& h : request.headers.fields()) {
            if (http::iequals(h.name, headerName) && (value.empty() || h.value == value)) {
                found = true;
                break;
            }
        }
        if (!found) return false;
    }
    return true;
}

Router::Router(std::vector<CompiledRoute*> routes) {
    std::set<std::string> listeners{""};
    for (const auto* r : routes) listeners.insert(r->listener);
    // Each listener's table holds its own routes plus the routes for every listener.
    for (const auto& listener : listeners) {
        Table& table = tables_[listener];
        for (const CompiledRoute* r : routes) {
            if (!r->listener.empty() && r->listener != listener) continue;
            switch (r->hostKind) {
                case CompiledRoute::HostKind::Exact: table.exact[r->host].push_back(r); break;
                case CompiledRoute::HostKind::Suffix: table.suffix.push_back(r); break;
                case CompiledRoute::HostKind::Any: table.any.push_back(r); break;
            }
        }
        for (auto& [host, list] : table.exact) std::stable_sort(list.begin(), list.end(), morePathSpecific);
        std::stable_sort(table.suffix.begin(), table.suffix.end(),
                         [](const CompiledRoute* a, const CompiledRoute* b) {
                             if (a->host.size() != b->host.size()) return a->host.size() > b->host.size();
                             return morePathSpecific(a, b);
                         });
        std::stable_sort(table.any.begin(), table.any.end(), morePathSpecific);
    }
}

const Router::Table* Router::tableFor(std::string_view listener) const {
    if (const auto it = tables_.find(listener); it != tables_.end()) return &it->second;
    return &tables_.find(std::string_view{})->second;
}

const CompiledRoute* Router::match(std::string_view listener,
                                   const http::RequestHead& request) const {
    const Table* table = tableFor(listener);
    char buffer[256];
    const std::string_view host = normalizeHost(request.host, buffer);
    if (!host.empty()) {
        if (!table->exact.empty()) {
            if (const auto it = table->exact.find(host); it != table->exact.end())
                if (const auto* r = firstMatch(it->second, request)) return r;
        }
        for (const CompiledRoute* r : table->suffix) {
            // "*.example.com" matches "a.example.com" and "a.b.example.com", not "example.com".
            if (host.size() > r->host.size() && host.ends_with(r->host) && r->matchesRequest(request))
                return r;
        }
    }
    return firstMatch(table->any, request);
}

}  // namespace proxy::routing
