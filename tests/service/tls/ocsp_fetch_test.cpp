// OCSP stapling with responses the service fetches itself (tls/ocsp_fetcher.h), against the real
// service and an OCSP responder in the test. Certificates are made at test time, each naming in
// its AIA a responder URL whose path picks what the responder does (ocsp_test_responder.h). Shown:
// a good response is stapled (and verifies for the certificate), refreshed, kept across reloads,
// fetched by GET or POST or through a proxy, signed by the CA or by a delegated responder;
// revoked / unknown / garbage / another certificate's / badly signed / signed by a certificate
// without OCSP signing / thisUpdate in the future / nextUpdate passed / unsuccessful / HTTP 500 /
// responder down / responder too slow / issuer missing from the chain are never
// stapled, and status and the log say why; the last good response is stapled until its
// nextUpdate, then nothing is; a response file wins over fetching; ocsp.fetch false fetches
// nothing; the service stays responsive throughout.
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include <QFile>
#include <QProcess>
#include <QThread>
#include <QTest>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "ocsp_test_responder.h"
#include "proxy_process.h"
#include "raw_client.h"
#include "tls_test_support.h"

using namespace proxy::test;
using json = nlohmann::json;

namespace {

std::int64_t nowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

X509* readCert(const std::string& file) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr) return nullptr;
    X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    return cert;
}

}  // namespace

class OcspFetchTest : public QObject {
    Q_OBJECT

    QTemporaryDir certs_;
    std::unique_ptr<OcspTestResponder> responder_;
    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;      // the fetching listener
    int nofetch_ = 0;   // a listener with ocsp.fetch false
    int proxied_ = 0;   // a listener whose fetches go through an HTTP proxy (the responder itself)
    int downPort_ = 0;  // nothing listens there
    int refresh_ = 2;   // ocsp.refresh_seconds of the fetching listener

    // In the order of the listener's certificates (the first is the default).
    const QStringList names_ = {"good",      "revoked",      "garbage", "other",  "badsig",
                                "error",     "unauth",       "slow",    "down",   "noissuer",
                                "flaky",     "post",         "file",    "future", "stale",
                                "delegated", "nodelegation", "unknown"};

    std::string path(const QString& file) const { return certs_.filePath(file).toStdString(); }

    // NAME.pem (the leaf alone), NAME-chain.pem (leaf and CA), NAME.key, for NAME.test, naming
    // `url` as its OCSP responder.
    bool makeLeafWithResponder(const QString& name, const QString& url) {
        const QString dir = certs_.path();
        if (!runOpenssl(dir, {"req",
                              "-x509",
                              "-CA",
                              "ca.pem",
                              "-CAkey",
                              "ca.key",
                              "-newkey",
                              "ec",
                              "-pkeyopt",
                              "ec_paramgen_curve:prime256v1",
                              "-nodes",
                              "-keyout",
                              name + ".key",
                              "-out",
                              name + ".pem",
                              "-days",
                              "90",
                              "-subj",
                              "/CN=" + name + ".test",
                              "-addext",
                              "subjectAltName=DNS:" + name + ".test",
                              "-addext",
                              "authorityInfoAccess=OCSP;URI:" + url}))
            return false;
        QFile leaf(certs_.filePath(name + ".pem"));
        QFile ca(certs_.filePath("ca.pem"));
        QFile chain(certs_.filePath(name + "-chain.pem"));
        if (!leaf.open(QIODevice::ReadOnly) || !ca.open(QIODevice::ReadOnly) ||
            !chain.open(QIODevice::WriteOnly))
            return false;
        chain.write(leaf.readAll() + ca.readAll());
        return true;
    }

    json certificate(const QString& name) const {
        json c = {{"cert", path(name == "noissuer" ? name + ".pem" : name + "-chain.pem")},
                  {"key", path(name + ".key")}};
        if (name == "file") c["ocsp_response"] = path("file-ocsp.der");
        return c;
    }

