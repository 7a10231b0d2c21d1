// Tests for shared/config/validator.cpp (and document.cpp, address.cpp, serialize.cpp): every
// diagnostic kind with its exact JSON pointer, hostile documents, defaults and the toJson round
// trip.

#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include "config/address.h"
#include "config/serialize.h"
#include "config/validator.h"

using namespace proxy::config;
using Json = nlohmann::ordered_json;

// Declared before the documents below: moc's tokenizer should not have to read raw strings.
class ValidatorTest : public QObject {
    Q_OBJECT

  private slots:
    void validDocuments_data();
    void validDocuments();
    void defaults();
    void diagnostics_data();
    void diagnostics();
    void everyDiagnosticIsReturned();
    void hostileText_data();
    void hostileText();
    void hostileFiles();
    void roundTrip_data();
    void roundTrip();
    void hostPort_data();
    void hostPort();
    void keyPathsAreListed();
};

namespace {

// A small valid document; most rows patch one part of it (RFC 7386 merge patch: arrays and
// scalars are replaced, objects merged), so each row shows only what it breaks.
const char* const kBase = R"({
  "listeners": [{"name": "web", "address": "127.0.0.1:8080"}],
  "upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"}]}],
  "routes": [{"name": "all", "upstream": "app"}]
})";

QByteArray based(const char* patch) {
    Json doc = Json::parse(kBase);
    doc.merge_patch(Json::parse(patch));
    return QByteArray::fromStdString(doc.dump());
}

// Every key set to a non-default value, so a round trip that drops or mangles anything shows.
const char* const kRich = R"({
  "workers": 4,
  "control": {"endpoint": "/tmp/c.sock", "read_only_group": "ops"},
  "logging": {"database": "/tmp/l.db", "access_log_file": "/tmp/a.log",
              "error_log_file": "/tmp/e.log", "level": "debug", "retention_days": 0,
              "max_db_mb": 50, "queue_size": 1024, "access_log_max_mb": 0,
              "access_log_keep_files": 9, "error_log_max_mb": 1, "error_log_keep_files": 2,
              "metrics_listen": "[::1]:9145"},
  "limits": {"max_request_line": 4096, "max_header_bytes": 32768, "max_headers": 50,
             "max_body_bytes": 0},
  "timeouts": {"header_ms": 5000, "client_idle_ms": 30000, "upstream_connect_ms": 1000,
               "upstream_response_ms": 30000, "tunnel_idle_ms": 60000, "shutdown_ms": 2000},
  "forwarded": {"x_forwarded": false, "via": false, "forwarded": true},
  "security": {"allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": ["10.6.6.6"],
               "trusted_proxies": ["192.0.2.0/24"],
               "rate_limit": {"requests_per_second": 50, "burst": 100},
               "min_body_rate": {"bytes_per_second": 512, "grace_ms": 3000},
               "connection_limit": {"per_client": 10, "total": 1000, "requests_per_connection": 500},
               "bans": {"strikes": 5, "window_ms": 10000, "ban_ms": 30000, "max_ban_ms": 600000,
                        "max_clients": 500},
               "waf": {"mode": "detect", "paranoia": 2, "request_body_limit": 65536,
                       "over_limit": "inspect_partial", "exclude_rules": [920350, 911100],
                       "exclusions": [{"path_prefix": "/api/", "rules": [942100]}],
                       "crs_path": "/opt/crs"}},
  "listeners": [{"name": "v4", "address": "0.0.0.0:8080"}, {"name": "v6", "address": "[::1]:8443"}],
  "upstreams": [{"name": "api", "balance": "least_connections",
                 "servers": [{"address": "app.internal:80", "weight": 5, "max_connections": 100},
                             {"address": "[::1]:9000"}],
                 "keepalive": {"max_idle": 8, "idle_timeout_ms": 5000},
                 "health_check": {"method": "HEAD", "path": "/ready", "expect_status": [200, 204],
                                  "expect_body": "ok", "interval_ms": 3000, "timeout_ms": 500,
                                  "rise": 1, "fall": 2},
                 "passive": {"failures": 5, "status_5xx": 4, "eject_seconds": 5,
                             "max_eject_seconds": 60},
                 "slow_start_seconds": 30,
                 "queue": {"size": 50, "timeout_ms": 2500},
                 "sticky": {"cookie": "srv", "path": "/app", "http_only": false, "secure": true,
                            "same_site": "None", "max_age": 3600,
                            "secret": "0123456789abcdef0123"},
                 "retries": 2},
                {"name": "static", "balance": "ip_hash", "servers": [{"address": "10.0.0.1:80"}]},
                {"name": "by-user", "balance": "hash", "hash_key": {"cookie": "uid"},
                 "servers": [{"address": "10.0.0.2:80"}]}],
  "routes": [
    {"name": "r1", "listener": "v4",
     "match": {"host": "*.Example.com", "path_regex": "^/v[0-9]+/.*$", "methods": ["GET", "POST"],
               "headers": {"X-Env": "prod", "X-Trace": ""}},
     "upstream": "api",
     "rewrite": {"strip_prefix": "/api", "regex": "^/old/", "replacement": "/new/"},
     "request_headers": {"set": {"X-Request-Id": "${request_id}", "Host": "internal"},
                         "add": {"X-Client": "${client_ip}:${client_port} ${scheme}://${host}"},
                         "remove": ["X-Debug"]},
     "response_headers": {"set": {"Server": "proxy"}, "remove": ["X-Powered-By"]}},
    {"name": "r2", "match": {"host": "example.com", "path_exact": "/"}, "upstream": "api",
     "security": {"deny": [], "rate_limit": {"requests_per_second": 0},
                  "min_body_rate": {"bytes_per_second": 0}}},
    {"name": "r4", "match": {"path_prefix": "/api/"}, "upstream": "api",
     "security": {"rate_limit": {"requests_per_second": 10, "key": "header:X-Api-Key"}}},
    {"name": "r5", "match": {"path_prefix": "/app/"}, "upstream": "api",
     "security": {"rate_limit": {"requests_per_second": 10, "key": "cookie:session"}}},
    {"name": "r6", "match": {"path_prefix": "/all/"}, "upstream": "api",
     "security": {"rate_limit": {"requests_per_second": 1000, "key": "route"}}},
    {"name": "r3", "match": {"path_prefix": "/static/"}, "upstream": "static"}
  ]
})";

QString dump(const std::vector<Diagnostic>& diagnostics) {
    QString out;
    for (const Diagnostic& d : diagnostics) out += QString::fromStdString(d.toString()) + '\n';
    return out;
}

int errorCount(const LoadResult& result) {
    int n = 0;
    for (const Diagnostic& d : result.diagnostics)
        if (d.severity == Diagnostic::Severity::Error) ++n;
    return n;
}

bool mentionsAll(const std::string& message, const QStringList& words) {
    const QString text = QString::fromStdString(message);
    for (const QString& word : words)
        if (!text.contains(word, Qt::CaseInsensitive)) return false;
    return true;
}

}  // namespace

void ValidatorTest::validDocuments_data() {
    QTest::addColumn<QByteArray>("document");
    QTest::addColumn<int>("routes");
    QTest::newRow("base") << QByteArray(kBase) << 1;
    QTest::newRow("rich") << QByteArray(kRich) << 6;
    QTest::newRow("utf-8 bom") << QByteArray("\xEF\xBB\xBF") + QByteArray(kBase) << 1;
    QTest::newRow("same port, two addresses")
        << based(R"({"listeners": [{"name": "a", "address": "127.0.0.1:80"},
                                   {"name": "b", "address": "127.0.0.2:80"},
                                   {"name": "c", "address": "[::1]:80"}]})")
        << 1;
    QTest::newRow("same match, other listener")
        << based(R"({"listeners": [{"name": "a", "address": "127.0.0.1:80"},
                                   {"name": "b", "address": "127.0.0.1:81"}],
                     "routes": [{"name": "x", "listener": "a", "upstream": "app"},
                                {"name": "y", "listener": "b", "upstream": "app"}]})")
        << 2;
    QTest::newRow("different methods are not shadowed")
        << based(R"({"routes": [{"name": "x", "upstream": "app", "match": {"methods": ["GET"]}},
                                {"name": "y", "upstream": "app",
                                 "match": {"methods": ["POST"]}}]})")
        << 2;
    QTest::newRow("empty lists") << based(R"({"upstreams": [], "routes": []})") << 0;
    QTest::newRow("max values") << based(
                                       R"({"workers": 1024, "limits": {"max_header_bytes": 1048576,
                     "max_body_bytes": 1125899906842624}, "timeouts": {"shutdown_ms": 86400000}})")
                                << 1;
}

