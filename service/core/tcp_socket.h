#pragma once
// asio's TCP socket, with one change on Linux: a read that empties the socket says so.
//
// asio 1.22's epoll reactor tries every read at once (a "speculative" recvfrom) and only waits
// for readiness when that fails. After one successful read it keeps trying first, so the read for
// a response just after its request was sent, or for the next request just after a response, is
// a recvfrom that returns EAGAIN: about one wasted system call (~1.3 µs on the benchmark VM) per
// proxied request. nginx avoids it by clearing a `ready` flag on a short read; HAProxy the same
// way. asio has that flag (`try_speculative_`), but clears it only at end of stream.
//
// readSome() here reads with recvmsg() and asks the kernel, through TCP_INQ, how many bytes are
// still queued after the read (a FIN counts as one, so a peer's half-close is never missed). When
// nothing is left it tells the reactor the socket is drained (done_and_exhausted), and the next
// read waits for epoll's next edge instead of trying first. Edge-triggered epoll reports every
// arrival after the drain, so no data can be missed: the kernel queues it, and the reactor sees a
// new edge. Without TCP_INQ (the option was not set, or an older kernel) there is no hint and the
// read behaves exactly as asio's. An accepted connection starts drained in the same sense: its
// first read waits for epoll (adoptAccepted).
//
// TCP_INQ is switched on once per socket: on the listening socket (accepted sockets inherit it,
// as they inherit TCP_NODELAY) and on each upstream connection. On Windows (IOCP, where every read
// is an overlapped WSARecv and nothing is speculative) readSome() is asio's async_read_some.

#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <utility>

#if defined(ASIO_HAS_EPOLL) && !defined(PROXY_ASIO_SPECULATIVE_READS)
#define PROXY_DRAINED_READS 1
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/detail/bind_handler.hpp>
#include <asio/detail/epoll_reactor.hpp>
#include <asio/detail/fenced_block.hpp>
#include <asio/detail/handler_alloc_helpers.hpp>
#include <asio/detail/handler_cont_helpers.hpp>
#include <asio/detail/handler_work.hpp>
#include <asio/detail/reactor_op.hpp>
#include <asio/detail/socket_ops.hpp>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#ifndef TCP_INQ
#define TCP_INQ 36
#endif
#ifndef TCP_CM_INQ
#define TCP_CM_INQ TCP_INQ
#endif
#endif

namespace proxy::core {

#if PROXY_DRAINED_READS
namespace drained {

// Whether the reactor tries the next operation of `opType` at once, for the descriptor whose
// reactor state is `state` (tcp_socket.cpp: asio keeps this flag private). asio sets it on every
// epoll event for the descriptor, and clears it when an operation reports done_and_exhausted.
void setTriesFirst(asio::detail::epoll_reactor::per_descriptor_data state, int opType, bool value);
bool triesFirst(asio::detail::epoll_reactor::per_descriptor_data state, int opType);

// How every operation here ends, as asio's own do: the operation's memory is freed first (the
// handler was copied out of it), then the handler runs, unless the reactor is being destroyed
// (no owner), when it is only freed.
template <typename Ptr, typename Work, typename Binder>
void upcall(void* owner, Ptr& p, Work& work, Binder& handler) {
    p.h = asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
        asio::detail::fenced_block fence(asio::detail::fenced_block::half);
        work.complete(handler, handler.handler_);
    }
}

// Starts a read-side operation (a recv or an accept) on a socket's descriptor, as asio's
// reactive socket service does: the descriptor switched to non-blocking mode if it is not yet,
// then tried at once and, when that finds nothing, queued for epoll. `reactor` caches the
// socket's reactor (use_service takes the service registry's mutex).
template <typename Impl, typename Executor>
void startReadOp(Impl& impl, const Executor& executor, asio::detail::epoll_reactor*& reactor,
                 asio::detail::reactor_op* op, bool continuation) {
    if (reactor == nullptr)
        reactor = &asio::use_service<asio::detail::epoll_reactor>(asio::query(executor, asio::execution::context));
    if ((impl.state_ & asio::detail::socket_ops::non_blocking) != 0 ||
        asio::detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, op->ec_)) {
        reactor->start_op(asio::detail::epoll_reactor::read_op, impl.socket_, impl.reactor_data_, op, continuation,
                          true);
    } else {
        reactor->post_immediate_completion(op, continuation);
    }
}

