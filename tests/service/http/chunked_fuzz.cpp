// libFuzzer target for ChunkedDecoder. Decodes the input whole, byte by byte, and split at
// pseudo-random points (seeded by the input), and aborts unless all three agree on the verdict,
// the body, the bytes consumed and the error position.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "http/h1_parser.h"

using namespace proxy::http;

namespace {

struct Run {
    ParseStatus status = ParseStatus::NeedMore;
    std::string body;
    std::size_t consumed = 0;
    std::size_t errorAt = 0;
};

void check(bool ok) {
    if (!ok) std::abort();
}

// step(limit) returns the next visible end after `limit`.
template <class NextCut>
Run decodeAll(std::span<const char> in, std::size_t maxTrailer, NextCut nextCut) {
    Run run;
    ChunkedDecoder d(maxTrailer);
    std::size_t pos = 0;
    std::size_t limit = nextCut(0);
    while (true) {
        const std::vector<char> visible(in.begin() + static_cast<long>(pos),
                                        in.begin() + static_cast<long>(limit));
        const auto s = d.decode(visible);
        check(s.consumed <= visible.size());
        if (!s.data.empty()) {
            check(s.data.data() >= visible.data() &&
                  s.data.data() + s.data.size() <= visible.data() + visible.size());
            run.body.append(s.data);
        }
        if (s.status == ParseStatus::Error) {
            run.status = ParseStatus::Error;
            run.errorAt = pos + s.error.offset;
            run.consumed = pos + s.consumed;
            return run;
        }
        pos += s.consumed;
        if (s.status == ParseStatus::Complete) {
            run.status = ParseStatus::Complete;
            run.consumed = pos;
            return run;
        }
        if (pos == limit) {
            if (limit == in.size()) break;
            limit = nextCut(limit);
        } else {
            check(!s.data.empty());  // stopping early is only allowed right after data
        }
    }
    run.consumed = pos;
    return run;
}

bool same(const Run& a, const Run& b) {
    return a.status == b.status && a.body == b.body && a.consumed == b.consumed &&
           (a.status != ParseStatus::Error || a.errorAt == b.errorAt);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::size_t maxTrailer = 4 + data[0] % 64;
    std::uint32_t seed = data[1] * 2654435761u + 1;
    const std::span<const char> in(reinterpret_cast<const char*>(data) + 2, size - 2);
    const std::size_t n = in.size();

    const Run whole = decodeAll(in, maxTrailer, [&](std::size_t) { return n; });
    const Run bytes = decodeAll(in, maxTrailer, [&](std::size_t l) { return l < n ? l + 1 : n; });
    const Run random = decodeAll(in, maxTrailer, [&](std::size_t l) {
        seed = seed * 1103515245u + 12345u;
        return std::min(n, l + 1 + (seed >> 16) % 9);
    });
    check(same(whole, bytes));
    check(same(whole, random));
    return 0;
}
