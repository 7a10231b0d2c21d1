#include "upstream/detached_lookup.h"

#include <asio/post.hpp>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/awaitable.h"

namespace proxy::upstream {
namespace {

// What the lookup thread and the waiting coroutine share. `waiter` is set while the coroutine
// waits, and only then does the thread wake it: the io_context is alive and running while one of
// its coroutines waits on a timer, so the thread never posts to a context that is gone.
struct Shared {
    std::mutex mutex;
    std::optional<LookupResult> answer;
    std::shared_ptr<asio::steady_timer> waiter;
};

}  // namespace

asio::awaitable<std::optional<LookupResult>> lookupDetached(std::string host, LookupFn lookup,
                                                            std::shared_ptr<asio::steady_timer> wake) {
    auto shared = std::make_shared<Shared>();
    wake->expires_at(asio::steady_timer::time_point::max());
    shared->waiter = wake;
    try {
        std::thread([shared, host = std::move(host), lookup = std::move(lookup)] {
            LookupResult answer = lookup(host);
            std::lock_guard lock(shared->mutex);
            shared->answer = std::move(answer);
            if (auto timer = shared->waiter) asio::post(timer->get_executor(), [timer] { timer->cancel(); });
        }).detach();
    } catch (const std::system_error& e) {
        co_return LookupResult(std::unexpected(std::string("no thread for the lookup: ") + e.what()));
    }
    co_await wake->async_wait(core::kNoThrow);
    std::lock_guard lock(shared->mutex);
    shared->waiter.reset();
    co_return std::move(shared->answer);  // nullopt when the caller ended the wait first
}

}  // namespace proxy::upstream
