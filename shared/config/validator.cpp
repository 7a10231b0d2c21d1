#include "config/validator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <span>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "config/address.h"
#include "config/document.h"

namespace proxy::config {
namespace {

using Json = nlohmann::ordered_json;
using detail::pointerAppend;

constexpr std::size_t kMaxDiagnostics = 500;
constexpr std::uint64_t kDayMs = 86'400'000;
constexpr std::size_t kMaxNameLength = 64;
constexpr std::size_t kMaxRegexLength = 1024;
constexpr std::size_t kMaxRegexCost = 10'000;
constexpr std::size_t kMaxSuggestionCandidates = 200;

// ---- key tables --------------------------------------------------------------------------------
// One table per JSON object kind. The loader reports any key not in its table, and knownKeyPaths()
// walks the same tables, so the schema test keeps docs/config-schema.json honest.

struct ObjectSpec;
struct KeySpec {
    std::string_view key;
    const ObjectSpec* object = nullptr;  // a fixed-key object, or the items of an array
    bool array = false;                  // true: an array whose items are `object`
};
struct ObjectSpec {
    std::span<const KeySpec> keys;
};

constexpr KeySpec kControlKeys[] = {{"endpoint"}, {"read_only_group"}};
constexpr ObjectSpec kControlSpec{kControlKeys};
constexpr KeySpec kLoggingKeys[] = {
    {"database"},       {"access_log_file"},       {"error_log_file"},  {"level"},
    {"retention_days"}, {"max_db_mb"},             {"queue_size"},      {"access_log_max_mb"},
    {"access_log_keep_files"}, {"error_log_max_mb"}, {"error_log_keep_files"},
    {"metrics_listen"}};
constexpr ObjectSpec kLoggingSpec{kLoggingKeys};
constexpr KeySpec kLimitsKeys[] = {
    {"max_request_line"}, {"max_header_bytes"}, {"max_headers"}, {"max_body_bytes"}};
constexpr ObjectSpec kLimitsSpec{kLimitsKeys};
constexpr KeySpec kTimeoutsKeys[] = {{"header_ms"},           {"client_idle_ms"},
                                     {"upstream_connect_ms"}, {"upstream_response_ms"},
                                     {"tunnel_idle_ms"},      {"shutdown_ms"}};
constexpr ObjectSpec kTimeoutsSpec{kTimeoutsKeys};
constexpr KeySpec kForwardedKeys[] = {{"x_forwarded"}, {"via"}, {"forwarded"}};
constexpr ObjectSpec kForwardedSpec{kForwardedKeys};
constexpr KeySpec kTlsCertificateKeys[] = {{"cert"}, {"key"}, {"pfx"}, {"password"}, {"ocsp_response"}};
constexpr ObjectSpec kTlsCertificateSpec{kTlsCertificateKeys};
constexpr KeySpec kOcspFetchKeys[] = {{"fetch"}, {"timeout_ms"}, {"refresh_seconds"}, {"proxy"}};
constexpr ObjectSpec kOcspFetchSpec{kOcspFetchKeys};
constexpr KeySpec kListenerTlsKeys[] = {{"certificates", &kTlsCertificateSpec, true},
                                        {"min_version"},
                                        {"ciphers"},
                                        {"ciphersuites"},
                                        {"handshake_timeout_ms"},
                                        {"client_ca"},
                                        {"client_certificate"},
                                        {"client_subject_header"},
                                        {"ticket_key_rotation_seconds"},
                                        {"ocsp", &kOcspFetchSpec}};
constexpr ObjectSpec kListenerTlsSpec{kListenerTlsKeys};
constexpr KeySpec kListenerKeys[] = {{"name"}, {"address"}, {"tls", &kListenerTlsSpec}};
constexpr ObjectSpec kListenerSpec{kListenerKeys};
constexpr KeySpec kServerKeys[] = {{"address"}, {"weight"}, {"max_connections"}};
constexpr ObjectSpec kServerSpec{kServerKeys};
constexpr KeySpec kKeepaliveKeys[] = {{"max_idle"}, {"idle_timeout_ms"}};
constexpr ObjectSpec kKeepaliveSpec{kKeepaliveKeys};
constexpr KeySpec kHealthKeys[] = {{"method"},      {"path"},        {"expect_status"},
                                   {"expect_body"}, {"interval_ms"}, {"timeout_ms"},
                                   {"rise"},        {"fall"}};
constexpr ObjectSpec kHealthSpec{kHealthKeys};
constexpr KeySpec kPassiveKeys[] = {
    {"failures"}, {"status_5xx"}, {"eject_seconds"}, {"max_eject_seconds"}};
constexpr ObjectSpec kPassiveSpec{kPassiveKeys};
constexpr KeySpec kHashKeyKeys[] = {{"header"}, {"cookie"}, {"path"}};
constexpr ObjectSpec kHashKeySpec{kHashKeyKeys};
constexpr KeySpec kStickyKeys[] = {{"cookie"}, {"path"},    {"http_only"}, {"secure"},
                                   {"same_site"}, {"max_age"}, {"secret"}};
constexpr ObjectSpec kStickySpec{kStickyKeys};
constexpr KeySpec kQueueKeys[] = {{"size"}, {"timeout_ms"}};
constexpr ObjectSpec kQueueSpec{kQueueKeys};
constexpr KeySpec kUpstreamTlsKeys[] = {{"verify"}, {"ca"},   {"server_name"}, {"verify_hostname"},
                                        {"sni"},    {"cert"}, {"key"}};
constexpr ObjectSpec kUpstreamTlsSpec{kUpstreamTlsKeys};
constexpr KeySpec kUpstreamKeys[] = {{"name"},
                                     {"balance"},
                                     {"servers", &kServerSpec, true},
                                     {"keepalive", &kKeepaliveSpec},
                                     {"health_check", &kHealthSpec},
                                     {"passive", &kPassiveSpec},
                                     {"slow_start_seconds"},
                                     {"hash_key", &kHashKeySpec},
                                     {"sticky", &kStickySpec},
                                     {"queue", &kQueueSpec},
                                     {"retries"},
                                     {"resolve_interval_seconds"},
                                     {"tls", &kUpstreamTlsSpec}};
constexpr ObjectSpec kUpstreamSpec{kUpstreamKeys};
constexpr KeySpec kMatchKeys[] = {{"host"},       {"path_prefix"}, {"path_exact"},
                                  {"path_regex"}, {"methods"},     {"headers"}};
constexpr ObjectSpec kMatchSpec{kMatchKeys};
constexpr KeySpec kRewriteKeys[] = {{"strip_prefix"}, {"regex"}, {"replacement"}};
constexpr ObjectSpec kRewriteSpec{kRewriteKeys};
constexpr KeySpec kHeaderRulesKeys[] = {{"set"}, {"add"}, {"remove"}};
constexpr ObjectSpec kHeaderRulesSpec{kHeaderRulesKeys};
constexpr KeySpec kCompressionKeys[] = {
    {"enabled"}, {"types"}, {"min_size"}, {"level"}, {"formats"}};
constexpr ObjectSpec kCompressionSpec{kCompressionKeys};
constexpr std::string_view kCompressionFormats[] = {"gzip", "deflate"};
constexpr KeySpec kRateLimitKeys[] = {{"requests_per_second"}, {"burst"}, {"key"}};
constexpr ObjectSpec kRateLimitSpec{kRateLimitKeys};
constexpr KeySpec kWafExclusionKeys[] = {{"path_prefix"}, {"rules"}};
constexpr ObjectSpec kWafExclusionSpec{kWafExclusionKeys};
constexpr KeySpec kWafKeys[] = {{"mode"},          {"paranoia"},   {"request_body_limit"},
                                {"over_limit"},    {"exclude_rules"}, {"exclusions", &kWafExclusionSpec, true},
                                {"crs_path"}};
constexpr ObjectSpec kWafSpec{kWafKeys};
constexpr KeySpec kMinBodyRateKeys[] = {{"bytes_per_second"}, {"grace_ms"}};
constexpr ObjectSpec kMinBodyRateSpec{kMinBodyRateKeys};
constexpr KeySpec kConnectionLimitKeys[] = {{"per_client"}, {"total"}, {"requests_per_connection"}};
constexpr ObjectSpec kConnectionLimitSpec{kConnectionLimitKeys};
// A route's security object overrides the request-level keys; the connection-level ones
// (trusted_proxies, connection_limit) exist only at the top level.
constexpr KeySpec kRouteSecurityKeys[] = {
    {"allow"}, {"deny"}, {"rate_limit", &kRateLimitSpec}, {"waf", &kWafSpec},
    {"min_body_rate", &kMinBodyRateSpec}};
constexpr ObjectSpec kRouteSecuritySpec{kRouteSecurityKeys};
constexpr KeySpec kBanKeys[] = {{"strikes"}, {"window_ms"}, {"ban_ms"}, {"max_ban_ms"}, {"max_clients"}};
constexpr ObjectSpec kBanSpec{kBanKeys};
constexpr KeySpec kSecurityKeys[] = {{"allow"},
                                     {"bans", &kBanSpec},
                                     {"deny"},
                                     {"trusted_proxies"},
                                     {"rate_limit", &kRateLimitSpec},
                                     {"connection_limit", &kConnectionLimitSpec},
                                     {"waf", &kWafSpec},
                                     {"min_body_rate", &kMinBodyRateSpec}};
constexpr ObjectSpec kSecuritySpec{kSecurityKeys};
constexpr std::size_t kMaxAddressRanges = 1'000'000;
// cache (docs/cache.md)
constexpr KeySpec kCacheDiskKeys[] = {{"path"}, {"max_mb"}};
constexpr ObjectSpec kCacheDiskSpec{kCacheDiskKeys};
constexpr KeySpec kCacheKeys[] = {
    {"memory_mb"}, {"max_object_kb"}, {"collapse_timeout_ms"}, {"disk", &kCacheDiskSpec}};
constexpr ObjectSpec kCacheSpec{kCacheKeys};
constexpr KeySpec kCacheTtlKeys[] = {{"path_prefix"}, {"content_type"}, {"seconds"}};
constexpr ObjectSpec kCacheTtlSpec{kCacheTtlKeys};
constexpr KeySpec kCacheKeyKeys[] = {
    {"ignore_query"}, {"query_include"}, {"query_ignore"}, {"headers"}, {"cookies"}};
constexpr ObjectSpec kCacheKeySpec{kCacheKeyKeys};
constexpr KeySpec kCacheBypassKeys[] = {{"cookies"}, {"headers"}};
constexpr ObjectSpec kCacheBypassSpec{kCacheBypassKeys};
constexpr KeySpec kRouteCacheKeys[] = {{"enabled"},
                                       {"default_ttl_seconds"},
                                       {"ttl_overrides", &kCacheTtlSpec, true},
                                       {"key", &kCacheKeySpec},
                                       {"bypass", &kCacheBypassSpec},
                                       {"allow_authorized"},
                                       {"tag_header"}};
constexpr ObjectSpec kRouteCacheSpec{kRouteCacheKeys};
constexpr KeySpec kRedirectHttpsKeys[] = {{"enabled"}, {"port"}, {"status"}, {"host"}};
constexpr ObjectSpec kRedirectHttpsSpec{kRedirectHttpsKeys};
constexpr KeySpec kRouteKeys[] = {{"name"},
                                  {"listener"},
                                  {"match", &kMatchSpec},
                                  {"upstream"},
                                  {"rewrite", &kRewriteSpec},
                                  {"request_headers", &kHeaderRulesSpec},
                                  {"response_headers", &kHeaderRulesSpec},
                                  {"compression", &kCompressionSpec},
                                  {"security", &kRouteSecuritySpec},
                                  {"cache", &kRouteCacheSpec},
                                  {"redirect_https", &kRedirectHttpsSpec}};
constexpr ObjectSpec kRouteSpec{kRouteKeys};

constexpr std::array<std::string_view, 5> kHeaderVariables = {"client_ip", "client_port",
                                                              "request_id", "host", "scheme"};

// ---- text helpers -------------------------------------------------------------------------------

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Keeps diagnostics on one readable line whatever the document holds.
std::string shown(std::string_view text) {
    std::string out = "'";
    const std::size_t limit = 60;
    for (char c : text.substr(0, limit)) {
        const auto b = static_cast<unsigned char>(c);
        out += (b < 0x20 || b == 0x7f) ? '?' : c;
    }
    if (text.size() > limit) out += "...";
    return out + "'";
}

// Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("wbe" -> "web").
std::size_t editDistance(std::string_view a, std::string_view b) {
    const std::size_t width = b.size() + 1;
    std::vector<std::size_t> d((a.size() + 1) * width);
    const auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * width + j]; };
    for (std::size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
    for (std::size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
        }
    }
    return at(a.size(), b.size());
}

