#pragma once
// Certificates: every TLS listener's certificates (subject, SANs, validity, days left, issuer,
// OCSP state) as the service loaded them, with expiring (under 30 days) rows as warnings and
// expired ones as errors, and a summary line above. The model is the dashboard's, which refreshes
// it from its status poll; this view only shows it (and keeps the last data while disconnected).

#include <QWidget>

class QLabel;
class QTableView;
class QPlainTextEdit;

namespace proxy::console {

class CertificatesModel;

class CertificatesView : public QWidget {
    Q_OBJECT

  public:
    // The model is not owned (the dashboard's; it outlives this view in the main window).
    explicit CertificatesView(CertificatesModel* model, QWidget* parent = nullptr);

    CertificatesModel* model() const { return model_; }
    QString summaryText() const;
    QTableView* table() const { return table_; }
    QString detailsText() const;

  private:
    void updateSummary();
    void updateDetails();

    CertificatesModel* model_;
    QLabel* icon_;
    QLabel* summary_;
    QTableView* table_;
    QPlainTextEdit* details_;
};

}  // namespace proxy::console