void ValidatorTest::validDocuments() {
    QFETCH(QByteArray, document);
    QFETCH(int, routes);
    const LoadResult result = loadConfig(document.toStdString());
    QVERIFY2(result.ok(), qPrintable(dump(result.diagnostics)));
    QVERIFY2(result.diagnostics.empty(), qPrintable(dump(result.diagnostics)));
    QCOMPARE(int(result.config->routes.size()), routes);
    if (QByteArray(QTest::currentDataTag()) == "rich") {  // rate_limit.key and min_body_rate
        const Config& c = *result.config;
        QCOMPARE(c.security.policy.minBodyRate->bytesPerSecond, 512u);
        QCOMPARE(c.security.policy.minBodyRate->grace.count(), 3000);
        QCOMPARE(c.security.policy.rateLimit->key, RateLimit::Key::Client);
        QCOMPARE(c.routes.at(1).security.minBodyRate->bytesPerSecond, 0u);
        QCOMPARE(c.routes.at(2).security.rateLimit->key, RateLimit::Key::Header);
        QCOMPARE(c.routes.at(2).security.rateLimit->keyName, std::string("X-Api-Key"));
        QCOMPARE(c.routes.at(3).security.rateLimit->key, RateLimit::Key::Cookie);
        QCOMPARE(c.routes.at(3).security.rateLimit->keyName, std::string("session"));
        QCOMPARE(c.routes.at(4).security.rateLimit->key, RateLimit::Key::Route);
        QVERIFY(!c.routes.at(5).security.minBodyRate);  // r3 sets none (inherits the top level's)
    }
}

