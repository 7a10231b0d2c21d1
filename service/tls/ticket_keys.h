#pragma once
// Session-ticket keys that rotate on a schedule. Time is cut into periods of `rotation` since the
// Unix epoch; each period has its own random key, made when the period's first ticket is issued
// or checked. A ticket is issued under the current period's key and is accepted while that key
// is the current or the previous period's: a ticket lives at least one and at most two periods.
// A ticket under the previous key resumes and is replaced by one under the current key.
//
// One TicketKeys serves one listener: every worker and every certificate's context share it, and
// a reload that leaves the listener's TLS settings unchanged keeps it (ServerTls::build finds it
// again), so tickets survive reloads. The callback runs on worker threads during handshakes; a
// mutex guards the few keys (held for a lookup and a copy).

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace proxy::tls {

class TicketKeys {
public:
    explicit TicketKeys(std::chrono::seconds rotation) : rotation_(rotation) {}
    TicketKeys(const TicketKeys&) = delete;
    TicketKeys& operator=(const TicketKeys&) = delete;

    // Makes `ctx` issue and check tickets with these keys. The object must outlive the context.
    void attach(SSL_CTX* ctx);
    std::chrono::seconds rotation() const { return rotation_; }
    // Keys made so far (the first one included), for status and tests.
    std::uint64_t keysMade() const;

    // The keys a listener with this identity (name and TLS settings) had in the last snapshot,
    // or new ones. Control thread (snapshot builds).
    static std::shared_ptr<TicketKeys> forListener(const std::string& identity, std::chrono::seconds rotation);

private:
    struct Key {
        std::int64_t period = 0;
        std::array<unsigned char, 16> name{};
        std::array<unsigned char, 32> aes{};
        std::array<unsigned char, 32> hmac{};
    };
    static int callback(SSL* ssl, unsigned char* keyName, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                        EVP_MAC_CTX* mac, int encrypt);
    // Under the mutex: makes the current period's key if needed and drops expired ones.
    bool refresh(std::int64_t period);

    const std::chrono::seconds rotation_;
    mutable std::mutex mutex_;
    std::deque<Key> keys_;  // newest first: at most the current and the previous period's
    std::uint64_t made_ = 0;
};

}  // namespace proxy::tls
