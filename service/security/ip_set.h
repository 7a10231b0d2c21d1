#pragma once
// A set of address ranges (allow, deny, trusted proxies) for lookups on the data path: the
// config's CIDRs become sorted, merged, disjoint 128-bit intervals, and a lookup is one binary
// search (17 steps for 100,000 ranges), with no allocation. IPv4 lives in the IPv4-mapped part of
// the IPv6 space (::ffff:0:0/96), so both families share one set.

#include <array>
#include <compare>
#include <cstdint>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace proxy::security {

using IpKey = std::array<std::uint8_t, 16>;

// "203.0.113.7", "2001:db8::1", "::ffff:203.0.113.7" -> the 16-byte key. False on anything else.
bool parseClientIp(std::string_view text, IpKey& out);

class IpSet {
public:
    IpSet() = default;
    explicit IpSet(const std::vector<config::Cidr>& ranges);

    bool contains(const IpKey& ip) const;
    bool empty() const { return ranges_.empty(); }
    std::size_t rangeCount() const { return ranges_.size(); }  // after merging

private:
    struct U128 {
        std::uint64_t hi = 0, lo = 0;
        friend auto operator<=>(const U128&, const U128&) = default;
    };
    struct Range {
        U128 first, last;  // inclusive
    };
    static U128 toU128(const IpKey& ip);
    std::vector<Range> ranges_;  // sorted by first, disjoint, not adjacent
};

}  // namespace proxy::security
