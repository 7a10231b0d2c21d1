#pragma once
// An in-process fake upstream on 127.0.0.1, port 0. Each connection gets a thread that reads
// requests (Content-Length or chunked bodies) and answers by path:
//   /echo           200, body = the request head as received, "\n--\n", then the body
//   /chunked        200, chunked body "alpha" "beta" "gamma"
//   /until-close    200 without length, body "streamed-until-close", then close
//   /slow/<ms>      waits <ms> before a 200
//   /die-mid-body   head with Content-Length 1000, 10 bytes, then close
//   /big/<bytes>    200 with a body of <bytes> 'x's
//   /bad-response   a response with both Content-Length and Transfer-Encoding
//   /continue       answers Expect: 100-continue with 100, then reads the body and echoes it
//   /early-hints    103 with a Link header, then 200
//   /ws             101 Switching Protocols, then echoes every byte until close
//   /status/<code>  that status with no body (204, 304) or a short body
//   /close          200 with Connection: close, then closes
//   /quiet-close    200 "quiet <name> <method>" without Connection: close, then closes (an origin
//                   that drops idle keep-alive connections right away)
//   /gen?...        a generated response, described by its query (for compression tests):
//                   status=N (200), type=T (Content-Type, omitted when absent), len=N (body size),
//                   kind=text|random (the body: generatedBody(kind, len)), framing=cl|chunked|close
//                   (cl), piece=N (chunk size for chunked, 4096), h=Name:Value (an extra header,
//                   repeatable); values are percent-decoded
//   /cache/<any>?.. for cache tests: 200 with body "<name> n=<serial> path=<target>" (serial:
//                   how many requests the origin had so far, so a test tells a stored copy
//                   from a fresh one) and, with echo=Header, " Header=<its value>"; h=Name:Value
//                   adds a header (repeatable), len=N pads the body with '.' to N bytes, and
//                   etag=E sends ETag: "E" and answers 304 to an If-None-Match holding it
//   anything else   200, body "<name> <method> <target>"
// setFailStatus(code) overrides all of these: every request gets that status. setDelay(ms) slows
// every answer; setDropRequests(true) closes each connection after reading a request, unanswered.
// Every request is recorded, so a test can prove what was (or was not) forwarded.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace proxy::test {

struct OriginRequest {
    std::string head;  // raw head as received
    std::string body;  // de-chunked
    std::string method, target;
    std::string header(const std::string& name) const;  // case-insensitive, first match
    int connection = 0;  // which accepted connection carried it (1-based)
};

class FakeOrigin {
public:
    // The body /gen serves: "text" is compressible prose, "random" does not compress (the same
    // bytes for the same size every time).
    static std::string generatedBody(const std::string& kind, std::size_t size);

    explicit FakeOrigin(std::string name);
    // Listens on another loopback IPv4 address (such as 127.0.0.2) and/or a given port (0 = any).
    // port() is 0 when that address and port cannot be bound.
    FakeOrigin(std::string name, const std::string& ipv4, int port);
    ~FakeOrigin();
    FakeOrigin(const FakeOrigin&) = delete;
    FakeOrigin& operator=(const FakeOrigin&) = delete;

    int port() const { return port_; }
    const std::string& name() const { return name_; }
    std::vector<OriginRequest> requests() const;
    std::size_t requestCount() const;
    int connectionsAccepted() const { return connections_.load(); }
    // Whether this origin has closed its side of that connection (OriginRequest::connection).
    bool connectionClosed(int connection) const;
    // Stops listening and closes every connection (an origin that dies).
    void stop();
    // Non-zero: every request, whatever its path, gets this status (an origin that is failing).
    void setFailStatus(int status) { failStatus_ = status; }
    // Every answer waits this long first (a slow origin).
    void setDelay(int ms) { delayMs_ = ms; }
    // True: read each request, then close without answering (an origin that dies mid-exchange).
    void setDropRequests(bool drop) { drop_ = drop; }
    // How many requests had this exact target (e.g. "/health").
    std::size_t countTarget(const std::string& target) const;

private:
    void acceptLoop();
    void serve(int fd, int connection);

    std::string name_;
    int listenFd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<int> connections_{0};
    std::atomic<int> failStatus_{0};
    std::atomic<int> delayMs_{0};
    std::atomic<bool> drop_{false};
    std::thread acceptThread_;
    mutable std::mutex mutex_;
    std::vector<OriginRequest> requests_;
    std::vector<std::thread> threads_;
    std::vector<int> fds_;
    std::vector<int> closedConnections_;
};

}  // namespace proxy::test
