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
#include "core/worker.h"
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
    // mimalloc gives a free span back to the OS only after a delay (25 ms), checked when the
    // thread next allocates in that segment: after a burst of clients goes idle nothing comes, and
    // the burst's pages stayed resident (10,000 idle connections: 99 MiB instead of about 70). So
    // while the sweep trims many idle sessions at once, free spans go back at once. A zero delay
    // for every free instead would cost CPU on each connection (docs/performance.md).
    static const long decommitDelay = mi_option_get(mi_option_decommit_delay);  // 25, or the environment's
    proxy::core::Worker::setFreeMemoryReleaser(
        [] { mi_option_set(mi_option_decommit_delay, 0); },
        [] {
            mi_collect(true);
            mi_option_set(mi_option_decommit_delay, decommitDelay);
        });
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
