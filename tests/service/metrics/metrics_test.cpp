// Tests for service/metrics: log-linear histogram bucket math, the registry, the Prometheus text
// format and the admin HTTP responder.
#include <QTest>

#include <cstring>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <map>
#include <random>
#include <set>
#include <thread>

#include "metrics/histogram.h"
#include "metrics/metrics_http_server.h"
#include "metrics/metrics_registry.h"
#include "metrics/prometheus.h"

using namespace proxy::metrics;
using B = HistogramBuckets;

class MetricsTest : public QObject {
    Q_OBJECT

private slots:
    void bucketIndex_data();
    void bucketIndex();
    void bucketsAreContiguous();
    void bucketErrorBound();
    void percentiles();
    void registryCountsPerScope();
    void registryConcurrentRecording();
    void registryOverflow();
    void registryLookupCacheFollowsText();
    void prometheusFormat();
    void httpResponder();
};

void MetricsTest::bucketIndex_data() {
    QTest::addColumn<quint64>("value");
    QTest::addColumn<int>("index");
    QTest::addColumn<quint64>("lower");
    QTest::addColumn<quint64>("upper");
    QTest::newRow("0") << quint64{0} << 0 << quint64{0} << quint64{1};
    QTest::newRow("3") << quint64{3} << 3 << quint64{3} << quint64{4};
    QTest::newRow("4") << quint64{4} << 4 << quint64{4} << quint64{5};
    QTest::newRow("7") << quint64{7} << 7 << quint64{7} << quint64{8};
    QTest::newRow("8") << quint64{8} << 8 << quint64{8} << quint64{10};
    QTest::newRow("15") << quint64{15} << 11 << quint64{14} << quint64{16};
    QTest::newRow("16") << quint64{16} << 12 << quint64{16} << quint64{20};
    QTest::newRow("1000") << quint64{1000} << 35 << quint64{896} << quint64{1024};
    QTest::newRow("1024") << quint64{1024} << 36 << quint64{1024} << quint64{1280};
    QTest::newRow("huge") << quint64{~0ull} << int(B::kCount - 1) << quint64{B::lowerBound(B::kCount - 1)}
                          << quint64{B::upperBound(B::kCount - 1)};
}

void MetricsTest::bucketIndex() {
    QFETCH(quint64, value);
    QFETCH(int, index);
    QFETCH(quint64, lower);
    QFETCH(quint64, upper);
    QCOMPARE(static_cast<int>(B::index(value)), index);
    QCOMPARE(static_cast<quint64>(B::lowerBound(static_cast<std::size_t>(index))), lower);
    QCOMPARE(static_cast<quint64>(B::upperBound(static_cast<std::size_t>(index))), upper);
}

void MetricsTest::bucketsAreContiguous() {
    for (std::size_t i = 0; i + 1 < B::kCount; ++i) {
        QVERIFY(B::lowerBound(i) < B::upperBound(i));
        QCOMPARE(B::upperBound(i), B::lowerBound(i + 1));
        QCOMPARE(B::index(B::lowerBound(i)), i);
        QCOMPARE(B::index(B::upperBound(i) - 1), i);
    }
    // Every power of two is a boundary (the Prometheus export relies on it).
    for (unsigned e = 2; e < B::kMaxExponent; ++e) QCOMPARE(B::lowerBound(B::index(1ull << e)), 1ull << e);
}

void MetricsTest::bucketErrorBound() {
    std::mt19937_64 rng(42);
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t v = rng() >> (rng() % 40 + 24);
        const std::size_t idx = B::index(v);
        QVERIFY(B::lowerBound(idx) <= v && v < B::upperBound(idx));
        if (v >= 4) QVERIFY(B::upperBound(idx) - B::lowerBound(idx) <= v / 4 + 1);  // within 25%
    }
}

void MetricsTest::percentiles() {
    LatencyHistogram h;
    for (std::uint64_t v = 1; v <= 1000; ++v) h.record(v);
    const auto s = h.snapshot();
    QCOMPARE(s.count, 1000u);
    QCOMPARE(s.sum, 500500u);
    // The estimate is the bucket's upper bound: never below the true value, within 25% above.
    const std::pair<double, std::uint64_t> cases[] = {{50, 500}, {95, 950}, {99, 990}, {100, 1000}};
    for (const auto& [p, exact] : cases) {
        const auto est = s.percentile(p);
        QVERIFY2(est > exact && est <= exact + exact / 4 + 1, std::to_string(est).c_str());
    }
    QCOMPARE(s.countBelow(512), 511u);  // values 1..511
    QCOMPARE(LatencyHistogram().snapshot().percentile(50), 0u);
}

