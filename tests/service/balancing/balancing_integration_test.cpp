// Sticky sessions and hash keys through the real proxy-service and fake origins on port 0.
#include <QProcess>
#include <QTest>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string address(const FakeOrigin& origin) {
    return "127.0.0.1:" + std::to_string(origin.port());
}

std::string request(const std::string& target, const std::string& extra = {}) {
    return "GET " + target + " HTTP/1.1\r\nHost: h\r\n" + extra + "\r\n";
}

// The origin's name from its default answer ("E GET /s/1").
std::string origin(const RawResponse& r) {
    return r.body.substr(0, r.body.find(' '));
}

}  // namespace

class BalancingIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> e_, f_, g_, h_, i_, j_, k_, l_, m_, n_, o_;
    std::unique_ptr<FakeOrigin> p_, q_, r_;  // "budget": every one drops what it is sent
    std::unique_ptr<FakeOrigin> w3_, w1_;    // "weighted": weights 3 and 1
    std::unique_ptr<FakeOrigin> crowd_;      // "crowd": one slot, a long queue
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;

    // upstreams.list's "queued" for one upstream over proxyctl (-1 when it cannot be read).
    int queued(const std::string& upstream) {
        const json l = proxyctlJson(endpoint_, {"upstreams", "list"});
        if (l.is_discarded() || !l.contains("upstreams")) return -1;
        for (const auto& u : l["upstreams"])
            if (u.value("name", "") == upstream) return u.value("queued", -1);
        return -1;
    }

    RawResponse fetch(const std::string& target, const std::string& extra = {}) {
        return roundTrip(port_, request(target, extra));
    }

  private slots:
    void initTestCase() {
        e_ = std::make_unique<FakeOrigin>("E");
        f_ = std::make_unique<FakeOrigin>("F");
        g_ = std::make_unique<FakeOrigin>("G");
        h_ = std::make_unique<FakeOrigin>("H");
        i_ = std::make_unique<FakeOrigin>("I");
        j_ = std::make_unique<FakeOrigin>("J");
        k_ = std::make_unique<FakeOrigin>("K");
        l_ = std::make_unique<FakeOrigin>("L");
        m_ = std::make_unique<FakeOrigin>("M");
        n_ = std::make_unique<FakeOrigin>("N");
        o_ = std::make_unique<FakeOrigin>("O");
        p_ = std::make_unique<FakeOrigin>("P");
        q_ = std::make_unique<FakeOrigin>("Q");
        r_ = std::make_unique<FakeOrigin>("R");
        w3_ = std::make_unique<FakeOrigin>("W3");
        w1_ = std::make_unique<FakeOrigin>("W1");
        crowd_ = std::make_unique<FakeOrigin>("C");
        for (auto* o : {p_.get(), q_.get(), r_.get()}) o->setDropRequests(true);
        port_ = freePort();
        endpoint_ = "/tmp/proxy-balancing-test-" + std::to_string(port_) + "/c.sock";
        const json config = {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            // The test client plays a load balancer in front of the proxy (ip_hash by the real client).
            {"security", {{"trusted_proxies", json::array({"127.0.0.1"})}}},
            {"listeners",
             json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams",
             json::array(
                 {{{"name", "sticky"},
                   {"servers",
                    json::array({{{"address", address(*e_)}}, {{"address", address(*f_)}}})},
                   {"sticky", {{"cookie", "PROXYSRV"}, {"max_age", 600}}},
                   {"retries", 1}},
                  {{"name", "by-user"},
                   {"balance", "hash"},
                   {"hash_key", {{"header", "X-User"}}},
                   {"servers", json::array({{{"address", address(*g_)}},
                                            {{"address", address(*h_)}},
                                            {{"address", address(*i_)}}})}},
                  {{"name", "by-path"},
                   {"balance", "hash"},
                   {"hash_key", {{"path", true}}},
                   {"servers", json::array({{{"address", address(*g_)}},
                                            {{"address", address(*h_)}},
                                            {{"address", address(*i_)}}})}},
                  {{"name", "lc"},
                   {"balance", "least_connections"},
                   {"servers",
                    json::array({{{"address", address(*j_)}}, {{"address", address(*k_)}}})}},
                  {{"name", "retry"},
                   {"servers",
                    json::array({{{"address", address(*l_)}}, {{"address", address(*m_)}}})},
                   {"retries", 2}},
                  {{"name", "queued"},
                   {"servers", json::array({{{"address", address(*n_)}, {"max_connections", 1}}})},
                   {"queue", {{"size", 2}, {"timeout_ms", 30000}}}},
                  {{"name", "short-queue"},
                   {"servers", json::array({{{"address", address(*o_)}, {"max_connections", 1}}})},
                   {"queue", {{"size", 5}, {"timeout_ms", 200}}}},
                  {{"name", "crowd"},
                   {"servers",
                    json::array({{{"address", address(*crowd_)}, {"max_connections", 1}}})},
                   {"queue", {{"size", 64}, {"timeout_ms", 30000}}}},
                  {{"name", "by-cookie"},
                   {"balance", "hash"},
                   {"hash_key", {{"cookie", "sid"}}},
                   {"servers", json::array({{{"address", address(*g_)}},
                                            {{"address", address(*h_)}},
                                            {{"address", address(*i_)}}})}},
                  {{"name", "budget"},
                   {"servers", json::array({{{"address", address(*p_)}},
                                            {{"address", address(*q_)}},
                                            {{"address", address(*r_)}}})},
                   {"retries", 1}},
                  {{"name", "by-client"},
                   {"balance", "ip_hash"},
                   {"servers", json::array({{{"address", address(*g_)}},
                                            {{"address", address(*h_)}},
                                            {{"address", address(*i_)}}})}},
                  {{"name", "weighted"},
                   {"servers", json::array({{{"address", address(*w3_)}, {"weight", 3}},
                                            {{"address", address(*w1_)}, {"weight", 1}}})}}})},
            {"routes",
             json::array(
                 {{{"name", "s"}, {"match", {{"path_prefix", "/s/"}}}, {"upstream", "sticky"}},
                  {{"name", "u"}, {"match", {{"path_prefix", "/u/"}}}, {"upstream", "by-user"}},
                  {{"name", "p"}, {"match", {{"path_prefix", "/p/"}}}, {"upstream", "by-path"}},
                  {{"name", "lc"}, {"match", {{"path_prefix", "/lc/"}}}, {"upstream", "lc"}},
                  {{"name", "retry"},
                   {"match", {{"path_prefix", "/retry/"}}},
                   {"upstream", "retry"}},
                  {{"name", "queued"}, {"match", {{"path_prefix", "/q/"}}}, {"upstream", "queued"}},
                  {{"name", "short"},
                   {"match", {{"path_prefix", "/sq/"}}},
                   {"upstream", "short-queue"}},
                  {{"name", "crowd"},
                   {"match", {{"path_prefix", "/crowd/"}}},
                   {"upstream", "crowd"}},
                  {{"name", "c"}, {"match", {{"path_prefix", "/c/"}}}, {"upstream", "by-cookie"}},
                  {{"name", "b"}, {"match", {{"path_prefix", "/b/"}}}, {"upstream", "budget"}},
                  {{"name", "w"}, {"match", {{"path_prefix", "/w/"}}}, {"upstream", "weighted"}},
                  {{"name", "ip"}, {"match", {{"path_prefix", "/ip/"}}}, {"upstream", "by-client"}}})},
        };
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(config.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() { QCOMPARE(proxy_->stop(), 0); }

    void hashByHeaderKeepsEachUserOnOneServer() {
        std::set<std::string> used;
        for (int u = 0; u < 30; ++u) {
            const std::string header = "X-User: user-" + std::to_string(u) + "\r\n";
            const auto first = fetch("/u/a", header);
            QCOMPARE(first.status, 200);
            used.insert(origin(first));
            for (int k = 0; k < 3; ++k)
                QCOMPARE(origin(fetch("/u/b" + std::to_string(k), header)), origin(first));
        }
        QVERIFY2(used.size() >= 2, "30 users all hashed to one server");
        QCOMPARE(fetch("/u/no-key").status, 200);  // no header: by client address
    }

    void hashByPathKeepsEachPathOnOneServer() {
        std::set<std::string> used;
        for (int p = 0; p < 30; ++p) {
            const std::string path = "/p/item-" + std::to_string(p);
            const std::string first = origin(fetch(path));
            used.insert(first);
            QCOMPARE(origin(fetch(path, "X-User: other\r\n")), first);
        }
        QVERIFY(used.size() >= 2);
    }

    void leastConnectionsShiftsLoadFromASlowOrigin() {
        j_->setDelay(300);
        std::vector<std::thread> clients;
        for (int c = 0; c < 6; ++c)
            clients.emplace_back([this] {
                for (int i = 0; i < 6; ++i) roundTrip(port_, request("/lc/x"));
            });
        for (auto& t : clients) t.join();
        j_->setDelay(0);
        const std::size_t slow = j_->requestCount(), fast = k_->requestCount();
        QCOMPARE(slow + fast, std::size_t(36));
        // Round robin would split 18/18; the slow origin holds its requests longer, so it gets
        // picked only when it has fewer in flight.
        QVERIFY2(fast >= 2 * slow, qPrintable(QString("slow %1, fast %2").arg(slow).arg(fast)));
    }

    void retriesNeverRepeatAPost() {
        l_->setDropRequests(true);  // reads each request, then closes unanswered
        // A POST whose body went out is never sent again, whatever the retry budget.
        int posts = 0;
        for (int i = 0; i < 4; ++i) {
            const auto r = roundTrip(
                port_, "POST /retry/p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
            if (r.status == 502)
                ++posts;
            else
                QCOMPARE(origin(r), std::string("M"));
        }
        QVERIFY(posts >= 1);  // round robin sent some to L
        std::size_t toL = 0, toM = 0;
        for (const auto& r : l_->requests()) toL += r.method == "POST" ? 1 : 0;
        for (const auto& r : m_->requests()) toM += r.method == "POST" ? 1 : 0;
        QCOMPARE(toL, std::size_t(posts));    // each failed POST reached L once
        QCOMPARE(toL + toM, std::size_t(4));  // and none went anywhere twice
        // A GET that L drops is retried on M: the client never sees the failure.
        for (int i = 0; i < 6; ++i) {
            const auto r = roundTrip(port_, request("/retry/g"));
            QCOMPARE(r.status, 200);
            QCOMPARE(origin(r), std::string("M"));
        }
        std::size_t getsAtL = 0;
        for (const auto& r : l_->requests()) getsAtL += r.method == "GET" ? 1 : 0;
        QVERIFY(getsAtL >= 1);  // L was tried, and dropped them
        l_->setDropRequests(false);
    }

    void fullServersQueueThenOverflowAndTimeOut() {
        // One slot, two queue places: the first request holds the slot, two wait their turn (seen
        // in upstreams.list, not guessed from a sleep), a fourth finds the queue full and is
        // answered at once. The slot is held for 4 s so a loaded machine still gets both into
        // the queue first; the queue timeout (30 s) outlasts the two waits.
        n_->setDelay(4000);
        std::vector<RawResponse> results(3);
        std::vector<std::thread> clients;
        struct JoinAll {
            std::vector<std::thread>& threads;
            ~JoinAll() {
                for (auto& t : threads)
                    if (t.joinable()) t.join();
            }
        } joinAll{clients};
        clients.emplace_back([&] { results[0] = roundTrip(port_, request("/q/1"), 40s); });
        QTRY_COMPARE_WITH_TIMEOUT(n_->requestCount(), std::size_t(1), 10000);  // holds the slot
        QCOMPARE(queued("queued"), 0);
        clients.emplace_back([&] { results[1] = roundTrip(port_, request("/q/2"), 40s); });
        clients.emplace_back([&] { results[2] = roundTrip(port_, request("/q/3"), 40s); });
        QTRY_COMPARE_WITH_TIMEOUT(queued("queued"), 2, 10000);
        QCOMPARE(n_->requestCount(), std::size_t(1));  // they wait: nothing more was sent
        const auto overflow = roundTrip(port_, request("/q/4"));
        for (auto& t : clients) t.join();
        n_->setDelay(0);
        for (const auto& r : results) QCOMPARE(r.status, 200);
        QCOMPARE(n_->requestCount(), std::size_t(3));  // never two at once, and the 4th never sent
        QCOMPARE(queued("queued"), 0);
        QCOMPARE(overflow.status, 503);
        QVERIFY2(overflow.body.find("wait queue is full") != std::string::npos,
                 overflow.body.c_str());
        // A queue timeout shorter than the origin's answer ends in a 503 naming it.
        o_->setDelay(4000);  // holds the slot well past the late request's 200 ms wait
        std::thread holder([&] { roundTrip(port_, request("/sq/hold")); });
        QTRY_COMPARE_WITH_TIMEOUT(o_->requestCount(), std::size_t(1), 10000);
        const auto late = roundTrip(port_, request("/sq/late"));
        holder.join();
        o_->setDelay(0);
        QCOMPARE(late.status, 503);
        QVERIFY2(late.body.find("queue timeout") != std::string::npos, late.body.c_str());
        QCOMPARE(o_->requestCount(), std::size_t(1));
    }

    // Many waiters for one slot, on both workers: each freed slot wakes waiters on both threads,
    // and only one can take it; the others wait on. (A waiter whose selection saw the room but
    // whose connect found it taken by a request on the other worker used to get a 503 at once.)
    void everyWaiterForOneSlotIsServedInTurn() {
        constexpr int kClients = 48;
        crowd_->setDelay(10);
        std::vector<RawResponse> results(kClients);
        {
            std::vector<std::thread> clients;
            for (int i = 0; i < kClients; ++i)
                clients.emplace_back([&, i] {
                    results[i] = roundTrip(port_, request("/crowd/" + std::to_string(i)), 40s);
                });
            for (auto& t : clients) t.join();
        }
        crowd_->setDelay(0);
        for (int i = 0; i < kClients; ++i)
            QVERIFY2(results[i].status == 200,
                     (std::to_string(i) + ": " + std::to_string(results[i].status) + " " +
                      results[i].body)
                         .c_str());
        QCOMPARE(crowd_->requestCount(), std::size_t(kClients));
        QCOMPARE(queued("crowd"), 0);
    }

    void hashByCookieKeepsEachSessionOnOneServer() {
        std::set<std::string> used;
        for (int u = 0; u < 30; ++u) {
            const std::string cookie = "Cookie: theme=dark; sid=session-" + std::to_string(u) + "; x=1\r\n";
            const auto first = fetch("/c/a", cookie);
            QCOMPARE(first.status, 200);
            used.insert(origin(first));
            for (int k = 0; k < 3; ++k)
                QCOMPARE(origin(fetch("/c/b" + std::to_string(k), cookie)), origin(first));
            // Only the named cookie counts: other cookies and headers change nothing.
            const std::string other = "Cookie: sid=session-" + std::to_string(u) + "; theme=light\r\nX-User: z\r\n";
            QCOMPARE(origin(fetch("/c/c", other)), origin(first));
        }
        QVERIFY2(used.size() >= 2, "30 sessions all hashed to one server");
        QCOMPARE(fetch("/c/no-cookie").status, 200);  // no cookie: by client address
    }

    void ipHashUsesTheClientATrustedProxyNames() {
        // Every request comes from 127.0.0.1, a trusted proxy: ip_hash must hash the client its
        // X-Forwarded-For names, so clients spread over the servers and each stays on one.
        std::set<std::string> used;
        for (int c = 0; c < 30; ++c) {
            const std::string xff = "X-Forwarded-For: 203.0.113." + std::to_string(c + 1) + "\r\n";
            const auto first = fetch("/ip/a", xff);
            QCOMPARE(first.status, 200);
            used.insert(origin(first));
            for (int k = 0; k < 3; ++k)
                QCOMPARE(origin(fetch("/ip/b" + std::to_string(k), xff)), origin(first));
            // A spoofed hop in front of the client changes nothing (only the right-most counts).
            const std::string chain = "X-Forwarded-For: 198.51.100.9, 203.0.113." + std::to_string(c + 1) + "\r\n";
            QCOMPARE(origin(fetch("/ip/c", chain)), origin(first));
        }
        QVERIFY2(used.size() >= 2, "30 clients all hashed to one server");
    }

    void weightsSplitTrafficWithinTolerance() {
        // Weights 3 and 1: 3/4 and 1/4 of 200 requests. Each worker runs its own smooth weighted
        // round robin, exact over whole cycles, so two workers stray by at most a few requests;
        // the stated tolerance is 5% of the total (10 requests).
        const int n = 200;
        for (int i = 0; i < n; ++i) QCOMPARE(fetch("/w/" + std::to_string(i)).status, 200);
        const int heavy = static_cast<int>(w3_->requestCount());
        const int light = static_cast<int>(w1_->requestCount());
        QCOMPARE(heavy + light, n);
        QVERIFY2(std::abs(heavy - 3 * n / 4) <= n / 20,
                 qPrintable(QString("weight 3: %1, weight 1: %2").arg(heavy).arg(light)));
    }

    void retriesStopAtTheBudget() {
        // Three servers that drop every request, retries 1: a GET is tried on two servers (the
        // first and one retry), never the third, and the client gets a 502.
        for (int i = 0; i < 3; ++i) {
            const std::size_t before = p_->requestCount() + q_->requestCount() + r_->requestCount();
            const auto r = fetch("/b/" + std::to_string(i));
            QCOMPARE(r.status, 502);
            const std::size_t after = p_->requestCount() + q_->requestCount() + r_->requestCount();
            QCOMPARE(after - before, std::size_t(2));
        }
    }

    void stickyCookieKeepsAClientThenFailsOver() {
        const auto first = fetch("/s/1");
        QCOMPARE(first.status, 200);
        const std::string setCookie = first.header("set-cookie");
        std::smatch m;
        QVERIFY2(
            std::regex_match(
                setCookie, m,
                std::regex("PROXYSRV=([0-9a-f]{16}); Path=/; Max-Age=600; HttpOnly; SameSite=Lax")),
            setCookie.c_str());
        const std::string token = m[1];
        // The value does not give the backend away.
        QVERIFY(token.find(std::to_string(e_->port())) == std::string::npos);
        QVERIFY(token.find(std::to_string(f_->port())) == std::string::npos);
        const std::string home = origin(first);
        const std::string cookie = "Cookie: theme=dark; PROXYSRV=" + token + "\r\n";
        for (int i = 0; i < 10; ++i) {
            const auto r = fetch("/s/again", cookie);
            QCOMPARE(origin(r), home);
            QVERIFY(!r.has("set-cookie"));  // already named correctly
        }
        // A forged value names no server: balanced normally, and given a real cookie.
        const auto forged = fetch("/s/forged", "Cookie: PROXYSRV=deadbeefdeadbeef\r\n");
        QCOMPARE(forged.status, 200);
        QVERIFY(forged.header("set-cookie").starts_with("PROXYSRV="));
        // The home server dies: the retry lands elsewhere and the cookie moves with it.
        (home == "E" ? e_ : f_)->stop();
        const auto moved = fetch("/s/after", cookie);
        QCOMPARE(moved.status, 200);
        QVERIFY(origin(moved) != home);
        const std::string newCookie = moved.header("set-cookie");
        QVERIFY2(newCookie.starts_with("PROXYSRV=") && newCookie.find(token) == std::string::npos,
                 newCookie.c_str());
        const std::string newToken = newCookie.substr(9, 16);
        for (int i = 0; i < 5; ++i)
            QCOMPARE(origin(fetch("/s/moved", "Cookie: PROXYSRV=" + newToken + "\r\n")),
                     origin(moved));
    }
};

QTEST_GUILESS_MAIN(BalancingIntegrationTest)
#include "balancing_integration_test.moc"
