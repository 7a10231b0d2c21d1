#pragma once
// One row per certificate of every TLS listener, from the status poll (decoded by
// service_client/certificates.h). A certificate with fewer than 30 days left is a warning, an
// expired (or not yet valid) one an error; each is said three ways: a colour, an icon and the
// text of the Status column (which is also the row's accessible text), so colour is never the
// only signal. Updating with the same certificates changes cells in place (the selection
// survives the dashboard's polling); another set resets the model.

#include <QAbstractTableModel>
#include <functional>
#include <vector>

#include "service_client/certificates.h"

namespace proxy::console {

class CertificatesModel : public QAbstractTableModel {
    Q_OBJECT

  public:
    enum Column {
        Listener,
        Subject,
        Names,
        NotBefore,
        NotAfter,
        DaysLeft,
        Issuer,
        Ocsp,
        Status,
        ColumnCount
    };
    // Qt::UserRole: the row's CertificateLevel as an int.
    static constexpr int LevelRole = Qt::UserRole + 1;

    explicit CertificatesModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // The service's certificates now. `known` false: the service does not report certificates
    // (the model empties, and summary() says so).
    void update(const std::vector<CertificateInfo>& certificates, bool known = true);
    void clear();

    const CertificateInfo& certificate(int row) const {
        return rows_[static_cast<std::size_t>(row)];
    }
    CertificateLevel level(int row) const;
    qint64 daysLeft(int row) const;
    bool reported() const { return known_; }
    int expiringCount() const;  // fewer than 30 days left
    int invalidCount() const;   // expired or not valid yet
    // One sentence: "3 certificates, all valid for 30 days or more", "1 of 2 certificates
    // expires within 30 days: …", "No TLS listener." …
    QString summary() const;
    // The level's words for a row ("Expires in 9 days", "Expired 3 days ago", "OK").
    QString statusText(int row) const;

    // Tests: the clock (Unix seconds). By default the system clock.
    void setClock(std::function<qint64()> now) { now_ = std::move(now); }
    qint64 now() const { return now_(); }

  signals:
    void summaryChanged();

  private:
    std::vector<CertificateInfo> rows_;
    bool known_ = false;
    std::function<qint64()> now_;
};

}  // namespace proxy::console
