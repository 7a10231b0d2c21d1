// proxyctl: the command-line client of the control channel (docs/control-protocol.md).
// Exit codes: 0 ok, 1 the server answered with an error, 2 usage error, 3 cannot connect,
// 4 timeout or protocol error.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/validator.h"
#include "control/json_rpc.h"
#include "proxyctl/control_client.h"
#include "proxyctl/output.h"

#ifndef PROXYCTL_VERSION
#define PROXYCTL_VERSION "0.0.0"
#endif

namespace {

using proxy::control::Json;
using proxy::proxyctl::CallOutcome;
using proxy::proxyctl::ControlClient;

enum Exit { kOk = 0, kServerError = 1, kUsage = 2, kNoConnection = 3, kTimeout = 4 };

constexpr const char* kUsageText =
    "usage: proxyctl [--endpoint PATH] [--json] [--timeout SEC] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  status                              service status\n"
    "  stats                               traffic counters\n"
    "  config get [VERSION]                print the config (current or VERSION)\n"
    "  config validate FILE                check FILE on the server without applying it\n"
    "  config apply FILE [--base N] [--note TEXT]\n"
    "                                      apply FILE; --base: fail if the current version\n"
    "                                      is not N (default: the current version)\n"
    "  config history                      the kept versions, newest first\n"
    "  config diff A [B]                   line diff between versions (B: current)\n"
    "  config rollback N [--base M]        re-apply version N as a new version\n"
    "  upstreams list                      upstreams, servers, state and health\n"
    "  upstreams drain|enable|disable UPSTREAM SERVER\n"
    "  logs [--KEY VALUE | KEY=VALUE ...]  access log rows, newest first; keys: status\n"
    "                                      (5xx,404,..), method, host, path (prefix),\n"
    "                                      path-contains, client, route, upstream, server,\n"
    "                                      since (30s, 15m, 2h, 7d), from-ms, to-ms,\n"
    "                                      limit (1..1000), cursor\n"
    "                                      e.g. proxyctl logs --since 1h --status 5xx\n"
    "                                      --format csv|json: export every matching row\n"
    "                                      (pages until done; limit = at most that many),\n"
    "                                      CSV with a header row or JSON lines\n"
    "  traffic watch [COUNT]               follow finished requests live (COUNT: stop after\n"
    "                                      that many; --timeout also ends it)\n"
    "  traffic inflight [LIMIT]            requests in progress now, oldest first\n"
    "  cache stats                         HTTP cache size, budget and counters\n"
    "  cache purge url|prefix|tag VALUE    remove stored responses: one URL\n"
    "                                      (http://host/path?query), a URL prefix, or a tag\n"
    "  security bans                       temporarily banned clients, and those with strikes\n"
    "  security unban ADDRESS              lift a client's ban (and forget its strikes)\n"
    "  call METHOD [JSON]                  any method; prints the raw result\n"
    "\n"
    "options:\n"
    "  --endpoint PATH   Unix socket or \\\\.\\pipe\\NAME (default: the platform's)\n"
    "  --json            print the raw JSON result\n"
    "  --timeout SEC     overall deadline (default 10)\n"
    "\n"
    "exit codes: 0 ok, 1 server error, 2 usage, 3 cannot connect, 4 timeout/protocol error\n";

struct Args {
    std::string endpoint;
    bool json = false;
    double timeoutSeconds = 10;
    bool timeoutGiven = false;
    std::optional<std::uint64_t> base;
    std::optional<std::string> note;
    std::vector<std::string> words;  // the command and its operands
};

int usage(const std::string& message) {
    std::fprintf(stderr, "proxyctl: %s\n\n%s", message.c_str(), kUsageText);
    return kUsage;
}

std::optional<std::uint64_t> parseUint(const std::string& text) {
    if (text.empty() || text.size() > 19) return std::nullopt;
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

// Returns an error message, or nullopt with `args` filled.
std::optional<std::string> parseArgs(int argc, char** argv, Args& args, bool& help, bool& version) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::optional<std::string> inlineValue;
        if (arg.starts_with("--") && arg.find('=') != std::string::npos) {
            inlineValue = arg.substr(arg.find('=') + 1);
            arg = arg.substr(0, arg.find('='));
        }
        auto value = [&](const char* name) -> std::optional<std::string> {
            if (inlineValue) return inlineValue;
            if (i + 1 >= argc) return std::nullopt;
            (void)name;
            return std::string(argv[++i]);
        };
        if (arg == "-h" || arg == "--help") {
            help = true;
        } else if (arg == "--version") {
            version = true;
        } else if (arg == "--json") {
            args.json = true;
        } else if (arg == "--endpoint") {
            auto v = value("--endpoint");
            if (!v || v->empty()) return "--endpoint needs a path";
            args.endpoint = *v;
        } else if (arg == "--timeout") {
            auto v = value("--timeout");
            if (!v) return "--timeout needs a number of seconds";
            char* end = nullptr;
            const double seconds = std::strtod(v->c_str(), &end);
            if (end == v->c_str() || *end != '\0' || !(seconds > 0) || seconds > 86400)
                return "--timeout needs a number of seconds between 0 and 86400, not " + *v;
            args.timeoutSeconds = seconds;
            args.timeoutGiven = true;
        } else if (arg == "--base") {
            auto v = value("--base");
            auto n = v ? parseUint(*v) : std::nullopt;
            if (!n) return "--base needs a version number";
            args.base = n;
        } else if (arg == "--note") {
            auto v = value("--note");
            if (!v) return "--note needs a text";
            args.note = *v;
        } else if (!args.words.empty() && args.words[0] == "logs" && arg.starts_with("--") &&
                   arg.size() > 2) {
            // logs filters: --since 1h  ==  since=1h (dashes or underscores in the key)
            std::string key = arg.substr(2);
            std::replace(key.begin(), key.end(), '-', '_');
            auto v = value(arg.c_str());
            if (!v) return arg + " needs a value";
            args.words.push_back(key + "=" + *v);
        } else if (arg.size() > 1 && arg.starts_with("-") && args.words.empty()) {
            return "unknown option " + arg;
        } else if (arg.starts_with("--")) {
            return "unknown option " + arg;
        } else {
            args.words.push_back(argv[i]);
        }
    }
    return std::nullopt;
}