void ValidatorTest::defaults() {
    const LoadResult result = loadConfig("{}");
    QVERIFY(result.ok());
    // An empty document is usable but accepts nothing: exactly one warning says so.
    QCOMPARE(result.diagnostics.size(), std::size_t{1});
    QCOMPARE(result.diagnostics[0].severity, Diagnostic::Severity::Warning);
    QCOMPARE(result.diagnostics[0].path, std::string("/listeners"));
    const Config& c = *result.config;
    const PlatformDefaults platform = PlatformDefaults::current();
    QCOMPARE(c.workers, 0u);
    QCOMPARE(c.control.endpoint, platform.controlEndpoint);
    QCOMPARE(c.logging.database, platform.logDatabase);
    QCOMPARE(c.logging.level, std::string("info"));
    QCOMPARE(c.limits.maxHeaderBytes, 64u * 1024);
    QCOMPARE(c.limits.maxBodyBytes, std::uint64_t{100} << 20);
    QCOMPARE(c.timeouts.header.count(), 10'000);
    QCOMPARE(c.forwarded.xForwarded, true);
    QCOMPARE(c.forwarded.forwarded, false);
#ifndef _WIN32
    QCOMPARE(platform.controlEndpoint, std::string("/run/proxy/control.sock"));
    QCOMPARE(platform.configPath, std::string("/etc/proxy/config.json"));
#endif

    const LoadResult base = loadConfig(kBase);
    QVERIFY(base.ok());
    const Upstream* app = base.config->findUpstream("app");
    QVERIFY(app);
    QCOMPARE(app->balance, Balance::RoundRobin);
    QCOMPARE(app->servers.at(0).weight, 1u);
    QVERIFY(!app->healthCheck);
    QVERIFY(base.config->findListener("web"));
    QVERIFY(!base.config->findListener("nope"));
    QCOMPARE(base.config->routes.at(0).match.host, std::string("*"));
}

void ValidatorTest::diagnostics_data() {
    QTest::addColumn<QByteArray>("document");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QStringList>("words");
    QTest::addColumn<bool>("isError");

    // TLS (docs/tls.md): the form of the block; the files are the service's check.
    QTest::newRow("tls without certificates")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443", "tls": {}}]})")
        << "/listeners/0/tls" << QStringList{"'certificates'"} << true;
    QTest::newRow("tls empty certificates")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                                    "tls": {"certificates": []}}]})")
        << "/listeners/0/tls/certificates" << QStringList{"at least one"} << true;
    QTest::newRow("tls cert without key")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                                    "tls": {"certificates": [{"cert": "a.pem"}]}}]})")
        << "/listeners/0/tls/certificates/0" << QStringList{"missing its private key"} << true;
    QTest::newRow("tls pfx and pem")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx", "cert": "a.pem", "key": "a.key"}]}}]})")
        << "/listeners/0/tls/certificates/0" << QStringList{"not both"} << true;
    QTest::newRow("tls password without pfx")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"cert": "a.pem", "key": "a.key", "password": "x"}]}}]})")
        << "/listeners/0/tls/certificates/0/password" << QStringList{"belongs to a 'pfx'"} << true;
    QTest::newRow("tls min_version 1.0")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "min_version": "1.0"}}]})")
        << "/listeners/0/tls/min_version" << QStringList{"1.2, 1.3"} << true;
    QTest::newRow("tls ciphers with spaces")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "ciphers": "AES GCM"}}]})")
        << "/listeners/0/tls/ciphers" << QStringList{"cipher string"} << true;
    QTest::newRow("tls handshake timeout too small")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "handshake_timeout_ms": 5}}]})")
        << "/listeners/0/tls/handshake_timeout_ms" << QStringList{"from 100"} << true;
    QTest::newRow("tls unknown key")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "min_versoin": "1.3"}}]})")
        << "/listeners/0/tls/min_versoin" << QStringList{"did you mean 'min_version'"} << true;
    QTest::newRow("tls client_certificate without client_ca")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "client_certificate": "optional"}}]})")
        << "/listeners/0/tls/client_certificate" << QStringList{"needs 'client_ca'"} << true;
    QTest::newRow("tls client_subject_header not a token")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "client_ca": "ca.pem",
                            "client_subject_header": "X Subject"}}]})")
        << "/listeners/0/tls/client_subject_header" << QStringList{"not a header name"} << true;
    QTest::newRow("tls ticket rotation zero")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "ticket_key_rotation_seconds": 0}}]})")
        << "/listeners/0/tls/ticket_key_rotation_seconds" << QStringList{"from 1"} << true;
    QTest::newRow("tls ocsp timeout too short")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "ocsp": {"timeout_ms": 50}}}]})")
        << "/listeners/0/tls/ocsp/timeout_ms" << QStringList{"from 100"} << true;
    QTest::newRow("tls ocsp proxy without port")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "ocsp": {"proxy": "proxy.corp"}}}]})")
        << "/listeners/0/tls/ocsp/proxy" << QStringList{"port"} << true;
    QTest::newRow("tls ocsp fetch not a bool")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "ocsp": {"fetch": "yes"}}}]})")
        << "/listeners/0/tls/ocsp/fetch" << QStringList{"true or false"} << true;
    QTest::newRow("tls ocsp unknown key")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:8443",
                    "tls": {"certificates": [{"pfx": "a.pfx"}], "ocsp": {"refresh_second": 60}}}]})")
        << "/listeners/0/tls/ocsp/refresh_second" << QStringList{"did you mean 'refresh_seconds'"} << true;
    QTest::newRow("redirect_https status 303")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": {"enabled": true, "status": 303}}]})")
        << "/routes/0/redirect_https/status" << QStringList{"301, 302, 307 or 308"} << true;
    QTest::newRow("redirect_https status 200")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": {"enabled": true, "status": 200}}]})")
        << "/routes/0/redirect_https/status" << QStringList{"from 300"} << true;
    QTest::newRow("redirect_https port 0")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": {"enabled": true, "port": 0}}]})")
        << "/routes/0/redirect_https/port" << QStringList{"from 1"} << true;
    QTest::newRow("redirect_https host with a port")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": {"enabled": true, "host": "a.test:8443"}}]})")
        << "/routes/0/redirect_https/host" << QStringList{"not a host name"} << true;
    QTest::newRow("redirect_https host with CRLF")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": {"enabled": true, "host": "a.test\r\nX: y"}}]})")
        << "/routes/0/redirect_https/host" << QStringList{"not a host name"} << true;
    QTest::newRow("redirect_https not enabled")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": {"port": 8443}}]})")
        << "/routes/0/redirect_https" << QStringList{"redirect is off"} << false;
    QTest::newRow("redirect_https not an object")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "redirect_https": true}]})")
        << "/routes/0/redirect_https" << QStringList{"object"} << true;
    QTest::newRow("upstream tls key without cert")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"}],
                                    "tls": {"key": "c.key"}}]})")
        << "/upstreams/0/tls" << QStringList{"add 'cert'"} << true;
    QTest::newRow("upstream tls bad server name")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"}],
                                    "tls": {"server_name": "a b"}}]})")
        << "/upstreams/0/tls/server_name" << QStringList{"not a DNS name"} << true;
    QTest::newRow("upstream tls verify off warns")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"}],
                                    "tls": {"verify": false}}]})")
        << "/upstreams/0/tls/verify" << QStringList{"not verified"} << false;
    // Unknown keys and types.
    QTest::newRow("unknown top key, suggestion") << based(R"({"listners": []})") << "/listners"
                                                 << QStringList{"unknown", "listeners"} << true;
    QTest::newRow("unknown nested key, suggestion")
        << based(R"({"routes": [{"name": "a", "upstream": "app", "mtch": {}}]})")
        << "/routes/0/mtch" << QStringList{"did you mean 'match'"} << true;
    QTest::newRow("unknown key, no suggestion lists keys")
        << based(R"({"limits": {"zzzzzz": 1}})") << "/limits/zzzzzz"
        << QStringList{"unknown", "max_headers"} << true;
    QTest::newRow("key with slash is escaped")
        << based(R"({"limits": {"a/b~c": 1}})") << "/limits/a~1b~0c" << QStringList{"unknown"}
        << true;
    QTest::newRow("string for integer") << based(R"({"workers": "4"})") << "/workers"
                                        << QStringList{"expected an integer", "string"} << true;
    QTest::newRow("object expected") << based(R"({"limits": []})") << "/limits"
                                     << QStringList{"expected an object", "array"} << true;
    QTest::newRow("array expected") << based(R"({"routes": {}})") << "/routes"
                                    << QStringList{"expected an array", "object"} << true;
    QTest::newRow("boolean expected")
        << based(R"({"forwarded": {"via": "yes"}})") << "/forwarded/via"
        << QStringList{"true or false", "string"} << true;
    QTest::newRow("enum") << based(R"({"logging": {"level": "verbose"}})") << "/logging/level"
                          << QStringList{"error, warn, info, debug"} << true;
    QTest::newRow("enum suggestion")
        << based(R"({"upstreams": [{"name": "app", "balance": "roundrobin",
                                    "servers": [{"address": "127.0.0.1:9001"}]}]})")
        << "/upstreams/0/balance" << QStringList{"did you mean 'round_robin'"} << true;
    QTest::newRow("cidr host bits")
        << based(R"({"security": {"deny": ["10.0.0.1/8"]}})") << "/security/deny/0"
        << QStringList{"host bits", "10.0.0.0/8"} << true;
    QTest::newRow("cidr prefix too long")
        << based(R"({"security": {"allow": ["10.0.0.0/8", "::/129"]}})") << "/security/allow/1"
        << QStringList{"/0 to /128"} << true;
    QTest::newRow("cidr not a string") << based(R"({"security": {"trusted_proxies": [10]}})")
                                       << "/security/trusted_proxies/0"
                                       << QStringList{"string"} << true;
    QTest::newRow("cidr by name") << based(R"({"security": {"deny": ["evil.example/32"]}})")
                                  << "/security/deny/0" << QStringList{"IPv4"} << true;
    QTest::newRow("rate limit without rate")
        << based(R"({"security": {"rate_limit": {"burst": 5}}})") << "/security/rate_limit"
        << QStringList{"requests_per_second"} << true;
    QTest::newRow("rate limit burst zero")
        << based(R"({"security": {"rate_limit": {"requests_per_second": 5, "burst": 0}}})")
        << "/security/rate_limit/burst" << QStringList{"1 to"} << true;
    QTest::newRow("rate limit key unknown")
        << based(R"({"security": {"rate_limit": {"requests_per_second": 5, "key": "ip"}}})")
        << "/security/rate_limit/key" << QStringList{"client", "header:NAME"} << true;
    QTest::newRow("rate limit key header without name")
        << based(R"({"security": {"rate_limit": {"requests_per_second": 5, "key": "header:"}}})")
        << "/security/rate_limit/key" << QStringList{"token"} << true;
    QTest::newRow("rate limit key header bad name")
        << based(R"({"security": {"rate_limit": {"requests_per_second": 5, "key": "header:X Api"}}})")
        << "/security/rate_limit/key" << QStringList{"token"} << true;
    QTest::newRow("rate limit key route with name")
        << based(R"({"security": {"rate_limit": {"requests_per_second": 5, "key": "route:x"}}})")
        << "/security/rate_limit/key" << QStringList{"not a rate-limit key"} << true;
    QTest::newRow("rate limit key not a string")
        << based(R"({"security": {"rate_limit": {"requests_per_second": 5, "key": 1}}})")
        << "/security/rate_limit/key" << QStringList{"string"} << true;
    QTest::newRow("min body rate without rate")
        << based(R"({"security": {"min_body_rate": {"grace_ms": 1000}}})") << "/security/min_body_rate"
        << QStringList{"bytes_per_second"} << true;
    QTest::newRow("min body rate grace zero")
        << based(R"({"security": {"min_body_rate": {"bytes_per_second": 100, "grace_ms": 0}}})")
        << "/security/min_body_rate/grace_ms" << QStringList{"milliseconds"} << true;
    QTest::newRow("min body rate unknown key")
        << based(R"({"routes": [{"name": "all", "upstream": "app",
                                 "security": {"min_body_rate": {"bytes_per_second": 1, "grace": 5}}}]})")
        << "/routes/0/security/min_body_rate/grace" << QStringList{"unknown"} << true;
    QTest::newRow("connection limit per route")
        << based(R"({"routes": [{"name": "all", "upstream": "app",
                                 "security": {"connection_limit": {"per_client": 5}}}]})")
        << "/routes/0/security/connection_limit" << QStringList{"unknown"} << true;
    QTest::newRow("waf mode") << based(R"({"security": {"waf": {"mode": "on"}}})")
                              << "/security/waf/mode" << QStringList{"off, detect, block"} << true;
    QTest::newRow("waf paranoia") << based(R"({"security": {"waf": {"paranoia": 5}}})")
                                  << "/security/waf/paranoia" << QStringList{"1 to 4"} << true;
    QTest::newRow("waf over_limit") << based(R"({"security": {"waf": {"over_limit": "drop"}}})")
                                    << "/security/waf/over_limit" << QStringList{"reject, inspect_partial"} << true;
    QTest::newRow("waf body limit") << based(R"({"security": {"waf": {"request_body_limit": 67108865}}})")
                                    << "/security/waf/request_body_limit" << QStringList{"0 to"} << true;
    QTest::newRow("waf rule id zero") << based(R"({"security": {"waf": {"exclude_rules": [942100, 0]}}})")
                                      << "/security/waf/exclude_rules/1" << QStringList{"rule id"} << true;
    QTest::newRow("waf rule id text") << based(R"({"security": {"waf": {"exclude_rules": ["942100"]}}})")
                                      << "/security/waf/exclude_rules/0" << QStringList{"rule id"} << true;
    QTest::newRow("waf exclusion without rules")
        << based(R"({"security": {"waf": {"exclusions": [{"path_prefix": "/a"}]}}})")
        << "/security/waf/exclusions/0" << QStringList{"rules"} << true;
    QTest::newRow("waf exclusion quote in path")
        << based(R"({"security": {"waf": {"exclusions": [{"path_prefix": "/a\" x", "rules": [1]}]}}})")
        << "/security/waf/exclusions/0/path_prefix" << QStringList{"quotes"} << true;
    QTest::newRow("waf exclusion relative path")
        << based(R"({"security": {"waf": {"exclusions": [{"path_prefix": "api", "rules": [1]}]}}})")
        << "/security/waf/exclusions/0/path_prefix" << QStringList{"starting with /"} << true;
    QTest::newRow("waf crs path empty") << based(R"({"security": {"waf": {"crs_path": ""}}})")
                                        << "/security/waf/crs_path" << QStringList{"folder"} << true;
    QTest::newRow("bans max below ban")
        << based(R"({"security": {"bans": {"ban_ms": 60000, "max_ban_ms": 1000}}})")
        << "/security/bans/max_ban_ms" << QStringList{"at least ban_ms"} << true;
    QTest::newRow("bans per route")
        << based(R"({"routes": [{"name": "all", "upstream": "app", "security": {"bans": {}}}]})")
        << "/routes/0/security/bans" << QStringList{"unknown"} << true;
    QTest::newRow("log queue too small") << based(R"({"logging": {"queue_size": 0}})")
                                         << "/logging/queue_size" << QStringList{"64"} << true;
    QTest::newRow("log keep files zero")
        << based(R"({"logging": {"error_log_keep_files": 0}})") << "/logging/error_log_keep_files"
        << QStringList{"1 to 1000"} << true;
    QTest::newRow("retention negative") << based(R"({"logging": {"retention_days": -3}})")
                                        << "/logging/retention_days" << QStringList{"negative"}
                                        << true;
    QTest::newRow("metrics listen by name")
        << based(R"({"logging": {"metrics_listen": "localhost:9145"}})")
        << "/logging/metrics_listen" << QStringList{"IP"} << true;
    QTest::newRow("metrics listen no port")
        << based(R"({"logging": {"metrics_listen": "127.0.0.1"}})") << "/logging/metrics_listen"
        << QStringList{"port"} << true;
    QTest::newRow("metrics listen not a string")
        << based(R"({"logging": {"metrics_listen": 9145}})") << "/logging/metrics_listen"
        << QStringList{"string"} << true;
    QTest::newRow("empty endpoint") << based(R"({"control": {"endpoint": ""}})")
                                    << "/control/endpoint" << QStringList{"empty"} << true;

    // Numbers.
    QTest::newRow("negative") << based(R"({"workers": -1})") << "/workers"
                              << QStringList{"0 to 1024", "negative"} << true;
    QTest::newRow("float") << based(R"({"workers": 1.5})") << "/workers"
                           << QStringList{"not a whole number"} << true;
    QTest::newRow("exponent") << based(R"({"workers": 2e0})") << "/workers"
                              << QStringList{"exponent"} << true;
    QTest::newRow("huge") << based(R"({"workers": 1e300})") << "/workers"
                          << QStringList{"out of range"} << true;
    QTest::newRow("huge integer") << based(
                                         R"({"limits": {"max_body_bytes": 18446744073709551615}})")
                                  << "/limits/max_body_bytes" << QStringList{"18446744073709551615"}
                                  << true;
    QTest::newRow("workers range")
        << based(R"({"workers": 1025})") << "/workers" << QStringList{"1025"} << true;
    QTest::newRow("max_header_bytes low")
        << based(R"({"limits": {"max_header_bytes": 100}})") << "/limits/max_header_bytes"
        << QStringList{"1024 to 1048576"} << true;
    QTest::newRow("max_header_bytes high")
        << based(R"({"limits": {"max_header_bytes": 2097152}})") << "/limits/max_header_bytes"
        << QStringList{"2097152"} << true;
    QTest::newRow("timeout zero") << based(R"({"timeouts": {"header_ms": 0}})")
                                  << "/timeouts/header_ms"
                                  << QStringList{"milliseconds", "1 to 86400000"} << true;
    QTest::newRow("timeout over a day")
        << based(R"({"timeouts": {"tunnel_idle_ms": 86400001}})") << "/timeouts/tunnel_idle_ms"
        << QStringList{"86400001"} << true;
    QTest::newRow("weight zero")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001",
                                                             "weight": 0}]}]})")
        << "/upstreams/0/servers/0/weight" << QStringList{"1 to 1000"} << true;
    QTest::newRow("weight high")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001",
                                                             "weight": 1001}]}]})")
        << "/upstreams/0/servers/0/weight" << QStringList{"1001"} << true;
    QTest::newRow("retries") << based(R"({"upstreams": [{"name": "app", "retries": 11,
                                    "servers": [{"address": "127.0.0.1:9001"}]}]})")
                             << "/upstreams/0/retries" << QStringList{"0 to 10"} << true;

    // Names and references.
    QTest::newRow("duplicate listener")
        << based(R"({"listeners": [{"name": "web", "address": "127.0.0.1:80"},
                                   {"name": "web", "address": "127.0.0.1:81"}]})")
        << "/listeners/1/name" << QStringList{"'web'", "already used", "/listeners/0"} << true;
    QTest::newRow("duplicate upstream")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"}]},
                                   {"name": "app", "servers": [{"address": "127.0.0.1:9002"}]}]})")
        << "/upstreams/1/name" << QStringList{"'app'", "already used"} << true;
    QTest::newRow("duplicate route")
        << based(R"({"routes": [{"name": "r", "upstream": "app", "match": {"path_prefix": "/a"}},
                                {"name": "r", "upstream": "app",
                                 "match": {"path_prefix": "/b"}}]})")
        << "/routes/1/name" << QStringList{"'r'", "already used"} << true;
    QTest::newRow("duplicate server")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"},
                                                               {"address": "127.0.0.1:9001"}]}]})")
        << "/upstreams/0/servers/1/address" << QStringList{"twice", "/upstreams/0/servers/0"}
        << true;
    QTest::newRow("duplicate server, name case")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "App.local:80"},
                                                               {"address": "app.LOCAL:80"}]}]})")
        << "/upstreams/0/servers/1/address" << QStringList{"twice"} << true;
    QTest::newRow("duplicate server, ipv6 spelling")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "[::1]:80"},
                                                               {"address": "[0:0::1]:80"}]}]})")
        << "/upstreams/0/servers/1/address" << QStringList{"twice"} << true;
    QTest::newRow("dangling upstream")
        << based(R"({"routes": [{"name": "a", "upstream": "ap"}]})") << "/routes/0/upstream"
        << QStringList{"no upstream named 'ap'", "did you mean 'app'"} << true;
    QTest::newRow("dangling listener")
        << based(R"({"routes": [{"name": "a", "listener": "wbe", "upstream": "app"}]})")
        << "/routes/0/listener" << QStringList{"no listener named 'wbe'", "did you mean 'web'"}
        << true;
    QTest::newRow("missing upstream key") << based(R"({"routes": [{"name": "a"}]})") << "/routes/0"
                                          << QStringList{"missing", "'upstream'"} << true;
    QTest::newRow("missing name") << based(R"({"listeners": [{"address": "127.0.0.1:80"}]})")
                                  << "/listeners/0" << QStringList{"missing", "'name'"} << true;
    QTest::newRow("bad name")
        << based(R"({"listeners": [{"name": "a b", "address": "127.0.0.1:80"}]})")
        << "/listeners/0/name" << QStringList{"not a valid listener name"} << true;
    QTest::newRow("empty listener reference")
        << based(R"({"routes": [{"name": "a", "listener": "", "upstream": "app"}]})")
        << "/routes/0/listener" << QStringList{"empty"} << true;

    // Addresses.
    const auto listenerAt = [](const char* address) {
        return based(
            (std::string(R"({"listeners": [{"name": "web", "address": ")") + address + R"("}]})")
                .c_str());
    };
    QTest::newRow("listener missing port")
        << listenerAt("127.0.0.1") << "/listeners/0/address" << QStringList{"no port"} << true;
    QTest::newRow("listener garbage") << listenerAt("hello world") << "/listeners/0/address"
                                      << QStringList{"not a valid"} << true;
    QTest::newRow("listener octet") << listenerAt("10.0.0.256:80") << "/listeners/0/address"
                                    << QStringList{"256", "0 to 255"} << true;
    QTest::newRow("listener three octets")
        << listenerAt("10.0.0:80") << "/listeners/0/address" << QStringList{"four numbers"} << true;
    QTest::newRow("listener bad ipv6")
        << listenerAt("[1:::2]:80") << "/listeners/0/address" << QStringList{"IPv6"} << true;
    QTest::newRow("listener unbracketed ipv6")
        << listenerAt("::1:80") << "/listeners/0/address" << QStringList{"brackets"} << true;
    QTest::newRow("listener host name") << listenerAt("localhost:80") << "/listeners/0/address"
                                        << QStringList{"host name", "IP address"} << true;
    QTest::newRow("listener port 0")
        << listenerAt("127.0.0.1:0") << "/listeners/0/address" << QStringList{"1 to 65535"} << true;
    QTest::newRow("listener port 65536")
        << listenerAt("127.0.0.1:65536") << "/listeners/0/address" << QStringList{"65536"} << true;
    QTest::newRow("listener port text") << listenerAt("127.0.0.1:http") << "/listeners/0/address"
                                        << QStringList{"not a number"} << true;
    QTest::newRow("listener missing address")
        << based(R"({"listeners": [{"name": "web"}]})") << "/listeners/0"
        << QStringList{"missing", "'address'"} << true;
    QTest::newRow("server bad name")
        << based(R"({"upstreams": [{"name": "app", "servers": [{"address": "-bad-:80"}]}]})")
        << "/upstreams/0/servers/0/address" << QStringList{"not a valid"} << true;

    // Listener conflicts.
    const auto twoListeners = [](const char* a, const char* b) {
        return based((std::string(R"({"listeners": [{"name": "a", "address": ")") + a +
                      R"("}, {"name": "b", "address": ")" + b + R"("}]})")
                         .c_str());
    };
    QTest::newRow("same address") << twoListeners("127.0.0.1:80", "127.0.0.1:80")
                                  << "/listeners/1/address" << QStringList{"conflicts", "'a'"}
                                  << true;
    QTest::newRow("wildcard then specific")
        << twoListeners("0.0.0.0:80", "127.0.0.1:80") << "/listeners/1/address"
        << QStringList{"conflicts", "0.0.0.0"} << true;
    QTest::newRow("specific then wildcard")
        << twoListeners("127.0.0.1:80", "0.0.0.0:80") << "/listeners/1/address"
        << QStringList{"conflicts"} << true;
    QTest::newRow("ipv6 wildcard then specific")
        << twoListeners("[::]:80", "[::1]:80") << "/listeners/1/address" << QStringList{"conflicts"}
        << true;
    QTest::newRow("dual stack") << twoListeners("[::]:80", "0.0.0.0:80") << "/listeners/1/address"
                                << QStringList{"conflicts", "dual stack"} << true;
    QTest::newRow("dual stack reversed")
        << twoListeners("0.0.0.0:80", "[::]:80") << "/listeners/1/address"
        << QStringList{"conflicts"} << true;
    QTest::newRow("ipv6 spellings")
        << twoListeners("[::1]:80", "[0:0:0:0:0:0:0:1]:80") << "/listeners/1/address"
        << QStringList{"same address"} << true;
    QTest::newRow("no listeners") << based(R"({"listeners": []})") << "/listeners"
                                  << QStringList{"no listeners"} << false;

    // Routes that can never match.
    QTest::newRow("shadowed") << based(R"({"routes": [{"name": "first", "upstream": "app",
                                 "match": {"path_prefix": "/a", "methods": ["GET", "POST"]}},
                                {"name": "second", "upstream": "app",
                                 "match": {"path_prefix": "/a", "methods": ["POST", "GET"]}}]})")
                              << "/routes/1/match"
                              << QStringList{"never match", "'first'", "/routes/0"} << true;
    QTest::newRow("shadowed by all-listener route")
        << based(R"({"routes": [{"name": "first", "upstream": "app"},
                                {"name": "second", "listener": "web", "upstream": "app"}]})")
        << "/routes/1/match" << QStringList{"never match", "'first'"} << true;
    QTest::newRow("shadowed, header case")
        << based(R"({"routes": [{"name": "first", "upstream": "app",
                                 "match": {"host": "a.com", "headers": {"X-A": "1"}}},
                                {"name": "second", "upstream": "app",
                                 "match": {"host": "A.com", "headers": {"x-a": "1"}}}]})")
        << "/routes/1/match" << QStringList{"never match"} << true;
    QTest::newRow("connect method")
        << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"methods": ["GET", "CONNECT"]}}]})")
        << "/routes/0/match/methods/1" << QStringList{"CONNECT", "405"} << true;
    QTest::newRow("unknown method")
        << based(R"({"routes": [{"name": "a", "upstream": "app", "match": {"methods": ["get"]}}]})")
        << "/routes/0/match/methods/0" << QStringList{"unknown method", "did you mean 'GET'"}
        << true;
    QTest::newRow("prefix without slash")
        << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"path_prefix": "api"}}]})")
        << "/routes/0/match/path_prefix" << QStringList{"'/'", "never match"} << true;
    QTest::newRow("exact without slash")
        << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"path_exact": "index.html"}}]})")
        << "/routes/0/match/path_exact" << QStringList{"'/'"} << true;
    QTest::newRow("bad regex") << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"path_regex": "^/(a"}}]})")
                               << "/routes/0/match/path_regex" << QStringList{"regular expression"}
                               << true;
    QTest::newRow("regex bomb") << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"path_regex": "((a{1000}){1000}){1000}"}}]})")
                                << "/routes/0/match/path_regex" << QStringList{"too complex"}
                                << true;
    QTest::newRow("no servers") << based(R"({"upstreams": [{"name": "app", "servers": []}]})")
                                << "/upstreams/0/servers" << QStringList{"no servers"} << true;
    QTest::newRow("servers missing") << based(R"({"upstreams": [{"name": "app"}]})")
                                     << "/upstreams/0/servers" << QStringList{"no servers"} << true;
    QTest::newRow("bad host pattern")
        << based(R"({"routes": [{"name": "a", "upstream": "app", "match": {"host": "a..b"}}]})")
        << "/routes/0/match/host" << QStringList{"not a valid host pattern"} << true;
    QTest::newRow("inner wildcard")
        << based(R"({"routes": [{"name": "a", "upstream": "app", "match": {"host": "a.*.com"}}]})")
        << "/routes/0/match/host" << QStringList{"not a valid host pattern"} << true;
    QTest::newRow("two path conditions") << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"path_prefix": "/a", "path_exact": "/b"}}]})")
                                         << "/routes/0/match" << QStringList{"only one of"} << true;

    // Header rules.
    const auto rules = [](const char* which, const char* body) {
        return based((std::string(R"({"routes": [{"name": "a", "upstream": "app", ")") + which +
                      "\": " + body + "}]}")
                         .c_str());
    };
    QTest::newRow("unknown variable")
        << rules("request_headers", R"({"set": {"X-A": "${clientip}"}})")
        << "/routes/0/request_headers/set/X-A"
        << QStringList{"unknown variable ${clientip}", "did you mean ${client_ip}?"} << true;
    QTest::newRow("unterminated variable")
        << rules("request_headers", R"({"add": {"X-A": "${host"}})")
        << "/routes/0/request_headers/add/X-A" << QStringList{"closing"} << true;
    QTest::newRow("bad header name")
        << rules("request_headers", R"({"set": {"X A": "1"}})")
        << "/routes/0/request_headers/set/X A" << QStringList{"not a valid header name"} << true;
    QTest::newRow("set content-length")
        << rules("response_headers", R"({"set": {"content-length": "1"}})")
        << "/routes/0/response_headers/set/content-length" << QStringList{"framing"} << true;
    QTest::newRow("remove transfer-encoding")
        << rules("request_headers", R"({"remove": ["Transfer-Encoding"]})")
        << "/routes/0/request_headers/remove/0" << QStringList{"cannot be removed"} << true;
    QTest::newRow("add connection")
        << rules("request_headers", R"({"add": {"Connection": "close"}})")
        << "/routes/0/request_headers/add/Connection" << QStringList{"hop-by-hop"} << true;
    QTest::newRow("host on response")
        << rules("response_headers", R"({"set": {"Host": "x"}})")
        << "/routes/0/response_headers/set/Host" << QStringList{"request header"} << true;
    QTest::newRow("remove host") << rules("request_headers", R"({"remove": ["host"]})")
                                 << "/routes/0/request_headers/remove/0"
                                 << QStringList{"exactly one Host"} << true;
    QTest::newRow("value with newline")
        << rules("request_headers", R"({"set": {"X-A": "a\r\nEvil: 1"}})")
        << "/routes/0/request_headers/set/X-A" << QStringList{"control character"} << true;
    QTest::newRow("set and remove")
        << rules("request_headers", R"({"set": {"X-A": "1"}, "remove": ["x-a"]})")
        << "/routes/0/request_headers/remove/0" << QStringList{"both set and removed"} << true;
    QTest::newRow("same header twice by case")
        << rules("request_headers", R"({"set": {"X-A": "1", "x-a": "2"}})")
        << "/routes/0/request_headers/set/x-a" << QStringList{"already given"} << true;
    QTest::newRow("match header name")
        << based(R"({"routes": [{"name": "a", "upstream": "app",
                                 "match": {"headers": {"Bad:Name": ""}}}]})")
        << "/routes/0/match/headers/Bad:Name" << QStringList{"not a valid header name"} << true;

    // Rewrite and health check.
    QTest::newRow("rewrite bad regex")
        << rules("rewrite", R"({"regex": "[", "replacement": "/"})") << "/routes/0/rewrite/regex"
        << QStringList{"regular expression"} << true;
    QTest::newRow("replacement without regex")
        << rules("rewrite", R"({"replacement": "/x"})") << "/routes/0/rewrite/replacement"
        << QStringList{"needs a regex"} << true;
    QTest::newRow("strip prefix without slash")
        << rules("rewrite", R"({"strip_prefix": "api"})") << "/routes/0/rewrite/strip_prefix"
        << QStringList{"'/'"} << true;
    const auto health = [](const char* body) {
        return based((std::string(R"({"upstreams": [{"name": "app", "servers": [{"address":
                      "127.0.0.1:9001"}], "health_check": )") +
                      body + "}]}")
                         .c_str());
    };
    QTest::newRow("health status order")
        << health(R"({"expect_status": [500, 200]})") << "/upstreams/0/health_check/expect_status"
        << QStringList{"above"} << true;
    QTest::newRow("health status shape")
        << health(R"({"expect_status": 200})") << "/upstreams/0/health_check/expect_status"
        << QStringList{"two status codes"} << true;
    QTest::newRow("health status range")
        << health(R"({"expect_status": [200, 600]})") << "/upstreams/0/health_check/expect_status/1"
        << QStringList{"100 to 599"} << true;
    QTest::newRow("health path") << health(R"({"path": "health"})")
                                 << "/upstreams/0/health_check/path"
                                 << QStringList{"start with '/'"} << true;
    QTest::newRow("health timeout over interval")
        << health(R"({"interval_ms": 1000, "timeout_ms": 5000})")
        << "/upstreams/0/health_check/timeout_ms" << QStringList{"overlap"} << false;

    QTest::newRow("health rise 0") << health(R"({"rise": 0})") << "/upstreams/0/health_check/rise"
                                   << QStringList{"1 to 100", "found 0"} << true;
    QTest::newRow("health interval 0") << health(R"({"interval_ms": 0})")
                                       << "/upstreams/0/health_check/interval_ms"
                                       << QStringList{"from 1"} << true;
    QTest::newRow("health interval flood") << health(R"({"interval_ms": 5})")
                                           << "/upstreams/0/health_check/interval_ms"
                                           << QStringList{"100 ms"} << true;
    QTest::newRow("health interval huge") << health(R"({"interval_ms": 1e300})")
                                          << "/upstreams/0/health_check/interval_ms"
                                          << QStringList{"out of range"} << true;
    QTest::newRow("health fall huge") << health(R"({"fall": 18446744073709551616})")
                                      << "/upstreams/0/health_check/fall"
                                      << QStringList{"1 to 100"} << true;
    QTest::newRow("health body huge")
        << health((R"({"expect_body": ")" + std::string(2000, 'x') + R"("})").c_str())
        << "/upstreams/0/health_check/expect_body" << QStringList{"limit is 1024"} << true;

    // Load-balancing keys beside the servers: passive checks, slow start, hash keys, stickiness.
    const auto upstream = [](const char* keys) {
        return based((std::string(R"({"upstreams": [{"name": "app", "servers": [{"address":
                      "127.0.0.1:9001"}], )") +
                      keys + "}]}")
                         .c_str());
    };
    QTest::newRow("passive counts nothing")
        << upstream(R"("passive": {"failures": 0, "status_5xx": 0})") << "/upstreams/0/passive"
        << QStringList{"never eject"} << true;
    QTest::newRow("passive max below eject")
        << upstream(R"("passive": {"eject_seconds": 60, "max_eject_seconds": 10})")
        << "/upstreams/0/passive/max_eject_seconds" << QStringList{"below"} << true;
    QTest::newRow("passive eject 0") << upstream(R"("passive": {"eject_seconds": 0})")
                                     << "/upstreams/0/passive/eject_seconds"
                                     << QStringList{"1 to 86400"} << true;
    QTest::newRow("passive negative") << upstream(R"("passive": {"failures": -1})")
                                      << "/upstreams/0/passive/failures"
                                      << QStringList{"negative"} << true;
    QTest::newRow("passive typo") << upstream(R"("passive": {"failure": 3})")
                                  << "/upstreams/0/passive/failure"
                                  << QStringList{"did you mean 'failures'"} << true;
    QTest::newRow("slow start huge") << upstream(R"("slow_start_seconds": 99999)")
                                     << "/upstreams/0/slow_start_seconds"
                                     << QStringList{"0 to 3600"} << true;
    QTest::newRow("hash without key") << upstream(R"("balance": "hash")")
                                      << "/upstreams/0/balance" << QStringList{"needs a 'hash_key'"}
                                      << true;
    QTest::newRow("hash key two kinds")
        << upstream(R"("balance": "hash", "hash_key": {"header": "X-User", "cookie": "sid"})")
        << "/upstreams/0/hash_key" << QStringList{"exactly one", "header and cookie"} << true;
    QTest::newRow("hash key empty") << upstream(R"("balance": "hash", "hash_key": {})")
                                    << "/upstreams/0/hash_key" << QStringList{"found none"} << true;
    QTest::newRow("hash key bad header")
        << upstream(R"("balance": "hash", "hash_key": {"header": "X User"})")
        << "/upstreams/0/hash_key/header" << QStringList{"not a valid header name"} << true;
    QTest::newRow("hash key path false")
        << upstream(R"("balance": "hash", "hash_key": {"path": false})")
        << "/upstreams/0/hash_key/path" << QStringList{"must be true"} << true;
    QTest::newRow("hash key without hash")
        << upstream(R"("balance": "ip_hash", "hash_key": {"path": true})")
        << "/upstreams/0/hash_key" << QStringList{"only with"} << true;
    QTest::newRow("sticky bad cookie name")
        << upstream(R"("sticky": {"cookie": "my cookie;"})") << "/upstreams/0/sticky/cookie"
        << QStringList{"not a valid cookie name"} << true;
    QTest::newRow("sticky empty cookie name")
        << upstream(R"("sticky": {"cookie": ""})") << "/upstreams/0/sticky/cookie"
        << QStringList{"must not be empty"} << true;
    QTest::newRow("sticky path injection")
        << upstream(R"("sticky": {"path": "/; Domain=evil.example"})") << "/upstreams/0/sticky/path"
        << QStringList{"no ';'"} << true;
    QTest::newRow("sticky same site") << upstream(R"("sticky": {"same_site": "lax"})")
                                      << "/upstreams/0/sticky/same_site"
                                      << QStringList{"did you mean 'Lax'"} << true;
    QTest::newRow("sticky none needs secure")
        << upstream(R"("sticky": {"same_site": "None"})") << "/upstreams/0/sticky/same_site"
        << QStringList{"Secure"} << true;
    QTest::newRow("sticky short secret") << upstream(R"("sticky": {"secret": "abc"})")
                                         << "/upstreams/0/sticky/secret"
                                         << QStringList{"at least 16"} << true;
    QTest::newRow("sticky max age") << upstream(R"("sticky": {"max_age": 1.5})")
                                    << "/upstreams/0/sticky/max_age"
                                    << QStringList{"not a whole number"} << true;

    QTest::newRow("queue size 0") << upstream(R"("queue": {"size": 0})") << "/upstreams/0/queue/size"
                                  << QStringList{"1 to 100000"} << true;
    QTest::newRow("queue timeout huge") << upstream(R"("queue": {"timeout_ms": 86400000})")
                                        << "/upstreams/0/queue/timeout_ms"
                                        << QStringList{"up to 10 minutes"} << true;
    QTest::newRow("queue without limits") << upstream(R"("queue": {"size": 10})")
                                          << "/upstreams/0/queue"
                                          << QStringList{"max_connections"} << false;

    // Document-level.
    QTest::newRow("duplicate key")
        << QByteArray(R"({"listeners": [{"name": "a", "name": "b", "address": "127.0.0.1:80"}]})")
        << "/listeners/0/name" << QStringList{"more than once"} << true;
    QByteArray wide = R"({"routes": [{"name": "a", "upstream": "app", "match": {"headers": {)";
    for (int i = 0; i < 40; ++i) wide += "\"X-" + QByteArray::number(i) + "\": \"\", ";
    wide += R"("X-7": "again"}}}], "upstreams": [{"name": "app", "servers": [{"address":
        "127.0.0.1:1"}]}]})";
    QTest::newRow("duplicate key in a wide object")
        << wide << "/routes/0/match/headers/X-7" << QStringList{"more than once"} << true;
    QTest::newRow("duplicate top-level key") << QByteArray(R"({"workers": 1, "workers": 2})")
                                             << "/workers" << QStringList{"more than once"} << true;
}

