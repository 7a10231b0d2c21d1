#include "app/options.h"

namespace proxy::app {

OptionsResult parseOptions(const std::vector<std::string_view>& args) {
    Options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&](std::string_view flag) -> std::optional<std::string> {
            if (i + 1 >= args.size() || args[i + 1].empty()) return std::nullopt;
            (void)flag;
            return std::string(args[++i]);
        };
        if (a == "--check" || a == "-t") {
            o.mode = Options::Mode::Check;
            // `--check FILE` is the documented form; `--check` alone checks --config or the default.
            if (i + 1 < args.size() && !args[i + 1].starts_with("-")) o.configPath = args[++i];
        } else if (a == "--config" || a == "-c") {
            auto v = value(a);
            if (!v) return {std::nullopt, "--config needs a file path"};
            o.configPath = *v;
        } else if (a == "--console") {
            o.console = true;
        } else if (a == "--service-name") {
            auto v = value(a);
            if (!v) return {std::nullopt, "--service-name needs a name"};
            o.serviceName = *v;
        } else if (a == "--install") {
            o.mode = Options::Mode::Install;
        } else if (a == "--uninstall") {
            o.mode = Options::Mode::Uninstall;
        } else if (a == "--version" || a == "-v") {
            o.mode = Options::Mode::Version;
        } else if (a == "--help" || a == "-h" || a == "/?") {
            o.mode = Options::Mode::Help;
        } else {
            return {std::nullopt, "unknown option '" + std::string(a) + "' (try --help)"};
        }
    }
    return {o, {}};
}

std::string usageText() {
    return "usage: proxy-service [--config FILE] [--console]\n"
           "       proxy-service --check [FILE]     validate a config file and exit (0 valid, 1 invalid)\n"
           "       proxy-service --version          print the version and compiled-in features\n"
           "       proxy-service --install | --uninstall   (Windows, for developers; the MSI is the installer)\n"
           "options:\n"
           "  -c, --config FILE      config file (default: the platform's path)\n"
           "      --console          Windows: run in the foreground instead of under the SCM\n"
           "      --service-name N   Windows service name (default: proxy)\n";
}

}  // namespace proxy::app
