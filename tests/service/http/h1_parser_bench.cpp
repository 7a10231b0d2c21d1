// Micro-benchmark for parseRequestHead (not a ctest test; run it by hand on an idle machine):
//   build/h-http/tests/service/http/h1_parser_bench [iterations]
// Parses a typical ~400-byte browser request head into a reused RequestHead and prints ns/parse,
// both wall clock and CPU time of this thread (the CPU figure is the one that stays meaningful on
// a busy machine: the proxy budget is ~1 us of user CPU per request).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>

#include "http/h1_parser.h"

using namespace proxy::http;

namespace {

constexpr std::string_view kRequest =
    "GET /products/search?q=widgets&page=2 HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: "
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "\r\n";

double cpuNow() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
#else
    return static_cast<double>(std::clock()) * (1e9 / CLOCKS_PER_SEC);
#endif
}

}  // namespace

int main(int argc, char** argv) {
    const long iterations = argc > 1 ? std::atol(argv[1]) : 2'000'000;
    RequestHead head;
    H1Limits limits;
    std::size_t sink = 0;
    for (int i = 0; i < 10'000; ++i) sink += parseRequestHead(kRequest, limits, head).consumed;

    double bestWall = 1e30;
    double bestCpu = 1e30;
    for (int round = 0; round < 5; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const double cpuStart = cpuNow();
        for (long i = 0; i < iterations; ++i) {
            const auto r = parseRequestHead(kRequest, limits, head);
            sink += r.consumed + head.headers.size();
        }
        const double cpu = cpuNow() - cpuStart;
        const auto ns =
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                .count();
        bestWall = std::min(bestWall, ns / static_cast<double>(iterations));
        bestCpu = std::min(bestCpu, cpu / static_cast<double>(iterations));
    }
    const auto check = parseRequestHead(kRequest, limits, head);
    if (check.status != ParseStatus::Complete || check.consumed != kRequest.size()) {
        std::fprintf(stderr, "benchmark request did not parse\n");
        return 1;
    }
    std::printf(
        "request head: %zu bytes, %zu fields; best of 5 rounds of %ld: %.1f ns/parse CPU, "
        "%.1f ns/parse wall (sink %zu)\n",
        kRequest.size(), head.headers.size(), iterations, bestCpu, bestWall, sink % 10);
    return 0;
}
