#include "proxy_process.h"

#include <QElapsedTimer>

#include <signal.h>

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QThread>

#include "raw_client.h"

namespace proxy::test {

ProxyProcess::ProxyProcess() = default;

ProxyProcess::~ProxyProcess() {
    if (running()) {
        process_->kill();
        process_->waitForFinished(5000);
    }
}

bool ProxyProcess::writeConfig(const std::string& configJson) {
    // Without a "logging" section the service would use the platform's database path; keep each
    // test's access log in its own folder instead (the access log path is exercised either way).
    std::string text = configJson;
    QJsonParseError parseError{};
    QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(configJson), &parseError);
    if (parseError.error == QJsonParseError::NoError && doc.isObject() &&
        !doc.object().contains(QStringLiteral("logging"))) {
        QJsonObject root = doc.object();
        root.insert(QStringLiteral("logging"),
                    QJsonObject{{QStringLiteral("database"), dir_.filePath(QStringLiteral("logs.db"))}});
        text = QJsonDocument(root).toJson().toStdString();
    }
    QFile f(configPath());
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) return false;
    return f.write(text.data(), static_cast<qint64>(text.size())) == static_cast<qint64>(text.size());
}

bool ProxyProcess::start(const std::string& configJson, int port) {
    if (!writeConfig(configJson)) return false;
    process_ = std::make_unique<QProcess>();
    process_->setProcessChannelMode(QProcess::MergedChannels);
    process_->start(QStringLiteral(PROXY_SERVICE_EXE), {QStringLiteral("--config"), configPath()});
    if (!process_->waitForStarted(5000)) return false;
    // Up to 30 s: a config with WAF rules compiles the OWASP CRS before it listens (slow under ASan).
    RawClient probe;
    QElapsedTimer waited;
    waited.start();
    while (waited.elapsed() < 30000) {
        if (!running()) return false;
        if (probe.connect(port, std::chrono::milliseconds(50))) return true;
        QThread::msleep(20);
    }
    return false;
}

void ProxyProcess::signal(int sig) {
    if (running()) ::kill(static_cast<pid_t>(process_->processId()), sig);
}

int ProxyProcess::stop(int timeoutMs) {
    if (!process_) return -1;
    if (running()) {
        signal(SIGTERM);
        if (!process_->waitForFinished(timeoutMs)) {
            process_->kill();
            process_->waitForFinished(5000);
            return -1;
        }
    }
    output_ += QString::fromUtf8(process_->readAll());
    return process_->exitStatus() == QProcess::NormalExit ? process_->exitCode() : -1;
}

QString ProxyProcess::output() {
    if (process_) {
        if (running()) process_->waitForReadyRead(100);  // no event loop here: pull what is piped
        output_ += QString::fromUtf8(process_->readAll());
    }
    return output_;
}

}  // namespace proxy::test
