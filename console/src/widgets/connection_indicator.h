#pragma once
// The status-bar badge that always shows the connection: a coloured dot, the state in words, the
// endpoint and role, and why the last attempt failed. Clicking "Reconnect" tries at once.

#include <QWidget>

#include "service_client/service_client.h"

class QLabel;
class QToolButton;

namespace proxy::console {

class ConnectionIndicator : public QWidget {
    Q_OBJECT

  public:
    explicit ConnectionIndicator(ServiceClient* client, QWidget* parent = nullptr);
    QString text() const;  // what the badge says now (tests, accessibility)

  private:
    void refresh();

    ServiceClient* client_;  // not owned; outlives the indicator (both belong to the main window)
    QLabel* dot_;
    QLabel* label_;
    QToolButton* reconnect_;
    QTimer* countdown_;
};

}  // namespace proxy::console
