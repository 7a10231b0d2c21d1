#pragma once
// A connection's byte stream: a TCP socket, or TLS over that socket. The session and the upstream
// code read and write through it and never ask which one it is, so HTTP does not care whether
// TLS is underneath. Plain TCP pays one predictable branch per call, no virtual call and no
// extra coroutine frame: each call returns the same asio operation the socket would.

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "build_info.h"
#include "tcp_socket.h"
#if PROXY_WITH_OPENSSL
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#endif

namespace proxy::core {

class Stream {
public:
    explicit Stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
    explicit Stream(const asio::any_io_executor& executor) : socket_(executor) {}
    // The TLS layer keeps a reference to socket_: a Stream never moves.
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    TcpSocket& socket() { return socket_; }
    bool tls() const {
#if PROXY_WITH_OPENSSL
        return tls_ != nullptr;
#else
        return false;
#endif
    }

    // Reads what is there (at least one byte), like socket.async_read_some. Plain TCP reads
    // through TcpSocket::readSome, which skips the read that would only return EAGAIN.
    template <typename Token>
    auto readSome(const asio::mutable_buffer& buffer, Token&& token) {
#if PROXY_WITH_OPENSSL
        if (tls_) return tls_->async_read_some(buffer, std::forward<Token>(token));
#endif
        return socket_.readSome(buffer, std::forward<Token>(token));
    }

    // Writes every buffer, like asio::async_write. Over TLS a gather of several buffers is first
    // copied into one, so it leaves as full records rather than one small record per buffer.
    template <typename Buffers, typename Token>
    auto write(const Buffers& buffers, Token&& token) {
#if PROXY_WITH_OPENSSL
        if (tls_) return asio::async_write(*tls_, stage(buffers), std::forward<Token>(token));
#endif
        return asio::async_write(socket_, buffers, std::forward<Token>(token));
    }

    // Plain TCP on Linux: writes what the kernel takes at once (sendmsg with MSG_DONTWAIT) and
    // returns the bytes written. asio posts the completion of even a write that finished at once,
    // so every write cost a trip through the scheduler (a queue push, its mutex, a handler
    // dispatch, the coroutine's resumption); most writes finish at once, so try that first and
    // leave only the rest (restAfter) to write(). Returns 0 when the socket would block, on an
    // error (the write() that follows reports it), over TLS, and elsewhere (nothing is tried).
    std::size_t writeNow(std::span<const asio::const_buffer> buffers) {
#if PROXY_DRAINED_READS
        if (tls() || buffers.empty()) return 0;
        constexpr std::size_t kMaxPieces = 64;
        iovec pieces[kMaxPieces];
        const std::size_t count = std::min(buffers.size(), kMaxPieces);
        for (std::size_t i = 0; i < count; ++i)
            pieces[i] = iovec{const_cast<void*>(buffers[i].data()), buffers[i].size()};
        msghdr message{};
        message.msg_iov = pieces;
        message.msg_iovlen = count;
        ssize_t n;
        do {
            n = ::sendmsg(socket_.native_handle(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        return n > 0 ? static_cast<std::size_t>(n) : 0;
#else
        (void)buffers;
        return 0;
#endif
    }
    // The buffers after their first `written` bytes; `storage` holds them when some are left.
    static std::span<const asio::const_buffer> restAfter(std::span<const asio::const_buffer> buffers,
                                                         std::size_t written,
                                                         std::vector<asio::const_buffer>& storage) {
        std::size_t i = 0;
        while (i < buffers.size() && written >= buffers[i].size()) written -= buffers[i++].size();
        if (written == 0) return buffers.subspan(i);
        storage.assign(buffers.begin() + static_cast<std::ptrdiff_t>(i), buffers.end());
        storage.front() += written;
        return storage;
    }

    void cancel() {
        asio::error_code ignored;
        socket_.cancel(ignored);
    }
    void close() {
        asio::error_code ignored;
        socket_.close(ignored);
    }
    // Passes a half-close on (plain TCP). Over TLS the socket's send side is shut without a
    // close_notify; see closeNotify() for the orderly end.
    void shutdownSend() {
        asio::error_code ignored;
        socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    }
    // The peer's end of the stream: a TCP FIN, a TLS close_notify, or over TLS a close without
    // close_notify (which many servers do; a length-delimited body is checked by its framing).
    static bool isEof(const asio::error_code& ec) {
#if PROXY_WITH_OPENSSL
        if (ec == asio::ssl::error::stream_truncated) return true;
#endif
        return ec == asio::error::eof;
    }
    // Gives back the staging buffer of an idle connection.
    void trim() { staging_ = std::string(); }

#if PROXY_WITH_OPENSSL
    using TlsStream = asio::ssl::stream<asio::ip::tcp::socket&>;
    // Puts TLS over the socket (before the handshake). `context` must outlive the stream.
    void startTls(asio::ssl::context& context) {
        tls_ = std::make_unique<TlsStream>(socket_, context);
    }
    TlsStream* tlsStream() { return tls_.get(); }
    SSL* ssl() { return tls_ ? tls_->native_handle() : nullptr; }
    // Sends close_notify without waiting for the peer's (as web servers do): the operation ends
    // once ours is written. Bound it with a deadline: a peer that does not read can stall it.
    template <typename Token>
    auto closeNotify(Token&& token) {
        SSL_set_shutdown(tls_->native_handle(), SSL_RECEIVED_SHUTDOWN);
        return tls_->async_shutdown(std::forward<Token>(token));
    }
#endif

private:
#if PROXY_WITH_OPENSSL
    template <typename Buffers>
    asio::const_buffer stage(const Buffers& buffers) {
        auto it = asio::buffer_sequence_begin(buffers);
        const auto end = asio::buffer_sequence_end(buffers);
        if (it == end) return {};
        if (std::next(it) == end) return asio::const_buffer(*it);
        staging_.clear();
        for (; it != end; ++it) {
            const asio::const_buffer b(*it);
            staging_.append(static_cast<const char*>(b.data()), b.size());
        }
        return asio::buffer(staging_);
    }
#endif

    TcpSocket socket_;
#if PROXY_WITH_OPENSSL
    std::unique_ptr<TlsStream> tls_;
#endif
    std::string staging_;  // TLS only: a gathered write, copied into one buffer
};

}  // namespace proxy::core