// The closest candidate when it is close enough to be a likely typo, else "".
template <typename Range>
std::string closest(std::string_view word, const Range& candidates) {
    if (word.size() > kMaxNameLength) return "";
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& c : candidates) ++count;
    if (count > kMaxSuggestionCandidates) return "";
    const std::string needle = lower(word);
    const std::size_t threshold =
        std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3));
    std::string best;
    std::size_t bestDistance = threshold + 1;
    for (const auto& candidate : candidates) {
        const std::string_view text(candidate);
        if (text.size() > kMaxNameLength + 3) continue;
        const std::size_t distance = editDistance(needle, lower(text));
        if (distance < bestDistance) {
            bestDistance = distance;
            best = std::string(text);
        }
    }
    return best;
}

std::string didYouMean(const std::string& suggestion) {
    return suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?";
}

std::string describe(const Json& value) {
    switch (value.type()) {
        case Json::value_t::null:
            return "null";
        case Json::value_t::boolean:
            return value.get<bool>() ? "true" : "false";
        case Json::value_t::string:
            return "the string " + shown(*value.get_ptr<const std::string*>());
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
        case Json::value_t::number_float:
            return "the number " + value.dump();
        case Json::value_t::object:
            return "an object";
        case Json::value_t::array:
            return "an array";
        default:
            return "an unsupported value";
    }
}

bool isTokenChar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), isTokenChar);
}

bool isValidName(std::string_view name) {
    if (name.empty() || name.size() > kMaxNameLength) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '-' || c == '_' || c == '.';
    });
}

// Rough size of the automaton std::regex would build. libstdc++ expands counted repetition
// into copies and compiles recursively, so "(a{1000}){1000}" or a 1 MB pattern would exhaust
// memory or the stack; config load must refuse those instead.
bool regexTooComplex(std::string_view pattern) {
    std::vector<std::size_t> groups{0};
    std::size_t lastAtom = 0;
    const auto addAtom = [&](std::size_t size) {
        lastAtom = size;
        groups.back() = std::min(groups.back() + size, kMaxRegexCost + 1);
    };
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            ++i;
            addAtom(1);
        } else if (c == '[') {
            std::size_t j = i + 1;
            if (j < pattern.size() && pattern[j] == '^') ++j;
            if (j < pattern.size() && pattern[j] == ']') ++j;
            while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
            i = j;
            addAtom(1);
        } else if (c == '(') {
            groups.push_back(0);
            if (groups.size() > 32) return true;
        } else if (c == ')') {
            if (groups.size() < 2) return false;  // unbalanced: std::regex will say so
            const std::size_t size = groups.back();
            groups.pop_back();
            addAtom(size + 1);
        } else if (c == '{') {
            std::size_t j = i + 1;
            std::size_t high = 0;
            bool digits = false;
            while (j < pattern.size() &&
                   (std::isdigit(static_cast<unsigned char>(pattern[j])) || pattern[j] == ',')) {
                if (pattern[j] != ',') {
                    high = std::min<std::size_t>(high * 10 + (pattern[j] - '0'), kMaxRegexCost + 1);
                    digits = true;
                } else {
                    high = 0;
                }
                ++j;
            }
            if (digits && j < pattern.size() && pattern[j] == '}') {
                const std::size_t copies = std::max<std::size_t>(high, 1);
                const std::size_t extra = std::min(lastAtom * copies, kMaxRegexCost + 1);
                groups.back() = std::min(groups.back() + extra, kMaxRegexCost + 1);
                lastAtom = std::min(lastAtom * (copies + 1), kMaxRegexCost + 1);
                i = j;
            } else {
                addAtom(1);
            }
        } else {
            addAtom(1);
        }
        if (groups.back() > kMaxRegexCost) return true;
    }
    for (std::size_t size : groups)
        if (size > kMaxRegexCost) return true;
    return false;
}

// Empty string when the pattern compiles, else why not.
std::string regexProblem(const std::string& pattern) {
    if (pattern.size() > kMaxRegexLength)
        return "is " + std::to_string(pattern.size()) + " bytes long; the limit is " +
               std::to_string(kMaxRegexLength);
    if (regexTooComplex(pattern))
        return "is too complex (too many nested groups or counted repetitions)";
    try {
        std::regex compiled(pattern, std::regex::ECMAScript);
        (void)compiled;
    } catch (const std::regex_error& error) {
        return std::string("is not a valid ECMAScript regular expression: ") + error.what();
    } catch (const std::exception& error) {
        return std::string("could not be compiled: ") + error.what();
    }
    return "";
}

bool isHopByHopOrFraming(const std::string& lowerName) {
    static const std::set<std::string, std::less<>> names = {
        "connection", "keep-alive",        "proxy-connection", "te",
        "trailer",    "transfer-encoding", "upgrade",          "content-length"};
    return names.contains(lowerName);
}

// ---- the loader
// ----------------------------------------------------------------------------------

class Loader;

// Reads one JSON object against its key table: reports unknown keys once, then hands out values.
class ObjectReader {
  public:
    ObjectReader(Loader& loader, const Json& object, std::string path, const ObjectSpec& spec);

    const Json* get(std::string_view key) const;
    std::string path(std::string_view key) const { return pointerAppend(path_, key); }
    const std::string& path() const { return path_; }

    template <typename T>
    bool uint(std::string_view key, std::uint64_t min, std::uint64_t max, T& out,
              std::string_view unit = {});
    bool millis(std::string_view key, std::chrono::milliseconds& out);
    bool string(std::string_view key, std::string& out);
    bool nonEmptyString(std::string_view key, std::string& out);
    bool boolean(std::string_view key, bool& out);
    bool name(std::string_view key, std::string& out, std::string_view what);

  private:
    Loader& loader_;
    const Json& object_;
    std::string path_;
    const ObjectSpec& spec_;
};

class Loader {
  public:
    explicit Loader(std::vector<Diagnostic>& diagnostics) : diagnostics_(diagnostics) {}

    void load(const Json& root);
    Config& config() { return config_; }

    void report(Diagnostic::Severity severity, std::string path, std::string message) {
        if (diagnostics_.size() > kMaxDiagnostics) return;
        if (diagnostics_.size() == kMaxDiagnostics) {
            diagnostics_.push_back(
                {Diagnostic::Severity::Error, "",
                 "there are too many problems; stopped after " + std::to_string(kMaxDiagnostics)});
            return;
        }
        diagnostics_.push_back({severity, std::move(path), std::move(message)});
    }
    bool full() const { return diagnostics_.size() > kMaxDiagnostics; }
    void error(std::string path, std::string message) {
        report(Diagnostic::Severity::Error, std::move(path), std::move(message));
    }
    void warning(std::string path, std::string message) {
        report(Diagnostic::Severity::Warning, std::move(path), std::move(message));
    }

    // Type checks: report "expected X, found Y" and return false on a mismatch.
    bool expectObject(const Json& value, const std::string& path) {
        if (value.is_object()) return true;
        error(path, "expected an object, found " + describe(value));
        return false;
    }
    bool expectArray(const Json& value, const std::string& path) {
        if (value.is_array()) return true;
        error(path, "expected an array, found " + describe(value));
        return false;
    }
    bool expectString(const Json& value, const std::string& path) {
        if (value.is_string()) return true;
        error(path, "expected a string, found " + describe(value));
        return false;
    }
    std::optional<std::uint64_t> readUInt(const Json& value, const std::string& path,
                                          std::uint64_t min, std::uint64_t max,
                                          std::string_view unit = {});
    bool readChoice(const Json& value, const std::string& path,
                    std::span<const std::string_view> choices, std::size_t& index);

    using SectionParser = void (Loader::*)(const Json&, const std::string&);
    struct Section {
        KeySpec key;
        SectionParser parse;
    };
    static std::span<const Section> sections();

  private:
    void parseWorkers(const Json& value, const std::string& path);
    void parseControl(const Json& value, const std::string& path);
    void parseLogging(const Json& value, const std::string& path);
    void parseLimits(const Json& value, const std::string& path);
    void parseTimeouts(const Json& value, const std::string& path);
    void parseForwarded(const Json& value, const std::string& path);
    void parseCompressionDefaults(const Json& value, const std::string& path);
    void parseCompression(const Json& value, const std::string& path, Compression& out);
    void parseListeners(const Json& value, const std::string& path);
    void parseUpstreams(const Json& value, const std::string& path);
    void parseRoutes(const Json& value, const std::string& path);
    void parseSecurity(const Json& value, const std::string& path);
    void parseSecurityPolicy(ObjectReader& r, SecurityPolicy& policy);
    void parseRateLimitKey(const Json& value, const std::string& path, RateLimit& rate);
    void parseRuleIds(const Json& value, const std::string& path, std::vector<std::uint32_t>& out);
    void parseCidrList(const Json& value, const std::string& path, std::vector<Cidr>& out);
    void parseCache(const Json& value, const std::string& path);
    void parseRouteCache(const Json& value, const std::string& path, RouteCache& out);
    void parseRedirectHttps(const Json& value, const std::string& path, HttpsRedirect& out);
    void parseNameList(const Json* value, const std::string& path, std::vector<std::string>& out,
                       std::string_view what);

    void parseUpstream(const Json& value, const std::string& path, Upstream& upstream);
    void parseHealthCheck(const Json& value, const std::string& path, HealthCheck& check);
    void parsePassive(const Json& value, const std::string& path, PassiveCheck& passive);
    void parseHashKey(const Json& value, const std::string& path, HashKey& key);
    void parseSticky(const Json& value, const std::string& path, StickyCookie& sticky);
    void parseListenerTls(const Json& value, const std::string& path, ListenerTls& tls);
    void parseUpstreamTls(const Json& value, const std::string& path, UpstreamTls& tls);
    bool filePath(ObjectReader& r, std::string_view key, std::string& out);
    void parseRoute(const Json& value, const std::string& path, Route& route);
    void parseMatch(const Json& value, const std::string& path, Match& match);
    void parseRewrite(const Json& value, const std::string& path, PathRewrite& rewrite);
    void parseHeaderRules(const Json& value, const std::string& path, HeaderRules& rules,
                          bool response);
    bool parseHeaderMap(const Json& value, const std::string& path,
                        std::vector<std::pair<std::string, std::string>>& out);
    bool checkRuleHeaderName(const std::string& name, const std::string& path, bool response,
                             std::string_view action);
    void checkHeaderValue(const std::string& value, const std::string& path, bool variables);

    void checkListenerConflicts();
    void checkRouteReferences();
    void checkShadowedRoutes();

    std::vector<Diagnostic>& diagnostics_;
    Config config_;
    // Where each model item came from, for the cross-checks' paths.
    std::vector<std::string> listenerPaths_;
    std::vector<bool> listenerAddressOk_;
    std::vector<std::string> routePaths_;
    std::vector<bool> routeMatchOk_;
    bool sawListeners_ = false;

    friend class ObjectReader;
};

ObjectReader::ObjectReader(Loader& loader, const Json& object, std::string path,
                           const ObjectSpec& spec)
    : loader_(loader), object_(object), path_(std::move(path)), spec_(spec) {
    std::vector<std::string_view> known;
    for (const KeySpec& k : spec_.keys) known.push_back(k.key);
    for (const auto& [key, value] : object_.items()) {
        if (loader_.full()) break;  // a hostile object may hold a million stray keys
        if (std::find(known.begin(), known.end(), key) != known.end()) continue;
        std::string hint = didYouMean(closest(key, known));
        if (hint.empty()) {
            hint = "; expected one of: ";
            for (std::size_t i = 0; i < known.size(); ++i)
                hint += (i ? ", " : "") + std::string(known[i]);
        }
        loader_.error(pointerAppend(path_, key), "unknown key " + shown(key) + hint);
    }
}

const Json* ObjectReader::get(std::string_view key) const {
    const auto* object = object_.get_ptr<const Json::object_t*>();
    for (const auto& entry : *object)
        if (entry.first == key) return &entry.second;
    return nullptr;
}

