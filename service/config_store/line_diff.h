#pragma once
// A line diff (Myers' O((N+M)D) algorithm) and a unified-diff renderer, for config.diff. Config
// documents are small; past a bound on the edit distance the diff degrades to "replace the middle"
// instead of using unbounded memory.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proxy::config_store {

struct DiffOp {
    enum class Kind : std::uint8_t { Equal, Delete, Insert };
    Kind kind = Kind::Equal;
    std::size_t a = 0;  // line index in the old text (Equal, Delete)
    std::size_t b = 0;  // line index in the new text (Equal, Insert)
};

// Splits on '\n' (a trailing newline does not make an extra empty line). Views into `text`.
std::vector<std::string_view> splitLines(std::string_view text);

// A shortest edit script from `a` to `b`, in order. maxEdits bounds the work: beyond it the
// unmatched middle is reported as deleted then inserted (still a correct, just longer, script).
std::vector<DiffOp> diffLines(const std::vector<std::string_view>& a,
                              const std::vector<std::string_view>& b, std::size_t maxEdits = 2000);

struct UnifiedDiff {
    std::string text;  // "" when the inputs are equal
    std::size_t added = 0;
    std::size_t removed = 0;
};

// "--- <oldName>\n+++ <newName>\n@@ -l,n +l,n @@\n" hunks with `context` lines around changes.
UnifiedDiff unifiedDiff(std::string_view oldText, std::string_view newText,
                        std::string_view oldName, std::string_view newName,
                        std::size_t context = 3);

}  // namespace proxy::config_store
