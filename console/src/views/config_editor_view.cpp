#include "views/config_editor_view.h"

#include <QFile>
#include <QFileDialog>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableView>
#include <QThreadPool>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "app/json_util.h"
#include "app/line_diff.h"
#include "config/validator.h"
#include "models/history_model.h"
#include "widgets/diff_view.h"

namespace proxy::console {

namespace errc = control::errc;
using Kind = BoundField::Kind;

namespace {

constexpr int kSectionRole = Qt::UserRole;
constexpr int kIndexRole = Qt::UserRole + 1;

// One pool per process for validation runs, one thread: a newer run supersedes older ones anyway.
QThreadPool& validationPool() {
    static QThreadPool* pool = [] {
        auto* p = new QThreadPool();
        p->setMaxThreadCount(1);
        return p;
    }();
    return *pool;
}

const char* arrayName(ConfigEditorView::Section s) {
    switch (s) {
        case ConfigEditorView::Section::Listener:
            return "listeners";
        case ConfigEditorView::Section::Upstream:
            return "upstreams";
        case ConfigEditorView::Section::Route:
            return "routes";
        default:
            return "";
    }
}

std::string dumpDoc(const Doc& doc) {
    return doc.dump(2, ' ', false, Doc::error_handler_t::replace) + "\n";
}

// The service's text, pretty-printed the way the editor prints, so the diff shows changes of
// meaning and not of formatting.
QString prettified(const QString& text) {
    const QByteArray bytes = text.toUtf8();
    Doc parsed = Doc::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (parsed.is_discarded()) return text;
    return QString::fromStdString(dumpDoc(parsed));
}

}  // namespace

ConfigEditorView::ConfigEditorView(ServiceClient* client, QWidget* parent)
    : QWidget(parent), client_(client), generation_(std::make_shared<std::atomic<quint64>>(0)) {
    auto* outer = new QVBoxLayout(this);

    banner_ = new QLabel(this);
    banner_->setObjectName(QStringLiteral("editorBanner"));
    banner_->setWordWrap(true);
    banner_->setStyleSheet(
        QStringLiteral("background:#fff3cd;padding:6px;border:1px solid #e0c36c;"));
    banner_->setVisible(false);
    outer->addWidget(banner_);

    auto* toolbar = new QHBoxLayout();
    reloadButton_ = new QPushButton(tr("&Reload from service"), this);
    applyButton_ = new QPushButton(tr("&Apply…"), this);
    applyButton_->setObjectName(QStringLiteral("applyButton"));
    applyButton_->setToolTip(tr("Show the change as a diff, then apply it (Ctrl+Return)"));
    applyButton_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    importButton_ = new QPushButton(tr("&Import JSON…"), this);
    auto* importButton = importButton_;
    auto* exportButton = new QPushButton(tr("&Export JSON…"), this);
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("validationSummary"));
    toolbar->addWidget(reloadButton_);
    toolbar->addWidget(applyButton_);
    toolbar->addWidget(importButton);
    toolbar->addWidget(exportButton);
    toolbar->addStretch(1);
    toolbar->addWidget(summary_);
    outer->addLayout(toolbar);
    connect(reloadButton_, &QPushButton::clicked, this, [this] {
        if (dirty_ && QMessageBox::question(
                          this, tr("Reload"),
                          tr("Discard your edits and load the service's current configuration?")) !=
                          QMessageBox::Yes)
            return;
        reloadFromService();
    });
    connect(applyButton_, &QPushButton::clicked, this, &ConfigEditorView::applyToService);
    connect(importButton, &QPushButton::clicked, this, &ConfigEditorView::importFile);
    connect(exportButton, &QPushButton::clicked, this, &ConfigEditorView::exportFile);

    tabs_ = new QTabWidget(this);
    outer->addWidget(tabs_, 1);

    // --- Editor tab: tree | form, diagnostics below ---
    auto* editorTab = new QWidget(tabs_);
    auto* editorLayout = new QVBoxLayout(editorTab);
    auto* split = new QSplitter(Qt::Horizontal, editorTab);
    auto* left = new QWidget(split);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    tree_ = new QTreeWidget(left);
    tree_->setHeaderHidden(true);
    tree_->setAccessibleName(tr("Configuration items"));
    leftLayout->addWidget(tree_, 1);
    auto* treeButtons = new QHBoxLayout();
    addButton_ = new QPushButton(tr("Add"), left);
    removeButton_ = new QPushButton(tr("Remove"), left);
    upButton_ = new QPushButton(tr("Up"), left);
    downButton_ = new QPushButton(tr("Down"), left);
    for (auto* b : {addButton_, removeButton_, upButton_, downButton_}) treeButtons->addWidget(b);
    leftLayout->addLayout(treeButtons);
    connect(addButton_, &QPushButton::clicked, this, &ConfigEditorView::addItem);
    connect(removeButton_, &QPushButton::clicked, this, &ConfigEditorView::removeItem);
    connect(upButton_, &QPushButton::clicked, this, [this] { moveItem(-1); });
    connect(downButton_, &QPushButton::clicked, this, [this] { moveItem(1); });