void ValidatorTest::diagnostics() {
    QFETCH(QByteArray, document);
    QFETCH(QString, path);
    QFETCH(QStringList, words);
    QFETCH(bool, isError);
    const LoadResult result = loadConfig(document.toStdString());
    const auto severity = isError ? Diagnostic::Severity::Error : Diagnostic::Severity::Warning;
    const auto found = std::find_if(
        result.diagnostics.begin(), result.diagnostics.end(), [&](const Diagnostic& d) {
            return d.severity == severity && d.path == path.toStdString() &&
                   mentionsAll(d.message, words);
        });
    QVERIFY2(found != result.diagnostics.end(),
             qPrintable("expected at " + path + " " + words.join('|') + ", got:\n" +
                        dump(result.diagnostics)));
    QCOMPARE(result.ok(), !isError);
    // One plain sentence: no line breaks, and it says something.
    QVERIFY(!found->message.empty());
    QVERIFY(found->message.find('\n') == std::string::npos);
    QVERIFY(found->toString().starts_with(isError ? "error: " : "warning: "));
}

void ValidatorTest::everyDiagnosticIsReturned() {
    // Five unrelated mistakes in different sections: all five come back, not just the first.
    const QByteArray document = based(R"({
        "workers": -1,
        "logging": {"levle": "info"},
        "listeners": [{"name": "web", "address": "127.0.0.1"}],
        "upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001", "weight": 0}]}],
        "routes": [{"name": "all", "upstream": "nope"}]
    })");
    const LoadResult result = loadConfig(document.toStdString());
    QVERIFY(!result.ok());
    QCOMPARE(errorCount(result), 5);
    QStringList paths;
    for (const Diagnostic& d : result.diagnostics) paths << QString::fromStdString(d.path);
    paths.sort();
    QCOMPARE(paths, (QStringList{"/listeners/0/address", "/logging/levle", "/routes/0/upstream",
                                 "/upstreams/0/servers/0/weight", "/workers"}));
}