void MetricsTest::registryCountsPerScope() {
    MetricsRegistry r;
    r.record({"main", "api", "backend", "10.0.0.1:80", 200, 10, 100, 1000});
    r.record({"main", "api", "backend", "10.0.0.2:80", 502, 10, 50, 3000});
    r.record({"main", "", "", "", 404, 5, 20, 10});  // no route: listener only
    const auto j = r.toJson();
    QCOMPARE(j["listeners"]["main"]["requests"].get<int>(), 3);
    QCOMPARE(j["listeners"]["main"]["by_class"]["4xx"].get<int>(), 1);
    QCOMPARE(j["routes"]["api"]["requests"].get<int>(), 2);
    QCOMPARE(j["routes"]["api"]["bytes_out"].get<int>(), 150);
    QCOMPARE(j["upstreams"]["backend"]["by_class"]["5xx"].get<int>(), 1);
    QCOMPARE(j["servers"]["10.0.0.1:80"]["requests"].get<int>(), 1);
    QCOMPARE(j["servers"]["10.0.0.2:80"]["latency_us"]["count"].get<int>(), 1);
    QVERIFY(!j["routes"].contains(""));
    QCOMPARE(r.snapshot().size(), std::size_t{5});
}

// find() remembers recent lookups by where a name's bytes live; the bytes decide, not the address.
void MetricsTest::registryLookupCacheFollowsText() {
    char buffer[32] = "alpha";
    {
        MetricsRegistry r;
        for (int i = 0; i < 3; ++i) r.record({"main", std::string_view(buffer, 5), "", "", 200, 1, 1, 1});
        // The same buffer now holds another route's name (a reload freed and reused the memory).
        std::memcpy(buffer, "bravo", 5);
        r.record({"main", std::string_view(buffer, 5), "", "", 500, 1, 1, 1});
        // Same text from another address: the same series.
        const std::string copy = "alpha";
        r.record({"main", copy, "", "", 200, 1, 1, 1});
        const auto j = r.toJson();
        QCOMPARE(j["routes"]["alpha"]["requests"].get<int>(), 4);
        QCOMPARE(j["routes"]["bravo"]["requests"].get<int>(), 1);
        QCOMPARE(j["routes"]["bravo"]["by_class"]["5xx"].get<int>(), 1);
        QCOMPARE(j["listeners"]["main"]["requests"].get<int>(), 5);
    }
    // A new registry (maybe at the old one's address) never sees the old one's series.
    MetricsRegistry fresh;
    fresh.record({"main", std::string_view(buffer, 5), "", "", 200, 1, 1, 1});
    const auto j = fresh.toJson();
    QCOMPARE(j["routes"]["bravo"]["requests"].get<int>(), 1);
    QCOMPARE(j["listeners"]["main"]["requests"].get<int>(), 1);
    QCOMPARE(fresh.snapshot().size(), std::size_t{2});
}

void MetricsTest::registryConcurrentRecording() {
    MetricsRegistry r(64);
    constexpr int kThreads = 4, kEach = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            const std::string route = "route-" + std::to_string(t % 2);
            for (int i = 0; i < kEach; ++i) r.record({"l", route, "", "", 200, 1, 1, std::uint64_t(i)});
        });
    for (auto& t : threads) t.join();
    const auto j = r.toJson();
    QCOMPARE(j["listeners"]["l"]["requests"].get<int>(), kThreads * kEach);
    QCOMPARE(j["routes"]["route-0"]["requests"].get<int>(), kThreads * kEach / 2);
    QCOMPARE(j["routes"]["route-1"]["latency_us"]["count"].get<int>(), kThreads * kEach / 2);
    QCOMPARE(r.snapshot().size(), std::size_t{3});  // each name claimed exactly once
}

void MetricsTest::registryOverflow() {
    MetricsRegistry r(16);
    for (int i = 0; i < 40; ++i) r.record({"", "r" + std::to_string(i), "", "", 200, 0, 0, 1});
    QCOMPARE(r.snapshot().size(), std::size_t{16});
    QCOMPARE(r.overflow(), 24u);
}

