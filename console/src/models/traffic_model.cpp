#include "models/traffic_model.h"

#include <QColor>
#include <QDateTime>
#include <QLocale>
#include <QRegularExpression>

namespace proxy::console {

bool TrafficEvent::fromJson(const Json& o, TrafficEvent& e) {
    if (!o.is_object()) return false;
    const Json& status = member(o, "status");
    if (!status.is_number_integer()) return false;  // not an event we can show
    e.time = textOf(o, "time");
    e.requestId = textOf(o, "request_id");
    e.client = textOf(o, "client");
    e.method = textOf(o, "method");
    e.host = textOf(o, "host");
    e.path = textOf(o, "path");
    e.route = textOf(o, "route");
    e.server = textOf(o, "server");
    e.status = static_cast<int>(std::clamp<std::int64_t>(integer(status), 0, 999));
    e.durationUs = integerOf(o, "duration_us");
    e.bytesOut = integerOf(o, "bytes_out");
    const QDateTime t = QDateTime::fromString(e.time, Qt::ISODateWithMs);
    e.timeMs = t.isValid() ? t.toMSecsSinceEpoch() : 0;
    return true;
}

TrafficModel::TrafficModel(QObject* parent) : QAbstractTableModel(parent) {
    flushTimer_.setInterval(kFlushIntervalMs);
    connect(&flushTimer_, &QTimer::timeout, this, &TrafficModel::flush);
    flushTimer_.start();
}

int TrafficModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int TrafficModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QColor TrafficModel::statusColor(int statusClass) {
    switch (statusClass) {
        case 1:
            return QColor(0xe8, 0xf0, 0xfe);
        case 2:
            return QColor(0xe6, 0xf4, 0xea);
        case 3:
            return QColor(0xfe, 0xf7, 0xe0);
        case 4:
            return QColor(0xfc, 0xe8, 0xd5);
        case 5:
            return QColor(0xfa, 0xd2, 0xcf);
        default:
            return QColor(0xe0, 0xe0, 0xe0);  // no response
    }
}

QVariant TrafficModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const TrafficEvent& e = rows_[static_cast<std::size_t>(index.row())];
    if (role == Qt::BackgroundRole) return statusColor(e.statusClass());
    if (role == Qt::ForegroundRole) return QColor(Qt::black);  // readable on the pastel rows
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
            case Status:
            case Duration:
            case Bytes:
                return QVariant(Qt::AlignRight | Qt::AlignVCenter);
            default:
                return {};
        }
    }
    if (role == Qt::UserRole) {  // raw values for sorting
        switch (index.column()) {
            case Time:
                return e.timeMs;
            case Status:
                return e.status;
            case Duration:
                return e.durationUs;
            case Bytes:
                return e.bytesOut;
            default:
                break;
        }
        role = Qt::DisplayRole;
    }
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (index.column()) {
        case Time: {
            if (!e.timeMs) return e.time;
            return QDateTime::fromMSecsSinceEpoch(e.timeMs).toString(
                QStringLiteral("HH:mm:ss.zzz"));
        }
        case Status:
            return e.status ? QString::number(e.status) : QStringLiteral("—");
        case Method:
            return e.method;
        case Host:
            return e.host;
        case Path:
            return e.path;
        case Client:
            return e.client;
        case Route:
            return e.route;
        case Server:
            return e.server;
        case Duration:
            return QString::number(static_cast<double>(e.durationUs) / 1000.0, 'f', 1);
        case Bytes:
            return QLocale().toString(e.bytesOut);
        case RequestId:
            return e.requestId;
        default:
            return {};
    }
}

QVariant TrafficModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Time", "Status", "Method",    "Host",
                                         "Path", "Client", "Route",     "Server",
                                         "ms",   "Bytes",  "Request id"};
    return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

void TrafficModel::accept(const Json& item, int& queued) {
    const Json& dropped = member(item, "dropped");
    if (dropped.is_number() && !item.contains("status")) {
        droppedByService_ += std::max<std::int64_t>(0, integer(dropped));
        return;
    }
    TrafficEvent e;
    if (!TrafficEvent::fromJson(item, e)) {
        ++malformed_;
        return;
    }
    ++received_;
    ++queued;
    pending_.push_back(std::move(e));
    // The queue is bounded too (it grows while paused): only the newest `capacity_` can ever show.
    while (static_cast<int>(pending_.size()) > capacity_) {
        pending_.pop_front();
        ++evicted_;
    }
}

int TrafficModel::enqueue(const Json& params) {
    int queued = 0;
    const Json& events = member(params, "events");
    if (events.is_array()) {
        for (const Json& item : events) accept(item, queued);
    } else if (params.is_object()) {
        accept(params, queued);
    } else {
        ++malformed_;
    }
    emit countersChanged();
    return queued;
}