    stack_ = new QStackedWidget(split);
    auto* hint = new QLabel(tr("Select a listener, an upstream or a route, or Add one."), stack_);
    hint->setAlignment(Qt::AlignCenter);
    stack_->addWidget(hint);
    split->addWidget(left);
    split->addWidget(stack_);
    split->setStretchFactor(1, 3);
    editorLayout->addWidget(split, 1);
    diagList_ = new QListWidget(editorTab);
    diagList_->setObjectName(QStringLiteral("diagnostics"));
    diagList_->setAccessibleName(tr("Problems"));
    diagList_->setMaximumHeight(140);
    editorLayout->addWidget(diagList_);
    tabs_->addTab(editorTab, tr("Editor"));
    connect(diagList_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
        const Located at = locate(item->data(Qt::UserRole).toString());
        selectItem(at.section, at.index);
    });

    buildForms();
    connect(tree_, &QTreeWidget::currentItemChanged, this, &ConfigEditorView::onTreeSelection);

    // --- Raw JSON tab ---
    auto* rawTab = new QWidget(tabs_);
    auto* rawLayout = new QVBoxLayout(rawTab);
    raw_ = new QPlainTextEdit(rawTab);
    raw_->setObjectName(QStringLiteral("rawJson"));
    raw_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    raw_->setAccessibleName(tr("Raw JSON"));
    rawLayout->addWidget(raw_, 1);
    auto* rawButtons = new QHBoxLayout();
    auto* useRaw = new QPushButton(tr("Use this text in the editor"), rawTab);
    useRawButton_ = useRaw;
    rawButtons->addWidget(useRaw);
    rawButtons->addStretch(1);
    rawLayout->addLayout(rawButtons);
    connect(useRaw, &QPushButton::clicked, this, &ConfigEditorView::useRawText);
    tabs_->addTab(rawTab, tr("Raw JSON"));
    connect(tabs_, &QTabWidget::currentChanged, this, [this, rawTab](int) {
        if (tabs_->currentWidget() == rawTab) raw_->setPlainText(documentText());
        if (tabs_->currentIndex() == 2) refreshHistory();
    });

    // --- History tab ---
    auto* historyTab = new QWidget(tabs_);
    auto* historyLayout = new QVBoxLayout(historyTab);
    history_ = new HistoryModel(this);
    historyView_ = new QTableView(historyTab);
    historyView_->setModel(history_);
    historyView_->setSelectionBehavior(QAbstractItemView::SelectRows);
    historyView_->setSelectionMode(QAbstractItemView::SingleSelection);
    historyView_->horizontalHeader()->setStretchLastSection(true);
    historyView_->verticalHeader()->setVisible(false);
    historyView_->setAccessibleName(tr("Version history"));
    auto* historyButtons = new QHBoxLayout();
    auto* diffCurrent = new QPushButton(tr("Diff with current"), historyTab);
    auto* diffPrevious = new QPushButton(tr("Diff with previous"), historyTab);
    rollbackButton_ = new QPushButton(tr("Roll back to this version…"), historyTab);
    auto* refresh = new QPushButton(tr("Refresh"), historyTab);
    for (auto* b : {diffCurrent, diffPrevious, rollbackButton_, refresh})
        historyButtons->addWidget(b);
    historyButtons->addStretch(1);
    historyDiff_ = new DiffView(historyTab);
    auto* historySplit = new QSplitter(Qt::Vertical, historyTab);
    historySplit->addWidget(historyView_);
    historySplit->addWidget(historyDiff_);
    historyLayout->addLayout(historyButtons);
    historyLayout->addWidget(historySplit, 1);
    tabs_->addTab(historyTab, tr("History"));
    auto selectedVersion = [this]() -> qint64 {
        const auto rows = historyView_->selectionModel()->selectedRows();
        return rows.isEmpty() ? 0 : history_->entry(rows.first().row()).version;
    };
    connect(diffCurrent, &QPushButton::clicked, this, [this, selectedVersion] {
        if (const qint64 v = selectedVersion()) diffVersions(v, history_->currentVersion());
    });
    connect(diffPrevious, &QPushButton::clicked, this, [this, selectedVersion] {
        const qint64 v = selectedVersion();
        qint64 previous = 0;
        for (int r = 0; r < history_->rowCount(); ++r)
            if (history_->entry(r).version < v)
                previous = std::max(previous, history_->entry(r).version);
        if (v && previous)
            diffVersions(previous, v);
        else
            historyDiff_->setPlainText(tr("No older version is kept."));
    });
    connect(rollbackButton_, &QPushButton::clicked, this, &ConfigEditorView::rollbackSelected);
    connect(refresh, &QPushButton::clicked, this, &ConfigEditorView::refreshHistory);

    debounce_ = new QTimer(this);
    debounce_->setSingleShot(true);
    debounce_->setInterval(150);
    connect(debounce_, &QTimer::timeout, this, &ConfigEditorView::startValidation);

    if (client_) {
        connect(client_, &ServiceClient::connected, this, [this] {
            if (client_->isReadOnly())
                setReadOnly(
                    true,
                    tr("This connection has the read-only role: you can browse the configuration "
                       "and its "
                       "history, but not apply or roll back. Ask for the admin group to edit."));
            else if (readOnly_)
                setReadOnly(false, {});
            if (!dirty_) reloadFromService();
            refreshHistory();
        });
        connect(client_, &ServiceClient::stateChanged, this,
                &ConfigEditorView::updateApplyEnabled);
        connect(client_, &ServiceClient::notificationReceived, this,
                [this](const QString& method, const Json& params) {
                    if (method == QLatin1String("config.changed")) onConfigChanged(params);
                });
        connect(client_, &ServiceClient::forbiddenSeen, this, [this](const QString& method) {
            if (method.startsWith(QLatin1String("config.")))
                setReadOnly(
                    true,
                    tr("The service refused %1: this connection is read-only. Editing is disabled.")
                        .arg(method));
        });
    }
    rebuildTree();
    startValidation();
}

ConfigEditorView::~ConfigEditorView() {
    // A validation run posts its result to this object: let it finish first, with the result
    // discarded (the generation moved on).
    ++*generation_;
    validationPool().waitForDone();
}

