// TLS against the real service: SNI choosing among PEM and PFX certificates, plaintext HTTP and
// garbage on a TLS port, a stalled handshake, old protocol versions refused, resumption,
// certificate problems refused at reload (the old config keeps serving), HTTP -> HTTPS
// redirects with HSTS, a certificate hot
// reload that leaves open connections alone, and re-encryption to a verified and a rejected
// TLS upstream with pooling.
#include <QElapsedTimer>
#include <QProcess>
#include <QThread>
#include <QTest>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>

#include "fake_origin.h"
#include "proxy_process.h"
#include "raw_client.h"
#include "tls_test_support.h"

using namespace proxy::test;
using json = nlohmann::json;

namespace {

std::string get(const std::string& target, const std::string& host = "a.test") {
    return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
}

}  // namespace

class TlsIntegrationTest : public QObject {
    Q_OBJECT

    QTemporaryDir certs_;
    std::unique_ptr<FakeOrigin> origin_;
    std::unique_ptr<TlsOrigin> tlsOrigin_;     // certificate signed by the test CA
    std::unique_ptr<TlsOrigin> rogueOrigin_;   // self-signed: no CA vouches for it
    std::unique_ptr<TlsOrigin> checkedOrigin_; // like tlsOrigin_, health-checked (its own counts)
    std::unique_ptr<ProxyProcess> proxy_;
    int port_ = 0;   // the TLS listener
    int plain_ = 0;  // a plain listener (routes to the TLS upstreams)
    int mtls_ = 0;   // a TLS listener that requires client certificates
    int rotating_ = 0;  // a TLS listener whose ticket keys rotate every kRotation seconds
    static constexpr int kRotation = 3;
    bool marker_ = false;  // config(): add the /marker/ route (shows that a reload was applied)

    std::string path(const char* file) const { return certs_.filePath(file).toStdString(); }

