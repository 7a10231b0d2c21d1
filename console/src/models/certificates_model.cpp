#include "models/certificates_model.h"

#include <QApplication>
#include <QColor>
#include <QDateTime>
#include <QIcon>
#include <QStyle>

namespace proxy::console {

namespace {

QString date(qint64 unixSeconds) {
    if (unixSeconds == 0) return QStringLiteral("—");
    return QDateTime::fromSecsSinceEpoch(unixSeconds).toUTC()
        .toString(QStringLiteral("yyyy-MM-dd HH:mm 'UTC'"));
}

QIcon levelIcon(CertificateLevel level) {
    auto* app = qobject_cast<QApplication*>(QCoreApplication::instance());
    if (!app || level == CertificateLevel::Ok) return {};
    return QApplication::style()->standardIcon(level == CertificateLevel::Expiring
                                                   ? QStyle::SP_MessageBoxWarning
                                                   : QStyle::SP_MessageBoxCritical);
}

}  // namespace

CertificatesModel::CertificatesModel(QObject* parent)
    : QAbstractTableModel(parent),
      now_([] { return QDateTime::currentSecsSinceEpoch(); }) {}

int CertificatesModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int CertificatesModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

CertificateLevel CertificatesModel::level(int row) const {
    return certificateLevel(certificate(row), now_());
}

qint64 CertificatesModel::daysLeft(int row) const {
    return certificateDaysLeft(certificate(row), now_());
}

QString CertificatesModel::statusText(int row) const {
    const qint64 days = daysLeft(row);
    switch (level(row)) {
        case CertificateLevel::Expired:
            return days == -1 ? tr("Error: expired (since less than a day)")
                              : tr("Error: expired %n day(s) ago", nullptr, int(-days - 1));
        case CertificateLevel::NotYetValid:
            return tr("Error: not valid until %1").arg(date(certificate(row).notBefore));
        case CertificateLevel::Expiring:
            return tr("Warning: expires in %n day(s)", nullptr, int(days));
        case CertificateLevel::Ok:
            break;
    }
    return tr("OK");
}

QVariant CertificatesModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const int row = index.row();
    const CertificateInfo& c = certificate(row);
    const CertificateLevel lv = level(row);
    switch (role) {
        case LevelRole:
            return static_cast<int>(lv);
        case Qt::ForegroundRole:
            if (lv == CertificateLevel::Ok) return {};
            return lv == CertificateLevel::Expiring ? QColor(0x8a, 0x52, 0x00)
                                                    : QColor(0xb7, 0x1c, 0x1c);
        case Qt::BackgroundRole:
            if (lv == CertificateLevel::Ok) return {};
            return lv == CertificateLevel::Expiring ? QColor(0xff, 0xf3, 0xd6)
                                                    : QColor(0xfd, 0xe2, 0xe2);
        case Qt::DecorationRole:
            return index.column() == Status ? QVariant(levelIcon(lv)) : QVariant();
        case Qt::TextAlignmentRole:
            return index.column() == DaysLeft ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
                                              : QVariant();
        case Qt::ToolTipRole:
            if (index.column() == Names) return c.names.join(QLatin1Char('\n'));
            if (index.column() == Subject || index.column() == Listener)
                return tr("%1\nfrom %2").arg(c.subject, c.source);
            return data(index, Qt::DisplayRole);
        case Qt::AccessibleTextRole:
            // A screen reader hears the state on every cell, not just the colour.
            if (index.column() == Status) return statusText(row);
            return QStringLiteral("%1 (%2)").arg(data(index, Qt::DisplayRole).toString(),
                                                 statusText(row));
        case Qt::DisplayRole:
            break;
        default:
            return {};
    }
    switch (index.column()) {
        case Listener:
            return c.index == 0 ? tr("%1 (default)").arg(c.listener)
                                : QStringLiteral("%1 #%2").arg(c.listener).arg(c.index);
        case Subject:
            return c.subject;
        case Names:
            return c.names.join(QStringLiteral(", "));
        case NotBefore:
            return date(c.notBefore);
        case NotAfter:
            return date(c.notAfter);
        case DaysLeft:
            return daysLeft(row);
        case Issuer:
            return c.issuer.isEmpty() ? QStringLiteral("—") : c.issuer;
        case Ocsp: {
            QString text = c.ocspStapling.isEmpty() ? QStringLiteral("—") : c.ocspStapling;
            if (c.ocspNextUpdate != 0) text += tr(", next update %1").arg(date(c.ocspNextUpdate));
            if (c.ocspResponder) text += tr(" (has a responder)");
            return text;
        }
        case Status:
            return statusText(row);
        default:
            return {};
    }
}

QVariant CertificatesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    static const char* const kNames[] = {"Listener",  "Subject",   "Names (SAN)",
                                         "Not before", "Not after", "Days left",
                                         "Issuer",     "OCSP",      "Status"};
    return section >= 0 && section < ColumnCount ? tr(kNames[section]) : QVariant();
}

void CertificatesModel::update(const std::vector<CertificateInfo>& certificates, bool known) {
    const std::vector<CertificateInfo>& next =
        known ? certificates : std::vector<CertificateInfo>{};
    known_ = known;
    if (next.size() == rows_.size()) {
        bool same = true;
        for (std::size_t i = 0; same && i < next.size(); ++i)
            same = next[i].listener == rows_[i].listener && next[i].index == rows_[i].index;
        if (same) {
            rows_ = next;
            // Days left move with the clock even when nothing else changed.
            if (!rows_.empty())
                emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
            emit summaryChanged();
            return;
        }
    }
    beginResetModel();
    rows_ = next;
    endResetModel();
    emit summaryChanged();
}

void CertificatesModel::clear() {
    update({}, false);
}

int CertificatesModel::expiringCount() const {
    int n = 0;
    for (int r = 0; r < rowCount(); ++r) n += level(r) == CertificateLevel::Expiring;
    return n;
}

int CertificatesModel::invalidCount() const {
    int n = 0;
    for (int r = 0; r < rowCount(); ++r) {
        const CertificateLevel lv = level(r);
        n += lv == CertificateLevel::Expired || lv == CertificateLevel::NotYetValid;
    }
    return n;
}

QString CertificatesModel::summary() const {
    if (!known_) return tr("This service does not report TLS certificates.");
    if (rows_.empty()) return tr("No TLS listener: the service has no certificates.");
    const int total = rowCount(), expiring = expiringCount(), invalid = invalidCount();
    if (expiring == 0 && invalid == 0)
        return tr("%n certificate(s), all valid for 30 days or more.", nullptr, total);
    QStringList parts;
    if (invalid) parts << tr("%n expired or not yet valid", nullptr, invalid);
    if (expiring) parts << tr("%n expire(s) within 30 days", nullptr, expiring);
    QStringList which;
    for (int r = 0; r < total && which.size() < 3; ++r) {
        if (level(r) == CertificateLevel::Ok) continue;
        const CertificateInfo& c = certificate(r);
        which << QStringLiteral("%1 %2: %3")
                     .arg(c.listener, c.names.value(0, c.subject), statusText(r));
    }
    return tr("Of %n certificate(s), %1 — %2.", nullptr, total)
        .arg(parts.join(tr(" and ")), which.join(QStringLiteral("; ")));
}

}  // namespace proxy::console