template <typename T>
bool ObjectReader::uint(std::string_view key, std::uint64_t min, std::uint64_t max, T& out,
                        std::string_view unit) {
    const Json* value = get(key);
    if (!value) return false;
    auto number = loader_.readUInt(*value, path(key), min, max, unit);
    if (!number) return false;
    out = static_cast<T>(*number);
    return true;
}

bool ObjectReader::millis(std::string_view key, std::chrono::milliseconds& out) {
    std::uint64_t ms = 0;
    if (!uint(key, 1, kDayMs, ms, "milliseconds (up to 24 hours)")) return false;
    out = std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
    return true;
}

bool ObjectReader::string(std::string_view key, std::string& out) {
    const Json* value = get(key);
    if (!value || !loader_.expectString(*value, path(key))) return false;
    out = *value->get_ptr<const std::string*>();
    return true;
}

bool ObjectReader::nonEmptyString(std::string_view key, std::string& out) {
    std::string text;
    if (!string(key, text)) return false;
    if (text.empty()) {
        loader_.error(path(key), "must not be empty; omit the key to use the default");
        return false;
    }
    out = std::move(text);
    return true;
}

bool ObjectReader::boolean(std::string_view key, bool& out) {
    const Json* value = get(key);
    if (!value) return false;
    if (!value->is_boolean()) {
        loader_.error(path(key), "expected true or false, found " + describe(*value));
        return false;
    }
    out = value->get<bool>();
    return true;
}

bool ObjectReader::name(std::string_view key, std::string& out, std::string_view what) {
    const Json* value = get(key);
    if (!value) {
        loader_.error(
            path_, std::string(what) + " is missing the required key '" + std::string(key) + "'");
        return false;
    }
    if (!loader_.expectString(*value, path(key))) return false;
    const std::string& text = *value->get_ptr<const std::string*>();
    if (!isValidName(text)) {
        loader_.error(path(key), shown(text) + " is not a valid " + std::string(what) +
                                     " name; use 1 to 64 letters, digits, '-', '_' or '.'");
        return false;
    }
    out = text;
    return true;
}

std::optional<std::uint64_t> Loader::readUInt(const Json& value, const std::string& path,
                                              std::uint64_t min, std::uint64_t max,
                                              std::string_view unit) {
    std::string expected =
        "expected " +
        (unit.empty() ? std::string("an integer") : "a whole number of " + std::string(unit)) +
        " from " + std::to_string(min) + " to " + std::to_string(max);
    if (value.is_number_unsigned()) {
        const auto number = value.get<std::uint64_t>();
        if (number >= min && number <= max) return number;
        error(path, expected + ", found " + std::to_string(number));
        return std::nullopt;
    }
    if (value.is_number_integer()) {
        error(path, expected + ", found the negative number " + value.dump());
        return std::nullopt;
    }
    if (value.is_number_float()) {
        const double number = value.get<double>();
        const bool whole = std::isfinite(number) && std::floor(number) == number;
        std::string why = ", which is not a whole number";
        if (whole && (number < static_cast<double>(min) || number > static_cast<double>(max)))
            why = ", which is out of range";
        else if (whole)
            why = " (write it without a fraction or exponent)";
        error(path, expected + ", found " + value.dump() + why);
        return std::nullopt;
    }
    error(path, expected + ", found " + describe(value));
    return std::nullopt;
}

bool Loader::readChoice(const Json& value, const std::string& path,
                        std::span<const std::string_view> choices, std::size_t& index) {
    std::string list;
    for (std::size_t i = 0; i < choices.size(); ++i)
        list += (i ? ", " : "") + std::string(choices[i]);
    if (!value.is_string()) {
        error(path, "expected one of " + list + ", found " + describe(value));
        return false;
    }
    const std::string& text = *value.get_ptr<const std::string*>();
    for (std::size_t i = 0; i < choices.size(); ++i) {
        if (choices[i] == text) {
            index = i;
            return true;
        }
    }
    const std::string hint = didYouMean(closest(text, choices));
    error(path, shown(text) + " is not one of " + list + hint);
    return false;
}

std::span<const Loader::Section> Loader::sections() {
    // One entry per top-level key, in document order; a new section (tls, cache, ...) is one line
    // here plus its parse function and key table.
    static const Section table[] = {
        {{"workers"}, &Loader::parseWorkers},
        {{"control", &kControlSpec}, &Loader::parseControl},
        {{"logging", &kLoggingSpec}, &Loader::parseLogging},
        {{"limits", &kLimitsSpec}, &Loader::parseLimits},
        {{"timeouts", &kTimeoutsSpec}, &Loader::parseTimeouts},
        {{"forwarded", &kForwardedSpec}, &Loader::parseForwarded},
        // Before routes: a route's compression starts from these defaults.
        {{"compression", &kCompressionSpec}, &Loader::parseCompressionDefaults},
        {{"security", &kSecuritySpec}, &Loader::parseSecurity},
        {{"cache", &kCacheSpec}, &Loader::parseCache},
        {{"listeners", &kListenerSpec, true}, &Loader::parseListeners},
        {{"upstreams", &kUpstreamSpec, true}, &Loader::parseUpstreams},
        {{"routes", &kRouteSpec, true}, &Loader::parseRoutes},
    };
    return table;
}

void Loader::load(const Json& root) {
    const PlatformDefaults defaults = PlatformDefaults::current();
    config_.control.endpoint = defaults.controlEndpoint;
    config_.logging.database = defaults.logDatabase;

    if (!root.is_object()) {
        error("", "the configuration must be a JSON object, found " + describe(root));
        return;
    }
    std::vector<KeySpec> topKeys;
    for (const Section& section : sections()) topKeys.push_back(section.key);
    const ObjectSpec topSpec{topKeys};
    ObjectReader reader(*this, root, "", topSpec);
    for (const Section& section : sections()) {
        if (const Json* value = reader.get(section.key.key))
            (this->*section.parse)(*value, reader.path(section.key.key));
    }

    if (!sawListeners_ || config_.listeners.empty())
        warning("/listeners",
                "no listeners are configured, so the proxy will accept no "
                "connections");
    checkListenerConflicts();
    checkRouteReferences();
    checkShadowedRoutes();
}

void Loader::parseWorkers(const Json& value, const std::string& path) {
    if (auto n = readUInt(value, path, 0, 1024)) config_.workers = static_cast<unsigned>(*n);
}

void Loader::parseControl(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kControlSpec);
    r.nonEmptyString("endpoint", config_.control.endpoint);
    if (r.string("read_only_group", config_.control.readOnlyGroup)) {
        const std::string& group = config_.control.readOnlyGroup;
        if (group.size() > 256 ||
            group.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos)
            error(r.path("read_only_group"), "is not a usable group name");
    }
}

void Loader::parseLogging(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kLoggingSpec);
    r.string("database", config_.logging.database);
    r.string("access_log_file", config_.logging.accessLogFile);
    r.string("error_log_file", config_.logging.errorLogFile);
    if (const Json* level = r.get("level")) {
        static constexpr std::string_view levels[] = {"error", "warn", "info", "debug"};
        std::size_t index = 0;
        if (readChoice(*level, r.path("level"), levels, index))
            config_.logging.level = std::string(levels[index]);
    }
    LoggingConfig& l = config_.logging;
    r.uint("retention_days", 0, 36'500, l.retentionDays, "days (0 = keep forever)");
    r.uint("max_db_mb", 0, 1u << 24, l.maxDbMb, "MiB (0 = no cap)");
    r.uint("queue_size", 64, 1u << 20, l.queueSize, "records");
    r.uint("access_log_max_mb", 0, 1u << 20, l.accessLogMaxMb, "MiB (0 = never rotate)");
    r.uint("access_log_keep_files", 1, 1000, l.accessLogKeepFiles, "files");
    r.uint("error_log_max_mb", 0, 1u << 20, l.errorLogMaxMb, "MiB (0 = never rotate)");
    r.uint("error_log_keep_files", 1, 1000, l.errorLogKeepFiles, "files");
    if (const Json* listen = r.get("metrics_listen")) {
        if (expectString(*listen, r.path("metrics_listen"))) {
            const std::string& text = *listen->get_ptr<const std::string*>();
            if (!text.empty()) {
                std::string why;
                if (parseHostPort(text, AddressRule::IpOnly, &why))
                    l.metricsListen = text;
                else
                    error(r.path("metrics_listen"), why);
            }
        }
    }
}

void Loader::parseLimits(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kLimitsSpec);
    Limits& limits = config_.limits;
    r.uint("max_request_line", 256, 1u << 20, limits.maxRequestLine, "bytes");
    r.uint("max_header_bytes", 1u << 10, 1u << 20, limits.maxHeaderBytes, "bytes");
    r.uint("max_headers", 1, 10'000, limits.maxHeaders);
    r.uint("max_body_bytes", 0, std::uint64_t{1} << 50, limits.maxBodyBytes,
           "bytes (0 = unlimited)");
}

void Loader::parseTimeouts(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kTimeoutsSpec);
    Timeouts& t = config_.timeouts;
    r.millis("header_ms", t.header);
    r.millis("client_idle_ms", t.clientIdle);
    r.millis("upstream_connect_ms", t.upstreamConnect);
    r.millis("upstream_response_ms", t.upstreamResponse);
    r.millis("tunnel_idle_ms", t.tunnelIdle);
    r.millis("shutdown_ms", t.shutdown);
}

void Loader::parseForwarded(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kForwardedSpec);
    r.boolean("x_forwarded", config_.forwarded.xForwarded);
    r.boolean("via", config_.forwarded.via);
    r.boolean("forwarded", config_.forwarded.forwarded);
}

void Loader::parseCompressionDefaults(const Json& value, const std::string& path) {
    parseCompression(value, path, config_.compression);
}

// Reads the keys present over `out`, which holds the defaults (built-in, or the top-level object's
// for a route).
void Loader::parseCompression(const Json& value, const std::string& path, Compression& out) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kCompressionSpec);
    r.boolean("enabled", out.enabled);
    if (const Json* types = r.get("types"); types && expectArray(*types, r.path("types"))) {
        std::vector<std::string> parsed;
        bool ok = true;
        for (std::size_t i = 0; i < types->size(); ++i) {
            const std::string itemPath = pointerAppend(r.path("types"), i);
            const Json& item = (*types)[i];
            if (!expectString(item, itemPath)) {
                ok = false;
                continue;
            }
            const std::string type = lower(*item.get_ptr<const std::string*>());
            const std::size_t slash = type.find('/');
            const bool valid = slash != std::string::npos &&
                               isToken(std::string_view(type).substr(0, slash)) &&
                               isToken(std::string_view(type).substr(slash + 1)) &&
                               (type.substr(0, slash) != "*" || type == "*/*");
            if (!valid) {
                error(itemPath, shown(type) +
                                    " is not a media type; write type/subtype such as "
                                    "text/html, or type/* such as text/*, without parameters");
                ok = false;
                continue;
            }
            if (std::find(parsed.begin(), parsed.end(), type) != parsed.end()) {
                warning(itemPath, "the type " + type + " is listed twice");
                continue;
            }
            parsed.push_back(type);
        }
        if (ok && types->empty())
            error(r.path("types"),
                  "an empty list compresses nothing; set \"enabled\": false instead");
        if (ok) out.types = std::move(parsed);
    }
    r.uint("min_size", 0, std::uint64_t{1} << 40, out.minSize, "bytes");
    r.uint("level", 1, 9, out.level);
    if (const Json* formats = r.get("formats"); formats && expectArray(*formats, r.path("formats"))) {
        std::vector<std::string> parsed;
        bool ok = true;
        for (std::size_t i = 0; i < formats->size(); ++i) {
            const std::string itemPath = pointerAppend(r.path("formats"), i);
            std::size_t index = 0;
            if (!readChoice((*formats)[i], itemPath, kCompressionFormats, index)) {
                ok = false;
                continue;
            }
            const std::string name(kCompressionFormats[index]);
            if (std::find(parsed.begin(), parsed.end(), name) != parsed.end()) {
                warning(itemPath, "the format " + name + " is listed twice");
                continue;
            }
            parsed.push_back(name);
        }
        if (ok && formats->empty())
            error(r.path("formats"),
                  "an empty list offers no format; set \"enabled\": false instead");
        if (ok) out.formats = std::move(parsed);
    }
}

