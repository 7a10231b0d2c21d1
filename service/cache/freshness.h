#pragma once
// RFC 9111 freshness arithmetic, pure: times are whole seconds since the Unix epoch, so the tests
// reproduce the RFC's examples exactly.

#include <cstdint>
#include <optional>
#include <string_view>

#include "cache/cache_control.h"

namespace proxy::cache {

using Seconds = std::int64_t;  // seconds since 1970-01-01T00:00:00Z, or a duration

// HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms recipients
// must accept. nullopt for anything else (an invalid Expires then means "already expired").
std::optional<Seconds> parseHttpDate(std::string_view text);
// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (29 characters).
void formatHttpDate(Seconds t, char (&out)[30]);

// What the age calculation needs from a stored response (RFC 9111 4.2.3).
struct AgeInputs {
    Seconds requestTime = 0;   // when the request that got this response was sent
    Seconds responseTime = 0;  // when its head arrived
    std::optional<Seconds> date;  // the Date header; absent: responseTime is used
    Seconds ageValue = 0;         // the Age header (0 when absent or invalid)
};

// current_age, RFC 9111 4.2.3. Never negative.
Seconds currentAge(const AgeInputs& in, Seconds now);

// Status codes a cache may give heuristic freshness (RFC 9110 15.1, "heuristically cacheable").
bool heuristicallyCacheable(int status);

struct FreshnessInputs {
    int status = 200;
    const ResponseDirectives* directives = nullptr;  // not owned
    std::optional<Seconds> date;
    bool hasExpires = false;
    std::optional<Seconds> expires;  // hasExpires with nullopt: invalid (already expired)
    std::optional<Seconds> lastModified;
    Seconds responseTime = 0;
};

// Where a freshness lifetime came from.
enum class LifetimeSource : std::uint8_t { SMaxAge, MaxAge, Expires, Heuristic, None };

struct Lifetime {
    Seconds seconds = 0;
    LifetimeSource source = LifetimeSource::None;
};

// freshness_lifetime for a shared cache (RFC 9111 4.2.1): s-maxage, then max-age, then
// Expires - Date; else, for a heuristically cacheable status (or "public"), 10% of the time since
// Last-Modified, at most one day (4.2.2). None when nothing gives one.
Lifetime freshnessLifetime(const FreshnessInputs& in);

// What the request's own Cache-Control allows (RFC 9111 5.2.1), given the stored response's
// lifetime, current age and response directives.
enum class Usability : std::uint8_t {
    Fresh,           // serve
    StaleAllowed,    // stale, but the client's max-stale (or stale-while-revalidate) permits it
    MustValidate,    // go to the origin (conditionally, when there is a validator)
};
struct UseInputs {
    Seconds lifetime = 0;
    Seconds age = 0;
    const ResponseDirectives* stored = nullptr;  // not owned
    const RequestDirectives* request = nullptr;  // not owned; may be null
};
Usability usability(const UseInputs& in);

// True when a stale response may be served because the origin failed (stale-if-error, RFC 5861
// section 4): within stale-if-error seconds of expiring, and not must-revalidate/proxy-revalidate.
bool staleIfErrorAllows(const ResponseDirectives& stored, Seconds lifetime, Seconds age);
// True when a stale response may be served while it is revalidated (stale-while-revalidate).
bool staleWhileRevalidateAllows(const ResponseDirectives& stored, Seconds lifetime, Seconds age);

}  // namespace proxy::cache