    json config() const {
        json certificates = json::array();
        for (const QString& name : names_) certificates.push_back(certificate(name));
        const auto origin = "127.0.0.1:" + std::to_string(origin_->port());
        return {
            {"workers", 2},
            {"control", {{"endpoint", proxy_->dir().toStdString() + "/control.sock"}}},
            {"logging", {{"level", "debug"}}},
            {"listeners",
             json::array(
                 {{{"name", "secure"},
                   {"address", "127.0.0.1:" + std::to_string(port_)},
                   {"tls",
                    {{"certificates", certificates},
                     {"ocsp", {{"timeout_ms", 1500}, {"refresh_seconds", refresh_}}}}}},
                  {{"name", "nofetch"},
                   {"address", "127.0.0.1:" + std::to_string(nofetch_)},
                   {"tls",
                    {{"certificates", json::array({certificate("good")})},
                     {"ocsp", {{"fetch", false}}}}}},
                  {{"name", "proxied"},
                   {"address", "127.0.0.1:" + std::to_string(proxied_)},
                   {"tls",
                    {{"certificates", json::array({certificate("proxied")})},
                     {"ocsp", {{"proxy", "127.0.0.1:" + std::to_string(responder_->port())}}}}}}})},
            {"upstreams",
             json::array({{{"name", "app"}, {"servers", json::array({{{"address", origin}}})}}})},
            {"routes", json::array({{{"name", "main"}, {"upstream", "app"}}})}};
    }

    bool waitForOutput(const QString& text, int ms = 10000) { return proxy::test::waitForOutput(*proxy_, text, ms); }

    json status() { return proxyctlStatus(proxy_->dir()); }

    // The status entry of certificate `name` on `listener`.
    json certStatus(const QString& name, const std::string& listener = "secure") {
        const json all = status();
        if (!all.is_object()) return json::object();
        for (const json& c : all.value("tls_certificates", json::array()))
            if (c.value("listener", "") == listener &&
                c.value("subject", "") == "CN=" + name.toStdString() + ".test")
                return c;
        return json::object();
    }

    std::string stapling(const QString& name) {
        return certStatus(name).value("ocsp_stapling", "");
    }

    // The stapled response a client asking for `name` gets ("" = none).
    std::string stapled(const QString& name, int port = 0) {
        TlsClient client(path("ca.pem"));
        if (!client.connect(port ? port : port_, (name + ".test").toStdString()))
            return "handshake failed";
        return client.result().ocsp;
    }

    // The certificate status the response `der` gives for NAME.pem, after checking its signature
    // with the CA ("" = no valid answer for it).
    std::string verifiedStatus(const std::string& der, const QString& name) {
        const auto* p = reinterpret_cast<const unsigned char*>(der.data());
        OCSP_RESPONSE* response = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
        if (response == nullptr) return "";
        OCSP_BASICRESP* basic = OCSP_response_get1_basic(response);
        X509* ca = readCert(path("ca.pem"));
        X509* cert = readCert(path(name + ".pem"));
        X509_STORE* store = X509_STORE_new();
        X509_STORE_add_cert(store, ca);
        STACK_OF(X509)* certs = sk_X509_new_null();
        sk_X509_push(certs, ca);
        std::string out;
        OCSP_CERTID* id = OCSP_cert_to_id(nullptr, cert, ca);
        int certStatus = -1;
        int reason = 0;
        ASN1_GENERALIZEDTIME *revoked = nullptr, *thisUpdate = nullptr, *nextUpdate = nullptr;
        if (basic != nullptr && OCSP_basic_verify(basic, certs, store, 0) == 1 &&
            OCSP_resp_find_status(basic, id, &certStatus, &reason, &revoked, &thisUpdate,
                                  &nextUpdate) == 1)
            out = OCSP_cert_status_str(certStatus);
        OCSP_CERTID_free(id);
        sk_X509_free(certs);
        X509_STORE_free(store);
        X509_free(cert);
        X509_free(ca);
        OCSP_BASICRESP_free(basic);
        OCSP_RESPONSE_free(response);
        return out;
    }

