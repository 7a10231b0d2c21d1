// Tests service/platform/posix_signal_host.cpp with a fake HostedService: SIGHUP reloads,
// SIGTERM/SIGINT stop, systemd hears READY/RELOADING/STOPPING, exit codes come through.
//
// Each case runs the host in a forked child, because the host blocks signals for the whole
// process and the parent must stay an ordinary test runner. The child reports what the fake
// service was asked to do through a pipe; the parent owns the notify socket and sends signals.
#include <QTest>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "platform/posix_signal_host.h"

using namespace proxy::platform;
using namespace std::chrono_literals;

namespace {

struct FakeBehaviour {
    std::optional<std::string> startError;
    std::chrono::milliseconds startDelay{0};
    std::chrono::milliseconds stopByItselfAfter{0};  // 0: only a stop request ends wait()
    int exitCode = 0;
    int stopRequestsNeeded = 1;  // stands in for a drain that only a second request cuts short
};

// Lives in the child only. Every call is reported as one line on `events`.
class FakeService final : public HostedService {
public:
    FakeService(int events, FakeBehaviour behaviour) : events_(events), behaviour_(behaviour) {}
    std::optional<std::string> start() override {
        std::this_thread::sleep_for(behaviour_.startDelay);
        say("start");
        return behaviour_.startError;
    }
    void requestStop() override {
        say("stop");
        std::lock_guard lock(mutex_);
        ++stops_;
        cv_.notify_all();
    }
    void requestReload() override { say("reload"); }
    int wait() override {
        std::unique_lock lock(mutex_);
        if (behaviour_.stopByItselfAfter.count() > 0) {
            cv_.wait_for(lock, behaviour_.stopByItselfAfter, [&] { return stopped(); });
        } else {
            cv_.wait(lock, [&] { return stopped(); });
        }
        return behaviour_.exitCode;
    }

private:
    bool stopped() const { return stops_ >= behaviour_.stopRequestsNeeded; }
    void say(const char* what) {
        const std::string line = std::string(what) + "\n";
        (void)!::write(events_, line.data(), line.size());
    }
    int events_;
    FakeBehaviour behaviour_;
    std::mutex mutex_;
    std::condition_variable cv_;
    int stops_ = 0;
};

class HostUnderTest {
public:
    explicit HostUnderTest(FakeBehaviour behaviour) {
        notifyName_ =
            "@proxy-host-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter_);
        notify_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        auto parsed = parseNotifySocket(notifyName_);
        ::bind(notify_, reinterpret_cast<const sockaddr*>(&parsed.address->address),
               parsed.address->length);
        int fds[2];
        if (::pipe(fds) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(fds[0]);
            SignalHost::blockHostSignals();
            SdNotifier notifier(notifyName_);
            FakeService service(fds[1], behaviour);
            SignalHost host(service, notifier, nullptr);
            ::_exit(host.run());
        }
        ::close(fds[1]);
        events_ = fds[0];
    }
    ~HostUnderTest() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (notify_ >= 0) ::close(notify_);
        if (events_ >= 0) ::close(events_);
    }
    bool started() const { return pid_ > 0 && notify_ >= 0; }
    void signal(int sig) { ::kill(pid_, sig); }

    // Datagrams until one starts with `prefix`; all of them are kept in seen().
    bool awaitNotify(const std::string& prefix, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{notify_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buffer[1024];
            const auto n = ::recv(notify_, buffer, sizeof(buffer), 0);
            if (n <= 0) continue;
            const std::string message(buffer, static_cast<std::size_t>(n));
            seen_ += message + "|";
            if (message.rfind(prefix, 0) == 0) return true;
        }
    }
    // Blocks until the fake service reported `line`.
    bool awaitEvent(const std::string& line, std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto at = events_text_.find(line + "\n");
            if (at != std::string::npos) {
                events_text_.erase(0, at + line.size() + 1);
                return true;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{events_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buffer[256];
            const auto n = ::read(events_, buffer, sizeof(buffer));
            if (n <= 0) return false;
            events_text_.append(buffer, static_cast<std::size_t>(n));
        }
    }
    // The child's exit code, or -1 if it did not exit normally in time.
    int exitCode(std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                reaped_ = true;
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            }
            std::this_thread::sleep_for(10ms);
        }
        return -1;
    }
    const std::string& seen() const { return seen_; }

