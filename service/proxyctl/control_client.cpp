#include "proxyctl/control_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "control/frame_codec.h"
#include "control/pipe_client.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace proxy::proxyctl {

using Clock = std::chrono::steady_clock;

namespace {

int remainingMs(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 24 * 3600 * 1000));
}

#ifdef _WIN32

std::string errorText(DWORD code) {
    char* buffer = nullptr;
    const DWORD n = FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<LPSTR>(&buffer), 0, nullptr);
    std::string text = n && buffer ? std::string(buffer, n) : "error " + std::to_string(code);
    if (buffer) LocalFree(buffer);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == '.'))
        text.pop_back();
    return text;
}

// Synchronous from the caller's view; overlapped underneath so every wait has the deadline.
class PipeTransport final : public Transport {
  public:
    explicit PipeTransport(HANDLE pipe)
        : pipe_(pipe), event_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
    ~PipeTransport() override {
        CloseHandle(pipe_);
        if (event_) CloseHandle(event_);
    }

    Io writeAll(std::string_view bytes, Clock::time_point deadline, std::string& error) override {
        std::size_t done = 0;
        while (done < bytes.size()) {
            DWORD n = 0;
            const auto chunk =
                static_cast<DWORD>(std::min<std::size_t>(bytes.size() - done, 1u << 20));
            const Io io = wait(WriteFile(pipe_, bytes.data() + done, chunk, nullptr, prepare()), n,
                               deadline, error);
            if (io != Io::Ok) return io;
            done += n;
        }
        return Io::Ok;
    }

    Io readSome(std::string& out, Clock::time_point deadline, std::string& error) override {
        char buffer[64 * 1024];
        DWORD n = 0;
        const Io io =
            wait(ReadFile(pipe_, buffer, sizeof buffer, nullptr, prepare()), n, deadline, error);
        if (io != Io::Ok) return io;
        if (n == 0) return Io::Closed;
        out.append(buffer, n);
        return Io::Ok;
    }

  private:
    OVERLAPPED* prepare() {
        overlapped_ = OVERLAPPED{};
        ResetEvent(event_);
        overlapped_.hEvent = event_;
        return &overlapped_;
    }

    Io wait(BOOL started, DWORD& transferred, Clock::time_point deadline, std::string& error) {
        if (!started) {
            const DWORD code = GetLastError();
            if (code == ERROR_BROKEN_PIPE || code == ERROR_PIPE_NOT_CONNECTED) return Io::Closed;
            if (code != ERROR_IO_PENDING) {
                error = errorText(code);
                return Io::Failed;
            }
            if (WaitForSingleObject(event_, static_cast<DWORD>(remainingMs(deadline))) !=
                WAIT_OBJECT_0) {
                CancelIoEx(pipe_, &overlapped_);
                GetOverlappedResult(pipe_, &overlapped_, &transferred, TRUE);
                return Io::Timeout;
            }
        }
        if (!GetOverlappedResult(pipe_, &overlapped_, &transferred, FALSE)) {
            const DWORD code = GetLastError();
            if (code == ERROR_BROKEN_PIPE || code == ERROR_PIPE_NOT_CONNECTED) return Io::Closed;
            error = errorText(code);
            return Io::Failed;
        }
        return Io::Ok;
    }

    HANDLE pipe_;
    HANDLE event_;
    OVERLAPPED overlapped_{};
};

#else

class SocketTransport final : public Transport {
  public:
    explicit SocketTransport(int fd) : fd_(fd) {}
    ~SocketTransport() override { ::close(fd_); }

    Io writeAll(std::string_view bytes, Clock::time_point deadline, std::string& error) override {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                const Io io = waitFor(POLLOUT, deadline, error);
                if (io != Io::Ok) return io;
                continue;
            }
            if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return Io::Closed;
            error = std::strerror(errno);
            return Io::Failed;
        }
        return Io::Ok;
    }

    Io readSome(std::string& out, Clock::time_point deadline, std::string& error) override {
        char buffer[64 * 1024];
        for (;;) {
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n > 0) {
                out.append(buffer, static_cast<std::size_t>(n));
                return Io::Ok;
            }
            if (n == 0) return Io::Closed;
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                const Io io = waitFor(POLLIN, deadline, error);
                if (io != Io::Ok) return io;
                continue;
            }
            if (errno == ECONNRESET) return Io::Closed;
            error = std::strerror(errno);
            return Io::Failed;
        }
    }

  private:
    Io waitFor(short events, Clock::time_point deadline, std::string& error) {
        for (;;) {
            pollfd p{fd_, events, 0};
            const int r = ::poll(&p, 1, remainingMs(deadline));
            if (r > 0) return Io::Ok;  // readiness or an error/hangup the next call reports
            if (r == 0) return Io::Timeout;
            if (errno == EINTR) continue;
            error = std::strerror(errno);
            return Io::Failed;
        }
    }

    int fd_;
};

#endif

}  // namespace

