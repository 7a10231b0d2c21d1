#include "balancing/sticky.h"

#include <cstring>
#include <random>

namespace proxy::balancing {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int b) {
    return (x << b) | (x >> (64 - b));
}

struct SipState {
    std::uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    }
};

std::uint64_t load64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];  // little-endian, whatever the host
    return v;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::uint64_t sipHash24(const StickyKey& key, std::string_view data) {
    SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
               key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const std::size_t n = data.size();
    const std::size_t whole = n - n % 8;
    for (std::size_t i = 0; i < whole; i += 8) {
        const std::uint64_t m = load64(p + i);
        s.v3 ^= m;
        s.round();
        s.round();
        s.v0 ^= m;
    }
    std::uint64_t last = static_cast<std::uint64_t>(n & 0xff) << 56;
    for (std::size_t i = 0; i < n % 8; ++i)
        last |= static_cast<std::uint64_t>(p[whole + i]) << (8 * i);
    s.v3 ^= last;
    s.round();
    s.round();
    s.v0 ^= last;
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

StickyKey stickyKey(std::string_view secret) {
    if (secret.empty()) {
        static const StickyKey random = [] {
            std::random_device rd;
            StickyKey k;
            k.k0 = (std::uint64_t{rd()} << 32) ^ rd();
            k.k1 = (std::uint64_t{rd()} << 32) ^ rd();
            return k;
        }();
        return random;
    }
    // Two fixed keys derive 128 key bits from the secret text.
    return {sipHash24({0x70726f7879737469ull, 0x636b792d6b657930ull}, secret),
            sipHash24({0x70726f7879737469ull, 0x636b792d6b657931ull}, secret)};
}

std::string stickyToken(const StickyKey& key, std::string_view upstream, std::string_view server) {
    std::string message;
    message.reserve(upstream.size() + server.size() + 1);
    message.append(upstream).push_back('\n');
    message.append(server);
    const std::uint64_t h = sipHash24(key, message);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(i)] = kHex[(h >> (60 - 4 * i)) & 0xf];
    return out;
}

std::optional<std::string_view> cookieValue(const http::HeaderList& headers,
                                            std::string_view name) {
    if (name.empty()) return std::nullopt;
    for (const http::Header& field : headers.fields()) {
        if (!http::iequals(field.name, "Cookie")) continue;
        std::string_view rest = field.value;
        while (!rest.empty()) {
            const std::size_t semi = rest.find(';');
            const std::string_view pair = trim(rest.substr(0, semi));
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            const std::size_t eq = pair.find('=');
            if (eq == std::string_view::npos) continue;
            if (trim(pair.substr(0, eq)) != name) continue;  // cookie names are case-sensitive
            std::string_view value = trim(pair.substr(eq + 1));
            if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                value = value.substr(1, value.size() - 2);
            return value;
        }
    }
    return std::nullopt;
}

std::string setCookieValue(const config::StickyCookie& cookie, std::string_view token) {
    std::string out = cookie.name;
    out.push_back('=');
    out.append(token);
    if (!cookie.path.empty()) out.append("; Path=").append(cookie.path);
    if (cookie.maxAge > 0) out.append("; Max-Age=").append(std::to_string(cookie.maxAge));
    if (cookie.httpOnly) out.append("; HttpOnly");
    if (cookie.secure) out.append("; Secure");
    if (!cookie.sameSite.empty()) out.append("; SameSite=").append(cookie.sameSite);
    return out;
}

}  // namespace proxy::balancing