  private slots:
    void initTestCase() {
        std::signal(SIGPIPE, SIG_IGN);
        QVERIFY(certs_.isValid());
        const QString dir = certs_.path();
        QVERIFY(makeCa(dir));
        responder_ = std::make_unique<OcspTestResponder>();
        responder_->setFlakyValiditySeconds(8);
        downPort_ = freePort();
        const QString base = "http://127.0.0.1:" + QString::number(responder_->port());
        for (const QString& name : names_) {
            QString url = base + "/" + name;
            if (name == "down") url = "http://127.0.0.1:" + QString::number(downPort_) + "/down";
            if (name == "noissuer" || name == "file") url = base + "/good";
            // Long enough that the request no longer fits a GET URL (RFC 5019): POST.
            if (name == "post") url = base + "/good/" + QString(220, 'p');
            QVERIFY2(makeLeafWithResponder(name, url), qPrintable(name));
        }
        // Its responder's name does not resolve: only a fetch through the proxy reaches it.
        QVERIFY(makeLeafWithResponder("proxied", "http://ocsp.invalid/good"));
        QVERIFY(makeOcspResponse(dir, "file"));
        QVERIFY(responder_->load(path("ca.pem"), path("ca.key"), path("good.pem")));
        // A responder certificate the CA issued for OCSP signing (RFC 6960 4.2.2.2).
        QVERIFY(runOpenssl(dir, {"req",
                                 "-x509",
                                 "-CA",
                                 "ca.pem",
                                 "-CAkey",
                                 "ca.key",
                                 "-newkey",
                                 "ec",
                                 "-pkeyopt",
                                 "ec_paramgen_curve:prime256v1",
                                 "-nodes",
                                 "-keyout",
                                 "responder.key",
                                 "-out",
                                 "responder.pem",
                                 "-days",
                                 "90",
                                 "-subj",
                                 "/CN=Proxy Test OCSP Responder",
                                 "-addext",
                                 "extendedKeyUsage=OCSPSigning"}));
        QVERIFY(responder_->setSigners(path("responder.pem"), path("responder.key"),
                                       path("good.pem"), path("good.key")));
        origin_ = std::make_unique<FakeOrigin>("origin");
        proxy_ = std::make_unique<ProxyProcess>();
        port_ = freePort();
        nofetch_ = freePort();
        proxied_ = freePort();
        QVERIFY2(proxy_->start(config().dump(), port_), qPrintable(proxy_->output()));
        QVERIFY(waitForOutput("started"));
    }

    void cleanupTestCase() {
        // Stops promptly even with a fetch hanging on the slow responder.
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
    }

    void goodResponseIsStapled() {
        QTRY_COMPARE_WITH_TIMEOUT(stapling("good"), std::string("fetched"), 20000);
        const json s = certStatus("good");
        QCOMPARE(s.value("ocsp_cert_status", ""), std::string("good"));
        QCOMPARE(s.value("ocsp_error", "x"), std::string());
        QCOMPARE(s.value("ocsp_url", ""),
                 "http://127.0.0.1:" + std::to_string(responder_->port()) + "/good");
        const auto now = nowSeconds();
        QVERIFY(s.value("ocsp_next_update", std::int64_t{0}) > now + 3600);
        QVERIFY(s.value("ocsp_last_fetch", std::int64_t{0}) > now - 60);
        QVERIFY(s.value("ocsp_next_refresh", std::int64_t{0}) >=
                s.value("ocsp_last_fetch", std::int64_t{0}));
        const std::string der = stapled("good");
        QVERIFY(!der.empty());
        QCOMPARE(QString::fromStdString(verifiedStatus(der, "good")), QString("good"));
        // A short request goes by GET (cacheable, RFC 5019).
        QVERIFY(responder_->count("good", "GET") >= 1);
        QVERIFY(waitForOutput("OCSP response for 'CN=good.test'"));
    }

    void delegatedResponderIsAccepted() {
        QTRY_COMPARE_WITH_TIMEOUT(stapling("delegated"), std::string("fetched"), 20000);
        QCOMPARE(QString::fromStdString(verifiedStatus(stapled("delegated"), "delegated")),
                 QString("good"));
    }

    void longRequestsArePosted() {
        QTRY_COMPARE_WITH_TIMEOUT(stapling("post"), std::string("fetched"), 20000);
        QVERIFY(responder_->count("good", "POST") >= 1);
        QCOMPARE(QString::fromStdString(verifiedStatus(stapled("post"), "post")), QString("good"));
    }

    void responseIsRefreshed() {
        QTRY_VERIFY_WITH_TIMEOUT(certStatus("good").value("ocsp_fetches", 0) >= 1, 20000);
        const std::string first = stapled("good");
        const int fetches = certStatus("good").value("ocsp_fetches", 0);
        // refresh_seconds is 2: two more fetches come within a few seconds.
        QTRY_VERIFY_WITH_TIMEOUT(certStatus("good").value("ocsp_fetches", 0) >= fetches + 2, 20000);
        const std::string second = stapled("good");
        QVERIFY(!second.empty());
        QVERIFY(second != first);  // a newly signed response
        QCOMPARE(QString::fromStdString(verifiedStatus(second, "good")), QString("good"));
    }

