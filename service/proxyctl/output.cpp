#include "proxyctl/output.h"

#include <algorithm>
#include <cctype>

#include "control/json_rpc.h"

namespace proxy::proxyctl {

namespace {

bool isTable(const nlohmann::json& value) {
    return value.is_array() && !value.empty() &&
           std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_object(); });
}

// Display width in code points, so UTF-8 names keep columns aligned.
std::size_t width(const std::string& text) {
    std::size_t n = 0;
    for (const unsigned char c : text)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

}  // namespace

std::string cellText(const nlohmann::json& value) {
    if (value.is_null()) return "-";
    if (value.is_string()) return value.get<std::string>();
    if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
    return control::dumpJson(value);
}

std::string renderTable(const nlohmann::json& rows, std::vector<std::string> columns) {
    if (columns.empty()) {
        for (const auto& row : rows) {
            if (!row.is_object()) continue;
            for (const auto& [key, v] : row.items())
                if (std::find(columns.begin(), columns.end(), key) == columns.end())
                    columns.push_back(key);
        }
    }
    std::vector<std::vector<std::string>> cells(1);
    std::vector<std::size_t> widths;
    for (const auto& c : columns) {
        std::string header = c;
        std::transform(header.begin(), header.end(), header.begin(), [](unsigned char ch) {
            return ch == '_' ? ' ' : static_cast<char>(std::toupper(ch));
        });
        widths.push_back(width(header));
        cells.back().push_back(std::move(header));
    }
    for (const auto& row : rows) {
        cells.emplace_back();
        for (std::size_t i = 0; i < columns.size(); ++i) {
            const auto it = row.is_object() ? row.find(columns[i]) : row.end();
            std::string text = it != row.end() ? cellText(*it) : "-";
            widths[i] = std::max(widths[i], width(text));
            cells.back().push_back(std::move(text));
        }
    }
    std::string out;
    for (const auto& line : cells) {
        std::string text;
        for (std::size_t i = 0; i < line.size(); ++i) {
            text += line[i];
            if (i + 1 < line.size()) text.append(widths[i] - width(line[i]) + 2, ' ');
        }
        while (!text.empty() && text.back() == ' ') text.pop_back();
        out += text + "\n";
    }
    return out;
}

std::string renderValue(const nlohmann::json& value, int indent) {
    const std::string pad(static_cast<std::size_t>(indent), ' ');
    if (isTable(value)) {
        std::string out;
        const auto table = renderTable(value);
        std::size_t start = 0;
        while (start < table.size()) {
            const auto end = table.find('\n', start);
            out += pad + table.substr(start, end - start) + "\n";
            start = end + 1;
        }
        return out;
    }
    if (!value.is_object()) return pad + cellText(value) + "\n";
    std::string out;
    for (const auto& [key, v] : value.items()) {
        if (v.is_object() && !v.empty()) {
            out += pad + key + ":\n" + renderValue(v, indent + 2);
        } else if (isTable(v)) {
            out += pad + key + ":\n" + renderValue(v, indent + 2);
        } else if (v.is_array()) {
            std::string list;
            for (const auto& item : v) list += (list.empty() ? "" : ", ") + cellText(item);
            out += pad + key + ": " + (list.empty() ? "-" : list) + "\n";
        } else {
            out += pad + key + ": " + cellText(v) + "\n";
        }
    }
    return out;
}

const std::vector<std::string>& logExportColumns() {
    static const std::vector<std::string> columns = {
        "id", "time", "ts_us", "request_id", "client_addr", "client_port", "listener", "route", "method",
        "host", "path", "query", "http_version", "status", "bytes_in", "bytes_out", "duration_us", "upstream",
        "upstream_server", "upstream_connect_us", "upstream_response_us", "user_agent", "referer",
        "tls_version", "cache_status", "security_action", "error"};
    return columns;
}

std::string csvRecord(const std::vector<std::string>& fields) {
    std::string out;
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i > 0) out.push_back(',');
        const std::string& f = fields[i];
        if (f.find_first_of(",\"\r\n") == std::string::npos) {
            out += f;
            continue;
        }
        out.push_back('"');
        for (const char c : f) {
            if (c == '"') out.push_back('"');
            out.push_back(c);
        }
        out.push_back('"');
    }
    out += "\r\n";
    return out;
}

std::string logRowCsv(const nlohmann::json& row) {
    std::vector<std::string> fields;
    for (const auto& column : logExportColumns()) {
        const auto it = row.is_object() ? row.find(column) : row.end();
        if (!row.is_object() || it == row.end() || it->is_null()) fields.emplace_back();
        else if (it->is_string()) fields.push_back(it->get<std::string>());
        else fields.push_back(it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    return csvRecord(fields);
}

}  // namespace proxy::proxyctl
