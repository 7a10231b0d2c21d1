// Tests for service/proxyctl/output.{h,cpp}: the CSV of `proxyctl logs --format csv`.
#include <QTest>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proxyctl/output.h"

using namespace proxy::proxyctl;
using json = nlohmann::json;

namespace {

// A strict RFC 4180 reader: records of fields, CRLF between records; nullopt-like empty result
// with ok=false on anything malformed (a quote inside an unquoted field, text after a closing
// quote, a bare LF or CR outside quotes, an unterminated quote).
std::vector<std::vector<std::string>> parseCsv(const std::string& text, bool& ok) {
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> record;
    std::string field;
    ok = true;
    std::size_t i = 0;
    bool fieldStarted = false;
    while (i < text.size()) {
        const char c = text[i];
        if (!fieldStarted && c == '"') {
            ++i;
            for (;;) {
                if (i >= text.size()) { ok = false; return {}; }
                if (text[i] == '"') {
                    if (i + 1 < text.size() && text[i + 1] == '"') { field += '"'; i += 2; continue; }
                    ++i;
                    break;
                }
                field += text[i++];
            }
            fieldStarted = true;
            if (i < text.size() && text[i] != ',' && text[i] != '\r') { ok = false; return {}; }
            continue;
        }
        if (c == ',') {
            record.push_back(field);
            field.clear();
            fieldStarted = false;
            ++i;
        } else if (c == '\r') {
            if (i + 1 >= text.size() || text[i + 1] != '\n') { ok = false; return {}; }
            record.push_back(field);
            records.push_back(record);
            record.clear();
            field.clear();
            fieldStarted = false;
            i += 2;
        } else if (c == '\n' || c == '"') {
            ok = false;
            return {};
        } else {
            field += c;
            fieldStarted = true;
            ++i;
        }
    }
    if (!record.empty() || !field.empty()) ok = false;  // the last record lacks its CRLF
    return records;
}

}  // namespace

class OutputTest : public QObject {
    Q_OBJECT

private slots:
    void csvRoundTrips_data() {
        QTest::addColumn<QByteArray>("value");
        QTest::newRow("plain") << QByteArray("plain");
        QTest::newRow("empty") << QByteArray("");
        QTest::newRow("comma") << QByteArray("a,b");
        QTest::newRow("quotes") << QByteArray("say \"hi\"");
        QTest::newRow("only-quote") << QByteArray("\"");
        QTest::newRow("newline") << QByteArray("line 1\nline 2");
        QTest::newRow("crlf") << QByteArray("a\r\nb");
        QTest::newRow("cr") << QByteArray("a\rb");
        QTest::newRow("everything") << QByteArray("\"a\",\r\n\"b\"\n,,\"\"");
        QTest::newRow("utf8") << QByteArray("caf\xc3\xa9, \xe2\x82\xac");
    }
    void csvRoundTrips() {
        QFETCH(QByteArray, value);
        const std::string v = value.toStdString();
        const std::string line = csvRecord({"first", v, "last"});
        QVERIFY(line.ends_with("\r\n"));
        bool ok = false;
        const auto records = parseCsv(line, ok);
        QVERIFY2(ok, line.c_str());
        QCOMPARE(records.size(), std::size_t{1});
        QCOMPARE(records[0].size(), std::size_t{3});
        QCOMPARE(records[0][1], v);
        QCOMPARE(records[0][2], std::string("last"));
        // Only fields that need it are quoted.
        QCOMPARE(csvRecord({"a", "b c"}), std::string("a,b c\r\n"));
    }

    void logRowsFollowTheHeader() {
        const json row = {{"id", 7},
                          {"time", "2026-11-28T04:00:00.000000Z"},
                          {"path", "/a,b"},
                          {"user_agent", "Agent \"x\"\nnext"},
                          {"status", 502},
                          {"upstream_connect_us", nullptr},
                          {"unknown_extra", "ignored"}};
        bool ok = false;
        const auto records = parseCsv(csvRecord(logExportColumns()) + logRowCsv(row), ok);
        QVERIFY(ok);
        QCOMPARE(records.size(), std::size_t{2});
        const auto& header = records[0];
        QCOMPARE(header.size(), logExportColumns().size());
        auto at = [&](const std::string& name) {
            for (std::size_t i = 0; i < header.size(); ++i)
                if (header[i] == name) return records[1][i];
            return std::string("<no column>");
        };
        QCOMPARE(records[1].size(), header.size());
        QCOMPARE(at("id"), std::string("7"));
        QCOMPARE(at("path"), std::string("/a,b"));
        QCOMPARE(at("user_agent"), std::string("Agent \"x\"\nnext"));
        QCOMPARE(at("status"), std::string("502"));
        QCOMPARE(at("upstream_connect_us"), std::string());  // null: empty
        QCOMPARE(at("referer"), std::string());              // missing: empty
        QCOMPARE(at("unknown_extra"), std::string("<no column>"));
        QCOMPARE(logRowCsv(json::array()), csvRecord(std::vector<std::string>(logExportColumns().size())));
    }
};

QTEST_GUILESS_MAIN(OutputTest)
#include "output_test.moc"
