#include "views/config_forms.h"

#include <QCheckBox>
#include <QColor>
#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace proxy::console {

namespace {

const QString kDefault = QStringLiteral("(default)");
const QStringList kPathKinds = {QStringLiteral("(any path)"), QStringLiteral("path_prefix"),
                                QStringLiteral("path_exact"), QStringLiteral("path_regex")};

QStringList tokens(const QString& pointer) {
    return pointer.split(QLatin1Char('/'), Qt::SkipEmptyParts);
}

const Doc* find(const Doc& item, const QString& pointer) {
    const Doc* at = &item;
    for (const QString& t : tokens(pointer)) {
        if (!at->is_object()) return nullptr;
        const auto it = at->find(t.toStdString());
        if (it == at->end()) return nullptr;
        at = &*it;
    }
    return at;
}

Doc& ensure(Doc& item, const QString& pointer) {
    Doc* at = &item;
    for (const QString& t : tokens(pointer)) {
        if (!at->is_object()) *at = Doc::object();
        at = &(*at)[t.toStdString()];
    }
    return *at;
}

void erase(Doc& item, const QString& pointer) {
    QStringList path = tokens(pointer);
    if (path.isEmpty()) return;
    // Walk to the parent, remembering the chain so emptied parents can go too.
    std::vector<std::pair<Doc*, std::string>> chain;
    Doc* at = &item;
    for (const QString& t : path) {
        if (!at->is_object()) return;
        const std::string key = t.toStdString();
        if (!at->contains(key)) return;
        chain.emplace_back(at, key);
        at = &(*at)[key];
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        Doc* parent = it->first;
        const auto child = parent->find(it->second);
        const bool last = it == chain.rbegin();
        if (!last && !(child->is_object() && child->empty())) break;
        parent->erase(it->second);
        if (parent == &item) break;
        if (!parent->empty()) break;
    }
}

// A JSON pointer token's text (RFC 6901: ~1 is '/', ~0 is '~').
QString unescapeToken(QString token) {
    return token.replace(QStringLiteral("~1"), QStringLiteral("/"))
        .replace(QStringLiteral("~0"), QStringLiteral("~"));
}

QString scalarText(const Doc& v) {
    if (v.is_string()) return QString::fromStdString(v.get<std::string>());
    return QString::fromStdString(v.dump());
}

bool isTable(BoundField::Kind kind) {
    return kind == BoundField::Kind::Servers || kind == BoundField::Kind::NameValues ||
           kind == BoundField::Kind::HeaderRules;
}

QString cellText(const QTableWidget* table, int row, int column) {
    const QTableWidgetItem* cell = table->item(row, column);
    return cell ? cell->text() : QString();
}

// Marks the cells a diagnostic is about (a server's one cell, a header's row).
void markCells(QTableWidget* table, int row, int firstColumn, int lastColumn,
               const QString& message) {
    const QSignalBlocker quiet(table);  // marking a cell is not an edit
    for (int c = firstColumn; c <= lastColumn; ++c)
        if (auto* cell = table->item(row, c)) {
            cell->setBackground(QColor(0xfa, 0xd2, 0xcf));
            cell->setToolTip(message);
        }
}

// A value that a table cannot show without changing it (hand-written JSON) is left alone: the
// table is disabled, store() keeps the value, and the validator's message says what is wrong.
void setForeign(QTableWidget* table, bool foreign, const QString& expected) {
    table->setProperty("foreign", foreign);
    table->setEnabled(!foreign);
    table->setToolTip(foreign ? BoundField::tr("Not %1; edit it in Raw JSON").arg(expected)
                              : QString());
}

// A table with Add and Remove buttons under it, found by their object names.
QWidget* tableEditor(QWidget* parent, const QStringList& columns, const QString& name,
                     int minimumHeight, const QString& addText, const QString& addName,
                     const QString& removeText, const QString& removeName) {
    auto* box = new QWidget(parent);
    auto* col = new QVBoxLayout(box);
    col->setContentsMargins(0, 0, 0, 0);
    auto* table = new QTableWidget(0, static_cast<int>(columns.size()), box);
    table->setHorizontalHeaderLabels(columns);
    table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    table->verticalHeader()->setVisible(false);
    table->setMinimumHeight(minimumHeight);
    table->setAccessibleName(name);
    auto* buttons = new QHBoxLayout();
    auto* add = new QPushButton(addText, box);
    auto* remove = new QPushButton(removeText, box);
    add->setObjectName(addName);
    remove->setObjectName(removeName);
    buttons->addWidget(add);
    buttons->addWidget(remove);
    buttons->addStretch(1);
    col->addWidget(table);
    col->addLayout(buttons);
    return box;
}

// The Remove button of tableEditor(): removes the current row (else the last) as one edit.
void connectRemoveRow(QWidget* box, const QString& buttonName, BoundField* field) {
    auto* table = box->findChild<QTableWidget*>();
    QObject::connect(box->findChild<QPushButton*>(buttonName), &QPushButton::clicked, field,
                     [table, field] {
                         if (table->property("foreign").toBool()) return;
                         const int row = table->currentRow() >= 0 ? table->currentRow()
                                                                  : table->rowCount() - 1;
                         if (row < 0) return;
                         table->removeRow(row);
                         emit field->edited();
                     });
}

// Header rules (request_headers, response_headers) as rows of action / name / value.
const QStringList kRuleActions = {QStringLiteral("set"), QStringLiteral("add"),
                                  QStringLiteral("remove")};
enum RuleColumn { kRuleAction, kRuleName, kRuleValue };

// Rules the table shows as they are: "set" and "add" objects of string values, a "remove" array
// of strings, nothing else.
bool rulesFitTheTable(const Doc& rules) {
    if (!rules.is_object()) return false;
    for (const auto& [key, value] : rules.items()) {
        if (key == "remove") {
            if (!value.is_array()) return false;
            for (const auto& name : value)
                if (!name.is_string()) return false;
        } else if (key == "set" || key == "add") {
            if (!value.is_object()) return false;
            for (const auto& [name, text] : value.items())
                if (!text.is_string()) return false;
        } else {
            return false;
        }
    }
    return true;
}

QString ruleAction(const QTableWidget* table, int row) {
    const auto* combo = qobject_cast<const QComboBox*>(table->cellWidget(row, kRuleAction));
    return combo ? combo->currentText() : QString();
}

// A "remove" rule has no value: its value cell keeps any text (switching back restores it) but
// is greyed out, and store() ignores it.
void showRuleValue(QTableWidget* table, int row) {
    QTableWidgetItem* cell = table->item(row, kRuleValue);
    if (!cell) return;
    const QSignalBlocker quiet(table);
    const Qt::ItemFlags usable = Qt::ItemIsEditable | Qt::ItemIsEnabled;
    cell->setFlags(ruleAction(table, row) == QLatin1String("remove") ? cell->flags() & ~usable
                                                                     : cell->flags() | usable);
}

void insertRuleRow(QTableWidget* table, BoundField* field, int row, const QString& action,
                   const QString& name, const QString& value) {
    table->insertRow(row);
    auto* combo = new QComboBox(table);
    combo->addItems(kRuleActions);
    combo->setCurrentText(action);
    combo->setAccessibleName(BoundField::tr("Action"));
    table->setCellWidget(row, kRuleAction, combo);
    table->setItem(row, kRuleName, new QTableWidgetItem(name));
    table->setItem(row, kRuleValue, new QTableWidgetItem(value));
    showRuleValue(table, row);
    QObject::connect(combo, &QComboBox::currentTextChanged, field, [table, combo, field] {
        for (int r = 0; r < table->rowCount(); ++r)  // rows above may have been removed since
            if (table->cellWidget(r, kRuleAction) == combo) showRuleValue(table, r);
        emit field->edited();
    });
}

}  // namespace

