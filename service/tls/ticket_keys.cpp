#include "tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace proxy::tls {
namespace {

int exIndex() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

std::int64_t currentPeriod(std::chrono::seconds rotation) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    return now.count() / std::max<std::int64_t>(rotation.count(), 1);
}

bool setMacKey(EVP_MAC_CTX* mac, const unsigned char* key, std::size_t size) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key), size),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

void TicketKeys::attach(SSL_CTX* ctx) {
    SSL_CTX_set_ex_data(ctx, exIndex(), this);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TicketKeys::callback);
}

std::uint64_t TicketKeys::keysMade() const {
    std::lock_guard lock(mutex_);
    return made_;
}

bool TicketKeys::refresh(std::int64_t period) {
    // Keys of periods before the previous one are expired.
    while (!keys_.empty() && keys_.back().period < period - 1) keys_.pop_back();
    if (!keys_.empty() && keys_.front().period >= period) return true;
    Key key;
    key.period = period;
    if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
        RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size())) != 1 ||
        RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) != 1)
        return false;
    keys_.push_front(key);
    ++made_;
    return true;
}

// OpenSSL's contract (SSL_CTX_set_tlsext_ticket_key_evp_cb): encrypting, fill the key name and
// IV, set up cipher and MAC, return 1 (0: issue no ticket). Decrypting, return 0 for an unknown
// key (a full handshake follows), 1 to accept, 2 to accept and issue a fresh ticket; -1 is fatal.
int TicketKeys::callback(SSL* ssl, unsigned char* keyName, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac, int encrypt) {
    auto* self = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), exIndex()));
    if (self == nullptr) return 0;
    const std::int64_t period = currentPeriod(self->rotation_);
    Key key;
    bool current = true;
    {
        std::lock_guard lock(self->mutex_);
        if (!self->refresh(period)) return 0;
        if (encrypt) {
            key = self->keys_.front();
        } else {
            const auto it = std::find_if(self->keys_.begin(), self->keys_.end(), [&](const Key& k) {
                return std::memcmp(k.name.data(), keyName, k.name.size()) == 0;
            });
            if (it == self->keys_.end()) return 0;  // expired or never ours: full handshake
            key = *it;
            current = it == self->keys_.begin();
        }
    }
    const EVP_CIPHER* aes = EVP_aes_256_cbc();
    if (encrypt) {
        std::memcpy(keyName, key.name.data(), key.name.size());
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) != 1) return 0;
        if (EVP_EncryptInit_ex(cipher, aes, nullptr, key.aes.data(), iv) != 1) return 0;
        if (!setMacKey(mac, key.hmac.data(), key.hmac.size())) return 0;
        return 1;
    }
    if (!setMacKey(mac, key.hmac.data(), key.hmac.size())) return 0;
    if (EVP_DecryptInit_ex(cipher, aes, nullptr, key.aes.data(), iv) != 1) return 0;
    return current ? 1 : 2;
}

std::shared_ptr<TicketKeys> TicketKeys::forListener(const std::string& identity, std::chrono::seconds rotation) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<TicketKeys>> known;
    std::lock_guard lock(mutex);
    std::erase_if(known, [](const auto& entry) { return entry.second.expired(); });
    if (auto it = known.find(identity); it != known.end())
        if (auto keys = it->second.lock(); keys && keys->rotation() == rotation) return keys;
    auto keys = std::make_shared<TicketKeys>(rotation);
    known[identity] = keys;
    return keys;
}

}  // namespace proxy::tls
