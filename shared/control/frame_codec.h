#pragma once
// Framing of the control channel: a 4-byte big-endian length prefix, then that many bytes of UTF-8
// JSON. The decoder is a pure function over a byte span, so the server (asio), proxyctl (blocking
// sockets / pipe handles) and the console (Qt) share one implementation and one fuzz target.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace proxy::control {

inline constexpr std::size_t kFrameHeaderBytes = 4;
// A config document may be up to 16 MiB (config::kMaxConfigBytes) and config.apply wraps it in a
// request, so the frame bound leaves room for the envelope.
inline constexpr std::size_t kDefaultMaxFrameBytes = (16u << 20) + (64u << 10);

enum class FrameStatus : std::uint8_t {
    Frame,     // a whole frame is available: payload is set, consumed covers prefix + payload
    NeedMore,  // not enough bytes yet; needed says how many bytes the frame needs in total
    Error,     // the stream cannot be resynchronised: answer if possible, then close
};

enum class FrameError : std::uint8_t {
    None,
    TooLarge,  // the prefix announces more than the limit (decided from the prefix alone)
};

struct FrameDecode {
    FrameStatus status = FrameStatus::NeedMore;
    FrameError error = FrameError::None;
    std::size_t consumed = 0;  // Frame: bytes to drop from the front of the input
    std::size_t needed = 0;    // NeedMore: total bytes (prefix included) this frame needs, if known
    std::size_t announced = 0;  // the length from the prefix, once 4 bytes were seen
    std::string_view payload;   // Frame: a view into the input, valid as long as the input is
};

// Decodes the first frame of `input`. Never reads past input, never allocates.
FrameDecode decodeFrame(std::span<const std::uint8_t> input,
                        std::size_t maxFrameBytes = kDefaultMaxFrameBytes);
FrameDecode decodeFrame(std::string_view input, std::size_t maxFrameBytes = kDefaultMaxFrameBytes);

// "frame of 123456789 bytes exceeds the limit of 16777216 bytes"
std::string describeFrameError(const FrameDecode& decode, std::size_t maxFrameBytes);

// Prefix + payload, ready to write. The caller keeps payloads under the peer's limit.
std::string encodeFrame(std::string_view payload);
void appendFrame(std::string& out, std::string_view payload);

// Accumulates bytes from a stream and hands out whole frames. The buffer stays bounded: an
// over-limit prefix is reported before its body is buffered.
class FrameReader {
  public:
    explicit FrameReader(std::size_t maxFrameBytes = kDefaultMaxFrameBytes)
        : maxFrameBytes_(maxFrameBytes) {}

    void append(std::string_view bytes) { buffer_.append(bytes); }
    // The next frame, NeedMore, or Error. A returned payload stays valid until the next call to
    // next() or append().
    FrameDecode next();
    std::size_t buffered() const { return buffer_.size() - start_; }
    std::size_t maxFrameBytes() const { return maxFrameBytes_; }

  private:
    std::size_t maxFrameBytes_;
    std::string buffer_;
    std::size_t start_ = 0;  // bytes already handed out, dropped lazily to avoid quadratic moves
};

}  // namespace proxy::control