    json config(const json& certificates) const {
        const auto origin = "127.0.0.1:" + std::to_string(origin_->port());
        json out = {
            {"workers", 2},
            {"control", {{"endpoint", proxy_->dir().toStdString() + "/control.sock"}}},
            {"listeners",
             json::array({{{"name", "secure"},
                           {"address", "127.0.0.1:" + std::to_string(port_)},
                           {"tls", {{"certificates", certificates}, {"handshake_timeout_ms", 700}}}},
                          {{"name", "mtls"},
                           {"address", "127.0.0.1:" + std::to_string(mtls_)},
                           {"tls", {{"certificates", json::array({{{"cert", path("a.pem")}, {"key", path("a.key")}}})},
                                    {"client_ca", path("ca.pem")},
                                    {"client_subject_header", "X-Client-Subject"}}}},
                          {{"name", "plain"}, {"address", "127.0.0.1:" + std::to_string(plain_)}},
                          {{"name", "rotating"},
                           {"address", "127.0.0.1:" + std::to_string(rotating_)},
                           {"tls", {{"certificates", json::array({{{"cert", path("a.pem")}, {"key", path("a.key")}}})},
                                    {"ticket_key_rotation_seconds", kRotation}}}}})},
            {"upstreams",
             json::array(
                 {{{"name", "app"}, {"servers", json::array({{{"address", origin}}})}},
                  {{"name", "reencrypt"},
                   {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(tlsOrigin_->port())}}})},
                   {"tls", {{"ca", path("ca.pem")}, {"server_name", "origin.test"}}}},
                  {{"name", "checked"},
                   {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(checkedOrigin_->port())}}})},
                   {"tls", {{"ca", path("ca.pem")}, {"server_name", "origin.test"}}},
                   {"health_check", {{"path", "/health"}, {"interval_ms", 200}, {"timeout_ms", 2000}, {"fall", 1}}}},
                  {{"name", "rogue-checked"},
                   {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(rogueOrigin_->port())}}})},
                   {"tls", {{"ca", path("ca.pem")}, {"server_name", "origin.test"}}},
                   {"health_check", {{"path", "/health"}, {"interval_ms", 200}, {"timeout_ms", 2000}, {"fall", 1}}}},
                  {{"name", "wrongname"},
                   {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(tlsOrigin_->port())}}})},
                   {"tls", {{"ca", path("ca.pem")}, {"server_name", "other.test"}}}},
                  {{"name", "rogue"},
                   {"servers", json::array({{{"address", "127.0.0.1:" + std::to_string(rogueOrigin_->port())}}})},
                   {"tls", {{"ca", path("ca.pem")}, {"server_name", "origin.test"}}}}})},
            {"routes", json::array({{{"name", "up-ok"}, {"listener", "plain"}, {"match", {{"path_prefix", "/ok/"}}}, {"upstream", "reencrypt"}},
                                    {{"name", "up-name"}, {"listener", "plain"}, {"match", {{"path_prefix", "/name/"}}}, {"upstream", "wrongname"}},
                                    {{"name", "up-checked"}, {"listener", "plain"}, {"match", {{"path_prefix", "/checked/"}}}, {"upstream", "checked"}},
                                    {{"name", "up-rogue-checked"}, {"listener", "plain"}, {"match", {{"path_prefix", "/rogue-checked/"}}}, {"upstream", "rogue-checked"}},
                                    {{"name", "up-rogue"}, {"listener", "plain"}, {"match", {{"path_prefix", "/rogue/"}}}, {"upstream", "rogue"}},
                                    // HTTP -> HTTPS (both listeners): plain requests are redirected, TLS ones proxied.
                                    {{"name", "redirect"}, {"match", {{"path_prefix", "/redir/"}}}, {"upstream", "app"},
                                     {"redirect_https", {{"enabled", true}}},
                                     {"response_headers", {{"set", {{"Strict-Transport-Security", "max-age=31536000; includeSubDomains"}}}}}},
                                    {{"name", "redirect-port"}, {"match", {{"path_prefix", "/redir-port/"}}}, {"upstream", "app"},
                                     {"redirect_https", {{"enabled", true}, {"port", port_}, {"status", 301}}}},
                                    {{"name", "main"}, {"upstream", "app"}}})}};
        if (marker_) {
            const json marker = {{"name", "marker"}, {"match", {{"path_prefix", "/marker/"}}}, {"upstream", "app"},
                                 {"redirect_https", {{"enabled", true}}}};
            out["routes"].insert(out["routes"].begin(), marker);
        }
        return out;
    }

    json goodCertificates() const {
        return json::array({{{"cert", path("a.pem")}, {"key", path("a.key")}, {"ocsp_response", path("a-ocsp.der")}},
                            {{"pfx", path("b.pfx")}, {"password", "pfx secret"}}});
    }

    // Waits for the service to log `text` (reload outcomes are logged, not returned).
    bool waitForOutput(const QString& text) { return proxy::test::waitForOutput(*proxy_, text, 5000); }

    json status() { return proxyctlStatus(proxy_->dir()); }

    std::string subjectFor(const std::string& sni) {
        TlsClient client(path("ca.pem"));
        if (!client.connect(port_, sni)) return "handshake failed: " + client.result().error;
        return client.result().peerSubject;
    }

