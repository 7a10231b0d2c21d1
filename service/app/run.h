#pragma once
// Runs the service with the platform's host: the SCM dispatcher on Windows (or the foreground with
// --console), the signal loop on Linux (SIGTERM/SIGINT stop, SIGHUP reloads, sd_notify when
// started by systemd).

#include <string>

#include "app/options.h"

namespace proxy::app {

int run(const Options& options);
std::string versionText();  // version and compiled-in features, one per line

}  // namespace proxy::app