BoundField::BoundField(Spec spec, QWidget* editor, QLabel* error, QObject* parent)
    : QObject(parent), spec_(std::move(spec)), editor_(editor), error_(error) {
    editor_->setObjectName(QStringLiteral("field:") + spec_.pointer);
    error_->setObjectName(QStringLiteral("error:") + spec_.pointer);
    if (auto* line = qobject_cast<QLineEdit*>(editor_)) {
        connect(line, &QLineEdit::textEdited, this, &BoundField::edited);
    } else if (auto* combo = qobject_cast<QComboBox*>(editor_)) {
        connect(combo, &QComboBox::currentTextChanged, this, &BoundField::edited);
    } else if (auto* box = qobject_cast<QCheckBox*>(editor_)) {
        connect(box, &QCheckBox::toggled, this, &BoundField::edited);
    }
}

void BoundField::load(const Doc& item) {
    const QSignalBlocker blockEditor(editor_);
    const Doc* v = find(item, spec_.pointer);
    switch (spec_.kind) {
        case Kind::Text:
        case Kind::Integer:
            static_cast<QLineEdit*>(editor_)->setText(v ? scalarText(*v) : QString());
            break;
        case Kind::List: {
            QStringList parts;
            if (v && v->is_array())
                for (const auto& e : *v) parts << scalarText(e);
            else if (v)
                parts << QString::fromStdString(v->dump());
            static_cast<QLineEdit*>(editor_)->setText(parts.join(QStringLiteral(", ")));
            break;
        }
        case Kind::JsonValue:
            static_cast<QLineEdit*>(editor_)->setText(v ? QString::fromStdString(v->dump())
                                                        : QString());
            break;
        case Kind::Choice:
        case Kind::Boolean: {
            auto* combo = static_cast<QComboBox*>(editor_);
            const QString value = v ? scalarText(*v) : kDefault;
            int index = combo->findText(value);
            if (index < 0) {
                combo->addItem(value);  // a value the list does not know: show it as it is
                index = combo->count() - 1;
            }
            combo->setCurrentIndex(index);
            if (combo->isEditable()) combo->setEditText(v ? value : QString());
            break;
        }
        case Kind::PathMatch: {
            auto* combo = editor_->findChild<QComboBox*>();
            auto* line = editor_->findChild<QLineEdit*>();
            const QSignalBlocker b1(combo), b2(line);
            int kind = 0;
            QString value;
            for (int k = 1; k < kPathKinds.size(); ++k) {
                if (const Doc* p = find(item, spec_.pointer + QLatin1Char('/') + kPathKinds[k])) {
                    kind = k;
                    value = scalarText(*p);
                    break;
                }
            }
            combo->setCurrentIndex(kind);
            line->setText(value);
            line->setEnabled(kind != 0);
            break;
        }
        case Kind::Servers: {
            auto* table = editor_->findChild<QTableWidget*>();
            const QSignalBlocker b(table);
            table->setRowCount(0);
            if (v && v->is_array()) {
                for (const auto& s : *v) {
                    const int row = table->rowCount();
                    table->insertRow(row);
                    const char* keys[] = {"address", "weight", "max_connections"};
                    for (int c = 0; c < 3; ++c) {
                        const Doc* cell =
                            s.is_object() && s.contains(keys[c]) ? &s[keys[c]] : nullptr;
                        table->setItem(row, c,
                                       new QTableWidgetItem(cell ? scalarText(*cell) : QString()));
                    }
                }
            }
            break;
        }
        case Kind::Presence:
            static_cast<QCheckBox*>(editor_)->setChecked(v != nullptr);
            break;
        case Kind::NameValues: {
            auto* table = editor_->findChild<QTableWidget*>();
            const QSignalBlocker b(table);
            table->setRowCount(0);
            setForeign(table, v && !v->is_object(), tr("an object of name: value"));
            if (v && v->is_object()) {
                for (const auto& [name, value] : v->items()) {
                    const int row = table->rowCount();
                    table->insertRow(row);
                    table->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(name)));
                    table->setItem(row, 1, new QTableWidgetItem(scalarText(value)));
                }
            }
            break;
        }
        case Kind::HeaderRules: {
            auto* table = editor_->findChild<QTableWidget*>();
            const QSignalBlocker b(table);
            table->setRowCount(0);
            const bool fits = !v || rulesFitTheTable(*v);
            setForeign(table, !fits, tr("rules of set / add (name: value) and remove (names)"));
            if (!v || !fits) break;
            // In the document's order, so that storing what was loaded changes nothing.
            for (const auto& [action, rules] : v->items()) {
                const QString verb = QString::fromStdString(action);
                if (rules.is_array()) {
                    for (const auto& name : rules)
                        insertRuleRow(table, this, table->rowCount(), verb, scalarText(name), {});
                } else {
                    for (const auto& [name, value] : rules.items())
                        insertRuleRow(table, this, table->rowCount(), verb,
                                      QString::fromStdString(name), scalarText(value));
                }
            }
            break;
        }
    }
}