std::optional<std::string> readFile(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = "cannot read " + path;
        return std::nullopt;
    }
    std::string text;
    char buffer[64 * 1024];
    while (in && text.size() <= proxy::config::kMaxConfigBytes) {
        in.read(buffer, sizeof buffer);
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) {
        error = "error while reading " + path;
        return std::nullopt;
    }
    if (text.size() > proxy::config::kMaxConfigBytes) {
        error = path + " is over the limit of " + std::to_string(proxy::config::kMaxConfigBytes) +
                " bytes";
        return std::nullopt;
    }
    return text;
}

void printDiagnostics(const Json& diagnostics, std::FILE* to) {
    if (!diagnostics.is_array()) return;
    for (const auto& d : diagnostics) {
        if (!d.is_object()) continue;
        const auto text = [&](const char* key) {
            return d.contains(key) && d[key].is_string() ? d[key].get<std::string>()
                                                         : std::string();
        };
        const auto path = text("path");
        std::fprintf(to, "  %s: %s%s%s\n", text("severity").c_str(), path.c_str(),
                     path.empty() ? "" : ": ", text("message").c_str());
    }
}

int reportFailure(const std::string& method, const CallOutcome& outcome) {
    switch (outcome.status) {
        case CallOutcome::Status::Ok:
            return kOk;
        case CallOutcome::Status::ServerError: {
            const auto& e = *outcome.error;
            std::fprintf(stderr, "proxyctl: %s: %s (%s, %d)\n", method.c_str(), e.message.c_str(),
                         std::string(proxy::control::errorName(e.code)).c_str(), e.code);
            if (e.data.is_object()) {
                if (e.data.contains("diagnostics")) printDiagnostics(e.data["diagnostics"], stderr);
                if (e.data.contains("current_version"))
                    std::fprintf(stderr, "  current version: %s\n",
                                 proxy::control::dumpJson(e.data["current_version"]).c_str());
            }
            return kServerError;
        }
        case CallOutcome::Status::Timeout:
            std::fprintf(stderr, "proxyctl: %s: %s\n", method.c_str(), outcome.message.c_str());
            return kTimeout;
        case CallOutcome::Status::Protocol:
            std::fprintf(stderr, "proxyctl: %s: %s\n", method.c_str(), outcome.message.c_str());
            return kTimeout;
    }
    return kTimeout;
}

