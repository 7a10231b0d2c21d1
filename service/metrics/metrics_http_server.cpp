#include "metrics/metrics_http_server.h"

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

namespace proxy::metrics {
namespace {

constexpr std::size_t kMaxRequest = 8 * 1024;
constexpr int kMaxConnections = 16;

std::string response(int status, std::string_view reason, std::string_view type, const std::string& body,
                     bool head) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    out += "Content-Type: " + std::string(type) + "\r\n";
    out += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
    if (!head) out += body;
    return out;
}

}  // namespace

struct MetricsHttpServer::Connection : std::enable_shared_from_this<Connection> {
    Connection(asio::io_context& io, MetricsHttpServer& owner, std::shared_ptr<int> open)
        : socket(io), timer(io), server(owner), count(std::move(open)) {}
    ~Connection() {
        if (auto c = count.lock()) --*c;
    }

    void start() {
        timer.expires_after(std::chrono::seconds(5));
        timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
            if (!ec) {
                asio::error_code ignored;
                self->socket.close(ignored);
            }
        });
        asio::async_read_until(socket, buffer, "\r\n\r\n",
                               [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                                   self->onHead(ec, n);
                               });
    }

    void onHead(const asio::error_code& ec, std::size_t n) {
        if (ec) {  // closed, timed out, or larger than kMaxRequest
            timer.cancel();
            return;
        }
        const std::string head(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + static_cast<std::ptrdiff_t>(n));
        if (count.expired()) return;  // the server stopped meanwhile
        out = server.respond(head);
        asio::async_write(socket, asio::buffer(out), [self = shared_from_this()](const asio::error_code&, std::size_t) {
            asio::error_code ignored;
            self->socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
            self->socket.close(ignored);
            self->timer.cancel();
        });
    }

    asio::ip::tcp::socket socket;
    asio::steady_timer timer;
    asio::streambuf buffer{kMaxRequest};
    std::string out;
    MetricsHttpServer& server;  // not owned; outlives connections while count is alive
    std::weak_ptr<int> count;
};

MetricsHttpServer::MetricsHttpServer(asio::io_context& io, std::function<std::string()> render)
    : io_(io), render_(std::move(render)), acceptor_(io) {}

MetricsHttpServer::~MetricsHttpServer() { stop(); }

std::expected<void, std::string> MetricsHttpServer::start(const std::string& address, std::uint16_t port) {
    asio::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec) return std::unexpected("metrics listener: '" + address + "' is not an IP address");
    const asio::ip::tcp::endpoint endpoint(ip, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        asio::error_code ignored;
        acceptor_.close(ignored);
        return std::unexpected("metrics listener: cannot listen on " + address + ":" +
                               std::to_string(port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    open_ = std::make_shared<int>(0);
    accept();
    return {};
}

void MetricsHttpServer::stop() {
    asio::error_code ignored;
    acceptor_.close(ignored);
    open_.reset();  // connections still running see the server gone and only close
}

void MetricsHttpServer::accept() {
    auto connection = std::make_shared<Connection>(io_, *this, open_);
    acceptor_.async_accept(connection->socket, [this, connection](const asio::error_code& ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (!ec && open_ && *open_ < kMaxConnections) {
            ++*open_;
            connection->start();
        } else if (!ec) {
            asio::error_code ignored;
            connection->socket.close(ignored);  // over the bound: refuse rather than queue
        }
        accept();
    });
}

std::string MetricsHttpServer::respond(std::string_view head) {
    const auto lineEnd = head.find("\r\n");
    const std::string_view line = head.substr(0, lineEnd);
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1."))
        return response(400, "Bad Request", "text/plain", "bad request\n", false);
    const std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    const bool headOnly = method == "HEAD";
    if (method != "GET" && !headOnly)
        return response(405, "Method Not Allowed", "text/plain", "GET only\n", false);
    if (target == "/metrics") {
        ++scrapes_;
        return response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", render_(), headOnly);
    }
    if (target == "/healthz") return response(200, "OK", "text/plain", "ok\n", headOnly);
    return response(404, "Not Found", "text/plain", "try /metrics\n", headOnly);
}

}  // namespace proxy::metrics
