#include "views/log_view.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QDateTimeAxis>
#include <QDateTimeEdit>
#include <QFile>
#include <QFileDialog>
#include <QFontDatabase>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLineSeries>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>

#include "models/log_model.h"
#include "models/traffic_model.h"

namespace proxy::console {

namespace {
constexpr int kMaxPageSize = 1000;  // logs.query's limit (docs/control-protocol.md)
// Quick ranges: label, minutes (0 = custom).
const std::pair<const char*, int> kRanges[] = {{"Last 15 minutes", 15}, {"Last hour", 60},
                                               {"Last 6 hours", 360},   {"Last 24 hours", 1440},
                                               {"Last 7 days", 10080},  {"Custom range", 0}};
}  // namespace

LogView::LogView(ServiceClient* client, QWidget* parent) : QWidget(parent), client_(client) {
    auto* layout = new QVBoxLayout(this);
    notice_ = new QLabel(this);
    notice_->setObjectName(QStringLiteral("logNotice"));
    notice_->setWordWrap(true);
    notice_->setStyleSheet(QStringLiteral("background:#fff3cd;padding:6px;"));
    notice_->setVisible(false);
    layout->addWidget(notice_);

    auto* filters = new QGridLayout();
    range_ = new QComboBox(this);
    for (const auto& [label, minutes] : kRanges) range_->addItem(tr(label), minutes);
    range_->setCurrentIndex(1);
    range_->setAccessibleName(tr("Time range"));
    from_ = new QDateTimeEdit(QDateTime::currentDateTime().addSecs(-3600), this);
    to_ = new QDateTimeEdit(QDateTime::currentDateTime(), this);
    for (auto* e : {from_, to_}) {
        e->setCalendarPopup(true);
        e->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
        e->setEnabled(false);
    }
    from_->setAccessibleName(tr("From"));
    to_->setAccessibleName(tr("To"));
    connect(range_, &QComboBox::currentIndexChanged, this, [this] {
        const bool custom = range_->currentData().toInt() == 0;
        from_->setEnabled(custom);
        to_->setEnabled(custom);
    });
    auto edit = [this](const QString& name, const QString& placeholder) {
        auto* e = new QLineEdit(this);
        e->setObjectName(name);
        e->setPlaceholderText(placeholder);
        e->setAccessibleName(placeholder);
        e->setClearButtonEnabled(true);
        return e;
    };
    status_ = edit(QStringLiteral("logStatus"), tr("status: 404, 5xx"));
    method_ = edit(QStringLiteral("logMethod"), tr("method"));
    host_ = edit(QStringLiteral("logHost"), tr("host"));
    client_addr_ = edit(QStringLiteral("logClient"), tr("client IP"));
    route_ = edit(QStringLiteral("logRoute"), tr("route"));
    upstream_ = edit(QStringLiteral("logUpstream"), tr("upstream"));
    server_ = edit(QStringLiteral("logServer"), tr("server host:port"));
    pathPrefix_ = edit(QStringLiteral("logPathPrefix"), tr("path prefix /api/"));
    pathContains_ = edit(QStringLiteral("logPathContains"), tr("path contains"));
    search_ = new QPushButton(tr("&Search"), this);
    search_->setObjectName(QStringLiteral("logSearch"));
    search_->setDefault(true);
    auto* exportButton = new QPushButton(tr("Export &CSV…"), this);
    filters->addWidget(range_, 0, 0);
    filters->addWidget(from_, 0, 1);
    filters->addWidget(to_, 0, 2);
    filters->addWidget(status_, 0, 3);
    filters->addWidget(method_, 0, 4);
    filters->addWidget(search_, 0, 5);
    filters->addWidget(host_, 1, 0);
    filters->addWidget(client_addr_, 1, 1);
    filters->addWidget(route_, 1, 2);
    filters->addWidget(upstream_, 1, 3);
    filters->addWidget(server_, 1, 4);
    filters->addWidget(exportButton, 1, 5);
    filters->addWidget(pathPrefix_, 2, 0, 1, 2);
    filters->addWidget(pathContains_, 2, 2, 1, 3);
    layout->addLayout(filters);
    for (QLineEdit* e : findChildren<QLineEdit*>())
        connect(e, &QLineEdit::returnPressed, this, &LogView::runQuery);
    connect(search_, &QPushButton::clicked, this, &LogView::runQuery);
    connect(exportButton, &QPushButton::clicked, this, &LogView::exportCsv);

    // Chart of the range.
    chart_ = new QChart();
    chart_->setTitle(tr("Per minute"));
    requests_ = new QLineSeries(chart_);
    requests_->setName(tr("requests"));
    errors_ = new QLineSeries(chart_);
    errors_->setName(tr("errors"));
    errors_->setColor(QColor(0xc6, 0x28, 0x28));
    p99_ = new QLineSeries(chart_);
    p99_->setName(tr("p99 ms"));
    timeAxis_ = new QDateTimeAxis(chart_);
    timeAxis_->setFormat(QStringLiteral("MM-dd HH:mm"));
    countAxis_ = new QValueAxis(chart_);
    countAxis_->setLabelFormat(QStringLiteral("%.0f"));
    msAxis_ = new QValueAxis(chart_);
    msAxis_->setLabelFormat(QStringLiteral("%.0f ms"));
    chart_->addAxis(timeAxis_, Qt::AlignBottom);
    chart_->addAxis(countAxis_, Qt::AlignLeft);
    chart_->addAxis(msAxis_, Qt::AlignRight);
    for (QLineSeries* s : {requests_, errors_, p99_})
        s->setPointsVisible(true);  // a lone minute shows too
    for (QLineSeries* s : {requests_, errors_}) {
        chart_->addSeries(s);
        s->attachAxis(timeAxis_);
        s->attachAxis(countAxis_);
    }
    chart_->addSeries(p99_);
    p99_->attachAxis(timeAxis_);
    p99_->attachAxis(msAxis_);
    chart_->legend()->setAlignment(Qt::AlignRight);
    auto* chartView = new QChartView(chart_, this);
    chartView->setRenderHint(QPainter::Antialiasing);
    chartView->setMinimumHeight(160);
    chartView->setMaximumHeight(220);
    chartView->setAccessibleName(tr("Requests per minute chart"));
    layout->addWidget(chartView);

    model_ = new LogModel(this);
    auto* split = new QSplitter(Qt::Vertical, this);
    table_ = new QTableView(split);
    table_->setObjectName(QStringLiteral("logTable"));
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    table_->horizontalHeader()->setSectionResizeMode(LogModel::Path, QHeaderView::Stretch);
    table_->setWordWrap(false);
    table_->setAccessibleName(tr("Access log rows"));
    details_ = new QPlainTextEdit(split);
    details_->setReadOnly(true);
    details_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    details_->setAccessibleName(tr("Row details"));
    split->addWidget(table_);
    split->addWidget(details_);
    split->setStretchFactor(0, 4);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);
    auto* bottom = new QHBoxLayout();
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("logSummary"));
    more_ = new QPushButton(tr("Load &more"), this);
    more_->setObjectName(QStringLiteral("logMore"));
    more_->setEnabled(false);
    bottom->addWidget(summary_, 1);
    bottom->addWidget(more_);
    layout->addLayout(bottom);
    connect(more_, &QPushButton::clicked, this, &LogView::loadMore);
    connect(model_, &LogModel::fetchRequested, this, &LogView::requestPage);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &LogView::showRow);
}

