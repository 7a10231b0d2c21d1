#pragma once
// The only code that includes libmodsecurity's headers. They do not compile as C++23 (they return
// NULL as a std::string, which C++23 deletes), so this pair is built as C++20 (CMakeLists.txt) and
// offers the WAF a small, standalone interface: load a rule set, run a transaction phase by phase.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace proxy::waf::bridge {

// What ModSecurity reports for each rule that matched, while a transaction runs.
class MatchCollector {
public:
    virtual void ruleMatched(int ruleId, std::string_view message, std::string_view data) = 0;

protected:
    ~MatchCollector() = default;
};

// Compiled rules: read-only once loaded, shared by every thread's transactions.
class RuleSet {
public:
    // Parses ModSecurity configuration text (Include lines resolve against the file system).
    // Null with `error` set when it does not load; `count` is the number of rules loaded.
    static std::unique_ptr<RuleSet> load(const std::string& text, const std::string& reference,
                                         std::string& error, int& count);
    ~RuleSet();
    void* native() const { return rules_; }

private:
    RuleSet() = default;
    void* rules_ = nullptr;  // owned modsecurity::RulesSet
};

struct Intervention {
    bool disruptive = false;
    int status = 200;
    std::string log;  // ModSecurity's line for the disruptive rule ([id "..."] [msg "..."])
};

// One exchange. `collector` (not owned) must outlive the transaction. It runs on the creating
// thread's own ModSecurity object (which holds the IP and GLOBAL collections; one per thread, so
// workers share nothing mutable: docs/security.md, "Threads"), so keep it on that thread.
class Transaction {
public:
    Transaction(const RuleSet& rules, const std::string& id, MatchCollector* collector);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    void connection(const std::string& client, int clientPort, const std::string& server, int serverPort);
    void uri(const std::string& uri, const std::string& method, const char* version);
    void requestHeader(std::string_view name, std::string_view value);
    void requestHeadersDone();
    void requestBody(std::string_view bytes);
    void requestBodyDone();
    void responseHeader(std::string_view name, std::string_view value);
    void responseHeadersDone(int status);
    Intervention intervention();

private:
    void* tx_ = nullptr;  // owned modsecurity::Transaction
};

}  // namespace proxy::waf::bridge