// The reactor operation: asio's stream recv, plus the drained verdict.
template <typename Handler, typename IoExecutor>
class RecvOp : public asio::detail::reactor_op {
public:
    ASIO_DEFINE_HANDLER_PTR(RecvOp);

    RecvOp(int socket, const asio::mutable_buffer& buffer, bool* drained, Handler& handler,
           const IoExecutor& ioExecutor)
        : reactor_op(asio::error_code(), &RecvOp::perform, &RecvOp::complete),
          socket_(socket),
          buffer_(buffer),
          drained_(drained),
          handler_(std::move(handler)),
          work_(handler_, ioExecutor) {}

    static status perform(reactor_op* base) {
        auto* op = static_cast<RecvOp*>(base);
        iovec vector{op->buffer_.data(), op->buffer_.size()};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
        msghdr message{};
        message.msg_iov = &vector;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof(control);
        ssize_t n;
        do {
            n = ::recvmsg(op->socket_, &message, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return not_done;
            op->ec_ = asio::error_code(errno, asio::system_category());
            op->bytes_transferred_ = 0;
            return done_and_exhausted;  // as asio: an error ends speculation until the next event
        }
        op->bytes_transferred_ = static_cast<std::size_t>(n);
        if (n == 0) {
            op->ec_ = asio::error::eof;
            *op->drained_ = true;  // nothing can follow a FIN
            return done_and_exhausted;
        }
        op->ec_ = asio::error_code();
        for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
            if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
                int queued = 0;
                std::memcpy(&queued, CMSG_DATA(c), sizeof(queued));
                *op->drained_ = queued == 0;
                return queued == 0 ? done_and_exhausted : done;
            }
        }
        return done;  // no hint: keep trying first, as asio does
    }

    static void complete(void* owner, asio::detail::operation* base, const asio::error_code&, std::size_t) {
        auto* op = static_cast<RecvOp*>(base);
        ptr p = {asio::detail::addressof(op->handler_), op, op};
        asio::detail::handler_work<Handler, IoExecutor> work(std::move(op->work_));
        // A copy of the handler, so that the operation's memory is freed before the upcall.
        asio::detail::binder2<Handler, asio::error_code, std::size_t> handler(op->handler_, op->ec_,
                                                                             op->bytes_transferred_);
        upcall(owner, p, work, handler);
    }

private:
    int socket_;
    asio::mutable_buffer buffer_;
    bool* drained_;  // the socket's verdict, written while the socket is registered (it outlives us)
    Handler handler_;
    asio::detail::handler_work<Handler, IoExecutor> work_;
};

// The accept operation: asio's, with accept4() so the connection is born non-blocking and
// close-on-exec. perform() runs speculatively first and again on each edge, as asio's does.
template <typename Handler, typename IoExecutor, typename Socket>
class AcceptOp : public asio::detail::reactor_op {
public:
    ASIO_DEFINE_HANDLER_PTR(AcceptOp);

    AcceptOp(int listener, Socket& into, asio::ip::tcp::endpoint& peer, Handler& handler,
             const IoExecutor& ioExecutor)
        : reactor_op(asio::error_code(), &AcceptOp::perform, &AcceptOp::complete),
          listener_(listener),
          into_(into),
          peer_(peer),
          handler_(std::move(handler)),
          work_(handler_, ioExecutor) {}
    ~AcceptOp() {
        if (fd_ >= 0) ::close(fd_);  // accepted, but never handed over (the context was destroyed)
    }

    static status perform(reactor_op* base) {
        auto* op = static_cast<AcceptOp*>(base);
        socklen_t length = sizeof(op->address_);
        int fd;
        do {
            fd = ::accept4(op->listener_, reinterpret_cast<sockaddr*>(&op->address_), &length,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            // Empty queue: wait for the next edge. A connection that was reset while queued
            // (ECONNABORTED, EPROTO) is not the listener's failure either: as asio, try again.
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO)
                return not_done;
            op->ec_ = asio::error_code(errno, asio::system_category());
            return done;
        }
        op->fd_ = fd;
        op->length_ = length;
        op->ec_ = asio::error_code();
        return done;
    }

