#include "cache/cache_key.h"

#include <algorithm>

#include "cache/cache_control.h"

namespace proxy::cache {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool mustEncode(unsigned char c) {
    if (c <= 0x20 || c >= 0x7f) return true;
    switch (c) {
        case '"': case '<': case '>': case '\\': case '^': case '`': case '{': case '|': case '}':
            return true;
        default: return false;
    }
}

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string lowerString(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lowerAscii(c);
    return out;
}

void appendPart(std::string& key, char tag, std::string_view name, std::string_view value,
                bool present) {
    // "\n" tag name-length ":" name value-length ":" value — length-prefixed, so unforgeable.
    key += '\n';
    key += tag;
    key += std::to_string(name.size());
    key += ':';
    key += name;
    if (!present) {
        key += '-';
        return;
    }
    key += std::to_string(value.size());
    key += ':';
    key += value;
}

}  // namespace

void normalizeComponent(std::string_view in, std::string& out) {
    out.reserve(out.size() + in.size());
    // Where in `out` the last lone '%' went (npos: none). A decoded hex digit right after it
    // would turn it into an escape on the next pass ("%7%41" -> "%7A" -> "z"), so such a digit
    // stays encoded: normalising twice gives what normalising once gave.
    std::size_t lonePercent = std::string::npos;
    const auto completesLonePercent = [&] {
        if (lonePercent == std::string::npos) return false;
        if (lonePercent + 1 == out.size()) return true;
        return lonePercent + 2 == out.size() && hexValue(out.back()) >= 0;
    };
    for (std::size_t i = 0; i < in.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(in[i]);
        if (c == '%' && i + 2 < in.size()) {
            const int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
            if (hi >= 0 && lo >= 0) {
                const unsigned char decoded = static_cast<unsigned char>(hi * 16 + lo);
                // '.' stays encoded: "%2E%2E" must not turn into a dot-segment that an origin
                // (or a path filter in front of it) resolves differently from the raw form.
                if (unreserved(decoded) && decoded != '.' &&
                    !(hexValue(static_cast<char>(decoded)) >= 0 && completesLonePercent())) {
                    out += static_cast<char>(decoded);
                } else {
                    out += '%';
                    out += kHex[hi];
                    out += kHex[lo];
                }
                i += 2;
                continue;
            }
        }
        if (c == '%') {
            // A lone '%' (no two hex digits after it) stays literal: it is not an escape, and
            // "%zz" must not collapse into anything an origin might decode differently.
            lonePercent = out.size();
            out += '%';
            continue;
        }
        if (mustEncode(c)) {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
            continue;
        }
        out += static_cast<char>(c);
    }
}

std::string normalizeHost(std::string_view host, bool tls) {
    std::string h = lowerString(host);
    // Drop the default port; keep any other.
    const std::string_view defaultPort = tls ? ":443" : ":80";
    const std::size_t bracket = h.rfind(']');
    const std::size_t colon = h.rfind(':');
    if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
        if (std::string_view(h).substr(colon) == defaultPort) h.resize(colon);
    }
    if (!h.empty() && h.back() == '.') h.pop_back();
    return h;
}

std::string normalizeQuery(std::string_view query, const KeyRules& rules) {
    if (rules.ignoreQuery) return {};
    const bool filter = !rules.queryInclude.empty() || !rules.queryIgnore.empty();
    if (!filter) {
        std::string out;
        normalizeComponent(query, out);
        return out;
    }
    std::string out;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) end = query.size();
        std::string normalized;
        normalizeComponent(query.substr(start, end - start), normalized);
        const std::string_view name = std::string_view(normalized).substr(0, normalized.find('='));
        bool keep = !normalized.empty();
        if (keep && !rules.queryInclude.empty())
            keep = std::find(rules.queryInclude.begin(), rules.queryInclude.end(), name) !=
                   rules.queryInclude.end();
        if (keep && !rules.queryIgnore.empty())
            keep = std::find(rules.queryIgnore.begin(), rules.queryIgnore.end(), name) ==
                   rules.queryIgnore.end();
        if (keep) {
            if (!out.empty()) out += '&';
            out += normalized;
        }
        if (end == query.size()) break;
        start = end + 1;
    }
    return out;
}

std::string urlKey(bool tls, std::string_view host, std::string_view path, std::string_view query,
                   const KeyRules& rules) {
    std::string key = tls ? "https://" : "http://";
    key += normalizeHost(host, tls);
    normalizeComponent(path, key);
    const std::string q = normalizeQuery(query, rules);
    if (!q.empty()) {
        key += '?';
        key += q;
    }
    return key;
}

bool findCookie(std::string_view header, std::string_view name, std::string& value) {
    std::size_t i = 0;
    while (i < header.size()) {
        while (i < header.size() && (header[i] == ' ' || header[i] == ';' || header[i] == ',')) ++i;
        std::size_t end = header.find(';', i);
        if (end == std::string_view::npos) end = header.size();
        const std::string_view pair = header.substr(i, end - i);
        const std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
            std::string_view v = pair.substr(eq + 1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
            value.assign(v);
            return true;
        }
        i = end;
    }
    return false;
}

std::string primaryKey(const std::string& url, const KeyRules& rules, const HeaderSource& headers) {
    std::string key = url;
    std::string value;
    for (const std::string& name : rules.headers) {
        value.clear();
        const bool present = headers.get(name, value);
        appendPart(key, 'h', lowerString(name), normalizeFieldValue(value), present);
    }
    if (!rules.cookies.empty()) {
        std::string cookies;
        const bool any = headers.get("Cookie", cookies);
        for (const std::string& name : rules.cookies) {
            value.clear();
            const bool present = any && findCookie(cookies, name, value);
            appendPart(key, 'c', name, value, present);
        }
    }
    return key;
}

std::string normalizeFieldValue(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    bool space = false;
    for (char c : v) {
        if (c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (c == ',') {
            out += ',';
            space = false;
            continue;
        }
        if (space && !out.empty() && out.back() != ',') out += ' ';
        space = false;
        out += c;
    }
    return out;
}

VaryValues varyNames(const std::vector<std::string_view>& lines) {
    VaryValues v;
    std::vector<std::string> names;
    for (std::string_view line : lines) {
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == ',')) ++i;
            const std::size_t start = i;
            while (i < line.size() && line[i] != ',') ++i;
            std::string_view name = line.substr(start, i - start);
            while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
            if (name.empty()) continue;
            if (name == "*") {
                v.star = true;
                continue;
            }
            bool token = true;
            for (char c : name) token = token && detail::isTokenChar(c);
            if (!token) {
                v.star = true;  // an unreadable Vary: never match anything
                continue;
            }
            names.push_back(lowerString(name));
        }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    for (auto& n : names) v.fields.emplace_back(std::move(n), std::string());
    return v;
}

VaryValues varyValues(const VaryValues& names, const HeaderSource& request) {
    VaryValues out;
    out.star = names.star;
    std::string value;
    for (const auto& [name, ignored] : names.fields) {
        value.clear();
        if (request.get(name, value))
            out.fields.emplace_back(name, normalizeFieldValue(value));
        else
            out.fields.emplace_back(name, "\x01");
    }
    return out;
}

}  // namespace proxy::cache
