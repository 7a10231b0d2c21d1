// Tests shared/control/frame_codec.cpp and json_rpc.cpp: framing over arbitrary splits, the limit
// decided from the prefix alone, and the JSON-RPC shapes mapped to the right error codes.
#include <QTest>

#include <string>

#include "control/frame_codec.h"
#include "control/json_rpc.h"

using namespace proxy::control;

namespace {

std::string prefix(std::uint32_t n) {
    std::string out(4, '\0');
    out[0] = static_cast<char>(n >> 24);
    out[1] = static_cast<char>(n >> 16);
    out[2] = static_cast<char>(n >> 8);
    out[3] = static_cast<char>(n);
    return out;
}

}  // namespace

class FrameCodecTest : public QObject {
    Q_OBJECT

  private slots:
    void encodeDecodeRoundTrip() {
        const std::string payload = R"({"jsonrpc":"2.0","id":1,"method":"status"})";
        const auto wire = encodeFrame(payload);
        QCOMPARE(wire.size(), payload.size() + 4);
        QCOMPARE(wire.substr(0, 4), prefix(static_cast<std::uint32_t>(payload.size())));
        const auto d = decodeFrame(wire);
        QCOMPARE(d.status, FrameStatus::Frame);
        QCOMPARE(d.consumed, wire.size());
        QCOMPARE(std::string(d.payload), payload);
    }

    // Every split point of a stream of three frames yields exactly the three payloads.
    void splitAtEveryByte() {
        const std::string a = R"({"a":1})";
        const std::string b;            // zero-length frame: valid framing, empty payload
        const std::string c(300, 'x');  // length needs two prefix bytes
        const std::string wire = encodeFrame(a) + encodeFrame(b) + encodeFrame(c);
        for (std::size_t split = 0; split <= wire.size(); ++split) {
            FrameReader reader(1024);
            std::vector<std::string> got;
            auto drain = [&] {
                for (;;) {
                    const auto d = reader.next();
                    if (d.status != FrameStatus::Frame) {
                        QCOMPARE(d.status, FrameStatus::NeedMore);
                        return;
                    }
                    got.emplace_back(d.payload);
                }
            };
            reader.append(std::string_view(wire).substr(0, split));
            drain();
            reader.append(std::string_view(wire).substr(split));
            drain();
            QCOMPARE(got.size(), std::size_t{3});
            QCOMPARE(got[0], a);
            QCOMPARE(got[1], b);
            QCOMPARE(got[2], c);
            QCOMPARE(reader.buffered(), std::size_t{0});
        }
    }

    void byteByByte() {
        const std::string payload = R"({"jsonrpc":"2.0","method":"x"})";
        const std::string wire = encodeFrame(payload);
        FrameReader reader;
        for (std::size_t i = 0; i < wire.size(); ++i) {
            reader.append(wire.substr(i, 1));
            const auto d = reader.next();
            if (i + 1 < wire.size()) {
                QCOMPARE(d.status, FrameStatus::NeedMore);
                QVERIFY(d.needed > i + 1);
            } else {
                QCOMPARE(d.status, FrameStatus::Frame);
                QCOMPARE(std::string(d.payload), payload);
            }
        }
    }

    void needMoreReportsTotal() {
        auto d = decodeFrame(std::string_view("\0\0", 2));
        QCOMPARE(d.status, FrameStatus::NeedMore);
        QCOMPARE(d.needed, std::size_t{4});
        const std::string partial = prefix(10) + "abc";
        d = decodeFrame(partial);
        QCOMPARE(d.status, FrameStatus::NeedMore);
        QCOMPARE(d.needed, std::size_t{14});
        QCOMPARE(d.announced, std::size_t{10});
    }

    void limits_data() {
        QTest::addColumn<quint32>("announced");
        QTest::addColumn<quint32>("limit");
        QTest::addColumn<bool>("tooLarge");
        QTest::newRow("at limit") << 100u << 100u << false;
        QTest::newRow("one over") << 101u << 100u << true;
        QTest::newRow("max prefix") << 0xffffffffu << 100u << true;
        QTest::newRow("default limit, 4 GiB")
            << 0xffffffffu << quint32(kDefaultMaxFrameBytes) << true;
        QTest::newRow("zero") << 0u << 100u << false;
    }
    void limits() {
        QFETCH(quint32, announced);
        QFETCH(quint32, limit);
        QFETCH(bool, tooLarge);
        // Only the prefix: the verdict must not wait for the body.
        const auto d = decodeFrame(prefix(announced), limit);
        if (tooLarge) {
            QCOMPARE(d.status, FrameStatus::Error);
            QCOMPARE(d.error, FrameError::TooLarge);
            QVERIFY(describeFrameError(d, limit).find(std::to_string(announced)) !=
                    std::string::npos);
        } else {
            QCOMPARE(d.status, announced == 0 ? FrameStatus::Frame : FrameStatus::NeedMore);
        }
    }

