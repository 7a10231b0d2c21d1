#pragma once
// Row groups: a batch of access records encoded column by column into compact blobs, the storage
// unit of a columnar access log (one SQLite row per group and column instead of one per record).
// The SQLite access log's schema 4 stores its records this way (sqlite_access_log.cpp);
// bench/log_rowgroup_bench.cpp measures it against row-by-row INSERTs (docs/logging.md).
//
// Blob format (all integers are LEB128 varints unless said otherwise):
//   column blob  = kind:u8, body
//   int column   kind 0 (plain): rows x zigzag(value)
//                kind 1 (delta): rows x zigzag(value - previous value), previous starts at 0
//   text column  kind 2 (plain): rows x length, then the concatenated bytes
//                kind 3 (dictionary): entries, entries x (length, bytes), then rows x index
//                                     (no indexes when entries == 1)
// The row count is not in the blob: the caller stores it with the group and passes it back, so a
// blob that disagrees with its group is an error, never a short read.
// No Qt, no asio, no std::expected (the fuzz target links it alone).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::logging::rowgroup {

// Integer columns of a record, in storage order.
enum IntColumn : std::uint8_t {
    TimeUs, DurationUs, BytesIn, BytesOut, ConnectUs, ResponseUs, Status, ClientPort, Truncated,
    kIntColumns
};
// Text columns follow the integers; their order is AccessRecord::Field's.
inline constexpr std::size_t kTextColumns = 17;
inline constexpr std::size_t kColumns = kIntColumns + kTextColumns;

inline constexpr std::uint32_t kMaxRows = 65536;          // rows per group, a decoding bound
inline constexpr std::uint32_t kMaxTextBytes = 1u << 20;  // one text value (records cap at 640)
inline constexpr std::uint32_t kMaxDictionary = 256;      // distinct values before a column goes plain

// One record as the encoder sees it (AccessRecord is converted field by field; no copies).
struct RowView {
    std::array<std::int64_t, kIntColumns> ints{};
    std::array<std::string_view, kTextColumns> texts{};
};

inline constexpr std::uint64_t kMaxColumnBytes = 1u << 30;  // text bytes of one column in a group

// Builds one group. add() copies what it needs (the caller's strings may go away afterwards).
class Encoder {
public:
    // maxColumnBytes: the bound on one text column's bytes (kMaxColumnBytes; tests use less).
    explicit Encoder(std::uint64_t maxColumnBytes = kMaxColumnBytes);
    // False (and nothing added) when the group is full: kMaxRows rows, or a text column would pass
    // maxColumnBytes. Text values longer than kMaxTextBytes are cut to it.
    bool add(const RowView& row);
    std::uint32_t rows() const { return rows_; }
    // The blob of column c (0 .. kColumns-1) for the rows added so far; "" for any other c.
    std::string encodeColumn(std::size_t c) const;
    void reset();

    // Summary for skipping groups without decoding them.
    std::int64_t minTime() const { return minTime_; }
    std::int64_t maxTime() const { return maxTime_; }
    std::uint32_t statusClasses() const { return statusClasses_; }  // bit 0 = none, bit n = nxx

private:
    struct TextColumn {
        // While `dictionary`: each distinct value once (the entries), and a row is its index.
        // After the dictionary overflowed: every row's value, concatenated, with its length.
        // (Storing every row's bytes all along, in case of an overflow, cost ~1,300 instructions
        // per record for columns that almost never overflow; an overflow now rebuilds them once.)
        std::string bytes;
        std::vector<std::uint32_t> lengths;
        std::uint64_t plainBytes = 0;         // what the rows' values add up to, either way
        // Open-addressed dictionary over `bytes` while the column has <= kMaxDictionary values.
        bool dictionary = true;
        // The previous row's entry: most rows repeat it (listener, method, version, and the
        // columns that stay empty), and then cost a length compare and a short inline compare.
        std::uint8_t last = 0;
        std::uint32_t lastOffset = 0, lastLength = 0;
        std::vector<std::uint32_t> entryOffset, entryLength;
        std::vector<std::uint64_t> entryHash;
        std::array<std::int16_t, 1024> buckets;  // -1 = empty, else entry number
        // A row's entry number, kept only from the second entry on: while the dictionary has one
        // entry (a column constant across the group) every row is entry 0 and nothing is stored
        // per row. The blob is the same either way (format: no indexes when entries == 1).
        std::vector<std::uint8_t> indexes;
    };
    void addText(TextColumn& col, std::string_view value);
    void addEntry(TextColumn& col, std::string_view value, std::uint32_t length);

    std::uint32_t rows_ = 0;
    std::uint64_t maxColumnBytes_;
    std::uint64_t textBytes_ = 0;  // every text column's plainBytes added up (bounds each one)
    // The integer columns row by row (one append per record); encodeColumn() reads one column out.
    std::vector<std::array<std::int64_t, kIntColumns>> ints_;
    std::array<TextColumn, kTextColumns> texts_;
    std::int64_t minTime_ = 0, maxTime_ = 0;
    std::uint32_t statusClasses_ = 0;
};

// One decoded column. Text values point into the blob the column was decoded from.
struct Column {
    std::vector<std::int64_t> ints;
    std::vector<std::string_view> texts;
};

// Decodes column c (its kind must suit it) of a group of `rows` rows. Returns "" on success or a
// sentence naming what is wrong; never reads outside `blob`.
std::string decodeColumn(std::string_view blob, std::size_t c, std::uint32_t rows, Column& out);

// For a dictionary-encoded text column: 1 when its dictionary holds value, 0 when not (no row of the
// group has it); -1 when the blob is not a well-formed dictionary column (decode it instead).
int dictionaryHas(std::string_view blob, std::string_view value);

// A 64-bit hash of a value (stable across builds: it may be stored in bloom filters).
std::uint64_t hashBytes(std::string_view s, std::uint64_t seed = 0);

}  // namespace proxy::logging::rowgroup
