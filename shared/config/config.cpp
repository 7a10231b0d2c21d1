#include "config/config.h"

#include <cstdlib>

namespace proxy::config {

std::string HostPort::toString() const {
    if (kind == Kind::IPv6) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

std::vector<std::string> Compression::defaultTypes() {
    // Text and the structured-text types that compress well; images, audio, video and archives
    // are compressed already.
    return {"text/*",
            "application/json",
            "application/javascript",
            "application/xml",
            "application/xhtml+xml",
            "application/rss+xml",
            "application/atom+xml",
            "application/ld+json",
            "application/manifest+json",
            "application/wasm",
            "image/svg+xml"};
}

const Upstream* Config::findUpstream(std::string_view name) const {
    for (const Upstream& upstream : upstreams)
        if (upstream.name == name) return &upstream;
    return nullptr;
}

const Listener* Config::findListener(std::string_view name) const {
    for (const Listener& listener : listeners)
        if (listener.name == name) return &listener;
    return nullptr;
}

PlatformDefaults PlatformDefaults::current() {
    PlatformDefaults out;
#ifdef _WIN32
    // %ProgramData% is machine-wide and writable by the LocalSystem service account.
    const char* programData = std::getenv("ProgramData");
    std::string base = (programData && *programData) ? programData : "C:\\ProgramData";
    if (base.back() == '\\' || base.back() == '/') base.pop_back();
    out.configPath = base + "\\proxy\\config.json";
    out.controlEndpoint = "\\\\.\\pipe\\proxy-control";
    out.logDatabase = base + "\\proxy\\logs.db";
#else
    out.configPath = "/etc/proxy/config.json";
    out.controlEndpoint = "/run/proxy/control.sock";
    out.logDatabase = "/var/lib/proxy/logs.db";
#endif
    return out;
}

}  // namespace proxy::config
