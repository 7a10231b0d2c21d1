#pragma once
// One row per upstream server, from upstreams.list, with the per-server metrics of stats.get
// merged in when the service reports them. Updating from a new answer keeps rows in place (no
// reset, so the selection survives polling) and reports every state or health change, which the
// dashboard turns into a timeline.

#include <QAbstractTableModel>
#include <optional>
#include <vector>

#include "app/json_util.h"

namespace proxy::console {

struct ServerRow {
    QString upstream, balance, address, state, health;
    qint64 active = 0, weight = 1, requests = 0, failures = 0;
    // From stats.get metrics.servers, when present.
    std::optional<qint64> errors5xx;
    std::optional<double> p99Ms;
};

class UpstreamsModel : public QAbstractTableModel {
    Q_OBJECT

  public:
    enum Column {
        Upstream,
        Server,
        State,
        Health,
        Active,
        Weight,
        Requests,
        Failures,
        Errors,
        P99,
        ColumnCount
    };

    explicit UpstreamsModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // An upstreams.list result. Returns false (model unchanged) when it has no "upstreams" array.
    bool update(const Json& result);
    // stats.get's metrics.servers (keyed by "host:port"), merged into matching rows.
    void mergeServerMetrics(const Json& stats);
    void clear();

    const ServerRow& row(int r) const { return rows_[static_cast<std::size_t>(r)]; }

  signals:
    // field: "state" or "health"; from is empty for a server seen for the first time.
    void serverChanged(const QString& upstream, const QString& server, const QString& field,
                       const QString& from, const QString& to);

  private:
    std::vector<ServerRow> rows_;
};

}  // namespace proxy::console
