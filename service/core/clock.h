#pragma once
// Clock reads on the data path. A request used to read steady_clock about 13 times (every
// deadline, idle mark and timing) plus system_clock once; under kvm-clock each read costs ~50 ns,
// so together they were worth ~0.7 µs per request (docs/performance.md, "Clock reads").
// What needs a precise time (the exchange's timings) still reads steady_clock; deadlines and idle
// marks, which the worker's sweep checks only every quarter of the shortest timeout, read the
// kernel's tick-granular copy of the same clock; the wall time of a request is derived from its
// steady start through a reference pair the worker refreshes.

#include <chrono>
#if defined(__linux__)
#include <time.h>
#endif

namespace proxy::core {

using Clock = std::chrono::steady_clock;

// steady_clock's time, at most one kernel tick (1-10 ms) behind it, never ahead: for deadlines
// and idle marks. ~5 ns instead of ~50 (CLOCK_MONOTONIC_COARSE is CLOCK_MONOTONIC, the clock
// libstdc++'s steady_clock reads, as of the last tick). Elsewhere it is steady_clock itself.
inline Clock::time_point coarseNow() noexcept {
#if defined(__linux__) && defined(__GLIBCXX__) && defined(_GLIBCXX_USE_CLOCK_MONOTONIC)
    timespec ts;
    if (::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == 0)
        return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
            std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#endif
    return Clock::now();
}

// Maps steady time points to wall time through one (steady, system) pair read together. The
// owner refreshes it at least once a second (the worker's sweep), so a stepped or slewed system
// clock shows up within that second; in between, the error is the clocks' drift (microseconds).
class WallClockMap {
public:
    WallClockMap() { refresh(); }
    void refresh() noexcept {
        steady_ = Clock::now();
        system_ = std::chrono::system_clock::now();
    }
    std::chrono::system_clock::time_point at(Clock::time_point t) const noexcept {
        return system_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(t - steady_);
    }

private:
    Clock::time_point steady_;
    std::chrono::system_clock::time_point system_;
};

}  // namespace proxy::core
