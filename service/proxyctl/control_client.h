#pragma once
// proxyctl's blocking control-channel client: connect (Unix socket / named pipe), hello, then
// request/response calls, each bounded by one overall deadline. Notifications that arrive while
// waiting for a response are kept (up to kMaxQueuedNotifications, then the oldest go) for
// nextNotification(). Uses the shared codec (shared/control) and nothing else.

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "control/frame_codec.h"
#include "control/json_rpc.h"

namespace proxy::proxyctl {

using control::Json;

class Transport {
  public:
    virtual ~Transport() = default;
    enum class Io { Ok, Closed, Timeout, Failed };
    virtual Io writeAll(std::string_view bytes, std::chrono::steady_clock::time_point deadline,
                        std::string& error) = 0;
    // Reads whatever is available (at least one byte) into `out`.
    virtual Io readSome(std::string& out, std::chrono::steady_clock::time_point deadline,
                        std::string& error) = 0;
};

struct CallOutcome {
    enum class Status {
        Ok,           // result is set
        ServerError,  // error is set (the server answered with a JSON-RPC error)
        Timeout,      // the deadline passed
        Protocol,     // the connection broke or the server spoke something else
    };
    Status status = Status::Protocol;
    Json result;
    std::optional<control::RpcError> error;
    std::string message;  // for Timeout / Protocol
};

class ControlClient {
  public:
    // deadline: for everything this client does (connect, hello, every call).
    explicit ControlClient(std::chrono::steady_clock::time_point deadline) : deadline_(deadline) {}

    // Connects and says hello. On failure: false, with connectFailed() telling whether nothing
    // answered at all (exit code 3) or the hello went wrong (exit code 1 or 4, see lastOutcome).
    bool connect(const std::string& endpoint, const std::string& clientName);
    bool connectFailed() const { return connectFailed_; }
    const CallOutcome& lastOutcome() const { return last_; }
    const Json& hello() const { return hello_; }

    CallOutcome call(const std::string& method, const Json& params = nullptr);
    void setDeadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

    // The next notification (queued ones first, else waits until the deadline). Ok with
    // result = {"method": ..., "params": ...}.
    CallOutcome nextNotification();
    static constexpr std::size_t kMaxQueuedNotifications = 10'000;

  private:
    // Reads until a message arrives; notifications are queued and, when `stopAtNotification`,
    // returned. nullopt with `out` set on a timeout or a broken connection.
    std::optional<control::Message> readMessage(const std::string& what, bool stopAtNotification,
                                                CallOutcome& out);

    std::chrono::steady_clock::time_point deadline_;
    std::unique_ptr<Transport> transport_;
    control::FrameReader reader_;  // kept across calls: bytes after one answer belong to the next
    std::int64_t nextId_ = 1;
    bool connectFailed_ = false;
    CallOutcome last_;
    Json hello_;
    std::deque<Json> notifications_;
};

// Platform transport (Unix socket / named pipe). nullptr with `error` set when nothing could be
// opened; `timedOut` when the deadline passed while waiting for a free pipe instance.
std::unique_ptr<Transport> openTransport(const std::string& endpoint,
                                         std::chrono::steady_clock::time_point deadline,
                                         std::string& error, bool& timedOut);

}  // namespace proxy::proxyctl
