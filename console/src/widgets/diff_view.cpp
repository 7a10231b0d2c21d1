#include "widgets/diff_view.h"

#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTextBlock>
#include <QVBoxLayout>

namespace proxy::console {

DiffView::DiffView(QWidget* parent) : QPlainTextEdit(parent) {
    setReadOnly(true);
    setLineWrapMode(QPlainTextEdit::NoWrap);
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    setAccessibleName(tr("Differences"));
}

void DiffView::setDiff(const QString& diff) {
    clear();
    if (diff.isEmpty()) {
        setPlainText(tr("(no differences)"));
        return;
    }
    QTextCursor cursor(document());
    QTextCharFormat plain, added, removed, hunk;
    added.setBackground(QColor(0xe6, 0xff, 0xec));
    added.setForeground(QColor(0x0a, 0x5c, 0x1f));
    removed.setBackground(QColor(0xff, 0xeb, 0xe9));
    removed.setForeground(QColor(0x8e, 0x15, 0x19));
    hunk.setForeground(QColor(0x55, 0x55, 0xaa));
    const QStringList lines = diff.split(QLatin1Char('\n'));
    for (qsizetype i = 0; i < lines.size(); ++i) {
        const QString& line = lines[i];
        if (i == lines.size() - 1 && line.isEmpty()) break;
        const QTextCharFormat& f =
            line.startsWith(QLatin1String("+++")) || line.startsWith(QLatin1String("---")) ? hunk
            : line.startsWith(QLatin1Char('+'))                                            ? added
            : line.startsWith(QLatin1Char('-'))                                            ? removed
            : line.startsWith(QLatin1String("@@"))                                         ? hunk
                                                                                           : plain;
        cursor.insertText(line, f);
        cursor.insertText(QStringLiteral("\n"), plain);
    }
    moveCursor(QTextCursor::Start);
}

DiffDialog::DiffDialog(const QString& title, const QString& intro, const QString& diff,
                       bool withNote, const QString& acceptText, QWidget* parent)
    : QDialog(parent) {
    setWindowTitle(title);
    auto* layout = new QVBoxLayout(this);
    auto* label = new QLabel(intro, this);
    label->setWordWrap(true);
    layout->addWidget(label);
    auto* view = new DiffView(this);
    view->setDiff(diff);
    layout->addWidget(view, 1);
    if (withNote) {
        note_ = new QLineEdit(this);
        note_->setPlaceholderText(tr("Note stored with this version (optional)"));
        note_->setAccessibleName(tr("Note"));
        layout->addWidget(note_);
    }
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(acceptText);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    resize(820, 600);
}

QString DiffDialog::note() const {
    return note_ ? note_->text() : QString();
}

}  // namespace proxy::console
