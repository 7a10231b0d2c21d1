#pragma once
// Command-line options of proxy-service. Pure parsing: no I/O, so it is unit-tested directly.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::app {

struct Options {
    enum class Mode { Run, Check, Version, Help, Install, Uninstall };
    Mode mode = Mode::Run;
    std::string configPath;    // empty: the platform default
    bool console = false;      // Windows: run in the foreground instead of as a service
    std::string serviceName = "proxy";
};

struct OptionsResult {
    std::optional<Options> options;
    std::string error;  // set when options is empty
};

OptionsResult parseOptions(const std::vector<std::string_view>& args);  // args exclude argv[0]
std::string usageText();

}  // namespace proxy::app