class Session {
  public:
    Session(ControlClient& client, bool json) : client_(client), json_(json) {}

    // Calls and, on failure, reports; the exit code is in `exit`.
    std::optional<Json> call(const std::string& method, const Json& params, int& exit) {
        auto outcome = client_.call(method, params);
        if (outcome.status != CallOutcome::Status::Ok) {
            exit = reportFailure(method, outcome);
            return std::nullopt;
        }
        exit = kOk;
        return std::move(outcome.result);
    }

    // The common case: call, then print the raw JSON or the readable form.
    int show(const std::string& method, const Json& params,
             std::string (*render)(const Json&) = nullptr) {
        int exit = kOk;
        const auto result = call(method, params, exit);
        if (!result) return exit;
        if (json_) {
            std::printf("%s\n", proxy::control::dumpJson(*result, 2).c_str());
        } else {
            const auto text = render ? render(*result) : proxy::proxyctl::renderValue(*result);
            std::fputs(text.c_str(), stdout);
        }
        return kOk;
    }

    bool json() const { return json_; }

  private:
    ControlClient& client_;
    bool json_;
};

// proxyctl logs --format csv|json: pages through logs.query (1000 rows a call, newest first) until
// the log has no more rows or `limit` rows were written. The stock sqlite3 CLI cannot read the
// access log's column blobs; this export can, and works remotely too.
int exportLogs(Session& session, Json params, const std::string& format) {
    std::optional<std::uint64_t> total;
    if (params.contains("limit")) total = params["limit"].get<std::uint64_t>();
    constexpr std::uint64_t kPage = 1000;
    params["limit"] = total ? std::min(kPage, *total) : kPage;
    std::uint64_t written = 0;
    for (bool first = true;; first = false) {
        int exit = kOk;
        const auto result = session.call("logs.query", params, exit);
        if (!result) return exit;  // nothing on stdout when the first call fails
        if (first && format == "csv")
            std::fputs(proxy::proxyctl::csvRecord(proxy::proxyctl::logExportColumns()).c_str(), stdout);
        const Json rows = result->value("rows", Json::array());
        for (const auto& row : rows) {
            if (total && written >= *total) break;
            const std::string line =
                format == "csv" ? proxy::proxyctl::logRowCsv(row) : proxy::control::dumpJson(row) + "\n";
            std::fputs(line.c_str(), stdout);
            ++written;
        }
        std::fflush(stdout);
        if (total && written >= *total) break;
        const Json cursor = result->value("next_cursor", Json());
        if (!cursor.is_string() || rows.empty()) break;
        params["cursor"] = cursor;
        if (total) params["limit"] = std::min(kPage, *total - written);
    }
    return kOk;
}

std::string renderHistory(const Json& result) {
    const auto& versions = result.contains("versions") ? result["versions"] : Json::array();
    Json rows = Json::array();
    for (const auto& v : versions) {
        if (!v.is_object()) continue;
        Json row = Json::object();
        row["version"] = proxy::proxyctl::cellText(v.value("version", Json()));
        if (v.value("current", false)) row["version"] = row["version"].get<std::string>() + " *";
        row["applied_at"] = v.value("applied_at", Json());
        row["applied_by"] = v.value("applied_by", Json());
        row["note"] = v.value("note", Json());
        rows.push_back(row);
    }
    if (rows.empty()) return "no versions\n";
    return proxy::proxyctl::renderTable(rows, {"version", "applied_at", "applied_by", "note"});
}