    // Text protocols sent by mistake read as huge prefixes and are refused at once.
    void garbagePrefix() {
        const auto d = decodeFrame(std::string_view("GET / HTTP/1.1\r\n\r\n"));
        QCOMPARE(d.status, FrameStatus::Error);
        QCOMPARE(d.error, FrameError::TooLarge);
        QCOMPARE(d.announced, std::size_t{0x47455420});
    }

    void truncatedStaysNeedMore() {
        FrameReader reader(1 << 20);
        reader.append(prefix(1000) + std::string(999, 'a'));
        const auto d = reader.next();
        QCOMPARE(d.status, FrameStatus::NeedMore);
        QCOMPARE(d.needed, std::size_t{1004});
    }

    void parse_data() {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<int>("code");  // 0 = parses
        QTest::addColumn<int>("kind");  // Message::Kind when it parses

        const int req = int(Message::Kind::Request);
        const int note = int(Message::Kind::Notification);
        const int resp = int(Message::Kind::Response);
        QTest::newRow("request") << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"status"})") << 0
                                 << req;
        QTest::newRow("request string id")
            << QByteArray(R"({"jsonrpc":"2.0","id":"a","method":"m","params":{}})") << 0 << req;
        QTest::newRow("request array params")
            << QByteArray(R"({"jsonrpc":"2.0","id":2,"method":"m","params":[1]})") << 0 << req;
        QTest::newRow("notification")
            << QByteArray(R"({"jsonrpc":"2.0","method":"config.changed"})") << 0 << note;
        QTest::newRow("result") << QByteArray(R"({"jsonrpc":"2.0","id":1,"result":{"a":1}})") << 0
                                << resp;
        QTest::newRow("error response")
            << QByteArray(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})")
            << 0 << resp;

        QTest::newRow("empty") << QByteArray("") << errc::kParseError << 0;
        QTest::newRow("not json") << QByteArray("hello") << errc::kParseError << 0;
        QTest::newRow("truncated json")
            << QByteArray(R"({"jsonrpc":"2.0",)") << errc::kParseError << 0;
        QTest::newRow("bad utf8") << QByteArray("{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}")
                                  << errc::kParseError << 0;
        QTest::newRow("too deep") << QByteArray(200, '[') << errc::kParseError << 0;
        QTest::newRow("number") << QByteArray("42") << errc::kInvalidRequest << 0;
        QTest::newRow("string") << QByteArray(R"("x")") << errc::kInvalidRequest << 0;
        QTest::newRow("null") << QByteArray("null") << errc::kInvalidRequest << 0;
        QTest::newRow("batch") << QByteArray(R"([{"jsonrpc":"2.0","id":1,"method":"a"}])")
                               << errc::kInvalidRequest << 0;
        QTest::newRow("no version")
            << QByteArray(R"({"id":1,"method":"a"})") << errc::kInvalidRequest << 0;
        QTest::newRow("version 1.0")
            << QByteArray(R"({"jsonrpc":"1.0","id":1,"method":"a"})") << errc::kInvalidRequest << 0;
        QTest::newRow("version number")
            << QByteArray(R"({"jsonrpc":2.0,"id":1,"method":"a"})") << errc::kInvalidRequest << 0;
        QTest::newRow("method number")
            << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":5})") << errc::kInvalidRequest << 0;
        QTest::newRow("method empty")
            << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":""})") << errc::kInvalidRequest << 0;
        QTest::newRow("params string")
            << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"a","params":"x"})")
            << errc::kInvalidRequest << 0;
        QTest::newRow("id object") << QByteArray(R"({"jsonrpc":"2.0","id":{},"method":"a"})")
                                   << errc::kInvalidRequest << 0;
        QTest::newRow("id fraction") << QByteArray(R"({"jsonrpc":"2.0","id":1.5,"method":"a"})")
                                     << errc::kInvalidRequest << 0;
        QTest::newRow("neither method nor id")
            << QByteArray(R"({"jsonrpc":"2.0"})") << errc::kInvalidRequest << 0;
        QTest::newRow("result and error")
            << QByteArray(R"({"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}})")
            << errc::kInvalidRequest << 0;
        QTest::newRow("error not object") << QByteArray(R"({"jsonrpc":"2.0","id":1,"error":"bad"})")
                                          << errc::kInvalidRequest << 0;
        QTest::newRow("error code string")
            << QByteArray(R"({"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}})")
            << errc::kInvalidRequest << 0;
        QTest::newRow("request with result")
            << QByteArray(R"({"jsonrpc":"2.0","id":1,"method":"a","result":1})")
            << errc::kInvalidRequest << 0;
    }
    void parse() {
        QFETCH(QByteArray, payload);
        QFETCH(int, code);
        QFETCH(int, kind);
        const auto parsed = parseMessage(std::string_view(payload.constData(), payload.size()));
        if (code == 0) {
            QVERIFY2(parsed.message.has_value(), parsed ? "" : parsed.error.error.message.c_str());
            QCOMPARE(int(parsed->kind), kind);
        } else {
            QVERIFY(!parsed.message.has_value());
            QCOMPARE(parsed.error.error.code, code);
            QVERIFY(!parsed.error.error.message.empty());
        }
    }

    // The id is echoed back on invalid requests when it could be read, null otherwise.
    void errorKeepsReadableId() {
        auto parsed = parseMessage(R"({"jsonrpc":"1.0","id":7,"method":"a"})");
        QVERIFY(!parsed);
        QCOMPARE(parsed.error.id, Json(7));
        parsed = parseMessage(R"({"jsonrpc":"2.0","id":[1],"method":"a"})");
        QVERIFY(!parsed);
        QVERIFY(parsed.error.id.is_null());
    }

    void buildersRoundTrip() {
        auto parsed = parseMessage(makeRequest(3, "config.get", Json::object()));
        QVERIFY(parsed);
        QCOMPARE(parsed->kind, Message::Kind::Request);
        QCOMPARE(parsed->id, Json(3));
        QCOMPARE(parsed->method, std::string("config.get"));

        parsed = parseMessage(makeError(
            nullptr, RpcError::make(errc::kConflict, "stale", Json{{"current_version", 4}})));
        QVERIFY(parsed);
        QCOMPARE(parsed->kind, Message::Kind::Response);
        QVERIFY(parsed->error.has_value());
        QCOMPARE(parsed->error->code, errc::kConflict);
        QCOMPARE(parsed->error->data["current_version"], Json(4));

        parsed = parseMessage(makeNotification("config.changed", Json{{"version", 2}}));
        QVERIFY(parsed);
        QCOMPARE(parsed->kind, Message::Kind::Notification);
        QVERIFY(parsed->id.is_null());
    }

    // A handler echoing invalid UTF-8 must not throw out of the builders.
    void buildersReplaceBadUtf8() {
        const std::string bad =
            "a\xff"
            "b";
        const auto text = makeResult(1, Json{{"echo", bad}});
        const auto parsed = parseMessage(text);
        QVERIFY(parsed);
        QVERIFY(parsed->result["echo"].is_string());
    }

    void hello_data() {
        QTest::addColumn<QByteArray>("params");
        QTest::addColumn<int>("code");
        QTest::newRow("ok") << QByteArray(R"({"protocol":1,"client":"t"})") << 0;
        QTest::newRow("ok without client") << QByteArray(R"({"protocol":1})") << 0;
        QTest::newRow("future protocol")
            << QByteArray(R"({"protocol":2})") << errc::kHandshakeRequired;
        QTest::newRow("protocol string")
            << QByteArray(R"({"protocol":"1"})") << errc::kHandshakeRequired;
        QTest::newRow("missing") << QByteArray("{}") << errc::kHandshakeRequired;
        QTest::newRow("array") << QByteArray("[1]") << errc::kHandshakeRequired;
        QTest::newRow("client number")
            << QByteArray(R"({"protocol":1,"client":3})") << errc::kInvalidParams;
    }
    void hello() {
        QFETCH(QByteArray, params);
        QFETCH(int, code);
        const auto result = parseHelloParams(Json::parse(params.toStdString()));
        if (code == 0) {
            QVERIFY(result.hello.has_value());
            QCOMPARE(result.hello->protocol, kProtocolVersion);
        } else {
            QVERIFY(!result.hello.has_value());
            QCOMPARE(result.error.code, code);
        }
    }

    void helloResult() {
        const auto r = makeHelloResult("1.2.3", Role::ReadOnly);
        QCOMPARE(r["protocol"], Json(1));
        QCOMPARE(r["server"], Json("proxy-service"));
        QCOMPARE(r["role"], Json("read-only"));
        QCOMPARE(roleFromName("admin"), std::optional<Role>(Role::Admin));
        QVERIFY(!roleFromName("root").has_value());
    }
};

QTEST_APPLESS_MAIN(FrameCodecTest)
#include "frame_codec_test.moc"