void LogView::setPageSize(int rows) {
    pageSize_ = std::clamp(rows, 1, kMaxPageSize);
}

QString LogView::chartTitle() const {
    return chart_->title();
}

qint64 LogView::chartedRequests() const {
    qint64 sum = 0;
    for (const QPointF& p : requests_->points()) sum += static_cast<qint64>(p.y());
    return sum;
}

QString LogView::notice() const {
    return notice_->isHidden() ? QString() : notice_->text();
}

void LogView::setNotice(const QString& text) {
    notice_->setText(text);
    notice_->setVisible(!text.isEmpty());
}

QString LogView::buildParams(Json& params) const {
    params = Json::object();
    qint64 fromMs = 0, toMs = 0;
    const int minutes = range_->currentData().toInt();
    if (minutes > 0) {
        toMs =
            QDateTime::currentMSecsSinceEpoch() + 1000;  // a little slack for rows written just now
        fromMs = toMs - minutes * 60'000LL - 1000;
    } else {
        fromMs = from_->dateTime().toMSecsSinceEpoch();
        toMs = to_->dateTime().toMSecsSinceEpoch();
        if (fromMs >= toMs) return tr("The range's start must be before its end.");
    }
    params["from_ms"] = fromMs;
    params["to_ms"] = toMs;
    const QString status = status_->text().trimmed();
    if (!status.isEmpty()) {
        Json list = Json::array();
        static const QRegularExpression kClass(QStringLiteral("^[1-5]xx$"),
                                               QRegularExpression::CaseInsensitiveOption);
        for (const QString& part :
             status.split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts)) {
            bool ok = false;
            const int code = part.toInt(&ok);
            if (ok && code >= 0 && code <= 999)
                list.push_back(code);
            else if (kClass.match(part).hasMatch())
                list.push_back(part.toLower().toStdString());
            else
                return tr("Status: '%1' is neither a code (404) nor a class (5xx).").arg(part);
        }
        params["status"] = list;
    }
    auto put = [&](const char* key, QLineEdit* e, bool upper = false) {
        const QString v = e->text().trimmed();
        if (!v.isEmpty()) params[key] = (upper ? v.toUpper() : v).toStdString();
    };
    put("method", method_, true);
    put("host", host_);
    put("client", client_addr_);
    put("route", route_);
    put("upstream", upstream_);
    put("server", server_);
    put("path_prefix", pathPrefix_);
    put("path_contains", pathContains_);
    return {};
}