void ConfigEditorView::buildForms() {
    settingsForm_ = new ItemForm(tr("Other settings"), stack_);
    auto* s = settingsForm_;
    s->addField(tr("Workers"), {"/workers", Kind::Integer, false, {}, "0 = one per CPU core"});
    s->addSection(tr("Control channel"));
    s->addField(tr("Endpoint"), {"/control/endpoint", Kind::Text, false, {}, "platform default"});
    s->addField(tr("Read-only group"), {"/control/read_only_group", Kind::Text, false, {}, "none"});
    s->addSection(tr("Logging"));
    s->addField(tr("Access-log database"),
                {"/logging/database", Kind::Text, false, {}, "platform default"});
    s->addField(tr("Access-log file"), {"/logging/access_log_file", Kind::Text, false, {}, "none"});
    s->addField(tr("Error-log file"), {"/logging/error_log_file", Kind::Text, false, {}, "none"});
    s->addField(tr("Level"),
                {"/logging/level", Kind::Choice, false, {"error", "warn", "info", "debug"}, {}});
    s->addSection(tr("Limits"));
    s->addField(tr("Max request line"),
                {"/limits/max_request_line", Kind::Integer, false, {}, "8192"});
    s->addField(tr("Max header bytes"),
                {"/limits/max_header_bytes", Kind::Integer, false, {}, "65536"});
    s->addField(tr("Max headers"), {"/limits/max_headers", Kind::Integer, false, {}, "100"});
    s->addField(tr("Max body bytes"),
                {"/limits/max_body_bytes", Kind::Integer, false, {}, "104857600"});
    s->addSection(tr("Timeouts (ms)"));
    for (const char* key : {"header_ms", "client_idle_ms", "upstream_connect_ms",
                            "upstream_response_ms", "tunnel_idle_ms", "shutdown_ms"})
        s->addField(
            QString::fromLatin1(key),
            {QStringLiteral("/timeouts/") + QLatin1String(key), Kind::Integer, false, {}, {}});
    s->addSection(tr("Forwarding headers"));
    s->addField(tr("X-Forwarded-*"), {"/forwarded/x_forwarded", Kind::Boolean, false, {}, {}});
    s->addField(tr("Via"), {"/forwarded/via", Kind::Boolean, false, {}, {}});
    s->addField(tr("Forwarded (RFC 7239)"), {"/forwarded/forwarded", Kind::Boolean, false, {}, {}});

    listenerForm_ = new ItemForm(tr("Listener"), stack_);
    listenerForm_->addField(tr("Name"), {"/name", Kind::Text, true, {}, "web"});
    listenerForm_->addField(tr("Address"),
                            {"/address", Kind::Text, true, {}, "0.0.0.0:8080 or [::]:8080"});

    upstreamForm_ = new ItemForm(tr("Upstream"), stack_);
    auto* u = upstreamForm_;
    u->addField(tr("Name"), {"/name", Kind::Text, true, {}, "app"});
    u->addField(tr("Balance"), {"/balance",
                                Kind::Choice,
                                false,
                                {"round_robin", "least_connections", "ip_hash", "hash"},
                                {}});
    u->addField(tr("Retries"), {"/retries", Kind::Integer, false, {}, "0"});
    u->addField(tr("Servers"), {"/servers", Kind::Servers, true, {}, {}});
    u->addField(tr("Keep-alive: max idle"),
                {"/keepalive/max_idle", Kind::Integer, false, {}, "32"});
    u->addField(tr("Keep-alive: idle timeout ms"),
                {"/keepalive/idle_timeout_ms", Kind::Integer, false, {}, "60000"});
    u->addSection(tr("Health check"));
    u->addField(tr("Active checks"), {"/health_check", Kind::Presence, false, {}, {}});
    u->addField(
        tr("Method"),
        {"/health_check/method", Kind::Choice, false, {"GET", "HEAD", "OPTIONS", "POST"}, {}});
    u->addField(tr("Path"), {"/health_check/path", Kind::Text, false, {}, "/health"});
    u->addField(tr("Expect status"),
                {"/health_check/expect_status", Kind::JsonValue, false, {}, "[200, 399]"});
    u->addField(tr("Expect body"),
                {"/health_check/expect_body", Kind::Text, false, {}, "substring"});
    u->addField(tr("Interval ms"), {"/health_check/interval_ms", Kind::Integer, false, {}, "2000"});
    u->addField(tr("Timeout ms"), {"/health_check/timeout_ms", Kind::Integer, false, {}, "1000"});
    u->addField(tr("Rise"), {"/health_check/rise", Kind::Integer, false, {}, "2"});
    u->addField(tr("Fall"), {"/health_check/fall", Kind::Integer, false, {}, "3"});

    routeForm_ = new ItemForm(tr("Route"), stack_);
    auto* r = routeForm_;
    r->addField(tr("Name"), {"/name", Kind::Text, true, {}, "api"});
    BoundField::Spec listener{"/listener", Kind::Choice, false, {}, "every listener"};
    listener.editable = true;
    r->addField(tr("Listener"), listener);
    BoundField::Spec upstream{"/upstream", Kind::Choice, true, {}, "an upstream's name"};
    upstream.editable = true;
    r->addField(tr("Upstream"), upstream);
    r->addSection(tr("Match"));
    r->addField(tr("Host"),
                {"/match/host", Kind::Text, false, {}, "* (any), example.com, *.example.com"});
    r->addField(tr("Path"), {"/match", Kind::PathMatch, false, {}, "/api/"});
    r->addField(tr("Methods"),
                {"/match/methods", Kind::List, false, {}, "GET, POST (empty = any)"});
    r->addField(tr("Headers"),
                {"/match/headers", Kind::NameValues, false, {}, "X-Env: prod"});
    r->addSection(tr("Rewrite"));
    r->addField(tr("Strip prefix"), {"/rewrite/strip_prefix", Kind::Text, false, {}, "/api"});
    r->addField(tr("Regex"), {"/rewrite/regex", Kind::Text, false, {}, "^/old/(.*)$"});
    r->addField(tr("Replacement"), {"/rewrite/replacement", Kind::Text, false, {}, "/new/$1"});
    r->addSection(tr("Headers"));
    r->addField(tr("Request headers"),
                {"/request_headers", Kind::HeaderRules, false, {}, "set X-Id: ${request_id}"});
    r->addField(tr("Response headers"),
                {"/response_headers", Kind::HeaderRules, false, {}, "remove Server"});

    for (ItemForm* f : {settingsForm_, listenerForm_, upstreamForm_, routeForm_}) {
        stack_->addWidget(f);
        connect(f, &ItemForm::fieldEdited, this, &ConfigEditorView::onFieldEdited);
    }
}

