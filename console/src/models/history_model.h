#pragma once
// config.history as a table: one row per kept version, newest first, the current one in bold.

#include <QAbstractTableModel>
#include <vector>

#include "app/json_util.h"

namespace proxy::console {

struct HistoryEntry {
    qint64 version = 0;
    QString appliedBy, appliedAt, note;
    qint64 bytes = 0;
    bool current = false;
};

class HistoryModel : public QAbstractTableModel {
    Q_OBJECT

  public:
    enum Column { Version, AppliedAt, AppliedBy, Note, Bytes, ColumnCount };

    explicit HistoryModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    bool update(const Json& result);  // a config.history result; false when the shape is wrong
    const HistoryEntry& entry(int row) const { return entries_[static_cast<std::size_t>(row)]; }
    qint64 currentVersion() const { return current_; }

  private:
    std::vector<HistoryEntry> entries_;
    qint64 current_ = 0;
};

}  // namespace proxy::console
