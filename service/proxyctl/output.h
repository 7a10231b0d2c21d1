#pragma once
// proxyctl's human-readable output: nested objects as indented "key: value" lines, arrays of
// objects as aligned tables. Shapes it does not know still print (as compact JSON), so a backend
// that adds fields never breaks the tool.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace proxy::proxyctl {

// A scalar as a cell: strings bare, null as "-", objects/arrays as compact JSON.
std::string cellText(const nlohmann::json& value);

// Aligned columns; `columns` empty = the keys of the rows, in first-seen order.
std::string renderTable(const nlohmann::json& rows, std::vector<std::string> columns = {});

// Objects as "key: value" lines (nested objects indented, arrays of objects as tables).
std::string renderValue(const nlohmann::json& value, int indent = 0);

}  // namespace proxy::proxyctl
