// The routes/upstreams editor without a service: typing into a form runs the shared validator
// (debounced, off the GUI thread) and each diagnostic lands at the field its JSON pointer names;
// fixing the text clears it; read-only mode stops edits.
#include <QComboBox>
#include <QFile>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTreeWidget>
#include <QTest>
#include <nlohmann/json.hpp>

#include "views/config_editor_view.h"

using namespace proxy::console;
using Section = ConfigEditorView::Section;

class ConfigEditorViewTest : public QObject {
    Q_OBJECT

    std::unique_ptr<ConfigEditorView> editor_;

    QString demoText() {
        QFile f(QStringLiteral(PROXY_SOURCE_DIR "/examples/demo.json"));
        if (!f.open(QIODevice::ReadOnly)) return {};
        return QString::fromUtf8(f.readAll());
    }

    // Waits for the validation run that follows the last edit.
    bool waitValidated() {
        return QTest::qWaitFor([&] { return !editor_->validationPending(); }, 20000);
    }

    template <typename T>
    T* fieldEditor(const QString& pointer) {
        ItemForm* form = editor_->currentForm();
        if (!form) return nullptr;
        return form->findChild<T*>(QStringLiteral("field:") + pointer);
    }

    QString fieldError(const QString& pointer) {
        ItemForm* form = editor_->currentForm();
        auto* label = form ? form->findChild<QLabel*>(QStringLiteral("error:") + pointer) : nullptr;
        return label && !label->isHidden() ? label->text() : QString();
    }

    // The first route's `key` in the document as it stands (null when absent).
    nlohmann::json routeValue(const char* key) {
        const auto doc =
            nlohmann::json::parse(editor_->documentText().toStdString(), nullptr, false);
        if (!doc.is_object() || !doc.contains("routes") || doc["routes"].empty()) return {};
        const auto& route = doc["routes"][0];
        return route.contains(key) ? route[key] : nlohmann::json();
    }

    void retype(QLineEdit* edit, const QString& text) {
        edit->setFocus();
        edit->selectAll();
        QTest::keyClick(edit, Qt::Key_Backspace);
        QTest::keyClicks(edit, text);
    }

  private slots:
    void init() {
        editor_ = std::make_unique<ConfigEditorView>(nullptr);
        editor_->resize(1000, 700);
        editor_->show();
        const QString demo = demoText();
        QVERIFY(!demo.isEmpty());
        editor_->loadDocument(demo, 1);
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(!editor_->dirty());
    }

    void cleanup() { editor_.reset(); }

    void treeShowsTheDocument() {
        auto* tree = editor_->findChild<QTreeWidget*>();
        QVERIFY(tree);
        QStringList tops;
        for (int i = 0; i < tree->topLevelItemCount(); ++i) tops << tree->topLevelItem(i)->text(0);
        QCOMPARE(tops,
                 QStringList({"Other settings", "Listeners (1)", "Upstreams (1)", "Routes (1)"}));
        QCOMPARE(tree->topLevelItem(3)->child(0)->text(0), QString("all  →  demo"));
    }

    void unknownUpstreamIsShownAtTheField() {
        editor_->selectItem(Section::Route, 0);
        auto* combo = fieldEditor<QComboBox>("/upstream");
        QVERIFY(combo);
        QVERIFY(combo->isEditable());
        QCOMPARE(combo->currentText(), QString("demo"));
        retype(combo->lineEdit(), "demox");
        QVERIFY(waitValidated());
        QVERIFY(editor_->dirty());
        QCOMPARE(editor_->errorCount(), 1);
        const QString error = fieldError("/upstream");
        QVERIFY2(error.contains("demox"), qPrintable(error));
        QVERIFY2(error.contains("did you mean 'demo'"), qPrintable(error));
        QVERIFY(fieldError("/name").isEmpty());  // only that field
        // The tree marks the route too.
        auto* tree = editor_->findChild<QTreeWidget*>();
        QVERIFY(!tree->topLevelItem(3)->child(0)->toolTip(0).isEmpty());
        // Fixing it clears everything.
        QTest::keyClick(combo->lineEdit(), Qt::Key_Backspace);
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(fieldError("/upstream").isEmpty());
        QVERIFY(editor_->documentText().contains("\"upstream\": \"demo\""));
    }