    void badAnswersAreNotStapled_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("error");
        QTest::addColumn<QString>("log");
        QTest::newRow("revoked") << "revoked"
                                 << "revoked"
                                 << "is REVOKED, says its OCSP responder";
        QTest::newRow("status unknown") << "unknown"
                                        << "does not know the certificate"
                                        << "";
        QTest::newRow("garbage") << "garbage"
                                 << "not a DER OCSP response"
                                 << "from http://";
        QTest::newRow("another certificate's") << "other"
                                               << "no status for this certificate"
                                               << "";
        QTest::newRow("badly signed") << "badsig"
                                      << "signature does not verify"
                                      << "";
        QTest::newRow("HTTP 500") << "error"
                                  << "answered HTTP 500"
                                  << "";
        QTest::newRow("unsuccessful") << "unauth"
                                      << "refused the request (unauthorized)"
                                      << "";
        QTest::newRow("too slow") << "slow"
                                  << "timed out"
                                  << "";
        QTest::newRow("down") << "down"
                              << "connecting to 127.0.0.1:"
                              << "";
        QTest::newRow("thisUpdate in the future") << "future"
                                                  << "in the future (is a clock wrong?)"
                                                  << "";
        QTest::newRow("nextUpdate passed") << "stale"
                                           << "stale: its nextUpdate has passed"
                                           << "";
        QTest::newRow("signer not delegated") << "nodelegation"
                                              << "signature does not verify"
                                              << "";
        QTest::newRow("issuer missing from the chain")
            << "noissuer"
            << "chain does not hold its issuer"
            << "OCSP stapling is off for this certificate";
    }
    void badAnswersAreNotStapled() {
        QFETCH(QString, name);
        QFETCH(QString, error);
        QFETCH(QString, log);
        QTRY_COMPARE_WITH_TIMEOUT(stapling(name), std::string("failed"), 20000);
        const json s = certStatus(name);
        QVERIFY2(QString::fromStdString(s.value("ocsp_error", "")).contains(error),
                 s.dump().c_str());
        QVERIFY(stapled(name).empty());
        if (name == "revoked" || name == "unknown")
            QCOMPARE(s.value("ocsp_cert_status", ""), name.toStdString());
        if (name != "noissuer") {
            QVERIFY(s.value("ocsp_failures", 0) >= 1);
            QVERIFY(name == "revoked" ||
                    waitForOutput("tls: fetching the OCSP response for 'CN=" + name + ".test'"));
        }
        if (!log.isEmpty()) QVERIFY2(waitForOutput(log), qPrintable(proxy_->output().right(3000)));
        // Never stuck: the default certificate still staples, requests still go through.
        QVERIFY(!stapled("good").empty());
        TlsClient client(path("ca.pem"));
        QVERIFY(client.connect(port_, (name + ".test").toStdString()));
        QVERIFY(client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        QVERIFY(client.readResponse().starts_with("HTTP/1.1 200"));
    }

    void slowResponderDoesNotStallTheService() {
        // While the slow responder holds a fetch open, handshakes and status answer at once.
        QElapsedTimer timer;
        timer.start();
        for (int i = 0; i < 5; ++i) QVERIFY(!stapled("good").empty());
        QVERIFY(status().is_object());
        QVERIFY(timer.elapsed() < 10000);
        QVERIFY(responder_->count("slow") >= 1);
    }

    void lastGoodIsStapledUntilItExpires() {
        // flaky's responses are valid for 8 s; from now on its responder fails.
        QTRY_COMPARE_WITH_TIMEOUT(stapling("flaky"), std::string("fetched"), 20000);
        responder_->setFlakyFailing(true);
        QTRY_VERIFY_WITH_TIMEOUT(certStatus("flaky").value("ocsp_failures", 0) >= 1, 20000);
        json s = certStatus("flaky");
        const std::int64_t nextUpdate = s.value("ocsp_next_update", std::int64_t{0});
        QVERIFY(QString::fromStdString(s.value("ocsp_error", "")).contains("HTTP 500"));
        if (nowSeconds() + 1 < nextUpdate) {  // still valid: still stapled
            QCOMPARE(s.value("ocsp_stapling", ""), std::string("fetched"));
            const std::string der = stapled("flaky");
            if (nowSeconds() < nextUpdate)
                QCOMPARE(QString::fromStdString(verifiedStatus(der, "flaky")), QString("good"));
        }
        QVERIFY(waitForOutput("stays stapled until"));
        // Past nextUpdate: nothing is stapled, and status says why.
        QTRY_COMPARE_WITH_TIMEOUT(stapling("flaky"), std::string("expired"), 30000);
        QVERIFY(nowSeconds() >= nextUpdate);
        QVERIFY(stapled("flaky").empty());
        QVERIFY(waitForOutput("has passed its nextUpdate"));
        // The responder recovers: stapled again.
        responder_->setFlakyFailing(false);
        QTRY_COMPARE_WITH_TIMEOUT(stapling("flaky"), std::string("fetched"), 30000);
        QVERIFY(!stapled("flaky").empty());
    }

    void responseFileWinsOverFetching() {
        const json s = certStatus("file");
        QCOMPARE(s.value("ocsp_stapling", ""), std::string("file"));
        QVERIFY(s.value("ocsp_responder", false));
        QFile file(certs_.filePath("file-ocsp.der"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(QByteArray::fromStdString(stapled("file")), file.readAll());
    }

    void fetchFalseFetchesNothing() {
        const json s = certStatus("good", "nofetch");
        QCOMPARE(s.value("ocsp_stapling", ""), std::string("off"));
        QVERIFY(s.value("ocsp_responder", false));
        QVERIFY(stapled("good", nofetch_).empty());
    }

    void fetchesGoThroughTheConfiguredProxy() {
        QTRY_COMPARE_WITH_TIMEOUT(certStatus("proxied", "proxied").value("ocsp_stapling", ""),
                                  std::string("fetched"), 20000);
        QCOMPARE(certStatus("proxied", "proxied").value("ocsp_url", ""),
                 std::string("http://ocsp.invalid/good"));
        TlsClient client(path("ca.pem"));
        QVERIFY(client.connect(proxied_, "proxied.test"));
        QCOMPARE(QString::fromStdString(verifiedStatus(client.result().ocsp, "proxied")),
                 QString("good"));
    }

    void reloadKeepsTheFetchedResponse() {
        QTRY_COMPARE_WITH_TIMEOUT(stapling("good"), std::string("fetched"), 20000);
        const int before = certStatus("good").value("ocsp_fetches", 0);
        const std::int64_t firstSuccess =
            certStatus("good").value("ocsp_last_success", std::int64_t{0});
        QVERIFY(before >= 1);
        refresh_ = 3;  // another ocsp setting: new states for the listener, fetched afresh
        json changed = config();
        refresh_ = 2;
        json same = config();
        same["routes"][0]["name"] = "main-renamed";  // a reload that leaves TLS alone
        QVERIFY(proxy_->writeConfig(same.dump()));
        proxy_->signal(SIGHUP);
        QVERIFY2(waitForOutput("config version 2 is live", 20000),
                 qPrintable(proxy_->output().right(3000)));
        // The same state: its count goes on, and the response is stapled right away.
        const json s = certStatus("good");
        QCOMPARE(s.value("ocsp_stapling", ""), std::string("fetched"));
        QVERIFY(s.value("ocsp_fetches", 0) >= before);
        QVERIFY(s.value("ocsp_last_success", std::int64_t{0}) >= firstSuccess);
        QVERIFY(!stapled("good").empty());
        // Changed OCSP settings make a new state, which fetches on its own.
        QVERIFY(proxy_->writeConfig(changed.dump()));
        proxy_->signal(SIGHUP);
        QVERIFY(waitForOutput("config version 3 is live", 20000));
        QTRY_COMPARE_WITH_TIMEOUT(stapling("good"), std::string("fetched"), 20000);
        QVERIFY(!stapled("good").empty());
        if (qEnvironmentVariableIsSet("OCSP_TEST_DUMP")) qInfo("%s", qPrintable(proxy_->output()));
    }
};

QTEST_GUILESS_MAIN(OcspFetchTest)
#include "ocsp_fetch_test.moc"
