#include "logging/access_query.h"

#include <charconv>
#include <cmath>

namespace proxy::logging {
namespace {

std::expected<std::pair<int, int>, std::string> parseStatus(const control::Json& item) {
    if (item.is_number_integer()) {
        const auto code = item.get<long long>();
        if (code < 0 || code > 999) return std::unexpected("status " + std::to_string(code) + " is out of range");
        return std::pair<int, int>{static_cast<int>(code), static_cast<int>(code)};
    }
    if (!item.is_string()) return std::unexpected("status entries must be numbers or strings like \"5xx\"");
    const auto text = item.get<std::string>();
    if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && (text[1] == 'x' || text[1] == 'X') &&
        (text[2] == 'x' || text[2] == 'X')) {
        const int lo = (text[0] - '0') * 100;
        return std::pair<int, int>{lo, lo + 99};
    }
    int code = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), code);
    if (ec == std::errc{} && end == text.data() + text.size() && code >= 0 && code <= 999)
        return std::pair<int, int>{code, code};
    return std::unexpected("status \"" + text.substr(0, 32) + "\" is neither a code nor a class like \"5xx\"");
}

}  // namespace

std::expected<void, std::string> validate(const AccessQuery& q) {
    const std::pair<const char*, const std::string*> strings[] = {
        {"method", &q.method},     {"host", &q.host},   {"path_prefix", &q.pathPrefix},
        {"path_contains", &q.pathContains}, {"client", &q.client}, {"route", &q.route},
        {"upstream", &q.upstream}, {"server", &q.server}};
    for (const auto& [name, value] : strings)
        if (value->size() > AccessQuery::kMaxFilterBytes)
            return std::unexpected(std::string(name) + " is longer than " +
                                   std::to_string(AccessQuery::kMaxFilterBytes) + " bytes");
    if (q.fromUs && q.toUs && *q.fromUs > *q.toUs) return std::unexpected("from is after to");
    if (q.limit == 0 || q.limit > AccessQuery::kMaxLimit)
        return std::unexpected("limit must be 1.." + std::to_string(AccessQuery::kMaxLimit));
    for (const auto& [lo, hi] : q.statusRanges)
        if (lo > hi || lo < 0 || hi > 999) return std::unexpected("bad status range");
    return {};
}

std::expected<void, std::string> validateAggregate(const AccessQuery& q) {
    if (auto valid = validate(q); !valid) return valid;
    if (!q.fromUs || !q.toUs) return std::unexpected("aggregates need both from_ms and to_ms");
    constexpr std::int64_t kMaxSpanUs = 7LL * 24 * 3600 * 1'000'000;
    if (*q.toUs - *q.fromUs > kMaxSpanUs) return std::unexpected("aggregates cover at most 7 days");
    return {};
}

std::expected<AccessQuery, std::string> parseAccessQuery(const control::Json& params) {
    AccessQuery q;
    if (params.is_null()) return q;
    if (!params.is_object()) return std::unexpected("params must be an object");
    constexpr std::int64_t kMaxMs = 253402300799999;  // 9999-12-31: keeps µs inside int64
    for (const auto& [key, value] : params.items()) {
        auto text = [&](std::string& out) -> std::expected<void, std::string> {
            if (!value.is_string()) return std::unexpected(key + " must be a string");
            out = value.get<std::string>();
            return {};
        };
        std::expected<void, std::string> ok;
        if (key == "from_ms" || key == "to_ms") {
            if (!value.is_number_integer()) return std::unexpected(key + " must be an integer (ms since 1970)");
            const auto ms = value.get<long long>();
            if (ms < 0 || ms > kMaxMs) return std::unexpected(key + " is out of range");
            (key == "from_ms" ? q.fromUs : q.toUs) = static_cast<std::int64_t>(ms) * 1000;
        } else if (key == "status") {
            const control::Json list = value.is_array() ? value : control::Json::array({value});
            if (list.size() > 16) return std::unexpected("at most 16 status filters");
            for (const auto& item : list) {
                auto range = parseStatus(item);
                if (!range) return std::unexpected(range.error());
                q.statusRanges.push_back(*range);
            }
        } else if (key == "limit") {
            if (!value.is_number_integer()) return std::unexpected("limit must be an integer");
            const auto limit = value.get<long long>();
            if (limit < 1 || limit > static_cast<long long>(AccessQuery::kMaxLimit))
                return std::unexpected("limit must be 1.." + std::to_string(AccessQuery::kMaxLimit));
            q.limit = static_cast<std::size_t>(limit);
        } else if (key == "cursor") {
            if (value.is_null()) continue;
            if (!value.is_string()) return std::unexpected("cursor must be a string");
            q.before = parseCursor(value.get<std::string>());
            if (!q.before) return std::unexpected("cursor is not one this server gave out");
        } else if (key == "method") ok = text(q.method);
        else if (key == "host") ok = text(q.host);
        else if (key == "path_prefix") ok = text(q.pathPrefix);
        else if (key == "path_contains") ok = text(q.pathContains);
        else if (key == "client") ok = text(q.client);
        else if (key == "route") ok = text(q.route);
        else if (key == "upstream") ok = text(q.upstream);
        else if (key == "server") ok = text(q.server);
        else return std::unexpected("unknown filter \"" + key.substr(0, 64) + "\"");
        if (!ok) return std::unexpected(ok.error());
    }
    if (auto valid = validate(q); !valid) return std::unexpected(valid.error());
    return q;
}

std::string formatCursor(const AccessQuery::Cursor& c) {
    return std::to_string(c.timeUs) + "." + std::to_string(c.id);
}

std::optional<AccessQuery::Cursor> parseCursor(std::string_view text) {
    const auto dot = text.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    AccessQuery::Cursor c;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto a = std::from_chars(begin, begin + dot, c.timeUs);
    auto b = std::from_chars(begin + dot + 1, end, c.id);
    if (a.ec != std::errc{} || a.ptr != begin + dot || b.ec != std::errc{} || b.ptr != end || c.id < 0)
        return std::nullopt;
    return c;
}

std::int64_t percentileSorted(const std::vector<std::int64_t>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    if (rank < 1) rank = 1;
    if (rank > sorted.size()) rank = sorted.size();
    return sorted[rank - 1];
}

}  // namespace proxy::logging
