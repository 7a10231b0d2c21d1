#include "tls/certificate.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>

namespace proxy::tls {
namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct P12Free { void operator()(PKCS12* p) const { PKCS12_free(p); } };
struct ChainFree { void operator()(STACK_OF(X509)* s) const { sk_X509_pop_free(s, X509_free); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

constexpr std::int64_t kWarnDays = 30;

// An encrypted PEM key would make OpenSSL prompt on the terminal; a service has none.
int noPassword(char*, int, int, void*) { return 0; }

std::string quoted(const std::string& file) { return "'" + file + "'"; }

// Opens a file for OpenSSL with the operating system's reason when it cannot be read.
std::expected<BioPtr, std::string> openFile(const std::string& file, std::string_view what) {
    // Opened first by the C++ library so a missing file gets the plain reason, not OpenSSL's.
    std::ifstream probe(file, std::ios::binary);
    if (!probe) {
        const int err = errno;
        return std::unexpected("cannot read the " + std::string(what) + " file " + quoted(file) +
                               ": " + (err != 0 ? std::strerror(err) : "cannot open it"));
    }
    probe.close();
    BioPtr bio(BIO_new_file(file.c_str(), "rb"));
    if (!bio)
        return std::unexpected("cannot read the " + std::string(what) + " file " + quoted(file) +
                               ": " + opensslError());
    return bio;
}

std::string nameText(const X509_NAME* name) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string dateText(std::int64_t seconds) {
    const std::time_t t = static_cast<std::time_t>(seconds);
    struct tm tm {};
#if defined(_WIN32)
    gmtime_s(&tm, &t);
#else
    gmtime_r(&t, &tm);
#endif
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M UTC", &tm);
    return text;
}

CertificateInfo describe(X509* cert, const std::string& source) {
    CertificateInfo info;
    info.source = source;
    info.subject = nameText(X509_get_subject_name(cert));
    info.issuer = nameText(X509_get_issuer_name(cert));
    info.notBefore = unixTime(X509_get0_notBefore(cert));
    info.notAfter = unixTime(X509_get0_notAfter(cert));
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
            if (name->type != GEN_DNS) continue;
            const ASN1_IA5STRING* dns = name->d.dNSName;
            info.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                    static_cast<std::size_t>(ASN1_STRING_length(dns)));
        }
        GENERAL_NAMES_free(names);
    }
    if (info.names.empty()) {
        // No DNS names: the common name, as older certificates carry it.
        char cn[256];
        const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                                sizeof(cn));
        if (n > 0) info.names.emplace_back(cn, static_cast<std::size_t>(n));
    }
    STACK_OF(OPENSSL_STRING)* ocsp = X509_get1_ocsp(cert);
    info.hasOcspResponder = ocsp != nullptr && sk_OPENSSL_STRING_num(ocsp) > 0;
    X509_email_free(ocsp);
    return info;
}

void checkDates(const CertificateInfo& info, std::vector<std::string>& warnings) {
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    const std::string who = "the certificate " + quoted(info.source) + " (" + info.subject + ")";
    if (info.notAfter != 0 && info.notAfter < now)
        warnings.push_back(who + " expired on " + dateText(info.notAfter) +
                           "; clients will refuse it");
    else if (info.notBefore > now)
        warnings.push_back(who + " is not valid until " + dateText(info.notBefore));
    else if (info.notAfter != 0 && daysLeft(info, now) < kWarnDays)
        warnings.push_back(who + " expires in " + std::to_string(daysLeft(info, now)) +
                           " days, on " + dateText(info.notAfter));
}

std::expected<CertificateInfo, std::string> usePem(SSL_CTX* ctx, const config::TlsCertificate& c) {
    auto certFile = openFile(c.cert, "certificate");
    if (!certFile) return std::unexpected(certFile.error());
    auto keyFile = openFile(c.key, "key");
    if (!keyFile) return std::unexpected(keyFile.error());

    X509Ptr cert(PEM_read_bio_X509_AUX(certFile->get(), nullptr, noPassword, nullptr));
    if (!cert)
        return std::unexpected("the certificate file " + quoted(c.cert) +
                               " holds no PEM certificate: " + opensslError());
    if (SSL_CTX_use_certificate(ctx, cert.get()) != 1)
        return std::unexpected("the certificate in " + quoted(c.cert) +
                               " cannot be used: " + opensslError());
    // The rest of the file is the chain, leaf-first order as servers send it.
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
        X509Ptr extra(PEM_read_bio_X509(certFile->get(), nullptr, noPassword, nullptr));
        if (!extra) break;
        if (SSL_CTX_add0_chain_cert(ctx, extra.get()) != 1)
            return std::unexpected("the chain in " + quoted(c.cert) + " cannot be used: " +
                                   opensslError());
        extra.release();  // owned by the context now
    }
    ERR_clear_error();  // the end of the file ends the loop with an error entry

    KeyPtr key(PEM_read_bio_PrivateKey(keyFile->get(), nullptr, noPassword, nullptr));
    if (!key) {
        const std::string why = opensslError();
        const bool encrypted = why.find("bad decrypt") != std::string::npos ||
                               why.find("interrupted or cancelled") != std::string::npos ||
                               why.find("bad password") != std::string::npos;
        return std::unexpected(
            "the key file " + quoted(c.key) +
            (encrypted ? " holds an encrypted key; give the key unencrypted, or use a PFX with "
                         "its password"
                       : " holds no usable PEM private key: " + why));
    }
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return std::unexpected("the private key in " + quoted(c.key) +
                               " does not belong to the certificate in " + quoted(c.cert));
    }
    return describe(cert.get(), c.cert);
}

