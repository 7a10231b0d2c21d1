#include "cache/disk_entry.h"

#include <array>
#include <cstring>

namespace proxy::cache {

namespace {

constexpr char kMagic[4] = {'P', 'X', 'C', 'E'};

constexpr std::array<std::uint32_t, 256> makeCrcTable() {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
    return t;
}
constexpr auto kCrcTable = makeCrcTable();

// ---- writing ----
void putU32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void putU64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void putI64(std::string& out, std::int64_t v) { putU64(out, static_cast<std::uint64_t>(v)); }
void putStr(std::string& out, std::string_view s) {
    putU32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}
void putOptU32(std::string& out, const std::optional<std::uint32_t>& v) {
    out.push_back(v ? 1 : 0);
    putU32(out, v.value_or(0));
}
void setU32(std::string& out, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// ---- reading: every read checks what is left, so no length in the file can over-read ----
struct Reader {
    std::string_view in;
    bool ok = true;
    bool take(std::size_t n, std::string_view& out) {
        if (!ok || in.size() < n) return ok = false;
        out = in.substr(0, n);
        in.remove_prefix(n);
        return true;
    }
    std::uint64_t num(int bytes) {
        std::string_view b;
        if (!take(static_cast<std::size_t>(bytes), b)) return 0;
        std::uint64_t v = 0;
        for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
        return v;
    }
    std::uint32_t u32() { return static_cast<std::uint32_t>(num(4)); }
    std::int64_t i64() { return static_cast<std::int64_t>(num(8)); }
    std::string str() {
        const std::uint32_t n = u32();
        std::string_view s;
        if (!take(n, s)) return {};
        return std::string(s);
    }
    bool flag() {
        std::string_view b;
        if (!take(1, b)) return false;
        if (b[0] != 0 && b[0] != 1) ok = false;
        return b[0] == 1;
    }
    std::optional<std::uint32_t> optU32() {
        const bool has = flag();
        const std::uint32_t v = u32();
        if (!has && v != 0) ok = false;  // one encoding per value
        if (!has) return std::nullopt;
        return v;
    }
    // A count of items that each take at least minBytes: bounded by what is left, so a forged
    // count cannot make the decoder reserve or loop beyond the input.
    std::uint32_t count(std::size_t minBytes) {
        const std::uint32_t n = u32();
        if (ok && n > in.size() / minBytes) ok = false;
        return ok ? n : 0;
    }
};

enum DirectiveBits : std::uint32_t {
    kNoStore = 1, kNoCache = 2, kPrivate = 4, kPublic = 8, kMustRevalidate = 16,
    kProxyRevalidate = 32, kNoTransform = 64, kImmutable = 128,
};

std::string encodeMeta(const CachedResponse& e) {
    std::string m;
    putStr(m, e.url);
    putU32(m, static_cast<std::uint32_t>(e.tags.size()));
    for (const auto& t : e.tags) putStr(m, t);
    m.push_back(e.vary.star ? 1 : 0);
    putU32(m, static_cast<std::uint32_t>(e.vary.fields.size()));
    for (const auto& [k, v] : e.vary.fields) {
        putStr(m, k);
        putStr(m, v);
    }
    putU32(m, static_cast<std::uint32_t>(e.status));
    putStr(m, e.reason);
    putU32(m, static_cast<std::uint32_t>(e.headers.size()));
    for (const auto& [k, v] : e.headers) {
        putStr(m, k);
        putStr(m, v);
    }
    const ResponseDirectives& d = e.directives;
    std::uint32_t bits = 0;
    if (d.noStore) bits |= kNoStore;
    if (d.noCache) bits |= kNoCache;
    if (d.isPrivate) bits |= kPrivate;
    if (d.isPublic) bits |= kPublic;
    if (d.mustRevalidate) bits |= kMustRevalidate;
    if (d.proxyRevalidate) bits |= kProxyRevalidate;
    if (d.noTransform) bits |= kNoTransform;
    if (d.immutable) bits |= kImmutable;
    putU32(m, bits);
    putOptU32(m, d.maxAge);
    putOptU32(m, d.sMaxAge);
    putOptU32(m, d.staleWhileRevalidate);
    putOptU32(m, d.staleIfError);
    putI64(m, e.age.requestTime);
    putI64(m, e.age.responseTime);
    m.push_back(e.age.date ? 1 : 0);
    putI64(m, e.age.date.value_or(0));
    putI64(m, e.age.ageValue);
    putI64(m, e.lifetime);
    putStr(m, e.etag);
    putStr(m, e.lastModified);
    return m;
}

bool decodeMeta(std::string_view meta, CachedResponse& e) {
    Reader r{meta};
    e.url = r.str();
    const std::uint32_t tags = r.count(4);
    for (std::uint32_t i = 0; i < tags && r.ok; ++i) e.tags.push_back(r.str());
    e.vary.star = r.flag();
    const std::uint32_t vary = r.count(8);
    for (std::uint32_t i = 0; i < vary && r.ok; ++i) {
        std::string k = r.str();
        std::string v = r.str();
        e.vary.fields.emplace_back(std::move(k), std::move(v));
    }
    const std::uint32_t status = r.u32();
    if (status < 100 || status > 999) r.ok = false;
    e.status = static_cast<int>(status);
    e.reason = r.str();
    const std::uint32_t headers = r.count(8);
    for (std::uint32_t i = 0; i < headers && r.ok; ++i) {
        std::string k = r.str();
        std::string v = r.str();
        e.headers.emplace_back(std::move(k), std::move(v));
    }
    const std::uint32_t bits = r.u32();
    if (bits & ~0xFFu) r.ok = false;
    ResponseDirectives& d = e.directives;
    d.noStore = bits & kNoStore;
    d.noCache = bits & kNoCache;
    d.isPrivate = bits & kPrivate;
    d.isPublic = bits & kPublic;
    d.mustRevalidate = bits & kMustRevalidate;
    d.proxyRevalidate = bits & kProxyRevalidate;
    d.noTransform = bits & kNoTransform;
    d.immutable = bits & kImmutable;
    d.maxAge = r.optU32();
    d.sMaxAge = r.optU32();
    d.staleWhileRevalidate = r.optU32();
    d.staleIfError = r.optU32();
    e.age.requestTime = r.i64();
    e.age.responseTime = r.i64();
    const bool hasDate = r.flag();
    const std::int64_t date = r.i64();
    if (hasDate) e.age.date = date;
    else if (date != 0) r.ok = false;
    e.age.ageValue = r.i64();
    e.lifetime = r.i64();
    e.etag = r.str();
    e.lastModified = r.str();
    if (e.age.ageValue < 0 || e.lifetime < 0) r.ok = false;
    return r.ok && r.in.empty();
}

}  // namespace

const char* toString(DiskEntryError e) {
    switch (e) {
        case DiskEntryError::None: return "ok";
        case DiskEntryError::Short: return "truncated";
        case DiskEntryError::Magic: return "not a cache entry";
        case DiskEntryError::Version: return "another format version";
        case DiskEntryError::Lengths: return "bad lengths";
        case DiskEntryError::HeadChecksum: return "head checksum mismatch";
        case DiskEntryError::BodyChecksum: return "body checksum mismatch";
        case DiskEntryError::Meta: return "unreadable metadata";
    }
    return "?";
}

std::uint32_t crc32(std::string_view bytes, std::uint32_t crc) {
    crc = ~crc;
    for (unsigned char b : bytes) crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

std::string diskFileName(std::string_view primaryKey, const VaryValues& vary) {
    // FNV-1a 64 over the key and the Vary values, each part length-prefixed so no two different
    // inputs concatenate alike.
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&](std::string_view s) {
        const std::uint64_t n = s.size();
        for (int i = 0; i < 8; ++i) {
            h ^= (n >> (8 * i)) & 0xFF;
            h *= 0x100000001b3ull;
        }
        for (unsigned char c : s) {
            h ^= c;
            h *= 0x100000001b3ull;
        }
    };
    mix(primaryKey);
    mix(vary.star ? "*" : "");
    for (const auto& [k, v] : vary.fields) {
        mix(k);
        mix(v);
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string name(16, '0');
    for (int i = 15; i >= 0; --i) {
        name[static_cast<std::size_t>(i)] = kHex[h & 0xF];
        h >>= 4;
    }
    return name + ".pce";
}

std::string encodeDiskEntry(const CachedResponse& entry) {
    const std::string meta = encodeMeta(entry);
    if (entry.primaryKey.size() > kDiskMaxKey || meta.size() > kDiskMaxMeta) return {};
    const std::string_view body = entry.body ? std::string_view(*entry.body) : std::string_view();
    std::string out;
    out.reserve(kDiskHeadSize + entry.primaryKey.size() + meta.size() + body.size());
    out.append(kMagic, 4);
    putU32(out, kDiskFormatVersion);
    putU32(out, static_cast<std::uint32_t>(entry.primaryKey.size()));
    putU32(out, static_cast<std::uint32_t>(meta.size()));
    putU64(out, body.size());
    putU32(out, crc32(body));
    putU32(out, 0);  // head CRC, below
    out.append(entry.primaryKey);
    out.append(meta);
    std::uint32_t headCrc = crc32(std::string_view(out).substr(0, 28));
    headCrc = crc32(std::string_view(out).substr(kDiskHeadSize), headCrc);
    setU32(out, 28, headCrc);
    out.append(body);
    return out;
}

std::optional<DiskEntryHead> parseDiskHead(std::string_view bytes, DiskEntryError& why) {
    if (bytes.size() < kDiskHeadSize) {
        why = DiskEntryError::Short;
        return std::nullopt;
    }
    if (std::memcmp(bytes.data(), kMagic, 4) != 0) {
        why = DiskEntryError::Magic;
        return std::nullopt;
    }
    Reader r{bytes.substr(4, kDiskHeadSize - 4)};
    if (r.u32() != kDiskFormatVersion) {
        why = DiskEntryError::Version;
        return std::nullopt;
    }
    DiskEntryHead head;
    head.keyLength = r.u32();
    head.metaLength = r.u32();
    head.bodyLength = r.num(8);
    head.bodyCrc = r.u32();
    if (head.keyLength == 0 || head.keyLength > kDiskMaxKey || head.metaLength > kDiskMaxMeta ||
        head.bodyLength > (std::uint64_t{1} << 40)) {
        why = DiskEntryError::Lengths;
        return std::nullopt;
    }
    why = DiskEntryError::None;
    return head;
}

bool decodeDiskMeta(std::string_view prefix, std::optional<std::uint64_t> fileSize, DiskEntryHead& head,
                    CachedResponse& out, DiskEntryError& why) {
    const auto parsed = parseDiskHead(prefix, why);
    if (!parsed) return false;
    head = *parsed;
    if (fileSize && *fileSize != head.fileSize()) {
        why = *fileSize < head.fileSize() ? DiskEntryError::Short : DiskEntryError::Lengths;
        return false;
    }
    const std::size_t metaEnd = kDiskHeadSize + head.keyLength + head.metaLength;
    if (prefix.size() < metaEnd) {
        why = DiskEntryError::Short;
        return false;
    }
    Reader r{prefix.substr(28, 4)};
    const std::uint32_t stored = r.u32();
    std::uint32_t crc = crc32(prefix.substr(0, 28));
    crc = crc32(prefix.substr(kDiskHeadSize, metaEnd - kDiskHeadSize), crc);
    if (crc != stored) {
        why = DiskEntryError::HeadChecksum;
        return false;
    }
    out = CachedResponse{};
    out.primaryKey = std::string(prefix.substr(kDiskHeadSize, head.keyLength));
    if (!decodeMeta(prefix.substr(kDiskHeadSize + head.keyLength, head.metaLength), out)) {
        why = DiskEntryError::Meta;
        return false;
    }
    why = DiskEntryError::None;
    return true;
}

bool decodeDiskEntry(std::string_view file, CachedResponse& out, DiskEntryError& why) {
    DiskEntryHead head;
    if (!decodeDiskMeta(file, file.size(), head, out, why)) return false;
    const std::string_view body = file.substr(kDiskHeadSize + head.keyLength + head.metaLength);
    if (crc32(body) != head.bodyCrc) {
        why = DiskEntryError::BodyChecksum;
        return false;
    }
    out.body = std::make_shared<const std::string>(body);
    return true;
}

}  // namespace proxy::cache
