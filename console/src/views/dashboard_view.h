#pragma once
// The dashboard: service status (version, uptime, config version, connections, dropped log
// records), live charts from successive stats.get polls (requests/s, error rate, p50/p99 and mean
// latency over the last minutes), and per-upstream/per-server state with drain / disable / enable
// (confirmed) and a timeline of state changes. The status poll also refreshes the TLS
// certificates model (shown by CertificatesView); a line here warns when any certificate expires
// within 30 days or has expired.

#include <QWidget>
#include <set>

#include "app/stats_sampler.h"
#include "service_client/service_client.h"

class QLabel;
class QTableView;
class QListWidget;
class QPushButton;
class QTimer;
class QChart;
class QLineSeries;
class QDateTimeAxis;
class QValueAxis;

namespace proxy::console {

class UpstreamsModel;
class CertificatesModel;

class DashboardView : public QWidget {
    Q_OBJECT

  public:
    static constexpr int kPollMs = 1000;
    static constexpr int kWindowSeconds = 300;  // what the charts show

    explicit DashboardView(ServiceClient* client, QWidget* parent = nullptr);

    UpstreamsModel* upstreams() const { return upstreams_; }
    CertificatesModel* certificates() const { return certificates_; }
    // The certificate warning line's text (empty while hidden).
    QString certificateWarningText() const;
    const StatsSampler& sampler() const { return sampler_; }
    QString statusText() const;  // the status panel's text (tests)
    int timelineCount() const;

    void setReadOnly(bool readOnly);

  public slots:
    void poll();

  signals:
    void statusMessage(const QString& text);
    // The certificate warning's "Show certificates" button was pressed.
    void showCertificatesRequested();

  private:
    void pollOnce(const QString& method, const std::function<void(const RpcReply&)>& onReply);
    void onStatus(const Json& status);
    void onStats(const Json& stats);
    void addPoint(const StatsPoint& p);
    void serverAction(const QString& action);
    void updateActionButtons();
    void updateCertificateWarning();

    ServiceClient* client_;  // not owned
    StatsSampler sampler_;
    UpstreamsModel* upstreams_;
    CertificatesModel* certificates_;
    std::set<QString> inFlight_;  // a poll is not repeated while its answer is outstanding
    QTimer* timer_;
    bool readOnly_ = false;

    QLabel* status_;
    QLabel* statsNote_;
    QWidget* certWarning_;
    QLabel* certWarningIcon_;
    QLabel* certWarningText_;
    QTableView* table_;
    QListWidget* timeline_;
    QPushButton* drain_;
    QPushButton* disable_;
    QPushButton* enable_;
    QChart* trafficChart_;
    QChart* latencyChart_;
    QLineSeries* rps_;
    QLineSeries* errors_;
    QLineSeries* p50_;
    QLineSeries* p99_;
    QLineSeries* mean_;
    QDateTimeAxis* trafficTime_;
    QDateTimeAxis* latencyTime_;
    QValueAxis* rpsAxis_;
    QValueAxis* errorAxis_;
    QValueAxis* latencyAxis_;
    qint64 lastDropped_ = -1;
};

}  // namespace proxy::console
