#include "core/tcp_socket.h"

#if PROXY_DRAINED_READS
namespace proxy::core::drained {
namespace {

// asio's epoll reactor keeps, per descriptor, a flag per operation type that says whether the
// next operation is tried at once (try_speculative_), and a mutex that guards it. Both are
// private. They are reached here the one way C++ allows: access is not checked on the template
// arguments of an explicit instantiation, so Expose<&member> may name them and hand the pointer
// to a friend function. One translation unit holds the instantiations.
using State = asio::detail::epoll_reactor::descriptor_state;
using FlagsMember = bool (State::*)[asio::detail::epoll_reactor::max_ops];
using MutexMember = asio::detail::conditionally_enabled_mutex State::*;

struct FlagsTag {
    friend FlagsMember member(FlagsTag);
};
struct MutexTag {
    friend MutexMember member(MutexTag);
};
template <typename Tag, auto M>
struct Expose {
    friend decltype(M) member(Tag) { return M; }
};
template struct Expose<FlagsTag, &State::try_speculative_>;
template struct Expose<MutexTag, &State::mutex_>;

}  // namespace

void setTriesFirst(asio::detail::epoll_reactor::per_descriptor_data state, int opType, bool value) {
    if (state == nullptr) return;
    asio::detail::conditionally_enabled_mutex::scoped_lock lock(state->*member(MutexTag{}));
    (state->*member(FlagsTag{}))[opType] = value;
}

bool triesFirst(asio::detail::epoll_reactor::per_descriptor_data state, int opType) {
    if (state == nullptr) return false;
    asio::detail::conditionally_enabled_mutex::scoped_lock lock(state->*member(MutexTag{}));
    return (state->*member(FlagsTag{}))[opType];
}

}  // namespace proxy::core::drained
#endif
