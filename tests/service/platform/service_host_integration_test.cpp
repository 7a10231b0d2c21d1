// Integration: the real proxy-service under the Linux host, with $NOTIFY_SOCKET pointing at a
// datagram socket this test owns. READY=1 only once the listener accepts, SIGHUP gives
// RELOADING=1 then READY=1, SIGTERM gives STOPPING=1 and exit code 0; a config that cannot start
// exits 1 without READY.
#include <QtNetwork>
#include <QTest>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "platform/sd_notify.h"

using namespace std::chrono_literals;

namespace {

// A port nobody listens on right now (bound to port 0, then released).
quint16 freePort() {
    QTcpServer probe;
    if (!probe.listen(QHostAddress::LocalHost, 0)) return 0;
    return probe.serverPort();
}

class NotifySocket {
public:
    NotifySocket() {
        name_ = "@proxy-host-it-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_);
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        auto parsed = proxy::platform::parseNotifySocket(name_);
        bound_ = fd_ >= 0 && parsed.address &&
                 ::bind(fd_, reinterpret_cast<const sockaddr*>(&parsed.address->address),
                        parsed.address->length) == 0;
    }
    ~NotifySocket() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool bound() const { return bound_; }
    QString name() const { return QString::fromStdString(name_); }

    // Reads datagrams until one starts with `prefix`. Qt events are not needed meanwhile.
    bool await(const std::string& prefix, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100))) <= 0)
                continue;
            char buffer[2048];
            const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
            if (n <= 0) continue;
            const std::string message(buffer, static_cast<std::size_t>(n));
            seen_ += message + " | ";
            if (message.rfind(prefix, 0) == 0) return true;
        }
    }
    const std::string& seen() const { return seen_; }

private:
    static inline int counter_ = 0;
    std::string name_;
    int fd_ = -1;
    bool bound_ = false;
    std::string seen_;
};

}  // namespace

class ServiceHostIntegrationTest : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;

    QString writeConfig(const QString& name, quint16 listenPort, const QString& extra = {}) {
        const QString path = dir_.filePath(name);
        const QString json =
            QStringLiteral(R"({
  "control": { "endpoint": "%1" },
  "logging": { "database": "%2", "error_log_file": "%3", "access_log_file": "%4" },
  "timeouts": { "shutdown_ms": 2000 },
  "listeners": [ { "name": "web", "address": "127.0.0.1:%5" } ],
  "upstreams": [ { "name": "origin", "servers": [ { "address": "127.0.0.1:%6" } ] } ],
  "routes": [ { "name": "all", "upstream": "origin" } ]%7
})")
                .arg(dir_.filePath(name + ".control.sock"), dir_.filePath(name + ".db"),
                     dir_.filePath(name + ".error.log"), dir_.filePath(name + ".access.log"))
                .arg(listenPort)
                .arg(freePort())
                .arg(extra);
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly)) return {};
        file.write(json.toUtf8());
        return path;
    }

    void startService(QProcess& process, const QString& config, const NotifySocket& notify) {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("NOTIFY_SOCKET", notify.name());
        process.setProcessEnvironment(env);
        process.setProcessChannelMode(QProcess::MergedChannels);
        process.start(PROXY_SERVICE_EXE, {"--config", config});
    }

    static bool canConnect(quint16 port) {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, port);
        return socket.waitForConnected(2000);
    }

