#pragma once
// The disk store's file format, pure (no I/O) so the unit tests and the fuzzer reach every byte.
//
// One file per stored variant, all integers little-endian:
//   0  magic "PXCE"                 4 bytes
//   4  format version (1)           u32
//   8  key length                   u32   the primary key
//   12 meta length                  u32   everything else but the body (see disk_entry.cpp)
//   16 body length                  u64
//   24 CRC-32 of the body           u32
//   28 CRC-32 of bytes 0..27 + key + meta   u32
//   32 key, meta, body
// A file is whole when its size is exactly 32 + key + meta + body. The start-up scan checks the
// head (magic, version, lengths against the file size, the head CRC) without reading the body;
// the body CRC is checked when the entry is read for a hit. Anything that fails is dropped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/store.h"

namespace proxy::cache {

inline constexpr std::uint32_t kDiskFormatVersion = 1;
inline constexpr std::size_t kDiskHeadSize = 32;
inline constexpr std::uint32_t kDiskMaxKey = 64 * 1024;          // longer keys are not stored
inline constexpr std::uint32_t kDiskMaxMeta = 4 * 1024 * 1024;   // headers, tags, Vary values

enum class DiskEntryError : std::uint8_t { None, Short, Magic, Version, Lengths, HeadChecksum,
                                           BodyChecksum, Meta };
const char* toString(DiskEntryError e);

struct DiskEntryHead {
    std::uint32_t keyLength = 0;
    std::uint32_t metaLength = 0;
    std::uint64_t bodyLength = 0;
    std::uint32_t bodyCrc = 0;
    std::uint64_t fileSize() const { return kDiskHeadSize + keyLength + metaLength + bodyLength; }
};

// CRC-32 (IEEE 802.3, as zlib's crc32), continuing from crc.
std::uint32_t crc32(std::string_view bytes, std::uint32_t crc = 0);

// The file for a (key, Vary values) variant: 16 hex digits of a 64-bit hash, ".pce". Two variants
// whose names collide replace each other; the key and Vary values inside the file are what a
// lookup matches, so a collision never serves the wrong object.
std::string diskFileName(std::string_view primaryKey, const VaryValues& vary);

// The whole file for entry. Empty when the key or meta exceed the limits above.
std::string encodeDiskEntry(const CachedResponse& entry);

// Reads the fixed head. Checks magic, version and the length limits only.
std::optional<DiskEntryHead> parseDiskHead(std::string_view bytes, DiskEntryError& why);

// Decodes head + key + meta (prefix holds at least that much; the body need not be present) into
// out (its body left null), checking the head CRC. fileSize, when known, must match the head.
bool decodeDiskMeta(std::string_view prefix, std::optional<std::uint64_t> fileSize, DiskEntryHead& head,
                    CachedResponse& out, DiskEntryError& why);

// Decodes a whole file, body and body CRC included.
bool decodeDiskEntry(std::string_view file, CachedResponse& out, DiskEntryError& why);

}  // namespace proxy::cache
