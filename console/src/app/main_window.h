#pragma once
// The console's window: one tab per view, the connection badge in the status bar, the endpoint
// from --endpoint or the settings (File > Connect to…), and the window layout remembered.

#include <QMainWindow>

#include "service_client/service_client.h"

class QTabWidget;
class QLabel;

namespace proxy::console {

class DashboardView;
class ConfigEditorView;
class TrafficView;
class LogView;
class CertificatesView;
class ConnectionIndicator;
class ServiceControl;

class MainWindow : public QMainWindow {
    Q_OBJECT

  public:
    // The client is not owned; it outlives the window (main() owns both).
    explicit MainWindow(ServiceClient* client, QWidget* parent = nullptr);

    DashboardView* dashboard() const { return dashboard_; }
    ConfigEditorView* editor() const { return editor_; }
    TrafficView* traffic() const { return traffic_; }
    LogView* logs() const { return logs_; }
    CertificatesView* certificates() const { return certificates_; }
    ConnectionIndicator* indicator() const { return indicator_; }
    QTabWidget* tabs() const { return tabs_; }

    static QString settingsEndpointKey() { return QStringLiteral("connection/endpoint"); }
    static QString settingsServiceNameKey() { return QStringLiteral("service/name"); }
    ServiceControl* serviceControl() const { return serviceControl_; }

  public slots:
    void showStatusMessage(const QString& text);

  protected:
    void closeEvent(QCloseEvent* event) override;

  private:
    void chooseEndpoint();
    void updateRoleBadge();
    void serviceAction(int action);

    ServiceClient* client_;
    QTabWidget* tabs_;
    DashboardView* dashboard_;
    ConfigEditorView* editor_;
    TrafficView* traffic_;
    LogView* logs_;
    CertificatesView* certificates_;
    ConnectionIndicator* indicator_;
    QLabel* role_;
    ServiceControl* serviceControl_;
};

}  // namespace proxy::console