bool BoundField::store(Doc& item, QString& localError) const {
    localError.clear();
    switch (spec_.kind) {
        case Kind::Text: {
            const QString t = static_cast<QLineEdit*>(editor_)->text();
            if (t.isEmpty() && !spec_.required)
                erase(item, spec_.pointer);
            else
                ensure(item, spec_.pointer) = t.toStdString();
            return true;
        }
        case Kind::Integer: {
            const QString t = static_cast<QLineEdit*>(editor_)->text().trimmed();
            bool ok = false;
            const qlonglong n = t.toLongLong(&ok);
            if (t.isEmpty())
                erase(item, spec_.pointer);
            else if (ok)
                ensure(item, spec_.pointer) = static_cast<std::int64_t>(n);
            else
                ensure(item, spec_.pointer) = t.toStdString();
            return true;
        }
        case Kind::List: {
            const QString t = static_cast<QLineEdit*>(editor_)->text();
            const QStringList parts = t.split(QLatin1Char(','), Qt::SkipEmptyParts);
            if (parts.isEmpty()) {
                erase(item, spec_.pointer);
                return true;
            }
            Doc array = Doc::array();
            for (const QString& p : parts) array.push_back(p.trimmed().toStdString());
            ensure(item, spec_.pointer) = std::move(array);
            return true;
        }
        case Kind::JsonValue: {
            const QString t = static_cast<QLineEdit*>(editor_)->text().trimmed();
            if (t.isEmpty()) {
                erase(item, spec_.pointer);
                return true;
            }
            const QByteArray bytes = t.toUtf8();
            Doc parsed = Doc::parse(bytes.begin(), bytes.end(), nullptr, false);
            if (parsed.is_discarded()) {
                localError = tr("not valid JSON; e.g. %1").arg(spec_.placeholder);
                return false;
            }
            ensure(item, spec_.pointer) = std::move(parsed);
            return true;
        }
        case Kind::Choice:
        case Kind::Boolean: {
            auto* combo = static_cast<QComboBox*>(editor_);
            const QString t = combo->currentText();
            if (t == kDefault || (t.isEmpty() && !spec_.required))
                erase(item, spec_.pointer);
            else if (spec_.kind == Kind::Boolean)
                ensure(item, spec_.pointer) = (t == QLatin1String("true"));
            else
                ensure(item, spec_.pointer) = t.toStdString();
            return true;
        }
        case Kind::PathMatch: {
            auto* combo = editor_->findChild<QComboBox*>();
            auto* line = editor_->findChild<QLineEdit*>();
            for (int k = 1; k < kPathKinds.size(); ++k)
                erase(item, spec_.pointer + QLatin1Char('/') + kPathKinds[k]);
            line->setEnabled(combo->currentIndex() != 0);
            if (combo->currentIndex() > 0)
                ensure(item, spec_.pointer + QLatin1Char('/') + combo->currentText()) =
                    line->text().toStdString();
            return true;
        }
        case Kind::Servers: {
            auto* table = editor_->findChild<QTableWidget*>();
            Doc servers = Doc::array();
            for (int row = 0; row < table->rowCount(); ++row) {
                Doc s = Doc::object();
                s["address"] = cellText(table, row, 0).trimmed().toStdString();
                for (int c = 1; c < 3; ++c) {
                    const QString t = cellText(table, row, c).trimmed();
                    if (t.isEmpty()) continue;
                    bool ok = false;
                    const qlonglong n = t.toLongLong(&ok);
                    const char* key = c == 1 ? "weight" : "max_connections";
                    if (ok)
                        s[key] = static_cast<std::int64_t>(n);
                    else
                        s[key] = t.toStdString();
                }
                servers.push_back(std::move(s));
            }
            ensure(item, spec_.pointer) = std::move(servers);
            return true;
        }
        case Kind::NameValues: {
            auto* table = editor_->findChild<QTableWidget*>();
            if (table->property("foreign").toBool()) return true;  // see load()
            Doc object = Doc::object();
            QStringList seen;
            for (int row = 0; row < table->rowCount(); ++row) {
                const QString name = cellText(table, row, 0).trimmed();
                const QString value = cellText(table, row, 1);
                if (name.isEmpty()) {
                    if (value.isEmpty()) continue;  // a blank row just added
                    localError = tr("row %1 has a value but no header name").arg(row + 1);
                    return false;
                }
                if (seen.contains(name, Qt::CaseInsensitive)) {
                    localError = tr("header %1 is listed twice (names are not case-sensitive)")
                                     .arg(name);
                    return false;
                }
                seen << name;
                object[name.toStdString()] = value.toStdString();
            }
            if (object.empty())
                erase(item, spec_.pointer);
            else
                ensure(item, spec_.pointer) = std::move(object);
            return true;
        }
        case Kind::HeaderRules: {
            auto* table = editor_->findChild<QTableWidget*>();
            if (table->property("foreign").toBool()) return true;  // see load()
            // Keys in the order their first row shows them; "set" and "add" are JSON objects, so
            // a name repeated within one would silently keep only the last value.
            Doc rules = Doc::object();
            QStringList setNames, addNames;
            for (int row = 0; row < table->rowCount(); ++row) {
                const QString action = ruleAction(table, row);
                const QString name = cellText(table, row, kRuleName).trimmed();
                const bool remove = action == QLatin1String("remove");
                const QString value = remove ? QString() : cellText(table, row, kRuleValue);
                if (name.isEmpty()) {
                    if (value.isEmpty()) continue;  // a blank row just added
                    localError = tr("row %1 has a value but no header name").arg(row + 1);
                    return false;
                }
                if (remove) {
                    Doc& names = rules["remove"];
                    if (!names.is_array()) names = Doc::array();
                    names.push_back(name.toStdString());
                    continue;
                }
                QStringList& seen = action == QLatin1String("set") ? setNames : addNames;
                if (seen.contains(name, Qt::CaseInsensitive)) {
                    localError = tr("header %1 has two %2 rules (names are not case-sensitive)")
                                     .arg(name, action);
                    return false;
                }
                seen << name;
                rules[action.toStdString()][name.toStdString()] = value.toStdString();
            }
            if (rules.empty())
                erase(item, spec_.pointer);
            else
                ensure(item, spec_.pointer) = std::move(rules);
            return true;
        }
        case Kind::Presence: {
            if (static_cast<QCheckBox*>(editor_)->isChecked()) {
                Doc& v = ensure(item, spec_.pointer);
                if (!v.is_object()) v = Doc::object();
            } else {
                erase(item, spec_.pointer);
            }
            return true;
        }
    }
    return true;
}

