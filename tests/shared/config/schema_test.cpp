// docs/config-schema.json must stay in step with the validator (shared/config/validator.cpp):
// the same keys at the same places in both directions, closed objects, and the same verdict on
// sample documents (checked with a small evaluator of the schema keywords the file uses).

#include <QFile>
#include <QTest>

#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "config/validator.h"

using Json = nlohmann::ordered_json;

namespace {

Json loadSchema() {
    QFile file(QStringLiteral(PROXY_SOURCE_DIR "/docs/config-schema.json"));
    if (!file.open(QIODevice::ReadOnly)) return Json();
    return Json::parse(file.readAll().toStdString(), nullptr, false);
}

const Json& resolve(const Json& root, const Json& node) {
    if (node.is_object() && node.contains("$ref")) {
        const std::string ref = node["$ref"].get<std::string>();
        // Only local references ("#/$defs/name") are used.
        return resolve(root, root.at(Json::json_pointer(ref.substr(1))));
    }
    return node;
}

// Collects "/routes/*/match/host"-style paths for every fixed property in the schema. Maps
// (objects described by additionalProperties) are leaves, as in knownKeyPaths().
void collect(const Json& root, const Json& raw, const std::string& path, std::set<std::string>& out,
             QStringList& openObjects) {
    const Json& node = resolve(root, raw);
    if (!node.is_object()) return;
    if (node.contains("properties")) {
        if (!node.contains("additionalProperties") || node["additionalProperties"] != false)
            openObjects << QString::fromStdString(path.empty() ? "/" : path);
        for (const auto& [key, sub] : node["properties"].items()) {
            const std::string child = path + "/" + key;
            out.insert(child);
            collect(root, sub, child, out, openObjects);
        }
    }
    if (node.contains("items") && node["items"].is_object())
        collect(root, node["items"], path + "/*", out, openObjects);
}

// A small evaluator for the keywords config-schema.json uses; enough to compare verdicts.
void evaluate(const Json& root, const Json& raw, const Json& value, const std::string& path,
              QStringList& errors) {
    const Json& s = resolve(root, raw);
    if (s.is_boolean()) {
        if (!s.get<bool>()) errors << QString::fromStdString(path + ": not allowed");
        return;
    }
    const auto fail = [&](const char* what) {
        errors << QString::fromStdString(path) + ": " + what;
    };
    if (s.contains("type")) {
        const std::string type = s["type"].get<std::string>();
        const bool ok =
            (type == "object" && value.is_object()) || (type == "array" && value.is_array()) ||
            (type == "string" && value.is_string()) || (type == "boolean" && value.is_boolean()) ||
            (type == "integer" && (value.is_number_integer()));
        if (!ok) return fail("wrong type");
    }
    if (s.contains("enum")) {
        bool found = false;
        for (const Json& option : s["enum"]) found = found || option == value;
        if (!found) fail("not in enum");
    }
    if (value.is_number_integer()) {
        if (s.contains("minimum") && value.get<double>() < s["minimum"].get<double>())
            fail("below minimum");
        if (s.contains("maximum") && value.get<double>() > s["maximum"].get<double>())
            fail("above maximum");
    }
    if (value.is_string()) {
        const std::string text = value.get<std::string>();
        if (s.contains("minLength") && text.size() < s["minLength"].get<std::size_t>())
            fail("too short");
        if (s.contains("maxLength") && text.size() > s["maxLength"].get<std::size_t>())
            fail("too long");
        if (s.contains("pattern") &&
            !std::regex_search(text, std::regex(s["pattern"].get<std::string>())))
            fail("pattern");
    }
    if (s.contains("const") && value != s["const"]) fail("not the constant");
    if (value.is_object()) {
        if (s.contains("minProperties") && value.size() < s["minProperties"].get<std::size_t>())
            fail("too few properties");
        if (s.contains("maxProperties") && value.size() > s["maxProperties"].get<std::size_t>())
            fail("too many properties");
        if (s.contains("required"))
            for (const Json& key : s["required"])
                if (!value.contains(key.get<std::string>())) fail("missing required key");
        for (const auto& [key, sub] : value.items()) {
            const std::string child = path + "/" + key;
            if (s.contains("propertyNames"))
                evaluate(root, s["propertyNames"], Json(key), child, errors);
            if (s.contains("properties") && s["properties"].contains(key))
                evaluate(root, s["properties"][key], sub, child, errors);
            else if (s.contains("additionalProperties"))
                evaluate(root, s["additionalProperties"], sub, child, errors);
        }
    }
    if (value.is_array()) {
        if (s.contains("minItems") && value.size() < s["minItems"].get<std::size_t>())
            fail("too few items");
        std::size_t first = 0;
        if (s.contains("prefixItems")) {
            for (; first < s["prefixItems"].size() && first < value.size(); ++first)
                evaluate(root, s["prefixItems"][first], value[first],
                         path + "/" + std::to_string(first), errors);
        }
        if (s.contains("items"))
            for (std::size_t i = first; i < value.size(); ++i)
                evaluate(root, s["items"], value[i], path + "/" + std::to_string(i), errors);
    }
    if (s.contains("not")) {
        QStringList inner;
        evaluate(root, s["not"], value, path, inner);
        if (inner.isEmpty()) fail("matches 'not'");
    }
    if (s.contains("anyOf")) {
        bool any = false;
        for (const Json& option : s["anyOf"]) {
            QStringList inner;
            evaluate(root, option, value, path, inner);
            any = any || inner.isEmpty();
        }
        if (!any) fail("matches none of anyOf");
    }
}

}  // namespace

