#include "models/log_model.h"

#include <QColor>
#include <QDateTime>

#include "models/traffic_model.h"

namespace proxy::console {

namespace {
// The access record's fields (docs/logging.md), in CSV column order.
const char* const kCsvFields[] = {"time",
                                  "request_id",
                                  "client_addr",
                                  "client_port",
                                  "listener",
                                  "route",
                                  "method",
                                  "host",
                                  "path",
                                  "query",
                                  "http_version",
                                  "status",
                                  "bytes_in",
                                  "bytes_out",
                                  "duration_us",
                                  "upstream",
                                  "upstream_server",
                                  "upstream_connect_us",
                                  "upstream_response_us",
                                  "user_agent",
                                  "referer",
                                  "tls_version",
                                  "cache_status",
                                  "security_action",
                                  "error"};

QString csvField(const QString& value) {
    if (!value.contains(QLatin1Char(',')) && !value.contains(QLatin1Char('"')) &&
        !value.contains(QLatin1Char('\n')) && !value.contains(QLatin1Char('\r')))
        return value;
    QString quoted = value;
    quoted.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + quoted + QLatin1Char('"');
}

QString timeText(const Json& row) {
    const Json& us = member(row, "ts_us").is_null() ? member(row, "time_us") : member(row, "ts_us");
    if (us.is_number())
        return QDateTime::fromMSecsSinceEpoch(integer(us) / 1000)
            .toString(QStringLiteral("MM-dd HH:mm:ss.zzz"));
    return textOf(row, "time");
}
}  // namespace

int LogModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int LogModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LogModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const Json& r = rows_[static_cast<std::size_t>(index.row())];
    if (role == Qt::BackgroundRole) {
        const auto status = integerOf(r, "status");
        return TrafficModel::statusColor(
            status >= 100 && status < 600 ? static_cast<int>(status / 100) : 0);
    }
    if (role == Qt::ForegroundRole) return QColor(Qt::black);
    if (role != Qt::DisplayRole && role != Qt::ToolTipRole) return {};
    switch (index.column()) {
        case Time:
            return timeText(r);
        case Status:
            return integerOf(r, "status") ? textOf(r, "status") : QStringLiteral("—");
        case Method:
            return textOf(r, "method");
        case Host:
            return textOf(r, "host");
        case Path: {
            const QString query = textOf(r, "query");
            return query.isEmpty() ? textOf(r, "path")
                                   : textOf(r, "path") + QLatin1Char('?') + query;
        }
        case Client:
            return textOf(r, "client_addr", textOf(r, "client"));
        case Route:
            return textOf(r, "route");
        case Upstream:
            return textOf(r, "upstream");
        case Server:
            return textOf(r, "upstream_server");
        case Duration:
            return QString::number(static_cast<double>(integerOf(r, "duration_us")) / 1000.0, 'f',
                                   1);
        case BytesOut:
            return static_cast<qlonglong>(integerOf(r, "bytes_out"));
        case RequestId:
            return textOf(r, "request_id");
        case Error:
            return textOf(r, "error");
        default:
            return {};
    }
}

QVariant LogModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Time",      "Status",     "Method",   "Host",   "Path",
                                         "Client",    "Route",      "Upstream", "Server", "ms",
                                         "Bytes out", "Request id", "Error"};
    return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

bool LogModel::canFetchMore(const QModelIndex& parent) const {
    return !parent.isValid() && hasMore() && !loading_ && !failed_;
}

void LogModel::fetchMore(const QModelIndex& parent) {
    if (!canFetchMore(parent)) return;
    loading_ = true;
    emit fetchRequested(cursor_);
}

void LogModel::reset() {
    beginResetModel();
    rows_.clear();
    endResetModel();
    cursor_.clear();
    loading_ = true;  // the caller is about to ask for the first page
    failed_ = false;
}

bool LogModel::appendPage(const Json& result) {
    loading_ = false;
    const Json& rows = member(result, "rows");
    if (!rows.is_array()) {
        failed_ = true;
        return false;
    }
    const Json& next = member(result, "next_cursor");
    cursor_ = next.is_string() ? QString::fromStdString(next.get<std::string>()) : QString();
    std::size_t take =
        std::min<std::size_t>(rows.size(), static_cast<std::size_t>(kMaxRows) - rows_.size());
    if (take > 0) {
        const int first = rowCount();
        beginInsertRows({}, first, first + static_cast<int>(take) - 1);
        for (std::size_t i = 0; i < take; ++i) rows_.push_back(rows[i]);
        endInsertRows();
    }
    return true;
}

void LogModel::pageFailed() {
    loading_ = false;
    failed_ = true;
}

bool LogModel::writeCsv(QIODevice& out) const {
    QStringList header;
    for (const char* f : kCsvFields) header << QString::fromLatin1(f);
    if (out.write((header.join(QLatin1Char(',')) + QStringLiteral("\r\n")).toUtf8()) < 0)
        return false;
    for (const Json& r : rows_) {
        QStringList cells;
        for (const char* f : kCsvFields) {
            const Json& v = member(r, f);
            if (std::string_view(f) == "time" && v.is_null())
                cells << csvField(timeText(r));
            else if (std::string_view(f) == "client_addr" && v.is_null())
                cells << csvField(textOf(r, "client"));
            else
                cells << csvField(text(v));
        }
        if (out.write((cells.join(QLatin1Char(',')) + QStringLiteral("\r\n")).toUtf8()) < 0)
            return false;
    }
    return true;
}

}  // namespace proxy::console