void MetricsTest::prometheusFormat() {
    MetricsRegistry r;
    r.record({"main", "we\"ird\\name\n", "", "", 200, 3, 4, 100});
    r.record({"main", "", "", "", 500, 3, 4, 100'000});
    const ExtraMetric extra[] = {{"proxy_access_log_dropped_total", "Dropped.", "counter", "reason=\"queue_full\"", 7}};
    const std::string text = renderPrometheus(r, extra);
    std::map<std::string, std::string> samples;
    std::set<std::string> typed;
    for (const QString& line : QString::fromStdString(text).split('\n', Qt::SkipEmptyParts)) {
        if (line.startsWith("# TYPE ")) {
            const auto name = line.section(' ', 2, 2).toStdString();
            QVERIFY2(typed.insert(name).second, name.c_str());  // one TYPE per family
            continue;
        }
        if (line.startsWith("# HELP ")) continue;
        QVERIFY2(!line.startsWith('#'), qPrintable(line));
        const int space = line.lastIndexOf(' ');
        QVERIFY(space > 0);
        bool ok = false;
        line.mid(space + 1).toDouble(&ok);
        QVERIFY2(ok || line.mid(space + 1) == "+Inf", qPrintable(line));
        samples[line.left(space).toStdString()] = line.mid(space + 1).toStdString();
    }
    QCOMPARE(samples["proxy_listener_requests_total{listener=\"main\",class=\"2xx\"}"], std::string("1"));
    QCOMPARE(samples["proxy_listener_requests_total{listener=\"main\",class=\"5xx\"}"], std::string("1"));
    QCOMPARE(samples["proxy_route_requests_total{route=\"we\\\"ird\\\\name\\n\",class=\"2xx\"}"], std::string("1"));
    QCOMPARE(samples["proxy_listener_request_duration_seconds_count{listener=\"main\"}"], std::string("2"));
    QCOMPARE(samples["proxy_listener_request_duration_seconds_bucket{listener=\"main\",le=\"+Inf\"}"], std::string("2"));
    // 100 µs < 128 µs; 100 ms is past 65.536 ms but below 131.072 ms.
    QCOMPARE(samples["proxy_listener_request_duration_seconds_bucket{listener=\"main\",le=\"0.000128\"}"], std::string("1"));
    QCOMPARE(samples["proxy_listener_request_duration_seconds_bucket{listener=\"main\",le=\"0.065536\"}"], std::string("1"));
    QCOMPARE(samples["proxy_listener_request_duration_seconds_bucket{listener=\"main\",le=\"0.131072\"}"], std::string("2"));
    QCOMPARE(samples["proxy_listener_received_bytes_total{listener=\"main\"}"], std::string("6"));
    QCOMPARE(samples["proxy_access_log_dropped_total{reason=\"queue_full\"}"], std::string("7"));
    QVERIFY(typed.count("proxy_server_request_duration_seconds"));  // families exist even when empty
    // Cumulative buckets never decrease.
    std::uint64_t previous = 0;
    for (unsigned e = 6; e <= 26; ++e) {
        char le[64];
        std::snprintf(le, sizeof(le), "%llu.%06llu", (1ull << e) / 1'000'000, (1ull << e) % 1'000'000);
        const auto value = std::stoull(samples["proxy_listener_request_duration_seconds_bucket{listener=\"main\",le=\"" + std::string(le) + "\"}"]);
        QVERIFY(value >= previous);
        previous = value;
    }
}

void MetricsTest::httpResponder() {
    asio::io_context io;
    MetricsHttpServer server(io, [] { return std::string("proxy_up 1\n"); });
    QVERIFY(server.start("127.0.0.1", 0).has_value());
    QVERIFY(server.port() != 0);
    QVERIFY(!MetricsHttpServer(io, {}).start("not-an-ip", 0).has_value());
    std::thread runner([&] { io.run(); });
    auto fetch = [&](const std::string& request) {
        asio::io_context client;
        asio::ip::tcp::socket socket(client);
        asio::error_code ec;
        socket.connect({asio::ip::make_address("127.0.0.1"), server.port()}, ec);
        if (ec) return std::string("connect: ") + ec.message();
        asio::write(socket, asio::buffer(request), ec);
        std::string response;
        char buffer[4096];
        for (;;) {
            const std::size_t n = socket.read_some(asio::buffer(buffer), ec);
            response.append(buffer, n);
            if (ec) break;
        }
        return response;
    };
    const std::string ok = fetch("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    QVERIFY2(ok.starts_with("HTTP/1.1 200 OK\r\n"), ok.c_str());
    QVERIFY(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    QVERIFY(ok.ends_with("\r\n\r\nproxy_up 1\n"));
    QVERIFY(fetch("GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    QVERIFY(fetch("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    QVERIFY(fetch("garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    QVERIFY(fetch(std::string(20000, 'A')).empty());  // over 8 KiB without a head: closed
    QCOMPARE(server.scrapes(), 1u);
    asio::post(io, [&] { server.stop(); });
    runner.join();  // nothing left to run once stopped
}

QTEST_GUILESS_MAIN(MetricsTest)
#include "metrics_test.moc"
