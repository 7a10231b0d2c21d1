// libFuzzer target for parseResponseHead: no crash or UB, stable verdicts as bytes arrive, and
// parse(write(parse(x))) keeps status and framing. The first byte picks the request method.
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const Method method = (data[0] & 1) ? Method::Head : Method::Get;
    const std::span<const char> input(reinterpret_cast<const char*>(data) + 1, size - 1);
    H1Limits limits;
    limits.maxRequestLine = 512;
    limits.maxHeaderBytes = 2048;
    limits.maxHeaders = 16;

    ResponseHead head;
    const auto full = parseResponseHead(input, limits, method, head);
    check(full.consumed <= input.size());
    if (full.status == ParseStatus::Error) check(full.error.status == 502);
    if (full.status == ParseStatus::Complete) {
        check(head.status >= 100 && head.status <= 599);
        check(head.framing != BodyFraming::UntilClose || !head.keepAlive);
    }

    for (const std::size_t n : {input.size() / 2, full.consumed}) {
        const std::vector<char> prefix(input.begin(), input.begin() + static_cast<long>(n));
        ResponseHead h;
        const auto r = parseResponseHead(prefix, limits, method, h);
        check(r.status == ParseStatus::NeedMore ||
              (r.status == full.status && r.consumed == full.consumed &&
               r.error.offset == full.error.offset));
    }

    if (full.status == ParseStatus::Complete && head.version == Version::Http11) {
        std::string wire;
        writeResponseHead(head, wire);
        ResponseHead again;
        const auto r = parseResponseHead(wire, H1Limits{}, method, again);
        check(r.status == ParseStatus::Complete && r.consumed == wire.size());
        check(again.status == head.status && again.framing == head.framing);
        check(again.contentLength == head.contentLength && again.keepAlive == head.keepAlive);
    }
    return 0;
}
