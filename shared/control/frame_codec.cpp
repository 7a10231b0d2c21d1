#include "control/frame_codec.h"

namespace proxy::control {

FrameDecode decodeFrame(std::span<const std::uint8_t> input, std::size_t maxFrameBytes) {
    FrameDecode out;
    if (input.size() < kFrameHeaderBytes) {
        out.status = FrameStatus::NeedMore;
        out.needed = kFrameHeaderBytes;
        return out;
    }
    const std::size_t length = (std::size_t{input[0]} << 24) | (std::size_t{input[1]} << 16) |
                               (std::size_t{input[2]} << 8) | std::size_t{input[3]};
    out.announced = length;
    if (length > maxFrameBytes) {
        out.status = FrameStatus::Error;
        out.error = FrameError::TooLarge;
        return out;
    }
    if (input.size() - kFrameHeaderBytes < length) {
        out.status = FrameStatus::NeedMore;
        out.needed = kFrameHeaderBytes + length;
        return out;
    }
    out.status = FrameStatus::Frame;
    out.consumed = kFrameHeaderBytes + length;
    out.payload =
        std::string_view(reinterpret_cast<const char*>(input.data()) + kFrameHeaderBytes, length);
    return out;
}

FrameDecode decodeFrame(std::string_view input, std::size_t maxFrameBytes) {
    return decodeFrame(std::span<const std::uint8_t>(
                           reinterpret_cast<const std::uint8_t*>(input.data()), input.size()),
                       maxFrameBytes);
}

std::string describeFrameError(const FrameDecode& decode, std::size_t maxFrameBytes) {
    switch (decode.error) {
        case FrameError::None:
            return "no error";
        case FrameError::TooLarge:
            return "frame of " + std::to_string(decode.announced) + " bytes exceeds the limit of " +
                   std::to_string(maxFrameBytes) + " bytes";
    }
    return "unknown frame error";
}

void appendFrame(std::string& out, std::string_view payload) {
    const auto n = static_cast<std::uint32_t>(payload.size());
    out.push_back(static_cast<char>((n >> 24) & 0xff));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
    out.append(payload);
}

std::string encodeFrame(std::string_view payload) {
    std::string out;
    out.reserve(kFrameHeaderBytes + payload.size());
    appendFrame(out, payload);
    return out;
}

FrameDecode FrameReader::next() {
    // Drop what earlier calls handed out; their payload views expire here, as documented.
    if (start_ > 0) {
        buffer_.erase(0, start_);
        start_ = 0;
    }
    auto decode = decodeFrame(std::string_view(buffer_), maxFrameBytes_);
    if (decode.status == FrameStatus::Frame) start_ = decode.consumed;
    return decode;
}

}  // namespace proxy::control
