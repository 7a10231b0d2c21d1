#include "views/traffic_view.h"

#include <QCheckBox>
#include <QDateTime>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace proxy::console {

TrafficView::TrafficView(ServiceClient* client, QWidget* parent)
    : QWidget(parent), client_(client) {
    auto* layout = new QVBoxLayout(this);
    notice_ = new QLabel(this);
    notice_->setObjectName(QStringLiteral("trafficNotice"));
    notice_->setWordWrap(true);
    notice_->setStyleSheet(QStringLiteral("background:#fff3cd;padding:6px;"));
    notice_->setVisible(false);
    layout->addWidget(notice_);

    auto* bar = new QHBoxLayout();
    filterEdit_ = new QLineEdit(this);
    filterEdit_->setObjectName(QStringLiteral("trafficFilter"));
    filterEdit_->setPlaceholderText(tr(
        "Filter: status:5xx method:POST host:example.com path:/api client:10.0.0.5 server:… id:…"));
    filterEdit_->setClearButtonEnabled(true);
    filterEdit_->setAccessibleName(tr("Traffic filter"));
    pause_ = new QPushButton(tr("&Pause"), this);
    pause_->setCheckable(true);
    pause_->setToolTip(
        tr("Pause or resume the live table (Space in the table); events keep arriving and are "
           "shown on resume"));
    follow_ = new QCheckBox(tr("&Follow"), this);
    follow_->setChecked(true);
    follow_->setToolTip(tr("Keep the newest request in view"));
    auto* clear = new QPushButton(tr("&Clear"), this);
    auto* showLogs = new QPushButton(tr("Show in &logs"), this);
    bar->addWidget(filterEdit_, 1);
    bar->addWidget(pause_);
    bar->addWidget(follow_);
    bar->addWidget(clear);
    bar->addWidget(showLogs);
    layout->addLayout(bar);
    filterError_ = new QLabel(this);
    filterError_->setStyleSheet(QStringLiteral("color:#c62828;"));
    filterError_->setVisible(false);
    layout->addWidget(filterError_);

    model_ = new TrafficModel(this);
    filter_ = new TrafficFilterModel(this);
    filter_->setSourceModel(model_);
    filter_->setSortRole(Qt::UserRole);
    auto* split = new QSplitter(Qt::Vertical, this);
    table_ = new QTableView(split);
    table_->setObjectName(QStringLiteral("trafficTable"));
    table_->setModel(filter_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    table_->horizontalHeader()->setSectionResizeMode(TrafficModel::Path, QHeaderView::Stretch);
    table_->setAccessibleName(tr("Live requests"));
    table_->setWordWrap(false);
    details_ = new QPlainTextEdit(split);
    details_->setReadOnly(true);
    details_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    details_->setAccessibleName(tr("Request details"));
    details_->setPlaceholderText(tr("Select a request to see its details."));
    auto* inflightBox = new QWidget(split);
    auto* inflightLayout = new QVBoxLayout(inflightBox);
    inflightLayout->setContentsMargins(0, 0, 0, 0);
    inflightSummary_ = new QLabel(tr("In flight: not asked yet"), inflightBox);
    inflightSummary_->setObjectName(QStringLiteral("inflightSummary"));
    inflight_ = new InflightModel(this);
    inflightTable_ = new QTableView(inflightBox);
    inflightTable_->setObjectName(QStringLiteral("inflightTable"));
    inflightTable_->setModel(inflight_);
    inflightTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
    inflightTable_->verticalHeader()->setVisible(false);
    inflightTable_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
    inflightTable_->horizontalHeader()->setSectionResizeMode(InflightModel::Path,
                                                             QHeaderView::Stretch);
    inflightTable_->setWordWrap(false);
    inflightTable_->setAccessibleName(tr("Requests in flight"));
    inflightLayout->addWidget(inflightSummary_);
    inflightLayout->addWidget(inflightTable_, 1);
    split->addWidget(table_);
    split->addWidget(inflightBox);
    split->addWidget(details_);
    split->setStretchFactor(0, 4);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 1);
    layout->addWidget(split, 1);
    inflightTimer_.setInterval(kInflightIntervalMs);
    connect(&inflightTimer_, &QTimer::timeout, this, &TrafficView::refreshInflight);
    counters_ = new QLabel(this);
    counters_->setObjectName(QStringLiteral("trafficCounters"));
    layout->addWidget(counters_);

    connect(filterEdit_, &QLineEdit::textChanged, this, [this](const QString& text) {
        const QString error = filter_->setFilterText(text);
        filterError_->setText(error);
        filterError_->setVisible(!error.isEmpty());
        updateCounters();
    });
    connect(pause_, &QPushButton::toggled, this, &TrafficView::setPaused);
    auto* space = new QShortcut(QKeySequence(Qt::Key_Space), table_);
    space->setContext(Qt::WidgetShortcut);
    connect(space, &QShortcut::activated, pause_, &QPushButton::toggle);
    connect(clear, &QPushButton::clicked, model_, &TrafficModel::clear);
    connect(showLogs, &QPushButton::clicked, this, [this] {
        const auto rows = table_->selectionModel()->selectedRows();
        if (rows.isEmpty()) {
            emit statusMessage(tr("Select a request first"));
            return;
        }
        emit showInLogs(model_->event(filter_->mapToSource(rows.first()).row()));
    });
    connect(model_, &TrafficModel::flushed, this, [this] {
        if (!sized_ && model_->rowCount() > 0) {
            table_->resizeColumnsToContents();  // once, from the first rows
            table_->horizontalHeader()->setSectionResizeMode(TrafficModel::Path,
                                                             QHeaderView::Stretch);
            sized_ = true;
        }
        if (follow_->isChecked()) table_->scrollToBottom();
    });
    connect(model_, &TrafficModel::countersChanged, this, &TrafficView::updateCounters);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &TrafficView::showDetails);

    connect(client_, &ServiceClient::connected, this, &TrafficView::subscribe);
    connect(client_, &ServiceClient::connected, this, [this] {
        inflightOffered_ = true;  // perhaps a newer service now
        if (isVisible()) {
            inflightTimer_.start();
            refreshInflight();
        }
    });
    connect(client_, &ServiceClient::disconnected, this, [this] {
        subscribed_ = false;
        updateCounters();
        inflight_->clear();  // a stale list would claim requests that may be long done
        inflightSummary_->setText(tr("In flight: not connected"));
    });
    connect(client_, &ServiceClient::notificationReceived, this,
            [this](const QString& method, const Json& params) {
                if (method == QLatin1String("traffic.event")) model_->enqueue(params);
            });
    updateCounters();
}

