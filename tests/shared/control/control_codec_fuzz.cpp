// libFuzzer target for shared/control: the frame decoder over arbitrary byte streams, then every
// decoded payload through the JSON-RPC parser and the hello check. Nothing may crash, throw or
// read out of bounds; a decoded frame must lie inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "control/frame_codec.h"
#include "control/json_rpc.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace proxy::control;
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    // The raw input as one payload (the parser must cope with anything a frame can hold).
    if (auto msg = parseMessage(input)) {
        if (msg->method == "hello") (void)parseHelloParams(msg->params);
        (void)makeResult(msg->id, msg->params);
    } else {
        (void)makeError(msg.error.id, msg.error.error);
    }

    // The input as a stream, fed in uneven pieces, with a small limit to reach the error path.
    FrameReader reader(4096);
    std::size_t offset = 0;
    std::size_t step = 1;
    while (offset < input.size()) {
        const auto chunk = input.substr(offset, step);
        offset += chunk.size();
        step = step * 3 % 17 + 1;
        reader.append(chunk);
        for (;;) {
            const auto d = reader.next();
            if (d.status == FrameStatus::Error) return 0;
            if (d.status == FrameStatus::NeedMore) break;
            if (d.payload.size() > 4096) std::abort();
            (void)parseMessage(d.payload);
        }
    }
    return 0;
}
