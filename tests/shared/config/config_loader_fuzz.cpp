// libFuzzer target for loadConfig: any bytes must give diagnostics, never a crash or hang, and an
// accepted document must survive the toJson round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/serialize.h"
#include "config/validator.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace proxy::config;
    const LoadResult result =
        loadConfig(std::string_view(reinterpret_cast<const char*>(data), size));
    if (!result.ok() && result.diagnostics.empty()) std::abort();  // a refusal must say why
    if (!result.ok()) return 0;
    const LoadResult again = loadConfig(toJson(*result.config).dump());
    if (!again.ok() || !(*again.config == *result.config)) std::abort();
    return 0;
}
