#include "app/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>

#include "app/service_control.h"
#include "views/certificates_view.h"
#include "views/config_editor_view.h"
#include "views/dashboard_view.h"
#include "views/log_view.h"
#include "views/traffic_view.h"
#include "widgets/connection_indicator.h"

namespace proxy::console {

MainWindow::MainWindow(ServiceClient* client, QWidget* parent)
    : QMainWindow(parent), client_(client) {
    setWindowTitle(tr("proxy console"));
    tabs_ = new QTabWidget(this);
    tabs_->setDocumentMode(true);
    dashboard_ = new DashboardView(client_, tabs_);
    editor_ = new ConfigEditorView(client_, tabs_);
    traffic_ = new TrafficView(client_, tabs_);
    logs_ = new LogView(client_, tabs_);
    certificates_ = new CertificatesView(dashboard_->certificates(), tabs_);
    tabs_->addTab(dashboard_, tr("&Dashboard"));
    tabs_->addTab(editor_, tr("&Routes && upstreams"));
    tabs_->addTab(traffic_, tr("Live &traffic"));
    tabs_->addTab(logs_, tr("&Logs"));
    tabs_->addTab(certificates_, tr("&Certificates"));
    setCentralWidget(tabs_);

    indicator_ = new ConnectionIndicator(client_, this);
    role_ = new QLabel(this);
    role_->setObjectName(QStringLiteral("roleBadge"));
    statusBar()->addPermanentWidget(role_);
    statusBar()->addPermanentWidget(indicator_);
    connect(dashboard_, &DashboardView::statusMessage, this, &MainWindow::showStatusMessage);
    connect(editor_, &ConfigEditorView::statusMessage, this, &MainWindow::showStatusMessage);
    connect(traffic_, &TrafficView::statusMessage, this, &MainWindow::showStatusMessage);
    connect(logs_, &LogView::statusMessage, this, &MainWindow::showStatusMessage);
    connect(traffic_, &TrafficView::showInLogs, this, [this](const TrafficEvent& e) {
        tabs_->setCurrentWidget(logs_);
        logs_->showRequest(e);
    });
    connect(dashboard_, &DashboardView::showCertificatesRequested, this,
            [this] { tabs_->setCurrentWidget(certificates_); });
    connect(client_, &ServiceClient::stateChanged, this, &MainWindow::updateRoleBadge);
    connect(client_, &ServiceClient::forbiddenSeen, this, &MainWindow::updateRoleBadge);

    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Connect to…"), QKeySequence(Qt::CTRL | Qt::Key_O), this,
                    &MainWindow::chooseEndpoint);
    file->addAction(tr("&Reconnect now"), QKeySequence(Qt::CTRL | Qt::Key_R), client_,
                    &ServiceClient::reconnectNow);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);
    serviceControl_ = new ServiceControl(this);
    serviceControl_->setServiceName(
        QSettings()
            .value(settingsServiceNameKey(), ServiceControl::defaultServiceName())
            .toString());
    connect(serviceControl_, &ServiceControl::finished, this,
            [this](bool ok, const QString& message) {
                if (ok)
                    showStatusMessage(message);
                else
                    QMessageBox::warning(this, tr("Service"), message);
            });
    auto* service = menuBar()->addMenu(tr("&Service"));
    service->addAction(tr("&Start"), this,
                       [this] { serviceAction(int(ServiceControl::Action::Start)); });
    service->addAction(tr("S&top…"), this,
                       [this] { serviceAction(int(ServiceControl::Action::Stop)); });
    service->addAction(tr("&Restart…"), this,
                       [this] { serviceAction(int(ServiceControl::Action::Restart)); });
    service->addSeparator();
    service->addAction(tr("Service &name…"), this, [this] {
        bool ok = false;
        const QString name =
            QInputDialog::getText(this, tr("Service name"),
#ifdef _WIN32
                                  tr("Windows service name (as in the Services console):"),
#else
                                                   tr("systemd unit name:"),
#endif
                                  QLineEdit::Normal, serviceControl_->serviceName(), &ok)
                .trimmed();
        if (!ok || name.isEmpty()) return;
        serviceControl_->setServiceName(name);
        QSettings().setValue(settingsServiceNameKey(), name);
    });

    auto* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < tabs_->count(); ++i) {
        view->addAction(tabs_->tabText(i)
                            .remove(QLatin1Char('&'))
                            .replace(QStringLiteral("&&"), QStringLiteral("&")),
                        QKeySequence(Qt::CTRL | static_cast<Qt::Key>(Qt::Key_1 + i)), this,
                        [this, i] { tabs_->setCurrentIndex(i); });
    }
    view->addSeparator();
    view->addAction(tr("&Pause live traffic"), QKeySequence(Qt::CTRL | Qt::Key_P), this,
                    [this] { traffic_->setPaused(!traffic_->model()->paused()); });
    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About"), this, [this] {
        QMessageBox::about(this, tr("About proxy console"),
                           tr("proxy console %1\nThe admin console of proxy-service, over its "
                              "local control channel.")
                               .arg(QStringLiteral(PROXY_CONSOLE_VERSION)));
    });

    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    tabs_->setCurrentIndex(settings.value(QStringLiteral("window/tab"), 0).toInt());
    if (!settings.contains(QStringLiteral("window/geometry"))) resize(1280, 820);
    updateRoleBadge();
}

void MainWindow::showStatusMessage(const QString& text) {
    statusBar()->showMessage(text, 8000);
}

void MainWindow::updateRoleBadge() {
    if (client_->isConnected() && client_->isReadOnly()) {
        role_->setText(tr("READ-ONLY"));
        role_->setToolTip(
            tr("This connection has the read-only role: editing, rollback and server actions are "
               "disabled."));
        role_->setStyleSheet(
            QStringLiteral("color:white;background:#a86600;padding:1px 6px;border-radius:3px;"));
    } else {
        role_->clear();
        role_->setStyleSheet(QString());
    }
}

void MainWindow::serviceAction(int action) {
    const auto a = static_cast<ServiceControl::Action>(action);
    if (serviceControl_->busy()) {
        showStatusMessage(tr("A service action is still running"));
        return;
    }
    if (a != ServiceControl::Action::Start &&
        QMessageBox::question(
            this, tr("Service"),
            tr("%1 the service '%2'? Requests in flight get the configured shutdown time to "
               "finish.")
                .arg(a == ServiceControl::Action::Stop ? tr("Stop") : tr("Restart"),
                     serviceControl_->serviceName())) != QMessageBox::Yes)
        return;
    showStatusMessage(
        tr("%1 %2…").arg(ServiceControl::actionName(a), serviceControl_->serviceName()));
    serviceControl_->run(a);
}

void MainWindow::chooseEndpoint() {
    bool ok = false;
    const QString endpoint =
        QInputDialog::getText(
            this, tr("Connect to"),
            tr("Control endpoint (a Unix socket path, or \\\\.\\pipe\\NAME on Windows):"),
            QLineEdit::Normal, client_->endpoint(), &ok)
            .trimmed();
    if (!ok || endpoint.isEmpty()) return;
    QSettings().setValue(settingsEndpointKey(), endpoint);
    client_->setEndpoint(endpoint);
    client_->reconnectNow();
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (editor_->dirty() &&
        QMessageBox::question(
            this, tr("Quit"),
            tr("The configuration has edits that were not applied. Quit anyway?")) !=
            QMessageBox::Yes) {
        event->ignore();
        return;
    }
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/tab"), tabs_->currentIndex());
    event->accept();
}

}  // namespace proxy::console
