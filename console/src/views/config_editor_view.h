#pragma once
// The routes and upstreams editor: a tree of listeners, upstreams and routes (plus the other
// settings) with a form per item, the shared validator run as you type (debounced, off the GUI
// thread) with each diagnostic shown at its field, apply with a diff first, conflicts explained
// (reload, or review and apply on top), the version history with diff and rollback, and raw JSON
// import/export.

#include <QWidget>
#include <atomic>
#include <memory>

#include "service_client/service_client.h"
#include "views/config_forms.h"

class QTreeWidget;
class QTreeWidgetItem;
class QStackedWidget;
class QListWidget;
class QLabel;
class QPushButton;
class QPlainTextEdit;
class QTabWidget;
class QTableView;
class QTimer;

namespace proxy::console {

class HistoryModel;
class DiffView;

class ConfigEditorView : public QWidget {
    Q_OBJECT

  public:
    enum class Section { Settings, Listener, Upstream, Route };

    // client may be null (tests of the editor alone); it is not owned.
    explicit ConfigEditorView(ServiceClient* client, QWidget* parent = nullptr);
    ~ConfigEditorView() override;

    // Replaces the document (as if loaded from the service at `version`; 0 = not from the service).
    void loadDocument(const QString& text, qint64 version);
    QString documentText() const;  // the document as it would be applied (pretty-printed)
    bool dirty() const { return dirty_; }
    qint64 baseVersion() const { return baseVersion_; }

    // Shows an item's form (index -1 for Settings).
    void selectItem(Section section, int index);
    ItemForm* currentForm() const;
    ItemForm* form(Section section) const;

    int errorCount() const { return errors_; }
    int warningCount() const { return warnings_; }
    bool validationPending() const;
    QStringList diagnosticsText() const;  // "error: /path: message", as listed under the forms

    void setReadOnly(bool readOnly, const QString& why);
    bool readOnly() const { return readOnly_; }

  public slots:
    void reloadFromService();
    void applyToService();
    void refreshHistory();

  signals:
    // After each validation run (the debounced one after typing, or a load).
    void validated(int errors, int warnings);
    void statusMessage(const QString& text);

  private:
    void updateApplyEnabled();
    struct Located {
        Section section = Section::Settings;
        int index = -1;
        QString rest;  // pointer relative to the item
    };
    static Located locate(const QString& pointer);
    void buildForms();
    void rebuildTree();
    void onTreeSelection();
    void onFieldEdited(BoundField* field);
    void documentChanged();
    void startValidation();
    void showDiagnostics();
    void refreshNameChoices();
    Doc* itemDoc(Section section, int index);
    void addItem();
    void removeItem();
    void moveItem(int delta);
    void onConfigChanged(const Json& params);
    void sendApply(const QString& text, qint64 base, const QString& note);
    void handleConflict(const QString& text, const QString& note, qint64 current);
    void diffVersions(qint64 from, qint64 to);
    void rollbackSelected();
    void importFile();
    void exportFile();
    void useRawText();

    ServiceClient* client_;  // not owned; may be null
    Doc doc_ = Doc::object();
    QString baseText_;  // the service's text at baseVersion_ (empty when not from the service)
    qint64 baseVersion_ = 0;
    bool dirty_ = false;
    bool readOnly_ = false;
    Section section_ = Section::Settings;
    int index_ = -1;
    int errors_ = 0, warnings_ = 0;
    QStringList localErrors_;  // fields whose text is not JSON at all
    struct Diag {
        QString severity, pointer, message;
    };
    std::vector<Diag> diagnostics_;
    std::shared_ptr<std::atomic<quint64>> generation_;
    quint64 validatedGeneration_ = 0;

    QTabWidget* tabs_;
    QTreeWidget* tree_;
    QStackedWidget* stack_;
    ItemForm* settingsForm_;
    ItemForm* listenerForm_;
    ItemForm* upstreamForm_;
    ItemForm* routeForm_;
    QListWidget* diagList_;
    QLabel* banner_;
    QLabel* summary_;
    QPushButton* applyButton_;
    QPushButton* reloadButton_;
    QPushButton* importButton_;
    QPushButton* useRawButton_;
    QPushButton* addButton_;
    QPushButton* removeButton_;
    QPushButton* upButton_;
    QPushButton* downButton_;
    QPlainTextEdit* raw_;
    QTimer* debounce_;
    HistoryModel* history_;
    QTableView* historyView_;
    DiffView* historyDiff_;
    QPushButton* rollbackButton_;
};

}  // namespace proxy::console
