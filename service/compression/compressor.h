#pragma once
// A streaming zlib compressor for one response body: gzip (RFC 1952) or deflate (the zlib format
// of RFC 1950, which is what the HTTP "deflate" coding means). Input arrives piece by piece; each
// call returns the output it produced, in a buffer the compressor owns and reuses.
//
// Memory. A zlib stream costs about 256 KiB (a 32 KiB window), and a worker may have many
// compressed responses in flight. So:
// - Pieces that may be held back (Flush::None) are first gathered, up to kHoldBack bytes, without
//   a zlib stream; a body that ends within that (most pages) is compressed in one step, and its
//   stream goes straight back for the next response, while it is still warm in the CPU cache.
// - Each thread keeps up to kIdleStreams finished streams (deflateReset) for reuse. Setting zlib up
//   and freeing it for every response made glibc give the memory back to the kernel and fault it
//   in again each time; that, and cold caches from many live streams, cost more than the
//   compression itself (docs/performance.md, gzip20k).
// A busy worker thus holds about 1 MiB of idle streams, plus per compressed response in flight at
// most kHoldBack of input and about one piece of output.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "compression/accept_encoding.h"

namespace proxy::compression {

class Compressor {
public:
    // How much of the stream a call must make decodable:
    enum class Flush : std::uint8_t {
        None,    // input may be held back to compress better (a body whose end is coming)
        Sync,    // everything so far is decodable now (Z_SYNC_FLUSH): streams that must not stall
        Finish,  // the body ends here: the stream is closed (trailer written)
    };

    // level 1..9. lengthHint: the body's size when known (0 = unknown); a small body gets a
    // smaller window and memory level, as nginx does. Null only for Identity.
    static std::unique_ptr<Compressor> create(Coding coding, int level, std::uint64_t lengthHint);
    ~Compressor();
    Compressor(const Compressor&) = delete;
    Compressor& operator=(const Compressor&) = delete;

    // Compresses `input` (maybe producing nothing yet). The view stays valid until the next call.
    // nullopt when zlib fails (out of memory) or after Finish; the compressor is unusable then.
    // The output buffer grows only while one call's output does not fit: it stays near the size
    // of one piece (or of what was held back) and never passes kMaxOutput.
    std::optional<std::string_view> compress(std::string_view input, Flush flush);

    std::uint64_t bytesIn() const { return bytesIn_; }
    std::uint64_t bytesOut() const { return bytesOut_; }
    bool finished() const { return finished_; }

    static constexpr std::size_t kMaxOutput = 8u << 20;
    static constexpr std::size_t kHoldBack = 64u << 10;
    static constexpr std::size_t kIdleStreams = 4;

    struct Stream;  // a zlib stream with the parameters it was set up with (compressor.cpp)

private:
    Compressor() = default;
    bool acquire();  // a stream from the thread's cache, or a new one
    void release();  // back to the thread's cache (reset), or freed when it failed

    int windowBits_ = 15;
    int memLevel_ = 8;
    int level_ = 6;
    std::unique_ptr<Stream> stream_;  // only while zlib holds state for this body
    std::string held_;                // input gathered before the stream starts
    std::string out_;
    std::uint64_t bytesIn_ = 0;
    std::uint64_t bytesOut_ = 0;
    bool finished_ = false;
    bool failed_ = false;
};

}  // namespace proxy::compression