std::string renderUpstreams(const Json& result) {
    const Json* list = &result;
    if (result.is_object() && result.contains("upstreams")) list = &result["upstreams"];
    if (!list->is_array()) return proxy::proxyctl::renderValue(result);
    if (list->empty()) return "no upstreams\n";
    std::string out;
    for (const auto& u : *list) {
        if (!u.is_object()) continue;
        out += "upstream " + proxy::proxyctl::cellText(u.value("name", Json()));
        for (const auto& [key, v] : u.items()) {
            if (key == "name" || key == "servers" || v.is_structured()) continue;
            out += "  " + key + "=" + proxy::proxyctl::cellText(v);
        }
        out += "\n";
        if (u.contains("servers") && u["servers"].is_array() && !u["servers"].empty()) {
            out += proxy::proxyctl::renderValue(u["servers"], 2);
        }
        if (u.contains("names") && u["names"].is_array() && !u["names"].empty()) {
            out += "  DNS names:\n";
            out += proxy::proxyctl::renderValue(u["names"], 2);
        }
    }
    return out;
}

std::string renderDiff(const Json& result) {
    const auto diff = result.value("diff", std::string());
    if (diff.empty()) {
        return "no differences between v" +
               proxy::proxyctl::cellText(result.value("from", Json())) + " and v" +
               proxy::proxyctl::cellText(result.value("to", Json())) + "\n";
    }
    return diff;
}

std::string renderApplied(const Json& result) {
    std::string out =
        (result.value("changed", false) ? "applied: version " : "unchanged: version ") +
        proxy::proxyctl::cellText(result.value("version", Json())) + "\n";
    if (result.contains("warnings") && result["warnings"].is_array()) {
        for (const auto& w : result["warnings"]) {
            if (!w.is_object()) continue;
            out += "  warning: " + w.value("path", std::string()) + ": " +
                   w.value("message", std::string()) + "\n";
        }
    }
    return out;
}

std::string renderServerState(const Json& result) {
    return proxy::proxyctl::cellText(result.value("upstream", Json())) + "/" +
           proxy::proxyctl::cellText(result.value("server", Json())) + ": " +
           proxy::proxyctl::cellText(result.value("state", Json())) + "\n";
}

std::string renderLogRows(const Json& result) {
    const Json rows = result.value("rows", Json::array());
    std::string out;
    if (!rows.is_array() || rows.empty()) {
        out = "no matching requests\n";
    } else {
        Json table = Json::array();
        for (const auto& r : rows) {
            if (!r.is_object()) continue;
            Json row = Json::object();
            row["time"] = r.value("time", Json());
            row["status"] = r.value("status", Json());
            row["method"] = r.value("method", Json());
            row["host"] = r.value("host", Json());
            row["path"] = r.value("path", Json());
            const auto us = r.value("duration_us", Json());
            row["ms"] = us.is_number() ? Json(std::to_string(us.get<std::int64_t>() / 1000)) : us;
            row["client"] = r.value("client_addr", Json());
            row["server"] = r.value("upstream_server", Json());
            row["request_id"] = r.value("request_id", Json());
            row["error"] = r.value("error", Json());
            table.push_back(std::move(row));
        }
        out = proxy::proxyctl::renderTable(table, {"time", "status", "method", "host", "path", "ms",
                                                   "client", "server", "request_id", "error"});
    }
    const Json next = result.value("next_cursor", Json());
    if (next.is_string()) out += "more: add cursor=" + next.get<std::string>() + "\n";
    return out;
}

// "30s", "15m", "2h", "7d" -> milliseconds.
std::optional<std::int64_t> parseSince(const std::string& text) {
    if (text.size() < 2) return std::nullopt;
    const auto n = parseUint(text.substr(0, text.size() - 1));
    if (!n || *n > 3650ull * 24 * 3600) return std::nullopt;
    switch (text.back()) {
        case 's': return static_cast<std::int64_t>(*n) * 1000;
        case 'm': return static_cast<std::int64_t>(*n) * 60'000;
        case 'h': return static_cast<std::int64_t>(*n) * 3'600'000;
        case 'd': return static_cast<std::int64_t>(*n) * 86'400'000;
        default: return std::nullopt;
    }
}