ConfigEditorView::Located ConfigEditorView::locate(const QString& pointer) {
    Located at;
    at.rest = pointer;
    const QStringList parts = pointer.split(QLatin1Char('/'));
    // parts[0] is "" (pointers start with '/').
    if (parts.size() >= 3) {
        bool ok = false;
        const int index = parts[2].toInt(&ok);
        Section s = Section::Settings;
        if (parts[1] == QLatin1String("listeners"))
            s = Section::Listener;
        else if (parts[1] == QLatin1String("upstreams"))
            s = Section::Upstream;
        else if (parts[1] == QLatin1String("routes"))
            s = Section::Route;
        if (s != Section::Settings && ok) {
            at.section = s;
            at.index = index;
            at.rest = QStringList(parts.mid(3)).join(QLatin1Char('/'));
            if (!at.rest.isEmpty()) at.rest.prepend(QLatin1Char('/'));
        }
    }
    return at;
}

Doc* ConfigEditorView::itemDoc(Section section, int index) {
    if (section == Section::Settings) return &doc_;
    if (!doc_.is_object()) return nullptr;
    const auto it = doc_.find(arrayName(section));
    if (it == doc_.end() || !it->is_array() || index < 0 || index >= static_cast<int>(it->size()))
        return nullptr;
    return &(*it)[static_cast<std::size_t>(index)];
}

ItemForm* ConfigEditorView::form(Section section) const {
    switch (section) {
        case Section::Settings:
            return settingsForm_;
        case Section::Listener:
            return listenerForm_;
        case Section::Upstream:
            return upstreamForm_;
        case Section::Route:
            return routeForm_;
    }
    return nullptr;
}

ItemForm* ConfigEditorView::currentForm() const {
    return qobject_cast<ItemForm*>(stack_->currentWidget());
}

void ConfigEditorView::rebuildTree() {
    const QSignalBlocker block(tree_);
    tree_->clear();
    auto* settings = new QTreeWidgetItem(tree_, {tr("Other settings")});
    settings->setData(0, kSectionRole, static_cast<int>(Section::Settings));
    settings->setData(0, kIndexRole, -1);
    for (Section s : {Section::Listener, Section::Upstream, Section::Route}) {
        const char* key = arrayName(s);
        const QString title = s == Section::Listener   ? tr("Listeners")
                              : s == Section::Upstream ? tr("Upstreams")
                                                       : tr("Routes");
        auto* group = new QTreeWidgetItem(tree_, {title});
        group->setData(0, kSectionRole, static_cast<int>(s));
        group->setData(0, kIndexRole, -2);  // the group itself
        const auto it = doc_.is_object() ? doc_.find(key) : doc_.end();
        if (doc_.is_object() && it != doc_.end() && it->is_array()) {
            int i = 0;
            for (const auto& item : *it) {
                QString label =
                    item.is_object() && item.contains("name") && item["name"].is_string()
                        ? QString::fromStdString(item["name"].get<std::string>())
                        : tr("(unnamed #%1)").arg(i + 1);
                if (s == Section::Route && item.is_object() && item.contains("upstream") &&
                    item["upstream"].is_string())
                    label += QStringLiteral("  →  ") +
                             QString::fromStdString(item["upstream"].get<std::string>());
                auto* child = new QTreeWidgetItem(group, {label});
                child->setData(0, kSectionRole, static_cast<int>(s));
                child->setData(0, kIndexRole, i);
                ++i;
            }
        }
        group->setText(0, QStringLiteral("%1 (%2)").arg(title).arg(group->childCount()));
        group->setExpanded(true);
    }
    // Restore the selection.
    QTreeWidgetItem* select = nullptr;
    for (int t = 0; t < tree_->topLevelItemCount() && !select; ++t) {
        QTreeWidgetItem* top = tree_->topLevelItem(t);
        if (top->data(0, kSectionRole).toInt() != static_cast<int>(section_)) continue;
        if (section_ == Section::Settings)
            select = top;
        else if (index_ >= 0 && index_ < top->childCount())
            select = top->child(index_);
    }
    if (select)
        tree_->setCurrentItem(select);
    else
        stack_->setCurrentIndex(0);
    showDiagnostics();
}

void ConfigEditorView::selectItem(Section section, int index) {
    section_ = section;
    index_ = index;
    rebuildTree();
    onTreeSelection();
    tabs_->setCurrentIndex(0);
}

void ConfigEditorView::onTreeSelection() {
    QTreeWidgetItem* item = tree_->currentItem();
    if (!item) {
        stack_->setCurrentIndex(0);
        return;
    }
    const auto section = static_cast<Section>(item->data(0, kSectionRole).toInt());
    const int index = item->data(0, kIndexRole).toInt();
    section_ = section;
    index_ = index;
    Doc* target = index == -2 ? nullptr : itemDoc(section, index);
    if (!target) {
        stack_->setCurrentIndex(0);
    } else {
        ItemForm* f = form(section);
        refreshNameChoices();
        f->load(*target);
        stack_->setCurrentWidget(f);
    }
    const bool inArray = section != Section::Settings;
    addButton_->setEnabled(inArray && !readOnly_);
    removeButton_->setEnabled(inArray && index >= 0 && !readOnly_);
    upButton_->setEnabled(section == Section::Route && index > 0 && !readOnly_);
    downButton_->setEnabled(section == Section::Route && index >= 0 && !readOnly_);
    showDiagnostics();
}

void ConfigEditorView::refreshNameChoices() {
    auto names = [this](const char* key) {
        QStringList out;
        if (doc_.is_object() && doc_.contains(key) && doc_[key].is_array())
            for (const auto& item : doc_[key])
                if (item.is_object() && item.contains("name") && item["name"].is_string())
                    out << QString::fromStdString(item["name"].get<std::string>());
        return out;
    };
    routeForm_->setChoices(QStringLiteral("/listener"), names("listeners"));
    routeForm_->setChoices(QStringLiteral("/upstream"), names("upstreams"));
}

