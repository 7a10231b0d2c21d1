#include "core/worker.h"

#include <random>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/session.h"

namespace proxy::core {
namespace {
// The sweep runs often enough for the shortest timeout to be honoured within ~25%.
std::chrono::milliseconds sweepInterval(const Snapshot* s) {
    if (s == nullptr) return std::chrono::milliseconds(250);
    const auto& t = s->config->timeouts;
    auto shortest = std::min({t.header, t.clientIdle, t.upstreamConnect, t.upstreamResponse, t.tunnelIdle});
    return std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}
}  // namespace

void SessionList::add(Session* s) {
    s->prev = nullptr;
    s->next = head_;
    if (head_ != nullptr) head_->prev = s;
    head_ = s;
    ++size_;
}

void SessionList::remove(Session* s) {
    if (s->prev != nullptr) s->prev->next = s->next;
    else head_ = s->next;
    if (s->next != nullptr) s->next->prev = s->prev;
    s->next = s->prev = nullptr;
    --size_;
}

Session* SessionList::sessionNext(Session* s) { return s->next; }

Worker::Worker(unsigned id, int concurrencyHint)
    : id_(id), io_(concurrencyHint), sweepTimer_(io_), work_(asio::make_work_guard(io_)) {
    std::random_device rd;
    requestIdSeed_ = rd();
}

Worker::~Worker() { join(); }

void Worker::start() {
    scheduleSweep();
    thread_ = std::thread([this] { io_.run(); });
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::setSnapshot(std::shared_ptr<const Snapshot> s) { snapshot_ = std::move(s); }

void Worker::beginDrain() {
    draining_ = true;
    sessions_.forEach([](Session* s) { s->closeIfIdle(); });
    pool_.clear();
}

void Worker::abortAll() {
    sessions_.forEach([](Session* s) { s->abort(); });
    pool_.clear();
    sweepTimer_.cancel();
    work_.reset();
}

void Worker::scheduleSweep() {
    sweepTimer_.expires_after(sweepInterval(snapshot_.get()));
    sweepTimer_.async_wait([this](const asio::error_code& ec) {
        if (ec) return;
        sweep();
        scheduleSweep();
    });
}

void Worker::sweep() {
    const auto now = std::chrono::steady_clock::now();
    wall_.refresh();
    trimDue_.clear();
    sessions_.forEach([this, now](Session* s) {
        s->checkDeadline(now);
        if (s->trimDue(now)) trimDue_.push_back(s);
    });
    pool_.sweep(now);  // first, so what the pool closes is handed back below too
    // Many connections went idle at once (a burst of clients that now keep their connections
    // open): what they give back would sit in the allocator's free lists. Hand it to the OS, so
    // 10,000 idle keep-alive clients cost what they hold, not what the burst needed
    // (docs/performance.md).
    const bool bulk = trimDue_.size() >= kTrimReleaseThreshold;
    if (bulk) beforeBulkTrim();
    for (Session* s : trimDue_) s->trim();
    if (bulk) afterBulkTrim();
    if (trimDue_.capacity() > 4 * kTrimReleaseThreshold) trimDue_ = std::vector<Session*>();
}

namespace {
void (*releaseBefore)() = nullptr;
void (*releaseAfter)() = nullptr;
}  // namespace

void Worker::setFreeMemoryReleaser(void (*before)(), void (*after)()) {
    releaseBefore = before;
    releaseAfter = after;
}

void Worker::beforeBulkTrim() {
    if (releaseBefore != nullptr) releaseBefore();
}

void Worker::afterBulkTrim() {
    if (releaseAfter != nullptr) {
        releaseAfter();
        return;
    }
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    // Windows: the process heap decommits large free blocks on its own.
}

}  // namespace proxy::core
