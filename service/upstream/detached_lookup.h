#pragma once
// A name lookup that an asio coroutine can wait for without being held by it.
//
// getaddrinfo cannot be interrupted, and asio's asynchronous resolver waits for it: a lookup in
// progress is outstanding work of the io_context, and cancelling it only changes the result it
// will report when getaddrinfo returns. A slow DNS server would so hold a caller past its own
// timeout, and hold an io_context's run() (a thread's join, a service's stop) until the lookup
// returned. lookupDetached() runs the lookup on a detached thread of its own instead and waits
// on `wake`, a timer of the caller's: the answer cancels it, and so may the caller (its deadline,
// a stop). A lookup abandoned this way finishes on its own thread and its answer is dropped.

#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>

#include "upstream/name_resolver.h"

namespace proxy::upstream {

// The addresses of `host` by `lookup` (run on a new detached thread), or nullopt when `wake` was
// cancelled first. `wake` must be a timer on the executor the coroutine runs on; the caller
// cancels it (from that executor) to stop waiting.
asio::awaitable<std::optional<LookupResult>> lookupDetached(std::string host, LookupFn lookup,
                                                            std::shared_ptr<asio::steady_timer> wake);

}  // namespace proxy::upstream
