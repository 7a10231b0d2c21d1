#pragma once
// A blocking HTTP/1.1 test client over a raw socket, with timeouts on every call, so hostile bytes
// can be sent exactly and the answer read back independently of the proxy's own codec.

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace proxy::test {

struct RawResponse {
    bool ok = false;          // a complete response was read
    int status = 0;
    std::string head;         // raw head including the final CRLFCRLF
    std::multimap<std::string, std::string> headers;  // names lower-cased
    std::string body;         // de-chunked
    bool chunked = false;
    std::string header(const std::string& lowerName) const;
    bool has(const std::string& lowerName) const { return headers.count(lowerName) > 0; }
};

class RawClient {
public:
    RawClient() = default;
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connect(int port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Connects to [::1]:port.
    bool connect6(int port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
    bool send(const std::string& bytes);
    // Reads one response (interim 1xx responses are returned one by one too). With headOnly the
    // body is not read (for HEAD requests and when the caller reads it itself).
    RawResponse readResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10),
                             bool headOnly = false, bool expectNoBody = false);
    // Reads until the peer closes or the timeout passes; returns what arrived.
    std::string readUntilClose(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Reads exactly n bytes (or fewer on close/timeout).
    std::string readBytes(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // True when the peer has closed (EOF seen within the timeout).
    bool closedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    void shutdownWrite();
    void close();
    int fd() const { return fd_; }

private:
    bool fill(std::chrono::steady_clock::time_point deadline);  // reads more into pending_
    int fd_ = -1;
    std::string pending_;
    bool eof_ = false;
};

// One-shot helper: connect, send, read one response.
RawResponse roundTrip(int port, const std::string& request,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
int freePort();

}  // namespace proxy::test