void LogView::runQuery() {
    Json params;
    const QString error = buildParams(params);
    if (!error.isEmpty()) {
        setNotice(error);
        return;
    }
    setNotice({});
    lastParams_ = params;
    ++queryGeneration_;
    model_->reset();
    details_->clear();
    requestPage({});
    runAggregate(params);
}

void LogView::loadMore() {
    if (model_->canFetchMore({})) model_->fetchMore({});
}

void LogView::requestPage(const QString& cursor) {
    Json params = lastParams_;
    params["limit"] = pageSize_;
    if (!cursor.isEmpty()) params["cursor"] = cursor.toStdString();
    const quint64 generation = queryGeneration_;
    queryInFlight_ = true;
    more_->setEnabled(false);
    summary_->setText(tr("Loading…"));
    client_->call(
        QStringLiteral("logs.query"), params, this,
        [this, generation](const RpcReply& r) {
            if (generation != queryGeneration_) return;  // a newer query replaced this one
            queryInFlight_ = false;
            if (!r.ok()) {
                model_->pageFailed();
                if (r.methodMissing())
                    setNotice(
                        tr("This service does not offer logs.query: the log browser needs a newer "
                           "proxy-service."));
                else
                    setNotice(tr("The query failed: %1").arg(r.describe()));
                summary_->setText(tr("%n row(s) loaded", nullptr, model_->rowCount()));
                return;
            }
            if (!model_->appendPage(r.result))
                setNotice(tr("The service answered logs.query with an unexpected shape."));
            QString text = tr("%n row(s) loaded, newest first", nullptr, model_->rowCount());
            if (model_->full())
                text += tr(" — the table holds at most %1 rows; narrow the query to see older ones")
                            .arg(LogModel::kMaxRows);
            else if (!model_->hasMore())
                text += tr(" — that is all");
            summary_->setText(text);
            more_->setEnabled(model_->hasMore());
            if (model_->rowCount() <= pageSize_)
                table_->resizeColumnsToContents();  // once per query
        },
        30000);
}

