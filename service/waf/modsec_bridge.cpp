#include "waf/modsec_bridge.h"

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rule_message.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include <mutex>
#include <vector>

namespace proxy::waf::bridge {
namespace {

void onLog(void* data, const void* message) {
    if (data == nullptr || message == nullptr) return;
    const auto* rm = static_cast<const modsecurity::RuleMessage*>(message);
    static_cast<MatchCollector*>(data)->ruleMatched(rm->m_ruleId, rm->m_message, rm->m_data);
}

// One ModSecurity object per thread that runs transactions (each worker, and the control thread
// that loads rules). Why not one per process: the ModSecurity object owns the persistent
// collections (IP, GLOBAL, SESSION, USER; in memory, per object). CRS 3.3 reads IP on every request
// at paranoia 1 (rule 910120) and writes it when a scanner's User-Agent shows up (913100), and
// libmodsecurity 3.0.9's in-memory collections lock writers only, not readers (owasp-modsecurity/
// ModSecurity#3054, fixed after 3.0.9): one shared object lets a scanner's request rehash a map
// another worker is reading. Per thread, nothing mutable is shared: the compiled rules are
// read-only during evaluation (#2536, #3215; @pm trees are built at load) and each transaction is
// created, run and destroyed on its worker. The objects are made once per thread and never
// destroyed: the destructor tears down libxml2 and libcurl global state that the other threads'
// objects still use; a worker thread lives as long as the process. A process-wide list keeps
// every one reachable after its thread ends, so they are immortal on purpose, not leaked (and
// LeakSanitizer, which the ASan suites run with abort_on_error, agrees).
modsecurity::ModSecurity& engine() {
    thread_local modsecurity::ModSecurity* instance = nullptr;
    if (instance == nullptr) {
        // The constructor initialises libxml2 and libcurl globals, which is not thread-safe.
        static std::mutex creating;
        static auto* all = new std::vector<modsecurity::ModSecurity*>();
        std::lock_guard lock(creating);
        auto* m = new modsecurity::ModSecurity();
        m->setConnectorInformation("proxy-service");
        m->setServerLogCb(onLog, modsecurity::RuleMessageLogProperty);
        all->push_back(m);
        instance = m;
    }
    return *instance;
}

modsecurity::Transaction& tx(void* p) { return *static_cast<modsecurity::Transaction*>(p); }
const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

std::unique_ptr<RuleSet> RuleSet::load(const std::string& text, const std::string& reference,
                                       std::string& error, int& count) {
    engine();  // the log callback is in place before any transaction exists
    auto rules = std::make_unique<modsecurity::RulesSet>();
    count = rules->load(text.c_str(), reference);
    if (count < 0) {
        error = rules->getParserError();
        return nullptr;
    }
    auto out = std::unique_ptr<RuleSet>(new RuleSet());
    out->rules_ = rules.release();
    return out;
}

RuleSet::~RuleSet() { delete static_cast<modsecurity::RulesSet*>(rules_); }

Transaction::Transaction(const RuleSet& rules, const std::string& id, MatchCollector* collector) {
    std::string copy = id;  // the constructor takes a char*; ModSecurity copies it
    tx_ = new modsecurity::Transaction(&engine(), static_cast<modsecurity::RulesSet*>(rules.native()),
                                       copy.data(), collector);
}

Transaction::~Transaction() { delete &tx(tx_); }

void Transaction::connection(const std::string& client, int clientPort, const std::string& server,
                             int serverPort) {
    tx(tx_).processConnection(client.c_str(), clientPort, server.c_str(), serverPort);
}

void Transaction::uri(const std::string& uri, const std::string& method, const char* version) {
    tx(tx_).processURI(uri.c_str(), method.c_str(), version);
}

void Transaction::requestHeader(std::string_view name, std::string_view value) {
    tx(tx_).addRequestHeader(bytes(name), name.size(), bytes(value), value.size());
}

void Transaction::requestHeadersDone() { tx(tx_).processRequestHeaders(); }

void Transaction::requestBody(std::string_view b) {
    if (!b.empty()) tx(tx_).appendRequestBody(bytes(b), b.size());
}

void Transaction::requestBodyDone() { tx(tx_).processRequestBody(); }

void Transaction::responseHeader(std::string_view name, std::string_view value) {
    tx(tx_).addResponseHeader(bytes(name), name.size(), bytes(value), value.size());
}

void Transaction::responseHeadersDone(int status) { tx(tx_).processResponseHeaders(status, "HTTP 1.1"); }

Intervention Transaction::intervention() {
    modsecurity::ModSecurityIntervention it;
    modsecurity::intervention::clean(&it);
    Intervention out;
    out.disruptive = tx(tx_).intervention(&it);
    out.status = it.status;
    if (it.log != nullptr) out.log = it.log;
    modsecurity::intervention::free(&it);
    return out;
}

}  // namespace proxy::waf::bridge
