#pragma once
// A tiny HTTP/1.1 responder for Prometheus scrapes, separate from the proxy's data path: it runs on
// the io_context it is given (the runtime's control io_context), answers GET /metrics (and
// /healthz), and closes each connection after one response. Bounded: requests up to 8 KiB, 5 s to
// send them, at most 16 connections at once. Loopback by default (docs/logging.md).

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>

namespace proxy::metrics {

class MetricsHttpServer {
public:
    // render() is called on the io_context's thread for each scrape.
    MetricsHttpServer(asio::io_context& io, std::function<std::string()> render);
    ~MetricsHttpServer();

    // Binds and starts accepting. address is a literal IP ("127.0.0.1", "::1"); port 0 picks one.
    std::expected<void, std::string> start(const std::string& address = "127.0.0.1",
                                           std::uint16_t port = 9145);
    // Closes the acceptor and open connections. Call on the io_context's thread (or after it
    // stopped running).
    void stop();
    std::uint16_t port() const { return port_; }
    std::uint64_t scrapes() const { return scrapes_; }

    // The response to one request head ("GET /metrics HTTP/1.1\r\n..."); public for tests.
    std::string respond(std::string_view head);

private:
    struct Connection;
    void accept();

    asio::io_context& io_;
    std::function<std::string()> render_;
    asio::ip::tcp::acceptor acceptor_;
    std::uint16_t port_ = 0;
    std::uint64_t scrapes_ = 0;
    std::shared_ptr<int> open_;  // connection count; connections hold a weak_ptr to it
};

}  // namespace proxy::metrics
