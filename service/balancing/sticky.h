#pragma once
// Sticky sessions by cookie, and the cookie reading that `"hash_key": {"cookie": ...}` shares.
// The cookie value names a server by a keyed hash (SipHash-2-4) of its upstream and address, so
// the client learns nothing about the backend, and a forged value can only name no server.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "http/message.h"

namespace proxy::balancing {

struct StickyKey {
    std::uint64_t k0 = 0, k1 = 0;
};

// SipHash-2-4 (Aumasson and Bernstein), 64-bit output.
std::uint64_t sipHash24(const StickyKey& key, std::string_view data);

// The key for a configured secret; an empty secret gives one random key per process, so cookies
// survive reloads but not a restart.
StickyKey stickyKey(std::string_view secret);

// 16 lower-case hex digits naming `server` of `upstream`.
std::string stickyToken(const StickyKey& key, std::string_view upstream, std::string_view server);

// The value of cookie `name` in the request's Cookie fields (RFC 6265 5.4 syntax, every field
// searched, the first match wins), or nullopt.
std::optional<std::string_view> cookieValue(const http::HeaderList& headers, std::string_view name);

// The Set-Cookie field value for `token` with the configured attributes.
std::string setCookieValue(const config::StickyCookie& cookie, std::string_view token);

}  // namespace proxy::balancing
