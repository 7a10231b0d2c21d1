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

// The access log export (proxyctl logs --format csv|json): every field of a logs.query row, in
// this order, as the CSV header.
const std::vector<std::string>& logExportColumns();
// One CSV record (RFC 4180): a field holding a comma, a quote, CR or LF is quoted with its quotes
// doubled; the record ends in CRLF.
std::string csvRecord(const std::vector<std::string>& fields);
// One logs.query row as a CSV record of logExportColumns() (null and missing fields are empty).
std::string logRowCsv(const nlohmann::json& row);

}  // namespace proxy::proxyctl
