#pragma once
// The log browser's table: pages of logs.query rows, newest first, loaded on demand. The view's
// scrolling asks for more (canFetchMore/fetchMore); the model then emits fetchRequested(cursor)
// and the view runs the query and hands the page back with appendPage(). The model never talks to
// the service itself. At most kMaxRows rows are held; past that the view asks to narrow the query.

#include <QAbstractTableModel>
#include <QIODevice>
#include <vector>

#include "app/json_util.h"

namespace proxy::console {

class LogModel : public QAbstractTableModel {
    Q_OBJECT

  public:
    enum Column {
        Time,
        Status,
        Method,
        Host,
        Path,
        Client,
        Route,
        Upstream,
        Server,
        Duration,
        BytesOut,
        RequestId,
        Error,
        ColumnCount
    };
    static constexpr int kMaxRows = 100000;

    explicit LogModel(QObject* parent = nullptr) : QAbstractTableModel(parent) {}

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    bool canFetchMore(const QModelIndex& parent) const override;
    void fetchMore(const QModelIndex& parent) override;

    // A new query: drops every row. The first page comes through appendPage() like the others.
    void reset();
    // A logs.query result ({"rows": [...], "next_cursor": "..." | null}). Returns false (and
    // changes nothing) when the shape is wrong.
    bool appendPage(const Json& result);
    // The request failed: the model stops asking until the next reset().
    void pageFailed();

    bool hasMore() const { return !cursor_.isEmpty() && rowCount() < kMaxRows; }
    bool loading() const { return loading_; }
    bool full() const { return rowCount() >= kMaxRows; }
    QString cursor() const { return cursor_; }
    const Json& rowJson(int r) const { return rows_[static_cast<std::size_t>(r)]; }

    // Every loaded row, all fields, as CSV (RFC 4180 quoting). Returns false on a write error.
    bool writeCsv(QIODevice& out) const;

  signals:
    void fetchRequested(const QString& cursor);

  private:
    std::vector<Json> rows_;
    QString cursor_;
    bool loading_ = false;
    bool failed_ = false;
};

}  // namespace proxy::console
