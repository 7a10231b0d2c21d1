#pragma once
// The live traffic table's model (Wireshark's packet list habits): events from traffic.event
// notifications are queued and inserted in one batch per ~100 ms tick, the row count is capped
// (oldest rows go first), and text is formatted only when a view asks for it.
//
// Accepts the notification params as either one FeedEvent object or {"events": [...]}; a
// {"dropped": N} marker (the service's subscriber queue overflowed) is counted, not shown.

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>
#include <QTimer>
#include <deque>
#include <vector>

#include "app/json_util.h"

namespace proxy::console {

struct TrafficEvent {
    QString time;  // ISO 8601 as sent
    QString requestId, client, method, host, path, route, server;
    int status = 0;
    qint64 durationUs = 0;
    qint64 bytesOut = 0;
    qint64 timeMs = 0;  // parsed from time (0 when unparsable)

    static bool fromJson(const Json& object, TrafficEvent& out);
    int statusClass() const { return status >= 100 && status < 600 ? status / 100 : 0; }
};

class TrafficModel : public QAbstractTableModel {
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
        Server,
        Duration,
        Bytes,
        RequestId,
        ColumnCount
    };
    static constexpr int kDefaultCapacity = 10000;
    static constexpr int kFlushIntervalMs = 100;

    explicit TrafficModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // A traffic.event notification's params. Returns how many events were queued.
    int enqueue(const Json& params);
    // Inserts everything queued now (the timer calls this; tests may too).
    void flush();

    void setPaused(bool paused);
    bool paused() const { return paused_; }
    void setCapacity(int rows);
    int capacity() const { return capacity_; }
    void clear();

    const TrafficEvent& event(int row) const { return rows_[static_cast<std::size_t>(row)]; }
    int pendingCount() const { return static_cast<int>(pending_.size()); }

    // Since the last clear().
    qint64 received() const { return received_; }
    qint64 droppedByService() const { return droppedByService_; }  // from {"dropped": N} markers
    qint64 evicted() const { return evicted_; }  // pushed out by the row cap (or while paused)
    qint64 malformed() const { return malformed_; }

    static QColor statusColor(int statusClass);

  signals:
    void flushed(int inserted);
    void countersChanged();

  private:
    void accept(const Json& item, int& queued);

    std::deque<TrafficEvent> rows_;
    std::deque<TrafficEvent> pending_;
    QTimer flushTimer_;
    int capacity_ = kDefaultCapacity;
    bool paused_ = false;
    qint64 received_ = 0, droppedByService_ = 0, evicted_ = 0, malformed_ = 0;
};

// The filter bar: space-separated terms, all of which must hold.
//   status:5xx  status:404  method:GET  host:example.com  path:/api  client:10.0.0.5
//   route:all  server:127.0.0.1:9001 (or upstream:)  id:<request id>
//   any other word: a substring of host, path, client, server, route or request id
// key:value compares case-insensitively; host, path, client, server, route and id match a
// substring.
class TrafficFilterModel : public QSortFilterProxyModel {
    Q_OBJECT

  public:
    explicit TrafficFilterModel(QObject* parent = nullptr) : QSortFilterProxyModel(parent) {}

    // Returns an error sentence for a term it cannot use (the filter is left unchanged), or empty.
    QString setFilterText(const QString& text);
    bool accepts(const TrafficEvent& e) const;

  protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;

  private:
    struct Term {
        enum Kind {
            Any,
            StatusClass,
            StatusCode,
            Method,
            Host,
            Path,
            Client,
            Route,
            Server,
            Id
        } kind = Any;
        QString value;
        int number = 0;
    };
    std::vector<Term> terms_;
};

}  // namespace proxy::console