void ConfigEditorView::onFieldEdited(BoundField* field) {
    if (readOnly_) return;
    Doc* target = itemDoc(section_, index_);
    if (!target) return;
    QString localError;
    const QString key =
        QStringLiteral("%1/%2%3").arg(int(section_)).arg(index_).arg(field->spec().pointer);
    localErrors_.removeAll(key);
    if (!field->store(*target, localError)) {
        localErrors_ << key;
        field->clearDiagnostic();
        field->setDiagnostic(QStringLiteral("error"), localError, field->spec().pointer);
    }
    // Names and upstream references show in the tree.
    if (field->spec().pointer == QLatin1String("/name") ||
        field->spec().pointer == QLatin1String("/upstream")) {
        if (QTreeWidgetItem* item = tree_->currentItem()) {
            QString label = target->contains("name") && (*target)["name"].is_string()
                                ? QString::fromStdString((*target)["name"].get<std::string>())
                                : tr("(unnamed #%1)").arg(index_ + 1);
            if (section_ == Section::Route && target->contains("upstream") &&
                (*target)["upstream"].is_string())
                label += QStringLiteral("  →  ") +
                         QString::fromStdString((*target)["upstream"].get<std::string>());
            item->setText(0, label);
        }
    }
    if (field->spec().kind == Kind::Presence) form(section_)->load(*target);
    documentChanged();
}

void ConfigEditorView::documentChanged() {
    dirty_ = true;
    ++*generation_;  // results of runs already under way are stale now
    summary_->setText(tr("Checking…"));
    applyButton_->setEnabled(false);
    debounce_->start();
}

bool ConfigEditorView::validationPending() const {
    return debounce_->isActive() || validatedGeneration_ != generation_->load();
}

void ConfigEditorView::startValidation() {
    const quint64 generation = ++*generation_;
    const std::string text = dumpDoc(doc_);
    auto current = generation_;
    validationPool().start([this, generation, current, text] {
        if (current->load() != generation) return;  // superseded before it started
        const config::LoadResult result = config::loadConfig(text);
        std::vector<Diag> diags;
        diags.reserve(result.diagnostics.size());
        for (const auto& d : result.diagnostics)
            diags.push_back({d.severity == config::Diagnostic::Severity::Error
                                 ? QStringLiteral("error")
                                 : QStringLiteral("warning"),
                             QString::fromStdString(d.path), QString::fromStdString(d.message)});
        // The destructor waits for this run, so `this` is alive while the event is posted; the
        // event itself is dropped if the object goes before it is delivered.
        QMetaObject::invokeMethod(
            this,
            [this, generation, diags = std::move(diags)]() mutable {
                if (generation_->load() != generation) return;
                validatedGeneration_ = generation;
                diagnostics_ = std::move(diags);
                showDiagnostics();
                emit validated(errors_, warnings_);
            },
            Qt::QueuedConnection);
    });
}

void ConfigEditorView::showDiagnostics() {
    errors_ = warnings_ = 0;
    for (const auto& d : diagnostics_)
        (d.severity == QLatin1String("error") ? errors_ : warnings_)++;
    errors_ += static_cast<int>(localErrors_.size());

    diagList_->clear();
    for (const auto& d : diagnostics_) {
        auto* item = new QListWidgetItem(
            QStringLiteral("%1: %2: %3")
                .arg(d.severity, d.pointer.isEmpty() ? tr("(document)") : d.pointer, d.message),
            diagList_);
        item->setData(Qt::UserRole, d.pointer);
        item->setForeground(d.severity == QLatin1String("error") ? QColor(0xc6, 0x28, 0x28)
                                                                 : QColor(0xa8, 0x66, 0x00));
    }
    // The current form's fields, and a mark on every tree item with problems.
    std::vector<std::pair<QString, std::pair<QString, QString>>> mine;
    std::map<std::pair<int, int>, QStringList> perItem;
    for (const auto& d : diagnostics_) {
        const Located at = locate(d.pointer);
        perItem[{int(at.section), at.index}] << d.message;
        if (at.section == section_ && (at.index == index_ || at.section == Section::Settings))
            mine.push_back({at.rest, {d.severity, d.message}});
    }
    if (ItemForm* f = currentForm()) {
        if (itemDoc(section_, index_)) {
            f->setDiagnostics(mine);
            // Local (not-JSON) errors stay on their fields.
            for (const QString& key : localErrors_) {
                const QString prefix = QStringLiteral("%1/%2").arg(int(section_)).arg(index_);
                if (!key.startsWith(prefix + QLatin1Char('/'))) continue;
                if (BoundField* field = f->field(key.mid(prefix.size())))
                    field->setDiagnostic(
                        QStringLiteral("error"),
                        tr("not valid JSON; e.g. %1").arg(field->spec().placeholder),
                        field->spec().pointer);
            }
        }
    }
    for (int t = 0; t < tree_->topLevelItemCount(); ++t) {
        QTreeWidgetItem* top = tree_->topLevelItem(t);
        auto mark = [&](QTreeWidgetItem* item, int section, int index) {
            const auto it = perItem.find({section, index});
            const bool bad = it != perItem.end();
            item->setForeground(0, bad ? QBrush(QColor(0xc6, 0x28, 0x28)) : QBrush());
            item->setToolTip(0, bad ? it->second.join(QLatin1Char('\n')) : QString());
        };
        const int section = top->data(0, kSectionRole).toInt();
        if (section == int(Section::Settings)) mark(top, section, -1);
        for (int c = 0; c < top->childCount(); ++c) mark(top->child(c), section, c);
    }
    const bool pending = validationPending();
    if (pending)
        summary_->setText(tr("Checking…"));
    else if (errors_ == 0 && warnings_ == 0)
        summary_->setText(tr("✔ valid"));
    else
        summary_->setText(tr("%n error(s)", nullptr, errors_) + QStringLiteral(", ") +
                          tr("%n warning(s)", nullptr, warnings_));
    summary_->setStyleSheet(errors_ ? QStringLiteral("color:#c62828;") : QString());
    updateApplyEnabled();
}

