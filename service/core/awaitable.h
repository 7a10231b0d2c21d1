#pragma once
// The coroutine vocabulary of the data path: awaitables whose errors come back as values
// (no exceptions), on Debian's asio 1.22 (as_tuple is still experimental there) and on newer asio
// from vcpkg alike.

#include <asio/awaitable.hpp>
#include <asio/use_awaitable.hpp>

#if __has_include(<asio/as_tuple.hpp>)
#include <asio/as_tuple.hpp>
namespace proxy::core {
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}
#else
#include <asio/experimental/as_tuple.hpp>
namespace proxy::core {
inline constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
}
#endif
