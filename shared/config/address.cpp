#include "config/address.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <vector>

namespace proxy::config {
namespace {

void setError(std::string* error, std::string message) {
    if (error) *error = std::move(message);
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isHex(char c) {
    return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hexValue(char c) {
    if (isDigit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

std::string quoted(std::string_view text) {
    // Diagnostics stay one line even when the input is long or odd.
    std::string out = "'";
    for (char c : text.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    if (text.size() > 80) out += "...";
    out += "'";
    return out;
}

}  // namespace

bool IpBytes::isWildcard() const {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::optional<IpBytes> parseIPv4(std::string_view text, std::string* error) {
    IpBytes out;
    out.kind = HostPort::Kind::IPv4;
    std::size_t part = 0;
    std::size_t pos = 0;
    while (true) {
        std::size_t end = text.find('.', pos);
        std::string_view octet = text.substr(pos, end == std::string_view::npos ? end : end - pos);
        if (part == 4 || octet.empty() || octet.size() > 3 ||
            !std::all_of(octet.begin(), octet.end(), isDigit)) {
            setError(error, quoted(text) +
                                " is not an IPv4 address: expected four numbers 0 to 255 "
                                "separated by dots");
            return std::nullopt;
        }
        if (octet.size() > 1 && octet[0] == '0') {
            setError(error, "IPv4 octet " + quoted(octet) + " in " + quoted(text) +
                                " has a leading zero, which is ambiguous (octal)");
            return std::nullopt;
        }
        unsigned value = 0;
        std::from_chars(octet.data(), octet.data() + octet.size(), value);
        if (value > 255) {
            setError(error, "IPv4 octet " + std::to_string(value) + " in " + quoted(text) +
                                " is out of range 0 to 255");
            return std::nullopt;
        }
        out.bytes[part++] = static_cast<std::uint8_t>(value);
        if (end == std::string_view::npos) break;
        pos = end + 1;
    }
    if (part != 4) {
        setError(error, quoted(text) +
                            " is not an IPv4 address: expected four numbers 0 to 255 separated "
                            "by dots");
        return std::nullopt;
    }
    return out;
}

std::optional<IpBytes> parseIPv6(std::string_view text, std::string* error) {
    const std::string bad = quoted(text) + " is not a valid IPv6 address";
    if (text.find('%') != std::string_view::npos) {
        setError(error, "IPv6 zone identifiers such as %eth0 are not supported in " + quoted(text));
        return std::nullopt;
    }
    if (text.empty() || text.size() > 45) {
        setError(error, bad);
        return std::nullopt;
    }
    std::vector<std::uint16_t> head, tail;
    bool sawGap = false;
    std::size_t pos = 0;
    if (text.starts_with("::")) {
        sawGap = true;
        pos = 2;
    } else if (text.starts_with(":")) {
        setError(error, bad + ": it starts with a single ':'");
        return std::nullopt;
    }
    bool sawIPv4 = false;
    while (pos < text.size()) {
        std::size_t end = text.find(':', pos);
        std::string_view group =
            text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        auto& groups = sawGap ? tail : head;
        if (group.find('.') != std::string_view::npos) {
            // An embedded dotted quad ends the address and fills the last two groups.
            if (end != std::string_view::npos) {
                setError(error, bad + ": an embedded IPv4 part must come last");
                return std::nullopt;
            }
            auto v4 = parseIPv4(group, error);
            if (!v4) return std::nullopt;
            groups.push_back(static_cast<std::uint16_t>(v4->bytes[0] << 8 | v4->bytes[1]));
            groups.push_back(static_cast<std::uint16_t>(v4->bytes[2] << 8 | v4->bytes[3]));
            sawIPv4 = true;
            pos = text.size();
            break;
        }
        if (group.empty() || group.size() > 4 || !std::all_of(group.begin(), group.end(), isHex)) {
            setError(error, bad + ": each group must be 1 to 4 hexadecimal digits");
            return std::nullopt;
        }
        unsigned value = 0;
        for (char c : group) value = value * 16 + static_cast<unsigned>(hexValue(c));
        groups.push_back(static_cast<std::uint16_t>(value));
        if (end == std::string_view::npos) {
            pos = text.size();
            break;
        }
        pos = end + 1;
        if (pos < text.size() && text[pos] == ':') {
            if (sawGap) {
                setError(error, bad + ": '::' may appear only once");
                return std::nullopt;
            }
            sawGap = true;
            ++pos;
        } else if (pos == text.size()) {
            setError(error, bad + ": it ends with a single ':'");
            return std::nullopt;
        }
    }
    (void)sawIPv4;
    const std::size_t count = head.size() + tail.size();
    if ((!sawGap && count != 8) || (sawGap && count > 7)) {
        setError(error, bad + ": it must have 8 groups, or fewer with '::'");
        return std::nullopt;
    }
    IpBytes out;
    out.kind = HostPort::Kind::IPv6;
    std::vector<std::uint16_t> all = head;
    all.resize(8 - tail.size(), 0);
    all.insert(all.end(), tail.begin(), tail.end());
    for (std::size_t i = 0; i < 8; ++i) {
        out.bytes[2 * i] = static_cast<std::uint8_t>(all[i] >> 8);
        out.bytes[2 * i + 1] = static_cast<std::uint8_t>(all[i] & 0xff);
    }
    return out;
}

bool isValidHostName(std::string_view text) {
    if (text.empty() || text.size() > 253) return false;
    if (text.back() == '.') text.remove_suffix(1);  // a fully qualified name may end with a dot
    std::size_t pos = 0;
    while (true) {
        std::size_t end = text.find('.', pos);
        std::string_view label =
            text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label) {
            const bool ok = isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            c == '-' || c == '_';
            if (!ok) return false;
        }
        if (end == std::string_view::npos) return true;
        pos = end + 1;
    }
}

std::optional<std::array<std::uint8_t, 16>> parseIpAny(std::string_view text) {
    if (text.find(':') != std::string_view::npos) {
        auto v6 = parseIPv6(text);
        if (!v6) return std::nullopt;
        return v6->bytes;
    }
    auto v4 = parseIPv4(text);
    if (!v4) return std::nullopt;
    std::array<std::uint8_t, 16> out{};
    out[10] = 0xff;
    out[11] = 0xff;
    std::copy_n(v4->bytes.begin(), 4, out.begin() + 12);
    return out;
}

std::optional<Cidr> parseCidr(std::string_view text, std::string* error) {
    Cidr out;
    out.text = std::string(text);
    const auto slash = text.find('/');
    const std::string_view host = text.substr(0, slash);
    const bool v6 = host.find(':') != std::string_view::npos;
    const unsigned maxPrefix = v6 ? 128 : 32;
    std::string why;
    if (v6) {
        auto ip = parseIPv6(host, &why);
        if (!ip) {
            setError(error, why);
            return std::nullopt;
        }
        out.bytes = ip->bytes;
    } else {
        auto ip = parseIPv4(host, &why);
        if (!ip) {
            setError(error, why);
            return std::nullopt;
        }
        out.bytes = *parseIpAny(host);
    }
    unsigned prefix = maxPrefix;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (digits.empty() || digits.size() > 3 || ec != std::errc() ||
            end != digits.data() + digits.size() || prefix > maxPrefix) {
            setError(error, quoted(text) + " has a bad prefix length: expected /0 to /" +
                                std::to_string(maxPrefix));
            return std::nullopt;
        }
    }
    out.prefix = static_cast<std::uint8_t>(v6 ? prefix : prefix + 96);
    // Host bits set: almost always a typo for the network address.
    std::array<std::uint8_t, 16> network = out.bytes;
    for (unsigned bit = out.prefix; bit < 128; ++bit)
        network[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    if (network != out.bytes) {
        std::string meant;
        if (v6) {
            char buffer[8];
            for (int i = 0; i < 16; i += 2) {
                std::snprintf(buffer, sizeof buffer, "%x", (network[i] << 8) | network[i + 1]);
                if (i) meant += ':';  // piecewise: GCC 12 warns falsely (-Wrestrict) on "" + string
                meant += buffer;
            }
        } else {
            for (int i = 12; i < 16; ++i) {
                if (i > 12) meant += '.';
                meant += std::to_string(network[i]);
            }
        }
        setError(error, quoted(text) + " has host bits set after the /" + std::to_string(prefix) +
                            " prefix; the range is " + meant + "/" + std::to_string(prefix));
        return std::nullopt;
    }
    return out;
}

std::optional<HostPort> parseHostPort(std::string_view text, AddressRule rule, std::string* error) {
    const char* example = rule == AddressRule::IpOnly ? "127.0.0.1:8080 or [::]:8080"
                                                      : "127.0.0.1:8080 or app.internal:80";
    if (text.empty()) {
        setError(error, std::string("the address is empty; expected host:port such as ") + example);
        return std::nullopt;
    }
    HostPort out;
    std::string_view host;
    std::string_view portText;
    bool hasPort = false;
    if (text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            setError(error, quoted(text) + " opens an IPv6 address with '[' but has no ']'");
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                setError(error, quoted(text) + " has unexpected text after ']'; expected :PORT");
                return std::nullopt;
            }
            hasPort = true;
            portText = rest.substr(1);
        }
        std::string why;
        auto ip = parseIPv6(host, &why);
        if (!ip) {
            setError(error, why);
            return std::nullopt;
        }
        out.kind = HostPort::Kind::IPv6;
    } else {
        const std::size_t colon = text.rfind(':');
        if (colon != std::string_view::npos) {
            host = text.substr(0, colon);
            hasPort = true;
            portText = text.substr(colon + 1);
        } else {
            host = text;
        }
        if (host.find(':') != std::string_view::npos) {
            setError(error, quoted(text) +
                                " looks like an IPv6 address without brackets; write it as "
                                "[ADDRESS]:PORT, for example [::1]:8080");
            return std::nullopt;
        }
        if (host.empty()) {
            setError(error, quoted(text) + " has no host before the port; expected " + example);
            return std::nullopt;
        }
        const bool dottedNumbers =
            std::all_of(host.begin(), host.end(), [](char c) { return isDigit(c) || c == '.'; });
        if (dottedNumbers) {
            std::string why;
            if (!parseIPv4(host, &why)) {
                setError(error, why);
                return std::nullopt;
            }
            out.kind = HostPort::Kind::IPv4;
        } else {
            if (!isValidHostName(host)) {
                setError(error, quoted(host) + " is not a valid IP address or host name");
                return std::nullopt;
            }
            if (rule == AddressRule::IpOnly) {
                setError(error, quoted(text) +
                                    " uses a host name; a listening address must be an IP "
                                    "address such as 0.0.0.0:8080 or [::]:8080");
                return std::nullopt;
            }
            out.kind = HostPort::Kind::Name;
        }
    }
    if (!hasPort) {
        // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "[" + std::string(...).
        std::string shown(host);
        if (out.kind == HostPort::Kind::IPv6) {
            shown.insert(shown.begin(), '[');
            shown.push_back(']');
        }
        setError(error, quoted(text) + " has no port; write it as " + shown + ":PORT");
        return std::nullopt;
    }
    if (portText.empty() || portText.size() > 5 ||
        !std::all_of(portText.begin(), portText.end(), isDigit)) {
        setError(error, "the port " + quoted(portText) + " in " + quoted(text) +
                            " is not a number from 1 to 65535");
        return std::nullopt;
    }
    unsigned port = 0;
    std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (port < 1 || port > 65535) {
        setError(error, "the port " + std::to_string(port) + " in " + quoted(text) +
                            " is out of range 1 to 65535");
        return std::nullopt;
    }
    out.host = std::string(host);
    out.port = static_cast<std::uint16_t>(port);
    return out;
}

}  // namespace proxy::config
