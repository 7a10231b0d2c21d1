// libFuzzer target for the compression rules' parsers: Accept-Encoding and Content-Type matching
// over arbitrary bytes. Checks the invariants too: weights stay within 0..1000, and parsing the
// same bytes twice as two fields gives the same choice as once (first mention wins).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "compression/accept_encoding.h"
#include "compression/media_type.h"

using namespace proxy::compression;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    AcceptEncoding once;
    parseAcceptEncoding(input, once);
    for (Coding c : {Coding::Identity, Coding::Gzip, Coding::Deflate}) {
        const int w = once.weight(c);
        if (w < 0 || w > 1000) std::abort();
    }
    if (once.elements + once.malformed > size + 1) std::abort();
    AcceptEncoding twice = once;
    parseAcceptEncoding(input, twice);
    const Coding offered[] = {Coding::Gzip, Coding::Deflate};
    if (chooseCoding(once, offered) != chooseCoding(twice, offered)) std::abort();
    static const std::vector<std::string> patterns{"text/*", "application/json", "*/*"};
    (void)mediaTypeMatches(input, patterns);
    return 0;
}