void Loader::parseCidrList(const Json& value, const std::string& path, std::vector<Cidr>& out) {
    if (!expectArray(value, path)) return;
    if (value.size() > kMaxAddressRanges) {
        error(path, "has " + std::to_string(value.size()) + " entries; at most " +
                        std::to_string(kMaxAddressRanges) + " are allowed");
        return;
    }
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string itemPath = pointerAppend(path, i);
        if (!expectString(value[i], itemPath)) continue;
        std::string why;
        if (auto cidr = parseCidr(*value[i].get_ptr<const std::string*>(), &why))
            out.push_back(std::move(*cidr));
        else
            error(itemPath, why);
    }
}

void Loader::parseRuleIds(const Json& value, const std::string& path, std::vector<std::uint32_t>& out) {
    if (!expectArray(value, path)) return;
    if (value.size() > 10'000) {
        error(path, "at most 10,000 rule ids");
        return;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
        const Json& item = value[i];
        if (!item.is_number_unsigned() || item.get<std::uint64_t>() < 1 ||
            item.get<std::uint64_t>() > 99'999'999) {
            error(pointerAppend(path, i), "a rule id is a whole number from 1 to 99999999 "
                                          "(such as 942100)");
            continue;
        }
        out.push_back(static_cast<std::uint32_t>(item.get<std::uint64_t>()));
    }
}

// "client", "route", "header:NAME" or "cookie:NAME".
void Loader::parseRateLimitKey(const Json& value, const std::string& path, RateLimit& rate) {
    if (!expectString(value, path)) return;
    const std::string& text = *value.get_ptr<const std::string*>();
    const auto colon = text.find(':');
    const std::string kind = text.substr(0, colon);
    const std::string name = colon == std::string::npos ? std::string() : text.substr(colon + 1);
    if (colon == std::string::npos && (kind == "client" || kind == "route")) {
        rate.key = kind == "client" ? RateLimit::Key::Client : RateLimit::Key::Route;
        return;
    }
    if (colon != std::string::npos && (kind == "header" || kind == "cookie")) {
        if (!isToken(name) || name.size() > 256) {
            error(path, shown(text) + ": the " + kind + " name after ':' must be a token of 1 to 256 "
                        "characters (letters, digits and !#$%&'*+-.^_`|~)");
            return;
        }
        rate.key = kind == "header" ? RateLimit::Key::Header : RateLimit::Key::Cookie;
        rate.keyName = name;
        return;
    }
    error(path, shown(text) + " is not a rate-limit key; use \"client\", \"route\", "
                "\"header:NAME\" or \"cookie:NAME\"");
}

void Loader::parseSecurityPolicy(ObjectReader& r, SecurityPolicy& policy) {
    if (const Json* allow = r.get("allow")) {
        std::vector<Cidr> list;
        parseCidrList(*allow, r.path("allow"), list);
        policy.allow = std::move(list);
    }
    if (const Json* deny = r.get("deny")) {
        std::vector<Cidr> list;
        parseCidrList(*deny, r.path("deny"), list);
        policy.deny = std::move(list);
    }
    if (const Json* limit = r.get("rate_limit")) {
        if (expectObject(*limit, r.path("rate_limit"))) {
            ObjectReader lr(*this, *limit, r.path("rate_limit"), kRateLimitSpec);
            RateLimit rate;
            if (!lr.get("requests_per_second"))
                error(r.path("rate_limit"), "rate_limit is missing the required key "
                                            "'requests_per_second' (0 turns the limit off)");
            lr.uint("requests_per_second", 0, 1'000'000, rate.requestsPerSecond,
                    "requests per second (0 = no limit)");
            lr.uint("burst", 1, 10'000'000, rate.burst, "requests");
            if (const Json* key = lr.get("key")) parseRateLimitKey(*key, lr.path("key"), rate);
            policy.rateLimit = rate;
        }
    }
    if (const Json* minRate = r.get("min_body_rate")) {
        if (expectObject(*minRate, r.path("min_body_rate"))) {
            ObjectReader mr(*this, *minRate, r.path("min_body_rate"), kMinBodyRateSpec);
            MinBodyRate settings;
            if (!mr.get("bytes_per_second"))
                error(r.path("min_body_rate"), "min_body_rate is missing the required key "
                                               "'bytes_per_second' (0 turns the minimum off)");
            mr.uint("bytes_per_second", 0, 1'000'000'000, settings.bytesPerSecond,
                    "bytes per second (0 = no minimum)");
            mr.millis("grace_ms", settings.grace);
            policy.minBodyRate = settings;
        }
    }
    if (const Json* waf = r.get("waf")) {
        if (expectObject(*waf, r.path("waf"))) {
            ObjectReader wr(*this, *waf, r.path("waf"), kWafSpec);
            Waf settings;
            if (const Json* mode = wr.get("mode")) {
                static constexpr std::string_view modes[] = {"off", "detect", "block"};
                std::size_t index = 0;
                if (readChoice(*mode, wr.path("mode"), modes, index))
                    settings.mode = static_cast<Waf::Mode>(index);
            }
            wr.uint("paranoia", 1, 4, settings.paranoia);
            wr.uint("request_body_limit", 0, 64u << 20, settings.requestBodyLimit,
                    "bytes (0 = request bodies are not inspected)");
            if (const Json* over = wr.get("over_limit")) {
                static constexpr std::string_view choices[] = {"reject", "inspect_partial"};
                std::size_t index = 0;
                if (readChoice(*over, wr.path("over_limit"), choices, index))
                    settings.overLimit = static_cast<Waf::OverLimit>(index);
            }
            if (const Json* ids = wr.get("exclude_rules"))
                parseRuleIds(*ids, wr.path("exclude_rules"), settings.excludeRules);
            if (const Json* list = wr.get("exclusions")) {
                const std::string listPath = wr.path("exclusions");
                if (expectArray(*list, listPath)) {
                    for (std::size_t i = 0; i < list->size(); ++i) {
                        const std::string itemPath = pointerAppend(listPath, i);
                        const Json& item = (*list)[i];
                        if (!expectObject(item, itemPath)) continue;
                        ObjectReader er(*this, item, itemPath, kWafExclusionSpec);
                        WafExclusion exclusion;
                        const Json* prefix = er.get("path_prefix");
                        if (prefix == nullptr || !prefix->is_string() ||
                            !prefix->get<std::string>().starts_with('/')) {
                            error(er.path("path_prefix"),
                                  "an exclusion needs \"path_prefix\": a path starting with /");
                        } else {
                            exclusion.pathPrefix = prefix->get<std::string>();
                            if (exclusion.pathPrefix.find_first_of("\"'\\ \t\r\n") != std::string::npos)
                                error(er.path("path_prefix"),
                                      "path_prefix must not contain quotes, backslashes or spaces "
                                      "(percent-encode them)");
                        }
                        if (const Json* ids = er.get("rules"))
                            parseRuleIds(*ids, er.path("rules"), exclusion.rules);
                        else
                            error(itemPath, "an exclusion needs \"rules\": the CRS rule ids to switch off");
                        settings.exclusions.push_back(std::move(exclusion));
                    }
                }
            }
            if (const Json* crs = wr.get("crs_path")) {
                if (!crs->is_string() || crs->get<std::string>().empty())
                    error(wr.path("crs_path"), "crs_path must be a folder name (a non-empty string)");
                else
                    settings.crsPath = crs->get<std::string>();
            }
            policy.waf = settings;
        }
    }
}

void Loader::parseSecurity(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kSecuritySpec);
    SecurityConfig& security = config_.security;
    parseSecurityPolicy(r, security.policy);
    if (const Json* trusted = r.get("trusted_proxies"))
        parseCidrList(*trusted, r.path("trusted_proxies"), security.trustedProxies);
    if (const Json* limit = r.get("connection_limit")) {
        if (expectObject(*limit, r.path("connection_limit"))) {
            ObjectReader lr(*this, *limit, r.path("connection_limit"), kConnectionLimitSpec);
            lr.uint("per_client", 0, 1'000'000, security.connectionsPerClient,
                    "connections (0 = unlimited)");
            lr.uint("total", 0, 10'000'000, security.connectionsTotal, "connections (0 = unlimited)");
            lr.uint("requests_per_connection", 0, 100'000'000, security.requestsPerConnection,
                    "requests (0 = unlimited)");
        }
    }
    if (const Json* bans = r.get("bans")) {
        if (expectObject(*bans, r.path("bans"))) {
            ObjectReader br(*this, *bans, r.path("bans"), kBanSpec);
            BanPolicy& b = security.bans;
            b.strikes = 10;  // the object's presence turns bans on
            br.uint("strikes", 0, 1'000'000, b.strikes, "refusals (0 = no bans)");
            br.millis("window_ms", b.window);
            br.millis("ban_ms", b.ban);
            br.millis("max_ban_ms", b.maxBan);
            br.uint("max_clients", 1, 1'000'000, b.maxClients, "addresses");
            if (b.maxBan < b.ban)
                error(br.path("max_ban_ms"), "max_ban_ms must be at least ban_ms");
        }
    }
}

void Loader::parseListeners(const Json& value, const std::string& path) {
    sawListeners_ = true;
    if (!expectArray(value, path)) return;
    std::unordered_map<std::string, std::string> names;  // name -> path of the first
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string itemPath = pointerAppend(path, i);
        const Json& item = value[i];
        if (!expectObject(item, itemPath)) continue;
        ObjectReader r(*this, item, itemPath, kListenerSpec);
        Listener listener;
        if (r.name("name", listener.name, "listener")) {
            auto [it, inserted] = names.try_emplace(listener.name, itemPath);
            if (!inserted)
                error(r.path("name"),
                      "the listener name '" + listener.name + "' is already used by " + it->second);
        }
        bool addressOk = false;
        if (const Json* address = r.get("address")) {
            if (expectString(*address, r.path("address"))) {
                std::string why;
                if (auto parsed = parseHostPort(*address->get_ptr<const std::string*>(),
                                                AddressRule::IpOnly, &why)) {
                    listener.address = *parsed;
                    addressOk = true;
                } else {
                    error(r.path("address"), why);
                }
            }
        } else {
            error(itemPath, "listener is missing the required key 'address'");
        }
        if (const Json* tls = r.get("tls")) {
            if (expectObject(*tls, r.path("tls"))) {
                ListenerTls settings;
                parseListenerTls(*tls, r.path("tls"), settings);
                listener.tls = std::move(settings);
            }
        }
        config_.listeners.push_back(std::move(listener));
        listenerPaths_.push_back(itemPath);
        listenerAddressOk_.push_back(addressOk);
    }
}

void Loader::parseUpstreams(const Json& value, const std::string& path) {
    if (!expectArray(value, path)) return;
    std::unordered_map<std::string, std::string> names;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string itemPath = pointerAppend(path, i);
        const Json& item = value[i];
        if (!expectObject(item, itemPath)) continue;
        Upstream upstream;
        parseUpstream(item, itemPath, upstream);
        if (!upstream.name.empty()) {
            auto [it, inserted] = names.try_emplace(upstream.name, itemPath);
            if (!inserted)
                error(pointerAppend(itemPath, "name"),
                      "the upstream name '" + upstream.name + "' is already used by " + it->second);
        }
        config_.upstreams.push_back(std::move(upstream));
    }
}

