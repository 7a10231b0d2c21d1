// Integration tests of service/control_channel: the ControlServer runs in-process on a temp Unix
// socket, on its own io_context thread, with a fake ControlBackend and a real ConfigStore; clients
// are raw sockets (so the test controls every byte), a forked child with another uid, and the
// proxyctl executable.
#include <QProcess>
#include <QTest>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "config_store/config_store.h"
#include "config_store/file_config_source.h"
#include "control/frame_codec.h"
#include "control/json_rpc.h"
#include "control_channel/control_server.h"
#include "proxyctl_run.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace proxy::control;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string configText(int port, const std::string& upstream = "app") {
    return R"({
  "listeners": [ { "name": "web", "address": "127.0.0.1:)" +
           std::to_string(port) + R"(" } ],
  "upstreams": [ { "name": ")" +
           upstream + R"(", "servers": [ { "address": "127.0.0.1:9000" } ] } ],
  "routes": [ { "name": "all", "upstream": ")" +
           upstream + R"(" } ]
}
)";
}

void writeFile(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

class FakeBackend final : public ControlBackend {
  public:
    std::mutex mutex;
    std::vector<std::string> stateChanges;

    Json status() override {
        return {{"version", "9.9.9-test"},
                {"uptime_seconds", 12},
                {"workers", 2},
                {"listeners", Json::array({{{"name", "web"}, {"address", "127.0.0.1:8080"}}})},
                {"connections", {{"active", 3}, {"accepted", 40}}}};
    }
    Json stats() override { return {{"requests", {{"total", 42}, {"5xx", 1}}}}; }
    Json upstreams() override {
        return {{"upstreams", Json::array({{{"name", "app"},
                                            {"balance", "round_robin"},
                                            {"servers", Json::array({{{"address", "127.0.0.1:9000"},
                                                                      {"state", "enabled"},
                                                                      {"health", "up"},
                                                                      {"active", 1}}})}}})}};
    }
    std::optional<std::string> setServerState(const std::string& upstream,
                                              const std::string& server,
                                              const std::string& state) override {
        if (upstream != "app") return "unknown upstream \"" + upstream + "\"";
        if (server != "127.0.0.1:9000") return "unknown server \"" + server + "\"";
        std::lock_guard lock(mutex);
        stateChanges.push_back(upstream + "/" + server + "=" + state);
        return std::nullopt;
    }
};

// A blocking test client speaking raw frames, with a deadline on every read.
class RawClient {
  public:
    RawClient() = default;
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;
    ~RawClient() { close(); }

    bool connect(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
    int fd() const { return fd_; }

    bool sendRaw(std::string_view bytes) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return true;
    }
    bool sendFrame(std::string_view payload) { return sendRaw(encodeFrame(payload)); }

    // The next message (any kind), or nullopt on timeout / EOF (eof() tells which).
    std::optional<Json> next(std::chrono::milliseconds timeout = 3s) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto frame = reader_.next();
            if (frame.status == FrameStatus::Frame)
                return Json::parse(frame.payload, nullptr, false);
            if (frame.status == FrameStatus::Error || eof_) return std::nullopt;
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
            char buffer[65536];
            const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                eof_ = true;
                continue;
            }
            reader_.append(std::string_view(buffer, static_cast<std::size_t>(n)));
        }
    }

    // Sends a request and returns its response, skipping notifications (kept in notes).
    Json call(const std::string& method, const Json& params = Json::object(),
              std::chrono::milliseconds timeout = 3s) {
        const auto id = nextId_++;
        if (!sendFrame(makeRequest(id, method, params))) return Json{{"send_failed", true}};
        for (;;) {
            auto msg = next(timeout);
            if (!msg) return Json{{"no_answer", true}};
            if (msg->contains("id") && (*msg)["id"] == Json(id)) return *msg;
            if (msg->contains("id") && (*msg)["id"].is_null()) return *msg;
            notes.push_back(*msg);
        }
    }

    Json hello(const std::string& client = "test") {
        return call("hello", Json{{"protocol", 1}, {"client", client}});
    }

    // True when the server closes the connection within `timeout` (frames before EOF are kept).
    bool closedWithin(std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        while (!eof_) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buffer[65536];
            const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0)
                eof_ = true;
            else
                reader_.append(std::string_view(buffer, static_cast<std::size_t>(n)));
        }
        return true;
    }

    std::vector<Json> notes;

  private:
    int fd_ = -1;
    bool eof_ = false;
    FrameReader reader_;
    std::int64_t nextId_ = 1;
};

int errorCode(const Json& response) {
    if (!response.is_object() || !response.contains("error")) return 0;
    return response["error"].value("code", 0);
}

}  // namespace

