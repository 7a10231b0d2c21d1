#pragma once
// The TLS certificates the service reports in `status` (field tls_certificates, one entry per
// certificate of every TLS listener; docs/control-protocol.md), decoded here so that the views and
// models never read the wire's field names.

#include <QMetaType>
#include <QString>
#include <QStringList>
#include <optional>
#include <vector>

#include "control/json_rpc.h"

namespace proxy::console {

struct CertificateInfo {
    QString listener;
    int index = 0;      // 0 is the listener's default certificate
    QString source;     // the file the service loaded it from
    QString subject;    // RFC 2253 one-liner
    QString issuer;     // empty when the service does not say
    QStringList names;  // DNS subject alternative names (the CN when there are none)
    qint64 notBefore = 0;  // Unix seconds; 0 = unknown
    qint64 notAfter = 0;
    bool ocspResponder = false;  // the certificate names an OCSP responder
    QString ocspStapling;        // the service's stapling state ("off", "file", ...), may be empty
    qint64 ocspNextUpdate = 0;   // Unix seconds; 0 = none
    QString serviceWarning;      // the service's own sentence ("expires in 9 days"), may be empty

    bool operator==(const CertificateInfo&) const = default;
};

// How a certificate stands at a moment.
enum class CertificateLevel { Ok, Expiring, Expired, NotYetValid };

// Whole days left until notAfter from `now` (Unix seconds), rounded down; negative once expired
// (the service's own rule, so the console and `proxyctl status` agree).
qint64 certificateDaysLeft(const CertificateInfo& c, qint64 now);
// Expiring: fewer than kCertificateWarnDays whole days left.
CertificateLevel certificateLevel(const CertificateInfo& c, qint64 now);
inline constexpr qint64 kCertificateWarnDays = 30;

// The status result's certificates. nullopt when the service does not report them (an older
// service, or a status object without the field); an empty list when it has no TLS listener.
// Entries that are not objects are skipped; missing fields read as empty / 0.
std::optional<std::vector<CertificateInfo>> certificatesFromStatus(const control::Json& status);

}  // namespace proxy::console

Q_DECLARE_METATYPE(proxy::console::CertificateInfo)
