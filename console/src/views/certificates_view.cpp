#include "views/certificates_view.h"

#include <QApplication>
#include <QDateTime>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSplitter>
#include <QStyle>
#include <QTableView>
#include <QVBoxLayout>

#include "models/certificates_model.h"

namespace proxy::console {

CertificatesView::CertificatesView(CertificatesModel* model, QWidget* parent)
    : QWidget(parent), model_(model) {
    auto* layout = new QVBoxLayout(this);
    auto* top = new QHBoxLayout();
    icon_ = new QLabel(this);
    icon_->setObjectName(QStringLiteral("certificateSummaryIcon"));
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("certificateSummary"));
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    top->addWidget(icon_);
    top->addWidget(summary_, 1);
    layout->addLayout(top);

    auto* split = new QSplitter(Qt::Vertical, this);
    table_ = new QTableView(split);
    table_->setObjectName(QStringLiteral("certificateTable"));
    table_->setModel(model_);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setWordWrap(false);
    table_->verticalHeader()->setVisible(false);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->setAccessibleName(tr("TLS certificates"));
    table_->setAccessibleDescription(
        tr("One row per certificate of each TLS listener; the Status column says whether it "
           "expires within 30 days or has expired."));
    details_ = new QPlainTextEdit(split);
    details_->setObjectName(QStringLiteral("certificateDetails"));
    details_->setReadOnly(true);
    details_->setAccessibleName(tr("Certificate details"));
    details_->setPlaceholderText(tr("Select a certificate to see all its names and its file."));
    split->addWidget(table_);
    split->addWidget(details_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);

    connect(model_, &CertificatesModel::summaryChanged, this, [this] {
        updateSummary();
        updateDetails();
    });
    connect(model_, &QAbstractItemModel::modelReset, this, [this] {
        table_->resizeColumnsToContents();
        updateDetails();
    });
    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &CertificatesView::updateDetails);
    updateSummary();
}

QString CertificatesView::summaryText() const {
    return summary_->text();
}

QString CertificatesView::detailsText() const {
    return details_->toPlainText();
}

void CertificatesView::updateSummary() {
    const QString text = model_->summary();
    summary_->setText(text);
    summary_->setAccessibleName(text);
    const bool error = model_->invalidCount() > 0, warning = model_->expiringCount() > 0;
    if (error || warning) {
        const int size = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
        icon_->setPixmap(style()
                             ->standardIcon(error ? QStyle::SP_MessageBoxCritical
                                                  : QStyle::SP_MessageBoxWarning)
                             .pixmap(size, size));
        icon_->setVisible(true);
        summary_->setStyleSheet(error ? QStringLiteral("color:#b71c1c;font-weight:bold;")
                                      : QStringLiteral("color:#8a5200;font-weight:bold;"));
    } else {
        icon_->clear();
        icon_->setVisible(false);
        summary_->setStyleSheet(QString());
    }
}

void CertificatesView::updateDetails() {
    const auto rows = table_->selectionModel()->selectedRows();
    if (rows.isEmpty() || rows.first().row() >= model_->rowCount()) {
        details_->clear();
        return;
    }
    const int r = rows.first().row();
    const CertificateInfo& c = model_->certificate(r);
    auto when = [](qint64 s) {
        return s == 0 ? QStringLiteral("—")
                      : QDateTime::fromSecsSinceEpoch(s).toUTC().toString(Qt::ISODate);
    };
    QStringList lines;
    lines << tr("Listener: %1 (certificate %2%3)")
                 .arg(c.listener)
                 .arg(c.index)
                 .arg(c.index == 0 ? tr(", the default") : QString());
    lines << tr("Status: %1").arg(model_->statusText(r));
    lines << tr("Subject: %1").arg(c.subject);
    lines << tr("Issuer: %1").arg(c.issuer.isEmpty() ? QStringLiteral("—") : c.issuer);
    lines << tr("Names: %1").arg(c.names.join(QStringLiteral(", ")));
    lines << tr("Valid: %1 to %2 (%3 days left)")
                 .arg(when(c.notBefore), when(c.notAfter))
                 .arg(model_->daysLeft(r));
    lines << tr("OCSP: responder %1; stapling %2%3")
                 .arg(c.ocspResponder ? tr("named") : tr("none"),
                      c.ocspStapling.isEmpty() ? QStringLiteral("—") : c.ocspStapling,
                      c.ocspNextUpdate ? tr(", next update %1").arg(when(c.ocspNextUpdate))
                                       : QString());
    lines << tr("File: %1").arg(c.source);
    if (!c.serviceWarning.isEmpty()) lines << tr("The service says: %1").arg(c.serviceWarning);
    details_->setPlainText(lines.join(QLatin1Char('\n')));
}

}  // namespace proxy::console
