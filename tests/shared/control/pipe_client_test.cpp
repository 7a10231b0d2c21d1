// The pipe path proxyctl and the console open on Windows for an endpoint as an admin writes it.
#include <QTest>

#include "control/pipe_client.h"

using proxy::control::windowsPipePath;

class PipeClientTest : public QObject {
    Q_OBJECT
private slots:
    void aBareNameGetsThePipePrefix() {
        QCOMPARE(windowsPipePath("proxy-control"), std::string("\\\\.\\pipe\\proxy-control"));
        QCOMPARE(windowsPipePath("a\\b"), std::string("\\\\.\\pipe\\a\\b"));
    }
    void aFullPathIsKeptInAnyCase() {
        QCOMPARE(windowsPipePath("\\\\.\\pipe\\proxy-control"), std::string("\\\\.\\pipe\\proxy-control"));
        QCOMPARE(windowsPipePath("\\\\.\\PIPE\\Proxy"), std::string("\\\\.\\PIPE\\Proxy"));
    }
    void partialPrefixesAreNames() {
        // Not the prefix: each is taken as a name under \\.\pipe\.
        QCOMPARE(windowsPipePath(""), std::string("\\\\.\\pipe\\"));
        QCOMPARE(windowsPipePath("\\\\.\\pip"), std::string("\\\\.\\pipe\\\\\\.\\pip"));
        QCOMPARE(windowsPipePath("\\\\?\\pipe\\x"), std::string("\\\\.\\pipe\\\\\\?\\pipe\\x"));
    }
};

QTEST_GUILESS_MAIN(PipeClientTest)
#include "pipe_client_test.moc"
