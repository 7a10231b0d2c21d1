#include "logging/row_group.h"

#include <algorithm>
#include <cstring>

namespace proxy::logging::rowgroup {

namespace {

enum Kind : std::uint8_t { IntPlain = 0, IntDelta = 1, TextPlain = 2, TextDictionary = 3 };

void putVarint(std::string& out, std::uint64_t v) {
    char buf[10];
    std::size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = static_cast<char>(v | 0x80);
        v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out.append(buf, n);
}

// Grows out by up to `most` bytes that write(char*) fills, returning how many it wrote; the rest
// is cut off. Without zero-filling them first where the library can (a column's worst case is
// 10 bytes a row: zeroing it was ~170 instructions per record).
template <typename Write>
void appendRaw(std::string& out, std::size_t most, Write write) {
    const std::size_t start = out.size();
#if defined(__cpp_lib_string_resize_and_overwrite)
    out.resize_and_overwrite(start + most, [&](char* data, std::size_t) { return start + write(data + start); });
#else
    out.resize(start + most);
    out.resize(start + write(out.data() + start));
#endif
}

// Appends a varint for every value, writing into the string's storage directly (one resize per
// column instead of an append per value).
template <typename Values, typename Map>
void putVarints(std::string& out, const Values& values, Map map) {
    appendRaw(out, values.size() * 10, [&](char* begin) {
        char* p = begin;
        for (const auto& value : values) {
            std::uint64_t v = map(value);
            while (v >= 0x80) {
                *p++ = static_cast<char>(v | 0x80);
                v >>= 7;
            }
            *p++ = static_cast<char>(v);
        }
        return static_cast<std::size_t>(p - begin);
    });
}

// a[0..n) == b[0..n), inline for the short values most columns hold (a libc memcmp call was a
// third of the cost of a repeated value). Reads only inside both ranges.
inline bool sameBytes(const char* a, const char* b, std::size_t n) {
    if (n >= 8) {
        if (n > 16) return std::memcmp(a, b, n) == 0;
        std::uint64_t a0, b0, a1, b1;  // two loads that overlap when n < 16
        std::memcpy(&a0, a, 8);
        std::memcpy(&b0, b, 8);
        std::memcpy(&a1, a + n - 8, 8);
        std::memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4) {
        std::uint32_t a0, b0, a1, b1;
        std::memcpy(&a0, a, 4);
        std::memcpy(&b0, b, 4);
        std::memcpy(&a1, a + n - 4, 4);
        std::memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return false;
    return true;
}

std::uint64_t zigzag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
std::int64_t unzigzag(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// A bounds-checked reader: every failure sets error once and later reads return 0.
struct Reader {
    const unsigned char* p;
    const unsigned char* end;
    const char* error = nullptr;

    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p == end) return fail("the column ends inside a number");
            const unsigned char b = *p++;
            if (shift == 63 && b > 1) return fail("a number is over 64 bits");
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        return fail("a number is over 64 bits");
    }
    std::string_view bytes(std::uint64_t n) {
        if (error) return {};
        if (n > static_cast<std::uint64_t>(end - p)) {
            fail("the column ends inside a value");
            return {};
        }
        std::string_view s(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
        p += n;
        return s;
    }
    std::uint64_t fail(const char* why) {
        if (!error) error = why;
        p = end;
        return 0;
    }
};

}  // namespace

std::uint64_t hashBytes(std::string_view s, std::uint64_t seed) {
    // 8 bytes at a time, multiply-xorshift mixing (fast for short strings; not cryptographic).
    constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
    std::uint64_t h = seed ^ (s.size() * k);
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    if (i < s.size()) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, s.size() - i);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h;
}

Encoder::Encoder(std::uint64_t maxColumnBytes) : maxColumnBytes_(maxColumnBytes) { reset(); }

void Encoder::reset() {
    rows_ = 0;
    textBytes_ = 0;
    ints_.clear();
    for (auto& t : texts_) {
        t.bytes.clear();
        t.lengths.clear();
        t.plainBytes = 0;
        t.dictionary = true;
        t.last = 0;
        t.lastOffset = t.lastLength = 0;
        t.entryOffset.clear();
        t.entryLength.clear();
        t.entryHash.clear();
        t.buckets.fill(-1);
        t.indexes.clear();
    }
    minTime_ = maxTime_ = 0;
    statusClasses_ = 0;
}

// A value that is not the previous row's (add() checked that): looked up or added in the
// dictionary, or appended to a plain column. Called before rows_ counts the row.
void Encoder::addText(TextColumn& col, std::string_view value) {
    const auto length = static_cast<std::uint32_t>(value.size());
    if (col.dictionary) {
        addEntry(col, value, length);
        if (col.dictionary) return;
    }
    col.lengths.push_back(length);
    col.bytes.append(value.data(), length);
}

// A dictionary column's value that differs from the previous row's: found or added in the
// dictionary, or (past kMaxDictionary) the column turns plain and the caller appends the value.
void Encoder::addEntry(TextColumn& col, std::string_view value, std::uint32_t length) {
    const std::uint64_t h = hashBytes(value);
    std::size_t slot = h & (col.buckets.size() - 1);
    std::int16_t found = -1;
    for (;; slot = (slot + 1) & (col.buckets.size() - 1)) {
        const std::int16_t e = col.buckets[slot];
        if (e < 0) break;
        if (col.entryHash[e] == h && col.entryLength[e] == length &&
            sameBytes(col.bytes.data() + col.entryOffset[e], value.data(), length)) {
            found = e;
            break;
        }
    }
    if (found < 0 && col.entryOffset.size() < kMaxDictionary) {
        found = static_cast<std::int16_t>(col.entryOffset.size());
        col.buckets[slot] = found;
        col.entryOffset.push_back(static_cast<std::uint32_t>(col.bytes.size()));
        col.entryLength.push_back(length);
        col.entryHash.push_back(h);
        col.bytes.append(value);
        // The second entry: the rows so far (all entry 0) get their indexes now.
        if (found == 1) col.indexes.assign(rows_, 0);
    }
    if (found >= 0) {
        col.last = static_cast<std::uint8_t>(found);
        col.lastOffset = col.entryOffset[found];
        col.lastLength = length;
        if (!col.indexes.empty() || found > 0) col.indexes.push_back(col.last);
        return;
    }
    // Too many distinct values: plain from now on. The rows so far become plain values.
    std::string plain;
    plain.reserve(col.plainBytes);
    col.lengths.reserve(col.indexes.size() + 1);
    for (const std::uint8_t e : col.indexes) {
        plain.append(col.bytes, col.entryOffset[e], col.entryLength[e]);
        col.lengths.push_back(col.entryLength[e]);
    }
    col.bytes = std::move(plain);
    col.dictionary = false;
    col.indexes.clear();
    col.indexes.shrink_to_fit();
}

bool Encoder::add(const RowView& row) {
    if (rows_ >= kMaxRows) return false;
    // Each column's bytes are at most textBytes_, so only a group near the bound checks them.
    if (textBytes_ + kTextColumns * std::uint64_t{kMaxTextBytes} > maxColumnBytes_)
        for (std::size_t c = 0; c < kTextColumns; ++c)
            if (texts_[c].plainBytes + std::min<std::size_t>(row.texts[c].size(), kMaxTextBytes) > maxColumnBytes_)
                return false;
    ints_.push_back(row.ints);
    std::uint64_t rowBytes = 0;
    for (std::size_t c = 0; c < kTextColumns; ++c) {
        TextColumn& col = texts_[c];
        const std::string_view value = row.texts[c].substr(0, kMaxTextBytes);
        const auto length = static_cast<std::uint32_t>(value.size());
        col.plainBytes += length;
        rowBytes += length;
        // The same value as the previous row is the common case (listener, method, version, and
        // the columns that stay empty): a length compare and a short compare, inline.
        if (col.dictionary && rows_ > 0 && col.lastLength == length &&
            sameBytes(col.bytes.data() + col.lastOffset, value.data(), length)) {
            if (!col.indexes.empty()) col.indexes.push_back(col.last);
            continue;
        }
        addText(col, value);
    }
    textBytes_ += rowBytes;
    const std::int64_t t = row.ints[TimeUs];
    if (rows_ == 0 || t < minTime_) minTime_ = t;
    if (rows_ == 0 || t > maxTime_) maxTime_ = t;
    const std::int64_t status = row.ints[Status];
    statusClasses_ |= 1u << (status >= 100 && status <= 599 ? status / 100 : 0);
    ++rows_;
    return true;
}

std::string Encoder::encodeColumn(std::size_t c) const {
    std::string out;
    if (c < kIntColumns) {
        const bool delta = c == TimeUs;
        out.push_back(static_cast<char>(delta ? IntDelta : IntPlain));
        std::int64_t previous = 0;
        putVarints(out, ints_, [&](const std::array<std::int64_t, kIntColumns>& row) {
            const std::int64_t v = row[c];
            const std::uint64_t z = zigzag(delta ? static_cast<std::int64_t>(static_cast<std::uint64_t>(v) -
                                                                             static_cast<std::uint64_t>(previous))
                                                 : v);
            previous = v;
            return z;
        });
        return out;
    }
    if (c >= kColumns) return out;
    const TextColumn& col = texts_[c - kIntColumns];
    if (col.dictionary && rows_ > 0) {
        std::size_t dictBytes = 0;
        for (const auto len : col.entryLength) dictBytes += len + 2;
        out.reserve(8 + dictBytes + col.indexes.size());
        out.push_back(static_cast<char>(TextDictionary));
        putVarint(out, col.entryOffset.size());
        for (std::size_t e = 0; e < col.entryOffset.size(); ++e) {
            putVarint(out, col.entryLength[e]);
            out.append(col.bytes, col.entryOffset[e], col.entryLength[e]);
        }
        if (col.entryOffset.size() > 1)
            out.append(reinterpret_cast<const char*>(col.indexes.data()), col.indexes.size());
        return out;
    }
    out.reserve(1 + col.lengths.size() * 10 + col.bytes.size());
    out.push_back(static_cast<char>(TextPlain));
    putVarints(out, col.lengths, [](std::uint32_t len) { return std::uint64_t{len}; });
    out.append(col.bytes);
    return out;
}

std::string decodeColumn(std::string_view blob, std::size_t c, std::uint32_t rows, Column& out) {
    out.ints.clear();
    out.texts.clear();
    if (c >= kColumns) return "no such column";
    if (rows > kMaxRows) return "the group claims more rows than a group can hold";
    Reader in{reinterpret_cast<const unsigned char*>(blob.data()),
              reinterpret_cast<const unsigned char*>(blob.data()) + blob.size()};
    if (blob.empty()) return "the column is empty";
    const auto kind = static_cast<Kind>(*in.p++);
    if (c < kIntColumns) {
        if (kind != IntPlain && kind != IntDelta) return "an integer column has a text encoding";
        out.ints.reserve(rows);
        std::int64_t previous = 0;
        for (std::uint32_t i = 0; i < rows && !in.error; ++i) {
            const std::int64_t v = unzigzag(in.varint());
            previous = kind == IntDelta ? static_cast<std::int64_t>(static_cast<std::uint64_t>(previous) +
                                                                     static_cast<std::uint64_t>(v))
                                        : v;
            out.ints.push_back(previous);
        }
    } else if (kind == TextPlain) {
        std::vector<std::uint32_t> lengths;
        lengths.reserve(rows);
        std::uint64_t total = 0;
        for (std::uint32_t i = 0; i < rows && !in.error; ++i) {
            const std::uint64_t len = in.varint();
            if (len > kMaxTextBytes) in.fail("a text value is longer than the limit");
            lengths.push_back(static_cast<std::uint32_t>(len));
            total += len;
        }
        if (!in.error && total > static_cast<std::uint64_t>(in.end - in.p))
            in.fail("the column ends inside a value");
        out.texts.reserve(rows);
        for (std::uint32_t i = 0; i < rows && !in.error; ++i) out.texts.push_back(in.bytes(lengths[i]));
    } else if (kind == TextDictionary) {
        const std::uint64_t entries = in.varint();
        if (!in.error && (entries == 0 || entries > kMaxDictionary))
            in.fail("the dictionary size is out of range");
        std::vector<std::string_view> dict;
        for (std::uint64_t e = 0; e < entries && !in.error; ++e) {
            const std::uint64_t len = in.varint();
            if (len > kMaxTextBytes) in.fail("a text value is longer than the limit");
            dict.push_back(in.bytes(len));
        }
        if (!in.error) {
            out.texts.reserve(rows);
            if (entries == 1) {
                out.texts.assign(rows, dict[0]);
            } else {
                const std::string_view idx = in.bytes(rows);
                for (std::uint32_t i = 0; i < rows && !in.error; ++i) {
                    const auto e = static_cast<unsigned char>(idx[i]);
                    if (e >= entries) in.fail("a dictionary index is out of range");
                    else out.texts.push_back(dict[e]);
                }
            }
        }
    } else {
        return "a text column has an unknown encoding";
    }
    if (in.error) {
        out.ints.clear();
        out.texts.clear();
        return in.error;
    }
    if (in.p != in.end) {
        out.ints.clear();
        out.texts.clear();
        return "the column has bytes after its last value";
    }
    return {};
}

int dictionaryHas(std::string_view blob, std::string_view value) {
    if (blob.empty() || static_cast<Kind>(blob[0]) != TextDictionary) return -1;
    Reader in{reinterpret_cast<const unsigned char*>(blob.data()) + 1,
              reinterpret_cast<const unsigned char*>(blob.data()) + blob.size()};
    const std::uint64_t entries = in.varint();
    if (in.error || entries == 0 || entries > kMaxDictionary) return -1;
    for (std::uint64_t e = 0; e < entries; ++e) {
        const std::uint64_t len = in.varint();
        if (len > kMaxTextBytes) return -1;
        const std::string_view entry = in.bytes(len);
        if (in.error) return -1;
        if (entry == value) return 1;
    }
    return 0;
}

}  // namespace proxy::logging::rowgroup