class SchemaTest : public QObject {
    Q_OBJECT

  private slots:
    void initTestCase() {
        schema_ = loadSchema();
        QVERIFY2(schema_.is_object(), "docs/config-schema.json is missing or not valid JSON");
        QCOMPARE(schema_.value("$schema", std::string()),
                 std::string("https://json-schema.org/draft/2020-12/schema"));
    }

    void keysMatchTheValidator() {
        std::set<std::string> inSchema;
        QStringList openObjects;
        collect(schema_, schema_, "", inSchema, openObjects);
        const std::vector<std::string> known = proxy::config::knownKeyPaths();
        const std::set<std::string> inValidator(known.begin(), known.end());
        QCOMPARE(inValidator.size(), known.size());  // no key listed twice
        QStringList missingFromSchema, unknownToValidator;
        for (const std::string& p : inValidator)
            if (!inSchema.contains(p)) missingFromSchema << QString::fromStdString(p);
        for (const std::string& p : inSchema)
            if (!inValidator.contains(p)) unknownToValidator << QString::fromStdString(p);
        QCOMPARE(missingFromSchema, QStringList());
        QCOMPARE(unknownToValidator, QStringList());
        QCOMPARE(openObjects,
                 QStringList());  // every fixed-key object is additionalProperties:false
        QVERIFY(inSchema.size() > 50);
    }

