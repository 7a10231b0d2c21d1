#pragma once
// Live traffic: traffic.subscribe on every (re)connect, events into a bounded TrafficModel,
// a filter bar, pause/resume and follow, colours by status class, a details pane, and
// "show in logs" for the selected request. Below the table, the exchanges in progress now
// (traffic.inflight, refreshed every second while the view is visible) with their age and stage.

#include <QTimer>
#include <QWidget>

#include "models/inflight_model.h"
#include "models/traffic_model.h"
#include "service_client/service_client.h"

class QLineEdit;
class QLabel;
class QTableView;
class QPlainTextEdit;
class QPushButton;
class QCheckBox;

namespace proxy::console {

class TrafficView : public QWidget {
    Q_OBJECT

  public:
    static constexpr int kSubscribeCapacity = 5000;
    static constexpr int kInflightIntervalMs = 1000;
    static constexpr int kInflightLimit = 200;  // rows asked for; the total is shown regardless

    explicit TrafficView(ServiceClient* client, QWidget* parent = nullptr);

    TrafficModel* model() const { return model_; }
    TrafficFilterModel* filter() const { return filter_; }
    bool subscribed() const { return subscribed_; }
    QString notice() const;
    InflightModel* inflight() const { return inflight_; }
    QString inflightSummary() const;

  public slots:
    void subscribe();
    void setPaused(bool paused);
    // One traffic.inflight call, unless one is still on its way or the service lacks it.
    void refreshInflight();

  signals:
    void showInLogs(const proxy::console::TrafficEvent& event);
    void statusMessage(const QString& text);

  protected:
    void showEvent(QShowEvent* event) override;
    void hideEvent(QHideEvent* event) override;

  private:
    void updateCounters();
    void showDetails();

    ServiceClient* client_;  // not owned
    TrafficModel* model_;
    TrafficFilterModel* filter_;
    bool subscribed_ = false;
    bool sized_ = false;
    QLineEdit* filterEdit_;
    QLabel* filterError_;
    QLabel* notice_;
    QLabel* counters_;
    QTableView* table_;
    QPlainTextEdit* details_;
    QPushButton* pause_;
    QCheckBox* follow_;
    InflightModel* inflight_;
    QLabel* inflightSummary_;
    QTableView* inflightTable_;
    QTimer inflightTimer_;
    bool inflightPending_ = false;
    bool inflightOffered_ = true;  // until the service says the method is missing
};

}  // namespace proxy::console