void LogView::runAggregate(const Json& query) {
    Json params = query;  // the same filters (docs/logging.md "Queries"), no paging
    const qint64 span = integer(member(params, "to_ms")) - integer(member(params, "from_ms"));
    for (QLineSeries* s : {requests_, errors_, p99_}) s->clear();
    if (span > 7LL * 24 * 3600 * 1000) {
        chart_->setTitle(tr("Per minute (ranges over 7 days are not charted)"));
        return;
    }
    const quint64 generation = queryGeneration_;
    client_->call(
        QStringLiteral("logs.aggregate"), params, this,
        [this, generation, query](const RpcReply& r) {
            if (generation != queryGeneration_) return;
            if (!r.ok()) {
                chart_->setTitle(
                    r.methodMissing()
                        ? tr("Per minute (logs.aggregate is not offered by this service)")
                        : tr("Per minute (unavailable: %1)").arg(r.message));
                return;
            }
            const Json& totals = member(r.result, "totals");
            chart_->setTitle(tr("Per minute — %1 requests, %2 errors in the range")
                                 .arg(integerOf(totals, "requests"))
                                 .arg(integerOf(totals, "errors")));
            double top = 1, topMs = 1;
            for (const auto& m : member(r.result, "minutes")) {
                const auto x = static_cast<double>(integerOf(m, "minute_ms"));
                const auto n = static_cast<double>(integerOf(m, "requests"));
                requests_->append(x, n);
                errors_->append(x, static_cast<double>(integerOf(m, "errors")));
                const double p99 = number(member(m, "p99_us")) / 1000.0;
                p99_->append(x, p99);
                top = std::max(top, n);
                topMs = std::max(topMs, p99);
            }
            timeAxis_->setRange(QDateTime::fromMSecsSinceEpoch(integerOf(query, "from_ms")),
                                QDateTime::fromMSecsSinceEpoch(integerOf(query, "to_ms")));
            countAxis_->setRange(0, top * 1.1);
            msAxis_->setRange(0, topMs * 1.1);
        },
        30000);
}

void LogView::showRequest(const TrafficEvent& event) {
    for (QLineEdit* e :
         {status_, method_, host_, route_, upstream_, server_, pathPrefix_, pathContains_})
        e->clear();
    client_addr_->setText(event.client);
    if (event.timeMs > 0) {
        range_->setCurrentIndex(static_cast<int>(std::size(kRanges)) - 1);  // custom
        from_->setDateTime(QDateTime::fromMSecsSinceEpoch(event.timeMs - 60'000));
        to_->setDateTime(QDateTime::fromMSecsSinceEpoch(event.timeMs + 60'000));
    }
    runQuery();
}

void LogView::showRow() {
    const auto index = table_->selectionModel()->currentIndex();
    if (!index.isValid() || index.row() >= model_->rowCount()) {
        details_->clear();
        return;
    }
    details_->setPlainText(toText(model_->rowJson(index.row()), 2));
}

void LogView::exportCsv() {
    if (model_->rowCount() == 0) {
        emit statusMessage(tr("Nothing to export: run a query first"));
        return;
    }
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export rows"), QStringLiteral("access-log.csv"), tr("CSV (*.csv)"));
    if (path.isEmpty()) return;
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || !model_->writeCsv(f)) {
        QMessageBox::warning(this, tr("Export"),
                             tr("Cannot write %1: %2").arg(path, f.errorString()));
        return;
    }
    emit statusMessage(tr("%n row(s) written to %1", nullptr, model_->rowCount()).arg(path));
}

}  // namespace proxy::console
