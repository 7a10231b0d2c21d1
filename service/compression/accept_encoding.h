#pragma once
// Accept-Encoding (RFC 9110 12.5.3): a pure parser over one field value, and the choice of a
// content coding from what the client accepts and what the proxy offers. No allocation, linear in
// the input, never fails as a whole: a malformed element is skipped and counted.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace proxy::compression {

enum class Coding : std::uint8_t { Identity, Gzip, Deflate };

std::string_view codingName(Coding coding);  // "identity", "gzip", "deflate"
// "gzip" (and its old alias "x-gzip"), "deflate", "identity"; case-insensitive. nullopt otherwise.
std::optional<Coding> codingFromName(std::string_view name);

// The client's preferences. Weights are q-values in thousandths (q=0.5 -> 500); kUnset when the
// client did not name the coding. When a coding is named twice, the first mention counts.
struct AcceptEncoding {
    static constexpr int kUnset = -1;
    bool present = false;  // at least one Accept-Encoding field was parsed
    int gzip = kUnset;
    int deflate = kUnset;
    int identity = kUnset;
    int any = kUnset;           // "*": every coding not named
    std::size_t elements = 0;   // list elements understood (unknown codings included)
    std::size_t malformed = 0;  // list elements skipped as malformed

    // The effective weight of a coding: as named, else the weight of "*", else 0. Identity not
    // named is acceptable with the lowest weight (1) when there is no "*" (RFC 9110: acceptable
    // unless "identity;q=0", or "*;q=0" without identity named, says otherwise), so a client
    // preferring identity must say so with a higher q than the compressed codings.
    int weight(Coding coding) const;
};

// Adds the elements of one Accept-Encoding field value to `into` (call once per field; several
// fields are one list). Elements follow `codings [ OWS ";" OWS "q=" qvalue ]`; other parameters
// are tolerated; an element with a bad q-value or stray bytes is skipped (counted in malformed).
void parseAcceptEncoding(std::string_view fieldValue, AcceptEncoding& into);

// The coding to send, from `offered` (the proxy's formats, in its order of preference): the
// offered coding with the client's highest weight above zero, ties going to the earlier offered
// one; Identity when the client sent no Accept-Encoding, accepts none of them, or weights identity
// above all of them. (When the client refuses identity too, the caller still sends identity: the
// proxy never answers 406 for the origin.)
Coding chooseCoding(const AcceptEncoding& accepted, std::span<const Coding> offered);

}  // namespace proxy::compression
