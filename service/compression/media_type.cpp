#include "compression/media_type.h"

#include "http/token.h"

namespace proxy::compression {
namespace {

using http::isTokenChar;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// pattern is lower case already.
bool equalsLower(std::string_view text, std::string_view pattern) {
    if (text.size() != pattern.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i)
        if (lower(text[i]) != pattern[i]) return false;
    return true;
}

}  // namespace

bool mediaTypeMatches(std::string_view contentType, std::span<const std::string> patterns) {
    std::size_t pos = 0;
    const std::size_t n = contentType.size();
    while (pos < n && (contentType[pos] == ' ' || contentType[pos] == '\t')) ++pos;
    const std::size_t typeStart = pos;
    while (pos < n && isTokenChar(contentType[pos])) ++pos;
    const std::string_view type = contentType.substr(typeStart, pos - typeStart);
    if (type.empty() || pos >= n || contentType[pos] != '/') return false;
    const std::size_t subStart = ++pos;
    while (pos < n && isTokenChar(contentType[pos])) ++pos;
    const std::string_view subtype = contentType.substr(subStart, pos - subStart);
    if (subtype.empty()) return false;
    while (pos < n && (contentType[pos] == ' ' || contentType[pos] == '\t')) ++pos;
    if (pos < n && contentType[pos] != ';') return false;  // parameters follow a ';'

    for (const std::string& pattern : patterns) {
        const std::size_t slash = pattern.find('/');
        if (slash == std::string::npos) continue;
        const std::string_view pType = std::string_view(pattern).substr(0, slash);
        const std::string_view pSub = std::string_view(pattern).substr(slash + 1);
        if (pType != "*" && !equalsLower(type, pType)) continue;
        if (pSub == "*" || equalsLower(subtype, pSub)) return true;
    }
    return false;
}

}  // namespace proxy::compression
