#pragma once
// The version-neutral HTTP message model. Codecs (HTTP/1.1 today, HTTP/2 later) fill it in; the
// filters, routing and the proxy logic only ever see these types, never the wire format.
//
// Parsed names and values are views into the connection's read buffer, which stays put while the
// head is in use. Values the proxy creates live in the head's StringArena.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "http/field_name.h"

namespace proxy::http {

enum class Version : std::uint8_t { Http10, Http11 };

enum class Method : std::uint8_t {
    Get, Head, Post, Put, Delete, Options, Trace, Patch, Connect, Other
};

Method methodFromToken(std::string_view token);  // case-sensitive, as methods are (RFC 9110 9.1)
std::string_view methodName(Method m);            // "GET", ...; "" for Method::Other
std::string_view versionText(Version v);  // "HTTP/1.0" / "HTTP/1.1"

// How a message body is delimited.
enum class BodyFraming : std::uint8_t {
    None,           // no body (GET without length, HEAD response, 204, 304, 1xx)
    ContentLength,  // exactly contentLength bytes
    Chunked,        // chunked transfer coding
    UntilClose,     // response only: body runs until the origin closes (HTTP/1.0 style)
};

// Append-only storage for strings the proxy makes (added header values, rewritten paths). Blocks
// never move, so views into it stay valid until reset().
class StringArena {
public:
    std::string_view store(std::string_view s);
    void reset();
    void release() { std::vector<Block>().swap(blocks_); }  // frees every block
private:
    static constexpr std::size_t kBlock = 4096;
    struct Block { std::unique_ptr<char[]> data; std::size_t size = 0; std::size_t used = 0; };
    std::vector<Block> blocks_;
};

struct Header {
    Header() = default;
    Header(std::string_view n, std::string_view v) : name(n), value(v), id(classifyFieldName(n)) {}
    // For a codec that classified the name while scanning it: id == classifyFieldName(n).
    Header(std::string_view n, std::string_view v, FieldName knownId)
        : name(n), value(v), id(knownId) {}

    std::string_view name;   // as received; compare with iequals(), or id for the names it covers
    std::string_view value;  // leading and trailing whitespace already trimmed
    FieldName id = FieldName::Other;  // classifyFieldName(name): keep in step if name changes
};

// ASCII case-insensitive equality (field names, tokens). Inline: it runs several times per field.
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const unsigned char x = static_cast<unsigned char>(a[i]);
        const unsigned char y = static_cast<unsigned char>(b[i]);
        if (x == y) continue;
        // Equal ignoring case only when they differ in bit 0x20 and x is a letter.
        if ((x ^ y) != 0x20) return false;
        const unsigned char l = x | 0x20;
        if (l < 'a' || l > 'z') return false;
    }
    return true;
}

// An ordered list of fields; order and duplicates are kept as received. Lookups by name classify
// the name once; a well-known name is then matched by id, one byte per field.
class HeaderList {
public:
    void add(std::string_view name, std::string_view value) { fields_.emplace_back(name, value); }
    // For codecs: id must be classifyFieldName(name) (saves classifying the name twice).
    void add(std::string_view name, std::string_view value, FieldName id) {
        fields_.emplace_back(name, value, id);
    }
    // Replaces every field called name by one field, or appends it.
    void set(std::string_view name, std::string_view value);
    std::size_t remove(std::string_view name);  // returns how many were removed
    // The first field called name, or nullptr when absent.
    const Header* find(std::string_view name) const;
    std::size_t count(std::string_view name) const;
    bool has(std::string_view name) const { return find(name) != nullptr; }
    // True when a comma-separated field list of name holds token (case-insensitive).
    bool hasToken(std::string_view name, std::string_view token) const;

    const std::vector<Header>& fields() const { return fields_; }
    std::vector<Header>& fields() { return fields_; }
    std::size_t size() const { return fields_.size(); }
    void clear() { fields_.clear(); }
    void release() { std::vector<Header>().swap(fields_); }  // frees the storage too
private:
    std::vector<Header> fields_;
};

struct RequestHead {
    Method method = Method::Get;
    std::string_view methodText;
    std::string_view target;  // request-target as received (origin-form or absolute-form)
    std::string_view path;    // path part of target, without the query
    std::string_view query;   // after '?', without it; empty when absent
    Version version = Version::Http11;
    HeaderList headers;
    StringArena arena;

    // Derived by the codec from the headers, after the framing checks:
    std::string_view host;  // Host header (or the authority of an absolute-form target)
    BodyFraming framing = BodyFraming::None;
    std::uint64_t contentLength = 0;
    bool keepAlive = true;       // after Connection and version rules
    bool expectContinue = false;
    bool upgrade = false;        // Connection: upgrade with an Upgrade header

    void reset();
    void release();  // reset() and give back the field and arena storage
};

struct ResponseHead {
    int status = 200;
    std::string_view reason;
    Version version = Version::Http11;
    HeaderList headers;
    StringArena arena;

    BodyFraming framing = BodyFraming::None;
    std::uint64_t contentLength = 0;
    bool keepAlive = true;

    void reset();
    void release();  // reset() and give back the field and arena storage
};

}  // namespace proxy::http