void ValidatorTest::hostileText_data() {
    QTest::addColumn<QByteArray>("document");
    QTest::addColumn<QStringList>("words");

    QTest::newRow("empty") << QByteArray() << QStringList{"empty"};
    QTest::newRow("whitespace") << QByteArray(" \n\t\r\n") << QStringList{"empty"};
    QTest::newRow("array") << QByteArray("[]") << QStringList{"must be a JSON object", "array"};
    QTest::newRow("string") << QByteArray("\"x\"") << QStringList{"must be a JSON object"};
    QTest::newRow("null") << QByteArray("null") << QStringList{"must be a JSON object", "null"};
    QTest::newRow("malformed") << QByteArray("{\n  \"workers\": 1,\n  \"listeners\": [,]\n}")
                               << QStringList{"not valid JSON", "line 3, column 17"};
    QTest::newRow("unterminated string")
        << QByteArray("{\"workers") << QStringList{"not valid JSON", "line 1"};
    QTest::newRow("truncated") << QByteArray("{\"workers\": 1") << QStringList{"not valid JSON"};
    QTest::newRow("trailing garbage")
        << QByteArray("{} {}") << QStringList{"not valid JSON", "column 4", "end of input"};
    QTest::newRow("comment") << QByteArray("{} // x") << QStringList{"not valid JSON"};
    QTest::newRow("invalid utf-8")
        << QByteArray("{\"a\": \"\xC3\x28\"}") << QStringList{"UTF-8", "byte offset 7"};
    QTest::newRow("overlong utf-8")
        << QByteArray("{\"a\": \"\xC0\xAF\"}") << QStringList{"UTF-8", "byte offset 7"};
    QTest::newRow("surrogate utf-8")
        << QByteArray("{\"\xED\xA0\x80\": 1}") << QStringList{"UTF-8", "byte offset 2"};
    QTest::newRow("truncated utf-8") << QByteArray("{\"a\xE2\x82") << QStringList{"UTF-8"};
    QTest::newRow("nul byte") << QByteArray("{\"workers\": 1\0}", 15)
                              << QStringList{"NUL", "byte offset 13"};
    QTest::newRow("deep arrays") << QByteArray(100'000, '[') + QByteArray(100'000, ']')
                                 << QStringList{"nests deeper than 64"};
    QTest::newRow("deep objects") << QByteArray(100'000, '{') << QStringList{"deeper than 64"};
    QTest::newRow("brackets in strings are not nesting")
        << QByteArray("{\"workers\": 1, \"x\": \"") + QByteArray(1000, '[') + "\"}"
        << QStringList{"unknown key 'x'"};
}

void ValidatorTest::hostileText() {
    QFETCH(QByteArray, document);
    QFETCH(QStringList, words);
    QElapsedTimer timer;
    timer.start();
    const LoadResult result =
        loadConfig(std::string_view(document.constData(), std::size_t(document.size())));
    QVERIFY2(timer.elapsed() < 2000, "a hostile document must be refused quickly");
    QVERIFY(!result.ok());
    QCOMPARE(errorCount(result), 1);
    const Diagnostic& d = *std::find_if(
        result.diagnostics.begin(), result.diagnostics.end(),
        [](const Diagnostic& x) { return x.severity == Diagnostic::Severity::Error; });
    QVERIFY2(mentionsAll(d.message, words), d.message.c_str());
}

void ValidatorTest::hostileFiles() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const auto load = [&](const QString& name) {
        return loadConfigFile(dir.filePath(name).toStdString());
    };
    const auto write = [&](const QString& name, const QByteArray& bytes) {
        QFile file(dir.filePath(name));
        QVERIFY(file.open(QIODevice::WriteOnly));
        QCOMPARE(file.write(bytes), bytes.size());
    };
    const auto expectOne = [](const LoadResult& result, const QStringList& words) {
        QVERIFY(!result.ok());
        QCOMPARE(result.diagnostics.size(), std::size_t{1});
        QVERIFY2(mentionsAll(result.diagnostics[0].message, words),
                 result.diagnostics[0].message.c_str());
    };

    {  // 100 MB: refused by size; it is never read, so this is fast.
        QFile big(dir.filePath("big.json"));
        QVERIFY(big.open(QIODevice::WriteOnly));
        QByteArray chunk(1 << 20, ' ');
        chunk[0] = '{';
        for (int i = 0; i < 100; ++i) QCOMPARE(big.write(chunk), chunk.size());
        big.close();
        QElapsedTimer timer;
        timer.start();
        const LoadResult result = load("big.json");
        QVERIFY(timer.elapsed() < 1000);
        expectOne(result, {"104857600 bytes", "limit"});
    }
    write("deep.json", QByteArray(100'000, '[') + QByteArray(100'000, ']'));
    expectOne(load("deep.json"), {"deeper than 64"});
    write("empty.json", QByteArray());
    expectOne(load("empty.json"), {"empty"});
    write("garbage.json", QByteArray("{\"workers\": 1} trailing"));
    expectOne(load("garbage.json"), {"not valid JSON", "line 1, column", "end of input"});
    QVERIFY(QDir(dir.path()).mkdir("sub.json"));
    expectOne(load("sub.json"), {"directory"});
    expectOne(load("missing.json"), {"missing.json", "does not exist"});
    write("good.json", QByteArray("\xEF\xBB\xBF") + kBase);
    const LoadResult good = load("good.json");
    QVERIFY2(good.ok(), qPrintable(dump(good.diagnostics)));
    QCOMPARE(good.config->listeners.at(0).address.port, std::uint16_t{8080});
}

void ValidatorTest::roundTrip_data() {
    QTest::addColumn<QByteArray>("document");
    QTest::newRow("empty") << QByteArray("{}");
    QTest::newRow("base") << QByteArray(kBase);
    QTest::newRow("rich") << QByteArray(kRich);
    QTest::newRow("tls") << based(R"({
        "listeners": [{"name": "web", "address": "127.0.0.1:8443",
                       "tls": {"certificates": [{"cert": "a.pem", "key": "a.key"},
                                                {"pfx": "b.pfx", "password": "p"}],
                               "min_version": "1.3", "ciphers": "ECDHE-RSA-AES128-GCM-SHA256",
                               "ciphersuites": "TLS_AES_128_GCM_SHA256",
                               "handshake_timeout_ms": 3000, "client_ca": "ca.pem",
                               "client_certificate": "optional",
                               "client_subject_header": "X-Subject",
                               "ticket_key_rotation_seconds": 600,
                               "ocsp": {"fetch": false, "timeout_ms": 2500, "refresh_seconds": 600,
                                        "proxy": "proxy.corp:3128"}}}],
        "upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:9001"}],
                       "tls": {"ca": "ca.pem", "server_name": "app.internal",
                               "verify_hostname": false, "sni": false,
                               "cert": "c.pem", "key": "c.key"}}]})");
    QTest::newRow("redirect_https") << based(R"({"routes": [
        {"name": "a", "upstream": "app", "match": {"path_prefix": "/a/"},
         "redirect_https": {"enabled": true, "port": 8443, "status": 301, "host": "www.example.com"}},
        {"name": "b", "upstream": "app", "redirect_https": {"enabled": true}}]})");
}

