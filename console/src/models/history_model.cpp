#include "models/history_model.h"

#include <QFont>

namespace proxy::console {

int HistoryModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(entries_.size());
}

int HistoryModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant HistoryModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const HistoryEntry& e = entries_[static_cast<std::size_t>(index.row())];
    if (role == Qt::FontRole && e.current) {
        QFont bold;
        bold.setBold(true);
        return bold;
    }
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
        case Version:
            return e.current ? QStringLiteral("v%1 (current)").arg(e.version)
                             : QStringLiteral("v%1").arg(e.version);
        case AppliedAt:
            return e.appliedAt;
        case AppliedBy:
            return e.appliedBy;
        case Note:
            return e.note;
        case Bytes:
            return e.bytes;
        default:
            return {};
    }
}

QVariant HistoryModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Version", "Applied at", "By", "Note", "Bytes"};
    return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

bool HistoryModel::update(const Json& result) {
    const Json& versions = member(result, "versions");
    if (!versions.is_array()) return false;
    std::vector<HistoryEntry> next;
    for (const Json& v : versions) {
        HistoryEntry e;
        e.version = integerOf(v, "version");
        e.appliedBy = textOf(v, "applied_by");
        e.appliedAt = textOf(v, "applied_at");
        e.note = textOf(v, "note");
        e.bytes = integerOf(v, "bytes");
        e.current = boolean(member(v, "current"));
        next.push_back(std::move(e));
    }
    beginResetModel();
    entries_ = std::move(next);
    current_ = integerOf(result, "current_version");
    endResetModel();
    return true;
}

}  // namespace proxy::console