// logs KEY=VALUE operands -> logs.query params (and the export format), or a usage error.
std::optional<std::string> buildLogQuery(const std::vector<std::string>& words, Json& params, std::string& format) {
    params = Json::object();
    format.clear();
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string& word = words[i];
        const auto eq = word.find('=');
        if (eq == std::string::npos || eq == 0) return "expected KEY=VALUE, not " + word;
        const std::string key = word.substr(0, eq);
        const std::string value = word.substr(eq + 1);
        if (params.contains(key == "path" ? "path_prefix" : key) ||
            (key == "since" && params.contains("from_ms")) || (key == "from_ms" && params.contains("since")))
            return key + " is given twice";
        if (key == "format") {
            if (value != "csv" && value != "json") return "format needs csv or json, not " + value;
            if (!format.empty()) return "format is given twice";
            format = value;
        } else if (key == "status") {
            Json list = Json::array();
            std::size_t start = 0;
            while (start <= value.size()) {
                const auto comma = value.find(',', start);
                const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (item.empty()) return "status needs codes or classes like 5xx,404";
                if (const auto code = parseUint(item)) list.push_back(*code);
                else list.push_back(item);  // "5xx"; the server checks it
                if (comma == std::string::npos) break;
                start = comma + 1;
            }
            params["status"] = list;
        } else if (key == "limit" || key == "from_ms" || key == "to_ms") {
            const auto n = parseUint(value);
            if (!n) return key + " needs a number, not " + value;
            params[key] = *n;
        } else if (key == "since") {
            const auto ms = parseSince(value);
            if (!ms) return "since needs a duration like 30s, 15m, 2h or 7d, not " + value;
            const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            params["from_ms"] = now - *ms;
        } else if (key == "path") {
            params["path_prefix"] = value;
        } else if (key == "method" || key == "host" || key == "path_prefix" ||
                   key == "path_contains" || key == "client" || key == "route" ||
                   key == "upstream" || key == "server" || key == "cursor") {
            params[key] = value;
        } else {
            return "unknown logs filter " + key +
                   " (status, method, host, path, path_contains, client, route, upstream, server, "
                   "since, from_ms, to_ms, limit, cursor, format)";
        }
    }
    return std::nullopt;
}

std::string renderInflight(const Json& result) {
    const Json rows = result.value("requests", Json::array());
    std::string out;
    if (!rows.is_array() || rows.empty()) {
        out = "no requests in progress\n";
    } else {
        Json table = Json::array();
        for (const auto& r : rows) {
            if (!r.is_object()) continue;
            Json row = r;
            const auto us = r.value("age_us", Json());
            row["age_ms"] = us.is_number() ? Json(std::to_string(us.get<std::int64_t>() / 1000)) : us;
            table.push_back(std::move(row));
        }
        out = proxy::proxyctl::renderTable(table, {"age_ms", "stage", "method", "host", "path", "client",
                                                   "server", "route", "request_id", "worker"});
    }
    out += proxy::proxyctl::cellText(result.value("total", Json())) + " in progress";
    if (result.value("workers_answered", 0) != result.value("workers", 0))
        out += " (" + proxy::proxyctl::cellText(result.value("workers_answered", Json())) + " of " +
               proxy::proxyctl::cellText(result.value("workers", Json())) + " workers answered)";
    return out + "\n";
}

std::string renderBans(const Json& result) {
    const Json rows = result.value("clients", Json::array());
    std::string out;
    if (!result.value("enabled", false)) out = "bans are off (security.bans is not configured)\n";
    if (rows.is_array() && !rows.empty()) {
        Json table = Json::array();
        for (const auto& r : rows) {
            if (!r.is_object()) continue;
            Json row = r;
            row["banned"] = r.value("banned", false) ? "yes" : "no";
            row["remaining_s"] = std::to_string(r.value("remaining_ms", std::int64_t{0}) / 1000);
            table.push_back(std::move(row));
        }
        out += proxy::proxyctl::renderTable(table, {"address", "banned", "remaining_s", "bans", "strikes", "reason"});
    }
    return out + proxy::proxyctl::cellText(result.value("banned_now", Json())) + " banned now, " +
           proxy::proxyctl::cellText(result.value("tracked", Json())) + " tracked, " +
           proxy::proxyctl::cellText(result.value("bans_total", Json())) + " bans since start\n";
}

std::string renderUnban(const Json& result) {
    return proxy::proxyctl::cellText(result.value("address", Json())) +
           (result.value("unbanned", false) ? ": unbanned\n" : ": was not banned or tracked\n");
}

