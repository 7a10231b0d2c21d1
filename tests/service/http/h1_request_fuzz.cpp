// libFuzzer target for parseRequestHead. Besides "no crash, no UB", it checks the properties the
// connection code relies on: a verdict never changes when more bytes arrive, consumed stays inside
// the input, and an HTTP/1.1 head survives parse(write(parse(x))) with the same derived fields.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "http/h1_parser.h"
#include "http/h1_writer.h"

using namespace proxy::http;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool sameResult(const ParseResult& a, const ParseResult& b) {
    return a.status == b.status && a.consumed == b.consumed && a.error.status == b.error.status &&
           a.error.offset == b.error.offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const char> input(reinterpret_cast<const char*>(data), size);
    H1Limits limits;
    limits.maxRequestLine = 512;
    limits.maxHeaderBytes = 2048;
    limits.maxHeaders = 16;

    RequestHead head;
    const auto full = parseRequestHead(input, limits, head);
    check(full.consumed <= size);
    if (full.status == ParseStatus::Complete) check(full.consumed > 0);
    if (full.status == ParseStatus::Error) {
        check(full.error.offset <= size);
        check(!full.error.reason.empty());
    }

    // Shorter prefixes (own copies, so over-reads are caught) are NeedMore or the same verdict.
    for (const std::size_t n : {size / 2, size > 0 ? size - 1 : 0, full.consumed}) {
        if (n > size) continue;
        const std::vector<char> prefix(input.begin(), input.begin() + static_cast<long>(n));
        RequestHead h;
        const auto r = parseRequestHead(prefix, limits, h);
        check(r.status == ParseStatus::NeedMore || sameResult(r, full));
    }

    if (full.status == ParseStatus::Complete && head.version == Version::Http11) {
        std::string wire;
        writeRequestHead(head, wire);
        RequestHead again;
        H1Limits
            roomy;  // the rewritten head may be longer (no leading CRLFs but never longer lines)
        const auto r = parseRequestHead(wire, roomy, again);
        check(r.status == ParseStatus::Complete && r.consumed == wire.size());
        check(again.method == head.method && again.path == head.path && again.query == head.query);
        check(again.host == head.host && again.framing == head.framing);
        check(again.contentLength == head.contentLength && again.keepAlive == head.keepAlive);
        check(again.expectContinue == head.expectContinue && again.upgrade == head.upgrade);
        check(again.headers.size() == head.headers.size());
    }
    return 0;
}