void Loader::parseUpstream(const Json& value, const std::string& path, Upstream& upstream) {
    ObjectReader r(*this, value, path, kUpstreamSpec);
    r.name("name", upstream.name, "upstream");
    if (const Json* balance = r.get("balance")) {
        static constexpr std::string_view names[] = {"round_robin", "least_connections", "ip_hash",
                                                     "hash"};
        std::size_t index = 0;
        if (readChoice(*balance, r.path("balance"), names, index))
            upstream.balance = static_cast<Balance>(index);
    }
    const Json* servers = r.get("servers");
    if (servers && expectArray(*servers, r.path("servers"))) {
        // Identity of a server: its address bytes (IPs) or lower-cased name, and the port.
        std::map<std::pair<std::string, std::uint16_t>, std::string> seen;
        for (std::size_t i = 0; i < servers->size(); ++i) {
            const std::string serverPath = pointerAppend(r.path("servers"), i);
            const Json& item = (*servers)[i];
            if (!expectObject(item, serverPath)) continue;
            ObjectReader s(*this, item, serverPath, kServerSpec);
            Server server;
            if (const Json* address = s.get("address")) {
                if (expectString(*address, s.path("address"))) {
                    std::string why;
                    const std::string& text = *address->get_ptr<const std::string*>();
                    if (auto parsed = parseHostPort(text, AddressRule::IpOrName, &why)) {
                        server.address = *parsed;
                        std::string identity = lower(parsed->host);
                        if (parsed->kind == HostPort::Kind::IPv6) {
                            auto bytes = parseIPv6(parsed->host);
                            identity.assign(bytes->bytes.begin(), bytes->bytes.end());
                        }
                        auto [it, inserted] =
                            seen.try_emplace({identity, parsed->port}, serverPath);
                        if (!inserted)
                            error(s.path("address"), "the server " + shown(text) +
                                                         " is listed twice in this upstream; "
                                                         "the first is " +
                                                         it->second);
                    } else {
                        error(s.path("address"), why);
                    }
                }
            } else {
                error(serverPath, "server is missing the required key 'address'");
            }
            s.uint("weight", 1, 1000, server.weight);
            s.uint("max_connections", 0, 1'000'000, server.maxConnections, "connections");
            upstream.servers.push_back(std::move(server));
        }
    }
    if (!servers || (servers->is_array() && servers->empty()))
        error(r.path("servers"), "the upstream" +
                                     (upstream.name.empty() ? "" : " '" + upstream.name + "'") +
                                     " has no servers, so no request can be sent to it");
    if (const Json* keepalive = r.get("keepalive")) {
        if (expectObject(*keepalive, r.path("keepalive"))) {
            ObjectReader k(*this, *keepalive, r.path("keepalive"), kKeepaliveSpec);
            k.uint("max_idle", 0, 10'000, upstream.keepalive.maxIdle, "connections");
            k.millis("idle_timeout_ms", upstream.keepalive.idleTimeout);
        }
    }
    if (const Json* health = r.get("health_check")) {
        if (expectObject(*health, r.path("health_check"))) {
            HealthCheck check;
            parseHealthCheck(*health, r.path("health_check"), check);
            upstream.healthCheck = check;
        }
    }
    if (const Json* passive = r.get("passive")) {
        if (expectObject(*passive, r.path("passive"))) {
            PassiveCheck check;
            parsePassive(*passive, r.path("passive"), check);
            upstream.passive = check;
        }
    }
    std::uint64_t slowStart = 0;
    if (r.uint("slow_start_seconds", 0, 3600, slowStart, "seconds"))
        upstream.slowStart = std::chrono::seconds(slowStart);
    const Json* hashKey = r.get("hash_key");
    if (hashKey && expectObject(*hashKey, r.path("hash_key")))
        parseHashKey(*hashKey, r.path("hash_key"), upstream.hashKey);
    if (upstream.balance == Balance::Hash && !hashKey)
        error(r.path("balance"),
              "balance 'hash' needs a 'hash_key' saying what to hash: {\"header\": NAME}, "
              "{\"cookie\": NAME} or {\"path\": true}");
    if (hashKey && upstream.balance != Balance::Hash)
        error(r.path("hash_key"),
              "'hash_key' is used only with \"balance\": \"hash\"; remove it or set the balance "
              "to hash");
    if (const Json* sticky = r.get("sticky")) {
        if (expectObject(*sticky, r.path("sticky"))) {
            StickyCookie cookie;
            parseSticky(*sticky, r.path("sticky"), cookie);
            upstream.sticky = cookie;
        }
    }
    if (const Json* queue = r.get("queue")) {
        if (expectObject(*queue, r.path("queue"))) {
            ObjectReader q(*this, *queue, r.path("queue"), kQueueSpec);
            UpstreamQueue settings;
            q.uint("size", 1, 100'000, settings.size, "requests");
            std::uint64_t ms = 0;
            if (q.uint("timeout_ms", 1, 600'000, ms, "milliseconds (up to 10 minutes)"))
                settings.timeout = std::chrono::milliseconds(ms);
            upstream.queue = settings;
            const bool anyLimit = std::any_of(upstream.servers.begin(), upstream.servers.end(),
                                              [](const Server& s) { return s.maxConnections > 0; });
            if (!anyLimit && !upstream.servers.empty())
                warning(r.path("queue"), "no server of this upstream sets max_connections, so no "
                                         "request will ever wait in the queue");
        }
    }
    r.uint("retries", 0, 10, upstream.retries);
    std::uint64_t resolveInterval = 0;
    if (r.uint("resolve_interval_seconds", 1, 86'400, resolveInterval, "seconds (up to a day)"))
        upstream.resolveInterval = std::chrono::seconds(resolveInterval);
    const bool anyName = std::any_of(upstream.servers.begin(), upstream.servers.end(), [](const Server& s) {
        return s.address.kind == HostPort::Kind::Name;
    });
    if (r.get("resolve_interval_seconds") && !anyName && !upstream.servers.empty())
        warning(r.path("resolve_interval_seconds"),
                "no server of this upstream is given by DNS name, so nothing is resolved again");
    if (const Json* tls = r.get("tls")) {
        if (expectObject(*tls, r.path("tls"))) {
            UpstreamTls settings;
            parseUpstreamTls(*tls, r.path("tls"), settings);
            upstream.tls = std::move(settings);
        }
    }
}

// A file name in the TLS settings. Only its form is checked here: the console validates on
// another machine, so whether the file exists and holds a usable key is the service's check
// (when it builds the snapshot, docs/tls.md).
bool Loader::filePath(ObjectReader& r, std::string_view key, std::string& out) {
    std::string text;
    if (!r.nonEmptyString(key, text)) return false;
    if (text.size() > 4096 || std::any_of(text.begin(), text.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20;
        })) {
        error(r.path(key), shown(text) + " is not a usable file name");
        return false;
    }
    out = std::move(text);
    return true;
}

void Loader::parseListenerTls(const Json& value, const std::string& path, ListenerTls& tls) {
    ObjectReader r(*this, value, path, kListenerTlsSpec);
    const Json* certificates = r.get("certificates");
    if (!certificates) {
        error(path, "tls is missing the required key 'certificates'");
    } else if (expectArray(*certificates, r.path("certificates"))) {
        if (certificates->empty())
            error(r.path("certificates"), "a TLS listener needs at least one certificate");
        if (certificates->size() > 1000)
            error(r.path("certificates"), "at most 1000 certificates per listener");
        for (std::size_t i = 0; i < certificates->size() && i < 1000; ++i) {
            const std::string itemPath = pointerAppend(r.path("certificates"), i);
            const Json& item = (*certificates)[i];
            if (!expectObject(item, itemPath)) continue;
            ObjectReader c(*this, item, itemPath, kTlsCertificateSpec);
            TlsCertificate cert;
            const bool hasCert = filePath(c, "cert", cert.cert);
            const bool hasKey = filePath(c, "key", cert.key);
            const bool hasPfx = filePath(c, "pfx", cert.pfx);
            if (c.get("password")) c.string("password", cert.password);
            filePath(c, "ocsp_response", cert.ocspResponse);
            if (hasPfx && (c.get("cert") || c.get("key")))
                error(itemPath, "give either 'pfx' (with its 'password') or 'cert' and 'key', "
                                "not both");
            else if (!hasPfx && c.get("password") && !c.get("pfx"))
                error(c.path("password"), "'password' belongs to a 'pfx' certificate");
            else if (!hasPfx && !c.get("pfx") && !c.get("cert") && !c.get("key"))
                error(itemPath, "a certificate needs 'cert' and 'key' (PEM files) or 'pfx' (a "
                                "PKCS#12 file)");
            else if (!hasPfx && c.get("cert") && !c.get("key"))
                error(itemPath, "the certificate is missing its private key: add 'key' (a PEM "
                                "file; it may be the same file as 'cert')");
            else if (!hasPfx && c.get("key") && !c.get("cert"))
                error(itemPath, "'key' needs its certificate: add 'cert' (a PEM file)");
            (void)hasCert;
            (void)hasKey;
            tls.certificates.push_back(std::move(cert));
        }
    }
    if (const Json* version = r.get("min_version")) {
        static constexpr std::string_view versions[] = {"1.2", "1.3"};
        std::size_t index = 0;
        if (readChoice(*version, r.path("min_version"), versions, index))
            tls.minVersion = std::string(versions[index]);
    }
    for (std::string_view key : {std::string_view("ciphers"), std::string_view("ciphersuites")}) {
        std::string text;
        if (!r.nonEmptyString(key, text)) continue;
        const bool printable = text.size() <= 4096 && std::all_of(text.begin(), text.end(), [](char c) {
                                   return c > 0x20 && c < 0x7f;
                               });
        if (!printable) {
            error(r.path(key), shown(text) + " is not an OpenSSL cipher string (no spaces; "
                               "entries are separated by ':')");
            continue;
        }
        (key == "ciphers" ? tls.ciphers : tls.ciphersuites) = std::move(text);
    }
    if (r.get("handshake_timeout_ms")) {
        std::uint64_t ms = 0;
        if (r.uint("handshake_timeout_ms", 100, 300'000, ms, "milliseconds"))
            tls.handshakeTimeout = std::chrono::milliseconds(ms);
    }
    filePath(r, "client_ca", tls.clientCa);
    if (const Json* mode = r.get("client_certificate")) {
        static constexpr std::string_view modes[] = {"required", "optional"};
        std::size_t index = 0;
        if (readChoice(*mode, r.path("client_certificate"), modes, index))
            tls.clientCertRequired = index == 0;
        if (!r.get("client_ca"))
            error(r.path("client_certificate"), "needs 'client_ca', the CAs client certificates "
                                                "are verified against");
    }
    if (r.get("client_subject_header")) {
        std::string name;
        if (r.string("client_subject_header", name)) {
            if (!isToken(name))
                error(r.path("client_subject_header"), shown(name) + " is not a header name");
            else if (isHopByHopOrFraming(lower(name)))
                error(r.path("client_subject_header"), shown(name) + " is a connection header");
            else
                tls.clientSubjectHeader = name;
        }
    }
    std::uint64_t rotation = 0;
    if (r.uint("ticket_key_rotation_seconds", 1, 7 * 86'400, rotation, "seconds (up to 7 days)"))
        tls.ticketKeyRotation = std::chrono::seconds(rotation);
    if (const Json* ocsp = r.get("ocsp"); ocsp && expectObject(*ocsp, r.path("ocsp"))) {
        ObjectReader o(*this, *ocsp, r.path("ocsp"), kOcspFetchSpec);
        o.boolean("fetch", tls.ocsp.fetch);
        std::uint64_t ms = 0;
        if (o.uint("timeout_ms", 100, 60'000, ms, "milliseconds (up to a minute)"))
            tls.ocsp.timeout = std::chrono::milliseconds(ms);
        std::uint64_t seconds = 0;
        if (o.uint("refresh_seconds", 1, 7 * 86'400, seconds, "seconds (up to 7 days)"))
            tls.ocsp.refresh = std::chrono::seconds(seconds);
        std::string proxy;
        if (o.nonEmptyString("proxy", proxy)) {
            std::string why;
            if (auto parsed = parseHostPort(proxy, AddressRule::IpOrName, &why))
                tls.ocsp.proxy = *parsed;
            else
                error(o.path("proxy"), why);
        }
    }
}

void Loader::parseUpstreamTls(const Json& value, const std::string& path, UpstreamTls& tls) {
    ObjectReader r(*this, value, path, kUpstreamTlsSpec);
    r.boolean("verify", tls.verify);
    filePath(r, "ca", tls.ca);
    if (r.nonEmptyString("server_name", tls.serverName)) {
        const bool ok = tls.serverName.size() <= 253 &&
                        std::all_of(tls.serverName.begin(), tls.serverName.end(), [](char c) {
                            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                   (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
                        });
        if (!ok) {
            error(r.path("server_name"), shown(tls.serverName) + " is not a DNS name");
            tls.serverName.clear();
        }
    }
    r.boolean("verify_hostname", tls.verifyHostname);
    r.boolean("sni", tls.sni);
    filePath(r, "cert", tls.cert);
    filePath(r, "key", tls.key);
    if (r.get("cert") && !r.get("key"))
        error(path, "the client certificate is missing its private key: add 'key'");
    if (r.get("key") && !r.get("cert"))
        error(path, "'key' needs its client certificate: add 'cert'");
    if (!tls.verify && (r.get("ca") || r.get("verify_hostname")))
        warning(path, "'verify' is false, so 'ca' and 'verify_hostname' have no effect");
    if (!tls.verify)
        warning(r.path("verify"), "the servers' certificates are not verified: anyone on the "
                                  "path can pose as them");
}

void Loader::parsePassive(const Json& value, const std::string& path, PassiveCheck& passive) {
    ObjectReader r(*this, value, path, kPassiveSpec);
    r.uint("failures", 0, 1000, passive.failures, "failures");
    r.uint("status_5xx", 0, 1000, passive.status5xx, "responses");
    std::uint64_t seconds = 0;
    const bool hasEject = r.uint("eject_seconds", 1, 86'400, seconds, "seconds");
    if (hasEject) passive.eject = std::chrono::seconds(seconds);
    const bool hasMax = r.uint("max_eject_seconds", 1, 86'400, seconds, "seconds");
    if (hasMax) passive.maxEject = std::chrono::seconds(seconds);
    if (passive.failures == 0 && passive.status5xx == 0)
        error(path, "passive checks with 'failures' and 'status_5xx' both 0 can never eject a "
                    "server; set one of them, or remove 'passive'");
    if ((hasEject || hasMax) && passive.maxEject < passive.eject)
        error(r.path(hasMax ? "max_eject_seconds" : "eject_seconds"),
              "'max_eject_seconds' (" + std::to_string(passive.maxEject.count()) +
                  ") is below 'eject_seconds' (" + std::to_string(passive.eject.count()) + ")");
}

void Loader::parseHashKey(const Json& value, const std::string& path, HashKey& key) {
    ObjectReader r(*this, value, path, kHashKeySpec);
    std::vector<std::string_view> given;
    for (std::string_view kind : {"header", "cookie", "path"})
        if (r.get(kind)) given.push_back(kind);
    if (given.size() != 1) {
        std::string found;
        for (std::size_t i = 0; i < given.size(); ++i)
            found += (i ? " and " : "") + std::string(given[i]);
        error(path, "give exactly one of 'header', 'cookie' or 'path' to hash on; found " +
                        (found.empty() ? std::string("none") : found));
        return;
    }
    if (given[0] == "path") {
        bool on = false;
        if (r.boolean("path", on)) {
            if (!on)
                error(r.path("path"), "'path' must be true to hash on the path; to hash on "
                                      "something else, give 'header' or 'cookie' instead");
            else
                key.kind = HashKey::Kind::Path;
        }
        return;
    }
    std::string name;
    if (!r.nonEmptyString(given[0], name)) return;
    if (!isToken(name) || name.size() > 256) {
        error(r.path(given[0]), shown(name) + " is not a valid " + std::string(given[0]) +
                                    " name (letters, digits and !#$%&'*+-.^_`|~, up to 256)");
        return;
    }
    key.kind = given[0] == "header" ? HashKey::Kind::Header : HashKey::Kind::Cookie;
    key.name = name;
}

void Loader::parseSticky(const Json& value, const std::string& path, StickyCookie& sticky) {
    ObjectReader r(*this, value, path, kStickySpec);
    if (r.nonEmptyString("cookie", sticky.name) && (!isToken(sticky.name) || sticky.name.size() > 64))
        error(r.path("cookie"), shown(sticky.name) + " is not a valid cookie name; use up to 64 "
                                                     "letters, digits and !#$%&'*+-.^_`|~");
    if (r.string("path", sticky.path)) {
        const bool clean = std::all_of(sticky.path.begin(), sticky.path.end(), [](char c) {
            const auto b = static_cast<unsigned char>(c);
            return b >= 0x20 && b != 0x7f && c != ';' && b < 0x80;
        });
        if (!sticky.path.starts_with('/') || !clean || sticky.path.size() > 1024)
            error(r.path("path"), "the cookie path " + shown(sticky.path) +
                                      " must start with '/' and hold no ';', control or "
                                      "non-ASCII characters (up to 1024 bytes)");
    }
    r.boolean("http_only", sticky.httpOnly);
    r.boolean("secure", sticky.secure);
    if (const Json* sameSite = r.get("same_site")) {
        static constexpr std::string_view choices[] = {"Strict", "Lax", "None", ""};
        std::size_t index = 0;
        if (readChoice(*sameSite, r.path("same_site"), choices, index)) {
            sticky.sameSite = std::string(choices[index]);
            if (sticky.sameSite == "None" && !sticky.secure)
                error(r.path("same_site"), "browsers drop a SameSite=None cookie that is not "
                                           "Secure; set \"secure\": true or choose Lax or Strict");
        }
    }
    r.uint("max_age", 0, 315'360'000, sticky.maxAge, "seconds (up to 10 years)");
    if (r.string("secret", sticky.secret) && !sticky.secret.empty() && sticky.secret.size() < 16)
        error(r.path("secret"), "the sticky secret must be at least 16 characters long, or "
                                "absent for a random one per service start");
}

void Loader::parseHealthCheck(const Json& value, const std::string& path, HealthCheck& check) {
    ObjectReader r(*this, value, path, kHealthSpec);
    if (const Json* method = r.get("method")) {
        static constexpr std::string_view methods[] = {"GET", "HEAD", "OPTIONS", "POST"};
        std::size_t index = 0;
        if (readChoice(*method, r.path("method"), methods, index))
            check.method = std::string(methods[index]);
    }
    if (r.string("path", check.path)) {
        const bool printable = std::all_of(check.path.begin(), check.path.end(), [](char c) {
            return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
        });
        if (!check.path.starts_with('/') || !printable)
            error(r.path("path"), "the health-check path " + shown(check.path) +
                                      " must start with '/' and contain no spaces or control "
                                      "characters");
    }
    if (const Json* status = r.get("expect_status")) {
        const std::string statusPath = r.path("expect_status");
        if (!status->is_array() || status->size() != 2) {
            error(statusPath,
                  "expected an array of two status codes [min, max] such as "
                  "[200, 399], found " +
                      describe(*status));
        } else {
            auto low = readUInt((*status)[0], pointerAppend(statusPath, 0), 100, 599);
            auto high = readUInt((*status)[1], pointerAppend(statusPath, 1), 100, 599);
            if (low && high) {
                if (*low > *high) {
                    error(statusPath, "the lowest status " + std::to_string(*low) +
                                          " is above the highest " + std::to_string(*high));
                } else {
                    check.expectStatusMin = static_cast<std::uint16_t>(*low);
                    check.expectStatusMax = static_cast<std::uint16_t>(*high);
                }
            }
        }
    }
    if (r.string("expect_body", check.expectBody) && check.expectBody.size() > 1024)
        error(r.path("expect_body"), "the expected body text is " +
                                         std::to_string(check.expectBody.size()) +
                                         " bytes; the limit is 1024");
    const bool hasInterval = r.millis("interval_ms", check.interval);
    if (hasInterval && check.interval < std::chrono::milliseconds(100))
        error(r.path("interval_ms"), "a health-check interval under 100 ms would flood the "
                                     "servers with probes; use 100 or more");
    const bool hasTimeout = r.millis("timeout_ms", check.timeout);
    if ((hasInterval || hasTimeout) && check.timeout > check.interval)
        warning(r.path(hasTimeout ? "timeout_ms" : "interval_ms"),
                "the health-check timeout is longer than its interval, so checks will overlap");
    r.uint("rise", 1, 100, check.rise);
    r.uint("fall", 1, 100, check.fall);
}

void Loader::parseRoutes(const Json& value, const std::string& path) {
    if (!expectArray(value, path)) return;
    std::unordered_map<std::string, std::string> names;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const std::string itemPath = pointerAppend(path, i);
        const Json& item = value[i];
        if (!expectObject(item, itemPath)) continue;
        Route route;
        const std::size_t before = diagnostics_.size();
        parseRoute(item, itemPath, route);
        if (!route.name.empty()) {
            auto [it, inserted] = names.try_emplace(route.name, itemPath);
            if (!inserted)
                error(pointerAppend(itemPath, "name"),
                      "the route name '" + route.name + "' is already used by " + it->second);
        }
        // Shadowing is only judged for routes whose match parsed cleanly.
        bool matchOk = true;
        const std::string matchPath = pointerAppend(itemPath, "match");
        for (std::size_t d = before; d < diagnostics_.size(); ++d)
            if (diagnostics_[d].path.starts_with(matchPath)) matchOk = false;
        config_.routes.push_back(std::move(route));
        routePaths_.push_back(itemPath);
        routeMatchOk_.push_back(matchOk);
    }
}

void Loader::parseRoute(const Json& value, const std::string& path, Route& route) {
    ObjectReader r(*this, value, path, kRouteSpec);
    r.name("name", route.name, "route");
    if (const Json* listener = r.get("listener")) {
        if (expectString(*listener, r.path("listener"))) {
            route.listener = *listener->get_ptr<const std::string*>();
            if (route.listener.empty())
                error(r.path("listener"), "must not be empty; omit the key to use every listener");
        }
    }
    if (const Json* match = r.get("match"))
        if (expectObject(*match, r.path("match"))) parseMatch(*match, r.path("match"), route.match);
    if (const Json* upstream = r.get("upstream")) {
        if (expectString(*upstream, r.path("upstream"))) {
            route.upstream = *upstream->get_ptr<const std::string*>();
            if (route.upstream.empty()) error(r.path("upstream"), "must name an upstream");
        }
    } else {
        error(path, "route is missing the required key 'upstream'");
    }
    if (const Json* rewrite = r.get("rewrite"))
        if (expectObject(*rewrite, r.path("rewrite")))
            parseRewrite(*rewrite, r.path("rewrite"), route.rewrite);
    if (const Json* rules = r.get("request_headers"))
        if (expectObject(*rules, r.path("request_headers")))
            parseHeaderRules(*rules, r.path("request_headers"), route.requestHeaders, false);
    if (const Json* rules = r.get("response_headers"))
        if (expectObject(*rules, r.path("response_headers")))
            parseHeaderRules(*rules, r.path("response_headers"), route.responseHeaders, true);
    route.compression = config_.compression;
    if (const Json* compression = r.get("compression"))
        parseCompression(*compression, r.path("compression"), route.compression);
    if (const Json* security = r.get("security")) {
        if (expectObject(*security, r.path("security"))) {
            ObjectReader sr(*this, *security, r.path("security"), kRouteSecuritySpec);
            parseSecurityPolicy(sr, route.security);
        }
    }
    if (const Json* cache = r.get("cache")) parseRouteCache(*cache, r.path("cache"), route.cache);
    if (const Json* redirect = r.get("redirect_https"))
        parseRedirectHttps(*redirect, r.path("redirect_https"), route.redirectHttps);
}

void Loader::parseRedirectHttps(const Json& value, const std::string& path, HttpsRedirect& out) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kRedirectHttpsSpec);
    r.boolean("enabled", out.enabled);
    r.uint("port", 1, 65535, out.port, "port");
    if (r.uint("status", 300, 399, out.status, "status") && out.status != 301 && out.status != 302 &&
        out.status != 307 && out.status != 308)
        error(r.path("status"), "must be 301, 302, 307 or 308 (308 keeps the method and body)");
    if (r.nonEmptyString("host", out.host)) {
        // A DNS name or an IPv4 address (it goes into Location as it is). IPv6: "[::1]".
        const std::string& h = out.host;
        const bool v6 = h.size() > 2 && h.front() == '[' && h.back() == ']' &&
                        std::all_of(h.begin() + 1, h.end() - 1, [](char c) {
                            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                   (c >= 'A' && c <= 'F') || c == ':' || c == '.';
                        });
        const bool name = h.size() <= 253 && std::all_of(h.begin(), h.end(), [](char c) {
                              return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                                     (c >= 'A' && c <= 'Z') || c == '-' || c == '.';
                          });
        if (!v6 && !name) {
            error(r.path("host"), shown(h) + " is not a host name (write a DNS name, an IPv4 "
                                             "address or [IPv6], without a port; the port is \"port\")");
            out.host.clear();
        }
    }
    if (!out.enabled && (r.get("port") || r.get("status") || r.get("host")))
        warning(path, "\"enabled\" is not true, so the redirect is off");
}

// ---- cache --------------------------------------------------------------------------------------

void Loader::parseCache(const Json& value, const std::string& path) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kCacheSpec);
    r.uint("memory_mb", 1, 1u << 20, config_.cache.memoryMb, "MiB");
    r.uint("max_object_kb", 1, 1u << 22, config_.cache.maxObjectKb, "KiB");
    if (r.millis("collapse_timeout_ms", config_.cache.collapseTimeout) &&
        config_.cache.collapseTimeout > std::chrono::minutes(5))
        error(r.path("collapse_timeout_ms"), "must be at most 300000 (5 minutes)");
    if (config_.cache.maxObjectKb > config_.cache.memoryMb * 1024)
        error(r.path("max_object_kb"), "is larger than the whole memory budget (memory_mb)");
    if (const Json* disk = r.get("disk")) {
        if (!expectObject(*disk, r.path("disk"))) return;
        ObjectReader d(*this, *disk, r.path("disk"), kCacheDiskSpec);
        config_.cache.diskEnabled = true;
        d.nonEmptyString("path", config_.cache.diskPath);
        // Relative paths would depend on the service's working directory: refuse them.
        const std::string& p = config_.cache.diskPath;
        const bool absolute = p.starts_with('/') || p.starts_with("\\\\") ||
                              (p.size() >= 3 && std::isalpha(static_cast<unsigned char>(p[0])) &&
                               p[1] == ':' && (p[2] == '\\' || p[2] == '/'));
        if (!p.empty() && !absolute)
            error(d.path("path"), "must be an absolute path (or omitted for the OS default)");
        if (p.find('\0') != std::string::npos) error(d.path("path"), "contains a NUL character");
        d.uint("max_mb", 1, 1u << 24, config_.cache.diskMaxMb, "MiB");
        if (config_.cache.maxObjectKb > config_.cache.diskMaxMb * 1024)
            error(r.path("max_object_kb"), "is larger than the whole disk budget (disk.max_mb)");
    }
}

void Loader::parseNameList(const Json* value, const std::string& path,
                           std::vector<std::string>& out, std::string_view what) {
    if (value == nullptr || !expectArray(*value, path)) return;
    std::vector<std::string> parsed;
    for (std::size_t i = 0; i < value->size(); ++i) {
        const std::string itemPath = pointerAppend(path, i);
        if (!expectString((*value)[i], itemPath)) continue;
        const std::string& name = *(*value)[i].get_ptr<const std::string*>();
        if (!isToken(name) || name.size() > 256) {
            error(itemPath, shown(name) + " is not a valid " + std::string(what) + " name");
            continue;
        }
        if (std::find(parsed.begin(), parsed.end(), name) != parsed.end()) {
            warning(itemPath, "the " + std::string(what) + " " + name + " is listed twice");
            continue;
        }
        parsed.push_back(name);
    }
    out = std::move(parsed);
}

void Loader::parseRouteCache(const Json& value, const std::string& path, RouteCache& out) {
    if (!expectObject(value, path)) return;
    ObjectReader r(*this, value, path, kRouteCacheSpec);
    r.boolean("enabled", out.enabled);
    r.uint("default_ttl_seconds", 0, 10u * 365 * 86400, out.defaultTtlSeconds, "seconds");
    r.boolean("allow_authorized", out.allowAuthorized);
    if (r.string("tag_header", out.tagHeader) && !isToken(out.tagHeader))
        error(r.path("tag_header"), shown(out.tagHeader) + " is not a valid header name");
    if (const Json* rules = r.get("ttl_overrides"); rules && expectArray(*rules, r.path("ttl_overrides"))) {
        for (std::size_t i = 0; i < rules->size(); ++i) {
            const std::string itemPath = pointerAppend(r.path("ttl_overrides"), i);
            if (!expectObject((*rules)[i], itemPath)) continue;
            ObjectReader tr(*this, (*rules)[i], itemPath, kCacheTtlSpec);
            CacheTtlRule rule;
            if (tr.string("path_prefix", rule.pathPrefix) && !rule.pathPrefix.starts_with('/'))
                error(tr.path("path_prefix"), "must start with /");
            if (tr.string("content_type", rule.contentType)) {
                rule.contentType = lower(rule.contentType);
                const std::size_t slash = rule.contentType.find('/');
                if (slash == std::string::npos ||
                    !isToken(std::string_view(rule.contentType).substr(0, slash)) ||
                    !isToken(std::string_view(rule.contentType).substr(slash + 1)))
                    error(tr.path("content_type"),
                          shown(rule.contentType) + " is not a media type; write type/subtype or type/*");
            }
            if (tr.get("seconds") == nullptr)
                error(itemPath, "a TTL override needs \"seconds\"");
            tr.uint("seconds", 0, 10u * 365 * 86400, rule.seconds, "seconds");
            if (rule.pathPrefix.empty() && rule.contentType.empty())
                warning(itemPath, "matches every response (no path_prefix, no content_type)");
            out.ttlOverrides.push_back(std::move(rule));
        }
    }
    if (const Json* key = r.get("key"); key && expectObject(*key, r.path("key"))) {
        ObjectReader kr(*this, *key, r.path("key"), kCacheKeySpec);
        kr.boolean("ignore_query", out.keyIgnoreQuery);
        parseNameList(kr.get("query_include"), kr.path("query_include"), out.keyQueryInclude,
                      "query parameter");
        parseNameList(kr.get("query_ignore"), kr.path("query_ignore"), out.keyQueryIgnore,
                      "query parameter");
        parseNameList(kr.get("headers"), kr.path("headers"), out.keyHeaders, "header");
        parseNameList(kr.get("cookies"), kr.path("cookies"), out.keyCookies, "cookie");
        if (!out.keyQueryInclude.empty() && !out.keyQueryIgnore.empty())
            error(kr.path("query_ignore"), "use query_include or query_ignore, not both");
        if (out.keyIgnoreQuery && (!out.keyQueryInclude.empty() || !out.keyQueryIgnore.empty()))
            warning(kr.path("ignore_query"), "ignore_query drops the whole query; the parameter "
                                             "lists have no effect");
    }
    if (const Json* bypass = r.get("bypass"); bypass && expectObject(*bypass, r.path("bypass"))) {
        ObjectReader br(*this, *bypass, r.path("bypass"), kCacheBypassSpec);
        parseNameList(br.get("cookies"), br.path("cookies"), out.bypassCookies, "cookie");
        parseNameList(br.get("headers"), br.path("headers"), out.bypassHeaders, "header");
    }
}

void Loader::parseMatch(const Json& value, const std::string& path, Match& match) {
    ObjectReader r(*this, value, path, kMatchSpec);
    if (r.string("host", match.host)) {
        std::string host = lower(match.host);
        bool valid = host == "*";
        if (!valid && host.starts_with("*.")) {
            valid = isValidHostName(std::string_view(host).substr(2));
        } else if (!valid && host.starts_with('[') && host.ends_with(']')) {
            valid = parseIPv6(std::string_view(host).substr(1, host.size() - 2)).has_value();
        } else if (!valid) {
            valid = isValidHostName(host);
        }
        if (!valid)
            error(r.path("host"), shown(match.host) +
                                      " is not a valid host pattern, so the route can never "
                                      "match; use a name such as example.com, a wildcard such "
                                      "as *.example.com, or *");
        match.host = host;  // host names compare case-insensitively; keep one spelling
    }
    int pathConditions = 0;
    for (std::string_view key : {"path_prefix", "path_exact"}) {
        std::string& target = key == "path_prefix" ? match.pathPrefix : match.pathExact;
        if (!r.get(key)) continue;
        ++pathConditions;
        if (r.string(key, target) && !target.starts_with('/'))
            error(r.path(key), std::string(key) + " " + shown(target) +
                                   " does not start with '/', so the route can never match");
    }
    if (r.get("path_regex")) {
        ++pathConditions;
        if (r.string("path_regex", match.pathRegex)) {
            const std::string problem = regexProblem(match.pathRegex);
            if (!problem.empty())
                error(r.path("path_regex"),
                      "the path_regex " + shown(match.pathRegex) + " " + problem);
        }
    }
    if (pathConditions > 1)
        error(path, "a match may use only one of path_prefix, path_exact and path_regex");
    if (const Json* methods = r.get("methods")) {
        if (expectArray(*methods, r.path("methods"))) {
            static constexpr std::string_view known[] = {
                "GET",  "HEAD", "POST",  "PUT",  "DELETE",   "OPTIONS",   "TRACE", "PATCH",
                "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "UNLOCK",
                "PURGE", "SEARCH", "REPORT"};  // PURGE: cache invalidation, common at proxies
            for (std::size_t i = 0; i < methods->size(); ++i) {
                const std::string itemPath = pointerAppend(r.path("methods"), i);
                const Json& item = (*methods)[i];
                if (!expectString(item, itemPath)) continue;
                const std::string& method = *item.get_ptr<const std::string*>();
                if (method == "CONNECT") {
                    error(itemPath,
                          "CONNECT is always answered 405 by the proxy, so it can "
                          "never be routed");
                } else if (std::find(std::begin(known), std::end(known), method) ==
                           std::end(known)) {
                    error(itemPath,
                          "unknown method " + shown(method) +
                              (method.size() <= kMaxNameLength ? didYouMean(closest(method, known))
                                                               : std::string()) +
                              " (methods are upper case and case-sensitive)");
                } else if (std::find(match.methods.begin(), match.methods.end(), method) !=
                           match.methods.end()) {
                    warning(itemPath, "the method " + method + " is listed twice");
                    continue;
                }
                match.methods.push_back(method);
            }
        }
    }
    if (const Json* headers = r.get("headers")) {
        if (parseHeaderMap(*headers, r.path("headers"), match.headers)) {
            for (const auto& [name, expected] : match.headers)
                checkHeaderValue(expected, pointerAppend(r.path("headers"), name), false);
        }
    }
}

void Loader::parseRewrite(const Json& value, const std::string& path, PathRewrite& rewrite) {
    ObjectReader r(*this, value, path, kRewriteSpec);
    if (r.string("strip_prefix", rewrite.stripPrefix) && !rewrite.stripPrefix.empty() &&
        !rewrite.stripPrefix.starts_with('/'))
        error(r.path("strip_prefix"),
              "strip_prefix " + shown(rewrite.stripPrefix) + " must start with '/'");
    if (r.string("regex", rewrite.regex) && !rewrite.regex.empty()) {
        const std::string problem = regexProblem(rewrite.regex);
        if (!problem.empty())
            error(r.path("regex"), "the rewrite regex " + shown(rewrite.regex) + " " + problem);
    }
    if (r.string("replacement", rewrite.replacement) && rewrite.regex.empty())
        error(r.path("replacement"), "a replacement needs a regex to replace");
}

bool Loader::parseHeaderMap(const Json& value, const std::string& path,
                            std::vector<std::pair<std::string, std::string>>& out) {
    if (!expectObject(value, path)) return false;
    std::unordered_map<std::string, std::string> seen;  // lower-cased name -> spelling
    for (const auto& [name, fieldValue] : value.items()) {
        const std::string itemPath = pointerAppend(path, name);
        if (!isToken(name)) {
            error(itemPath, shown(name) +
                                " is not a valid header name (letters, digits and "
                                "!#$%&'*+-.^_`|~ only)");
            continue;
        }
        if (!expectString(fieldValue, itemPath)) continue;
        auto [it, inserted] = seen.try_emplace(lower(name), name);
        if (!inserted) {
            error(itemPath, "the header " + shown(name) + " is already given as " +
                                shown(it->second) + " (header names ignore case)");
            continue;
        }
        out.emplace_back(name, *fieldValue.get_ptr<const std::string*>());
    }
    return true;
}

bool Loader::checkRuleHeaderName(const std::string& name, const std::string& path, bool response,
                                 std::string_view action) {
    const std::string lowered = lower(name);
    if (isHopByHopOrFraming(lowered)) {
        error(path, name +
                        " is managed by the proxy (hop-by-hop or message framing) and cannot "
                        "be " +
                        std::string(action));
        return false;
    }
    if (lowered == "host") {
        if (response) {
            error(path, "Host is a request header and cannot be " + std::string(action) +
                            " on responses");
            return false;
        }
        if (action != "set") {
            error(path, "Host cannot be " + std::string(action) +
                            ": a request must carry exactly one Host; use set to change it");
            return false;
        }
    }
    return true;
}

void Loader::checkHeaderValue(const std::string& value, const std::string& path, bool variables) {
    for (char c : value) {
        const auto b = static_cast<unsigned char>(c);
        if ((b < 0x20 && c != '\t') || b == 0x7f) {
            error(path,
                  "the header value contains a control character (such as a line break), "
                  "which would corrupt the message");
            return;
        }
    }
    if (!variables) return;
    std::size_t pos = 0;
    while ((pos = value.find("${", pos)) != std::string::npos) {
        const std::size_t close = value.find('}', pos + 2);
        if (close == std::string::npos) {
            error(path, "the header value has '${' without a closing '}'");
            return;
        }
        const std::string_view variable = std::string_view(value).substr(pos + 2, close - pos - 2);
        if (std::find(kHeaderVariables.begin(), kHeaderVariables.end(), variable) ==
            kHeaderVariables.end()) {
            std::string list;
            for (std::size_t i = 0; i < kHeaderVariables.size(); ++i)
                list +=
                    (i ? ", " : "") + std::string("${") + std::string(kHeaderVariables[i]) + "}";
            const std::string suggestion = closest(variable, kHeaderVariables);
            error(path, "unknown variable ${" + std::string(variable.substr(0, 60)) + "}" +
                            (suggestion.empty() ? "" : " (did you mean ${" + suggestion + "}?)") +
                            "; known variables are " + list);
        }
        pos = close + 1;
    }
}

void Loader::parseHeaderRules(const Json& value, const std::string& path, HeaderRules& rules,
                              bool response) {
    ObjectReader r(*this, value, path, kHeaderRulesSpec);
    for (std::string_view action : {"set", "add"}) {
        const Json* map = r.get(action);
        if (!map) continue;
        auto& target = action == "set" ? rules.set : rules.add;
        std::vector<std::pair<std::string, std::string>> entries;
        if (!parseHeaderMap(*map, r.path(action), entries)) continue;
        for (auto& entry : entries) {
            const std::string itemPath = pointerAppend(r.path(action), entry.first);
            const std::string_view verb = action == "set" ? "set" : "added";
            if (!checkRuleHeaderName(entry.first, itemPath, response, verb)) continue;
            checkHeaderValue(entry.second, itemPath, true);
            target.push_back(std::move(entry));
        }
    }
    if (const Json* remove = r.get("remove")) {
        if (expectArray(*remove, r.path("remove"))) {
            std::set<std::string> seen;
            for (std::size_t i = 0; i < remove->size(); ++i) {
                const std::string itemPath = pointerAppend(r.path("remove"), i);
                const Json& item = (*remove)[i];
                if (!expectString(item, itemPath)) continue;
                const std::string& name = *item.get_ptr<const std::string*>();
                if (!isToken(name)) {
                    error(itemPath, shown(name) + " is not a valid header name");
                    continue;
                }
                if (!checkRuleHeaderName(name, itemPath, response, "removed")) continue;
                const std::string lowered = lower(name);
                if (!seen.insert(lowered).second) {
                    warning(itemPath, "the header " + name + " is listed twice");
                    continue;
                }
                const auto setsIt =
                    std::find_if(rules.set.begin(), rules.set.end(),
                                 [&](const auto& e) { return lower(e.first) == lowered; });
                if (setsIt != rules.set.end()) {
                    error(itemPath,
                          "the header " + name + " is both set and removed; keep only one of them");
                    continue;
                }
                rules.remove.push_back(name);
            }
        }
    }
}

void Loader::checkListenerConflicts() {
    // One pass, keyed by port: the first listener of each kind is enough to name a conflict.
    struct PortUse {
        std::optional<std::size_t> anyV4, anyV6, wildV4, wildV6;
        std::map<std::array<std::uint8_t, 16>, std::size_t> exact[2];
    };
    std::unordered_map<std::uint16_t, PortUse> ports;
    for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
        if (!listenerAddressOk_[i]) continue;
        const Listener& listener = config_.listeners[i];
        const bool v6 = listener.address.kind == HostPort::Kind::IPv6;
        const auto ip = v6 ? parseIPv6(listener.address.host) : parseIPv4(listener.address.host);
        if (!ip) continue;
        const bool wild = ip->isWildcard();
        PortUse& use = ports[listener.address.port];
        std::optional<std::size_t> clash;
        std::string why = "binds the same address";
        if (auto it = use.exact[v6].find(ip->bytes); it != use.exact[v6].end()) {
            clash = it->second;
        } else if (!v6 && use.wildV6) {
            clash = use.wildV6;
            why = "overlaps it: a [::] listener also accepts IPv4 (dual stack)";
        } else if (!v6 && use.wildV4) {
            clash = use.wildV4;
            why = "overlaps it: 0.0.0.0 already covers every IPv4 address on that port";
        } else if (!v6 && wild && use.anyV4) {
            clash = use.anyV4;
            why = "overlaps it: 0.0.0.0 covers every IPv4 address on that port";
        } else if (v6 && use.wildV6) {
            clash = use.wildV6;
            why = "overlaps it: [::] already covers every address on that port";
        } else if (v6 && wild && (use.anyV6 || use.anyV4)) {
            clash = use.anyV6 ? use.anyV6 : use.anyV4;
            why = "overlaps it: [::] covers every IPv6 address and, dual stack, IPv4 too";
        }
        if (clash) {
            const Listener& first = config_.listeners[*clash];
            error(pointerAppend(listenerPaths_[i], "address"),
                  "the address " + listener.address.toString() + " conflicts with listener '" +
                      first.name + "' (" + first.address.toString() + ", " +
                      listenerPaths_[*clash] + "), which " + why);
            continue;
        }
        use.exact[v6].emplace(ip->bytes, i);
        auto& any = v6 ? use.anyV6 : use.anyV4;
        if (!any) any = i;
        if (wild) (v6 ? use.wildV6 : use.wildV4) = i;
    }
}

void Loader::checkRouteReferences() {
    std::vector<std::string_view> listenerNames, upstreamNames;
    std::set<std::string_view> listenerSet, upstreamSet;
    for (const Listener& l : config_.listeners)
        if (!l.name.empty() && listenerSet.insert(l.name).second) listenerNames.push_back(l.name);
    for (const Upstream& u : config_.upstreams)
        if (!u.name.empty() && upstreamSet.insert(u.name).second) upstreamNames.push_back(u.name);
    for (std::size_t i = 0; i < config_.routes.size(); ++i) {
        const Route& route = config_.routes[i];
        if (!route.listener.empty() && !listenerSet.contains(route.listener))
            error(pointerAppend(routePaths_[i], "listener"),
                  "there is no listener named " + shown(route.listener) +
                      didYouMean(closest(route.listener, listenerNames)));
        if (!route.upstream.empty() && !upstreamSet.contains(route.upstream))
            error(pointerAppend(routePaths_[i], "upstream"),
                  "there is no upstream named " + shown(route.upstream) +
                      didYouMean(closest(route.upstream, upstreamNames)));
    }
}

void Loader::checkShadowedRoutes() {
    // Two routes with the same match tie on precedence, and ties keep config order, so the later
    // one can never be chosen when its listener scope is covered by the earlier one's.
    std::unordered_map<std::string, std::vector<std::size_t>> bySignature;
    for (std::size_t i = 0; i < config_.routes.size(); ++i) {
        if (!routeMatchOk_[i]) continue;
        const Route& route = config_.routes[i];
        const Match& m = route.match;
        std::vector<std::string> methods = m.methods;
        std::sort(methods.begin(), methods.end());
        std::vector<std::pair<std::string, std::string>> headers;
        for (const auto& [name, value] : m.headers) headers.emplace_back(lower(name), value);
        std::sort(headers.begin(), headers.end());
        std::string signature =
            m.host + '\n' + m.pathPrefix + '\n' + m.pathExact + '\n' + m.pathRegex + '\n';
        for (const auto& method : methods) signature += method + ',';
        signature += '\n';
        for (const auto& [name, value] : headers) {
            signature += name + ':' + std::to_string(value.size()) + ':' + value + '\n';
        }
        auto& earlier = bySignature[signature];
        for (std::size_t j : earlier) {
            const Route& first = config_.routes[j];
            if (first.listener.empty() || first.listener == route.listener) {
                error(pointerAppend(routePaths_[i], "match"),
                      "this route can never match: route '" + first.name + "' (" + routePaths_[j] +
                          ") has the same match" +
                          (first.listener.empty() ? " on every listener" : " and listener") +
                          " and comes first");
                break;
            }
        }
        earlier.push_back(i);
    }
}

void collectKeyPaths(const ObjectSpec& spec, const std::string& base,
                     std::vector<std::string>& out) {
    for (const KeySpec& key : spec.keys) {
        const std::string path = base + "/" + std::string(key.key);
        out.push_back(path);
        if (key.object) collectKeyPaths(*key.object, key.array ? path + "/*" : path, out);
    }
}

bool hasError(const std::vector<Diagnostic>& diagnostics) {
    return std::any_of(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& d) {
        return d.severity == Diagnostic::Severity::Error;
    });
}

}  // namespace

std::string Diagnostic::toString() const {
    std::string out = severity == Severity::Error ? "error: " : "warning: ";
    out += path.empty() ? "(document)" : path;
    out += ": ";
    out += message;
    return out;
}

std::vector<std::string> knownKeyPaths() {
    std::vector<std::string> out;
    for (const Loader::Section& section : Loader::sections()) {
        const std::string path = "/" + std::string(section.key.key);
        out.push_back(path);
        if (section.key.object)
            collectKeyPaths(*section.key.object, section.key.array ? path + "/*" : path, out);
    }
    return out;
}

LoadResult loadConfig(std::string_view jsonText) {
    LoadResult result;
    try {
        Json root;
        if (!detail::parseDocument(jsonText, root, result.diagnostics)) return result;
        Loader loader(result.diagnostics);
        loader.load(root);
        if (!hasError(result.diagnostics))
            result.config = std::make_shared<const Config>(std::move(loader.config()));
    } catch (const std::exception& error) {
        // Only allocation failure should get here; the caller still gets a diagnostic, not a throw.
        result.config.reset();
        result.diagnostics.push_back(
            {Diagnostic::Severity::Error, "",
             std::string("the configuration could not be loaded: ") + error.what()});
    }
    return result;
}

LoadResult loadConfigFile(const std::string& path) {
    namespace fs = std::filesystem;
    LoadResult result;
    const auto fail = [&](std::string message) {
        result.diagnostics.push_back({Diagnostic::Severity::Error, "", std::move(message)});
        return result;
    };
    // Paths are UTF-8 on every platform; on Windows a plain std::string would be read as ANSI.
    const fs::path file(std::u8string(path.begin(), path.end()));
    std::error_code ec;
    const fs::file_status status = fs::status(file, ec);
    if (status.type() == fs::file_type::not_found)
        return fail("cannot read the configuration file '" + path + "': it does not exist");
    if (ec) return fail("cannot read the configuration file '" + path + "': " + ec.message());
    if (fs::is_directory(status))
        return fail("cannot read the configuration file '" + path + "': it is a directory");
    if (!fs::is_regular_file(status))
        return fail("cannot read the configuration file '" + path + "': it is not a regular file");
    const std::uintmax_t size = fs::file_size(file, ec);
    if (ec) return fail("cannot read the configuration file '" + path + "': " + ec.message());
    if (size > kMaxConfigBytes) {
        return fail("the configuration file '" + path + "' is " + std::to_string(size) +
                    " bytes, over the limit of " + std::to_string(kMaxConfigBytes) + " bytes");
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) return fail("cannot open the configuration file '" + path + "'");
    std::string text;
    // Read at most one byte past the limit: the file may have grown since it was measured.
    text.resize(static_cast<std::size_t>(size) + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) return fail("reading the configuration file '" + path + "' failed");
    if (text.size() > size) {
        // Grew while reading; read the rest up to the bound so the size check stays honest.
        std::string more(kMaxConfigBytes + 1 - std::min(text.size(), kMaxConfigBytes), '\0');
        in.read(more.data(), static_cast<std::streamsize>(more.size()));
        text.append(more, 0, static_cast<std::size_t>(in.gcount()));
    }
    return loadConfig(text);
}

}  // namespace proxy::config