std::unique_ptr<Transport> openTransport(const std::string& endpoint, Clock::time_point deadline,
                                         std::string& error, bool& timedOut) {
    timedOut = false;
#ifdef _WIN32
    auto pipe = control::openControlPipe(endpoint, deadline);
    if (pipe.handle == -1) {
        timedOut = pipe.timedOut;
        error = pipe.error;
        return nullptr;
    }
    return std::make_unique<PipeTransport>(reinterpret_cast<HANDLE>(pipe.handle));
#else
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (endpoint.size() >= sizeof address.sun_path) {
        error = "endpoint path is too long: " + endpoint;
        return nullptr;
    }
    std::memcpy(address.sun_path, endpoint.c_str(), endpoint.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("cannot create a socket: ") + std::strerror(errno);
        return nullptr;
    }
    // A Unix-socket connect does not wait on the network; it fails at once or succeeds.
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        error = "cannot connect to " + endpoint + ": " + std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    (void)deadline;
    return std::make_unique<SocketTransport>(fd);
#endif
}

bool ControlClient::connect(const std::string& endpoint, const std::string& clientName) {
    std::string error;
    bool timedOut = false;
    transport_ = openTransport(endpoint, deadline_, error, timedOut);
    if (!transport_) {
        connectFailed_ = !timedOut;
        last_ = CallOutcome{timedOut ? CallOutcome::Status::Timeout : CallOutcome::Status::Protocol,
                            nullptr, std::nullopt, error};
        return false;
    }
    last_ = call("hello", control::makeHelloParams(clientName));
    if (last_.status != CallOutcome::Status::Ok) return false;
    hello_ = last_.result;
    return true;
}

CallOutcome ControlClient::call(const std::string& method, const Json& params) {
    CallOutcome out;
    if (!transport_) {
        out.message = "not connected";
        return out;
    }
    const auto id = nextId_++;
    std::string error;
    switch (transport_->writeAll(control::encodeFrame(control::makeRequest(id, method, params)),
                                 deadline_, error)) {
        case Transport::Io::Ok:
            break;
        case Transport::Io::Timeout:
            out.status = CallOutcome::Status::Timeout;
            out.message = "timed out sending " + method;
            return out;
        case Transport::Io::Closed:
        case Transport::Io::Failed:
            // The server may have closed after telling us why (e.g. too many clients): read it.
            break;
    }
    for (;;) {
        auto message = readMessage("the answer to " + method, false, out);
        if (!message) return out;
        if (!message->id.is_null() && message->id != Json(id)) continue;  // not ours
        if (message->error) {
            out.status = CallOutcome::Status::ServerError;
            out.error = std::move(message->error);
        } else {
            out.status = CallOutcome::Status::Ok;
            out.result = std::move(message->result);
        }
        return out;
    }
}

CallOutcome ControlClient::nextNotification() {
    CallOutcome out;
    if (notifications_.empty()) {
        if (!transport_) {
            out.message = "not connected";
            return out;
        }
        // A response here answers nothing we asked: skip it.
        while (notifications_.empty())
            if (!readMessage("a notification", true, out)) return out;
    }
    out.status = CallOutcome::Status::Ok;
    out.result = std::move(notifications_.front());
    notifications_.pop_front();
    return out;
}

std::optional<control::Message> ControlClient::readMessage(const std::string& what,
                                                           bool stopAtNotification,
                                                           CallOutcome& out) {
    std::string error;
    for (;;) {
        for (;;) {
            const auto frame = reader_.next();
            if (frame.status == control::FrameStatus::Error) {
                out.message = "the server sent a bad frame: " +
                              control::describeFrameError(frame, reader_.maxFrameBytes());
                return std::nullopt;
            }
            if (frame.status == control::FrameStatus::NeedMore) break;
            auto parsed = control::parseMessage(frame.payload);
            if (!parsed) {
                out.message = "the server sent an invalid message: " + parsed.error.error.message;
                return std::nullopt;
            }
            if (parsed->kind == control::Message::Kind::Notification) {
                if (notifications_.size() >= kMaxQueuedNotifications) notifications_.pop_front();
                notifications_.push_back({{"method", parsed->method}, {"params", parsed->params}});
                if (stopAtNotification) return std::move(*parsed.message);
                continue;
            }
            if (parsed->kind != control::Message::Kind::Response) continue;  // a request: not ours
            return std::move(*parsed.message);
        }
        std::string chunk;
        switch (transport_->readSome(chunk, deadline_, error)) {
            case Transport::Io::Ok:
                reader_.append(chunk);
                break;
            case Transport::Io::Timeout:
                out.status = CallOutcome::Status::Timeout;
                out.message = "timed out waiting for " + what;
                return std::nullopt;
            case Transport::Io::Closed:
                out.message = "the server closed the connection";
                return std::nullopt;
            case Transport::Io::Failed:
                out.message = "read failed: " + error;
                return std::nullopt;
        }
    }
}

}  // namespace proxy::proxyctl
