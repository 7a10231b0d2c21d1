#include "models/inflight_model.h"

#include <QColor>
#include <algorithm>

namespace proxy::console {

int InflightModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int InflightModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QString InflightModel::ageText(qint64 ageUs) {
    if (ageUs < 0) ageUs = 0;
    const qint64 ms = ageUs / 1000;
    if (ms < 1000) return tr("%1 ms").arg(ms);
    if (ms < 60'000) return tr("%1 s").arg(static_cast<double>(ms) / 1000.0, 0, 'f', 1);
    const qint64 s = ms / 1000;
    return tr("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

QVariant InflightModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const InflightRequest& r = rows_[static_cast<std::size_t>(index.row())];
    if (role == Qt::UserRole && index.column() == Age) return r.ageUs;
    if (role == Qt::TextAlignmentRole && index.column() == Age)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::BackgroundRole && index.column() == Age) {
        // Slow exchanges stand out: over 10 s amber, over a minute red.
        if (r.ageUs >= 60'000'000) return QColor(0xf8, 0xd7, 0xda);
        if (r.ageUs >= 10'000'000) return QColor(0xff, 0xf3, 0xcd);
        return {};
    }
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (index.column()) {
        case Age:
            return ageText(r.ageUs);
        case Stage:
            return r.stage;
        case Method:
            return r.method;
        case Host:
            return r.host;
        case Path:
            return r.path;
        case Client:
            return r.client;
        case Route:
            return r.route;
        case Server:
            return r.server;
        case RequestId:
            return r.requestId;
        default:
            return {};
    }
}

QVariant InflightModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Age",    "Stage", "Method", "Host",      "Path",
                                         "Client", "Route", "Server", "Request id"};
    return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

bool InflightModel::setSnapshot(const Json& result) {
    const Json& list = member(result, "requests");
    if (!list.is_array()) return false;
    std::vector<InflightRequest> rows;
    rows.reserve(std::min<std::size_t>(list.size(), kMaxRows));
    for (const Json& item : list) {
        if (rows.size() >= static_cast<std::size_t>(kMaxRows)) break;
        if (!item.is_object()) {
            ++malformed_;
            continue;
        }
        InflightRequest r;
        r.requestId = textOf(item, "request_id");
        r.client = textOf(item, "client");
        r.method = textOf(item, "method");
        r.host = textOf(item, "host");
        r.path = textOf(item, "path");
        r.route = textOf(item, "route");
        r.server = textOf(item, "server");
        r.stage = textOf(item, "stage");
        r.ageUs = integerOf(item, "age_us");
        r.worker = static_cast<int>(integerOf(item, "worker", -1));
        rows.push_back(std::move(r));
    }
    beginResetModel();
    rows_ = std::move(rows);
    endResetModel();
    const auto shown = static_cast<qint64>(rows_.size());
    total_ = std::max<qint64>(integerOf(result, "total", shown), shown);
    workers_ = static_cast<int>(std::clamp<qint64>(integerOf(result, "workers"), 0, 1 << 16));
    workersAnswered_ = static_cast<int>(
        std::clamp<qint64>(integerOf(result, "workers_answered", workers_), 0, workers_));
    return true;
}

void InflightModel::clear() {
    beginResetModel();
    rows_.clear();
    endResetModel();
    total_ = 0;
    workers_ = workersAnswered_ = 0;
}

}  // namespace proxy::console
