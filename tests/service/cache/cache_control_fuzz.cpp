// libFuzzer target: the Cache-Control parsers, the HTTP-date parser and the key normalisation
// over arbitrary bytes. Checks invariants, not just "no crash".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cache/cache_control.h"
#include "cache/cache_key.h"
#include "cache/freshness.h"

using namespace proxy::cache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    ResponseDirectives r;
    parseResponseCacheControl(in, r);
    if (r.malformed && r.malformedAt > in.size()) std::abort();
    if (r.maxAge && *r.maxAge > kDeltaSecondsMax) std::abort();
    RequestDirectives q;
    parseRequestCacheControl(in, q);
    if (q.malformed && q.malformedAt > in.size()) std::abort();
    if (const auto t = parseHttpDate(in)) {
        char text[30];
        formatHttpDate(*t, text);
        // Anything that parses formats back to an IMF-fixdate that parses to the same time.
        if (parseHttpDate(text) != t) std::abort();
    }
    // Normalisation is idempotent: a normalised component normalises to itself.
    std::string once, twice;
    normalizeComponent(in, once);
    normalizeComponent(once, twice);
    if (once != twice) std::abort();
    return 0;
}
