#include "app/service_control.h"

namespace proxy::console {

ServiceControl::ServiceControl(QObject* parent) : QObject(parent) {
#ifdef _WIN32
    program_ = QStringLiteral("net");
#else
    program_ = QStringLiteral("systemctl");
#endif
    deadline_.setSingleShot(true);
    connect(&deadline_, &QTimer::timeout, this, [this] {
        if (!process_) return;
        process_->kill();
        done(false, tr("%1 did not finish within %2 s").arg(program_).arg(kTimeoutMs / 1000));
    });
}

QString ServiceControl::actionName(Action action) {
    switch (action) {
        case Action::Start:
            return QStringLiteral("start");
        case Action::Stop:
            return QStringLiteral("stop");
        case Action::Restart:
            return QStringLiteral("restart");
    }
    return {};
}

std::vector<QStringList> ServiceControl::commands(Action action) const {
#ifdef _WIN32
    if (action == Action::Restart)
        return {{QStringLiteral("stop"), name_}, {QStringLiteral("start"), name_}};
    return {{actionName(action), name_}};
#else
    return {{QStringLiteral("--no-ask-password"), actionName(action), name_}};
#endif
}

void ServiceControl::run(Action action) {
    if (busy() || name_.trimmed().isEmpty()) {
        const QString why =
            busy() ? tr("another service action is still running") : tr("no service name is set");
        QMetaObject::invokeMethod(
            this, [this, why] { emit finished(false, why); }, Qt::QueuedConnection);
        return;
    }
    action_ = action;
    steps_ = commands(action);
    deadline_.start(kTimeoutMs);
    next();
}

void ServiceControl::next() {
    if (steps_.empty()) {
        done(true, tr("%1 %2: done").arg(actionName(action_), name_));
        return;
    }
    const QStringList args = steps_.front();
    steps_.erase(steps_.begin());
    process_ = new QProcess(this);
    QProcess* process = process_;
    connect(process, &QProcess::errorOccurred, this, [this, process](QProcess::ProcessError error) {
        if (process != process_ || error != QProcess::FailedToStart) return;
        done(false, tr("cannot run %1: %2").arg(program_, process->errorString()));
    });
    connect(process, &QProcess::finished, this,
            [this, process, args](int code, QProcess::ExitStatus status) {
                if (process != process_) return;
                const QString output = QString::fromLocal8Bit(process->readAllStandardError() +
                                                              process->readAllStandardOutput())
                                           .trimmed();
                if (status == QProcess::NormalExit && code == 0) {
                    process_->deleteLater();
                    process_ = nullptr;
                    next();
                    return;
                }
                const QString command = program_ + QLatin1Char(' ') + args.join(QLatin1Char(' '));
                QString message = tr("%1 failed (exit status %2)").arg(command).arg(code);
                if (!output.isEmpty()) message += QStringLiteral(": ") + output;
                const QString lower = output.toLower();
                if (lower.contains(QLatin1String("access denied")) ||
                    lower.contains(QLatin1String("access is denied")) ||
                    lower.contains(QLatin1String("authentication is required")) ||
                    lower.contains(QLatin1String("not permitted")) ||
                    lower.contains(QLatin1String("system error 5")))
                    message += tr("\n\nThe console lacks the rights to manage the service. ")
#ifdef _WIN32
                               + tr("Run it as an administrator, or use the Services console.");
#else
                       + tr("Run it as root, add a polkit rule, or use: sudo systemctl %1 %2").arg(actionName(action_), name_);
#endif
                done(false, message);
            });
    process->start(program_, args);
}

void ServiceControl::done(bool ok, const QString& message) {
    deadline_.stop();
    steps_.clear();
    if (process_) {
        process_->disconnect(this);
        process_->deleteLater();
        process_ = nullptr;
    }
    emit finished(ok, message);
}

}  // namespace proxy::console
