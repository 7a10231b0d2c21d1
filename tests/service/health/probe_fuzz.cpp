// libFuzzer target for the health probe's verdict (health/probe.cpp). The first byte picks the
// check (method, expected body); the rest is the server's answer. Aborts unless:
//  - a verdict decided on a prefix (the server still open) holds for the whole answer, and
//  - the whole answer is always decided once the server has closed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "health/probe.h"

using namespace proxy;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    config::HealthCheck hc;
    static const char* const kMethods[] = {"GET", "HEAD", "OPTIONS", "POST"};
    hc.method = kMethods[data[0] & 3];
    hc.expectBody = (data[0] & 4) ? "ok" : "";
    if (data[0] & 8) {
        hc.expectStatusMin = 200;
        hc.expectStatusMax = 204;
    }
    const std::span<const char> answer(reinterpret_cast<const char*>(data + 1), size - 1);
    const health::ProbeVerdict whole = health::judgeProbe(answer, false, hc);
    const health::ProbeVerdict closed = health::judgeProbe(answer, true, hc);
    check(closed.decided);
    if (whole.decided) check(closed.ok == whole.ok);
    // A cut chosen by the input itself.
    const std::size_t cut =
        answer.empty() ? 0 : (static_cast<std::size_t>(data[0]) * 131) % answer.size();
    const health::ProbeVerdict prefix = health::judgeProbe(answer.first(cut), false, hc);
    if (prefix.decided) {
        check(whole.decided);
        check(whole.ok == prefix.ok);
    }
    return 0;
}
