// proxy-console: the Qt 6 admin console of proxy-service.
//   proxy-console [--endpoint PATH]
// The endpoint comes from --endpoint, else the settings (File > Connect to…), else the platform's
// default (/run/proxy/control.sock, \\.\pipe\proxy-control).
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QSettings>
#include <QTabWidget>
#include <QTimer>
#include <cstdio>
#include <memory>

#include "app/main_window.h"
#include "service_client/service_client.h"
#include "views/certificates_view.h"
#include "views/config_editor_view.h"
#include "views/log_view.h"

namespace {

// --screenshots DIR (scripts/screenshots.sh): once connected, let the charts and the live table
// fill, then save each main screen as DIR/<name>.png and quit. Gives up after a minute without a
// connection (exit status 1).
void screenshotTour(proxy::console::MainWindow* window, proxy::console::ServiceClient* client,
                    const QString& dir, int settleMs) {
    using proxy::console::ConfigEditorView;
    QDir().mkpath(dir);
    auto save = [window, dir](const QString& name) {
        const QString path = QDir(dir).filePath(name + QStringLiteral(".png"));
        if (!window->grab().save(path))
            std::fprintf(stderr, "cannot write %s\n", qPrintable(path));
        else
            std::printf("%s\n", qPrintable(path));
    };
    auto steps = std::make_shared<std::vector<std::pair<int, std::function<void()>>>>();
    steps->push_back({settleMs, [=] { window->tabs()->setCurrentIndex(0); }});
    steps->push_back({1000, [=] {
                          save(QStringLiteral("dashboard"));
                          window->tabs()->setCurrentWidget(window->editor());
                          window->editor()->selectItem(ConfigEditorView::Section::Upstream, 0);
                      }});
    steps->push_back({1000, [=] {
                          save(QStringLiteral("editor"));
                          window->tabs()->setCurrentIndex(2);
                      }});
    steps->push_back({1000, [=] {
                          save(QStringLiteral("traffic"));
                          window->tabs()->setCurrentWidget(window->logs());
                          window->logs()->runQuery();
                      }});
    steps->push_back({2500, [=] {
                          save(QStringLiteral("logs"));
                          window->tabs()->setCurrentWidget(window->certificates());
                      }});
    steps->push_back({1000, [=] {
                          save(QStringLiteral("certificates"));
                          QApplication::quit();
                      }});
    auto run = std::make_shared<std::function<void(std::size_t)>>();
    *run = [steps, run](std::size_t i) {
        if (i >= steps->size()) return;
        QTimer::singleShot((*steps)[i].first, qApp, [steps, run, i] {
            (*steps)[i].second();
            (*run)(i + 1);
        });
    };
    QObject::connect(
        client, &proxy::console::ServiceClient::connected, qApp, [run] { (*run)(0); },
        Qt::SingleShotConnection);
    QTimer::singleShot(60000, qApp, [client] {
        if (!client->isConnected()) {
            std::fprintf(stderr, "no connection to %s: %s\n", qPrintable(client->endpoint()),
                         qPrintable(client->lastError()));
            QApplication::exit(1);
        }
    });
}

}  // namespace

int main(int argc, char* argv[]) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("proxy"));
    QApplication::setApplicationName(QStringLiteral("proxy-console"));
    QApplication::setApplicationVersion(QStringLiteral(PROXY_CONSOLE_VERSION));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Admin console of proxy-service"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption endpoint(
        QStringList{QStringLiteral("e"), QStringLiteral("endpoint")},
        QStringLiteral("Control endpoint: a Unix socket path or \\\\.\\pipe\\NAME."),
        QStringLiteral("PATH"));
    parser.addOption(endpoint);
    const QCommandLineOption screenshots(
        QStringLiteral("screenshots"),
        QStringLiteral("Save each main screen to DIR once connected, then quit."),
        QStringLiteral("DIR"));
    parser.addOption(screenshots);
    parser.process(app);

    proxy::console::ServiceClient client;
    const QString saved =
        QSettings().value(proxy::console::MainWindow::settingsEndpointKey()).toString();
    if (parser.isSet(endpoint))
        client.setEndpoint(parser.value(endpoint));
    else if (!saved.isEmpty())
        client.setEndpoint(saved);

    proxy::console::MainWindow window(&client);
    if (parser.isSet(screenshots)) {
        window.resize(1400, 900);
        screenshotTour(&window, &client, parser.value(screenshots), 15000);
    }
    window.show();
    client.start();
    return QApplication::exec();
}
