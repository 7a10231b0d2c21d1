#pragma once
// The HTTP side of fetching an OCSP response from a certificate's responder, as pure functions
// (no OpenSSL, no I/O; unit-tested and fuzzed on their own): the responder URL from the
// certificate's AIA, the request to send (RFC 6960 appendix A / RFC 5019), and a verdict on the
// bytes the responder answered so far. The fetcher (tls/ocsp_fetcher.h) does the I/O.
//
// Plain structs rather than std::expected: the fuzz build (clang 14 on libstdc++ 12) has none.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace proxy::tls {

// The largest OCSP response body accepted (real ones are 1-4 KiB); more is an error.
inline constexpr std::size_t kMaxOcspResponseBody = 64 * 1024;
// The largest answer head accepted from a responder.
inline constexpr std::size_t kMaxOcspResponseHead = 16 * 1024;

struct ResponderUrl {
    bool ok = false;
    std::string error;  // when !ok: why the URL cannot be used
    std::string host;   // a name or an IP literal (IPv6 without brackets)
    std::uint16_t port = 80;
    std::string path = "/";  // always starts with '/'; the query, if any, is kept in it
    // "host" or "host:port" (IPv6 bracketed) as the Host header and absolute-form carry it.
    std::string authority() const;
};

// Parses an http:// responder URL: "http://host[:port][/path[?query]]". https:// is refused (OCSP
// is served over plain HTTP: the response is signed, and fetching it over TLS could need the very
// OCSP check it serves), as are user info, fragments, controls and overlong URLs (over 2048).
ResponderUrl parseResponderUrl(std::string_view url);

// The request for the DER OCSP request `der`: GET with the base64 of the request in the path when
// that keeps the URL under 255 bytes (RFC 5019 section 5, so caches can serve it), else POST with
// Content-Type application/ocsp-request. `viaProxy`: the target is the absolute URL (a request to
// an HTTP proxy). Connection: close either way.
std::string ocspHttpRequest(const ResponderUrl& url, std::span<const unsigned char> der,
                            bool viaProxy);

struct OcspHttpAnswer {
    enum class State { NeedMore, Done, Error };
    State state = State::NeedMore;
    int status = 0;     // the HTTP status, once the head has arrived
    std::string body;   // on Done: the response body (the DER OCSP response)
    std::string error;  // on Error: a sentence for the log and status
};

// Judges `bytes` (everything read so far; the fetcher stops reading at
// kMaxOcspResponseHead + kMaxOcspResponseBody + 1024 bytes). `eof`: the responder closed, so
// nothing more will come. Done only with a 200 whose whole body (Content-Length, chunked, or until
// close) has arrived and is at most kMaxOcspResponseBody bytes; 1xx answers are skipped.
OcspHttpAnswer judgeOcspAnswer(std::span<const char> bytes, bool eof);

}  // namespace proxy::tls
