// libFuzzer target: the disk store's entry decoder (head, metadata, body checksum) over arbitrary
// bytes. Whatever decodes must encode back to the same bytes (the format has one encoding).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cache/disk_entry.h"

using namespace proxy::cache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    DiskEntryError why = DiskEntryError::None;
    if (const auto head = parseDiskHead(in, why)) {
        if (head->keyLength > kDiskMaxKey || head->metaLength > kDiskMaxMeta) std::abort();
    }
    CachedResponse meta;
    DiskEntryHead head;
    if (decodeDiskMeta(in, std::nullopt, head, meta, why) && meta.body) std::abort();
    CachedResponse out;
    if (decodeDiskEntry(in, out, why)) {
        if (why != DiskEntryError::None || !out.body) std::abort();
        if (encodeDiskEntry(out) != in) std::abort();
    } else if (why == DiskEntryError::None) {
        std::abort();
    }
    return 0;
}
