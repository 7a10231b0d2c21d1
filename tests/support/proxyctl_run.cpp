#include "proxyctl_run.h"

#include <QProcess>
#include <QString>

namespace proxy::test {

nlohmann::json ProxyctlResult::json() const {
    return nlohmann::json::parse(out.begin(), out.end(), nullptr, false);
}

ProxyctlResult runProxyctl(const std::string& endpoint, const QStringList& args, int timeoutMs) {
    QProcess p;
    p.start(QStringLiteral(PROXYCTL_EXE),
            QStringList{QStringLiteral("--endpoint"), QString::fromStdString(endpoint)} + args);
    ProxyctlResult r;
    r.finished = p.waitForFinished(timeoutMs);
    if (!r.finished) {
        p.kill();
        p.waitForFinished();
    } else {
        r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2;
    }
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

nlohmann::json proxyctlJson(const std::string& endpoint, const QStringList& args, int timeoutMs) {
    const ProxyctlResult r = runProxyctl(endpoint, QStringList{QStringLiteral("--json")} + args,
                                         timeoutMs);
    return r.finished ? r.json() : nlohmann::json(nlohmann::json::value_t::discarded);
}

}  // namespace proxy::test
