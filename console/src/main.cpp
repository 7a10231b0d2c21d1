// proxy-console: the Qt 6 admin console of proxy-service.
//   proxy-console [--endpoint PATH]
// The endpoint comes from --endpoint, else the settings (File > Connect to…), else the platform's
// default (/run/proxy/control.sock, \\.\pipe\proxy-control).
#include <QApplication>
#include <QCommandLineParser>
#include <QSettings>

#include "app/main_window.h"
#include "service_client/service_client.h"

int main(int argc, char* argv[]) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("proxy"));
    QApplication::setApplicationName(QStringLiteral("proxy-console"));
    QApplication::setApplicationVersion(QStringLiteral(PROXY_CONSOLE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Admin console of proxy-service"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption endpoint(QStringList{QStringLiteral("e"), QStringLiteral("endpoint")},
                                      QStringLiteral("Control endpoint: a Unix socket path or \\\\.\\pipe\\NAME."),
                                      QStringLiteral("PATH"));
    parser.addOption(endpoint);
    parser.process(app);

    proxy::console::ServiceClient client;
    const QString saved = QSettings().value(proxy::console::MainWindow::settingsEndpointKey()).toString();
    if (parser.isSet(endpoint)) client.setEndpoint(parser.value(endpoint));
    else if (!saved.isEmpty()) client.setEndpoint(saved);

    proxy::console::MainWindow window(&client);
    window.show();
    client.start();
    return QApplication::exec();
}
