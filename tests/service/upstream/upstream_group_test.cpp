// UpstreamGroup over servers given by address and by DNS name: every address a name has becomes a
// server with its own key, and an upstream whose names have no address yet says so.
#include <QTest>

#include "balancing/selector.h"
#include "config/address.h"
#include "upstream/upstream_group.h"

using namespace proxy;
using namespace proxy::upstream;

namespace {

config::Server server(const char* address, std::uint32_t weight = 1) {
    config::Server s;
    s.address = *config::parseHostPort(address, config::AddressRule::IpOrName);
    s.weight = weight;
    return s;
}

AddressSource table(std::map<std::string, std::vector<asio::ip::address>> names) {
    return [names](const std::string& host) {
        auto it = names.find(host);
        return it != names.end() ? it->second : std::vector<asio::ip::address>{};
    };
}

}  // namespace

class UpstreamGroupTest : public QObject {
    Q_OBJECT
private slots:
    void everyAddressOfANameBecomesAServer() {
        config::Upstream u;
        u.name = "app";
        u.servers = {server("10.1.1.1:80"), server("app.test:8080", 3)};
        UpstreamGroup group(u, 1,
                            table({{"app.test", {asio::ip::make_address("10.0.0.1"),
                                                 asio::ip::make_address("2001:db8::1")}}}));
        QCOMPARE(group.servers().size(), std::size_t(3));
        QCOMPARE(group.servers()[0]->key, std::string("10.1.1.1:80"));
        QCOMPARE(group.servers()[1]->key, std::string("app.test:8080@10.0.0.1"));
        QCOMPARE(group.servers()[2]->key, std::string("app.test:8080@2001:db8::1"));
        for (std::size_t i = 1; i < 3; ++i) {
            const auto& s = *group.servers()[i];
            QCOMPARE(s.config.weight, 3u);  // each address carries the configured weight
            QCOMPARE(s.endpoints.size(), std::size_t(1));
            QCOMPARE(s.endpoints[0].port(), std::uint16_t(8080));
            QCOMPARE(s.config.address.toString(), std::string("app.test:8080"));
        }
        QCOMPARE(group.servers()[2]->endpoints[0].address(), asio::ip::make_address("2001:db8::1"));
        QCOMPARE(group.unavailable(), UpstreamGroup::Unavailable::None);
    }

    void findServersTakesAKeyOrAConfiguredName() {
        config::Upstream u;
        u.name = "app";
        u.servers = {server("10.1.1.1:80"), server("app.test:8080")};
        UpstreamGroup group(u, 1,
                            table({{"app.test", {asio::ip::make_address("10.0.0.1"),
                                                 asio::ip::make_address("10.0.0.2")}}}));
        QCOMPARE(group.findServers("app.test:8080").size(), std::size_t(2));
        QCOMPARE(group.findServers("app.test:8080@10.0.0.2").size(), std::size_t(1));
        QCOMPARE(group.findServers("10.1.1.1:80").size(), std::size_t(1));
        QVERIFY(group.findServers("app.test:9999").empty());
        QVERIFY(group.findServers("10.0.0.1:8080").empty());
    }

    void anUnresolvedNameLeavesNoServersAndSaysWhy() {
        config::Upstream u;
        u.name = "app";
        u.servers = {server("late.test:80")};
        UpstreamGroup group(u, 2, table({}));
        QVERIFY(group.servers().empty());
        QCOMPARE(group.unavailable(), UpstreamGroup::Unavailable::NoServers);
        QVERIFY(group.unavailableReason().find("not resolved") != std::string_view::npos);
        // Selection over no servers yields nothing, on every worker.
        for (unsigned w = 0; w < 2; ++w)
            for (auto balance : {config::Balance::RoundRobin, config::Balance::LeastConnections,
                                 config::Balance::IpHash, config::Balance::Hash}) {
                auto selector = balancing::makeSelector(balance, {}, w);
                QVERIFY(!selector->pick({"192.0.2.1", "k"}, {}).has_value());
            }
    }
};

QTEST_GUILESS_MAIN(UpstreamGroupTest)
#include "upstream_group_test.moc"
