#pragma once
// Starting, stopping and restarting the service from the console. On Linux: systemctl
// (`--no-ask-password`, so a missing right is an answer rather than a hidden password prompt), run
// asynchronously with a deadline. On Windows: the Service Control Manager's API directly
// (OpenService, StartService / ControlService(STOP), then QueryServiceStatusEx until the service
// got there), on a worker thread so the UI never waits; the service name is configurable.
// Either way finished() reports one sentence, and a missing right is said plainly.

#include <QObject>
#include <QProcess>
#include <QStringList>
#include <QTimer>
#include <atomic>
#include <thread>
#include <vector>

namespace proxy::console {

class ServiceControl : public QObject {
    Q_OBJECT

  public:
    enum class Action { Start, Stop, Restart };
    static constexpr int kTimeoutMs = 90000;

    explicit ServiceControl(QObject* parent = nullptr);
    ~ServiceControl() override;  // Windows: cancels and joins a running action (bounded)

    void setServiceName(const QString& name) { name_ = name; }
    QString serviceName() const { return name_; }
    static QString defaultServiceName() { return QStringLiteral("proxy"); }
    // Linux tests: run this program instead of systemctl.
    void setProgram(const QString& program) { program_ = program; }
    QString program() const { return program_; }

    bool busy() const { return process_ != nullptr || scmBusy_; }
    // Linux: the systemctl arguments an action runs (empty on Windows, where the SCM API is used).
    std::vector<QStringList> commands(Action action) const;
    // Starts the action; finished() follows exactly once. Refused (finished(false) queued) while
    // another action runs or when the name is empty.
    void run(Action action);

    static QString actionName(Action action);

  signals:
    void finished(bool ok, const QString& message);

  private:
    void next();
    void done(bool ok, const QString& message);

    QString name_ = defaultServiceName();
    QString program_;
    QProcess* process_ = nullptr;  // owned (child); the running step
    std::vector<QStringList> steps_;
    Action action_ = Action::Start;
    QTimer deadline_;
    // Windows: the SCM worker thread, its cancel flag, and whether an action is running.
    std::thread scmWorker_;
    std::atomic<bool> scmCancel_{false};
    bool scmBusy_ = false;
};

}  // namespace proxy::console
