#pragma once
// The field names the proxy itself acts on (framing, hop-by-hop removal, the headers it adds),
// recognised once when a field enters a HeaderList. The codec passes the id it found while
// scanning the name, so later checks compare one byte instead of re-reading the name.
//
// classifyFieldName() is exact: a name gets an id only when it equals the registered name ignoring
// ASCII case, byte for byte ("Content-Lengthx", "Content_Length" or "Host " are Other). It reads
// each name in one to three word loads and compares them with the case bit folded into letters
// only, so any byte string is safe input, not just a valid token.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace proxy::http {

enum class FieldName : std::uint8_t {
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
    Upgrade,
    KeepAlive,
    ProxyConnection,
    Te,
    Trailer,
    ProxyAuthenticate,
    XRequestId,
    XForwardedFor,
    XForwardedProto,
    XForwardedHost,
    Forwarded,
    Via,
    Count_,  // not a name: the number of ids, for bit sets over them
};

// A set of field ids as bits (fits in 32 bits: see the static_assert).
constexpr std::uint32_t fieldBit(FieldName id) {
    return std::uint32_t{1} << static_cast<unsigned>(id);
}
static_assert(static_cast<unsigned>(FieldName::Count_) <= 32);

namespace detail {

// A name of n bytes is compared as up to three words: bytes [0, w), [n - w, n) and, past 16
// bytes, [8, 16), where w is the widest of 8/4/2/1 that fits in n. They overlap for most lengths,
// which is harmless for an equality test, and cover every byte for n <= 24.
constexpr std::size_t nameWordWidth(std::size_t n) {
    return n >= 8 ? 8 : n >= 4 ? 4 : n >= 2 ? 2 : 1;
}

struct NameKey {
    std::uint64_t word[3]{};
    std::uint64_t fold[3]{};  // 0x20 in the bytes that are letters: OR-ing it in folds case
};

constexpr std::size_t nameWordOffset(std::size_t n, int i) {
    return i == 0 ? 0 : i == 1 ? n - nameWordWidth(n) : (n > 16 ? 8 : 0);
}

// The words of a lower-case registered name, packed as loadNameWord() reads them.
constexpr NameKey nameKey(std::string_view lower) {
    NameKey k;
    const std::size_t n = lower.size();
    const std::size_t w = nameWordWidth(n);
    for (int i = 0; i < 3; ++i) {
        const std::size_t off = nameWordOffset(n, i);
        for (std::size_t b = 0; b < w; ++b) {
            const auto c = static_cast<unsigned char>(lower[off + b]);
            const unsigned shift =
                8 * static_cast<unsigned>(std::endian::native == std::endian::little ? b
                                                                                     : w - 1 - b);
            k.word[i] |= std::uint64_t{c} << shift;
            if (c >= 'a' && c <= 'z') k.fold[i] |= std::uint64_t{0x20} << shift;
        }
    }
    return k;
}

template <std::size_t W>
inline std::uint64_t loadNameWord(const char* p) {
    if constexpr (W == 8) {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        return v;
    } else if constexpr (W == 4) {
        std::uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
    } else if constexpr (W == 2) {
        std::uint16_t v;
        std::memcpy(&v, p, 2);
        return v;
    } else {
        return static_cast<unsigned char>(*p);
    }
}

// Whether the N bytes at p equal the key's name; N is a constant, so this is a few loads, ORs and
// compares with no loop.
template <std::size_t N>
inline bool matchesKey(const char* p, const NameKey& k) {
    constexpr std::size_t w = nameWordWidth(N);
    bool eq = (loadNameWord<w>(p) | k.fold[0]) == k.word[0];
    if constexpr (N > w) eq &= (loadNameWord<w>(p + (N - w)) | k.fold[1]) == k.word[1];
    if constexpr (N > 16) eq &= (loadNameWord<8>(p + 8) | k.fold[2]) == k.word[2];
    return eq;
}

}  // namespace detail

inline FieldName classifyFieldName(std::string_view name) {
    using detail::matchesKey;
    using detail::nameKey;
    // Only used where name.size() == sizeof(lower) - 1 (the case label).
#define PROXY_FIELD_IS(lower)                                                     \
    ([p = name.data()] {                                                          \
        static constexpr detail::NameKey k = nameKey(lower);                      \
        return matchesKey<sizeof(lower) - 1>(p, k);                               \
    }())
    switch (name.size()) {
        case 2:
            return PROXY_FIELD_IS("te") ? FieldName::Te : FieldName::Other;
        case 3:
            return PROXY_FIELD_IS("via") ? FieldName::Via : FieldName::Other;
        case 4:
            return PROXY_FIELD_IS("host") ? FieldName::Host : FieldName::Other;
        case 6:
            return PROXY_FIELD_IS("expect") ? FieldName::Expect : FieldName::Other;
        case 7:
            if (PROXY_FIELD_IS("upgrade")) return FieldName::Upgrade;
            return PROXY_FIELD_IS("trailer") ? FieldName::Trailer : FieldName::Other;
        case 9:
            return PROXY_FIELD_IS("forwarded") ? FieldName::Forwarded : FieldName::Other;
        case 10:
            if (PROXY_FIELD_IS("connection")) return FieldName::Connection;
            return PROXY_FIELD_IS("keep-alive") ? FieldName::KeepAlive : FieldName::Other;
        case 12:
            return PROXY_FIELD_IS("x-request-id") ? FieldName::XRequestId : FieldName::Other;
        case 14:
            return PROXY_FIELD_IS("content-length") ? FieldName::ContentLength : FieldName::Other;
        case 15:
            return PROXY_FIELD_IS("x-forwarded-for") ? FieldName::XForwardedFor : FieldName::Other;
        case 16:
            if (PROXY_FIELD_IS("proxy-connection")) return FieldName::ProxyConnection;
            return PROXY_FIELD_IS("x-forwarded-host") ? FieldName::XForwardedHost
                                                      : FieldName::Other;
        case 17:
            if (PROXY_FIELD_IS("transfer-encoding")) return FieldName::TransferEncoding;
            return PROXY_FIELD_IS("x-forwarded-proto") ? FieldName::XForwardedProto
                                                       : FieldName::Other;
        case 18:
            return PROXY_FIELD_IS("proxy-authenticate") ? FieldName::ProxyAuthenticate
                                                        : FieldName::Other;
        default:
            return FieldName::Other;
    }
#undef PROXY_FIELD_IS
}

}  // namespace proxy::http
