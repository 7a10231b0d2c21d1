#pragma once
// Runs the real proxy-service executable with a config written to a temporary folder, waits for
// its listener, and stops it with SIGTERM (checking it exits cleanly).

#include <QProcess>
#include <QString>
#include <QTemporaryDir>
#include <memory>
#include <string>

namespace proxy::test {

class ProxyProcess {
public:
    ProxyProcess();
    ~ProxyProcess();

    QString dir() const { return dir_.path(); }
    QString configPath() const { return dir_.filePath("config.json"); }
    // Writes the config (JSON text) and starts the service; waits until `port` accepts.
    bool start(const std::string& configJson, int port);
    // Rewrites the config file (for SIGHUP reloads).
    bool writeConfig(const std::string& configJson);
    void signal(int sig);
    // SIGTERM, then waits; returns the exit code (-1 if it had to be killed).
    int stop(int timeoutMs = 15000);
    bool running() const { return process_ && process_->state() != QProcess::NotRunning; }
    QString output();  // everything the service printed so far

private:
    QTemporaryDir dir_;
    std::unique_ptr<QProcess> process_;
    QString output_;
};

}  // namespace proxy::test