QString TrafficView::inflightSummary() const {
    return inflightSummary_->text();
}

void TrafficView::showEvent(QShowEvent* event) {
    QWidget::showEvent(event);
    inflightTimer_.start();
    refreshInflight();
}

void TrafficView::hideEvent(QHideEvent* event) {
    QWidget::hideEvent(event);
    inflightTimer_.stop();  // nobody looks: no need to ask every worker each second
}

void TrafficView::refreshInflight() {
    if (inflightPending_ || !inflightOffered_ || !client_->isConnected()) return;
    inflightPending_ = true;
    client_->call(
        QStringLiteral("traffic.inflight"), Json{{"limit", kInflightLimit}}, this,
        [this](const RpcReply& r) {
            inflightPending_ = false;
            if (!r.ok()) {
                if (r.methodMissing()) {
                    inflightOffered_ = false;
                    inflightTimer_.stop();
                    inflight_->clear();
                    inflightSummary_->setText(
                        tr("In flight: this service does not offer traffic.inflight"));
                } else {
                    inflightSummary_->setText(tr("In flight: unavailable (%1)").arg(r.describe()));
                }
                return;
            }
            if (!inflight_->setSnapshot(r.result)) {
                inflightSummary_->setText(
                    tr("In flight: the service answered with an unexpected shape"));
                return;
            }
            QString text =
                tr("In flight: %n request(s)", nullptr, static_cast<int>(inflight_->total()));
            if (inflight_->rowCount() < inflight_->total())
                text += tr(", the oldest %1 shown").arg(inflight_->rowCount());
            if (inflight_->workersAnswered() < inflight_->workers())
                text += tr(" (%1 of %2 workers answered in time)")
                            .arg(inflight_->workersAnswered())
                            .arg(inflight_->workers());
            inflightSummary_->setText(text);
        },
        5000);
}

QString TrafficView::notice() const {
    return notice_->isHidden() ? QString() : notice_->text();
}

void TrafficView::subscribe() {
    // A console reads promptly, but a burst should not cost events: ask for a deeper queue than
    // the default 1000.
    client_->call(
        QStringLiteral("traffic.subscribe"), Json{{"capacity", kSubscribeCapacity}}, this,
        [this](const RpcReply& r) {
            subscribed_ = r.ok();
            if (r.ok()) {
                notice_->setVisible(false);
            } else if (r.methodMissing()) {
                notice_->setText(
                    tr("This service does not offer the live feed (traffic.subscribe): it needs a "
                       "newer "
                       "proxy-service. The other views work."));
                notice_->setVisible(true);
            } else {
                notice_->setText(tr("The live feed could not start: %1").arg(r.describe()));
                notice_->setVisible(true);
            }
            updateCounters();
        });
}

void TrafficView::setPaused(bool paused) {
    {
        const QSignalBlocker b(pause_);
        pause_->setChecked(paused);
    }
    pause_->setText(paused ? tr("&Resume") : tr("&Pause"));
    model_->setPaused(paused);
    updateCounters();
}

void TrafficView::updateCounters() {
    QString text = subscribed_ ? tr("Live") : tr("Not subscribed");
    if (model_->paused()) text += tr(" — paused, %1 waiting").arg(model_->pendingCount());
    text += tr(" — %1 shown of %2 rows (cap %3), %4 received")
                .arg(filter_->rowCount())
                .arg(model_->rowCount())
                .arg(model_->capacity())
                .arg(model_->received());
    if (model_->evicted()) text += tr(", %1 scrolled out").arg(model_->evicted());
    if (model_->droppedByService())
        text += tr(", %1 missed (the service's queue for this console overflowed)")
                    .arg(model_->droppedByService());
    counters_->setText(text);
}

void TrafficView::showDetails() {
    const auto index = table_->selectionModel()->currentIndex();
    if (!index.isValid()) {
        details_->clear();
        return;
    }
    const TrafficEvent& e = model_->event(filter_->mapToSource(index).row());
    details_->setPlainText(
        tr("Request id:  %1\nTime:        %2\nClient:      %3\nRequest:     %4 %5 (host %6)\n"
           "Route:       %7\nServer:      %8\nStatus:      %9\nDuration:    %10 ms\nBytes out:   "
           "%11")
            .arg(e.requestId, e.time, e.client, e.method, e.path, e.host,
                 e.route.isEmpty() ? tr("(none)") : e.route,
                 e.server.isEmpty() ? tr("(none)") : e.server,
                 e.status ? QString::number(e.status) : tr("no response"))
            .arg(static_cast<double>(e.durationUs) / 1000.0, 0, 'f', 3)
            .arg(e.bytesOut));
}

}  // namespace proxy::console