void ValidatorTest::roundTrip() {
    QFETCH(QByteArray, document);
    const LoadResult first = loadConfig(document.toStdString());
    QVERIFY2(first.ok(), qPrintable(dump(first.diagnostics)));
    const Json json = toJson(*first.config);
    const LoadResult second = loadConfig(json.dump(2));
    QVERIFY2(second.ok(),
             qPrintable(dump(second.diagnostics) + QString::fromStdString(json.dump(2))));
    QVERIFY(*second.config == *first.config);
    QCOMPARE(toJson(*second.config), json);
    // The equality above must be able to fail: a changed copy differs.
    Config changed = *first.config;
    changed.timeouts.shutdown += std::chrono::milliseconds(1);
    QVERIFY(!(changed == *first.config));
}

void ValidatorTest::hostPort_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("allowNames");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QString>("host");  // or a word of the error
    QTest::addColumn<int>("port");
    QTest::newRow("v4") << "127.0.0.1:80" << false << true << "127.0.0.1" << 80;
    QTest::newRow("v4 wildcard") << "0.0.0.0:8080" << false << true << "0.0.0.0" << 8080;
    QTest::newRow("v6") << "[::1]:443" << false << true << "::1" << 443;
    QTest::newRow("v6 any") << "[::]:8080" << false << true << "::" << 8080;
    QTest::newRow("v6 full") << "[2001:db8:0:0:0:0:2:1]:1" << false << true
                             << "2001:db8:0:0:0:0:2:1" << 1;
    QTest::newRow("v6 embedded v4")
        << "[::ffff:10.0.0.1]:65535" << false << true << "::ffff:10.0.0.1" << 65535;
    QTest::newRow("name") << "app.internal:80" << true << true << "app.internal" << 80;
    QTest::newRow("name refused") << "app.internal:80" << false << false << "host name" << 0;
    QTest::newRow("leading zero") << "01.2.3.4:80" << false << false << "leading zero" << 0;
    QTest::newRow("five octets") << "1.2.3.4.5:80" << false << false << "four numbers" << 0;
    QTest::newRow("v6 too many groups")
        << "[1:2:3:4:5:6:7:8:9]:80" << false << false << "8 groups" << 0;
    QTest::newRow("v6 two gaps") << "[1::2::3]:80" << false << false << "only once" << 0;
    QTest::newRow("v6 no close") << "[::1:80" << false << false << "]" << 0;
    QTest::newRow("v6 no port") << "[::1]" << false << false << "no port" << 0;
    QTest::newRow("v6 zone") << "[fe80::1%eth0]:80" << false << false << "zone" << 0;
    QTest::newRow("empty") << "" << true << false << "empty" << 0;
    QTest::newRow("no host") << ":80" << true << false << "no host" << 0;
    QTest::newRow("port sign") << "1.2.3.4:+80" << true << false << "not a number" << 0;
}

