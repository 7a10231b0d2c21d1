#include "app/service_control.h"

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <chrono>
#include <string>
#endif

namespace proxy::console {

#ifdef _WIN32
namespace {

// One SCM handle, closed on scope exit.
struct ScHandle {
    SC_HANDLE handle = nullptr;
    explicit ScHandle(SC_HANDLE h) : handle(h) {}
    ScHandle(const ScHandle&) = delete;
    ScHandle& operator=(const ScHandle&) = delete;
    ~ScHandle() {
        if (handle) CloseServiceHandle(handle);
    }
};

QString windowsError(DWORD code) {
    wchar_t* buffer = nullptr;
    FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM |
                       FORMAT_MESSAGE_IGNORE_INSERTS,
                   nullptr, code, 0, reinterpret_cast<LPWSTR>(&buffer), 0, nullptr);
    const QString text = buffer ? QString::fromWCharArray(buffer).trimmed() : QString();
    if (buffer) LocalFree(buffer);
    return QStringLiteral("%1 (error %2)").arg(text).arg(code);
}

struct ScmOutcome {
    bool ok = false;
    bool denied = false;  // ERROR_ACCESS_DENIED somewhere on the way
    QString message;
};

// Runs one action against the SCM and waits (polling QueryServiceStatusEx) until the service got
// there, `timeoutMs` passed or `cancel` was set. Runs on a worker thread: no Qt objects touched.
ScmOutcome scmAction(const std::wstring& name, ServiceControl::Action action, int timeoutMs,
                     const std::atomic<bool>& cancel) {
    ScmOutcome out;
    auto fail = [&](const QString& what, DWORD code) {
        out.denied = code == ERROR_ACCESS_DENIED;
        out.message = what + QStringLiteral(": ") + windowsError(code);
        return out;
    };
    ScHandle scm(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!scm.handle) return fail(QStringLiteral("cannot open the Service Control Manager"), GetLastError());
    ScHandle service(OpenServiceW(scm.handle, name.c_str(),
                                  SERVICE_START | SERVICE_STOP | SERVICE_QUERY_STATUS));
    if (!service.handle) {
        const DWORD e = GetLastError();
        if (e == ERROR_SERVICE_DOES_NOT_EXIST) {
            out.message = QStringLiteral("there is no service named '%1' (set its name under "
                                         "Service > Service name)")
                              .arg(QString::fromStdWString(name));
            return out;
        }
        return fail(QStringLiteral("cannot open the service"), e);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    // Polls until the service is in `target`; an error sentence otherwise.
    auto waitFor = [&](DWORD target) -> QString {
        for (;;) {
            SERVICE_STATUS_PROCESS status{};
            DWORD needed = 0;
            if (!QueryServiceStatusEx(service.handle, SC_STATUS_PROCESS_INFO,
                                      reinterpret_cast<LPBYTE>(&status), sizeof(status), &needed))
                return QStringLiteral("cannot query the service: ") + windowsError(GetLastError());
            if (status.dwCurrentState == target) return {};
            if (target == SERVICE_RUNNING && status.dwCurrentState == SERVICE_STOPPED)
                return QStringLiteral("the service stopped again while starting (exit code %1, "
                                      "service exit code %2); see its log")
                    .arg(status.dwWin32ExitCode)
                    .arg(status.dwServiceSpecificExitCode);
            if (cancel.load()) return QStringLiteral("cancelled");
            if (std::chrono::steady_clock::now() >= deadline)
                return QStringLiteral("the service did not get there within %1 s")
                    .arg(timeoutMs / 1000);
            Sleep(250);
        }
    };
    auto stop = [&]() -> QString {
        SERVICE_STATUS status{};
        if (!ControlService(service.handle, SERVICE_CONTROL_STOP, &status)) {
            const DWORD e = GetLastError();
            if (e == ERROR_SERVICE_NOT_ACTIVE) return {};  // already stopped
            out.denied = e == ERROR_ACCESS_DENIED;
            return QStringLiteral("stop: ") + windowsError(e);
        }
        return waitFor(SERVICE_STOPPED);
    };
    auto start = [&]() -> QString {
        if (!StartServiceW(service.handle, 0, nullptr)) {
            const DWORD e = GetLastError();
            if (e == ERROR_SERVICE_ALREADY_RUNNING) return {};
            out.denied = e == ERROR_ACCESS_DENIED;
            return QStringLiteral("start: ") + windowsError(e);
        }
        return waitFor(SERVICE_RUNNING);
    };
    QString error;
    switch (action) {
        case ServiceControl::Action::Start:
            error = start();
            break;
        case ServiceControl::Action::Stop:
            error = stop();
            break;
        case ServiceControl::Action::Restart:
            error = stop();
            if (error.isEmpty()) error = start();
            break;
    }
    out.ok = error.isEmpty();
    out.message = error;
    return out;
}

}  // namespace
#endif

ServiceControl::ServiceControl(QObject* parent) : QObject(parent) {
    program_ = QStringLiteral("systemctl");
    deadline_.setSingleShot(true);
    connect(&deadline_, &QTimer::timeout, this, [this] {
        if (!process_) return;
        process_->kill();
        done(false, tr("%1 did not finish within %2 s").arg(program_).arg(kTimeoutMs / 1000));
    });
}

ServiceControl::~ServiceControl() {
    // The worker polls this flag every 250 ms; a StartService/ControlService call already under
    // way returns on its own (the SCM bounds it), so this join is bounded.
    scmCancel_ = true;
    if (scmWorker_.joinable()) scmWorker_.join();
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
    (void)action;
    return {};
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
#ifdef _WIN32
    // The SCM's calls block (up to the service's wait hints), so they run on a worker; the
    // outcome comes back as a queued call, which Qt drops if this object is gone by then (the
    // destructor joins the worker first, so `this` is valid whenever the worker runs).
    if (scmWorker_.joinable()) scmWorker_.join();  // the previous, finished one
    scmBusy_ = true;
    scmCancel_ = false;
    scmWorker_ = std::thread([this, name = name_.trimmed().toStdWString(), action] {
        const ScmOutcome outcome = scmAction(name, action, kTimeoutMs, scmCancel_);
        QMetaObject::invokeMethod(
            this,
            [this, outcome] {
                scmBusy_ = false;
                if (outcome.ok) {
                    emit finished(true, tr("%1 %2: done").arg(actionName(action_), name_));
                    return;
                }
                QString message =
                    tr("%1 %2 failed: %3").arg(actionName(action_), name_, outcome.message);
                if (outcome.denied)
                    message += tr("\n\nThe console lacks the rights to manage the service. Run it "
                                  "as an administrator, or use the Services console.");
                emit finished(false, message);
            },
            Qt::QueuedConnection);
    });
#else
    steps_ = commands(action);
    deadline_.start(kTimeoutMs);
    next();
#endif
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
                    message += tr("\n\nThe console lacks the rights to manage the service. ") +
                               tr("Run it as root, add a polkit rule, or use: sudo systemctl %1 %2")
                                   .arg(actionName(action_), name_);
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
