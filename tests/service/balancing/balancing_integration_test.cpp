// Sticky sessions and hash keys through the real proxy-service and fake origins on port 0.
#include <QtTest>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <vector>

#include "fake_origin.h"
#include "proxy_process.h"
#include "raw_client.h"

using namespace proxy::test;
using json = nlohmann::json;

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
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;

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
        port_ = freePort();
        const json config = {
            {"workers", 2},
            {"control",
             {{"endpoint", "/tmp/proxy-balancing-test-" + std::to_string(port_) + "/c.sock"}}},
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
                   {"queue", {{"size", 2}, {"timeout_ms", 10000}}}},
                  {{"name", "short-queue"},
                   {"servers", json::array({{{"address", address(*o_)}, {"max_connections", 1}}})},
                   {"queue", {{"size", 5}, {"timeout_ms", 200}}}}})},
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
                   {"upstream", "short-queue"}}})},
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
        // One slot, two queue places: the first request holds the slot, two wait their turn, a
        // fourth finds the queue full and is answered at once.
        n_->setDelay(400);
        std::vector<RawResponse> results(3);
        std::vector<std::thread> clients;
        clients.emplace_back([&] { results[0] = roundTrip(port_, request("/q/1")); });
        QTRY_COMPARE_WITH_TIMEOUT(n_->requestCount(), std::size_t(1), 10000);  // holds the slot
        clients.emplace_back([&] { results[1] = roundTrip(port_, request("/q/2")); });
        clients.emplace_back([&] { results[2] = roundTrip(port_, request("/q/3")); });
        QTest::qWait(150);  // let both reach the queue (the slot stays busy for 400 ms)
        const auto overflow = roundTrip(port_, request("/q/4"));
        for (auto& t : clients) t.join();
        n_->setDelay(0);
        for (const auto& r : results) QCOMPARE(r.status, 200);
        QCOMPARE(n_->requestCount(), std::size_t(3));  // never two at once, and the 4th never sent
        QCOMPARE(overflow.status, 503);
        QVERIFY2(overflow.body.find("wait queue is full") != std::string::npos,
                 overflow.body.c_str());
        // A queue timeout shorter than the origin's answer ends in a 503 naming it.
        o_->setDelay(1500);
        std::thread holder([&] { roundTrip(port_, request("/sq/hold")); });
        QTRY_COMPARE_WITH_TIMEOUT(o_->requestCount(), std::size_t(1), 10000);
        const auto late = roundTrip(port_, request("/sq/late"));
        holder.join();
        o_->setDelay(0);
        QCOMPARE(late.status, 503);
        QVERIFY2(late.body.find("queue timeout") != std::string::npos, late.body.c_str());
        QCOMPARE(o_->requestCount(), std::size_t(1));
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
