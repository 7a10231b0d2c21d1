#pragma once
// HTTP/1.1 serialization of the version-neutral heads. Writers append to a caller-owned string and
// do not allocate when it already has the capacity (the connection keeps one buffer per direction).
// They write what the head holds, in order: framing and hop-by-hop fields are the caller's job.

#include <cstddef>
#include <string>
#include <string_view>

#include "http/message.h"

namespace proxy::http {

// "<method> <target> HTTP/1.1\r\n", every field as "name: value\r\n", then "\r\n". The method is
// methodText, or the standard name of method when methodText is empty. Always HTTP/1.1.
void writeRequestHead(const RequestHead& h, std::string& out);

// "HTTP/1.1 <status> <reason>\r\n", fields, "\r\n"; an empty reason is replaced by the standard
// phrase for the status.
void writeResponseHead(const ResponseHead& h, std::string& out);

// The standard reason phrase (RFC 9110 15), or "" for an unregistered status.
std::string_view reasonPhrase(int status);

// The size line of a chunk of n bytes: lower-case hex, then CRLF.
void writeChunkHeader(std::size_t n, std::string& out);

// The last chunk with an empty trailer section.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace proxy::http