int BoundField::matchLength(const QString& rel) const {
    const QString& p = spec_.pointer;
    if (rel == p || rel.startsWith(p + QLatin1Char('/'))) return static_cast<int>(p.size()) + 1;
    if (p.isEmpty()) return 0;
    return -1;
}

void BoundField::setDiagnostic(const QString& severity, const QString& message,
                               const QString& rel) {
    QString where;
    if (spec_.kind == Kind::Servers && rel.size() > spec_.pointer.size()) {
        // "/servers/1/weight": mark the cell, and say which row.
        const QStringList rest = tokens(rel.mid(spec_.pointer.size()));
        auto* table = editor_->findChild<QTableWidget*>();
        bool ok = false;
        const int row = rest.value(0).toInt(&ok);
        if (ok && table && row < table->rowCount()) {
            const int col = rest.value(1) == QLatin1String("weight")            ? 1
                            : rest.value(1) == QLatin1String("max_connections") ? 2
                                                                                : 0;
            markCells(table, row, col, col, message);
            where = tr("server %1: ").arg(row + 1);
        }
    }
    if (spec_.kind == Kind::NameValues && rel.size() > spec_.pointer.size()) {
        // "/match/headers/X-Env": mark that header's value.
        const QString name = unescapeToken(tokens(rel.mid(spec_.pointer.size())).value(0));
        auto* table = editor_->findChild<QTableWidget*>();
        for (int row = 0; table && row < table->rowCount(); ++row) {
            if (cellText(table, row, 0).trimmed() != name) continue;
            markCells(table, row, 0, 1, message);
            where = tr("header %1: ").arg(name);
            break;
        }
    }
    if (spec_.kind == Kind::HeaderRules && rel.size() > spec_.pointer.size()) {
        // "/request_headers/set/X-Id" or "/request_headers/remove/1": mark that rule's row.
        const QStringList rest = tokens(rel.mid(spec_.pointer.size()));
        const QString action = rest.value(0);
        const QString key = unescapeToken(rest.value(1));
        bool isIndex = false;
        const int index = key.toInt(&isIndex);
        auto* table = editor_->findChild<QTableWidget*>();
        int removeRules = 0;  // store() skips nameless rows, so count only named ones
        for (int row = 0; table && !key.isEmpty() && row < table->rowCount(); ++row) {
            const QString name = cellText(table, row, kRuleName).trimmed();
            if (ruleAction(table, row) != action || name.isEmpty()) continue;
            const bool hit = action == QLatin1String("remove") ? isIndex && removeRules++ == index
                                                               : name == key;
            if (!hit) continue;
            markCells(table, row, kRuleName, kRuleValue, message);
            where = tr("%1 %2: ").arg(action, name);
            break;
        }
    }
    const QString line = QStringLiteral("%1%2").arg(where, message);
    diagnostic_ = diagnostic_.isEmpty() ? line : diagnostic_ + QLatin1Char('\n') + line;
    const bool error = severity != QLatin1String("warning");
    error_->setStyleSheet(error ? QStringLiteral("color:#c62828;")
                                : QStringLiteral("color:#a86600;"));
    error_->setText(diagnostic_);
    error_->setVisible(true);
    editor_->setProperty("diagnostic", diagnostic_);
    editor_->setToolTip(diagnostic_);
    editor_->setStyleSheet(
        error ? QStringLiteral("QLineEdit, QComboBox, QTableWidget { border: 1px solid #c62828; }")
              : QString());
    editor_->setAccessibleDescription(diagnostic_);
}

