#include "widgets/connection_indicator.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QTimer>
#include <QToolButton>

namespace proxy::console {

ConnectionIndicator::ConnectionIndicator(ServiceClient* client, QWidget* parent)
    : QWidget(parent), client_(client) {
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(4, 0, 4, 0);
    dot_ = new QLabel(this);
    dot_->setFixedSize(12, 12);
    label_ = new QLabel(this);
    label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    reconnect_ = new QToolButton(this);
    reconnect_->setText(tr("Reconnect"));
    reconnect_->setToolTip(tr("Try to connect now (Ctrl+R)"));
    layout->addWidget(dot_);
    layout->addWidget(label_);
    layout->addWidget(reconnect_);
    connect(reconnect_, &QToolButton::clicked, client_, &ServiceClient::reconnectNow);
    connect(client_, &ServiceClient::stateChanged, this, &ConnectionIndicator::refresh);
    countdown_ = new QTimer(this);
    countdown_->setInterval(500);
    connect(countdown_, &QTimer::timeout, this, &ConnectionIndicator::refresh);
    countdown_->start();
    refresh();
}

QString ConnectionIndicator::text() const {
    return label_->text();
}

void ConnectionIndicator::refresh() {
    QString colour, words;
    switch (client_->state()) {
        case ServiceClient::State::Connected:
            colour = QStringLiteral("#2e7d32");
            words = tr("Connected to %1 %2 at %3 — %4")
                        .arg(client_->serverName(), client_->serverVersion(), client_->endpoint(),
                             client_->isReadOnly() ? tr("read-only") : tr("admin"));
            break;
        case ServiceClient::State::Connecting:
        case ServiceClient::State::Handshaking:
            colour = QStringLiteral("#f9a825");
            words = tr("Connecting to %1…").arg(client_->endpoint());
            break;
        case ServiceClient::State::Disconnected: {
            colour = QStringLiteral("#c62828");
            const int ms = client_->reconnectDelayMs();
            words =
                tr("Disconnected: %1")
                    .arg(client_->lastError().isEmpty() ? tr("not started") : client_->lastError());
            if (ms > 0) words += tr(" — retrying in %1 s").arg((ms + 999) / 1000);
            break;
        }
    }
    dot_->setStyleSheet(QStringLiteral("background:%1;border-radius:6px;").arg(colour));
    label_->setText(words);
    setAccessibleName(words);
    reconnect_->setVisible(client_->state() != ServiceClient::State::Connected);
}

}  // namespace proxy::console