    void badListenerAddress() {
        editor_->selectItem(Section::Listener, 0);
        auto* address = fieldEditor<QLineEdit>("/address");
        QVERIFY(address);
        retype(address, "127.0.0.1:99999");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 1);
        QVERIFY2(fieldError("/address").contains("port"), qPrintable(fieldError("/address")));
        QVERIFY(editor_->diagnosticsText().join("\n").contains("/listeners/0/address"));
    }

    void wrongTypeInANumberField() {
        editor_->selectItem(Section::Settings, -1);
        auto* workers = fieldEditor<QLineEdit>("/workers");
        QVERIFY(workers);
        retype(workers, "two");
        QVERIFY(waitValidated());
        QVERIFY(editor_->errorCount() >= 1);
        QVERIFY2(fieldError("/workers").contains("integer"), qPrintable(fieldError("/workers")));
        retype(workers, "2");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(editor_->documentText().contains("\"workers\": 2"));
        // Emptying an optional field removes the key (its default applies).
        retype(workers, "");
        QVERIFY(waitValidated());
        QVERIFY(!editor_->documentText().contains("workers"));
    }

    void nestedKeyReachesItsField() {
        editor_->selectItem(Section::Settings, -1);
        auto* timeout = fieldEditor<QLineEdit>("/timeouts/header_ms");
        QVERIFY(timeout);
        retype(timeout, "0");
        QVERIFY(waitValidated());
        QVERIFY2(!fieldError("/timeouts/header_ms").isEmpty(),
                 qPrintable(editor_->diagnosticsText().join("\n")));
        QVERIFY(fieldError("/workers").isEmpty());
    }

    void notJsonIsALocalErrorAndBlocksApply() {
        editor_->selectItem(Section::Upstream, 0);
        auto* status = fieldEditor<QLineEdit>("/health_check/expect_status");
        QVERIFY(status);
        retype(status, "[200, ");
        QVERIFY(waitValidated());
        QVERIFY(editor_->errorCount() >= 1);
        QVERIFY2(fieldError("/health_check/expect_status").contains("not valid JSON"),
                 qPrintable(fieldError("/health_check/expect_status")));
        retype(status, "[399, 200]");
        QVERIFY(waitValidated());
        // Valid JSON now, but the validator refuses the range — at the same field.
        QVERIFY2(fieldError("/health_check/expect_status").contains("above the highest"),
                 qPrintable(editor_->diagnosticsText().join("\n")));
        retype(status, "[200, 399]");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(editor_->documentText().contains("\"expect_status\""));
    }

    void serverTableCellErrors() {
        editor_->selectItem(Section::Upstream, 0);
        ItemForm* form = editor_->currentForm();
        auto* table = form->findChild<QTableWidget*>();
        QVERIFY(table);
        QCOMPARE(table->rowCount(), 2);
        table->item(1, 1)->setText("0");  // weight 0 is out of range
        QVERIFY(waitValidated());
        QVERIFY(editor_->errorCount() >= 1);
        const QString error = fieldError("/servers");
        QVERIFY2(error.contains("server 2"), qPrintable(error));
        QVERIFY(!table->item(1, 1)->toolTip().isEmpty());
        QVERIFY(table->item(0, 1)->toolTip().isEmpty());
    }

    void pathKindMovesTheValue() {
        editor_->selectItem(Section::Route, 0);
        ItemForm* form = editor_->currentForm();
        auto* box = form->findChild<QWidget*>("field:/match");
        QVERIFY(box);
        auto* kind = box->findChild<QComboBox*>();
        auto* value = box->findChild<QLineEdit*>();
        kind->setCurrentIndex(kind->findText("path_prefix"));
        QTest::keyClicks(value, "api/");  // no leading slash: the validator says so at this field
        QVERIFY(waitValidated());
        QVERIFY2(fieldError("/match").contains("/"),
                 qPrintable(editor_->diagnosticsText().join("\n")));
        value->clear();
        QTest::keyClicks(value, "/api/");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(editor_->documentText().contains("\"path_prefix\": \"/api/\""));
        kind->setCurrentIndex(kind->findText("path_exact"));
        QVERIFY(waitValidated());
        QVERIFY(editor_->documentText().contains("\"path_exact\": \"/api/\""));
        QVERIFY(!editor_->documentText().contains("path_prefix"));
    }

    // match.headers as a table of name / value rows: added with the button and typed into the
    // cells, written as an object; a nameless value or a repeated name is refused at the field;
    // the validator's complaint about one header marks its row; removing the last row drops the key.
    void matchHeadersTable() {
        editor_->selectItem(Section::Route, 0);
        ItemForm* form = editor_->currentForm();
        auto* box = form->findChild<QWidget*>("field:/match/headers");
        QVERIFY(box);
        auto* table = box->findChild<QTableWidget*>();
        auto* add = box->findChild<QPushButton*>("addRow");
        auto* remove = box->findChild<QPushButton*>("removeRow");
        QVERIFY(table && add && remove);
        QCOMPARE(table->rowCount(), 0);
        QVERIFY(!editor_->documentText().contains("\"headers\""));

        QTest::mouseClick(add, Qt::LeftButton);
        QCOMPARE(table->rowCount(), 1);
        table->item(0, 0)->setText("X-Env");
        table->item(0, 1)->setText("prod");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY2(editor_->documentText().contains("\"X-Env\": \"prod\""),
                 qPrintable(editor_->documentText()));

        // A second header, present with any value.
        QTest::mouseClick(add, Qt::LeftButton);
        table->item(1, 0)->setText("X-Debug");
        QVERIFY(waitValidated());
        QVERIFY(editor_->documentText().contains("\"X-Debug\": \"\""));

        // The same name again (another case): refused at the field, the document keeps the last
        // good value.
        table->item(1, 0)->setText("x-env");
        QVERIFY2(fieldError("/match/headers").contains("listed twice"),
                 qPrintable(fieldError("/match/headers")));
        QVERIFY(editor_->documentText().contains("\"X-Debug\""));
        // A value without a name.
        table->item(1, 0)->setText("");
        table->item(1, 1)->setText("orphan");
        QVERIFY2(fieldError("/match/headers").contains("no header name"),
                 qPrintable(fieldError("/match/headers")));
        // A name the validator refuses: its message comes back to that row.
        table->item(1, 0)->setText("Bad Name");
        QVERIFY(waitValidated());
        QVERIFY(editor_->errorCount() >= 1);
        QVERIFY2(fieldError("/match/headers").contains("header Bad Name:") &&
                     fieldError("/match/headers").contains("not a valid header name"),
                 qPrintable(fieldError("/match/headers")));
        QVERIFY(!table->item(1, 0)->toolTip().isEmpty());
        QVERIFY(table->item(0, 0)->toolTip().isEmpty());
        table->item(1, 0)->setText("X-Ok");
        QVERIFY(waitValidated());
        QVERIFY(fieldError("/match/headers").isEmpty());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(editor_->documentText().contains("\"X-Ok\": \"orphan\""));

        // The form shows what the document holds when the item is shown again.
        editor_->selectItem(Section::Upstream, 0);
        editor_->selectItem(Section::Route, 0);
        table = editor_->currentForm()->findChild<QWidget*>("field:/match/headers")
                    ->findChild<QTableWidget*>();
        QCOMPARE(table->rowCount(), 2);
        QCOMPARE(table->item(0, 0)->text(), QString("X-Env"));
        QCOMPARE(table->item(1, 1)->text(), QString("orphan"));

        // Removing both rows drops the key (the default applies).
        for (int i = 0; i < 2; ++i) {
            table->setCurrentCell(0, 0);
            QTest::mouseClick(
                editor_->currentForm()->findChild<QWidget*>("field:/match/headers")
                    ->findChild<QPushButton*>("removeRow"),
                Qt::LeftButton);
        }
        QVERIFY(waitValidated());
        QCOMPARE(table->rowCount(), 0);
        QVERIFY(!editor_->documentText().contains("X-Env"));
        QVERIFY(!editor_->documentText().contains("\"headers\""));
        QCOMPARE(editor_->errorCount(), 0);
    }

    // Header rules as a table of action / name / value rows, written as "set" and "add" objects and
    // a "remove" list: a remove row's value cell is unused; a name with two set rules is refused at
    // the field; the validator's complaint about one rule marks its row; showing the item again
    // lists the rows in the document's order; removing every row drops the key.
    void headerRulesTable() {
        editor_->selectItem(Section::Route, 0);
        QWidget* box = editor_->currentForm()->findChild<QWidget*>("field:/request_headers");
        QVERIFY(box);
        auto* table = box->findChild<QTableWidget*>();
        auto* add = box->findChild<QPushButton*>("addRow");
        QVERIFY(table && add && box->findChild<QPushButton*>("removeRow"));
        QCOMPARE(table->rowCount(), 0);
        auto action = [&](int row) { return qobject_cast<QComboBox*>(table->cellWidget(row, 0)); };
        auto rulesAre = [&](const char* json) {
            const nlohmann::json now = routeValue("request_headers");
            if (now == nlohmann::json::parse(json)) return true;
            qWarning("request_headers: %s", now.dump().c_str());
            return false;
        };

        QTest::mouseClick(add, Qt::LeftButton);
        QCOMPARE(table->rowCount(), 1);
        QVERIFY(action(0));
        QCOMPARE(action(0)->currentText(), QString("set"));
        table->item(0, 1)->setText("X-Id");
        table->item(0, 2)->setText("${request_id}");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(rulesAre(R"({"set": {"X-Id": "${request_id}"}})"));

        // A remove rule: its value cell is not used.
        QTest::mouseClick(add, Qt::LeftButton);
        action(1)->setCurrentText("remove");
        QVERIFY(!(table->item(1, 2)->flags() & Qt::ItemIsEditable));
        table->item(1, 1)->setText("X-Debug");
        QVERIFY(waitValidated());
        QVERIFY(rulesAre(R"({"set": {"X-Id": "${request_id}"}, "remove": ["X-Debug"]})"));

        // Two set rules for one name (another case): refused at the field, and the document keeps
        // the last good rules. As an add rule under another name it is fine.
        QTest::mouseClick(add, Qt::LeftButton);
        table->item(2, 1)->setText("x-id");
        table->item(2, 2)->setText("again");
        QVERIFY2(fieldError("/request_headers").contains("two set rules"),
                 qPrintable(fieldError("/request_headers")));
        QVERIFY(rulesAre(R"({"set": {"X-Id": "${request_id}"}, "remove": ["X-Debug"]})"));
        action(2)->setCurrentText("add");
        table->item(2, 1)->setText("X-Trace");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);
        QVERIFY(fieldError("/request_headers").isEmpty());
        QVERIFY(rulesAre(R"({"set": {"X-Id": "${request_id}"}, "remove": ["X-Debug"],
                             "add": {"X-Trace": "again"}})"));

        // The validator's messages come back to the rule they are about.
        table->item(0, 2)->setText("${requestid}");
        QVERIFY(waitValidated());
        QVERIFY(editor_->errorCount() >= 1);
        QVERIFY2(fieldError("/request_headers").contains("set X-Id:") &&
                     fieldError("/request_headers").contains("request_id"),
                 qPrintable(fieldError("/request_headers")));
        QVERIFY(!table->item(0, 1)->toolTip().isEmpty());
        QVERIFY(table->item(1, 1)->toolTip().isEmpty());
        table->item(0, 2)->setText("${request_id}");
        table->item(1, 1)->setText("Connection");  // the proxy's own header
        QVERIFY(waitValidated());
        QVERIFY2(fieldError("/request_headers").contains("remove Connection:"),
                 qPrintable(editor_->diagnosticsText().join("\n")));
        QVERIFY(!table->item(1, 1)->toolTip().isEmpty());
        QVERIFY(table->item(0, 1)->toolTip().isEmpty());
        table->item(1, 1)->setText("X-Debug");
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);

        // Shown again: the rows in the document's order, a remove row without a usable value.
        editor_->selectItem(Section::Upstream, 0);
        editor_->selectItem(Section::Route, 0);
        box = editor_->currentForm()->findChild<QWidget*>("field:/request_headers");
        table = box->findChild<QTableWidget*>();
        QCOMPARE(table->rowCount(), 3);
        QCOMPARE(action(0)->currentText(), QString("set"));
        QCOMPARE(action(1)->currentText(), QString("remove"));
        QCOMPARE(action(2)->currentText(), QString("add"));
        QCOMPARE(table->item(1, 1)->text(), QString("X-Debug"));
        QVERIFY(!(table->item(1, 2)->flags() & Qt::ItemIsEditable));
        QCOMPARE(table->item(2, 2)->text(), QString("again"));

        // Removing every row drops the key.
        for (int i = 0; i < 3; ++i) {
            table->setCurrentCell(0, 1);
            QTest::mouseClick(box->findChild<QPushButton*>("removeRow"), Qt::LeftButton);
        }
        QVERIFY(waitValidated());
        QCOMPARE(table->rowCount(), 0);
        QVERIFY(routeValue("request_headers").is_null());
        QVERIFY(!editor_->documentText().contains("request_headers"));
        QCOMPARE(editor_->errorCount(), 0);
    }

    // Rules the table cannot show as they are (a value that is not a string) stay as written: the
    // table is disabled and says to use Raw JSON, the validator's message shows at the field, and
    // editing another field keeps them.
    void headerRulesTheTableCannotShow() {
        QString text = demoText();
        const QString route = R"({ "name": "all", "upstream": "demo" })";
        QVERIFY(text.contains(route));
        text.replace(route, R"({ "name": "all", "upstream": "demo",
                                 "response_headers": { "set": { "X-A": 5 } } })");
        editor_->loadDocument(text, 2);
        QVERIFY(waitValidated());
        QVERIFY(editor_->errorCount() >= 1);
        editor_->selectItem(Section::Route, 0);
        auto* table = editor_->currentForm()
                          ->findChild<QWidget*>("field:/response_headers")
                          ->findChild<QTableWidget*>();
        QVERIFY(table);
        QVERIFY(!table->isEnabled());
        QVERIFY(table->toolTip().contains("Raw JSON"));
        QCOMPARE(table->rowCount(), 0);
        QVERIFY2(!fieldError("/response_headers").isEmpty(),
                 qPrintable(editor_->diagnosticsText().join("\n")));
        auto* host = fieldEditor<QLineEdit>("/match/host");
        QVERIFY(host);
        retype(host, "example.com");
        QVERIFY(waitValidated());
        QVERIFY2(routeValue("response_headers") == nlohmann::json::parse(R"({"set": {"X-A": 5}})"),
                 routeValue("response_headers").dump().c_str());
        QVERIFY(editor_->documentText().contains("example.com"));
    }

    void addAndRemoveItems() {
        editor_->selectItem(Section::Route, 0);
        const auto buttons = editor_->findChildren<QPushButton*>();
        QPushButton* addButton = nullptr;
        QPushButton* removeButton = nullptr;
        for (auto* b : buttons) {
            if (b->text() == "Add") addButton = b;
            if (b->text() == "Remove") removeButton = b;
        }
        QVERIFY(addButton && removeButton);
        QTest::mouseClick(addButton, Qt::LeftButton);
        QVERIFY(waitValidated());
        QCOMPARE(editor_->errorCount(), 0);  // a new route points at the first upstream
        QVERIFY(editor_->documentText().contains("route-2"));
        QTest::mouseClick(removeButton, Qt::LeftButton);
        QVERIFY(waitValidated());
        QVERIFY(!editor_->documentText().contains("route-2"));
    }

    void garbageDocumentIsExplainedNotShown() {
        QSignalSpy validated(editor_.get(), &ConfigEditorView::validated);
        editor_->loadDocument("{\"listeners\": [", 0);
        QVERIFY(validated.count() >= 1);
        QVERIFY(editor_->errorCount() >= 1);
        QVERIFY(editor_->diagnosticsText().join("\n").contains("not valid JSON"));
        editor_->loadDocument(QString::fromUtf8("\xff\xfe"), 0);
        QVERIFY(editor_->errorCount() >= 1);
    }

    void readOnlyStopsEdits() {
        editor_->setReadOnly(true, "read-only role");
        editor_->selectItem(Section::Listener, 0);
        auto* name = fieldEditor<QLineEdit>("/name");
        QVERIFY(name->isReadOnly());
        QTest::keyClicks(name, "zzz");
        QVERIFY(waitValidated());
        QVERIFY(!editor_->dirty());
        QVERIFY(!editor_->documentText().contains("zzz"));
        auto* apply = editor_->findChild<QPushButton*>("applyButton");
        QVERIFY(!apply->isEnabled());
        auto* banner = editor_->findChild<QLabel*>("editorBanner");
        QVERIFY(banner->isVisible());
    }
};

QTEST_MAIN(ConfigEditorViewTest)
#include "config_editor_view_test.moc"
