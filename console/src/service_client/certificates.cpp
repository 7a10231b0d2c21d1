#include "service_client/certificates.h"

#include <algorithm>

#include "app/json_util.h"

namespace proxy::console {

namespace {
// Year 1 to year 9999: nothing outside is a certificate time, and the day arithmetic cannot
// overflow whatever the service sends.
qint64 timeOf(const Json& entry, const char* key) {
    return std::clamp<qint64>(integerOf(entry, key), -62'135'596'800LL, 253'402'300'799LL);
}
}  // namespace

qint64 certificateDaysLeft(const CertificateInfo& c, qint64 now) {
    const qint64 left = c.notAfter - now;
    return left >= 0 ? left / 86'400 : -((-left + 86'399) / 86'400);
}

CertificateLevel certificateLevel(const CertificateInfo& c, qint64 now) {
    if (c.notAfter != 0 && c.notAfter < now) return CertificateLevel::Expired;
    if (c.notBefore != 0 && c.notBefore > now) return CertificateLevel::NotYetValid;
    if (c.notAfter != 0 && certificateDaysLeft(c, now) < kCertificateWarnDays)
        return CertificateLevel::Expiring;
    return CertificateLevel::Ok;
}

std::optional<std::vector<CertificateInfo>> certificatesFromStatus(const control::Json& status) {
    const Json& list = member(status, "tls_certificates");
    if (!list.is_array()) return std::nullopt;
    std::vector<CertificateInfo> out;
    out.reserve(list.size());
    for (const Json& entry : list) {
        if (!entry.is_object()) continue;
        CertificateInfo c;
        c.listener = textOf(entry, "listener");
        c.index = static_cast<int>(std::clamp<qint64>(integerOf(entry, "index"), 0, 1 << 20));
        c.source = textOf(entry, "source");
        c.subject = textOf(entry, "subject");
        c.issuer = textOf(entry, "issuer");
        for (const Json& name : member(entry, "names"))
            if (name.is_string()) c.names << text(name);
        c.notBefore = timeOf(entry, "not_before");
        c.notAfter = timeOf(entry, "not_after");
        c.ocspResponder = boolean(member(entry, "ocsp_responder"));
        c.ocspStapling = textOf(entry, "ocsp_stapling");
        c.ocspNextUpdate = timeOf(entry, "ocsp_next_update");
        c.serviceWarning = textOf(entry, "warning");
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace proxy::console
