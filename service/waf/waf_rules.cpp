#include "waf/waf_rules.h"

#include <filesystem>
#include <map>
#include <mutex>

#include "build_info.h"

namespace proxy::waf {
namespace {

// Rules compiled for a config text, while some snapshot still uses them.
std::mutex cacheMutex;
std::map<std::string, std::weak_ptr<const WafRules>>& cache() {
    static auto* c = new std::map<std::string, std::weak_ptr<const WafRules>>;  // lives until exit
    return *c;
}

std::string crsFolder(const config::Waf& settings) {
    return settings.crsPath.empty() ? std::string(PROXY_CRS_DIR) : settings.crsPath;
}

}  // namespace

WafRules::~WafRules() = default;

std::string WafRules::configText(const config::Waf& s) {
    std::string t;
    auto line = [&](const std::string& l) { t += l; t += '\n'; };
    // Settings the proxy applies itself, as a comment: the text is also the key that decides
    // which routes share a compiled set.
    line("# proxy: request_body_limit " + std::to_string(s.requestBodyLimit) + ", over_limit " +
         (s.overLimit == config::Waf::OverLimit::Reject ? "reject" : "inspect_partial"));
    line(s.mode == config::Waf::Mode::Block ? "SecRuleEngine On" : "SecRuleEngine DetectionOnly");
    // The proxy holds and bounds the body itself (waf_filter.h): ModSecurity sees at most
    // request_body_limit bytes, so its own limit never fires.
    line(s.requestBodyLimit > 0 ? "SecRequestBodyAccess On" : "SecRequestBodyAccess Off");
    const std::string limit = std::to_string(std::max<std::uint32_t>(s.requestBodyLimit, 1024) + 1);
    line("SecRequestBodyLimit " + limit);
    line("SecRequestBodyNoFilesLimit " + limit);
    line("SecRequestBodyLimitAction ProcessPartial");
    line("SecResponseBodyAccess Off");
    line("SecAuditEngine Off");
    line("SecArgumentSeparator &");
    // Body processors by Content-Type, and a body that does not parse is refused (400), as in
    // ModSecurity's recommended configuration (rule ids 200000-200003 are reserved for these).
    line("SecRule REQUEST_HEADERS:Content-Type \"(?:application(?:/soap\\+|/)|text/)xml\" "
         "\"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"");
    line("SecRule REQUEST_HEADERS:Content-Type \"application/json\" "
         "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"");
    line("SecRule REQBODY_ERROR \"!@eq 0\" \"id:200002,phase:2,t:none,log,deny,status:400,"
         "msg:'Failed to parse request body.',logdata:'%{reqbody_error_msg}',severity:2\"");
    line("SecDefaultAction \"phase:1,log,auditlog,pass\"");
    line("SecDefaultAction \"phase:2,log,auditlog,pass\"");
    // What the CRS expects from crs-setup.conf.
    line("SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=" +
         std::to_string(s.paranoia) + "\"");
    line("SecAction \"id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334\"");
    // Exclusions by path run before the CRS rules (ids 10000+: the range ModSecurity leaves for
    // local rules). The validator keeps quotes, backslashes and spaces out of path_prefix.
    std::uint32_t id = 10000;
    for (const config::WafExclusion& e : s.exclusions) {
        if (e.rules.empty()) continue;
        std::string actions = "id:" + std::to_string(id++) + ",phase:1,pass,nolog,t:none";
        for (std::uint32_t rule : e.rules) actions += ",ctl:ruleRemoveById=" + std::to_string(rule);
        line("SecRule REQUEST_FILENAME \"@beginsWith " + e.pathPrefix + "\" \"" + actions + "\"");
    }
    line("Include " + crsFolder(s) + "/rules/*.conf");
    if (!s.excludeRules.empty()) {
        std::string remove = "SecRuleRemoveById";
        for (std::uint32_t rule : s.excludeRules) remove += " " + std::to_string(rule);
        line(remove);
    }
    return t;
}

std::expected<std::shared_ptr<const WafRules>, std::string> WafRules::compile(const config::Waf& settings) {
    const std::string text = configText(settings);
    std::lock_guard lock(cacheMutex);
    auto& c = cache();
    if (auto it = c.find(text); it != c.end()) {
        if (auto alive = it->second.lock()) return alive;
    }
    std::erase_if(c, [](const auto& entry) { return entry.second.expired(); });

    const std::string folder = crsFolder(settings);
    std::error_code ec;
    if (!std::filesystem::is_directory(std::filesystem::path(folder) / "rules", ec))
        return std::unexpected("the OWASP Core Rule Set is not at " + folder +
                               " (no rules/ folder there); install modsecurity-crs or set "
                               "waf.crs_path");
    auto rules = std::shared_ptr<WafRules>(new WafRules());
    rules->settings_ = settings;
    std::string error;
    int loaded = 0;
    rules->rules_ = bridge::RuleSet::load(text, folder + "/proxy-waf.conf", error, loaded);
    if (rules->rules_ == nullptr) return std::unexpected("the WAF rules do not load: " + error);
    rules->ruleCount_ = static_cast<std::size_t>(loaded);
    std::shared_ptr<const WafRules> result = std::move(rules);
    c[text] = result;
    return result;
}

}  // namespace proxy::waf