    static void complete(void* owner, asio::detail::operation* base, const asio::error_code&, std::size_t) {
        auto* op = static_cast<AcceptOp*>(base);
        ptr p = {asio::detail::addressof(op->handler_), op, op};
        asio::detail::handler_work<Handler, IoExecutor> work(std::move(op->work_));
        asio::error_code ec = op->ec_;
        if (owner && !ec && op->fd_ >= 0) {
            ec = op->into_.adoptAccepted(op->fd_, op->address_.ss_family);
            op->fd_ = -1;  // adopted, or closed by adoptAccepted
            if (!ec && op->length_ <= op->peer_.capacity()) {
                std::memcpy(op->peer_.data(), &op->address_, op->length_);
                op->peer_.resize(op->length_);
            }
        }
        asio::detail::binder1<Handler, asio::error_code> handler(op->handler_, ec);
        upcall(owner, p, work, handler);
    }

private:
    int listener_;
    Socket& into_;
    asio::ip::tcp::endpoint& peer_;
    sockaddr_storage address_{};
    socklen_t length_ = 0;
    int fd_ = -1;
    Handler handler_;
    asio::detail::handler_work<Handler, IoExecutor> work_;
};

}  // namespace drained
#endif

class TcpSocket : public asio::ip::tcp::socket {
public:
    explicit TcpSocket(const asio::any_io_executor& executor) : asio::ip::tcp::socket(executor) {}
    explicit TcpSocket(asio::ip::tcp::socket&& socket) : asio::ip::tcp::socket(std::move(socket)) {}

    // Reads what is there (at least one byte), like async_read_some.
    template <typename Token>
    auto readSome(const asio::mutable_buffer& buffer, Token&& token) {
#if PROXY_DRAINED_READS
        return asio::async_initiate<Token, void(asio::error_code, std::size_t)>(
            [](auto handler, TcpSocket* self, asio::mutable_buffer b) { self->startRead(b, handler); }, token,
            this, buffer);
#else
        return async_read_some(buffer, std::forward<Token>(token));
#endif
    }

    // Asks the kernel to report, with every read, what is left queued (see above). Linux only;
    // elsewhere, and on failure, reads behave as asio's.
    void enableDrainHint() {
#if PROXY_DRAINED_READS
        const int on = 1;
        (void)::setsockopt(native_handle(), SOL_TCP, TCP_INQ, &on, sizeof(on));
#endif
    }

    // Elsewhere than Linux each connection sets TCP_NODELAY itself (Linux connections inherit it
    // from the listener: TcpListener::prepare).
    void setNoDelayIfNotInherited() {
#if !defined(__linux__)
        asio::error_code ignored;
        set_option(asio::ip::tcp::no_delay(true), ignored);
#endif
    }

    // Whether unread bytes wait on the socket now (a lingering close needs to know). When the
    // last read took everything queued, or the peer's FIN, the drain hint answers without a
    // system call (bytes may still be on their way; no one can know that). Otherwise (no read
    // yet, no hint, Windows) the kernel is asked (FIONREAD). An error counts as nothing unread:
    // the connection is gone.
    bool hasUnread() {
#if PROXY_DRAINED_READS
        if (drained_) return false;
#endif
        asio::error_code ec;
        const std::size_t n = available(ec);
        return !ec && n > 0;
    }

#if PROXY_DRAINED_READS
    // Takes over `fd`, a connection accept4() made non-blocking and close-on-exec (this socket:
    // closed, on the worker that is to own it). asio's assign() assumes a descriptor of unknown
    // origin: possibly duplicated (so it is removed from epoll with an explicit EPOLL_CTL_DEL
    // before closing) and blocking (so the first operation switches it with an ioctl(FIONBIO)).
    // An accepted connection is neither (the service never forks): two system calls less per
    // connection. On failure `fd` is closed.
    asio::error_code adoptAccepted(int fd, int family) {
        asio::error_code ec;
        assign(family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd, ec);
        if (ec) {
            ::close(fd);
            return ec;
        }
        auto& impl = impl_.get_implementation();
        impl.state_ = static_cast<asio::detail::socket_ops::state_type>(
            (impl.state_ & ~asio::detail::socket_ops::possible_dup) | asio::detail::socket_ops::internal_non_blocking);
        // The first read waits for epoll instead of trying at once, as nginx's does: a request
        // is rarely there yet when its connection is accepted, so that try was a recvmsg
        // returning EAGAIN on almost every new connection. Nothing can be missed whatever runs
        // before the read: EPOLL_CTL_ADD (just done, by assign) reports a socket that is already
        // readable, and any epoll event for the socket sets the flag again, so a read started
        // after an event that found no read waiting tries at once.
        drained::setTriesFirst(impl.reactor_data_, asio::detail::epoll_reactor::read_op, false);
        return ec;
    }