std::string renderTrafficEvent(const Json& e) {
    if (!e.is_object()) return proxy::control::dumpJson(e) + "\n";
    if (e.contains("dropped"))
        return "... " + proxy::proxyctl::cellText(e["dropped"]) + " events dropped (reading too slowly)\n";
    auto field = [&](const char* key) { return proxy::proxyctl::cellText(e.value(key, Json())); };
    const auto us = e.value("duration_us", Json());
    const std::string ms = us.is_number() ? std::to_string(us.get<std::int64_t>() / 1000) + "ms" : "-";
    return field("time") + " " + field("status") + " " + field("method") + " " + field("host") +
           field("path") + " " + ms + " " + field("client") + " -> " + field("server") + " " +
           field("request_id") + "\n";
}

// Checks the operand count of a command: between min and max words after the command words.
bool operands(const Args& args, std::size_t commandWords, std::size_t min, std::size_t max) {
    const std::size_t n = args.words.size() - commandWords;
    return n >= min && n <= max;
}

int run(const Args& args) {
    const auto& w = args.words;
    const std::string command = w[0];
    const std::string sub = w.size() > 1 ? w[1] : std::string();

    // Validate the command line fully before connecting: a usage error must not need a server.
    enum class Cmd {
        Status,
        Stats,
        ConfigGet,
        ConfigValidate,
        ConfigApply,
        ConfigHistory,
        ConfigDiff,
        ConfigRollback,
        UpstreamsList,
        UpstreamsState,
        Logs,
        Traffic,
        Inflight,
        CacheStats,
        CachePurge,
        Bans,
        Unban,
        Call
    };
    Cmd cmd;
    if (command == "status" && operands(args, 1, 0, 0)) {
        cmd = Cmd::Status;
    } else if (command == "stats" && operands(args, 1, 0, 0)) {
        cmd = Cmd::Stats;
    } else if (command == "config" && sub == "get" && operands(args, 2, 0, 1)) {
        cmd = Cmd::ConfigGet;
    } else if (command == "config" && sub == "validate" && operands(args, 2, 1, 1)) {
        cmd = Cmd::ConfigValidate;
    } else if (command == "config" && sub == "apply" && operands(args, 2, 1, 1)) {
        cmd = Cmd::ConfigApply;
    } else if (command == "config" && sub == "history" && operands(args, 2, 0, 0)) {
        cmd = Cmd::ConfigHistory;
    } else if (command == "config" && sub == "diff" && operands(args, 2, 1, 2)) {
        cmd = Cmd::ConfigDiff;
    } else if (command == "config" && sub == "rollback" && operands(args, 2, 1, 1)) {
        cmd = Cmd::ConfigRollback;
    } else if (command == "upstreams" && sub == "list" && operands(args, 2, 0, 0)) {
        cmd = Cmd::UpstreamsList;
    } else if (command == "upstreams" && (sub == "drain" || sub == "enable" || sub == "disable") &&
               operands(args, 2, 2, 2)) {
        cmd = Cmd::UpstreamsState;
    } else if (command == "logs") {
        cmd = Cmd::Logs;
    } else if (command == "traffic" && sub == "inflight" && operands(args, 2, 0, 1)) {
        cmd = Cmd::Inflight;
    } else if (command == "traffic" && sub == "watch" && operands(args, 2, 0, 1)) {
        cmd = Cmd::Traffic;
    } else if (command == "cache" && sub == "stats" && operands(args, 2, 0, 0)) {
        cmd = Cmd::CacheStats;
    } else if (command == "cache" && sub == "purge" && operands(args, 2, 2, 2)) {
        if (w[2] != "url" && w[2] != "prefix" && w[2] != "tag")
            return usage("cache purge takes url, prefix or tag, not " + w[2]);
        cmd = Cmd::CachePurge;
    } else if (command == "security" && sub == "bans" && operands(args, 2, 0, 0)) {
        cmd = Cmd::Bans;
    } else if (command == "security" && sub == "unban" && operands(args, 2, 1, 1)) {
        cmd = Cmd::Unban;
    } else if (command == "call" && operands(args, 1, 1, 2)) {
        cmd = Cmd::Call;
    } else {
        return usage("unknown command or wrong number of arguments: " + command +
                     (sub.empty() ? "" : " " + sub));
    }
    if ((args.base && cmd != Cmd::ConfigApply && cmd != Cmd::ConfigRollback) ||
        (args.note && cmd != Cmd::ConfigApply)) {
        return usage("--base applies to config apply/rollback, --note to config apply");
    }

    // Operands that can be checked locally.
    std::vector<std::uint64_t> versions;
    if (cmd == Cmd::ConfigGet || cmd == Cmd::ConfigDiff || cmd == Cmd::ConfigRollback) {
        for (std::size_t i = 2; i < w.size(); ++i) {
            const auto v = parseUint(w[i]);
            if (!v) return usage("not a version number: " + w[i]);
            versions.push_back(*v);
        }
    }
    std::string fileText;
    if (cmd == Cmd::ConfigValidate || cmd == Cmd::ConfigApply) {
        std::string error;
        auto text = readFile(w[2], error);
        if (!text) return usage(error);
        fileText = std::move(*text);
    }
    Json logParams;
    std::string logFormat;
    if (cmd == Cmd::Logs) {
        if (auto error = buildLogQuery(w, logParams, logFormat)) return usage(*error);
    }
    std::optional<std::uint64_t> trafficCount;
    if (cmd == Cmd::Traffic && w.size() == 3) {
        trafficCount = parseUint(w[2]);
        if (!trafficCount || *trafficCount == 0) return usage("traffic COUNT must be a positive number");
    }
    Json inflightParams = Json::object();
    if (cmd == Cmd::Inflight && w.size() == 3) {
        const auto limit = parseUint(w[2]);
        if (!limit || *limit == 0) return usage("inflight LIMIT must be a positive number");
        inflightParams["limit"] = *limit;
    }
    Json callParams = nullptr;
    if (cmd == Cmd::Call && w.size() == 3) {
        callParams = Json::parse(w[2], nullptr, false);
        if (callParams.is_discarded() || !(callParams.is_object() || callParams.is_array()))
            return usage("call params must be a JSON object or array: " + w[2]);
    }

    // `traffic` follows until interrupted unless --timeout was given.
    const auto deadline =
        cmd == Cmd::Traffic && !args.timeoutGiven
            ? std::chrono::steady_clock::time_point::max()
            : std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(args.timeoutSeconds));
    ControlClient client(deadline);
    const std::string endpoint = args.endpoint.empty()
                                     ? proxy::config::PlatformDefaults::current().controlEndpoint
                                     : args.endpoint;
    if (!client.connect(endpoint, std::string("proxyctl ") + PROXYCTL_VERSION)) {
        if (client.connectFailed()) {
            std::fprintf(stderr, "proxyctl: %s\n", client.lastOutcome().message.c_str());
            return kNoConnection;
        }
        return reportFailure("hello", client.lastOutcome());
    }
    Session session(client, args.json);

    switch (cmd) {
        case Cmd::Status:
            return session.show("status", Json::object());
        case Cmd::Stats:
            return session.show("stats.get", Json::object());
        case Cmd::ConfigGet: {
            Json params = {{"format", "text"}};
            if (!versions.empty()) params["version"] = versions[0];
            if (args.json) return session.show("config.get", params);
            int exit = kOk;
            const auto result = session.call("config.get", params, exit);
            if (!result) return exit;
            auto text = result->value("text", std::string());
            if (!text.empty() && text.back() != '\n') text += '\n';
            std::fputs(text.c_str(), stdout);
            return kOk;
        }
        case Cmd::ConfigValidate: {
            int exit = kOk;
            const auto result = session.call("config.validate", {{"config", fileText}}, exit);
            if (!result) return exit;
            const bool valid = result->value("valid", false);
            if (args.json) {
                std::printf("%s\n", proxy::control::dumpJson(*result, 2).c_str());
            } else {
                std::printf("%s: configuration is %s\n", w[2].c_str(), valid ? "valid" : "invalid");
                printDiagnostics(result->value("diagnostics", Json::array()), stdout);
            }
            return valid ? kOk : kServerError;
        }
        case Cmd::ConfigApply: {
            std::uint64_t base = 0;
            int exit = kOk;
            if (args.base) {
                base = *args.base;
            } else {
                // Without --base, apply on top of whatever is current now (last writer wins).
                const auto history = session.call("config.history", Json::object(), exit);
                if (!history) return exit;
                base = history->value("current_version", std::uint64_t{0});
            }
            Json params = {{"config", fileText}, {"base_version", base}};
            if (args.note) params["note"] = *args.note;
            return session.show("config.apply", params, renderApplied);
        }
        case Cmd::ConfigHistory:
            return session.show("config.history", Json::object(), renderHistory);
        case Cmd::ConfigDiff: {
            Json params = {{"from", versions[0]}};
            if (versions.size() > 1) params["to"] = versions[1];
            return session.show("config.diff", params, renderDiff);
        }
        case Cmd::ConfigRollback: {
            Json params = {{"version", versions[0]}};
            if (args.base) params["base_version"] = *args.base;
            return session.show("config.rollback", params, renderApplied);
        }
        case Cmd::UpstreamsList:
            return session.show("upstreams.list", Json::object(), renderUpstreams);
        case Cmd::UpstreamsState:
            return session.show("upstreams." + sub, {{"upstream", w[2]}, {"server", w[3]}},
                                renderServerState);
        case Cmd::Inflight:
            return session.show("traffic.inflight", inflightParams, renderInflight);
        case Cmd::Bans:
            return session.show("security.bans", Json::object(), renderBans);
        case Cmd::Unban:
            return session.show("security.unban", {{"address", w[2]}}, renderUnban);
        case Cmd::Logs:
            if (!logFormat.empty()) return exportLogs(session, logParams, logFormat);
            return session.show("logs.query", logParams, renderLogRows);
        case Cmd::Traffic: {
            int exit = kOk;
            if (!session.call("traffic.subscribe", Json::object(), exit)) return exit;
            std::uint64_t seen = 0;
            for (;;) {
                // Wake at least every 5 minutes to ping: the server closes clients that send
                // nothing for 30 minutes, and a quiet service sends no events.
                const auto now = std::chrono::steady_clock::now();
                client.setDeadline(std::min(deadline, now + std::chrono::minutes(5)));
                const auto n = client.nextNotification();
                if (n.status == CallOutcome::Status::Timeout) {
                    if (std::chrono::steady_clock::now() >= deadline) return kOk;  // --timeout
                    client.setDeadline(std::min(deadline, std::chrono::steady_clock::now() +
                                                              std::chrono::seconds(30)));
                    if (!session.call("ping", Json::object(), exit)) return exit;
                    continue;
                }
                if (n.status != CallOutcome::Status::Ok) return reportFailure("traffic", n);
                if (n.result.value("method", std::string()) != "traffic.event") continue;
                const Json params = n.result.value("params", Json());
                const Json events = params.is_object() && params.contains("events") ? params["events"]
                                                                                   : Json::array({params});
                for (const auto& e : events) {
                    if (args.json)
                        std::printf("%s\n", proxy::control::dumpJson(e).c_str());
                    else
                        std::fputs(renderTrafficEvent(e).c_str(), stdout);
                    if (!e.contains("dropped")) ++seen;
                    if (trafficCount && seen >= *trafficCount) {
                        std::fflush(stdout);
                        return kOk;
                    }
                }
                std::fflush(stdout);
            }
        }
        case Cmd::CacheStats:
            return session.show("cache.stats", Json::object());
        case Cmd::CachePurge:
            return session.show("cache.purge", {{w[2], w[3]}});
        case Cmd::Call: {
            int exit = kOk;
            const auto result = session.call(w[1], callParams, exit);
            if (!result) return exit;
            std::printf("%s\n", proxy::control::dumpJson(*result, 2).c_str());
            return kOk;
        }
    }
    return kUsage;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    bool help = false;
    bool version = false;
    if (auto error = parseArgs(argc, argv, args, help, version)) return usage(*error);
    if (help) {
        std::fputs(kUsageText, stdout);
        return kOk;
    }
    if (version) {
        std::printf("proxyctl %s (control protocol %d)\n", PROXYCTL_VERSION,
                    proxy::control::kProtocolVersion);
        return kOk;
    }
    if (args.words.empty()) return usage("no command given");
    return run(args);
}
