#include "platform/sd_notify.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace proxy::platform {

NotifyAddressResult parseNotifySocket(std::string_view value) {
    if (value.empty()) return {std::nullopt, "NOTIFY_SOCKET is empty"};
    const bool abstract = value.front() == '@';
    if (!abstract && value.front() != '/')
        return {std::nullopt, "NOTIFY_SOCKET must be an absolute path or an @abstract name"};
    if (abstract && value.size() < 2)
        return {std::nullopt, "NOTIFY_SOCKET names an empty abstract socket"};
    NotifyAddress a;
    a.address.sun_family = AF_UNIX;
    // A path needs room for its terminating NUL; an abstract name uses the leading NUL instead.
    const std::size_t room = sizeof(a.address.sun_path) - (abstract ? 0 : 1);
    if (value.size() > room) return {std::nullopt, "NOTIFY_SOCKET is longer than a socket path"};
    if (value.find('\0') != std::string_view::npos)
        return {std::nullopt, "NOTIFY_SOCKET contains a NUL byte"};
    std::memcpy(a.address.sun_path, value.data(), value.size());
    if (abstract) a.address.sun_path[0] = '\0';
    a.length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() + (abstract ? 0 : 1));
    return {a, {}};
}

SdNotifier::SdNotifier(std::string_view socketName) {
    auto parsed = parseNotifySocket(socketName);
    if (!parsed.address) {
        error_ = parsed.error;
        return;
    }
    address_ = *parsed.address;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) error_ = std::string("cannot create the notify socket: ") + std::strerror(errno);
}

SdNotifier SdNotifier::fromEnvironment() {
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (value == nullptr) return SdNotifier();
    return SdNotifier(value);
}

SdNotifier::~SdNotifier() {
    if (fd_ >= 0) ::close(fd_);
}

SdNotifier::SdNotifier(SdNotifier&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      address_(other.address_),
      error_(std::move(other.error_)) {}

SdNotifier& SdNotifier::operator=(SdNotifier&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        address_ = other.address_;
        error_ = std::move(other.error_);
    }
    return *this;
}

bool SdNotifier::notify(std::string_view state) {
    if (fd_ < 0) return true;
    for (;;) {
        const auto sent =
            ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL,
                     reinterpret_cast<const sockaddr*>(&address_.address), address_.length);
        if (sent >= 0) return static_cast<std::size_t>(sent) == state.size();
        if (errno != EINTR) return false;
    }
}

namespace {

// STATUS= is one line: newlines in a message would start a new, bogus assignment.
std::string statusLine(std::string_view status) {
    std::string line = "STATUS=";
    for (char c : status) line.push_back(c == '\n' || c == '\r' ? ' ' : c);
    return line;
}

}  // namespace

bool SdNotifier::ready(std::string_view status) {
    return notify("READY=1\n" + statusLine(status));
}

bool SdNotifier::reloading(std::string_view status) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ull +
                      static_cast<unsigned long long>(now.tv_nsec) / 1'000ull;
    return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\n" +
                  statusLine(status));
}

bool SdNotifier::stopping(std::string_view status) {
    return notify("STOPPING=1\n" + statusLine(status));
}

bool SdNotifier::status(std::string_view status) {
    return notify(statusLine(status));
}

}  // namespace proxy::platform
