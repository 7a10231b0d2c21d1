#pragma once
// Content-Type matching for the compression rules: a pure function over the field value.

#include <span>
#include <string>
#include <string_view>

namespace proxy::compression {

// True when the media type of `contentType` (a Content-Type field value such as
// "Text/HTML; charset=utf-8") matches one of `patterns`: lower-case "type/subtype", "type/*" or
// "*/*". Type and subtype compare case-insensitively; parameters are ignored. A malformed value
// (no slash, stray bytes, empty parts) matches nothing, so it is never compressed.
bool mediaTypeMatches(std::string_view contentType, std::span<const std::string> patterns);

}  // namespace proxy::compression
