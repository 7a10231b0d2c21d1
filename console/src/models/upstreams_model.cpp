#include "models/upstreams_model.h"

#include <QColor>
#include <map>

namespace proxy::console {

int UpstreamsModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int UpstreamsModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant UpstreamsModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const ServerRow& r = rows_[static_cast<std::size_t>(index.row())];
    if (role == Qt::ForegroundRole) {
        if (index.column() == State && r.state != QLatin1String("enabled") &&
            r.state != QLatin1String("up"))
            return QColor(0xb0, 0x60, 0x00);
        if (index.column() == Health && r.health == QLatin1String("down")) return QColor(Qt::red);
        return {};
    }
    if (role == Qt::TextAlignmentRole && index.column() >= Active)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role != Qt::DisplayRole && role != Qt::AccessibleTextRole) return {};
    switch (index.column()) {
        case Upstream:
            return r.upstream;
        case Server:
            return r.address;
        case State:
            return r.state;
        case Health:
            return r.health.isEmpty() ? QStringLiteral("—") : r.health;
        case Active:
            return r.active;
        case Weight:
            return r.weight;
        case Requests:
            return r.requests;
        case Failures:
            return r.failures;
        case Errors:
            return r.errors5xx ? QVariant(*r.errors5xx) : QVariant(QStringLiteral("—"));
        case P99:
            return r.p99Ms ? QVariant(QString::number(*r.p99Ms, 'f', 1))
                           : QVariant(QStringLiteral("—"));
        default:
            return {};
    }
}

QVariant UpstreamsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Upstream", "Server",   "State",    "Health", "Active",
                                         "Weight",   "Requests", "Failures", "5xx",    "p99 ms"};
    return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

bool UpstreamsModel::update(const Json& result) {
    const Json& upstreams = member(result, "upstreams");
    if (!upstreams.is_array()) return false;
    std::vector<ServerRow> next;
    for (const Json& group : upstreams) {
        const QString name = textOf(group, "name");
        const QString balance = textOf(group, "balance");
        const Json& servers = member(group, "servers");
        if (!servers.is_array()) continue;
        for (const Json& s : servers) {
            ServerRow r;
            r.upstream = name;
            r.balance = balance;
            r.address = textOf(s, "address");
            r.state = textOf(s, "state");
            r.health = textOf(s, "health");
            r.active = integerOf(s, "active");
            r.weight = integerOf(s, "weight", 1);
            r.requests = integerOf(s, "requests");
            r.failures = integerOf(s, "failures");
            next.push_back(std::move(r));
        }
    }
    // Report changes against the previous answer, keyed by upstream + server.
    std::map<std::pair<QString, QString>, const ServerRow*> before;
    for (const auto& r : rows_) before[{r.upstream, r.address}] = &r;
    for (auto& r : next) {
        const auto it = before.find({r.upstream, r.address});
        if (it == before.end()) {
            if (!rows_.empty())
                emit serverChanged(r.upstream, r.address, QStringLiteral("state"), {}, r.state);
            continue;
        }
        r.errors5xx = it->second->errors5xx;  // kept until the next stats merge
        r.p99Ms = it->second->p99Ms;
        if (it->second->state != r.state)
            emit serverChanged(r.upstream, r.address, QStringLiteral("state"), it->second->state,
                               r.state);
        if (it->second->health != r.health)
            emit serverChanged(r.upstream, r.address, QStringLiteral("health"), it->second->health,
                               r.health);
    }
    const bool sameShape = next.size() == rows_.size() &&
                           std::equal(next.begin(), next.end(), rows_.begin(),
                                      [](const ServerRow& a, const ServerRow& b) {
                                          return a.upstream == b.upstream && a.address == b.address;
                                      });
    if (sameShape) {
        rows_ = std::move(next);
        if (!rows_.empty()) emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
    } else {
        beginResetModel();
        rows_ = std::move(next);
        endResetModel();
    }
    return true;
}

void UpstreamsModel::mergeServerMetrics(const Json& stats) {
    const Json& servers = at(stats, {"metrics", "servers"});
    if (!servers.is_object() || rows_.empty()) return;
    for (auto& r : rows_) {
        const Json& series = member(servers, r.address.toStdString().c_str());
        if (!series.is_object()) continue;
        r.errors5xx = integerOf(member(series, "by_class"), "5xx");
        const Json& p99 = at(series, {"latency_us", "p99"});
        if (p99.is_number() && integer(at(series, {"latency_us", "count"})) > 0)
            r.p99Ms = p99.get<double>() / 1000.0;
    }
    emit dataChanged(index(0, Errors), index(rowCount() - 1, P99));
}

void UpstreamsModel::clear() {
    beginResetModel();
    rows_.clear();
    endResetModel();
}

}  // namespace proxy::console
