#pragma once
// Starting, stopping and restarting the service from the console: systemctl on Linux
// (`--no-ask-password`, so a missing right is an answer rather than a hidden password prompt),
// `net start|stop` on Windows (which, unlike sc.exe, waits until the service got there). Runs the
// tool asynchronously with a deadline and reports one sentence; a missing right is said plainly.

#include <QObject>
#include <QProcess>
#include <QStringList>
#include <QTimer>
#include <vector>

namespace proxy::console {

class ServiceControl : public QObject {
    Q_OBJECT

  public:
    enum class Action { Start, Stop, Restart };
    static constexpr int kTimeoutMs = 90000;

    explicit ServiceControl(QObject* parent = nullptr);

    void setServiceName(const QString& name) { name_ = name; }
    QString serviceName() const { return name_; }
    static QString defaultServiceName() { return QStringLiteral("proxy"); }
    // Tests: run this program instead of systemctl / net.
    void setProgram(const QString& program) { program_ = program; }
    QString program() const { return program_; }

    bool busy() const { return process_ != nullptr; }
    // The commands an action runs (Windows restart is stop, then start).
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
};

}  // namespace proxy::console