void BoundField::clearDiagnostic() {
    diagnostic_.clear();
    error_->clear();
    error_->setVisible(false);
    editor_->setProperty("diagnostic", QString());
    editor_->setToolTip(spec_.placeholder);
    editor_->setStyleSheet(QString());
    editor_->setAccessibleDescription(QString());
    if (isTable(spec_.kind)) {
        if (auto* table = editor_->findChild<QTableWidget*>()) {
            const QSignalBlocker quiet(table);
            for (int r = 0; r < table->rowCount(); ++r)
                for (int c = 0; c < table->columnCount(); ++c)
                    if (auto* cell = table->item(r, c)) {
                        cell->setBackground(QBrush());
                        cell->setToolTip(QString());
                    }
        }
    }
}

void BoundField::setReadOnly(bool readOnly) {
    if (auto* line = qobject_cast<QLineEdit*>(editor_))
        line->setReadOnly(readOnly);
    else
        editor_->setEnabled(!readOnly);
}

// --- ItemForm ---

ItemForm::ItemForm(const QString& title, QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    auto* heading = new QLabel(QStringLiteral("<b>%1</b>").arg(title.toHtmlEscaped()), this);
    outer->addWidget(heading);
    general_ = new QLabel(this);
    general_->setObjectName(QStringLiteral("error:item"));
    general_->setWordWrap(true);
    general_->setStyleSheet(QStringLiteral("color:#c62828;"));
    general_->setVisible(false);
    outer->addWidget(general_);
    layout_ = new QFormLayout();
    layout_->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    outer->addLayout(layout_);
    outer->addStretch(1);
}

