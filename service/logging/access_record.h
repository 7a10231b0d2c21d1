#pragma once
// One finished exchange, as the access log keeps it. Filled on the worker thread straight into a
// queue slot (no allocation: the strings are copied into a fixed inline buffer, each field capped),
// formatted and written later on the access log's writer thread.

#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::filter { struct RequestContext; }

namespace proxy::logging {

// The numbers of a record (everything but its text), kept apart so that copying a record can
// copy them whole and then only the text in use.
struct AccessRecordNumbers {
    std::int64_t timeUs = 0;           // wall clock when the request head arrived, µs since epoch
    std::uint64_t bytesIn = 0;
    std::uint64_t bytesOut = 0;
    std::int64_t durationUs = 0;       // whole exchange
    std::int64_t connectUs = -1;       // upstream connect; -1 = no upstream connection made
    std::int64_t responseUs = -1;      // until the upstream's response head; -1 = none
    std::uint64_t sequence = 0;        // set by the queue; tests use it to check completeness
    std::int32_t status = 0;           // 0 = no response sent
    std::uint16_t clientPort = 0;
    std::uint16_t truncated = 0;       // bit per Field cut at its cap
};

struct AccessRecord : AccessRecordNumbers {
    enum Field : std::uint8_t {
        RequestId, ClientAddress, Listener, Route, Method, Host, Path, Query, HttpVersion,
        Upstream, Server, UserAgent, Referer, TlsVersion, CacheStatus, SecurityAction, Error,
        kFieldCount
    };
    static constexpr std::size_t kTextCapacity = 2048;

    AccessRecord() = default;
    // A copy takes the numbers and only the text in use: a record holds a few hundred bytes of its
    // 2 KiB (a whole-buffer copy was ~470 instructions and 64 cache lines). The writer reads
    // records in their queue slots; copies remain for AccessLog::submit(record) and tests.
    AccessRecord(const AccessRecord& other) : AccessRecordNumbers(other) { copyText(other); }
    AccessRecord& operator=(const AccessRecord& other) {
        if (this != &other) {
            static_cast<AccessRecordNumbers&>(*this) = other;
            copyText(other);
        }
        return *this;
    }

    std::string_view field(Field f) const { return {text_.data() + offset_[f], length_[f]}; }
    // Copies at most the field's cap (and what is left of the buffer). Fields are set once each.
    void set(Field f, std::string_view value);
    void clearText();

    static std::string_view fieldName(Field f);  // JSON / column name, e.g. "client_addr"
    static std::size_t fieldCap(Field f);

private:
    void copyText(const AccessRecord& other) {  // every member below, the text up to used_
        offset_ = other.offset_;
        length_ = other.length_;
        used_ = other.used_;
        std::memcpy(text_.data(), other.text_.data(), used_);
    }

    std::array<std::uint16_t, kFieldCount> offset_{};
    std::array<std::uint16_t, kFieldCount> length_{};
    std::uint16_t used_ = 0;
    std::array<char, kTextCapacity> text_;
};

// Records read in place: a span, or the access log queue's slots (records a fixed stride apart),
// so the writer hands the queue's records to the sinks without copying them into a batch.
class RecordRange {
public:
    RecordRange() = default;
    RecordRange(std::span<const AccessRecord> records)  // NOLINT: a span is a range
        : first_(reinterpret_cast<const unsigned char*>(records.data())),
          stride_(sizeof(AccessRecord)),
          size_(records.size()) {}
    RecordRange(std::span<AccessRecord> records)  // NOLINT
        : RecordRange(std::span<const AccessRecord>(records)) {}
    RecordRange(const std::vector<AccessRecord>& records)  // NOLINT
        : RecordRange(std::span<const AccessRecord>(records)) {}
    RecordRange(const AccessRecord* first, std::size_t stride, std::size_t size)
        : first_(reinterpret_cast<const unsigned char*>(first)), stride_(stride), size_(size) {}

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const AccessRecord& operator[](std::size_t i) const {
        return *reinterpret_cast<const AccessRecord*>(first_ + i * stride_);
    }

    // By index, so no pointer past the last record is ever formed (the queue's last slot may end
    // its allocation).
    class Iterator {
    public:
        Iterator(const RecordRange* range, std::size_t i) : range_(range), i_(i) {}
        const AccessRecord& operator*() const { return (*range_)[i_]; }
        Iterator& operator++() {
            ++i_;
            return *this;
        }
        bool operator==(const Iterator& other) const { return i_ == other.i_; }

    private:
        const RecordRange* range_;
        std::size_t i_;
    };
    Iterator begin() const { return {this, 0}; }
    Iterator end() const { return {this, size_}; }

private:
    const unsigned char* first_ = nullptr;
    std::size_t stride_ = sizeof(AccessRecord);
    std::size_t size_ = 0;
};

// Copies what the log needs out of a finished exchange (the request buffers are reused next).
void fillRecord(AccessRecord& record, const filter::RequestContext& ctx);

// One JSON object, no newline, appended to out. Invalid UTF-8 becomes U+FFFD, so every line parses.
void appendJsonLine(std::string& out, const AccessRecord& record);

// Appends s as a JSON string literal (quotes included), replacing invalid UTF-8 with U+FFFD.
void appendJsonString(std::string& out, std::string_view s);
// s with invalid UTF-8 sequences replaced by U+FFFD (for JSON results built from stored text).
std::string sanitizeUtf8(std::string_view s);

// "2026-01-31T12:34:56.789012Z"
std::string formatTimeUs(std::int64_t timeUs);

}  // namespace proxy::logging
