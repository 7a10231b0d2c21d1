#pragma once
// The byte layer of config loading: bounds, encoding and JSON syntax, before any meaning is given
// to keys. Hostile documents (huge, deeply nested, not UTF-8, NUL bytes, repeated keys) are refused
// here with one clear diagnostic each, before nlohmann's DOM is built.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/validator.h"

namespace proxy::config::detail {

// "line 3, column 7" for a byte offset (columns count bytes, from 1).
std::string describePosition(std::string_view text, std::size_t offset);

// Appends one JSON-pointer reference token, escaping '~' and '/' (RFC 6901).
std::string pointerAppend(const std::string& base, std::string_view token);
std::string pointerAppend(const std::string& base, std::size_t index);

// Parses text into root. Returns false (with at least one Error) when the document cannot be used
// at all; duplicate keys are reported as Errors but parsing continues so later checks still run.
bool parseDocument(std::string_view text, nlohmann::ordered_json& root,
                   std::vector<Diagnostic>& diagnostics);

}  // namespace proxy::config::detail
