// Tests service/platform/sd_notify.cpp: $NOTIFY_SOCKET parsing (paths, abstract names, bad
// values) and the datagrams a real AF_UNIX socket receives.
#include <QTest>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "platform/sd_notify.h"

using proxy::platform::NotifyAddress;
using proxy::platform::parseNotifySocket;
using proxy::platform::SdNotifier;

namespace {

// A datagram socket the test owns, standing in for systemd's notify socket.
class NotifyReceiver {
public:
    explicit NotifyReceiver(const std::string& name) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        auto parsed = parseNotifySocket(name);
        if (fd_ < 0 || !parsed.address) return;
        if (name.front() == '/') ::unlink(name.c_str());
        path_ = name.front() == '/' ? name : std::string();
        bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&parsed.address->address),
                        parsed.address->length) == 0;
    }
    ~NotifyReceiver() {
        if (fd_ >= 0) ::close(fd_);
        if (!path_.empty()) ::unlink(path_.c_str());
    }
    bool bound() const { return bound_; }
    // One datagram, or "" after the timeout.
    std::string receive(int timeoutMs = 2000) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeoutMs) <= 0) return {};
        char buffer[4096];
        const auto n = ::recv(fd_, buffer, sizeof(buffer), 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    }

private:
    int fd_ = -1;
    bool bound_ = false;
    std::string path_;
};

std::string uniqueName(const char* tag) {
    return std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand());
}

}  // namespace

class SdNotifyTest : public QObject {
    Q_OBJECT

private slots:
    void parse_data() {
        QTest::addColumn<QString>("value");
        QTest::addColumn<bool>("ok");
        QTest::addColumn<int>("pathBytes");  // bytes of sun_path used, when ok
        QTest::addColumn<QString>("errorPart");

        QTest::newRow("absolute path") << "/run/systemd/notify" << true << 20 << "";
        QTest::newRow("abstract name") << "@proxy/notify" << true << 13 << "";
        QTest::newRow("empty") << "" << false << 0 << "empty";
        QTest::newRow("relative path") << "run/notify" << false << 0 << "absolute path";
        QTest::newRow("lone @") << "@" << false << 0 << "empty abstract";
        const QString longest = "/" + QString(106, 'x');  // 107 bytes + NUL = sun_path
        QTest::newRow("longest path") << longest << true << 108 << "";
        QTest::newRow("path one too long") << longest + "x" << false << 0 << "longer";
        const QString longestAbstract = "@" + QString(107, 'y');  // no NUL needed
        QTest::newRow("longest abstract") << longestAbstract << true << 108 << "";
        QTest::newRow("abstract too long") << longestAbstract + "y" << false << 0 << "longer";
    }
    void parse() {
        QFETCH(QString, value);
        QFETCH(bool, ok);
        QFETCH(int, pathBytes);
        QFETCH(QString, errorPart);
        const std::string text = value.toStdString();
        const auto result = parseNotifySocket(text);
        QCOMPARE(result.address.has_value(), ok);
        if (!ok) {
            QVERIFY2(QString::fromStdString(result.error).contains(errorPart),
                     result.error.c_str());
            return;
        }
        const NotifyAddress& a = *result.address;
        QCOMPARE(a.address.sun_family, sa_family_t(AF_UNIX));
        QCOMPARE(int(a.length) - int(offsetof(sockaddr_un, sun_path)), pathBytes);
        if (text.front() == '@') {
            QCOMPARE(a.address.sun_path[0], '\0');  // abstract: leading NUL, name follows
            QCOMPARE(std::string(a.address.sun_path + 1, text.size() - 1), text.substr(1));
        } else {
            QCOMPARE(std::string(a.address.sun_path), text);
        }
    }

    void parseRejectsEmbeddedNul() {
        const std::string value("/run/a\0b", 8);
        const auto result = parseNotifySocket(value);
        QVERIFY(!result.address);
        QVERIFY(result.error.find("NUL") != std::string::npos);
    }

    void disabledNotifierIsASuccessfulNoOp() {
        SdNotifier notifier;
        QVERIFY(!notifier.enabled());
        QVERIFY(notifier.ready("serving"));
        QVERIFY(notifier.error().empty());
    }

