#pragma once
// Validation of a config document into an immutable snapshot. It never throws on bad input and
// returns every diagnostic it finds, each with a JSON-pointer path and a plain sentence.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace proxy::config {

struct Diagnostic {
    enum class Severity : unsigned char { Error, Warning };
    Severity severity = Severity::Error;
    std::string path;     // JSON pointer, "" for the document itself, e.g. "/routes/0/upstream"
    std::string message;  // one plain sentence
    std::string toString() const;  // "error: /routes/0/upstream: ..."
};

struct LoadResult {
    std::shared_ptr<const Config> config;  // null when any diagnostic is an Error
    std::vector<Diagnostic> diagnostics;
    bool ok() const { return config != nullptr; }
};

// Hard bounds on the document itself, checked before and while parsing.
inline constexpr std::size_t kMaxConfigBytes = 16u << 20;
inline constexpr std::size_t kMaxConfigDepth = 64;

// Parses and validates JSON text.
LoadResult loadConfig(std::string_view jsonText);

// Reads a file (refusing directories, unreadable and oversized files) and validates it.
LoadResult loadConfigFile(const std::string& path);

}  // namespace proxy::config

namespace proxy::config {

// Every key the validator accepts, as JSON-pointer-like paths with "*" for array items:
// "/workers", "/routes", "/routes/*/match/host", ... Free-form maps (header rules, match.headers)
// appear as one path and their own keys are not listed. The schema test compares this with
// docs/config-schema.json in both directions.
std::vector<std::string> knownKeyPaths();

}  // namespace proxy::config
