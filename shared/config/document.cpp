#include "config/document.h"

#include <optional>
#include <unordered_map>
#include <utility>

namespace proxy::config::detail {
namespace {

using Json = nlohmann::ordered_json;

Diagnostic documentError(std::string message) {
    return Diagnostic{Diagnostic::Severity::Error, "", std::move(message)};
}

// Length of the UTF-8 sequence starting at text[i], or 0 when it is not valid (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) return 1;
    std::size_t length = 0;
    unsigned char min1 = 0x80, max1 = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        length = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        length = 3;
        if (b0 == 0xE0) min1 = 0xA0;
        if (b0 == 0xED) max1 = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        length = 4;
        if (b0 == 0xF0) min1 = 0x90;
        if (b0 == 0xF4) max1 = 0x8F;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    if (byte(i + 1) < min1 || byte(i + 1) > max1) return 0;
    for (std::size_t k = 2; k < length; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return length;
}

// One pass over the raw bytes: NUL bytes, UTF-8 validity and nesting depth outside strings. This
// runs before nlohmann sees the text, so a 100,000-deep document never reaches a recursive walk.
bool prescan(std::string_view text, std::vector<Diagnostic>& diagnostics) {
    bool inString = false;
    bool escaped = false;
    std::size_t depth = 0;
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '\0') {
            diagnostics.push_back(documentError(
                "the document contains a NUL byte at byte offset " + std::to_string(i) + " (" +
                describePosition(text, i) + "); a configuration must be UTF-8 JSON text"));
            return false;
        }
        const std::size_t length = utf8SequenceLength(text, i);
        if (length == 0) {
            diagnostics.push_back(documentError("the document is not valid UTF-8: bad byte 0x" +
                                                [&] {
                                                    static const char* hex = "0123456789ABCDEF";
                                                    const auto b = static_cast<unsigned char>(c);
                                                    return std::string{hex[b >> 4], hex[b & 15]};
                                                }() +
                                                " at byte offset " + std::to_string(i) + " (" +
                                                describePosition(text, i) + ")"));
            return false;
        }
        if (length == 1) {
            if (inString) {
                if (escaped) {
                    escaped = false;
                } else if (c == '\\') {
                    escaped = true;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '{' || c == '[') {
                if (++depth > kMaxConfigDepth) {
                    diagnostics.push_back(
                        documentError("the document nests deeper than " +
                                      std::to_string(kMaxConfigDepth) + " levels at byte offset " +
                                      std::to_string(i) + " (" + describePosition(text, i) + ")"));
                    return false;
                }
            } else if ((c == '}' || c == ']') && depth > 0) {
                --depth;
            }
        } else {
            escaped = false;
        }
        i += length;
    }
    return true;
}

// Builds an ordered_json from SAX events, refusing repeated keys (nlohmann would silently keep the
// last one, so a typo'd copy-paste could override a setting unnoticed).
class DomBuilder {
  public:
    DomBuilder(std::string_view text, Json& root, std::vector<Diagnostic>& diagnostics)
        : text_(text), root_(root), diagnostics_(diagnostics) {}

    bool null() { return addValue(Json(nullptr)); }
    bool boolean(bool value) { return addValue(Json(value)); }
    bool number_integer(Json::number_integer_t value) { return addValue(Json(value)); }
    bool number_unsigned(Json::number_unsigned_t value) { return addValue(Json(value)); }
    bool number_float(Json::number_float_t value, const Json::string_t&) {
        return addValue(Json(value));
    }
    bool string(Json::string_t& value) { return addValue(Json(std::move(value))); }
    bool binary(Json::binary_t&) { return false; }  // never produced by the JSON reader

    bool start_object(std::size_t) {
        Json* node = addNode(Json::object());
        frames_.push_back(Frame{node, {}, {}, currentPath()});
        return true;
    }
    bool key(Json::string_t& value) {
        frames_.back().key = std::move(value);
        return true;
    }
    bool end_object() {
        frames_.pop_back();
        return true;
    }
    bool start_array(std::size_t) {
        Json* node = addNode(Json::array());
        frames_.push_back(Frame{node, {}, {}, currentPath()});
        return true;
    }
    bool end_array() {
        frames_.pop_back();
        return true;
    }

    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& error) {
        // nlohmann's text reads "[json.exception.parse_error.101] parse error at line 1, column 5:
        // syntax error while parsing value - ..."; keep the part after the position.
        std::string what = error.what();
        const std::size_t column = what.find("column ");
        std::size_t detailStart =
            column == std::string::npos ? std::string::npos : what.find(": ", column);
        std::string detail = detailStart == std::string::npos ? what : what.substr(detailStart + 2);
        const std::size_t offset = position > 0 ? position - 1 : 0;
        diagnostics_.push_back(documentError("the document is not valid JSON at " +
                                             describePosition(text_, offset) + ": " + detail));
        failed_ = true;
        return false;
    }