void ItemForm::addSection(const QString& title) {
    auto* label = new QLabel(QStringLiteral("<i>%1</i>").arg(title.toHtmlEscaped()), this);
    layout_->addRow(label);
}

BoundField* ItemForm::addField(const QString& label, BoundField::Spec spec) {
    QWidget* editor = nullptr;
    switch (spec.kind) {
        case BoundField::Kind::Text:
        case BoundField::Kind::Integer:
        case BoundField::Kind::List:
        case BoundField::Kind::JsonValue: {
            auto* line = new QLineEdit(this);
            line->setPlaceholderText(spec.placeholder);
            editor = line;
            break;
        }
        case BoundField::Kind::Choice:
        case BoundField::Kind::Boolean: {
            auto* combo = new QComboBox(this);
            combo->setEditable(spec.editable);
            if (spec.kind == BoundField::Kind::Boolean)
                spec.choices = {QStringLiteral("true"), QStringLiteral("false")};
            if (!spec.required) combo->addItem(kDefault);
            combo->addItems(spec.choices);
            editor = combo;
            break;
        }
        case BoundField::Kind::PathMatch: {
            auto* box = new QWidget(this);
            auto* row = new QHBoxLayout(box);
            row->setContentsMargins(0, 0, 0, 0);
            auto* combo = new QComboBox(box);
            combo->addItems(kPathKinds);
            combo->setAccessibleName(tr("Path condition"));
            auto* line = new QLineEdit(box);
            line->setPlaceholderText(spec.placeholder);
            line->setAccessibleName(tr("Path"));
            row->addWidget(combo);
            row->addWidget(line, 1);
            editor = box;
            break;
        }
        case BoundField::Kind::Servers: {
            editor = tableEditor(this, {tr("Address (host:port)"), tr("Weight"), tr("Max connections")},
                                 tr("Servers"), 120, tr("Add server"), QStringLiteral("addServer"),
                                 tr("Remove server"), QStringLiteral("removeServer"));
            auto* header = editor->findChild<QTableWidget*>()->horizontalHeader();
            header->setSectionResizeMode(1, QHeaderView::Interactive);
            header->setSectionResizeMode(2, QHeaderView::Interactive);
            break;
        }
        case BoundField::Kind::Presence:
            editor = new QCheckBox(tr("enabled"), this);
            break;
        case BoundField::Kind::NameValues:
            editor = tableEditor(this, {tr("Name"), tr("Value (empty: only present)")}, label, 90,
                                 tr("Add header"), QStringLiteral("addRow"), tr("Remove header"),
                                 QStringLiteral("removeRow"));
            break;
        case BoundField::Kind::HeaderRules:
            // Rows run in the proxy's order within each action: remove, then set, then add.
            editor = tableEditor(this, {tr("Action"), tr("Header"), tr("Value (set and add)")},
                                 label, 90, tr("Add rule"), QStringLiteral("addRow"),
                                 tr("Remove rule"), QStringLiteral("removeRow"));
            editor->findChild<QTableWidget*>()->horizontalHeader()->setSectionResizeMode(
                kRuleAction, QHeaderView::ResizeToContents);
            break;
    }
    editor->setAccessibleName(label);
    auto* error = new QLabel(this);
    error->setWordWrap(true);
    error->setVisible(false);
    auto* cell = new QWidget(this);
    auto* v = new QVBoxLayout(cell);
    v->setContentsMargins(0, 0, 0, 0);
    v->setSpacing(1);
    v->addWidget(editor);
    v->addWidget(error);
    layout_->addRow(label, cell);

    auto* field = new BoundField(std::move(spec), editor, error, this);
    fields_.push_back(field);
    connect(field, &BoundField::edited, this, [this, field] { emit fieldEdited(field); });
    // Composite editors report their parts' edits.
    if (field->spec().kind == BoundField::Kind::PathMatch) {
        connect(editor->findChild<QComboBox*>(), &QComboBox::currentIndexChanged, field,
                &BoundField::edited);
        connect(editor->findChild<QLineEdit*>(), &QLineEdit::textEdited, field,
                &BoundField::edited);
    } else if (field->spec().kind == BoundField::Kind::Servers) {
        auto* table = editor->findChild<QTableWidget*>();
        connect(table, &QTableWidget::itemChanged, field, &BoundField::edited);
        connect(editor->findChild<QPushButton*>(QStringLiteral("addServer")), &QPushButton::clicked,
                field, [table, field] {
                    const QSignalBlocker b(table);
                    const int row = table->rowCount();
                    table->insertRow(row);
                    table->setItem(row, 0, new QTableWidgetItem(QStringLiteral("127.0.0.1:9000")));
                    table->setItem(row, 1, new QTableWidgetItem());
                    table->setItem(row, 2, new QTableWidgetItem());
                    emit field->edited();
                });
        connectRemoveRow(editor, QStringLiteral("removeServer"), field);
    }
    if (field->spec().kind == BoundField::Kind::NameValues) {
        auto* table = editor->findChild<QTableWidget*>();
        connect(table, &QTableWidget::itemChanged, field, &BoundField::edited);
        // A new row starts blank (store() skips it until it has a name) with its name cell in
        // edit mode, so typing goes straight in.
        connect(editor->findChild<QPushButton*>(QStringLiteral("addRow")), &QPushButton::clicked,
                field, [table] {
                    if (table->property("foreign").toBool()) return;
                    const QSignalBlocker b(table);
                    const int row = table->rowCount();
                    table->insertRow(row);
                    table->setItem(row, 0, new QTableWidgetItem());
                    table->setItem(row, 1, new QTableWidgetItem());
                    table->setCurrentCell(row, 0);
                    table->editItem(table->item(row, 0));
                });
        connectRemoveRow(editor, QStringLiteral("removeRow"), field);
    }
    if (field->spec().kind == BoundField::Kind::HeaderRules) {
        auto* table = editor->findChild<QTableWidget*>();
        connect(table, &QTableWidget::itemChanged, field, &BoundField::edited);
        // A new rule is a blank "set" row (store() skips it until it has a name), its name cell
        // in edit mode.
        connect(editor->findChild<QPushButton*>(QStringLiteral("addRow")), &QPushButton::clicked,
                field, [table, field] {
                    if (table->property("foreign").toBool()) return;
                    const QSignalBlocker b(table);
                    const int row = table->rowCount();
                    insertRuleRow(table, field, row, QStringLiteral("set"), {}, {});
                    table->setCurrentCell(row, kRuleName);
                    table->editItem(table->item(row, kRuleName));
                });
        connectRemoveRow(editor, QStringLiteral("removeRow"), field);
    }
    return field;
}

