#pragma once
// The live view's "in flight" table: one traffic.inflight snapshot at a time (the exchanges in
// progress now, oldest first). Each snapshot replaces the last; rows are capped at kMaxRows and
// text is formatted only when a view asks for it.

#include <QAbstractTableModel>
#include <vector>

#include "app/json_util.h"

namespace proxy::console {

struct InflightRequest {
    QString requestId, client, method, host, path, route, server, stage;
    qint64 ageUs = 0;
    int worker = -1;
};

class InflightModel : public QAbstractTableModel {
    Q_OBJECT

  public:
    enum Column { Age, Stage, Method, Host, Path, Client, Route, Server, RequestId, ColumnCount };
    static constexpr int kMaxRows = 5000;  // traffic.inflight's own limit

    explicit InflightModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // A traffic.inflight result ({"requests": [...], "total", "workers", "workers_answered"}).
    // Returns false and keeps the previous snapshot when the shape is wrong; entries that are not
    // objects are skipped and counted in malformed().
    bool setSnapshot(const Json& result);
    void clear();

    const InflightRequest& request(int row) const { return rows_[static_cast<std::size_t>(row)]; }
    // From the last snapshot: every exchange in progress (rows may be fewer: the call's limit),
    // and how many workers answered of how many there are (a busy worker may not in time).
    qint64 total() const { return total_; }
    int workers() const { return workers_; }
    int workersAnswered() const { return workersAnswered_; }
    qint64 malformed() const { return malformed_; }

    // "850 ms", "12.4 s", "3 min 05 s".
    static QString ageText(qint64 ageUs);

  private:
    std::vector<InflightRequest> rows_;
    qint64 total_ = 0;
    int workers_ = 0;
    int workersAnswered_ = 0;
    qint64 malformed_ = 0;
};

}  // namespace proxy::console
