#pragma once
// systemd readiness notification without libsystemd: one datagram per state change, written to
// the AF_UNIX socket named by $NOTIFY_SOCKET ("/run/systemd/notify", or "@name" for an abstract
// socket). POSIX only. When $NOTIFY_SOCKET is unset the notifier is disabled and every call is a
// successful no-op, so the same code runs under systemd, in a terminal and in tests.

#include <sys/socket.h>
#include <sys/un.h>

#include <optional>
#include <string>
#include <string_view>

namespace proxy::platform {

struct NotifyAddress {
    sockaddr_un address{};
    socklen_t length = 0;  // exact length: abstract names are not NUL-terminated
};

// Pure: turns a $NOTIFY_SOCKET value into a socket address. Accepts an absolute path or an
// abstract name ("@name"); rejects empty, relative and over-long values with an error sentence.
struct NotifyAddressResult {
    std::optional<NotifyAddress> address;
    std::string error;
};
NotifyAddressResult parseNotifySocket(std::string_view value);

class SdNotifier {
public:
    SdNotifier() = default;  // disabled
    explicit SdNotifier(std::string_view socketName);
    static SdNotifier fromEnvironment();  // reads $NOTIFY_SOCKET

    ~SdNotifier();
    SdNotifier(SdNotifier&& other) noexcept;
    SdNotifier& operator=(SdNotifier&& other) noexcept;
    SdNotifier(const SdNotifier&) = delete;
    SdNotifier& operator=(const SdNotifier&) = delete;

    bool enabled() const { return fd_ >= 0; }
    const std::string& error() const { return error_; }  // why the notifier is disabled, if set

    // Sends "KEY=value\n..." as one datagram. Returns false when it could not be sent; a disabled
    // notifier returns true (there is nobody to tell).
    bool notify(std::string_view state);

    // The states this service uses, each with a human-readable STATUS= line.
    bool ready(std::string_view status);
    bool reloading(std::string_view status);  // includes MONOTONIC_USEC for Type=notify-reload
    bool stopping(std::string_view status);
    bool status(std::string_view status);

private:
    int fd_ = -1;
    NotifyAddress address_;
    std::string error_;
};

}  // namespace proxy::platform
