#include "http/message.h"

#include <algorithm>
#include <cstring>

namespace proxy::http {

namespace {

bool isOws(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trimOws(std::string_view s) {
    while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
    while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
    return s;
}

// Whether a field is called `name`: by id when the name is a well-known one (a one-byte compare),
// by a case-insensitive compare otherwise (a field with an id cannot then match).
class NameMatch {
public:
    explicit NameMatch(std::string_view name) : name_(name), id_(classifyFieldName(name)) {}
    bool operator()(const Header& h) const {
        if (id_ != FieldName::Other) return h.id == id_;
        return h.id == FieldName::Other && iequals(h.name, name_);
    }

private:
    std::string_view name_;
    FieldName id_;
};

}  // namespace

Method methodFromToken(std::string_view t) {
    switch (t.size()) {
        case 3:
            if (t == "GET") return Method::Get;
            if (t == "PUT") return Method::Put;
            break;
        case 4:
            if (t == "HEAD") return Method::Head;
            if (t == "POST") return Method::Post;
            break;
        case 5:
            if (t == "TRACE") return Method::Trace;
            if (t == "PATCH") return Method::Patch;
            break;
        case 6:
            if (t == "DELETE") return Method::Delete;
            break;
        case 7:
            if (t == "OPTIONS") return Method::Options;
            if (t == "CONNECT") return Method::Connect;
            break;
        default:
            break;
    }
    return Method::Other;
}

std::string_view methodName(Method m) {
    switch (m) {
        case Method::Get:
            return "GET";
        case Method::Head:
            return "HEAD";
        case Method::Post:
            return "POST";
        case Method::Put:
            return "PUT";
        case Method::Delete:
            return "DELETE";
        case Method::Options:
            return "OPTIONS";
        case Method::Trace:
            return "TRACE";
        case Method::Patch:
            return "PATCH";
        case Method::Connect:
            return "CONNECT";
        case Method::Other:
            break;
    }
    return {};
}

std::string_view versionText(Version v) {
    return v == Version::Http10 ? std::string_view("HTTP/1.0") : std::string_view("HTTP/1.1");
}

// --- StringArena -------------------------------------------------------------------------------

std::string_view StringArena::store(std::string_view s) {
    if (s.empty()) return {};
    Block* target = nullptr;
    if (!blocks_.empty() && blocks_.back().size - blocks_.back().used >= s.size()) {
        target = &blocks_.back();
    } else {
        // Oversized strings get a block of their own so one big value doesn't waste a block's tail
        // or force every later block to be big.
        const std::size_t size = std::max(kBlock, s.size());
        // for_overwrite: zeroing a 4 KiB block cost ~4,000 instructions per new connection.
        blocks_.push_back(Block{std::make_unique_for_overwrite<char[]>(size), size, 0});
        target = &blocks_.back();
    }
    char* dst = target->data.get() + target->used;
    std::memcpy(dst, s.data(), s.size());
    target->used += s.size();
    return {dst, s.size()};
}

void StringArena::reset() {
    // Keep the first standard block: heads are reset once per request, and most requests need at
    // most one block, so this makes the common case allocation-free.
    if (!blocks_.empty() && blocks_.front().size == kBlock) {
        blocks_.resize(1);
        blocks_.front().used = 0;
    } else {
        blocks_.clear();
    }
}

// --- HeaderList --------------------------------------------------------------------------------

void HeaderList::set(std::string_view name, std::string_view value) {
    const NameMatch match(name);
    auto it = std::find_if(fields_.begin(), fields_.end(), match);
    if (it == fields_.end()) {
        fields_.emplace_back(name, value);
        return;
    }
    it->value = value;
    // Drop later duplicates, keeping the position of the first one.
    auto rest = std::remove_if(it + 1, fields_.end(), match);
    fields_.erase(rest, fields_.end());
}

std::size_t HeaderList::remove(std::string_view name) {
    auto rest = std::remove_if(fields_.begin(), fields_.end(), NameMatch(name));
    const auto n = static_cast<std::size_t>(fields_.end() - rest);
    fields_.erase(rest, fields_.end());
    return n;
}

const Header* HeaderList::find(std::string_view name) const {
    const NameMatch match(name);
    for (const auto& h : fields_) {
        if (match(h)) return &h;
    }
    return nullptr;
}

std::size_t HeaderList::count(std::string_view name) const {
    const NameMatch match(name);
    std::size_t n = 0;
    for (const auto& h : fields_) n += match(h) ? 1 : 0;
    return n;
}

bool HeaderList::hasToken(std::string_view name, std::string_view token) const {
    const NameMatch match(name);
    for (const auto& h : fields_) {
        if (!match(h)) continue;
        std::string_view rest = h.value;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const auto element = trimOws(rest.substr(0, comma));
            if (iequals(element, token)) return true;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return false;
}

// --- heads -------------------------------------------------------------------------------------

void RequestHead::reset() {
    method = Method::Get;
    methodText = {};
    target = {};
    path = {};
    query = {};
    version = Version::Http11;
    headers.clear();
    arena.reset();
    host = {};
    framing = BodyFraming::None;
    contentLength = 0;
    keepAlive = true;
    expectContinue = false;
    upgrade = false;
}

void RequestHead::release() {
    reset();
    headers.release();
    arena.release();
}

void ResponseHead::release() {
    reset();
    headers.release();
    arena.release();
}

void ResponseHead::reset() {
    status = 200;
    reason = {};
    version = Version::Http11;
    headers.clear();
    arena.reset();
    framing = BodyFraming::None;
    contentLength = 0;
    keepAlive = true;
}

}  // namespace proxy::http