// Apply and rollback need a connection: while disconnected the editor still browses and edits
// locally (read-only towards the service), and says why the buttons are off.
void ConfigEditorView::updateApplyEnabled() {
    const bool connected = client_ != nullptr && client_->isConnected();
    applyButton_->setEnabled(!readOnly_ && !validationPending() && errors_ == 0 && connected);
    rollbackButton_->setEnabled(!readOnly_ && connected);
    const QString offline = tr("Not connected to the service: nothing can be applied until it is "
                               "back (the console reconnects on its own)");
    applyButton_->setToolTip(connected ? tr("Show the change as a diff, then apply it (Ctrl+Return)")
                                       : offline);
    rollbackButton_->setToolTip(connected ? QString() : offline);
}

QStringList ConfigEditorView::diagnosticsText() const {
    QStringList out;
    for (const auto& d : diagnostics_)
        out << QStringLiteral("%1: %2: %3").arg(d.severity, d.pointer, d.message);
    return out;
}

QString ConfigEditorView::documentText() const {
    return QString::fromStdString(dumpDoc(doc_));
}

void ConfigEditorView::loadDocument(const QString& text, qint64 version) {
    const QByteArray bytes = text.toUtf8();
    Doc parsed = Doc::parse(bytes.begin(), bytes.end(), nullptr, false);
    localErrors_.clear();
    if (parsed.is_discarded() || !parsed.is_object()) {
        // Not something the forms can show: put it in the raw tab with the validator's reasons.
        raw_->setPlainText(text);
        tabs_->setCurrentIndex(1);
        const auto result = config::loadConfig(
            std::string(bytes.constData(), static_cast<std::size_t>(bytes.size())));
        diagnostics_.clear();
        for (const auto& d : result.diagnostics)
            diagnostics_.push_back({QStringLiteral("error"), QString::fromStdString(d.path),
                                    QString::fromStdString(d.message)});
        validatedGeneration_ = generation_->load();
        showDiagnostics();
        emit validated(errors_, warnings_);
        emit statusMessage(
            tr("The configuration could not be read as a JSON object; see the problems list."));
        return;
    }
    doc_ = std::move(parsed);
    if (version > 0) {
        baseText_ = text;
        baseVersion_ = version;
    }
    dirty_ = false;
    banner_->setVisible(readOnly_);
    rebuildTree();
    onTreeSelection();
    ++*generation_;
    debounce_->stop();
    startValidation();
}

void ConfigEditorView::setReadOnly(bool readOnly, const QString& why) {
    readOnly_ = readOnly;
    for (ItemForm* f : {settingsForm_, listenerForm_, upstreamForm_, routeForm_})
        f->setReadOnly(readOnly);
    raw_->setReadOnly(readOnly);
    updateApplyEnabled();
    importButton_->setEnabled(!readOnly);
    useRawButton_->setEnabled(!readOnly);
    banner_->setText(why);
    banner_->setVisible(readOnly && !why.isEmpty());
    onTreeSelection();
    showDiagnostics();
}

// --- items ---

void ConfigEditorView::addItem() {
    if (readOnly_ || section_ == Section::Settings) return;
    Doc& array = doc_[arrayName(section_)];
    if (!array.is_array()) array = Doc::array();
    const int n = static_cast<int>(array.size()) + 1;
    Doc item;
    switch (section_) {
        case Section::Listener:
            item = {{"name", QStringLiteral("listener-%1").arg(n).toStdString()},
                    {"address", "127.0.0.1:8080"}};
            break;
        case Section::Upstream:
            item = {{"name", QStringLiteral("upstream-%1").arg(n).toStdString()},
                    {"servers", Doc::array({Doc{{"address", "127.0.0.1:9000"}}})}};
            break;
        case Section::Route: {
            std::string upstream;
            if (doc_.contains("upstreams") && doc_["upstreams"].is_array() &&
                !doc_["upstreams"].empty() && doc_["upstreams"][0].is_object() &&
                doc_["upstreams"][0].contains("name") && doc_["upstreams"][0]["name"].is_string())
                upstream = doc_["upstreams"][0]["name"].get<std::string>();
            item = {{"name", QStringLiteral("route-%1").arg(n).toStdString()},
                    {"match", {{"path_prefix", QStringLiteral("/new-%1/").arg(n).toStdString()}}},
                    {"upstream", upstream}};
            break;
        }
        default:
            return;
    }
    array.push_back(std::move(item));
    index_ = static_cast<int>(array.size()) - 1;
    rebuildTree();
    onTreeSelection();
    documentChanged();
}

void ConfigEditorView::removeItem() {
    if (readOnly_ || section_ == Section::Settings || index_ < 0) return;
    Doc& array = doc_[arrayName(section_)];
    if (!array.is_array() || index_ >= static_cast<int>(array.size())) return;
    array.erase(static_cast<std::size_t>(index_));
    index_ = std::min(index_, static_cast<int>(array.size()) - 1);
    localErrors_.clear();
    rebuildTree();
    onTreeSelection();
    documentChanged();
}

void ConfigEditorView::moveItem(int delta) {
    if (readOnly_ || section_ != Section::Route || index_ < 0) return;
    Doc& array = doc_["routes"];
    const int to = index_ + delta;
    if (!array.is_array() || to < 0 || to >= static_cast<int>(array.size())) return;
    std::swap(array[static_cast<std::size_t>(index_)], array[static_cast<std::size_t>(to)]);
    index_ = to;
    localErrors_.clear();
    rebuildTree();
    onTreeSelection();
    documentChanged();
}

// --- the service ---