void ValidatorTest::hostPort() {
    QFETCH(QString, text);
    QFETCH(bool, allowNames);
    QFETCH(bool, ok);
    QFETCH(QString, host);
    QFETCH(int, port);
    std::string error;
    const auto parsed = parseHostPort(
        text.toStdString(), allowNames ? AddressRule::IpOrName : AddressRule::IpOnly, &error);
    QCOMPARE(parsed.has_value(), ok);
    if (ok) {
        QCOMPARE(QString::fromStdString(parsed->host), host);
        QCOMPARE(int(parsed->port), port);
        QCOMPARE(QString::fromStdString(parsed->toString()), text);
    } else {
        QVERIFY2(QString::fromStdString(error).contains(host, Qt::CaseInsensitive), error.c_str());
    }
}

void ValidatorTest::keyPathsAreListed() {
    const std::vector<std::string> paths = knownKeyPaths();
    const auto has = [&](const char* p) {
        return std::find(paths.begin(), paths.end(), p) != paths.end();
    };
    QVERIFY(has("/workers"));
    QVERIFY(has("/routes/*/match/host"));
    QVERIFY(has("/upstreams/*/servers/*/weight"));
    QVERIFY(has("/routes/*/response_headers/remove"));
    QVERIFY(!has("/routes/*/match/headers/*"));
}

QTEST_GUILESS_MAIN(ValidatorTest)
#include "validator_test.moc"
