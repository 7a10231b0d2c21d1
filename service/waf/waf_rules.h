#pragma once
// ModSecurity rules compiled for one set of WAF settings (mode, paranoia, body limit, exclusions,
// CRS folder). Loading the OWASP CRS takes a few hundred milliseconds, so it happens when a config
// snapshot is built, on the control thread, never on the data path. Routes with the same settings
// share one compiled set, and so does the next config version while its settings are unchanged
// (compile() keeps a process-wide cache of the sets that are still alive).
//
// Compiled rules are read-only and serve every worker thread at once; each exchange gets its own
// modsecurity::Transaction (waf_filter.h).

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "waf/modsec_bridge.h"

namespace proxy::waf {

class WafRules {
public:
    ~WafRules();
    WafRules(const WafRules&) = delete;
    WafRules& operator=(const WafRules&) = delete;

    // The rules for `settings` (mode must not be Off). Fails with a sentence when the CRS folder
    // is missing or a rule does not parse.
    static std::expected<std::shared_ptr<const WafRules>, std::string> compile(const config::Waf& settings);

    // The ModSecurity configuration text compile() loads (for tests and docs/security.md).
    static std::string configText(const config::Waf& settings);

    const config::Waf& settings() const { return settings_; }
    bool blocking() const { return settings_.mode == config::Waf::Mode::Block; }
    const bridge::RuleSet& rules() const { return *rules_; }
    std::size_t ruleCount() const { return ruleCount_; }

private:
    WafRules() = default;
    config::Waf settings_;
    std::unique_ptr<bridge::RuleSet> rules_;
    std::size_t ruleCount_ = 0;
};

}  // namespace proxy::waf
