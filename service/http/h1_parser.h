#pragma once
// A strict HTTP/1.1 codec (RFC 9110 / RFC 9112) written as pure functions over byte spans.
// Nothing here allocates per byte, copies the input, or does I/O. Each call returns how many bytes
// it consumed, that it needs more, or an error with its position and the status to answer with.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/message.h"

namespace proxy::http {

enum class ParseStatus : std::uint8_t { Complete, NeedMore, Error };

struct ParseError {
    int status = 400;         // 400, 413, 414, 431, 501 or 505 for requests; 502 for responses
    std::size_t offset = 0;   // byte position in the input where the problem was found
    std::string_view reason;  // static text, e.g. "both Content-Length and Transfer-Encoding"
};

struct ParseResult {
    ParseStatus status = ParseStatus::NeedMore;
    std::size_t consumed = 0;  // on Complete: the size of the head, including the final CRLFCRLF
    ParseError error;          // on Error
};

struct H1Limits {
    std::size_t maxRequestLine = 8 * 1024;   // request line or status line; over it: 414 (502)
    std::size_t maxHeaderBytes = 64 * 1024;  // whole head; over it: 431 (502)
    std::size_t maxHeaders = 100;            // field count; over it: 431 (502)
};

// Parses a request head. `out` is reset first (its vector and arena capacity are kept, so a reused
// head parses without allocating). On Complete, out.* views point into `input` (or are static
// text: an absolute-form target without a path gets path "/"). On NeedMore nothing in out is
// meaningful; call again with more bytes (the same prefix plus new data): the verdict for a prefix
// never changes as bytes are added, and each call is one O(n) scan. Limits are enforced as soon as
// they are passed (414 for the request line, 431 for the head), without waiting for a CRLF.
// Repeated identical Content-Length values are accepted and collapsed into one field.
// Where the RFCs leave a choice, the decision is listed at the top of h1_parser.cpp. Rules enforced
// here: CRLF line endings only, no obs-fold, no whitespace before ':', token-only names, no CTL/NUL
// in values, exactly one Host on HTTP/1.1, CL+TE together rejected, several or non-decimal CL
// values rejected, TE must end in chunked (else 501) and is refused on HTTP/1.0, CONNECT answered
// 405, unknown versions 505.
ParseResult parseRequestHead(std::span<const char> input, const H1Limits& limits, RequestHead& out);

// Parses a response head with the same strictness (errors carry status 502). requestMethod decides
// bodiless responses (HEAD); 1xx, 204 and 304 never have a body (framing None, contentLength still
// reported). A 1xx head is returned on its own: the caller loops until a final status. No
// Content-Length/Transfer-Encoding, or a final coding other than chunked, is UntilClose with
// keepAlive false.
ParseResult parseResponseHead(std::span<const char> input, const H1Limits& limits,
                              Method requestMethod, ResponseHead& out);

// Incremental decoder for the chunked transfer coding. Feed it bytes; each call consumes framing
// and returns at most one run of body data (a view into the input). Chunk extensions are checked
// and dropped; trailers are checked and dropped (bounded by maxTrailerBytes).
class ChunkedDecoder {
  public:
    struct Step {
        // Complete once the last chunk and trailers are read
        ParseStatus status = ParseStatus::NeedMore;
        std::size_t consumed = 0;   // bytes of input used by this step (framing + data)
        std::string_view data;      // body bytes produced by this step (may be empty)
        ParseError error;
    };
    explicit ChunkedDecoder(std::size_t maxTrailerBytes = 8 * 1024)
        : maxTrailer_(maxTrailerBytes) {}
    // Each call either consumes all of input, or stops right after returning a run of data, or
    // finishes (Complete), or fails (Error; error.offset is relative to this call's input, and the
    // decoder stays failed). So: hand it the unconsumed rest until consumed == its size, then read.
    Step decode(std::span<const char> input);
    bool done() const { return state_ == State::Done; }
    void reset() { *this = ChunkedDecoder(maxTrailer_); }

  private:
    enum class State : std::uint8_t {
        Size,
        Ext,
        SizeLf,
        Data,
        DataCr,
        DataLf,
        Trailer,
        Done,
        Failed
    };
    Step fail(const char* base, const char* at, std::string_view reason);

    State state_ = State::Size;
    std::uint64_t remaining_ = 0;
    std::size_t sizeDigits_ = 0;
    std::size_t trailerBytes_ = 0;
    std::size_t maxTrailer_;
    std::size_t extBytes_ = 0;  // bytes of chunk extensions on the current size line (bounded)
    // small bits of state for extension/trailer scanning
    std::uint8_t sub_ = 0;
    std::string_view failReason_;  // sticky: once Failed, every later call repeats the error
};

// Longest run of chunk extensions accepted on one size line; they are skipped, never forwarded.
inline constexpr std::size_t kMaxChunkExtBytes = 4096;

}  // namespace proxy::http
