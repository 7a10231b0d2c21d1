#include "compression/accept_encoding.h"

#include "http/message.h"
#include "http/token.h"

namespace proxy::compression {
namespace {

using http::isTokenChar;

bool isOws(char c) { return c == ' ' || c == '\t'; }

// A cursor over one field value.
struct Cursor {
    std::string_view text;
    std::size_t pos = 0;

    bool atEnd() const { return pos >= text.size(); }
    char peek() const { return text[pos]; }
    void skipOws() {
        while (!atEnd() && isOws(text[pos])) ++pos;
    }
    std::string_view token() {
        const std::size_t start = pos;
        while (!atEnd() && isTokenChar(text[pos])) ++pos;
        return text.substr(start, pos - start);
    }
    // A quoted-string (opening quote at pos); false when it does not close.
    bool quotedString() {
        ++pos;
        while (!atEnd()) {
            const char c = text[pos++];
            if (c == '"') return true;
            if (c == '\\') {
                if (atEnd()) return false;
                ++pos;
            }
        }
        return false;
    }
    // Skips to the next top-level comma (or the end), stepping over quoted strings.
    void skipElement() {
        while (!atEnd() && text[pos] != ',') {
            if (text[pos] == '"') {
                if (!quotedString()) pos = text.size();
            } else {
                ++pos;
            }
        }
    }
};

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 when malformed.
int parseQValue(std::string_view text) {
    if (text.empty() || (text[0] != '0' && text[0] != '1')) return -1;
    const bool one = text[0] == '1';
    int value = one ? 1000 : 0;
    if (text.size() == 1) return value;
    if (text[1] != '.' || text.size() > 5) return -1;
    int scale = 100;
    for (std::size_t i = 2; i < text.size(); ++i) {
        const char c = text[i];
        if (c < '0' || c > '9' || (one && c != '0')) return -1;
        value += (c - '0') * scale;
        scale /= 10;
    }
    return value;
}

void record(AcceptEncoding& into, std::string_view name, int weight) {
    int* slot = nullptr;
    if (name == "*") {
        slot = &into.any;
    } else if (const auto coding = codingFromName(name)) {
        switch (*coding) {
            case Coding::Gzip: slot = &into.gzip; break;
            case Coding::Deflate: slot = &into.deflate; break;
            case Coding::Identity: slot = &into.identity; break;
        }
    }
    ++into.elements;
    if (slot != nullptr && *slot == AcceptEncoding::kUnset) *slot = weight;
}

}  // namespace

std::string_view codingName(Coding coding) {
    switch (coding) {
        case Coding::Gzip: return "gzip";
        case Coding::Deflate: return "deflate";
        case Coding::Identity: break;
    }
    return "identity";
}

std::optional<Coding> codingFromName(std::string_view name) {
    if (http::iequals(name, "gzip") || http::iequals(name, "x-gzip")) return Coding::Gzip;
    if (http::iequals(name, "deflate")) return Coding::Deflate;
    if (http::iequals(name, "identity")) return Coding::Identity;
    return std::nullopt;
}

int AcceptEncoding::weight(Coding coding) const {
    int named = kUnset;
    switch (coding) {
        case Coding::Gzip: named = gzip; break;
        case Coding::Deflate: named = deflate; break;
        case Coding::Identity: named = identity; break;
    }
    if (named != kUnset) return named;
    // Identity not named: "*" speaks for it; otherwise it is acceptable, with the lowest weight,
    // so "gzip;q=0.5" still asks for gzip.
    if (coding == Coding::Identity) return any == kUnset ? 1 : any;
    return any == kUnset ? 0 : any;
}

void parseAcceptEncoding(std::string_view fieldValue, AcceptEncoding& into) {
    into.present = true;
    Cursor in{fieldValue};
    for (;;) {
        // Empty list elements (", ,gzip") are allowed and skipped.
        while (!in.atEnd() && (isOws(in.peek()) || in.peek() == ',')) ++in.pos;
        if (in.atEnd()) return;
        const std::string_view name = in.token();
        bool ok = !name.empty();
        int weight = 1000;
        bool sawQ = false;
        while (ok) {
            in.skipOws();
            if (in.atEnd() || in.peek() == ',') break;
            if (in.peek() != ';') {
                ok = false;
                break;
            }
            ++in.pos;
            in.skipOws();
            const std::string_view param = in.token();
            if (param.empty() || in.atEnd() || in.peek() != '=') {
                ok = false;
                break;
            }
            ++in.pos;
            if (http::iequals(param, "q")) {
                const std::string_view value = in.token();
                const int q = parseQValue(value);
                if (q < 0) {
                    ok = false;
                    break;
                }
                if (!sawQ) weight = q;
                sawQ = true;
            } else if (!in.atEnd() && in.peek() == '"') {
                ok = in.quotedString();
            } else {
                ok = !in.token().empty();
            }
        }
        if (ok) {
            record(into, name, weight);
        } else {
            ++into.malformed;
            in.skipElement();
        }
    }
}

Coding chooseCoding(const AcceptEncoding& accepted, std::span<const Coding> offered) {
    if (!accepted.present) return Coding::Identity;
    Coding best = Coding::Identity;
    int bestWeight = 0;
    for (const Coding coding : offered) {
        if (coding == Coding::Identity) continue;
        const int w = accepted.weight(coding);
        if (w > bestWeight) {
            best = coding;
            bestWeight = w;
        }
    }
    // A tie with identity goes to the compressed form; a client that ranks identity higher gets it.
    if (best != Coding::Identity && bestWeight < accepted.weight(Coding::Identity))
        return Coding::Identity;
    return best;
}

}  // namespace proxy::compression