    bool failed() const { return failed_; }

  private:
    static constexpr std::size_t kIndexFrom = 32;

    struct Frame {
        Json* node;  // not owned: a node inside root_, kept stable because it is the newest child
        std::string key;
        std::unordered_map<std::string, std::size_t> keyIndex;
        std::string path;
    };

    std::string currentPath() const {
        if (frames_.empty()) return "";
        const Frame& frame = frames_.back();
        if (frame.node->is_object()) return pointerAppend(frame.path, frame.key);
        return pointerAppend(frame.path, frame.node->size() - 1);
    }

    bool addValue(Json&& value) { return addNode(std::move(value)) != nullptr; }

    Json* addNode(Json&& value) {
        if (frames_.empty()) {
            root_ = std::move(value);
            return &root_;
        }
        Frame& frame = frames_.back();
        if (frame.node->is_array()) {
            auto* array = frame.node->get_ptr<Json::array_t*>();
            array->push_back(std::move(value));
            return &array->back();
        }
        // ordered_map looks keys up linearly. Small objects (nearly all of them) are scanned; a
        // wide one gets a hash index so a hostile 16 MiB object still builds in O(n).
        auto* object = frame.node->get_ptr<Json::object_t*>();
        std::optional<std::size_t> existing;
        if (object->size() < kIndexFrom) {
            std::size_t i = 0;
            for (auto entry = object->begin(); entry != object->end() && !existing; ++entry, ++i)
                if (entry->first == frame.key) existing = i;
        } else {
            if (frame.keyIndex.empty()) {
                std::size_t i = 0;
                for (const auto& entry : *object) frame.keyIndex.emplace(entry.first, i++);
            }
            auto [it, inserted] = frame.keyIndex.try_emplace(frame.key, object->size());
            if (!inserted) existing = it->second;
        }
        if (existing) {
            diagnostics_.push_back(Diagnostic{
                Diagnostic::Severity::Error, pointerAppend(frame.path, frame.key),
                "the key '" + frame.key +
                    "' appears more than once in this object; each key may be given only once"});
            // ordered_map hides vector's operator[] behind its key lookup; index the vector.
            auto& slot = *(object->begin() + static_cast<std::ptrdiff_t>(*existing));
            slot.second = std::move(value);
            return &slot.second;
        }
        object->emplace_back(frame.key, std::move(value));
        return &object->back().second;
    }

    std::string_view text_;
    Json& root_;
    std::vector<Diagnostic>& diagnostics_;
    std::vector<Frame> frames_;
    bool failed_ = false;
};

}  // namespace

std::string describePosition(std::string_view text, std::size_t offset) {
    std::size_t line = 1;
    std::size_t lineStart = 0;
    const std::size_t end = offset < text.size() ? offset : text.size();
    for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(offset - lineStart + 1);
}

std::string pointerAppend(const std::string& base, std::string_view token) {
    std::string out = base;
    out.reserve(base.size() + token.size() + 1);
    out += '/';
    for (char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

std::string pointerAppend(const std::string& base, std::size_t index) {
    return base + "/" + std::to_string(index);
}

bool parseDocument(std::string_view text, Json& root, std::vector<Diagnostic>& diagnostics) {
    if (text.size() > kMaxConfigBytes) {
        diagnostics.push_back(documentError("the document is " + std::to_string(text.size()) +
                                            " bytes, over the limit of " +
                                            std::to_string(kMaxConfigBytes) + " bytes"));
        return false;
    }
    // Windows editors often save UTF-8 with a byte-order mark; it carries no meaning here.
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        diagnostics.push_back(documentError(
            "the document is empty; expected a JSON object such as {\"listeners\": [...]}"));
        return false;
    }
    if (!prescan(text, diagnostics)) return false;
    DomBuilder builder(text, root, diagnostics);
    nlohmann::ordered_json::sax_parse(text.begin(), text.end(), &builder,
                                      nlohmann::json::input_format_t::json, true, false);
    return !builder.failed();
}

}  // namespace proxy::config::detail
