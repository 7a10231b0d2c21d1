#include "tls/https_redirect.h"

#include <memory>

#include "filter/request_context.h"
#include "filter/stored_response.h"

namespace proxy::tls {
namespace {

bool nameChar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '.';
}

bool v6Char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

const char* reasonFor(int status) {
    switch (status) {
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 307: return "Temporary Redirect";
        default: return "Permanent Redirect";
    }
}

// The redirect, served by the engine like a stored response (ready at once, a short body).
class RedirectAnswer final : public filter::ExchangeState, public filter::StoredResponse {
public:
    RedirectAnswer(int status, std::string location) : status_(status), location_(std::move(location)) {
        body_ = "Redirecting to " + location_ + "\n";
    }
    Readiness poll() override { return Readiness::Ready; }
    std::chrono::milliseconds waitLimit() const override { return std::chrono::milliseconds(0); }
    void giveUp() override {}
    std::uint64_t writeHead(http::ResponseHead& out) override {
        out.status = status_;
        out.reason = reasonFor(status_);
        out.headers.add("Location", location_);
        out.headers.add("Content-Type", "text/plain; charset=utf-8");
        out.headers.add("Cache-Control", "no-store");  // a proxy in front must not keep it
        return body_.size();
    }
    std::string_view body(std::uint64_t offset) const override {
        return std::string_view(body_).substr(static_cast<std::size_t>(offset));
    }

private:
    int status_;
    std::string location_;
    std::string body_;
};

}  // namespace

std::string_view redirectableHost(std::string_view host) {
    if (host.empty()) return {};
    std::string_view name;
    std::string_view rest;
    if (host.front() == '[') {
        const auto close = host.find(']');
        if (close == std::string_view::npos || close < 2) return {};
        name = host.substr(0, close + 1);
        for (const char c : name.substr(1, name.size() - 2))
            if (!v6Char(c)) return {};
        rest = host.substr(close + 1);
    } else {
        const auto colon = host.find(':');
        name = host.substr(0, colon);
        rest = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
        if (name.empty() || name.size() > 253) return {};
        for (const char c : name)
            if (!nameChar(c)) return {};
    }
    // What follows the name may only be ":digits" (the parser checked the port's range).
    if (!rest.empty()) {
        if (rest.front() != ':' || rest.size() < 2) return {};
        for (const char c : rest.substr(1))
            if (c < '0' || c > '9') return {};
    }
    return name;
}

HttpsRedirectFilter::HttpsRedirectFilter(const config::HttpsRedirect& config)
    : status_(config.status), host_(config.host) {
    if (config.port != 443) suffix_ = ":" + std::to_string(config.port);
}

std::string HttpsRedirectFilter::location(std::string_view requestHost, std::string_view path,
                                          std::string_view query) const {
    const std::string_view host = host_.empty() ? redirectableHost(requestHost) : std::string_view(host_);
    if (host.empty()) return {};
    std::string out;
    out.reserve(8 + host.size() + suffix_.size() + path.size() + query.size() + 2);
    out += "https://";
    out += host;
    out += suffix_;
    // The path as the client sent it (the parser allows no CR, LF, space or controls in it). An
    // asterisk-form or empty target becomes "/".
    if (path.starts_with('/'))
        out += path;
    else
        out += '/';
    if (!query.empty()) {
        out += '?';
        out += query;
    }
    return out;
}

filter::FilterStatus HttpsRedirectFilter::onRequestHeaders(filter::RequestContext& ctx) {
    if (ctx.connection != nullptr && ctx.connection->tls) return filter::FilterStatus::Continue;
    const http::RequestHead& request = *ctx.request;
    std::string target = location(request.host, request.path, request.query);
    if (target.empty()) {
        ctx.error = filter::ErrorSource::Downstream;
        ctx.local = {400, "the Host header cannot be used for the HTTPS redirect"};
        return filter::FilterStatus::Respond;
    }
    auto answer = std::make_unique<RedirectAnswer>(status_, std::move(target));
    ctx.stored = answer.get();
    ctx.setState(this, std::move(answer));
    return filter::FilterStatus::Serve;
}

}  // namespace proxy::tls