class ControlServerTest : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;
    fs::path root_;
    std::string endpoint_;
    std::unique_ptr<proxy::config_store::ConfigStore> store_;
    std::unique_ptr<FakeBackend> backend_;
    std::unique_ptr<asio::io_context> io_;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
    std::thread thread_;
    std::future<void> ranOut_;
    std::unique_ptr<ControlServer> server_;
    std::atomic<int> listenerCalls_{0};

    ControlLimits testLimits() {
        ControlLimits limits;
        limits.maxFrameBytes = 64 * 1024;
        limits.maxClients = 4;
        limits.helloTimeout = 400ms;
        limits.idleTimeout = 5s;
        limits.writeTimeout = 1500ms;
        limits.maxQueuedMessages = 200;
        limits.maxQueuedBytes = 256 * 1024;
        return limits;
    }

    // Starts a server on `<tmp>/run/control.sock` (the run/ folder is the server's to create).
    bool startServer(ControlLimits limits, std::string readOnlyGroup = {},
                     std::function<void(ControlServer&)> beforeStart = {}) {
        backend_ = std::make_unique<FakeBackend>();
        io_ = std::make_unique<asio::io_context>();
        ControlServerOptions options;
        options.endpoint = endpoint_;
        options.adminGroup = "proxy-admin-test-missing";
        options.readOnlyGroup = std::move(readOnlyGroup);
        options.limits = limits;
        options.serverVersion = "1.2.3-test";
        server_ = std::make_unique<ControlServer>(*io_, options, *store_, *backend_);
        // A test-only method: pushes `count` notifications of `size` bytes to the caller.
        server_->methods().add(
            "test.flood", MethodRegistry::Access::Read,
            [](const Json& params, const Caller& caller) {
                const int count = params.value("count", 0);
                const std::string pad(params.value("size", 0), 'x');
                for (int i = 0; i < count; ++i)
                    caller.channel->notify("test.event", {{"i", i}, {"pad", pad}});
                return HandlerResult::ok({{"queued", count}});
            });
        if (beforeStart) beforeStart(*server_);
        if (auto error = server_->start()) {
            qWarning("start failed: %s", error->c_str());
            return false;
        }
        work_.emplace(asio::make_work_guard(*io_));
        std::promise<void> done;
        ranOut_ = done.get_future();
        thread_ = std::thread([this, done = std::move(done)]() mutable {
            io_->run();
            done.set_value();
        });
        return true;
    }

    // Structured shutdown: stop(), then the io_context must run out of work by itself, quickly.
    void stopServer() {
        if (!server_) return;
        server_->stop();
        work_.reset();
        const bool ranOut = ranOut_.wait_for(3s) == std::future_status::ready;
        if (!ranOut) io_->stop();
        thread_.join();
        server_.reset();
        io_.reset();
        QVERIFY2(ranOut, "the control io_context did not run out of work after stop()");
    }

    RawClient* helloClient(std::vector<std::unique_ptr<RawClient>>& keep) {
        keep.push_back(std::make_unique<RawClient>());
        auto* c = keep.back().get();
        if (!c->connect(endpoint_)) return nullptr;
        const auto r = c->hello();
        if (!r.contains("result")) return nullptr;
        return c;
    }

    int clientCount() { return static_cast<int>(server_->dumpState()["clients"].size()); }

    bool waitClientCount(int n, std::chrono::milliseconds timeout = 2s) {
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            if (clientCount() == n) return true;
            std::this_thread::sleep_for(10ms);
        }
        return clientCount() == n;
    }

    struct ProcResult {
        int exitCode = -1;
        QString out;
        QString err;
    };
    ProcResult proxyctl(QStringList args, const QString& endpoint = {}) {
        const proxy::test::ProxyctlResult r = proxy::test::runProxyctl(
            endpoint.isEmpty() ? endpoint_ : endpoint.toStdString(), args, 20000);
        if (!r.finished) return {};
        return {r.exitCode, QString::fromUtf8(r.out), QString::fromUtf8(r.err)};
    }

  private slots:
    void init() {
        QVERIFY(dir_.isValid());
        root_ = fs::path(dir_.path().toStdString()) / QTest::currentTestFunction();
        std::error_code ec;
        fs::remove_all(root_, ec);
        fs::create_directories(root_);
        endpoint_ = (root_ / "run" / "control.sock").string();
        writeFile(root_ / "config.json", configText(8080));
        store_ = std::make_unique<proxy::config_store::ConfigStore>(
            std::make_unique<proxy::config_store::FileConfigSource>(
                (root_ / "config.json").string()));
        QVERIFY(store_->open().ok());
        listenerCalls_ = 0;
        store_->setListener([this](auto) { ++listenerCalls_; });
    }

    void cleanup() {
        stopServer();
        store_.reset();
    }

    void startCreatesFolderAndSocket() {
        QVERIFY(startServer(testLimits()));
        struct stat st {};
        QVERIFY(::stat((root_ / "run").c_str(), &st) == 0);
        QCOMPARE(st.st_mode & 0777, 0750u);
        QVERIFY(::lstat(endpoint_.c_str(), &st) == 0);
        QVERIFY(S_ISSOCK(st.st_mode));
        QCOMPARE(st.st_mode & 0777, 0660u);
        stopServer();
        QVERIFY2(!fs::exists(endpoint_), "stop() must remove the socket file");
    }

    void staleSocketIsReplaced() {
        fs::create_directories(root_ / "run");
        {
            // A socket file left behind by a crashed server: bound, never unlinked.
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::memcpy(addr.sun_path, endpoint_.c_str(), endpoint_.size() + 1);
            QVERIFY(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
            ::close(fd);
        }
        QVERIFY(fs::exists(endpoint_));
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        QVERIFY(helloClient(keep));
    }

    void refusesRegularFileAndLiveServer() {
        fs::create_directories(root_ / "run");
        writeFile(endpoint_, "not a socket");
        {
            asio::io_context io;
            FakeBackend backend;
            ControlServer server(io, ControlServerOptions{endpoint_, "", "", testLimits(), ""},
                                 *store_, backend);
            const auto error = server.start();
            QVERIFY(error.has_value());
            QVERIFY2(error->find("not a socket") != std::string::npos, error->c_str());
        }
        QCOMPARE(readFile(endpoint_), std::string("not a socket"));
        fs::remove(endpoint_);

        QVERIFY(startServer(testLimits()));
        asio::io_context io;
        FakeBackend backend;
        ControlServer second(io, ControlServerOptions{endpoint_, "", "", testLimits(), ""}, *store_,
                             backend);
        const auto error = second.start();
        QVERIFY(error.has_value());
        QVERIFY2(error->find("already listening") != std::string::npos, error->c_str());
        // The live server still works.
        std::vector<std::unique_ptr<RawClient>> keep;
        QVERIFY(helloClient(keep));
    }

    void handshake() {
        QVERIFY(startServer(testLimits()));
        RawClient c;
        QVERIFY(c.connect(endpoint_));
        const auto r = c.hello("unit");
        QCOMPARE(r["result"]["protocol"], Json(1));
        QCOMPARE(r["result"]["server"], Json("proxy-service"));
        QCOMPARE(r["result"]["version"], Json("1.2.3-test"));
        QCOMPARE(r["result"]["role"], Json("admin"));           // root (or the service's own uid)
        QCOMPARE(errorCode(c.hello()), errc::kInvalidRequest);  // only once
        QVERIFY(c.call("ping").contains("result"));
    }

    void firstCallMustBeHello_data() {
        QTest::addColumn<QByteArray>("payload");
        QTest::addColumn<int>("code");
        QTest::newRow("other method")
            << QByteArray(makeRequest(1, "status", Json::object()).c_str())
            << errc::kHandshakeRequired;
        QTest::newRow("future protocol")
            << QByteArray(makeRequest(1, "hello", Json{{"protocol", 2}}).c_str())
            << errc::kHandshakeRequired;
        QTest::newRow("hello without params")
            << QByteArray(makeRequest(1, "hello").c_str()) << errc::kHandshakeRequired;
        QTest::newRow("not json") << QByteArray("{nope") << errc::kParseError;
        QTest::newRow("not json-rpc")
            << QByteArray(R"({"method":"hello"})") << errc::kInvalidRequest;
    }
    void firstCallMustBeHello() {
        QFETCH(QByteArray, payload);
        QFETCH(int, code);
        QVERIFY(startServer(testLimits()));
        RawClient c;
        QVERIFY(c.connect(endpoint_));
        QVERIFY(c.sendFrame(payload.toStdString()));
        const auto r = c.next();
        QVERIFY(r.has_value());
        QCOMPARE(errorCode(*r), code);
        QVERIFY2(c.closedWithin(2s), "a failed handshake must close the connection");
    }

    void statusAndStats() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        const auto status = c->call("status")["result"];
        QCOMPARE(status["version"], Json("9.9.9-test"));
        QCOMPARE(status["workers"], Json(2));
        QCOMPARE(status["config_version"], Json(1));
        QCOMPARE(status["control"]["clients"].size(), std::size_t{1});
        QCOMPARE(status["control"]["clients"][0]["client"], Json("test"));
        QCOMPARE(c->call("stats.get")["result"]["requests"]["total"], Json(42));
        const auto methods = c->call("methods")["result"]["methods"];
        QVERIFY(methods.size() >= 14);
    }

    void configGetValidate() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        auto r = c->call("config.get")["result"];
        QCOMPARE(r["version"], Json(1));
        QCOMPARE(r["config"]["listeners"][0]["address"], Json("127.0.0.1:8080"));
        r = c->call("config.get", {{"format", "text"}})["result"];
        QCOMPARE(r["text"], Json(configText(8080)));
        QCOMPARE(errorCode(c->call("config.get", {{"version", 99}})), errc::kNotFound);
        QCOMPARE(errorCode(c->call("config.get", {{"format", "yaml"}})), errc::kInvalidParams);

        r = c->call("config.validate", {{"config", configText(8081)}})["result"];
        QCOMPARE(r["valid"], Json(true));
        r = c->call("config.validate", {{"config", Json::parse(configText(8081))}})["result"];
        QCOMPARE(r["valid"], Json(true));
        r = c->call("config.validate", {{"config", R"({"listeners": 3})"}})["result"];
        QCOMPARE(r["valid"], Json(false));
        QVERIFY(!r["diagnostics"].empty());
        QCOMPARE(r["diagnostics"][0]["path"], Json("/listeners"));
        QCOMPARE(listenerCalls_.load(), 0);
    }

    void configApplyConflictInvalidRollback() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        auto r =
            c->call("config.apply",
                    {{"config", configText(8081)}, {"base_version", 1}, {"note", "port change"}});
        QCOMPARE(r["result"]["version"], Json(2));
        QCOMPARE(r["result"]["changed"], Json(true));
        QCOMPARE(listenerCalls_.load(), 1);
        QCOMPARE(readFile(root_ / "config.json"), configText(8081));

        r = c->call("config.apply", {{"config", configText(8082)}, {"base_version", 1}});
        QCOMPARE(errorCode(r), errc::kConflict);
        QCOMPARE(r["error"]["data"]["current_version"], Json(2));

        r = c->call("config.apply",
                    {{"config", R"({"listeners": [{"name": 1}]})"}, {"base_version", 2}});
        QCOMPARE(errorCode(r), errc::kInvalidConfig);
        QVERIFY(r["error"]["data"]["diagnostics"].size() >= 1);
        QCOMPARE(readFile(root_ / "config.json"), configText(8081));

        const auto history = c->call("config.history")["result"];
        QCOMPARE(history["current_version"], Json(2));
        QCOMPARE(history["versions"].size(), std::size_t{2});
        QCOMPARE(history["versions"][0]["version"], Json(2));  // newest first
        QCOMPARE(history["versions"][0]["note"], Json("port change"));
        QVERIFY(history["versions"][0]["applied_by"].get<std::string>().find("via test") !=
                std::string::npos);

        const auto diff = c->call("config.diff", {{"from", 1}, {"to", 2}})["result"];
        QVERIFY(diff["diff"].get<std::string>().find("+      \"address\": \"127.0.0.1:8081\"") !=
                std::string::npos);
        QCOMPARE(errorCode(c->call("config.diff", {{"from", 7}})), errc::kNotFound);

        r = c->call("config.rollback", {{"version", 1}});
        QCOMPARE(r["result"]["version"], Json(3));
        QCOMPARE(readFile(root_ / "config.json"), configText(8080));
        QCOMPARE(errorCode(c->call("config.rollback", {{"version", 1}, {"base_version", 2}})),
                 errc::kConflict);
        QCOMPARE(listenerCalls_.load(), 2);
    }

    void upstreams() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        const auto list = c->call("upstreams.list")["result"];
        QCOMPARE(list["upstreams"][0]["servers"][0]["health"], Json("up"));
        for (const char* op : {"drain", "disable", "enable"}) {
            const auto r = c->call(std::string("upstreams.") + op,
                                   {{"upstream", "app"}, {"server", "127.0.0.1:9000"}});
            QCOMPARE(r["result"]["state"], Json(op));
        }
        QCOMPARE(backend_->stateChanges.size(), std::size_t{3});
        QCOMPARE(backend_->stateChanges[0], std::string("app/127.0.0.1:9000=drain"));
        const auto r = c->call("upstreams.drain", {{"upstream", "nope"}, {"server", "x"}});
        QCOMPARE(errorCode(r), errc::kInvalidParams);
        QVERIFY(r["error"]["message"].get<std::string>().find("nope") != std::string::npos);
    }

    void unknownMethodAndBadParams_data() {
        QTest::addColumn<QString>("method");
        QTest::addColumn<QByteArray>("params");
        QTest::addColumn<int>("code");
        QTest::newRow("unknown") << "nope.nothing" << QByteArray("{}") << errc::kMethodNotFound;
        QTest::newRow("diff from string")
            << "config.diff" << QByteArray(R"({"from":"x"})") << errc::kInvalidParams;
        QTest::newRow("diff negative")
            << "config.diff" << QByteArray(R"({"from":-1})") << errc::kInvalidParams;
        QTest::newRow("apply config number")
            << "config.apply" << QByteArray(R"({"config":5,"base_version":1})")
            << errc::kInvalidParams;
        QTest::newRow("apply no base")
            << "config.apply" << QByteArray(R"({"config":"{}"})") << errc::kInvalidParams;
        QTest::newRow("apply params array")
            << "config.apply" << QByteArray("[1,2]") << errc::kInvalidParams;
        QTest::newRow("drain upstream number")
            << "upstreams.drain" << QByteArray(R"({"upstream":1,"server":"a"})")
            << errc::kInvalidParams;
        QTest::newRow("drain no server")
            << "upstreams.drain" << QByteArray(R"({"upstream":"app"})") << errc::kInvalidParams;
        QTest::newRow("get params array")
            << "config.get" << QByteArray("[]") << errc::kInvalidParams;
        QTest::newRow("rollback version bool")
            << "config.rollback" << QByteArray(R"({"version":true})") << errc::kInvalidParams;
        QTest::newRow("validate missing")
            << "config.validate" << QByteArray("{}") << errc::kInvalidParams;
    }
    void unknownMethodAndBadParams() {
        QFETCH(QString, method);
        QFETCH(QByteArray, params);
        QFETCH(int, code);
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        const auto r = c->call(method.toStdString(), Json::parse(params.toStdString()));
        QCOMPARE(errorCode(r), code);
        QVERIFY(r["error"]["message"].is_string());
        // The connection stays usable after an error.
        QVERIFY(c->call("ping").contains("result"));
        QCOMPARE(listenerCalls_.load(), 0);
    }

    // Malformed frames after hello: JSON errors are answered and the client stays; framing errors
    // cannot be resynchronised, so they are answered and the connection closes.
    void garbageAfterHello() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        QVERIFY(c->sendFrame("this is not json"));
        auto r = c->next();
        QVERIFY(r);
        QCOMPARE(errorCode(*r), errc::kParseError);
        QVERIFY((*r)["id"].is_null());
        QVERIFY(c->sendFrame(""));  // zero-length frame
        r = c->next();
        QVERIFY(r);
        QCOMPARE(errorCode(*r), errc::kParseError);
        QVERIFY(c->sendFrame("[1,2,3]"));
        r = c->next();
        QVERIFY(r);
        QCOMPARE(errorCode(*r), errc::kInvalidRequest);
        QVERIFY(c->call("ping").contains("result"));

        QVERIFY(c->sendRaw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        r = c->next();
        QVERIFY(r);
        QCOMPARE(errorCode(*r), errc::kInvalidRequest);
        QVERIFY((*r)["error"]["message"].get<std::string>().find("exceeds the limit") !=
                std::string::npos);
        QVERIFY(c->closedWithin(2s));
    }

    void frameOverLimit() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        // Only the prefix is sent: the verdict must not wait for a body that never comes.
        const std::string prefix = encodeFrame(std::string(64 * 1024 + 1, ' ')).substr(0, 4);
        QVERIFY(c->sendRaw(prefix));
        const auto r = c->next();
        QVERIFY(r);
        QCOMPARE(errorCode(*r), errc::kInvalidRequest);
        QVERIFY(c->closedWithin(2s));
        QVERIFY(waitClientCount(0));
        // A frame exactly at the limit is fine.
        RawClient d;
        QVERIFY(d.connect(endpoint_));
        QCOMPARE(d.hello()["result"]["protocol"], Json(1));
        std::string payload = makeRequest(5, "ping", Json::object());
        payload.insert(1, std::string(64 * 1024 - payload.size(), ' '));  // JSON whitespace
        QCOMPARE(payload.size(), std::size_t{64 * 1024});
        QVERIFY(d.sendFrame(payload));
        const auto ok = d.next();
        QVERIFY(ok);
        QCOMPARE((*ok)["id"], Json(5));
    }

    void truncatedFrameThenClose() {
        QVERIFY(startServer(testLimits()));
        {
            RawClient c;
            QVERIFY(c.connect(endpoint_));
            QCOMPARE(c.hello()["result"]["protocol"], Json(1));
            QCOMPARE(clientCount(), 1);
            const std::string frame = encodeFrame(makeRequest(2, "status", Json::object()));
            QVERIFY(c.sendRaw(frame.substr(0, frame.size() / 2)));
            c.shutdownWrite();
            QVERIFY(c.closedWithin(2s));
        }
        QVERIFY(waitClientCount(0));
        std::vector<std::unique_ptr<RawClient>> keep;
        QVERIFY(helloClient(keep));
    }

    void tooManyClients() {
        QVERIFY(startServer(testLimits()));  // maxClients = 4
        std::vector<std::unique_ptr<RawClient>> keep;
        for (int i = 0; i < 4; ++i) QVERIFY(helloClient(keep));
        RawClient extra;
        QVERIFY(extra.connect(endpoint_));
        const auto r = extra.next();
        QVERIFY(r);
        QCOMPARE(errorCode(*r), errc::kTooManyClients);
        QVERIFY(extra.closedWithin(2s));
        QCOMPARE(server_->dumpState()["counters"]["refused_too_many"], Json(1));
        // The admitted ones are unaffected, and a freed slot can be used again.
        QVERIFY(keep[0]->call("ping").contains("result"));
        keep[3]->close();
        QVERIFY(waitClientCount(3));
        RawClient again;
        QVERIFY(again.connect(endpoint_));
        QCOMPARE(again.hello()["result"]["protocol"], Json(1));
    }

    void silentClientIsClosed() {
        QVERIFY(startServer(testLimits()));  // helloTimeout = 400 ms
        RawClient silent;
        QVERIFY(silent.connect(endpoint_));
        const auto started = Clock::now();
        QVERIFY(silent.closedWithin(3s));
        QVERIFY(Clock::now() - started >= 350ms);
        // Trickling bytes does not extend the hello deadline.
        RawClient trickle;
        QVERIFY(trickle.connect(endpoint_));
        const std::string frame = encodeFrame(makeRequest(1, "hello", Json{{"protocol", 1}}));
        const auto t0 = Clock::now();
        bool closed = false;
        for (std::size_t i = 0; i + 1 < frame.size() && !closed; ++i) {
            trickle.sendRaw(frame.substr(i, 1));
            closed = trickle.closedWithin(50ms);
        }
        QVERIFY(closed || trickle.closedWithin(2s));
        QVERIFY(Clock::now() - t0 < 2s);
        QVERIFY(server_->dumpState()["counters"]["timeouts"].get<int>() >= 2);
        QVERIFY(waitClientCount(0));
    }

    void idleTimeoutAfterHello() {
        auto limits = testLimits();
        limits.idleTimeout = 300ms;
        QVERIFY(startServer(limits));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* c = helloClient(keep);
        QVERIFY(c);
        QVERIFY(c->closedWithin(3s));
    }

    // One client floods its own queue and never reads; the others keep getting prompt answers, and
    // the flooder is disconnected when its queue passes the bound.
    void slowReaderDoesNotBlockOthers() {
        auto limits = testLimits();
        limits.maxQueuedBytes = 64 * 1024;
        QVERIFY(startServer(limits));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* slow = helloClient(keep);
        auto* fast = helloClient(keep);
        QVERIFY(slow && fast);
        // 640 KB of notifications: more than the kernel's socket buffer (~210 KB) plus the
        // 64 KiB queue bound, so the queue must overflow.
        QVERIFY(slow->sendFrame(makeRequest(99, "test.flood", {{"count", 80}, {"size", 8000}})));
        auto worst = Clock::duration::zero();
        for (int i = 0; i < 30; ++i) {
            const auto t0 = Clock::now();
            const auto r = fast->call("ping", Json::object(), 2s);
            worst = std::max(worst, Clock::now() - t0);
            QVERIFY(r.contains("result"));
            std::this_thread::sleep_for(10ms);
        }
        qInfo("slowest ping while another client floods: %lld us",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::microseconds>(worst).count()));
        QVERIFY(worst < 1s);  // well under the 1.5 s write deadline a blocked server would show
        QVERIFY(waitClientCount(1, 10s));
        QCOMPARE(server_->dumpState()["counters"]["slow_disconnects"], Json(1));
        QVERIFY(fast->call("ping").contains("result"));
    }

    // A client that reads nothing at all is cut off by the write deadline even under the bound.
    void writeDeadline() {
        auto limits = testLimits();
        limits.maxQueuedMessages = 100000;
        limits.maxQueuedBytes = 64u << 20;
        limits.writeTimeout = 300ms;
        QVERIFY(startServer(limits));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* slow = helloClient(keep);
        QVERIFY(slow);
        // 1.2 MB: more than the kernel buffers, far under the queue bound.
        QVERIFY(slow->sendFrame(makeRequest(99, "test.flood", {{"count", 300}, {"size", 4000}})));
        QVERIFY(waitClientCount(0, 10s));
        QVERIFY(server_->dumpState()["counters"]["timeouts"].get<int>() >= 1);
    }

    void configChangedNotification() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* a = helloClient(keep);
        auto* b = helloClient(keep);
        QVERIFY(a && b);
        RawClient before;  // connected but no hello: hears nothing
        QVERIFY(before.connect(endpoint_));
        QCOMPARE(a->call("config.apply",
                         {{"config", configText(8085)}, {"base_version", 1}})["result"]["version"],
                 Json(2));
        const auto note = b->next();
        QVERIFY(note);
        QCOMPARE((*note)["method"], Json("config.changed"));
        QCOMPARE((*note)["params"]["version"], Json(2));
        QVERIFY(!note->contains("id"));
        // The applying client hears it too (after its response).
        const auto own = a->next();
        QVERIFY(own);
        QCOMPARE((*own)["method"], Json("config.changed"));
        // A change from outside the channel (SIGHUP reload) is announced the same way.
        writeFile(root_ / "config.json", configText(8086));
        QVERIFY(store_->reload("sighup").ok());
        const auto reloaded = b->next();
        QVERIFY(reloaded);
        QCOMPARE((*reloaded)["params"]["version"], Json(3));
        QCOMPARE((*reloaded)["params"]["applied_by"], Json("sighup"));
        const auto early = before.next(300ms);
        QVERIFY(!early || (*early).contains("error"));  // at most its hello timeout error
        server_->broadcast("test.broadcast", {{"x", 1}});
        const auto broadcast = b->next();
        QVERIFY(broadcast);
        QCOMPARE((*broadcast)["method"], Json("test.broadcast"));
    }

    void stopWithClientsConnected() {
        QVERIFY(startServer(testLimits()));
        std::vector<std::unique_ptr<RawClient>> keep;
        auto* a = helloClient(keep);
        auto* b = helloClient(keep);
        QVERIFY(a && b);
        RawClient half;
        QVERIFY(half.connect(endpoint_));
        QVERIFY(half.sendRaw(std::string("\0\0\0\x10{", 5)));
        stopServer();
        QVERIFY(a->closedWithin(1s));
        QVERIFY(b->closedWithin(1s));
        QVERIFY(half.closedWithin(1s));
        QVERIFY(!fs::exists(endpoint_));
    }

    // The credential check, with a client process running as uid 65534 (nobody).
    void otherUidIsChecked_data() {
        QTest::addColumn<QString>("readOnlyGroup");
        QTest::addColumn<QString>("expect");  // "no-connect", "forbidden", "read-only"
        QTest::newRow("no read-only group: the folder keeps it out") << ""
                                                                     << "no-connect";
        QTest::newRow("not in the read-only group") << "daemon"
                                                    << "forbidden";
        QTest::newRow("in the read-only group") << "nogroup"
                                                << "read-only";
    }
    void otherUidIsChecked() {
        QFETCH(QString, readOnlyGroup);
        QFETCH(QString, expect);
        if (geteuid() != 0) QSKIP("needs root to run a client as another uid");
        if (!getgrnam(readOnlyGroup.toStdString().c_str()) && !readOnlyGroup.isEmpty())
            QSKIP("the group does not exist here");
        // nobody must be able to reach <tmp>/<test>/run/: open the folders above it.
        for (fs::path p = root_;
             p != p.root_path() && p.string().size() >= std::size_t(dir_.path().size());
             p = p.parent_path()) {
            ::chmod(p.c_str(), 0755);
        }
        QVERIFY(startServer(testLimits(), readOnlyGroup.toStdString()));

        // Everything the child needs is prepared before fork(): it only makes system calls.
        const std::string requests =
            encodeFrame(makeRequest(1, "hello", Json{{"protocol", 1}, {"client", "nobody"}})) +
            encodeFrame(makeRequest(2, "status", Json::object())) +
            encodeFrame(
                makeRequest(3, "config.apply", {{"config", configText(9)}, {"base_version", 1}}));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, endpoint_.c_str(), endpoint_.size() + 1);
        int out[2];
        QVERIFY(::pipe(out) == 0);
        const pid_t pid = ::fork();
        QVERIFY(pid >= 0);
        if (pid == 0) {
            ::close(out[0]);
            const gid_t nogroup = 65534;
            if (::setgroups(1, &nogroup) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)
                ::_exit(10);
            const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(20);
            ::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL);
            char buffer[65536];
            for (;;) {
                pollfd p{fd, POLLIN, 0};
                if (::poll(&p, 1, 1000) <= 0) break;  // the server answered all it will
                const auto n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n <= 0) {
                    ::_exit(::write(out[1], buffer, 0) == 0 ? 30 : 31);  // closed by the server
                }
                if (::write(out[1], buffer, static_cast<std::size_t>(n)) != n) ::_exit(40);
            }
            ::_exit(0);  // still open when it stopped listening
        }
        ::close(out[1]);
        std::string received;
        char buffer[65536];
        for (;;) {
            const auto n = ::read(out[0], buffer, sizeof buffer);
            if (n <= 0) break;
            received.append(buffer, static_cast<std::size_t>(n));
        }
        ::close(out[0]);
        int status = 0;
        ::waitpid(pid, &status, 0);
        QVERIFY(WIFEXITED(status));
        const int code = WEXITSTATUS(status);
        std::vector<Json> answers;
        FrameReader reader;
        reader.append(received);
        for (auto f = reader.next(); f.status == FrameStatus::Frame; f = reader.next())
            answers.push_back(Json::parse(f.payload, nullptr, false));

        if (expect == "no-connect") {
            QCOMPARE(code, 20);
            QCOMPARE(server_->dumpState()["counters"]["accepted"], Json(0));
        } else if (expect == "forbidden") {
            QCOMPARE(code, 30);  // closed by the server
            QCOMPARE(answers.size(), std::size_t{1});
            QCOMPARE(errorCode(answers[0]), errc::kForbidden);
            QVERIFY(answers[0]["error"]["message"].get<std::string>().find("uid 65534") !=
                    std::string::npos);
            QCOMPARE(server_->dumpState()["counters"]["refused_credentials"], Json(1));
        } else {
            QCOMPARE(code, 0);
            QCOMPARE(answers.size(), std::size_t{3});
            QCOMPARE(answers[0]["result"]["role"], Json("read-only"));
            QCOMPARE(answers[1]["result"]["config_version"], Json(1));
            QCOMPARE(errorCode(answers[2]), errc::kForbidden);
            QCOMPARE(readFile(root_ / "config.json"), configText(8080));
        }
        QCOMPARE(listenerCalls_.load(), 0);
    }

    void proxyctlCommands() {
        QVERIFY(startServer(testLimits()));
        auto r = proxyctl({"status"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("config_version: 1"), qPrintable(r.out));
        QVERIFY(r.out.contains("workers: 2"));

        r = proxyctl({"--json", "status"});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(Json::parse(r.out.toStdString())["config_version"], Json(1));

        r = proxyctl({"config", "get"});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(r.out.toStdString(), configText(8080));

        writeFile(root_ / "good.json", configText(8090));
        writeFile(root_ / "bad.json", R"({"listeners": [{"name": "x", "address": "nowhere"}]})");
        r = proxyctl(
            {"config", "validate", QString::fromStdString((root_ / "good.json").string())});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("is valid"));
        r = proxyctl({"config", "validate", QString::fromStdString((root_ / "bad.json").string())});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.out.contains("/listeners/0/address"), qPrintable(r.out));

        r = proxyctl({"config", "apply", QString::fromStdString((root_ / "bad.json").string())});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("invalid_config") && r.err.contains("/listeners/0/address"),
                 qPrintable(r.err));
        r = proxyctl({"config", "apply", QString::fromStdString((root_ / "good.json").string()),
                      "--note", "from proxyctl"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("applied: version 2"), qPrintable(r.out));
        QCOMPARE(readFile(root_ / "config.json"), configText(8090));
        r = proxyctl({"config", "apply", QString::fromStdString((root_ / "good.json").string()),
                      "--base", "1"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("conflict"));
        QVERIFY(r.err.contains("current version: 2"));

        r = proxyctl({"config", "history"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("2 *") && r.out.contains("from proxyctl"), qPrintable(r.out));
        r = proxyctl({"config", "diff", "1", "2"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("+      \"address\": \"127.0.0.1:8090\""));
        r = proxyctl({"config", "rollback", "1"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("applied: version 3"));
        r = proxyctl({"config", "diff", "9"});
        QCOMPARE(r.exitCode, 1);

        r = proxyctl({"upstreams", "list"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY2(r.out.contains("upstream app") && r.out.contains("127.0.0.1:9000"),
                 qPrintable(r.out));
        r = proxyctl({"upstreams", "drain", "app", "127.0.0.1:9000"});
        QCOMPARE(r.exitCode, 0);
        r = proxyctl({"upstreams", "drain", "nope", "x"});
        QCOMPARE(r.exitCode, 1);
        r = proxyctl({"stats"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("total: 42"));
        r = proxyctl({"call", "config.get", R"({"version": 1})"});
        QCOMPARE(r.exitCode, 0);
        QCOMPARE(Json::parse(r.out.toStdString())["version"], Json(1));
        r = proxyctl({"call", "no.such.method"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains("method_not_found"));

        // Usage errors never need a server.
        for (const QStringList& bad :
             {QStringList{"bogus"}, QStringList{"config"}, QStringList{"config", "diff", "x"},
              QStringList{"call", "m", "not json"}, QStringList{"--timeout", "-1", "status"},
              QStringList{"config", "apply", "/nonexistent/file.json"}}) {
            QCOMPARE(proxyctl(bad, "/nonexistent/socket").exitCode, 2);
        }
        QCOMPARE(proxyctl({"status"}, QString::fromStdString((root_ / "nothing.sock").string()))
                     .exitCode,
                 3);
    }

    // Exit code 4: a peer that accepts and never answers, and one that answers garbage.
    void proxyctlTimeoutAndProtocolError() {
        const std::string path = (root_ / "mute.sock").string();
        const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        QVERIFY(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        QVERIFY(::listen(listener, 4) == 0);
        const auto t0 = Clock::now();
        auto r = proxyctl({"--timeout", "0.5", "status"}, QString::fromStdString(path));
        QCOMPARE(r.exitCode, 4);
        QVERIFY(Clock::now() - t0 < 10s);
        QVERIFY(r.err.contains("timed out"));

        ::close(listener);

        const std::string garbagePath = (root_ / "garbage.sock").string();
        const int second = ::socket(AF_UNIX, SOCK_STREAM, 0);
        std::memcpy(addr.sun_path, garbagePath.c_str(), garbagePath.size() + 1);
        QVERIFY(::bind(second, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        QVERIFY(::listen(second, 4) == 0);
        std::thread garbage([second] {
            const int fd = ::accept(second, nullptr, nullptr);
            if (fd < 0) return;
            const std::string junk = encodeFrame("definitely not json");
            (void)::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
            std::this_thread::sleep_for(300ms);
            ::close(fd);
        });
        const auto t1 = Clock::now();
        r = proxyctl({"--timeout", "5", "status"}, QString::fromStdString(garbagePath));
        garbage.join();
        ::close(second);
        QCOMPARE(r.exitCode, 4);
        QVERIFY2(r.err.contains("invalid message"), qPrintable(r.err));
        QVERIFY(Clock::now() - t1 < 4s);  // answered by the protocol error, not the timeout
    }
};

QTEST_GUILESS_MAIN(ControlServerTest)
#include "control_server_test.moc"
