#include "views/dashboard_view.h"

#include <QChart>
#include <QChartView>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineSeries>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QStyle>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>
#include <QValueAxis>

#include "models/certificates_model.h"
#include "models/upstreams_model.h"
#include "service_client/certificates.h"

namespace proxy::console {

namespace {

QString duration(qint64 seconds) {
    const qint64 d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                 s = seconds % 60;
    if (d) return QStringLiteral("%1d %2h %3m").arg(d).arg(h).arg(m);
    if (h) return QStringLiteral("%1h %2m %3s").arg(h).arg(m).arg(s);
    return QStringLiteral("%1m %2s").arg(m).arg(s);
}

QChartView* chartView(QChart* chart, QWidget* parent, const QString& name) {
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    auto* view = new QChartView(chart, parent);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(200);
    view->setAccessibleName(name);
    return view;
}

void trim(QLineSeries* series, qint64 oldestMs) {
    int drop = 0;
    while (drop < series->count() && series->at(drop).x() < static_cast<double>(oldestMs)) ++drop;
    if (drop > 0) series->removePoints(0, drop);
}

double seriesMax(const QLineSeries* series, double floor) {
    double top = floor;
    for (int i = 0; i < series->count(); ++i) top = std::max(top, series->at(i).y());
    return top;
}

}  // namespace

DashboardView::DashboardView(ServiceClient* client, QWidget* parent)
    : QWidget(parent), client_(client) {
    auto* layout = new QVBoxLayout(this);

    auto* statusBox = new QGroupBox(tr("Service"), this);
    auto* statusLayout = new QVBoxLayout(statusBox);
    status_ = new QLabel(tr("Not connected."), statusBox);
    status_->setObjectName(QStringLiteral("serviceStatus"));
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    status_->setWordWrap(true);
    statsNote_ = new QLabel(statusBox);
    statsNote_->setWordWrap(true);
    statsNote_->setStyleSheet(QStringLiteral("color:#a86600;"));
    statsNote_->setVisible(false);
    statusLayout->addWidget(status_);
    statusLayout->addWidget(statsNote_);
    layout->addWidget(statusBox);

    // Certificates that expire within 30 days (or have expired): icon, coloured text and a link.
    certificates_ = new CertificatesModel(this);
    certWarning_ = new QWidget(this);
    certWarning_->setObjectName(QStringLiteral("certificateWarning"));
    auto* certLayout = new QHBoxLayout(certWarning_);
    certLayout->setContentsMargins(6, 4, 6, 4);
    certWarningIcon_ = new QLabel(certWarning_);
    certWarningText_ = new QLabel(certWarning_);
    certWarningText_->setObjectName(QStringLiteral("certificateWarningText"));
    certWarningText_->setWordWrap(true);
    certWarningText_->setTextFormat(Qt::PlainText);
    certWarningText_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* showCertificates = new QPushButton(tr("Show &certificates"), certWarning_);
    showCertificates->setObjectName(QStringLiteral("showCertificates"));
    certLayout->addWidget(certWarningIcon_);
    certLayout->addWidget(certWarningText_, 1);
    certLayout->addWidget(showCertificates);
    certWarning_->setVisible(false);
    layout->addWidget(certWarning_);
    connect(showCertificates, &QPushButton::clicked, this,
            [this] { emit showCertificatesRequested(); });
    connect(certificates_, &CertificatesModel::summaryChanged, this,
            &DashboardView::updateCertificateWarning);

    // Charts.
    trafficChart_ = new QChart();
    trafficChart_->setTitle(tr("Requests per second and error rate"));
    rps_ = new QLineSeries(trafficChart_);
    rps_->setName(tr("requests/s"));
    errors_ = new QLineSeries(trafficChart_);
    errors_->setName(tr("errors % (5xx and no response)"));
    errors_->setColor(QColor(0xc6, 0x28, 0x28));
    trafficChart_->addSeries(rps_);
    trafficChart_->addSeries(errors_);
    trafficTime_ = new QDateTimeAxis(trafficChart_);
    trafficTime_->setFormat(QStringLiteral("HH:mm:ss"));
    trafficTime_->setTickCount(6);
    rpsAxis_ = new QValueAxis(trafficChart_);
    rpsAxis_->setLabelFormat(QStringLiteral("%.0f"));
    rpsAxis_->setTitleText(tr("req/s"));
    errorAxis_ = new QValueAxis(trafficChart_);
    errorAxis_->setRange(0, 100);
    errorAxis_->setLabelFormat(QStringLiteral("%.0f%%"));
    trafficChart_->addAxis(trafficTime_, Qt::AlignBottom);
    trafficChart_->addAxis(rpsAxis_, Qt::AlignLeft);
    trafficChart_->addAxis(errorAxis_, Qt::AlignRight);
    rps_->attachAxis(trafficTime_);
    rps_->attachAxis(rpsAxis_);
    errors_->attachAxis(trafficTime_);
    errors_->attachAxis(errorAxis_);

    latencyChart_ = new QChart();
    latencyChart_->setTitle(tr("Latency (ms)"));
    p50_ = new QLineSeries(latencyChart_);
    p50_->setName(tr("p50 (since start)"));
    p99_ = new QLineSeries(latencyChart_);
    p99_->setName(tr("p99 (since start)"));
    mean_ = new QLineSeries(latencyChart_);
    mean_->setName(tr("mean (per interval)"));
    latencyTime_ = new QDateTimeAxis(latencyChart_);
    latencyTime_->setFormat(QStringLiteral("HH:mm:ss"));
    latencyTime_->setTickCount(6);
    latencyAxis_ = new QValueAxis(latencyChart_);
    latencyAxis_->setLabelFormat(QStringLiteral("%.1f"));
    latencyChart_->addAxis(latencyTime_, Qt::AlignBottom);
    latencyChart_->addAxis(latencyAxis_, Qt::AlignLeft);
    for (QLineSeries* s : {p50_, p99_, mean_}) {
        latencyChart_->addSeries(s);
        s->attachAxis(latencyTime_);
        s->attachAxis(latencyAxis_);
    }
    auto* charts = new QHBoxLayout();
    charts->addWidget(chartView(trafficChart_, this, tr("Requests and errors chart")), 1);
    charts->addWidget(chartView(latencyChart_, this, tr("Latency chart")), 1);
    layout->addLayout(charts, 2);

    // Upstreams and the timeline.
    auto* split = new QSplitter(Qt::Horizontal, this);
    auto* upstreamBox = new QGroupBox(tr("Upstream servers"), split);
    auto* upstreamLayout = new QVBoxLayout(upstreamBox);
    upstreams_ = new UpstreamsModel(this);
    table_ = new QTableView(upstreamBox);
    table_->setObjectName(QStringLiteral("upstreamTable"));
    table_->setModel(upstreams_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->setVisible(false);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->horizontalHeader()->setSectionResizeMode(UpstreamsModel::Server,
                                                     QHeaderView::ResizeToContents);
    table_->setAccessibleName(tr("Upstream servers"));
    upstreamLayout->addWidget(table_, 1);
    auto* actions = new QHBoxLayout();
    drain_ = new QPushButton(tr("&Drain"), upstreamBox);
    drain_->setToolTip(tr("No new requests; open ones finish"));
    disable_ = new QPushButton(tr("D&isable"), upstreamBox);
    disable_->setToolTip(tr("Out of rotation"));
    enable_ = new QPushButton(tr("E&nable"), upstreamBox);
    enable_->setToolTip(tr("Back in rotation"));
    for (auto* b : {drain_, disable_, enable_}) actions->addWidget(b);
    actions->addStretch(1);
    upstreamLayout->addLayout(actions);
    connect(drain_, &QPushButton::clicked, this, [this] { serverAction(QStringLiteral("drain")); });
    connect(disable_, &QPushButton::clicked, this,
            [this] { serverAction(QStringLiteral("disable")); });
    connect(enable_, &QPushButton::clicked, this,
            [this] { serverAction(QStringLiteral("enable")); });
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &DashboardView::updateActionButtons);

    auto* timelineBox = new QGroupBox(tr("State changes"), split);
    auto* timelineLayout = new QVBoxLayout(timelineBox);
    timeline_ = new QListWidget(timelineBox);
    timeline_->setObjectName(QStringLiteral("timeline"));
    timeline_->setAccessibleName(tr("Timeline of server state changes"));
    timelineLayout->addWidget(timeline_);
    split->addWidget(upstreamBox);
    split->addWidget(timelineBox);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    layout->addWidget(split, 2);

    connect(
        upstreams_, &UpstreamsModel::serverChanged, this,
        [this](const QString& upstream, const QString& server, const QString& field,
               const QString& from, const QString& to) {
            const QString when = QDateTime::currentDateTime().toString(QStringLiteral("HH:mm:ss"));
            const QString text =
                from.isEmpty()
                    ? tr("%1  %2 / %3 appeared (%4)").arg(when, upstream, server, to)
                    : tr("%1  %2 / %3: %4 %5 → %6").arg(when, upstream, server, field, from, to);
            timeline_->insertItem(0, text);
            while (timeline_->count() > 500) delete timeline_->takeItem(timeline_->count() - 1);
        });

    timer_ = new QTimer(this);
    timer_->setInterval(kPollMs);
    connect(timer_, &QTimer::timeout, this, &DashboardView::poll);
    timer_->start();
    connect(client_, &ServiceClient::connected, this, [this] {
        sampler_.reset();  // counters of a restarted service start over
        setReadOnly(client_->isReadOnly());
        poll();
    });
    // Server actions follow the connection at once, not at the next poll.
    connect(client_, &ServiceClient::stateChanged, this, &DashboardView::updateActionButtons);
    connect(client_, &ServiceClient::disconnected, this, [this](const QString& reason) {
        status_->setText(
            status_->text() +
            tr("\n\nDisconnected: %1 — the figures above are the last known.").arg(reason));
    });
    updateActionButtons();
}

QString DashboardView::certificateWarningText() const {
    return certWarning_->isHidden() ? QString() : certWarningText_->text();
}

void DashboardView::updateCertificateWarning() {
    const int invalid = certificates_->invalidCount(), expiring = certificates_->expiringCount();
    if (invalid == 0 && expiring == 0) {
        certWarning_->setVisible(false);
        return;
    }
    const bool error = invalid > 0;
    const int size = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    certWarningIcon_->setPixmap(
        style()
            ->standardIcon(error ? QStyle::SP_MessageBoxCritical : QStyle::SP_MessageBoxWarning)
            .pixmap(size, size));
    const QString summary = certificates_->summary();
    certWarningText_->setText(
        QStringLiteral("%1 %2").arg(error ? tr("Certificate error:") : tr("Certificate warning:"),
                                    summary));
    certWarning_->setAccessibleName(certWarningText_->text());
    certWarning_->setStyleSheet(
        error ? QStringLiteral("#certificateWarning{background:#fde2e2;color:#b71c1c;}")
              : QStringLiteral("#certificateWarning{background:#fff3d6;color:#8a5200;}"));
    certWarning_->setVisible(true);
}

QString DashboardView::statusText() const {
    return status_->text();
}
int DashboardView::timelineCount() const {
    return timeline_->count();
}

void DashboardView::setReadOnly(bool readOnly) {
    readOnly_ = readOnly;
    updateActionButtons();
}

void DashboardView::updateActionButtons() {
    const bool selected = table_->selectionModel()->hasSelection();
    const QString why =
        readOnly_ ? tr("Read-only connection: server actions need the admin role") : QString();
    for (auto* b : {drain_, disable_, enable_}) {
        b->setEnabled(selected && !readOnly_ && client_->isConnected());
        if (readOnly_) b->setToolTip(why);
    }
}

void DashboardView::pollOnce(const QString& method,
                             const std::function<void(const RpcReply&)>& onReply) {
    if (inFlight_.count(method)) return;
    inFlight_.insert(method);
    client_->call(
        method, Json::object(), this,
        [this, method, onReply](const RpcReply& r) {
            inFlight_.erase(method);
            onReply(r);
        },
        10000);
}

void DashboardView::poll() {
    if (!client_->isConnected()) {
        updateActionButtons();
        return;
    }
    // Polling a hidden dashboard would still feed the charts; that is wanted (history while away).
    pollOnce(QStringLiteral("status"), [this](const RpcReply& r) {
        if (r.ok()) onStatus(r.result);
    });
    pollOnce(QStringLiteral("stats.get"), [this](const RpcReply& r) {
        if (r.ok()) {
            onStats(r.result);
        } else if (r.methodMissing()) {
            statsNote_->setText(
                tr("This service does not offer stats.get, so there are no charts."));
            statsNote_->setVisible(true);
        }
    });
    pollOnce(QStringLiteral("upstreams.list"), [this](const RpcReply& r) {
        if (r.ok()) {
            upstreams_->update(r.result);
            updateActionButtons();
        }
    });
}

void DashboardView::onStatus(const Json& s) {
    QStringList listeners;
    for (const auto& l : member(s, "listeners"))
        listeners << QStringLiteral("%1 (%2)").arg(textOf(l, "name"), textOf(l, "address"));
    const Json& connections = member(s, "connections");
    QString text = tr("%1 %2 — up %3 — config v%4 — %5 worker(s)")
                       .arg(client_->serverName().isEmpty() ? QStringLiteral("proxy-service")
                                                            : client_->serverName(),
                            textOf(s, "version", client_->serverVersion()),
                            duration(integerOf(s, "uptime_seconds")))
                       .arg(integerOf(s, "config_version"))
                       .arg(integerOf(s, "workers"));
    text += tr("\nListeners: %1")
                .arg(listeners.isEmpty() ? tr("none") : listeners.join(QStringLiteral(", ")));
    text += tr("\nConnections: %1 active, %2 accepted")
                .arg(integerOf(connections, "active"))
                .arg(integerOf(connections, "accepted"));
    const Json& dropped = member(s, "dropped_log_records");
    if (lastDropped_ < 0 && dropped.is_number()) lastDropped_ = integer(dropped);
    if (lastDropped_ >= 0) text += tr("\nDropped access-log records: %1").arg(lastDropped_);
    text += tr("\nControl: %1 as %2").arg(client_->endpoint(), client_->role());
    status_->setText(text);
    if (const auto certificates = certificatesFromStatus(s))
        certificates_->update(*certificates);
    else
        certificates_->clear();
}

void DashboardView::onStats(const Json& stats) {
    // time_ms says when the service took the counters; better than when the answer arrived.
    const qint64 now = integerOf(stats, "time_ms", QDateTime::currentMSecsSinceEpoch());
    const auto point = sampler_.add(now, stats);
    upstreams_->mergeServerMetrics(stats);
    if (const auto& totals = sampler_.lastTotals(); totals && totals->droppedRecords)
        lastDropped_ = *totals->droppedRecords;
    const bool hasLatency = sampler_.lastTotals() && sampler_.lastTotals()->hasLatency;
    if (!hasLatency && statsNote_->isHidden()) {
        statsNote_->setText(
            tr("This service's stats.get has no latency histograms yet; the latency chart stays "
               "empty."));
        statsNote_->setVisible(true);
    } else if (hasLatency && !statsNote_->isHidden()) {
        statsNote_->setVisible(false);
    }
    if (point) addPoint(*point);
}

void DashboardView::addPoint(const StatsPoint& p) {
    const auto x = static_cast<double>(p.timeMs);
    rps_->append(x, p.requestsPerSec);
    errors_->append(x, p.errorRatePct);
    if (p.p50Ms) p50_->append(x, *p.p50Ms);
    if (p.p99Ms) p99_->append(x, *p.p99Ms);
    if (p.meanMs) mean_->append(x, *p.meanMs);
    const qint64 oldest = p.timeMs - kWindowSeconds * 1000LL;
    for (QLineSeries* s : {rps_, errors_, p50_, p99_, mean_}) trim(s, oldest);
    // Until the window is full, show what there is (at least a minute), not an empty 5 minutes.
    const qint64 first = rps_->count() ? static_cast<qint64>(rps_->at(0).x()) : p.timeMs;
    const qint64 start = std::max(oldest, std::min(first, p.timeMs - 60'000LL));
    const QDateTime from = QDateTime::fromMSecsSinceEpoch(start),
                    to = QDateTime::fromMSecsSinceEpoch(p.timeMs);
    trafficTime_->setRange(from, to);
    latencyTime_->setRange(from, to);
    rpsAxis_->setRange(0, seriesMax(rps_, 1.0) * 1.15);
    latencyAxis_->setRange(
        0, std::max({seriesMax(p50_, 1.0), seriesMax(p99_, 1.0), seriesMax(mean_, 1.0)}) * 1.15);
}

void DashboardView::serverAction(const QString& action) {
    const auto rows = table_->selectionModel()->selectedRows();
    if (rows.isEmpty() || readOnly_) return;
    const ServerRow row = upstreams_->row(rows.first().row());
    const QString consequence =
        action == QLatin1String("drain")     ? tr("It gets no new requests; open ones finish.")
        : action == QLatin1String("disable") ? tr("It is taken out of rotation.")
                                             : tr("It goes back into rotation.");
    if (QMessageBox::question(this, tr("Server action"),
                              tr("%1 server %2 of upstream %3?\n\n%4")
                                  .arg(action.left(1).toUpper() + action.mid(1), row.address,
                                       row.upstream, consequence)) != QMessageBox::Yes)
        return;
    client_->call(
        QStringLiteral("upstreams.") + action,
        Json{{"upstream", row.upstream.toStdString()}, {"server", row.address.toStdString()}}, this,
        [this, action, row](const RpcReply& r) {
            if (r.ok()) {
                emit statusMessage(tr("%1: %2 / %3").arg(action, row.upstream, row.address));
                poll();
            } else if (r.forbidden()) {
                setReadOnly(true);
                QMessageBox::information(this, tr("Server action"),
                                         tr("This connection is read-only: %1").arg(r.message));
            } else {
                QMessageBox::warning(this, tr("Server action"),
                                     tr("%1 failed: %2").arg(action, r.describe()));
            }
        });
}

}  // namespace proxy::console