    void badValueDisablesWithAReason() {
        SdNotifier notifier("relative/socket");
        QVERIFY(!notifier.enabled());
        QVERIFY(!notifier.error().empty());
        QVERIFY(notifier.ready("serving"));  // nobody to tell: still a no-op
    }

    void sendsToAPathSocket() {
        const std::string path = QDir::temp()
                                     .filePath(QString::fromStdString(uniqueName("sdn") + ".sock"))
                                     .toStdString();
        NotifyReceiver receiver(path);
        QVERIFY(receiver.bound());
        SdNotifier notifier(path);
        QVERIFY(notifier.enabled());
        QVERIFY(notifier.ready("serving 2 listeners"));
        QCOMPARE(receiver.receive(), std::string("READY=1\nSTATUS=serving 2 listeners"));
        QVERIFY(notifier.stopping("draining"));
        QCOMPARE(receiver.receive(), std::string("STOPPING=1\nSTATUS=draining"));
    }

    void sendsToAnAbstractSocket() {
        const std::string name = "@" + uniqueName("proxy-sdn-test");
        NotifyReceiver receiver(name);
        QVERIFY(receiver.bound());
        SdNotifier notifier(name);
        QVERIFY(notifier.status("hello"));
        QCOMPARE(receiver.receive(), std::string("STATUS=hello"));
    }

    void reloadingCarriesAMonotonicTimestamp() {
        const std::string name = "@" + uniqueName("proxy-sdn-reload");
        NotifyReceiver receiver(name);
        QVERIFY(receiver.bound());
        SdNotifier notifier(name);
        QVERIFY(notifier.reloading("reloading"));
        const QString got = QString::fromStdString(receiver.receive());
        QVERIFY2(got.startsWith("RELOADING=1\nMONOTONIC_USEC="), qPrintable(got));
        const QString usec = got.section('\n', 1, 1).section('=', 1);
        bool ok = false;
        QVERIFY(usec.toULongLong(&ok) > 0 && ok);
        QVERIFY(got.endsWith("\nSTATUS=reloading"));
    }

    // A newline in a status would let text inject another assignment (READY=1, MAINPID=...).
    void statusIsKeptOnOneLine() {
        const std::string name = "@" + uniqueName("proxy-sdn-status");
        NotifyReceiver receiver(name);
        SdNotifier notifier(name);
        QVERIFY(notifier.status("bad config\nREADY=1"));
        QCOMPARE(receiver.receive(), std::string("STATUS=bad config READY=1"));
    }

    void sendToMissingSocketFails() {
        const std::string path = "/nonexistent-dir-" + uniqueName("x") + "/notify";
        SdNotifier notifier(path);
        QVERIFY(notifier.enabled());
        QVERIFY(!notifier.ready("serving"));
    }

    void fromEnvironment() {
        const std::string name = "@" + uniqueName("proxy-sdn-env");
        NotifyReceiver receiver(name);
        ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
        SdNotifier fromEnv = SdNotifier::fromEnvironment();
        ::unsetenv("NOTIFY_SOCKET");
        QVERIFY(fromEnv.enabled());
        QVERIFY(fromEnv.ready("x"));
        QCOMPARE(receiver.receive(), std::string("READY=1\nSTATUS=x"));
        QVERIFY(!SdNotifier::fromEnvironment().enabled());  // unset: disabled, no error
        QVERIFY(SdNotifier::fromEnvironment().error().empty());
    }

    void moveKeepsTheSocket() {
        const std::string name = "@" + uniqueName("proxy-sdn-move");
        NotifyReceiver receiver(name);
        SdNotifier a(name);
        SdNotifier b(std::move(a));
        QVERIFY(!a.enabled());  // NOLINT(bugprone-use-after-move): moved-from is disabled
        QVERIFY(b.enabled());
        QVERIFY(b.status("moved"));
        QCOMPARE(receiver.receive(), std::string("STATUS=moved"));
    }
};

QTEST_APPLESS_MAIN(SdNotifyTest)
#include "sd_notify_test.moc"