void ItemForm::load(const Doc& item) {
    for (BoundField* f : fields_) f->load(item);
}

int ItemForm::setDiagnostics(
    const std::vector<std::pair<QString, std::pair<QString, QString>>>& diags) {
    for (BoundField* f : fields_) f->clearDiagnostic();
    QStringList general;
    int placed = 0;
    for (const auto& [rel, sm] : diags) {
        BoundField* best = nullptr;
        int bestLen = 0;
        for (BoundField* f : fields_) {
            const int len = f->matchLength(rel);
            if (len > bestLen) {
                best = f;
                bestLen = len;
            }
        }
        if (best) {
            best->setDiagnostic(sm.first, sm.second, rel);
            ++placed;
        } else {
            general << (rel.isEmpty() ? sm.second : QStringLiteral("%1: %2").arg(rel, sm.second));
        }
    }
    general_->setText(general.join(QLatin1Char('\n')));
    general_->setVisible(!general.isEmpty());
    return placed;
}

QString ItemForm::generalDiagnostics() const {
    return general_->text();
}

void ItemForm::setReadOnly(bool readOnly) {
    for (BoundField* f : fields_) f->setReadOnly(readOnly);
}

void ItemForm::setChoices(const QString& pointer, const QStringList& choices) {
    BoundField* f = field(pointer);
    if (!f) return;
    auto* combo = qobject_cast<QComboBox*>(f->editor());
    if (!combo) return;
    const QSignalBlocker b(combo);
    const QString current = combo->currentText();
    combo->clear();
    if (!f->spec().required) combo->addItem(kDefault);
    combo->addItems(choices);
    const int index = combo->findText(current);
    if (index >= 0)
        combo->setCurrentIndex(index);
    else if (combo->isEditable())
        combo->setEditText(current);
}

BoundField* ItemForm::field(const QString& pointer) const {
    for (BoundField* f : fields_)
        if (f->spec().pointer == pointer) return f;
    return nullptr;
}

}  // namespace proxy::console