private:
    static inline int counter_ = 0;
    std::string notifyName_;
    int notify_ = -1;
    int events_ = -1;
    std::string events_text_;
    std::string seen_;
    pid_t pid_ = -1;
    bool reaped_ = false;
};

}  // namespace

class PosixSignalHostTest : public QObject {
    Q_OBJECT

private slots:
    void hupReloadsThenTermStops() {
        HostUnderTest host({});
        QVERIFY(host.started());
        QVERIFY2(host.awaitNotify("READY=1"), host.seen().c_str());
        QVERIFY(host.awaitEvent("start"));

        host.signal(SIGHUP);
        QVERIFY2(host.awaitNotify("RELOADING=1"), host.seen().c_str());
        QVERIFY(host.awaitEvent("reload"));
        QVERIFY2(host.awaitNotify("READY=1"), host.seen().c_str());

        host.signal(SIGTERM);
        QVERIFY2(host.awaitNotify("STOPPING=1"), host.seen().c_str());
        QVERIFY(host.awaitEvent("stop"));
        QCOMPARE(host.exitCode(), 0);
    }

    void sigintStopsToo() {
        HostUnderTest host({});
        QVERIFY(host.awaitNotify("READY=1"));
        host.signal(SIGINT);
        QVERIFY(host.awaitEvent("stop"));
        QCOMPARE(host.exitCode(), 0);
    }

    // A TERM that arrives while start() runs stays pending and is acted on right after.
    void termDuringStartIsNotLost() {
        HostUnderTest host({.startDelay = 400ms});
        QVERIFY(host.started());
        std::this_thread::sleep_for(100ms);
        host.signal(SIGTERM);
        QVERIFY(host.awaitEvent("start"));
        QVERIFY(host.awaitEvent("stop"));
        QCOMPARE(host.exitCode(), 0);
    }

    void repeatedTermReachesTheService() {
        HostUnderTest host({.stopRequestsNeeded = 2});
        QVERIFY(host.awaitNotify("READY=1"));
        host.signal(SIGTERM);
        QVERIFY(host.awaitEvent("stop"));
        QCOMPARE(host.exitCode(300ms), -1);  // still draining
        host.signal(SIGTERM);
        QVERIFY(host.awaitEvent("stop"));
        QCOMPARE(host.exitCode(), 0);
    }

    void exitCodeComesThrough() {
        HostUnderTest host({.exitCode = 7});
        QVERIFY(host.awaitNotify("READY=1"));
        host.signal(SIGTERM);
        QCOMPARE(host.exitCode(), 7);
    }

    void startFailureExitsWithoutReady() {
        HostUnderTest host({.startError = std::string("listener web: address in use")});
        QVERIFY(host.awaitNotify("STATUS=failed to start: listener web: address in use"));
        QCOMPARE(host.exitCode(), kExitStartFailed);
        QVERIFY2(host.seen().find("READY=1") == std::string::npos, host.seen().c_str());
    }

    // The service may end by itself (a control-channel stop): systemd still hears STOPPING.
    void serviceStoppingByItselfIsReported() {
        HostUnderTest host({.stopByItselfAfter = 200ms});
        QVERIFY(host.awaitNotify("READY=1"));
        QVERIFY2(host.awaitNotify("STOPPING=1"), host.seen().c_str());
        QCOMPARE(host.exitCode(), 0);
    }
};

QTEST_APPLESS_MAIN(PosixSignalHostTest)
#include "posix_signal_host_test.moc"
