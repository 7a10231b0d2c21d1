#include "cache/freshness.h"

#include <algorithm>
#include <cstdio>

namespace proxy::cache {
namespace {

constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::string_view kLongDays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};
constexpr Seconds kHeuristicCap = 86'400;

// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm).
Seconds daysFromCivil(Seconds y, unsigned m, unsigned d) {
    y -= m <= 2;
    const Seconds era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<Seconds>(doe) - 719468;
}

struct Cursor {
    std::string_view s;
    std::size_t i = 0;
    bool literal(std::string_view t) {
        if (s.substr(i, t.size()) != t) return false;
        i += t.size();
        return true;
    }
    bool digits(std::size_t count, unsigned& out) {
        out = 0;
        for (std::size_t k = 0; k < count; ++k) {
            if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
            out = out * 10 + static_cast<unsigned>(s[i++] - '0');
        }
        return true;
    }
    bool month(unsigned& out) {
        for (unsigned m = 0; m < 12; ++m)
            if (literal(kMonths[m])) {
                out = m + 1;
                return true;
            }
        return false;
    }
    bool time(unsigned& h, unsigned& mi, unsigned& sec) {
        return digits(2, h) && literal(":") && digits(2, mi) && literal(":") && digits(2, sec) &&
               h < 24 && mi < 60 && sec < 61;
    }
    bool end() const { return i == s.size(); }
};

bool validDay(unsigned y, unsigned m, unsigned d) {
    static constexpr unsigned kLen[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > kLen[m - 1]) return false;
    if (m == 2 && d == 29) return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return true;
}

std::optional<Seconds> make(unsigned y, unsigned m, unsigned d, unsigned h, unsigned mi, unsigned s) {
    if (!validDay(y, m, d)) return std::nullopt;
    if (s == 60) s = 59;  // a leap second reads as the second before
    return daysFromCivil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
}

}  // namespace

std::optional<Seconds> parseHttpDate(std::string_view text) {
    if (text.size() > 64) return std::nullopt;
    unsigned y = 0, m = 0, d = 0, h = 0, mi = 0, s = 0;
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    for (auto day : kDays) {
        Cursor c{text};
        if (c.literal(day) && c.literal(", ") && c.digits(2, d) && c.literal(" ") && c.month(m) &&
            c.literal(" ") && c.digits(4, y) && c.literal(" ") && c.time(h, mi, s) &&
            c.literal(" GMT") && c.end())
            return make(y, m, d, h, mi, s);
        // asctime: Sun Nov  6 08:49:37 1994
        Cursor a{text};
        if (a.literal(day) && a.literal(" ") && a.month(m) && a.literal(" ")) {
            bool ok = false;
            if (a.literal(" ")) ok = a.digits(1, d);
            else ok = a.digits(2, d);
            if (ok && a.literal(" ") && a.time(h, mi, s) && a.literal(" ") && a.digits(4, y) && a.end())
                return make(y, m, d, h, mi, s);
        }
    }
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT. Two-digit years more than 50 years ahead are in
    // the past century (RFC 9110 5.6.7); taking 70 as the pivot keeps the epoch's range.
    for (auto day : kLongDays) {
        Cursor c{text};
        if (c.literal(day) && c.literal(", ") && c.digits(2, d) && c.literal("-") && c.month(m) &&
            c.literal("-") && c.digits(2, y) && c.literal(" ") && c.time(h, mi, s) &&
            c.literal(" GMT") && c.end())
            return make(y < 70 ? 2000 + y : 1900 + y, m, d, h, mi, s);
    }
    return std::nullopt;
}

void formatHttpDate(Seconds t, char (&out)[30]) {
    Seconds days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    Seconds rest = t - days * 86400;
    const unsigned weekday = static_cast<unsigned>(((days % 7) + 7 + 3) % 7);  // 1970-01-01: Thu
    // civil from days (Hinnant)
    days += 719468;
    const Seconds era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    Seconds y = static_cast<Seconds>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    std::snprintf(out, sizeof(out), "%.3s, %02u %.3s %04lld %02lld:%02lld:%02lld GMT",
                  kDays[weekday].data(), d, kMonths[m - 1].data(), static_cast<long long>(y),
                  static_cast<long long>(rest / 3600), static_cast<long long>(rest / 60 % 60),
                  static_cast<long long>(rest % 60));
}

