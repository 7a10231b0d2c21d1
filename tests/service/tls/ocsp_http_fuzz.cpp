// libFuzzer target for the OCSP fetcher's HTTP side (tls/ocsp_http.cpp): the verdict on a
// responder's answer, and the responder URL parser. The first byte picks what is fuzzed. Aborts
// unless:
//  - a verdict reached on a prefix (responder still open) holds for the whole answer (Done with
//    the same body, or Error), and the whole answer is always decided once the responder closed;
//  - a Done body is non-empty and within kMaxOcspResponseBody;
//  - a URL that parses has a host, a path starting with '/', and builds a request that names it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "tls/ocsp_http.h"

using namespace proxy::tls;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (data[0] & 1) {
        const ResponderUrl url = parseResponderUrl(text);
        if (url.ok) {
            check(!url.host.empty() && !url.path.empty() && url.path.front() == '/');
            check(url.port != 0);
            static const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x00};
            const std::string request = ocspHttpRequest(url, der, (data[0] & 2) != 0);
            check(request.find("Host: " + url.authority() + "\r\n") != std::string::npos);
        } else {
            check(!url.error.empty());
        }
        return 0;
    }
    const std::span<const char> bytes(text.data(), text.size());
    const OcspHttpAnswer whole = judgeOcspAnswer(bytes, true);
    check(whole.state != OcspHttpAnswer::State::NeedMore);
    if (whole.state == OcspHttpAnswer::State::Done)
        check(!whole.body.empty() && whole.body.size() <= kMaxOcspResponseBody);
    else
        check(!whole.error.empty());
    // A prefix cut where the second byte says, judged with the responder still open.
    const std::size_t cut = size > 2 ? data[1] * text.size() / 256 : text.size();
    const OcspHttpAnswer early = judgeOcspAnswer(bytes.first(cut), false);
    if (early.state == OcspHttpAnswer::State::Done) {
        const OcspHttpAnswer open = judgeOcspAnswer(bytes, false);
        check(open.state == OcspHttpAnswer::State::Done && open.body == early.body);
    }
    if (early.state == OcspHttpAnswer::State::Error)
        check(judgeOcspAnswer(bytes, false).state == OcspHttpAnswer::State::Error);
    return 0;
}
