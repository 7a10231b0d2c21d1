#include "security/ip_set.h"

#include <algorithm>

#include "config/address.h"

namespace proxy::security {

bool parseClientIp(std::string_view text, IpKey& out) {
    auto bytes = config::parseIpAny(text);
    if (!bytes) return false;
    out = *bytes;
    return true;
}

IpSet::U128 IpSet::toU128(const IpKey& ip) {
    U128 v;
    for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | ip[static_cast<std::size_t>(i)];
    for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | ip[static_cast<std::size_t>(i)];
    return v;
}

IpSet::IpSet(const std::vector<config::Cidr>& cidrs) {
    std::vector<Range> ranges;
    ranges.reserve(cidrs.size());
    for (const config::Cidr& c : cidrs) {
        const U128 first = toU128(c.bytes);
        U128 last = first;
        const unsigned hostBits = 128u - c.prefix;
        if (hostBits >= 64) {
            last.lo = ~std::uint64_t{0};
            last.hi |= hostBits == 128 ? ~std::uint64_t{0} : ((std::uint64_t{1} << (hostBits - 64)) - 1);
        } else if (hostBits > 0) {
            last.lo |= (std::uint64_t{1} << hostBits) - 1;
        }
        ranges.push_back({first, last});
    }
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.first < b.first; });
    for (const Range& r : ranges) {
        if (!ranges_.empty()) {
            Range& back = ranges_.back();
            // Overlapping or adjacent (back.last + 1 == r.first): one range.
            U128 next = back.last;
            const bool atMax = next.hi == ~std::uint64_t{0} && next.lo == ~std::uint64_t{0};
            if (!atMax) {
                if (++next.lo == 0) ++next.hi;
            }
            if (atMax || r.first <= next) {
                if (back.last < r.last) back.last = r.last;
                continue;
            }
        }
        ranges_.push_back(r);
    }
}

bool IpSet::contains(const IpKey& ip) const {
    if (ranges_.empty()) return false;
    const U128 v = toU128(ip);
    // The last range starting at or before v.
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), v,
                               [](const U128& value, const Range& r) { return value < r.first; });
    if (it == ranges_.begin()) return false;
    --it;
    return v <= it->last;
}

}  // namespace proxy::security