    void sameVerdict_data() {
        QTest::addColumn<QByteArray>("document");
        QTest::addColumn<bool>("valid");
        const QByteArray base = R"({"listeners": [{"name": "web", "address": "127.0.0.1:80"}],
            "upstreams": [{"name": "app", "servers": [{"address": "127.0.0.1:81"}]}],
            "routes": [{"name": "r", "upstream": "app"}]})";
        QTest::newRow("base") << base << true;
        QFile demo(QStringLiteral(PROXY_SOURCE_DIR "/examples/demo.json"));
        QVERIFY(demo.open(QIODevice::ReadOnly));
        QTest::newRow("demo") << demo.readAll() << true;
        QTest::newRow("every key") << QByteArray(R"({
            "workers": 2, "control": {"endpoint": "/c", "read_only_group": "g"},
            "logging": {"database": "/d", "access_log_file": "", "error_log_file": "",
                        "level": "warn"},
            "limits": {"max_request_line": 256, "max_header_bytes": 1024, "max_headers": 1,
                       "max_body_bytes": 0},
            "timeouts": {"header_ms": 1, "client_idle_ms": 1, "upstream_connect_ms": 1,
                         "upstream_response_ms": 1, "tunnel_idle_ms": 1, "shutdown_ms": 86400000},
            "forwarded": {"x_forwarded": true, "via": true, "forwarded": true},
            "listeners": [{"name": "web", "address": "[::]:80"}],
            "upstreams": [{"name": "app", "balance": "hash",
                           "servers": [{"address": "a.b:1", "weight": 1000, "max_connections": 0}],
                           "keepalive": {"max_idle": 0, "idle_timeout_ms": 1},
                           "health_check": {"method": "HEAD", "path": "/",
                                            "expect_status": [100, 599],
                                            "expect_body": "", "interval_ms": 100, "timeout_ms": 5,
                                            "rise": 100, "fall": 1},
                           "passive": {"failures": 0, "status_5xx": 1000, "eject_seconds": 1,
                                       "max_eject_seconds": 86400},
                           "slow_start_seconds": 3600,
                           "queue": {"size": 1, "timeout_ms": 600000},
                           "hash_key": {"header": "X-User"},
                           "sticky": {"cookie": "s", "path": "/", "http_only": false,
                                      "secure": true, "same_site": "None", "max_age": 315360000,
                                      "secret": "sixteen chars ok"},
                           "retries": 10}],
            "routes": [{"name": "r", "listener": "web",
                        "match": {"host": "*.a.b", "path_exact": "/x", "methods": ["PATCH"],
                                  "headers": {"X-A": ""}},
                        "upstream": "app",
                        "rewrite": {"strip_prefix": "/x", "regex": "x", "replacement": "y"},
                        "request_headers": {"set": {"A": "${host}"}, "add": {"B": "1"},
                                            "remove": ["C"]},
                        "response_headers": {"set": {}, "add": {}, "remove": []}}]})")
                                   << true;
        QTest::newRow("unknown key") << QByteArray(R"({"workerz": 1})") << false;
        QTest::newRow("bad enum") << QByteArray(R"({"logging": {"level": "trace"}})") << false;
        QTest::newRow("over maximum") << QByteArray(R"({"workers": 1025})") << false;
        QTest::newRow("under minimum")
            << QByteArray(R"({"limits": {"max_header_bytes": 1023}})") << false;
        QTest::newRow("wrong type") << QByteArray(R"({"forwarded": {"via": 1}})") << false;
        QTest::newRow("route without upstream")
            << QByteArray(R"({"routes": [{"name": "r"}]})") << false;
        QTest::newRow("two path conditions")
            << QByteArray(R"({"routes": [{"name": "r", "upstream": "u",
                 "match": {"path_prefix": "/a", "path_regex": "b"}}]})")
            << false;
        QTest::newRow("upstream without servers")
            << QByteArray(R"({"upstreams": [{"name": "u", "servers": []}]})") << false;
        QTest::newRow("hash key two kinds")
            << QByteArray(R"({"upstreams": [{"name": "u", "balance": "hash",
                 "servers": [{"address": "1.2.3.4:1"}],
                 "hash_key": {"header": "a", "cookie": "b"}}]})")
            << false;
        QTest::newRow("sticky path with semicolon")
            << QByteArray(R"({"upstreams": [{"name": "u", "servers": [{"address": "1.2.3.4:1"}],
                 "sticky": {"path": "/;x"}}]})")
            << false;
        QTest::newRow("slow start over maximum")
            << QByteArray(R"({"upstreams": [{"name": "u", "servers": [{"address": "1.2.3.4:1"}],
                 "slow_start_seconds": 3601}]})")
            << false;
        QTest::newRow("bad header name") << QByteArray(R"({"routes": [{"name": "r", "upstream": "u",
                 "request_headers": {"remove": ["a b"]}}]})")
                                         << false;
    }

    void sameVerdict() {
        QFETCH(QByteArray, document);
        QFETCH(bool, valid);
        const Json value = Json::parse(document.toStdString(), nullptr, false);
        QVERIFY(!value.is_discarded());
        QStringList errors;
        evaluate(schema_, schema_, value, "", errors);
        QVERIFY2(errors.isEmpty() == valid, qPrintable(errors.join('\n')));
        const auto result = proxy::config::loadConfig(document.toStdString());
        QCOMPARE(result.ok(), valid);
    }

  private:
    Json schema_;
};

QTEST_GUILESS_MAIN(SchemaTest)
#include "schema_test.moc"
