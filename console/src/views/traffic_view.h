#pragma once
// Live traffic: traffic.subscribe on every (re)connect, events into a bounded TrafficModel,
// a filter bar, pause/resume and follow, colours by status class, a details pane, and
// "show in logs" for the selected request.

#include <QWidget>

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

    explicit TrafficView(ServiceClient* client, QWidget* parent = nullptr);

    TrafficModel* model() const { return model_; }
    TrafficFilterModel* filter() const { return filter_; }
    bool subscribed() const { return subscribed_; }
    QString notice() const;

  public slots:
    void subscribe();
    void setPaused(bool paused);

  signals:
    void showInLogs(const proxy::console::TrafficEvent& event);
    void statusMessage(const QString& text);

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
};

}  // namespace proxy::console