void ConfigEditorView::reloadFromService() {
    if (!client_) return;
    client_->call(
        QStringLiteral("config.get"), Json{{"format", "text"}}, this,
        [this](const RpcReply& r) {
            if (!r.ok()) {
                if (r.isError(errc::kUnavailable))
                    emit statusMessage(
                        tr("The service has no configuration loaded: %1").arg(r.message));
                else
                    emit statusMessage(tr("Cannot load the configuration: %1").arg(r.describe()));
                return;
            }
            loadDocument(textOf(r.result, "text"), integerOf(r.result, "version"));
            emit statusMessage(tr("Loaded configuration v%1").arg(baseVersion_));
        },
        60000);
}

void ConfigEditorView::onConfigChanged(const Json& params) {
    const qint64 version = integerOf(params, "version");
    refreshHistory();
    if (version == baseVersion_) return;
    if (!dirty_) {
        reloadFromService();
        return;
    }
    banner_->setText(
        tr("Version v%1 was applied by %2 while you were editing (your edits are based on v%3). "
           "Apply will offer to merge your changes onto it; Reload takes theirs.")
            .arg(version)
            .arg(textOf(params, "applied_by", tr("someone")))
            .arg(baseVersion_));
    banner_->setVisible(true);
}

void ConfigEditorView::applyToService() {
    if (readOnly_ || !client_) return;
    if (!client_->isConnected()) {
        QMessageBox::warning(this, tr("Apply"),
                             tr("Not connected to the service: %1").arg(client_->lastError()));
        return;
    }
    if (validationPending() || errors_ > 0) {
        QMessageBox::warning(
            this, tr("Apply"),
            tr("Fix the problems listed under the editor first (%n error(s)).", nullptr, errors_));
        return;
    }
    const QString text = documentText();
    const QString diff =
        unifiedDiff(prettified(baseText_), text, tr("v%1 (on the service)").arg(baseVersion_),
                    tr("your edits"));
    if (diff.isEmpty()) {
        emit statusMessage(tr("Nothing to apply: the document equals v%1.").arg(baseVersion_));
        return;
    }
    DiffDialog dialog(tr("Apply configuration"),
                      tr("These changes will be applied on top of v%1. The service validates them "
                         "again and swaps the "
                         "running configuration without a restart.")
                          .arg(baseVersion_),
                      diff, true, tr("Apply"), this);
    if (dialog.exec() != QDialog::Accepted) return;
    sendApply(text, baseVersion_, dialog.note());
}

void ConfigEditorView::sendApply(const QString& text, qint64 base, const QString& note) {
    Json params{{"config", text.toStdString()}, {"base_version", base}};
    if (!note.isEmpty()) params["note"] = note.toStdString();
    applyButton_->setEnabled(false);
    client_->call(
        QStringLiteral("config.apply"), params, this,
        [this, sent = text, note](const RpcReply& r) {
            showDiagnostics();  // re-enables Apply as the state allows
            if (r.ok()) {
                const qint64 version = integerOf(r.result, "version");
                QStringList warnings;
                for (const auto& w : member(r.result, "warnings"))
                    warnings << textOf(w, "message", proxy::console::text(w));
                if (!boolean(member(r.result, "changed"), true))
                    emit statusMessage(tr("No change: the text equals v%1.").arg(version));
                else
                    emit statusMessage(
                        tr("Applied as v%1%2")
                            .arg(version)
                            .arg(warnings.isEmpty()
                                     ? QString()
                                     : tr(" with %n warning(s)", nullptr, int(warnings.size()))));
                dirty_ = false;
                reloadFromService();
                refreshHistory();
                return;
            }
            if (r.isError(errc::kConflict)) {
                handleConflict(sent, note, integerOf(r.data, "current_version"));
            } else if (r.isError(errc::kInvalidConfig)) {
                diagnostics_.clear();
                for (const auto& d : member(r.data, "diagnostics"))
                    diagnostics_.push_back({textOf(d, "severity", QStringLiteral("error")),
                                            textOf(d, "path"), textOf(d, "message")});
                validatedGeneration_ = generation_->load();
                showDiagnostics();
                QMessageBox::warning(this, tr("Apply refused"),
                                     tr("The service found the configuration invalid:\n\n%1")
                                         .arg(diagnosticsText().join(QLatin1Char('\n'))));
            } else if (r.forbidden()) {
                setReadOnly(true,
                            tr("The service refused the change: this connection is read-only."));
            } else {
                QMessageBox::warning(this, tr("Apply failed"),
                                     tr("The configuration was not applied: %1").arg(r.describe()));
            }
        },
        120000);
}

void ConfigEditorView::handleConflict(const QString& text, const QString& note, qint64 current) {
    QMessageBox box(QMessageBox::Warning, tr("Someone else applied a change"),
                    tr("Version v%1 was applied after you loaded v%2, so your change was not "
                       "applied. Your edits are kept.")
                        .arg(current)
                        .arg(baseVersion_),
                    QMessageBox::NoButton, this);
    box.setInformativeText(tr("Merge puts your changes (what you changed since v%1) on top of v%2 "
                              "and shows the result "
                              "before applying. Reload discards your edits and loads v%2.")
                               .arg(baseVersion_)
                               .arg(current));
    auto* merge = box.addButton(tr("Merge onto v%1…").arg(current), QMessageBox::AcceptRole);
    auto* reload = box.addButton(tr("Reload v%1").arg(current), QMessageBox::DestructiveRole);
    box.addButton(QMessageBox::Cancel);
    box.exec();
    if (box.clickedButton() == reload) {
        reloadFromService();
        return;
    }
    if (box.clickedButton() != merge) return;
    client_->call(
        QStringLiteral("config.get"), Json{{"format", "text"}}, this,
        [this, text, note](const RpcReply& r) {
            if (!r.ok()) {
                QMessageBox::warning(this, tr("Merge"),
                                     tr("Cannot load the current version: %1").arg(r.describe()));
                return;
            }
            const QString theirsText = textOf(r.result, "text");
            const qint64 theirsVersion = integerOf(r.result, "version");
            auto parse = [](const QString& t) {
                const QByteArray b = t.toUtf8();
                return Doc::parse(b.begin(), b.end(), nullptr, false);
            };
            const Doc base = parse(baseText_), mine = parse(text), theirs = parse(theirsText);
            Doc merged;
            bool mergedOk = false;
            if (!base.is_discarded() && !mine.is_discarded() && !theirs.is_discarded()) {
                try {
                    merged = theirs.patch(Doc::diff(base, mine));
                    mergedOk = true;
                } catch (const std::exception&) {
                    mergedOk = false;  // the edits touch something theirs removed
                }
            }
            const QString mergedText = mergedOk ? QString::fromStdString(dumpDoc(merged)) : text;
            baseText_ = theirsText;
            baseVersion_ = theirsVersion;
            loadDocument(mergedText, 0);
            dirty_ = true;
            banner_->setVisible(false);
            emit statusMessage(
                mergedOk ? tr("Merged your changes onto v%1; review and apply.").arg(theirsVersion)
                         : tr("Your changes could not be merged onto v%1 automatically; the diff "
                              "shows your "
                              "document replacing it.")
                               .arg(theirsVersion));
            // Apply once validation of the merged document is done; the diff is shown first.
            auto once = std::make_shared<QMetaObject::Connection>();
            *once =
                connect(this, &ConfigEditorView::validated, this, [this, once](int errors, int) {
                    disconnect(*once);
                    if (errors == 0) applyToService();
                });
        },
        60000);
}

