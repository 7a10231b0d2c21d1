#pragma once
// Pure parsers for the address forms a config may hold: "127.0.0.1:80", "[::1]:8080" and, where a
// DNS name is allowed (upstream servers), "app.internal:80". They never throw; on failure they say
// why in one sentence so the validator can pass it on unchanged.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace proxy::config {

struct IpBytes {
    HostPort::Kind kind = HostPort::Kind::IPv4;  // IPv4 uses the first 4 bytes
    std::array<std::uint8_t, 16> bytes{};
    bool isWildcard() const;
    friend bool operator==(const IpBytes&, const IpBytes&) = default;
};

// Dotted quad, exactly four decimal octets without leading zeros.
std::optional<IpBytes> parseIPv4(std::string_view text, std::string* error = nullptr);
// RFC 4291 text form without brackets, "::" and a trailing dotted quad allowed, no zone id.
std::optional<IpBytes> parseIPv6(std::string_view text, std::string* error = nullptr);
// RFC 1123 host name: dot-separated labels of letters, digits and '-', 1..63 bytes each, 253 total.
bool isValidHostName(std::string_view text);

// Either family, as 16 bytes: IPv4 becomes IPv4-mapped IPv6 (::ffff:a.b.c.d).
std::optional<std::array<std::uint8_t, 16>> parseIpAny(std::string_view text);

// "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104" or one address. Host bits must be zero
// ("10.0.0.1/8" is refused, naming the range that was probably meant).
std::optional<Cidr> parseCidr(std::string_view text, std::string* error = nullptr);

enum class AddressRule : std::uint8_t { IpOnly, IpOrName };
// "host:port"; IPv6 must be bracketed; port 1..65535.
std::optional<HostPort> parseHostPort(std::string_view text, AddressRule rule,
                                      std::string* error = nullptr);

}  // namespace proxy::config
