#pragma once
// The per-item forms of the routes/upstreams editor. Each field is bound to a JSON pointer inside
// its item (a listener, an upstream, a route, or the document's top level for the other
// settings); an edit writes straight into the document, and the validator's diagnostics come back
// to the field whose pointer they name. An empty optional field removes its key (the default
// applies); a value of the wrong type is written as typed, so the shared validator explains it at
// that field rather than the form guessing.

#include <QWidget>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

class QLabel;
class QFormLayout;
class QTableWidget;
class QComboBox;
class QLineEdit;
class QGroupBox;

namespace proxy::console {

using Doc = nlohmann::ordered_json;

class BoundField : public QObject {
    Q_OBJECT

  public:
    enum class Kind {
        Text,       // string
        Integer,    // JSON integer; other text is stored as a string for the validator to refuse
        Choice,     // one of `choices`, or "(default)" = absent
        Boolean,    // (default) / true / false
        List,       // comma-separated strings -> array
        JsonValue,  // any JSON, typed as text (expect_status)
        PathMatch,  // match.path_prefix / path_exact / path_regex: a kind and a value
        Servers,    // upstream servers: a table of address / weight / max_connections
        Presence,   // an optional object (health_check): checked = present
        NameValues,  // an object of string values (match.headers): a table of name / value rows
        HeaderRules,  // request/response header rules: a table of action / name / value rows,
                      // written as {"set": {...}, "add": {...}, "remove": [...]}
    };
    struct Spec {
        QString pointer;  // relative to the item: "/address", "/match/host"
        Kind kind = Kind::Text;
        bool required = false;
        QStringList choices;
        QString placeholder;
        bool editable = false;  // Choice: the combo also takes typed text (names of other items)
    };

    BoundField(Spec spec, QWidget* editor, QLabel* error, QObject* parent);

    const Spec& spec() const { return spec_; }
    QWidget* editor() const { return editor_; }
    // Reads the field's value from the item (signals blocked: loading is not an edit).
    void load(const Doc& item);
    // Writes the field into the item. Returns false with `localError` when the text cannot be
    // turned into JSON at all (JsonValue), or a NameValues or HeaderRules row has a value but no
    // name, or repeats a name that may appear only once.
    bool store(Doc& item, QString& localError) const;
    // Does a diagnostic at this relative pointer belong to this field? (the longest match wins)
    int matchLength(const QString& relativePointer) const;
    void setDiagnostic(const QString& severity, const QString& message,
                       const QString& relativePointer);
    void clearDiagnostic();
    QString diagnostic() const { return diagnostic_; }
    void setReadOnly(bool readOnly);

  signals:
    void edited();

  private:
    Spec spec_;
    QWidget* editor_;  // owned by the form's widget tree
    QLabel* error_;    // owned by the form's widget tree
    QString diagnostic_;
};

// One form: a titled column of bound fields.
class ItemForm : public QWidget {
    Q_OBJECT

  public:
    explicit ItemForm(const QString& title, QWidget* parent = nullptr);

    BoundField* addField(const QString& label, BoundField::Spec spec);
    void addSection(const QString& title);

    // Shows an item (the JSON object at the item's pointer; the whole document for settings).
    void load(const Doc& item);
    // Diagnostics for this item, pointers relative to it. Returns how many found a field.
    int setDiagnostics(const std::vector<std::pair<QString, std::pair<QString, QString>>>& diags);
    void setReadOnly(bool readOnly);
    void setChoices(const QString& pointer, const QStringList& choices);  // listener/upstream names
    BoundField* field(const QString& pointer) const;
    const std::vector<BoundField*>& fields() const { return fields_; }
    QString generalDiagnostics() const;

  signals:
    // A field changed: `field` wrote (or failed to write, with localError) into `item`.
    void fieldEdited(proxy::console::BoundField* field);

  private:
    QFormLayout* layout_;
    QLabel* general_;
    std::vector<BoundField*> fields_;
};

}  // namespace proxy::console
