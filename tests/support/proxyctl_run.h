#pragma once
// Runs the proxyctl built beside the suites (PROXYCTL_EXE) against a service's control endpoint:
// what the integration suites use to read and drive the real proxy-service.

#include <QByteArray>
#include <QStringList>
#include <nlohmann/json.hpp>
#include <string>

namespace proxy::test {

struct ProxyctlResult {
    bool finished = false;  // false: still running at the timeout (it was killed)
    int exitCode = -1;      // its exit code; -1 when it did not finish, -2 when it crashed
    QByteArray out;         // standard output
    QByteArray err;         // standard error
    // Standard output as JSON; discarded (is_discarded()) when it is not JSON.
    nlohmann::json json() const;
};

// `proxyctl --endpoint ENDPOINT ARGS...`
ProxyctlResult runProxyctl(const std::string& endpoint, const QStringList& args,
                           int timeoutMs = 15000);
// `proxyctl --endpoint ENDPOINT --json ARGS...` as JSON: discarded when it did not finish or did
// not print JSON.
nlohmann::json proxyctlJson(const std::string& endpoint, const QStringList& args,
                            int timeoutMs = 15000);

}  // namespace proxy::test
