#pragma once
// A streaming zlib compressor for one response body: gzip (RFC 1952) or deflate (the zlib format
// of RFC 1950, which is what the HTTP "deflate" coding means). Input arrives piece by piece; each
// call returns the output it produced, in a buffer the compressor owns and reuses.

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
        None,    // zlib may hold input back to compress better (a body whose end is near)
        Sync,    // everything so far is decodable now (Z_SYNC_FLUSH): streams that must not stall
        Finish,  // the body ends here: the stream is closed (trailer written)
    };

    // level 1..9. lengthHint: the body's size when known (0 = unknown); a small body gets a
    // smaller window and memory level, as nginx does, which makes the stream cheaper to set up
    // (about 256 KiB for a full window). Null when zlib cannot set up (out of memory).
    //
    // Streams are reused: each thread keeps up to kIdleStreams finished ones (deflateReset), so
    // a busy worker holds at most about 1 MiB of them between responses. Allocating and freeing
    // zlib's 256 KiB for every response made glibc return the memory to the kernel and fault it
    // back in each time, which cost more than compressing a 20 KiB page.
    static std::unique_ptr<Compressor> create(Coding coding, int level, std::uint64_t lengthHint);
    ~Compressor();
    Compressor(const Compressor&) = delete;
    Compressor& operator=(const Compressor&) = delete;

    // Compresses `input`. The view stays valid until the next call. nullopt on a zlib error or
    // after Finish (the stream is then unusable). The output buffer grows only while one call's
    // output does not fit: it stays near the size of one input piece plus what zlib held back,
    // and never passes kMaxOutput.
    std::optional<std::string_view> compress(std::string_view input, Flush flush);

    std::uint64_t bytesIn() const { return bytesIn_; }
    std::uint64_t bytesOut() const { return bytesOut_; }
    bool finished() const { return finished_; }

    static constexpr std::size_t kMaxOutput = 8u << 20;
    static constexpr std::size_t kIdleStreams = 4;

    struct Stream;  // a zlib stream with the parameters it was set up with (compressor.cpp)

private:
    Compressor();
    std::unique_ptr<Stream> stream_;
    std::string out_;
    std::uint64_t bytesIn_ = 0;
    std::uint64_t bytesOut_ = 0;
    bool finished_ = false;
    bool failed_ = false;
};

}  // namespace proxy::compression