std::expected<CertificateInfo, std::string> usePfx(SSL_CTX* ctx, const config::TlsCertificate& c) {
    auto file = openFile(c.pfx, "PFX");
    if (!file) return std::unexpected(file.error());
    std::unique_ptr<PKCS12, P12Free> p12(d2i_PKCS12_bio(file->get(), nullptr));
    if (!p12)
        return std::unexpected("the file " + quoted(c.pfx) +
                               " is not a PKCS#12 / PFX file: " + opensslError());
    const char* password = c.password.c_str();
    if (PKCS12_mac_present(p12.get()) &&
        PKCS12_verify_mac(p12.get(), password, static_cast<int>(c.password.size())) != 1) {
        ERR_clear_error();
        return std::unexpected("wrong password for the PFX file " + quoted(c.pfx) +
                               " (or the file is damaged)");
    }
    EVP_PKEY* rawKey = nullptr;
    X509* rawCert = nullptr;
    STACK_OF(X509)* rawChain = nullptr;
    int ok = PKCS12_parse(p12.get(), password, &rawKey, &rawCert, &rawChain);
    if (ok != 1) {
        // Older Windows exports use RC2/3DES, which OpenSSL 3 keeps in its legacy provider.
        ERR_clear_error();
        if (OSSL_PROVIDER_available(nullptr, "legacy") == 0 &&
            OSSL_PROVIDER_try_load(nullptr, "legacy", 1) != nullptr)
            ok = PKCS12_parse(p12.get(), password, &rawKey, &rawCert, &rawChain);
    }
    KeyPtr key(rawKey);
    X509Ptr cert(rawCert);
    std::unique_ptr<STACK_OF(X509), ChainFree> chain(rawChain);
    if (ok != 1)
        return std::unexpected("cannot read the PFX file " + quoted(c.pfx) + ": " + opensslError() +
                               " (re-export it with AES-256 encryption if it uses an old "
                               "algorithm)");
    if (!cert || !key)
        return std::unexpected("the PFX file " + quoted(c.pfx) +
                               " must hold a certificate and its private key");
    if (SSL_CTX_use_certificate(ctx, cert.get()) != 1 || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1)
        return std::unexpected("the certificate in " + quoted(c.pfx) +
                               " cannot be used: " + opensslError());
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return std::unexpected("the private key in " + quoted(c.pfx) +
                               " does not belong to its certificate");
    }
    SSL_CTX_clear_chain_certs(ctx);
    for (int i = 0; chain && i < sk_X509_num(chain.get()); ++i)
        if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain.get(), i)) != 1)
            return std::unexpected("the chain in " + quoted(c.pfx) + " cannot be used: " +
                                   opensslError());
    return describe(cert.get(), c.pfx);
}

}  // namespace

std::int64_t daysLeft(const CertificateInfo& info, std::int64_t now) {
    const std::int64_t left = info.notAfter - now;
    return left >= 0 ? left / 86'400 : -((-left + 86'399) / 86'400);
}

std::string opensslError(std::string_view fallback) {
    std::string text;
    while (const unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof(buffer));
        // "error:0480006C:PEM routines::no start line" -> "no start line"
        std::string_view entry(buffer);
        if (const auto colon = entry.rfind(':'); colon != std::string_view::npos)
            entry = entry.substr(colon + 1);
        if (text.find(entry) != std::string::npos) continue;
        if (!text.empty()) text += "; ";
        text += entry;
    }
    return text.empty() ? std::string(fallback) : text;
}

std::int64_t unixTime(const ASN1_TIME* t) {
    struct tm tm {};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
#if defined(_WIN32)
    return static_cast<std::int64_t>(_mkgmtime(&tm));
#else
    return static_cast<std::int64_t>(timegm(&tm));
#endif
}

std::expected<CertificateInfo, std::string> useCertificate(SSL_CTX* ctx,
                                                           const config::TlsCertificate& source,
                                                           std::vector<std::string>& warnings) {
    ERR_clear_error();
    SSL_CTX_set_default_passwd_cb(ctx, noPassword);
    auto info = source.pfx.empty() ? usePem(ctx, source) : usePfx(ctx, source);
    if (info) checkDates(*info, warnings);
    return info;
}

std::expected<void, std::string> usePemPair(SSL_CTX* ctx, const std::string& cert,
                                            const std::string& key) {
    config::TlsCertificate source;
    source.cert = cert;
    source.key = key;
    std::vector<std::string> ignored;
    auto info = useCertificate(ctx, source, ignored);
    if (!info) return std::unexpected(info.error());
    return {};
}

}  // namespace proxy::tls