    // Whether the next read tries at once (true) or waits for epoll (false). For tests.
    bool readTriesFirst() {
        return drained::triesFirst(impl_.get_implementation().reactor_data_, asio::detail::epoll_reactor::read_op);
    }
#endif

private:
#if PROXY_DRAINED_READS
    template <typename Handler>
    void startRead(const asio::mutable_buffer& buffer, Handler& handler) {
        auto& impl = impl_.get_implementation();
        drained_ = false;  // until this read says otherwise
        // Per-operation cancellation and empty reads take asio's own path, unchanged.
        if (buffer.size() == 0 || asio::get_associated_cancellation_slot(handler).is_connected()) {
            async_read_some(buffer, std::move(handler));
            return;
        }
        using Executor = std::decay_t<decltype(impl_.get_executor())>;
        using Op = drained::RecvOp<Handler, Executor>;
        const bool continuation = asio_handler_cont_helpers::is_continuation(handler);
        typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
        p.p = new (p.v) Op(impl.socket_, buffer, &drained_, handler, impl_.get_executor());
        drained::startReadOp(impl, impl_.get_executor(), reactor_, p.p, continuation);
        p.v = p.p = nullptr;
    }

    asio::detail::epoll_reactor* reactor_ = nullptr;
    bool drained_ = false;
#endif
};

// A listening socket. On Linux it accepts with accept4() (drained::AcceptOp): asio's acceptor
// accepts with a plain accept() and then spends an ioctl(FIONBIO) per connection on making it
// non-blocking. There it is an asio socket (whose internals a derived class may reach, where the
// acceptor's are private) with listen() and acceptInto() added; elsewhere it is asio's acceptor.
// Both offer what the engine uses: open, set_option, bind, listen, prepare, close, is_open.
#if PROXY_DRAINED_READS
class TcpListener : public asio::ip::tcp::socket {
public:
    explicit TcpListener(const asio::any_io_executor& executor) : asio::ip::tcp::socket(executor) {}

    void listen(int backlog, asio::error_code& ec) {
        ec = ::listen(native_handle(), backlog) == 0 ? asio::error_code()
                                                     : asio::error_code(errno, asio::system_category());
    }
#else
class TcpListener : public asio::ip::tcp::acceptor {
public:
    explicit TcpListener(const asio::any_io_executor& executor) : asio::ip::tcp::acceptor(executor) {}
#endif

    // Call once it listens. Sets the options every accepted socket inherits from its listening
    // socket on Linux (which copies the listener's TCP options into each connection): TCP_NODELAY,
    // so a connection needs no setsockopt of its own, and the drain hint (TCP_INQ).
    void prepare() {
#if defined(__linux__)
        asio::error_code ignored;
        set_option(asio::ip::tcp::no_delay(true), ignored);
#if PROXY_DRAINED_READS
        const int on = 1;
        (void)::setsockopt(native_handle(), SOL_TCP, TCP_INQ, &on, sizeof(on));
#endif
#endif
    }

#if PROXY_DRAINED_READS
    // Accepts the next connection into `socket` (closed; its executor is the worker that is to
    // own it), fills `peer`, and completes with the error. Like async_accept, it first tries at
    // once (accept4 returning EAGAIN when nothing is queued) and otherwise waits for epoll.
    template <typename Token>
    auto acceptInto(TcpSocket& socket, asio::ip::tcp::endpoint& peer, Token&& token) {
        return asio::async_initiate<Token, void(asio::error_code)>(
            [](auto handler, TcpListener* self, TcpSocket* into, asio::ip::tcp::endpoint* to) {
                self->startAccept(*into, *to, handler);
            },
            token, this, &socket, &peer);
    }

private:
    template <typename Handler>
    void startAccept(TcpSocket& into, asio::ip::tcp::endpoint& peer, Handler& handler) {
        auto& impl = impl_.get_implementation();
        using Executor = std::decay_t<decltype(impl_.get_executor())>;
        using Op = drained::AcceptOp<Handler, Executor, TcpSocket>;
        const bool continuation = asio_handler_cont_helpers::is_continuation(handler);
        typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
        p.p = new (p.v) Op(impl.socket_, into, peer, handler, impl_.get_executor());
        drained::startReadOp(impl, impl_.get_executor(), reactor_, p.p, continuation);
        p.v = p.p = nullptr;
    }

    asio::detail::epoll_reactor* reactor_ = nullptr;
#endif
};

}  // namespace proxy::core