Seconds currentAge(const AgeInputs& in, Seconds now) {
    const Seconds date = in.date.value_or(in.responseTime);
    const Seconds apparentAge = std::max<Seconds>(0, in.responseTime - date);
    const Seconds responseDelay = std::max<Seconds>(0, in.responseTime - in.requestTime);
    const Seconds correctedAgeValue = std::max<Seconds>(0, in.ageValue) + responseDelay;
    const Seconds correctedInitialAge = std::max(apparentAge, correctedAgeValue);
    const Seconds residentTime = std::max<Seconds>(0, now - in.responseTime);
    return correctedInitialAge + residentTime;
}

bool heuristicallyCacheable(int status) {
    switch (status) {
        case 200: case 203: case 204: case 206: case 300: case 301: case 308:
        case 404: case 405: case 410: case 414: case 501: return true;
        default: return false;
    }
}

Lifetime freshnessLifetime(const FreshnessInputs& in) {
    static const ResponseDirectives kNone;
    const ResponseDirectives& cc = in.directives ? *in.directives : kNone;
    if (cc.sMaxAge) return {static_cast<Seconds>(*cc.sMaxAge), LifetimeSource::SMaxAge};
    if (cc.maxAge) return {static_cast<Seconds>(*cc.maxAge), LifetimeSource::MaxAge};
    if (in.hasExpires) {
        if (!in.expires) return {0, LifetimeSource::Expires};  // invalid Expires: already stale
        const Seconds date = in.date.value_or(in.responseTime);
        return {std::max<Seconds>(0, *in.expires - date), LifetimeSource::Expires};
    }
    if ((heuristicallyCacheable(in.status) || cc.isPublic) && in.lastModified) {
        const Seconds date = in.date.value_or(in.responseTime);
        const Seconds sinceModified = date - *in.lastModified;
        if (sinceModified > 0)
            return {std::min(sinceModified / 10, kHeuristicCap), LifetimeSource::Heuristic};
        return {0, LifetimeSource::Heuristic};
    }
    return {0, LifetimeSource::None};
}

Usability usability(const UseInputs& in) {
    static const ResponseDirectives kNoneStored;
    static const RequestDirectives kNoneRequest;
    const ResponseDirectives& stored = in.stored ? *in.stored : kNoneStored;
    const RequestDirectives& req = in.request ? *in.request : kNoneRequest;
    if (stored.noCache || req.noCache) return Usability::MustValidate;
    if (req.maxAge && in.age > static_cast<Seconds>(*req.maxAge)) return Usability::MustValidate;
    const Seconds minFresh = req.minFresh ? static_cast<Seconds>(*req.minFresh) : 0;
    if (in.lifetime > in.age + minFresh) return Usability::Fresh;
    if (in.lifetime > in.age) return Usability::MustValidate;  // fresh, but not by min-fresh
    // Stale. must-revalidate / proxy-revalidate / s-maxage forbid serving it (RFC 9111 5.2.2).
    if (stored.mustRevalidate || stored.proxyRevalidate || stored.sMaxAge) return Usability::MustValidate;
    const Seconds staleness = in.age - in.lifetime;
    if (req.maxStaleAny) return Usability::StaleAllowed;
    if (req.maxStale && staleness <= static_cast<Seconds>(*req.maxStale)) return Usability::StaleAllowed;
    return Usability::MustValidate;
}

bool staleIfErrorAllows(const ResponseDirectives& stored, Seconds lifetime, Seconds age) {
    if (!stored.staleIfError || stored.mustRevalidate || stored.proxyRevalidate || stored.noCache)
        return false;
    return age - lifetime <= static_cast<Seconds>(*stored.staleIfError);
}

bool staleWhileRevalidateAllows(const ResponseDirectives& stored, Seconds lifetime, Seconds age) {
    if (!stored.staleWhileRevalidate || stored.mustRevalidate || stored.proxyRevalidate ||
        stored.noCache)
        return false;
    return age >= lifetime && age - lifetime <= static_cast<Seconds>(*stored.staleWhileRevalidate);
}

}  // namespace proxy::cache
