#pragma once
// A read-only view of a unified diff, added lines green and removed lines red; and the dialog the
// editor shows before anything is applied.

#include <QDialog>
#include <QPlainTextEdit>

class QLineEdit;
class QLabel;

namespace proxy::console {

class DiffView : public QPlainTextEdit {
    Q_OBJECT

  public:
    explicit DiffView(QWidget* parent = nullptr);
    void setDiff(const QString& unifiedDiff);  // empty: "no differences"
};

class DiffDialog : public QDialog {
    Q_OBJECT

  public:
    // withNote: ask for a note to store with the change (config.apply's "note").
    DiffDialog(const QString& title, const QString& intro, const QString& diff, bool withNote,
               const QString& acceptText, QWidget* parent = nullptr);
    QString note() const;

  private:
    QLineEdit* note_ = nullptr;
};

}  // namespace proxy::console