private slots:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void readyReloadStop() {
        NotifySocket notify;
        QVERIFY(notify.bound());
        const quint16 port = freePort();
        const QString config = writeConfig("ok.json", port);
        QProcess service;
        startService(service, config, notify);
        QVERIFY2(service.waitForStarted(5000), qPrintable(service.errorString()));

        QVERIFY2(notify.await("READY=1", 15s),
                 qPrintable(QString::fromStdString(notify.seen()) + service.readAll()));
        QVERIFY2(canConnect(port), "READY=1 came before the listener accepted connections");

        ::kill(static_cast<pid_t>(service.processId()), SIGHUP);
        QVERIFY2(notify.await("RELOADING=1", 10s), notify.seen().c_str());
        QVERIFY2(notify.await("READY=1", 10s), notify.seen().c_str());
        QCOMPARE(service.state(), QProcess::Running);
        QVERIFY(canConnect(port));  // still serving after the reload

        ::kill(static_cast<pid_t>(service.processId()), SIGTERM);
        QVERIFY2(notify.await("STOPPING=1", 10s), notify.seen().c_str());
        QVERIFY(service.waitForFinished(15000));
        const QByteArray output = service.readAll();
        QCOMPARE(service.exitStatus(), QProcess::NormalExit);
        QVERIFY2(service.exitCode() == 0, output.constData());
        QVERIFY2(output.contains("SIGTERM"), output.constData());
    }

    void sigintStopsGracefully() {
        NotifySocket notify;
        const QString config = writeConfig("int.json", freePort());
        QProcess service;
        startService(service, config, notify);
        QVERIFY(notify.await("READY=1", 15s));
        ::kill(static_cast<pid_t>(service.processId()), SIGINT);
        QVERIFY(service.waitForFinished(15000));
        QCOMPARE(service.exitStatus(), QProcess::NormalExit);
        QCOMPARE(service.exitCode(), 0);
    }

    void invalidConfigFailsWithoutReady() {
        NotifySocket notify;
        const QString config = dir_.filePath("broken.json");
        QFile file(config);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(R"({"listeners": [ {"name": "web", "address": "127.0.0.1:notaport"} ]})");
        file.close();
        QProcess service;
        startService(service, config, notify);
        QVERIFY(service.waitForFinished(15000));
        QCOMPARE(service.exitStatus(), QProcess::NormalExit);
        QCOMPARE(service.exitCode(), 1);
        QVERIFY2(notify.await("STATUS=failed to start", 2s), notify.seen().c_str());
        QVERIFY2(notify.seen().find("READY=1") == std::string::npos, notify.seen().c_str());
    }

    void listenerInUseFailsWithoutReady() {
        QTcpServer squatter;
        QVERIFY(squatter.listen(QHostAddress::LocalHost, 0));
        NotifySocket notify;
        const QString config = writeConfig("busy.json", squatter.serverPort());
        QProcess service;
        startService(service, config, notify);
        QVERIFY(service.waitForFinished(15000));
        QCOMPARE(service.exitCode(), 1);
        QVERIFY2(notify.seen().find("READY=1") == std::string::npos, notify.seen().c_str());
    }

    void installIsRejectedOnLinux() {
        QProcess service;
        service.start(PROXY_SERVICE_EXE, {"--install"});
        QVERIFY(service.waitForFinished(10000));
        QCOMPARE(service.exitCode(), 2);
        QVERIFY(service.readAllStandardError().contains("systemd unit"));
    }

    void versionListsFeatures() {
        QProcess service;
        service.start(PROXY_SERVICE_EXE, {"--version"});
        QVERIFY(service.waitForFinished(10000));
        QCOMPARE(service.exitCode(), 0);
        const QString text = QString::fromUtf8(service.readAllStandardOutput());
        QVERIFY2(text.startsWith("proxy-service "), qPrintable(text));
        for (const char* line :
             {"platform: linux", "tls: ", "access_log: ", "compression: ", "io: epoll"}) {
            QVERIFY2(text.contains(QLatin1String(line)), qPrintable(text));
        }
        // The allocator it says is the one it was built with.
        QVERIFY2(text.contains(PROXY_WITH_MIMALLOC ? QLatin1String("allocator: mimalloc 2.")
                                                   : QLatin1String("allocator: the C runtime's malloc")),
                 qPrintable(text));
    }
};

QTEST_GUILESS_MAIN(ServiceHostIntegrationTest)
#include "service_host_integration_test.moc"