void TrafficModel::flush() {
    if (paused_ || pending_.empty()) return;
    const int incoming = static_cast<int>(pending_.size());  // <= capacity_
    const int overflow = static_cast<int>(rows_.size()) + incoming - capacity_;
    if (overflow > 0) {
        const int remove = std::min(overflow, static_cast<int>(rows_.size()));
        beginRemoveRows({}, 0, remove - 1);
        rows_.erase(rows_.begin(), rows_.begin() + remove);
        endRemoveRows();
        evicted_ += remove;
    }
    const int first = static_cast<int>(rows_.size());
    beginInsertRows({}, first, first + incoming - 1);
    for (auto& e : pending_) rows_.push_back(std::move(e));
    pending_.clear();
    endInsertRows();
    emit flushed(incoming);
    emit countersChanged();
}

void TrafficModel::setPaused(bool paused) {
    paused_ = paused;
    if (!paused) flush();
}

void TrafficModel::setCapacity(int rows) {
    capacity_ = std::max(1, rows);
    while (static_cast<int>(pending_.size()) > capacity_) {
        pending_.pop_front();
        ++evicted_;
    }
    const int excess = static_cast<int>(rows_.size()) - capacity_;
    if (excess > 0) {
        beginRemoveRows({}, 0, excess - 1);
        rows_.erase(rows_.begin(), rows_.begin() + excess);
        endRemoveRows();
        evicted_ += excess;
    }
}

void TrafficModel::clear() {
    beginResetModel();
    rows_.clear();
    pending_.clear();
    endResetModel();
    received_ = droppedByService_ = evicted_ = malformed_ = 0;
    emit countersChanged();
}

// --- filter ---

QString TrafficFilterModel::setFilterText(const QString& text) {
    std::vector<Term> terms;
    for (const QString& word : text.split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
        Term t;
        const qsizetype colon = word.indexOf(QLatin1Char(':'));
        const QString key = colon > 0 ? word.left(colon).toLower() : QString();
        const QString value = colon > 0 ? word.mid(colon + 1) : word;
        if (key.isEmpty()) {
            t.kind = Term::Any;
        } else if (key == QLatin1String("status")) {
            static const QRegularExpression kClass(QStringLiteral("^[1-5]xx$"),
                                                   QRegularExpression::CaseInsensitiveOption);
            bool ok = false;
            const int code = value.toInt(&ok);
            if (kClass.match(value).hasMatch()) {
                t.kind = Term::StatusClass;
                t.number = value.at(0).digitValue();
            } else if (ok && code >= 0 && code <= 999) {
                t.kind = Term::StatusCode;
                t.number = code;
            } else {
                return tr("status:%1 is neither a code (404) nor a class (5xx)").arg(value);
            }
        } else if (key == QLatin1String("method")) {
            t.kind = Term::Method;
        } else if (key == QLatin1String("host")) {
            t.kind = Term::Host;
        } else if (key == QLatin1String("path")) {
            t.kind = Term::Path;
        } else if (key == QLatin1String("client")) {
            t.kind = Term::Client;
        } else if (key == QLatin1String("route")) {
            t.kind = Term::Route;
        } else if (key == QLatin1String("server") || key == QLatin1String("upstream")) {
            t.kind = Term::Server;
        } else if (key == QLatin1String("id")) {
            t.kind = Term::Id;
        } else {
            // "http://x" or "[::1]:80" typed as free text: search for the whole word.
            t.kind = Term::Any;
            t.value = word;
            terms.push_back(t);
            continue;
        }
        if (t.kind != Term::StatusClass && t.kind != Term::StatusCode && value.isEmpty())
            return tr("%1: needs a value").arg(key);
        t.value = value;
        terms.push_back(t);
    }
    terms_ = std::move(terms);
    invalidateFilter();
    return {};
}

bool TrafficFilterModel::accepts(const TrafficEvent& e) const {
    constexpr auto ci = Qt::CaseInsensitive;
    for (const Term& t : terms_) {
        bool ok = false;
        switch (t.kind) {
            case Term::StatusClass:
                ok = e.statusClass() == t.number;
                break;
            case Term::StatusCode:
                ok = e.status == t.number;
                break;
            case Term::Method:
                ok = e.method.compare(t.value, ci) == 0;
                break;
            case Term::Host:
                ok = e.host.contains(t.value, ci);
                break;
            case Term::Path:
                ok = e.path.contains(t.value);
                break;
            case Term::Client:
                ok = e.client.contains(t.value, ci);
                break;
            case Term::Route:
                ok = e.route.contains(t.value, ci);
                break;
            case Term::Server:
                ok = e.server.contains(t.value, ci);
                break;
            case Term::Id:
                ok = e.requestId.contains(t.value, ci);
                break;
            case Term::Any:
                ok = e.host.contains(t.value, ci) || e.path.contains(t.value, ci) ||
                     e.client.contains(t.value, ci) || e.server.contains(t.value, ci) ||
                     e.route.contains(t.value, ci) || e.requestId.contains(t.value, ci) ||
                     e.method.compare(t.value, ci) == 0;
                break;
        }
        if (!ok) return false;
    }
    return true;
}

bool TrafficFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (sourceParent.isValid() || terms_.empty()) return !sourceParent.isValid();
    const auto* model = qobject_cast<const TrafficModel*>(sourceModel());
    if (!model || sourceRow >= model->rowCount()) return false;
    return accepts(model->event(sourceRow));
}

}  // namespace proxy::console
