#pragma once
// HTTP -> HTTPS per route (the route's "redirect_https"). A request that arrived on a plain
// listener is answered with a redirect to https://host[:port]/path?query and never goes upstream;
// one that arrived over TLS passes on untouched. The answer goes out through the engine's stored-
// response path (filter/stored_response.h), as a cache hit would, so the engine needs no special
// case for a local answer with headers.
//
// The host comes from the configured "host", else from the request's Host (which the HTTP parser
// has already checked as a uri-host): only a DNS-style name (letters, digits, '-', '.') or a
// bracketed IPv6 literal is used, its port dropped. Anything else (percent-encoding, sub-delims)
// gets a 400 instead of a Location built from it. No OpenSSL here: the filter builds without TLS.

#include <string>
#include <string_view>

#include "config/config.h"
#include "filter/filter.h"

namespace proxy::tls {

class HttpsRedirectFilter final : public filter::Filter {
public:
    explicit HttpsRedirectFilter(const config::HttpsRedirect& config);
    std::string_view name() const override { return "https-redirect"; }
    unsigned phases() const override { return filter::phaseBit(filter::Phase::RequestHeaders); }
    filter::FilterStatus onRequestHeaders(filter::RequestContext& ctx) override;

    // The Location for a request, or "" when the host cannot be used. Exposed for unit tests.
    std::string location(std::string_view requestHost, std::string_view path, std::string_view query) const;

private:
    int status_;
    std::string host_;    // configured host, or ""
    std::string suffix_;  // ":8443", or "" for 443
};

// The host part of a Host value (port dropped) when it is safe to put into a URL as it is: a name
// of letters, digits, '-' and '.' (up to 253), or "[v6]"; "" otherwise.
std::string_view redirectableHost(std::string_view hostHeader);

}  // namespace proxy::tls