private slots:
    void initTestCase() {
        // The TLS origin and clients write with OpenSSL over plain sockets: a peer that closed
        // (the proxy dropping a pooled connection) must be an error, not the end of the test.
        std::signal(SIGPIPE, SIG_IGN);
        QVERIFY(certs_.isValid());
        const QString dir = certs_.path();
        QVERIFY(makeCa(dir));
        QVERIFY(makeLeaf(dir, "a", {"a.test", "*.wild.test"}));
        QVERIFY(makeLeaf(dir, "b", {"b.test"}));
        QVERIFY(makePfx(dir, "b", "pfx secret"));
        QVERIFY(makeLeaf(dir, "c", {"a.test"}, 3));  // the replacement for a.test (expires soon)
        QVERIFY(makeLeaf(dir, "origin", {"origin.test"}));
        QVERIFY(makeLeaf(dir, "client", {"client.test"}));
        QVERIFY(makeLeaf(dir, "r", {"r.test"}));
        QVERIFY(makeOcspResponse(dir, "a"));
        QVERIFY(makeOcspResponse(dir, "origin"));
        QVERIFY(makeOcspResponse(dir, "r", true));
        QVERIFY(runOpenssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                 "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem", "-days", "2",
                                 "-subj", "/CN=origin.test", "-addext", "subjectAltName=DNS:origin.test"}));
        origin_ = std::make_unique<FakeOrigin>("plain-origin");
        tlsOrigin_ = std::make_unique<TlsOrigin>(path("origin.pem"), path("origin.key"));
        rogueOrigin_ = std::make_unique<TlsOrigin>(path("rogue.pem"), path("rogue.key"));
        checkedOrigin_ = std::make_unique<TlsOrigin>(path("origin.pem"), path("origin.key"));
        proxy_ = std::make_unique<ProxyProcess>();
        port_ = freePort();
        plain_ = freePort();
        mtls_ = freePort();
        rotating_ = freePort();
        QVERIFY2(proxy_->start(config(goodCertificates()).dump(), port_), qPrintable(proxy_->output()));
        QVERIFY(waitForOutput("started"));
    }

    void cleanupTestCase() {
        if (proxy_) QCOMPARE(proxy_->stop(), 0);
    }

    void sniChoosesTheCertificate_data() {
        QTest::addColumn<QString>("sni");
        QTest::addColumn<QString>("subject");
        QTest::newRow("exact, PEM") << "a.test" << "/CN=a.test";
        QTest::newRow("exact, PFX") << "b.test" << "/CN=b.test";
        QTest::newRow("upper case") << "B.TEST" << "/CN=b.test";
        QTest::newRow("wildcard") << "x.wild.test" << "/CN=a.test";
        QTest::newRow("wildcard is one label") << "x.y.wild.test" << "/CN=a.test";
        QTest::newRow("unknown: default") << "nobody.test" << "/CN=a.test";
        QTest::newRow("no SNI: default") << "" << "/CN=a.test";
    }
    void sniChoosesTheCertificate() {
        QFETCH(QString, sni);
        QFETCH(QString, subject);
        QCOMPARE(QString::fromStdString(subjectFor(sni.toStdString())), subject);
    }

    void requestsGoThroughWithHttpsScheme() {
        TlsClient client(path("ca.pem"));
        QVERIFY2(client.connect(port_, "b.test"), client.result().error.c_str());
        QCOMPARE(client.result().alpn, std::string("http/1.1"));  // h2 offered first, not chosen
        QVERIFY(client.result().version == "TLSv1.3");
        for (int i = 0; i < 3; ++i) {  // keep-alive over one TLS connection
            QVERIFY(client.send(get("/echo", "b.test")));
            const std::string response = client.readResponse();
            QVERIFY2(response.starts_with("HTTP/1.1 200"), response.c_str());
            QVERIFY2(response.find("X-Forwarded-Proto: https") != std::string::npos, response.c_str());
        }
    }

    void oldProtocolsAreRefused_data() {
        QTest::addColumn<int>("version");
        QTest::newRow("TLS 1.0") << TLS1_VERSION;
        QTest::newRow("TLS 1.1") << TLS1_1_VERSION;
    }
    void oldProtocolsAreRefused() {
        QFETCH(int, version);
        TlsClient client(path("ca.pem"));
        QVERIFY(!client.connect(port_, "a.test", version));
        // TLS 1.2 still works.
        QVERIFY2(client.connect(port_, "a.test", TLS1_2_VERSION), client.result().error.c_str());
        QCOMPARE(client.result().version, std::string("TLSv1.2"));
    }

    void sessionsResume() {
        TlsClient client(path("ca.pem"));
        QVERIFY(client.connect(port_, "a.test"));
        QVERIFY(client.send(get("/")));
        QVERIFY(!client.readResponse().empty());
        QVERIFY(client.session() != nullptr);
        QVERIFY(!client.result().resumed);
        SSL_SESSION* session = SSL_SESSION_dup(client.session());
        client.close();
        client.setSession(session);
        QVERIFY(client.connect(port_, "a.test"));
        QVERIFY(client.result().resumed);
        QVERIFY(client.send(get("/")));
        QVERIFY(client.readResponse().starts_with("HTTP/1.1 200"));
        client.close();
        SSL_SESSION_free(session);
    }

    // Milliseconds since the Unix epoch (ticket-key periods are cut from it).
    static std::int64_t epochMs() {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    }
    static std::int64_t period() { return epochMs() / (kRotation * 1000); }
    static void sleepUntilPeriod(std::int64_t p, int marginMs) {
        const std::int64_t at = p * kRotation * 1000 + marginMs;
        while (epochMs() < at) QThread::msleep(static_cast<unsigned long>(std::min<std::int64_t>(at - epochMs(), 100)));
    }

    // A ticket from period p resumes in period p + 1 (the previous key is still accepted) and makes
    // a full handshake in period p + 2 (that key is gone). The steps are placed early in their
    // periods; a step that a stalled machine pushed into the wrong period repeats the attempt.
    void ticketKeysRotateWithAGracePeriod() {
        bool checked = false;
        for (int attempt = 0; attempt < 4 && !checked; ++attempt) {
            sleepUntilPeriod(period() + 1, 100);
            const std::int64_t issued = period();
            TlsClient first(path("ca.pem"));
            QVERIFY2(first.connect(rotating_, "a.test"), first.result().error.c_str());
            QVERIFY(first.send(get("/")));
            QVERIFY(first.readResponse().starts_with("HTTP/1.1 200"));
            QVERIFY(first.session() != nullptr);
            // One copy per attempt: a session once resumed is not offered the same way again.
            SSL_SESSION* ticket = SSL_SESSION_dup(first.session());
            SSL_SESSION* ticketAgain = SSL_SESSION_dup(first.session());
            first.close();
            if (period() != issued) {
                SSL_SESSION_free(ticket);
                SSL_SESSION_free(ticketAgain);
                continue;
            }
            sleepUntilPeriod(issued + 1, 100);
            TlsClient grace(path("ca.pem"));
            grace.setSession(ticket);
            QVERIFY2(grace.connect(rotating_, "a.test"), grace.result().error.c_str());
            const bool resumedInGrace = grace.result().resumed;
            const bool graceInTime = period() == issued + 1;
            grace.close();
            sleepUntilPeriod(issued + 2, 100);
            TlsClient late(path("ca.pem"));
            late.setSession(ticketAgain);
            QVERIFY2(late.connect(rotating_, "a.test"), late.result().error.c_str());
            const bool resumedLate = late.result().resumed;
            late.close();
            SSL_SESSION_free(ticket);
            SSL_SESSION_free(ticketAgain);
            if (!graceInTime) continue;
            QVERIFY(resumedInGrace);
            QVERIFY(!resumedLate);
            checked = true;
        }
        QVERIFY2(checked, "the machine was too slow to place a step in its period four times");
    }

    // A reload that leaves the listener's TLS settings alone keeps its ticket keys.
    void ticketsSurviveAReloadWithTheSameSettings() {
        // Early in a period, so the ticket's key is still current or previous after the reload.
        sleepUntilPeriod(period() + 1, 100);
        TlsClient first(path("ca.pem"));
        QVERIFY(first.connect(rotating_, "a.test"));
        QVERIFY(first.send(get("/")));
        QVERIFY(first.readResponse().starts_with("HTTP/1.1 200"));
        SSL_SESSION* ticket = SSL_SESSION_dup(first.session());
        first.close();
        marker_ = true;
        QVERIFY(proxy_->writeConfig(config(goodCertificates()).dump()));
        proxy_->signal(SIGHUP);
        bool applied = false;
        for (int i = 0; i < 250 && !applied; ++i) {
            applied = roundTrip(plain_, get("/marker/")).status == 308;
            if (!applied) QThread::msleep(20);
        }
        marker_ = false;
        QVERIFY2(applied, qPrintable(proxy_->output().right(3000)));
        TlsClient again(path("ca.pem"));
        again.setSession(ticket);
        QVERIFY(again.connect(rotating_, "a.test"));
        const bool resumed = again.result().resumed;
        SSL_SESSION_free(ticket);
        QVERIFY(resumed);
        QVERIFY(proxy_->writeConfig(config(goodCertificates()).dump()));
        proxy_->signal(SIGHUP);
    }

    // The configured OCSP response is stapled for its certificate only, and status says so.
    void ocspResponseFileIsStapled() {
        QFile file(certs_.filePath("a-ocsp.der"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray expected = file.readAll();
        QVERIFY(!expected.isEmpty());
        TlsClient a(path("ca.pem"));
        QVERIFY2(a.connect(port_, "a.test"), a.result().error.c_str());
        QCOMPARE(QByteArray::fromStdString(a.result().ocsp), expected);
        TlsClient b(path("ca.pem"));
        QVERIFY2(b.connect(port_, "b.test"), b.result().error.c_str());
        QVERIFY(b.result().ocsp.empty());  // the PFX certificate has no response configured
        const json certs = status().value("tls_certificates", json::array());
        QVERIFY(certs.size() >= 2);
        QCOMPARE(certs[0].value("ocsp_stapling", ""), std::string("file"));
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
        QVERIFY(certs[0].value("ocsp_next_update", std::int64_t{0}) > now);
        QCOMPARE(certs[1].value("ocsp_stapling", ""), std::string("off"));
    }

    void plaintextHttpGetsA400() {
        const RawResponse r = roundTrip(port_, get("/"));
        QVERIFY(r.ok);
        QCOMPARE(r.status, 400);
        QVERIFY(r.body.find("HTTPS") != std::string::npos);
        QVERIFY(waitForOutput("sent plaintext HTTP to the TLS listener 'secure'"));
    }

    void garbageIsClosed() {
        RawClient raw;
        QVERIFY(raw.connect(port_));
        QVERIFY(raw.send(std::string("\x01\x02\x03 this is not TLS\r\n\r\n")));
        QVERIFY(raw.closedByPeer(std::chrono::seconds(5)));
        // A record header that claims TLS, then nonsense.
        RawClient bad;
        QVERIFY(bad.connect(port_));
        QVERIFY(bad.send(std::string("\x16\x03\x01\x00\x05garbagegarbage", 19)));
        QVERIFY(bad.closedByPeer(std::chrono::seconds(5)));
        QVERIFY(waitForOutput("did not start a TLS handshake"));
        QVERIFY(waitForOutput("tls: handshake with 127.0.0.1 on 'secure' failed"));
        QVERIFY(subjectFor("a.test") == "/CN=a.test");  // still serving
    }

    void stalledHandshakeTimesOut() {
        QElapsedTimer timer;
        timer.start();
        RawClient silent;  // sends nothing
        QVERIFY(silent.connect(port_));
        RawClient partial;  // half a record header
        QVERIFY(partial.connect(port_));
        QVERIFY(partial.send(std::string("\x16\x03\x01", 3)));
        QVERIFY(silent.closedByPeer(std::chrono::seconds(8)));
        QVERIFY(partial.closedByPeer(std::chrono::seconds(8)));
        QVERIFY(timer.elapsed() >= 500);  // not before the 700 ms handshake timeout (give or take a sweep)
        QVERIFY(waitForOutput("sent nothing within the handshake timeout"));
    }

    void badCertificatesAreRefusedAtReload_data() {
        QTest::addColumn<QString>("kind");
        QTest::addColumn<QString>("message");
        QTest::newRow("wrong PFX password") << "password" << "wrong password for the PFX file";
        QTest::newRow("missing key file") << "missing" << "cannot read the key file";
        QTest::newRow("key of another certificate") << "mismatch" << "does not belong to the certificate";
        QTest::newRow("not a certificate") << "notcert" << "holds no PEM certificate";
        QTest::newRow("OCSP response of another certificate") << "ocsp-other" << "has no status for this certificate";
        QTest::newRow("OCSP response: revoked") << "ocsp-revoked" << "says the certificate is revoked";
        QTest::newRow("OCSP response file is not DER") << "ocsp-garbage" << "does not hold a DER OCSP response";
        QTest::newRow("OCSP response file missing") << "ocsp-missing" << "cannot read the OCSP response file";
    }
    void badCertificatesAreRefusedAtReload() {
        QFETCH(QString, kind);
        QFETCH(QString, message);
        json certificates = goodCertificates();
        if (kind == "password") certificates[1]["password"] = "wrong";
        if (kind == "missing") certificates[0]["key"] = path("nothing-here.key");
        if (kind == "mismatch") certificates[0]["key"] = path("b.key");
        if (kind == "notcert") certificates[0]["cert"] = path("a.key");
        if (kind == "ocsp-other") certificates[0]["ocsp_response"] = path("origin-ocsp.der");
        if (kind == "ocsp-revoked")
            certificates[0] = {{"cert", path("r.pem")}, {"key", path("r.key")}, {"ocsp_response", path("r-ocsp.der")}};
        if (kind == "ocsp-garbage") certificates[0]["ocsp_response"] = path("a.key");
        if (kind == "ocsp-missing") certificates[0]["ocsp_response"] = path("nothing-here.der");
        QVERIFY(proxy_->writeConfig(config(certificates).dump()));
        proxy_->signal(SIGHUP);
        QVERIFY2(waitForOutput(message), qPrintable(proxy_->output()));
        QVERIFY(waitForOutput("the running config stays"));
        QCOMPARE(QString::fromStdString(subjectFor("a.test")), QString("/CN=a.test"));
        QVERIFY(proxy_->writeConfig(config(goodCertificates()).dump()));
    }

    void certificateHotReloadKeepsConnections() {
        TlsClient open(path("ca.pem"));
        QVERIFY(open.connect(port_, "a.test"));
        QVERIFY(open.send(get("/")));
        QVERIFY(open.readResponse().starts_with("HTTP/1.1 200"));
        const std::string before = open.result().fingerprint;
        QVERIFY(!before.empty());

        // c.pem now answers for a.test (it expires in 3 days: a warning, not a refusal).
        json certificates = json::array({{{"cert", path("c.pem")}, {"key", path("c.key")}},
                                         {{"pfx", path("b.pfx")}, {"password", "pfx secret"}}});
        QVERIFY(proxy_->writeConfig(config(certificates).dump()));
        proxy_->signal(SIGHUP);
        QVERIFY2(waitForOutput("expires in 2 days"), qPrintable(proxy_->output()));

        // The open connection goes on, on the certificate it began with.
        QVERIFY(open.send(get("/")));
        QVERIFY(open.readResponse().starts_with("HTTP/1.1 200"));
        QCOMPARE(open.result().fingerprint, before);
        // New connections get the new certificate (once the reload has been applied).
        TlsClient fresh(path("ca.pem"));
        bool changed = false;
        for (int i = 0; i < 100 && !changed; ++i) {
            QVERIFY(fresh.connect(port_, "a.test"));
            changed = fresh.result().fingerprint != before;
            fresh.close();
            if (!changed) QThread::msleep(50);
        }
        QVERIFY(changed);

        // status (and proxyctl status) describe the certificates now in use.
        const json certs = status().value("tls_certificates", json::array());
        QCOMPARE(certs.size(), std::size_t{4});  // secure's two, then mtls's one, rotating's one
        QCOMPARE(certs[0].value("listener", ""), std::string("secure"));
        QCOMPARE(certs[0].value("subject", ""), std::string("CN=a.test"));
        QCOMPARE(certs[0].value("warning", ""), std::string("expires in 2 days"));
        QCOMPARE(certs[0].value("days_left", -1), 2);
        QCOMPARE(certs[1]["names"], json::array({"b.test"}));
        QCOMPARE(certs[1].value("warning", "?"), std::string());
        QCOMPARE(certs[1].value("issuer", ""), std::string("CN=Proxy Test CA"));
        QVERIFY(proxy_->writeConfig(config(goodCertificates()).dump()));
        proxy_->signal(SIGHUP);
    }

    void clientCertificatesAreRequiredAndPassedOn() {
        const std::string spoof = "GET /echo HTTP/1.1\r\nHost: a.test\r\nX-Client-Subject: CN=admin\r\n\r\n";
        {
            TlsClient anonymous(path("ca.pem"));
            // TLS 1.3 finishes the client's side first; the server's refusal arrives as an alert.
            if (anonymous.connect(mtls_, "a.test")) {
                anonymous.send(spoof);
                QCOMPARE(anonymous.readResponse(5000), std::string());
            }
        }
        QVERIFY(waitForOutput("tls: handshake with 127.0.0.1 on 'mtls' failed"));
        TlsClient client(path("ca.pem"));
        client.useCertificate(path("client.pem"), path("client.key"));
        QVERIFY2(client.connect(mtls_, "a.test"), client.result().error.c_str());
        QVERIFY(client.send(spoof));
        const std::string response = client.readResponse();
        QVERIFY2(response.starts_with("HTTP/1.1 200"), response.c_str());
        QVERIFY2(response.find("X-Client-Subject: CN=client.test\r\n") != std::string::npos, response.c_str());
        QVERIFY2(response.find("CN=admin") == std::string::npos, response.c_str());
        // A certificate from another issuer is refused.
        TlsClient rogue(path("ca.pem"));
        rogue.useCertificate(path("rogue.pem"), path("rogue.key"));
        if (rogue.connect(mtls_, "a.test")) {
            rogue.send(spoof);
            QCOMPARE(rogue.readResponse(5000), std::string());
        }
    }

    void plainRequestsAreRedirectedToHttps_data() {
        QTest::addColumn<QString>("request");
        QTest::addColumn<int>("status");
        QTest::addColumn<QString>("location");
        auto req = [](const char* target, const char* host) {
            return QString::fromStdString(std::string("GET ") + target + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
        };
        QTest::newRow("path and query kept") << req("/redir/a/b?x=1&y=%2F", "site.test") << 308
                                             << "https://site.test/redir/a/b?x=1&y=%2F";
        QTest::newRow("Host port dropped") << req("/redir/", "site.test:8080") << 308 << "https://site.test/redir/";
        QTest::newRow("IPv6 host") << req("/redir/v6", "[::1]:80") << 308 << "https://[::1]/redir/v6";
        QTest::newRow("absolute-form target") << req("http://abs.test/redir/x?q", "ignored.test") << 308
                                              << "https://abs.test/redir/x?q";
        QTest::newRow("non-default port, 301")
            << req("/redir-port/p?k=v", "site.test") << 301
            << QString("https://site.test:%1/redir-port/p?k=v").arg(port_);
        // The parser accepts these as uri-hosts; a Location is never built from them.
        QTest::newRow("percent-encoded CRLF in Host") << req("/redir/", "a.test%0d%0aSet-Cookie%3a%20x=1") << 400 << "";
        QTest::newRow("sub-delims in Host") << req("/redir/", "a.test!$&'()*+,;=") << 400 << "";
    }
    void plainRequestsAreRedirectedToHttps() {
        QFETCH(QString, request);
        QFETCH(int, status);
        QFETCH(QString, location);
        const std::size_t before = origin_->requestCount();
        RawClient raw;
        QVERIFY(raw.connect(plain_));
        QVERIFY(raw.send(request.toStdString()));
        const RawResponse r = raw.readResponse();
        QVERIFY2(r.ok, r.head.c_str());
        QCOMPARE(r.status, status);
        QCOMPARE(QString::fromStdString(r.header("location")), location);
        QVERIFY2(r.head.find("Set-Cookie") == std::string::npos, r.head.c_str());
        if (status != 400) {
            QVERIFY2(r.body.find(location.toStdString()) != std::string::npos, r.body.c_str());
            // Keep-alive: the connection serves the next request.
            QVERIFY(raw.send(get("/redir/again")));
            const RawResponse again = raw.readResponse();
            QCOMPARE(again.status, 308);
            QCOMPARE(again.header("location"), std::string("https://a.test/redir/again"));
        }
        // Nothing went upstream.
        QCOMPARE(origin_->requestCount(), before);
    }

    void redirectWithABodyClosesTheConnection() {
        RawClient raw;
        QVERIFY(raw.connect(plain_));
        QVERIFY(raw.send("POST /redir/form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"));
        const RawResponse r = raw.readResponse();
        QCOMPARE(r.status, 308);  // keeps the method and body: the client posts again over HTTPS
        QCOMPARE(r.header("location"), std::string("https://a.test/redir/form"));
        QCOMPARE(r.header("connection"), std::string("close"));
        QVERIFY(raw.closedByPeer(std::chrono::seconds(5)));
    }

    void tlsRequestsOnARedirectRouteAreProxiedWithHsts() {
        TlsClient client(path("ca.pem"));
        QVERIFY2(client.connect(port_, "a.test"), client.result().error.c_str());
        QVERIFY(client.send(get("/redir/echo?x=1")));
        const std::string response = client.readResponse();
        QVERIFY2(response.starts_with("HTTP/1.1 200"), response.c_str());
        QVERIFY2(response.find("Strict-Transport-Security: max-age=31536000; includeSubDomains") != std::string::npos,
                 response.c_str());
        QVERIFY2(response.find("Location:") == std::string::npos, response.c_str());
        QVERIFY(origin_->countTarget("/redir/echo?x=1") >= 1);
    }

    void reencryptionToAVerifiedUpstream() {
        const int before = tlsOrigin_->connections();
        for (int i = 0; i < 3; ++i) {
            const RawResponse r = roundTrip(plain_, get("/ok/" + std::to_string(i)));
            QCOMPARE(r.status, 200);
            QVERIFY2(r.body.starts_with("tls-origin /ok/" + std::to_string(i)), r.body.c_str());
        }
        QCOMPARE(tlsOrigin_->lastServerName(), std::string("origin.test"));
        // Pooled: three requests, at most one new connection per worker.
        QVERIFY(tlsOrigin_->connections() - before <= 2);
    }

    void healthChecksProbeOverTls() {
        // Probes of the verified origin handshake (and pass: a failed probe would take the only
        // server down, fall = 1); probes of the rogue one fail and take it down.
        const int before = checkedOrigin_->handshakes();
        bool down = false;
        for (int i = 0; i < 100 && !down; ++i) {
            down = roundTrip(plain_, get("/rogue-checked/x")).status == 503;
            if (!down) QThread::msleep(50);
        }
        QVERIFY(down);
        QTRY_VERIFY_WITH_TIMEOUT(checkedOrigin_->handshakes() >= before + 3, 10000);
        QCOMPARE(roundTrip(plain_, get("/checked/after-probes")).status, 200);
    }

    void reencryptionRefusesAnUnverifiedUpstream_data() {
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("why");
        QTest::newRow("name mismatch") << "/name/x" << "hostname mismatch";
        QTest::newRow("unknown issuer") << "/rogue/x" << "self-signed certificate";
    }
    void reencryptionRefusesAnUnverifiedUpstream() {
        QFETCH(QString, target);
        QFETCH(QString, why);
        const RawResponse r = roundTrip(plain_, get(target.toStdString()));
        QCOMPARE(r.status, 502);
        QVERIFY2(waitForOutput(why), qPrintable(proxy_->output()));
    }
};

QTEST_GUILESS_MAIN(TlsIntegrationTest)
#include "tls_integration_test.moc"
