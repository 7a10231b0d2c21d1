#include "app/run.h"

#include <asio/detail/config.hpp>  // which I/O backend asio selected, for versionText()

#include <cstdio>
#include <optional>
#include <string>

#include "app/features.h"
#include "app/service_runtime.h"
#include "build_info.h"
#include "platform/hosted_service.h"

#if defined(_WIN32)
#include "platform/event_log.h"
#include "platform/windows_service.h"
#else
#include "platform/posix_signal_host.h"
#include "platform/sd_notify.h"
#endif

namespace proxy::app {

namespace {

// The platform hosts know HostedService, not ServiceRuntime (platform/ does not depend on app/).
class RuntimeAdapter final : public platform::HostedService {
public:
    explicit RuntimeAdapter(ServiceRuntime& runtime) : runtime_(runtime) {}
    std::optional<std::string> start() override { return runtime_.start(); }
    void requestStop() override { runtime_.requestStop(); }
    void requestReload() override { runtime_.requestReload(); }
    int wait() override { return runtime_.wait(); }

private:
    ServiceRuntime& runtime_;  // not owned
};

std::string platformText() {
    std::string text;
#if defined(_WIN32)
    text = "windows";
#elif defined(__linux__)
    text = "linux";
#else
    text = "posix";
#endif
#if defined(_M_X64) || defined(__x86_64__)
    text += " x64";
#elif defined(_M_ARM64) || defined(__aarch64__)
    text += " arm64";
#endif
#if defined(_MSC_VER)
    text += " (msvc " + std::to_string(_MSC_VER) + ")";
#elif defined(__MINGW64__)
    text +=
        " (mingw-w64 gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + ")";
#elif defined(__clang__)
    text += " (clang " + std::to_string(__clang_major__) + ")";
#elif defined(__GNUC__)
    text += " (gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + ")";
#endif
    return text;
}

const char* ioText() {
#if defined(ASIO_HAS_IOCP)
    return "iocp";
#elif defined(ASIO_HAS_IO_URING_AS_DEFAULT)
    return "io_uring";
#elif defined(ASIO_HAS_EPOLL)
    return "epoll";
#elif defined(ASIO_HAS_KQUEUE)
    return "kqueue";
#else
    return "select";
#endif
}

#if defined(_WIN32)

int runWindows(const Options& options) {
    using namespace proxy::platform;
    if (options.mode == Options::Mode::Uninstall)
        return uninstallService(widen(options.serviceName));
    if (options.mode == Options::Mode::Install) {
        ServiceInstallRequest request;
        request.name = widen(options.serviceName);
        request.exePath = currentExePath();
        request.description =
            L"HTTP/1.1 reverse proxy: listeners, routes and load-balanced upstreams from " +
            widen(options.configPath);
        // The SCM starts the service with this command line and nothing else, so the config
        // path is made absolute now.
        request.arguments = L"--config \"" + absolutePath(widen(options.configPath)) + L"\"";
        if (options.serviceName != "proxy")
            request.arguments += L" --service-name \"" + request.name + L"\"";
        return installService(request);
    }

    ServiceRuntime runtime(options);
    RuntimeAdapter adapter(runtime);
    EventLog events;
    ServiceHost host(widen(options.serviceName), adapter, events, "proxy-service " PROXY_VERSION,
                     options.configPath);
    if (!options.console) {
        switch (host.runDispatcher()) {
            case ServiceHost::Dispatch::Ran:
                return host.exitCode();
            case ServiceHost::Dispatch::Failed:
                return kExitHostFailed;
            case ServiceHost::Dispatch::NotStartedByScm:
                break;  // a console or a script
        }
    }
    events.setEcho(stderr);
    return host.runConsole();
}

#else

int runPosix(const Options& options) {
    using namespace proxy::platform;
    if (options.mode == Options::Mode::Install || options.mode == Options::Mode::Uninstall) {
        std::fprintf(stderr,
                     "proxy-service: --install and --uninstall are for Windows; on Linux install "
                     "the systemd unit (service/platform/linux/proxy.service)\n");
        return kExitUsage;
    }
    // Before anything can start a thread: every thread inherits this mask.
    SignalHost::blockHostSignals();
    SdNotifier notifier = SdNotifier::fromEnvironment();
    ServiceRuntime runtime(options);
    RuntimeAdapter adapter(runtime);
    SignalHost host(adapter, notifier);
    return host.run();
}

#endif

}  // namespace

std::string versionText() {
    std::string text = "proxy-service " PROXY_VERSION "\n";
    text += "platform: " + platformText() + "\n";
    for (const auto& [feature, state] : featureList()) text += feature + ": " + state + "\n";
    text += std::string("io: ") + ioText() + "\n";
    return text;
}

int run(const Options& options) {
#if defined(_WIN32)
    return runWindows(options);
#else
    return runPosix(options);
#endif
}

}  // namespace proxy::app
