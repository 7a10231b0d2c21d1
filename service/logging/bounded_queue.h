#pragma once
// A bounded multi-producer, single-consumer queue of fixed slots (Dmitry Vyukov's bounded queue).
// Producers never wait and never allocate: tryPush() claims a slot with one CAS, lets the caller
// fill it in place, then publishes it; when the queue is full it returns false at once. The single
// consumer (the access log's writer thread) drains in order.

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

namespace proxy::logging {

template <typename T>
class BoundedQueue {
public:
    // capacity is rounded up to a power of two (at least 2).
    explicit BoundedQueue(std::size_t capacity)
        : mask_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity) - 1),
          cells_(std::make_unique<Cell[]>(mask_ + 1)) {
        for (std::size_t i = 0; i <= mask_; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
    }

    std::size_t capacity() const { return mask_ + 1; }

    // Calls fill(T&, sequenceNumber) on a free slot and publishes it. False when full (fill is not
    // called). Safe from any number of threads.
    template <typename Fill>
    bool tryPush(Fill&& fill) {
        std::size_t pos = enqueue_.load(std::memory_order_relaxed);
        for (;;) {
            Cell& cell = cells_[pos & mask_];
            const std::size_t seq = cell.sequence.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
            if (diff == 0) {
                if (enqueue_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    fill(cell.value, static_cast<std::uint64_t>(pos));
                    cell.sequence.store(pos + 1, std::memory_order_release);
                    return true;
                }
            } else if (diff < 0) {
                return false;  // full: the consumer has not freed this slot yet
            } else {
                pos = enqueue_.load(std::memory_order_relaxed);
            }
        }
    }

    // Consumer only: calls take(const T&) on up to max published slots in order; returns how many.
    template <typename Take>
    std::size_t drain(std::size_t max, Take&& take) {
        std::size_t n = 0;
        while (n < max) {
            Cell& cell = cells_[dequeue_ & mask_];
            const std::size_t seq = cell.sequence.load(std::memory_order_acquire);
            if (seq != dequeue_ + 1) break;  // empty, or the producer is still filling it
            take(static_cast<const T&>(cell.value));
            cell.sequence.store(dequeue_ + mask_ + 1, std::memory_order_release);
            ++dequeue_;
            ++n;
        }
        return n;
    }

    // Consumer only: up to max published slots from the read position, in order, read in place
    // (no copy): calls use(first, stride, n) with n >= 1 slots `stride` bytes apart, then frees
    // them. The slots stop at the end of the ring, so a call may see fewer than are published;
    // returns n (0 when nothing is published: use is not called).
    template <typename Use>
    std::size_t drainInPlace(std::size_t max, Use&& use) {
        std::size_t n = 0;
        const std::size_t untilWrap = mask_ + 1 - (dequeue_ & mask_);
        if (max > untilWrap) max = untilWrap;
        while (n < max && cells_[(dequeue_ + n) & mask_].sequence.load(std::memory_order_acquire) == dequeue_ + n + 1)
            ++n;
        if (n == 0) return 0;
        use(static_cast<const T*>(&cells_[dequeue_ & mask_].value), sizeof(Cell), n);
        for (std::size_t i = 0; i < n; ++i)
            cells_[(dequeue_ + i) & mask_].sequence.store(dequeue_ + i + mask_ + 1, std::memory_order_release);
        dequeue_ += n;
        return n;
    }

    // Approximate number of queued items (for stats).
    std::size_t sizeApprox() const {
        const std::size_t e = enqueue_.load(std::memory_order_relaxed);
        const std::size_t d = dequeueShared_.load(std::memory_order_relaxed);
        return e >= d ? e - d : 0;
    }
    void publishDequeuePosition() { dequeueShared_.store(dequeue_, std::memory_order_relaxed); }

private:
    struct alignas(64) Cell {
        std::atomic<std::size_t> sequence{0};
        T value;
    };
    const std::size_t mask_;
    std::unique_ptr<Cell[]> cells_;
    alignas(64) std::atomic<std::size_t> enqueue_{0};
    alignas(64) std::size_t dequeue_ = 0;  // consumer's own
    std::atomic<std::size_t> dequeueShared_{0};
};

}  // namespace proxy::logging
