// proxy-service entry point: parse options, then check a config, print the version, or run.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "app/features.h"
#include "app/options.h"
#include "app/run.h"
#include "build_info.h"
#include "config/validator.h"
#if PROXY_WITH_MIMALLOC
#include <mimalloc.h>
#endif

namespace {

int checkConfig(const std::string& path) {
    const auto result = proxy::config::loadConfigFile(path);
    for (const auto& d : result.diagnostics) std::fprintf(stderr, "%s\n", d.toString().c_str());
    if (!result.ok()) {
        std::fprintf(stderr, "%s: configuration is invalid\n", path.c_str());
        return 1;
    }
    std::printf("%s: configuration is valid\n", path.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
#if PROXY_WITH_MIMALLOC
    const int v = mi_version();  // e.g. 209 = 2.0.9
    proxy::app::setAllocatorDescription("mimalloc " + std::to_string(v / 100) + "." +
                                        std::to_string(v / 10 % 10) + "." + std::to_string(v % 10));
#endif
    std::vector<std::string_view> args(argv + 1, argv + argc);
    auto parsed = proxy::app::parseOptions(args);
    if (!parsed.options) {
        std::fprintf(stderr, "proxy-service: %s\n", parsed.error.c_str());
        return 2;
    }
    auto options = *parsed.options;
    if (options.configPath.empty())
        options.configPath = proxy::config::PlatformDefaults::current().configPath;

    using Mode = proxy::app::Options::Mode;
    switch (options.mode) {
        case Mode::Help: std::fputs(proxy::app::usageText().c_str(), stdout); return 0;
        case Mode::Version: std::fputs(proxy::app::versionText().c_str(), stdout); return 0;
        case Mode::Check: return checkConfig(options.configPath);
        default: return proxy::app::run(options);
    }
}
