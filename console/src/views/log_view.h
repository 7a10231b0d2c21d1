#pragma once
// The log browser: server-side logs.query with filters and a time range, keyset paging into a
// table that loads the next page as you scroll (or with "Load more"), a per-minute chart of the
// range from logs.aggregate, the selected row's fields, and CSV export of what is loaded.

#include <QWidget>

#include "service_client/service_client.h"

class QLineEdit;
class QComboBox;
class QDateTimeEdit;
class QLabel;
class QTableView;
class QPlainTextEdit;
class QPushButton;
class QChart;
class QLineSeries;
class QDateTimeAxis;
class QValueAxis;

namespace proxy::console {

class LogModel;
struct TrafficEvent;

class LogView : public QWidget {
    Q_OBJECT

  public:
    explicit LogView(ServiceClient* client, QWidget* parent = nullptr);

    LogModel* model() const { return model_; }
    // The logs.query params the filter fields describe (without limit/cursor). Empty string when
    // valid, else a sentence naming the bad field.
    QString buildParams(Json& params) const;
    QString notice() const;
    bool querying() const { return queryInFlight_; }
    // Rows per logs.query page (the service takes 1..1000); clamped. Smaller pages suit a slow
    // service, and let a test page through a few hundred rows.
    void setPageSize(int rows);
    int pageSize() const { return pageSize_; }
    // What the chart shows for the last query: its title (with logs.aggregate's totals) and the
    // sum of its per-minute request points.
    QString chartTitle() const;
    qint64 chartedRequests() const;

  public slots:
    void runQuery();
    void loadMore();
    // From the live view: this client, a minute around the request's time.
    void showRequest(const proxy::console::TrafficEvent& event);

  signals:
    void statusMessage(const QString& text);

  private:
    void requestPage(const QString& cursor);
    void runAggregate(const Json& params);
    void showRow();
    void exportCsv();
    void setNotice(const QString& text);

    ServiceClient* client_;  // not owned
    LogModel* model_;
    quint64 queryGeneration_ = 0;
    bool queryInFlight_ = false;
    int pageSize_ = 500;
    Json lastParams_;

    QComboBox* range_;
    QDateTimeEdit* from_;
    QDateTimeEdit* to_;
    QLineEdit* status_;
    QLineEdit* method_;
    QLineEdit* host_;
    QLineEdit* client_addr_;
    QLineEdit* route_;
    QLineEdit* upstream_;
    QLineEdit* server_;
    QLineEdit* pathPrefix_;
    QLineEdit* pathContains_;
    QPushButton* search_;
    QPushButton* more_;
    QLabel* notice_;
    QLabel* summary_;
    QTableView* table_;
    QPlainTextEdit* details_;
    QChart* chart_;
    QLineSeries* requests_;
    QLineSeries* errors_;
    QLineSeries* p99_;
    QDateTimeAxis* timeAxis_;
    QValueAxis* countAxis_;
    QValueAxis* msAxis_;
};

}  // namespace proxy::console