void ConfigEditorView::refreshHistory() {
    if (!client_ || !client_->isConnected()) return;
    client_->call(
        QStringLiteral("config.history"), Json::object(), this, [this](const RpcReply& r) {
            if (r.ok())
                history_->update(r.result);
            else
                historyDiff_->setPlainText(tr("History is not available: %1").arg(r.describe()));
        });
}

void ConfigEditorView::diffVersions(qint64 from, qint64 to) {
    if (!client_) return;
    client_->call(
        QStringLiteral("config.diff"), Json{{"from", from}, {"to", to}}, this,
        [this, from, to](const RpcReply& r) {
            if (!r.ok()) {
                historyDiff_->setPlainText(
                    tr("Cannot diff v%1 and v%2: %3").arg(from).arg(to).arg(r.describe()));
                return;
            }
            const QString diff = textOf(r.result, "diff");
            historyDiff_->setDiff(
                diff.isEmpty() ? QString()
                               : QStringLiteral("--- v%1\n+++ v%2\n").arg(from).arg(to) + diff);
        });
}

void ConfigEditorView::rollbackSelected() {
    if (readOnly_ || !client_) return;
    const auto rows = historyView_->selectionModel()->selectedRows();
    if (rows.isEmpty()) return;
    const qint64 version = history_->entry(rows.first().row()).version;
    const qint64 current = history_->currentVersion();
    if (version == current) {
        emit statusMessage(tr("v%1 is already the current version.").arg(version));
        return;
    }
    if (QMessageBox::question(this, tr("Roll back"),
                              tr("Apply v%1's configuration again, as a new version after v%2?")
                                  .arg(version)
                                  .arg(current)) != QMessageBox::Yes)
        return;
    client_->call(
        QStringLiteral("config.rollback"), Json{{"version", version}, {"base_version", current}},
        this,
        [this, version](const RpcReply& r) {
            if (r.ok()) {
                emit statusMessage(tr("Rolled back to v%1 as v%2")
                                       .arg(version)
                                       .arg(integerOf(r.result, "version")));
                if (!dirty_) reloadFromService();
                refreshHistory();
            } else if (r.forbidden()) {
                setReadOnly(true,
                            tr("The service refused the rollback: this connection is read-only."));
            } else {
                QMessageBox::warning(this, tr("Roll back"),
                                     tr("The rollback failed: %1").arg(r.describe()));
            }
        },
        120000);
}

// --- raw JSON ---

void ConfigEditorView::useRawText() {
    if (readOnly_) return;
    const QString text = raw_->toPlainText();
    const QByteArray bytes = text.toUtf8();
    Doc parsed = Doc::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        const auto result = config::loadConfig(
            std::string(bytes.constData(), static_cast<std::size_t>(bytes.size())));
        QStringList lines;
        for (const auto& d : result.diagnostics) lines << QString::fromStdString(d.toString());
        QMessageBox::warning(
            this, tr("Raw JSON"),
            tr("The text cannot be used:\n\n%1").arg(lines.join(QLatin1Char('\n'))));
        return;
    }
    doc_ = std::move(parsed);
    localErrors_.clear();
    rebuildTree();
    onTreeSelection();
    documentChanged();
    emit statusMessage(tr("Raw JSON taken into the editor"));
}

void ConfigEditorView::importFile() {
    if (readOnly_) return;
    const QString path = QFileDialog::getOpenFileName(this, tr("Import configuration"), {},
                                                      tr("JSON (*.json);;All files (*)"));
    if (path.isEmpty()) return;
    QFile f(path);
    if (f.size() > static_cast<qint64>(config::kMaxConfigBytes)) {
        QMessageBox::warning(this, tr("Import"),
                             tr("%1 is larger than the 16 MiB a configuration may be.").arg(path));
        return;
    }
    if (!f.open(QIODevice::ReadOnly)) {
        QMessageBox::warning(this, tr("Import"),
                             tr("Cannot read %1: %2").arg(path, f.errorString()));
        return;
    }
    raw_->setPlainText(QString::fromUtf8(f.readAll()));
    tabs_->setCurrentIndex(1);
    raw_->setPlainText(raw_->toPlainText());
    useRawText();
}

void ConfigEditorView::exportFile() {
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export configuration"), QStringLiteral("config.json"), tr("JSON (*.json)"));
    if (path.isEmpty()) return;
    QFile f(path);
    const QByteArray bytes = documentText().toUtf8();
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(bytes) != bytes.size()) {
        QMessageBox::warning(this, tr("Export"),
                             tr("Cannot write %1: %2").arg(path, f.errorString()));
        return;
    }
    emit statusMessage(tr("Exported to %1").arg(path));
}

}  // namespace proxy::console
