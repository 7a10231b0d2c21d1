// libFuzzer target: the row-group column decoder over arbitrary bytes. Input: one byte picks the
// column, two bytes the row count (see below), the rest is the blob. Decoding must fail with a sentence or
// give exactly `rows` values, each text inside the blob; what decodes must survive a re-encode.
// dictionaryHas (the reader's zone-map check) must never read outside the blob, and must find
// every value of a dictionary column that decodes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "logging/row_group.h"

using namespace proxy::logging::rowgroup;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::size_t c = data[0] % (kColumns + 1);  // kColumns itself: "no such column"
    // Up to 4,096 rows (a group's size in the design) keeps each run fast; 0xff in the third byte
    // asks for one more row than a group may hold (must be refused).
    const std::uint32_t rows = data[2] == 0xff ? kMaxRows + 1
                                               : (static_cast<std::uint32_t>(data[1]) | static_cast<std::uint32_t>(data[2]) << 8) % 4097;
    const std::string_view blob(reinterpret_cast<const char*>(data + 3), size - 3);
    (void)dictionaryHas(blob, std::string_view(reinterpret_cast<const char*>(data + 1), 2));
    Column col;
    const std::string err = decodeColumn(blob, c, rows, col);
    if (!err.empty()) {
        if (!col.ints.empty() || !col.texts.empty()) std::abort();
        return 0;
    }
    if (c >= kColumns) std::abort();
    const std::size_t n = c < kIntColumns ? col.ints.size() : col.texts.size();
    if (n != rows) std::abort();
    for (const auto t : col.texts)
        if (t.size() > kMaxTextBytes || (t.size() && (t.data() < blob.data() || t.data() + t.size() > blob.data() + blob.size())))
            std::abort();
    if (c >= kIntColumns && rows > 0 && blob[0] == 3 && dictionaryHas(blob, col.texts[rows - 1]) != 1) std::abort();
    Encoder enc;
    for (std::uint32_t i = 0; i < rows; ++i) {
        RowView v;
        if (c < kIntColumns) v.ints[c] = col.ints[i];
        else v.texts[c - kIntColumns] = col.texts[i];
        if (!enc.add(v)) std::abort();
    }
    const std::string reencoded = enc.encodeColumn(c);  // `again` points into it
    Column again;
    if (!decodeColumn(reencoded, c, rows, again).empty()) std::abort();
    if (again.ints != col.ints || again.texts != col.texts) std::abort();
    return 0;
}
