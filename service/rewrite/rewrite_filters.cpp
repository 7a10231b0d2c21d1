#include "rewrite/rewrite_filters.h"

#include <array>

#include "routing/router.h"

namespace proxy::rewrite {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Concatenates pieces into the arena without a temporary string.
std::string_view concat(http::StringArena& arena, std::initializer_list<std::string_view> parts) {
    std::size_t total = 0;
    for (auto p : parts) total += p.size();
    char stack[512];
    if (total <= sizeof(stack)) {
        std::size_t at = 0;
        for (auto p : parts) {
            std::copy(p.begin(), p.end(), stack + at);
            at += p.size();
        }
        return arena.store({stack, total});
    }
    std::string joined;
    joined.reserve(total);
    for (auto p : parts) joined.append(p);
    return arena.store(joined);
}

bool isIPv6(std::string_view address) { return address.find(':') != std::string_view::npos; }

}  // namespace

ValueTemplate::ValueTemplate(std::string_view text) {
    static constexpr std::pair<std::string_view, Variable> kNames[] = {
        {"client_ip", Variable::ClientIp}, {"client_port", Variable::ClientPort},
        {"request_id", Variable::RequestId}, {"host", Variable::Host}, {"scheme", Variable::Scheme}};
    std::string literal;
    while (!text.empty()) {
        const auto open = text.find("${");
        if (open == std::string_view::npos) {
            literal.append(text);
            break;
        }
        const auto close = text.find('}', open);
        if (close == std::string_view::npos) {
            literal.append(text);
            break;
        }
        literal.append(text.substr(0, open));
        const std::string_view name = text.substr(open + 2, close - open - 2);
        Variable variable = Variable::None;
        for (const auto& [n, v] : kNames)
            if (n == name) variable = v;
        if (variable == Variable::None) {
            // The validator refuses unknown variables; keep the text if one slips through.
            literal.append(text.substr(open, close - open + 1));
        } else {
            if (!literal.empty()) parts_.push_back({Variable::None, std::move(literal)});
            literal.clear();
            parts_.push_back({variable, {}});
        }
        text.remove_prefix(close + 1);
    }
    if (!literal.empty() || parts_.empty()) parts_.push_back({Variable::None, std::move(literal)});
}

std::string_view ValueTemplate::expand(const filter::RequestContext& ctx,
                                       http::StringArena& arena) const {
    if (isLiteral()) return parts_[0].literal;  // lives in the snapshot, which outlives the request
    std::string out;
    for (const Part& p : parts_) {
        switch (p.variable) {
            case Variable::None: out += p.literal; break;
            case Variable::ClientIp: out += ctx.connection->clientAddress; break;
            case Variable::ClientPort: out += std::to_string(ctx.connection->clientPort); break;
            case Variable::RequestId: out += ctx.requestId; break;
            case Variable::Host: out += ctx.originalHost; break;
            case Variable::Scheme: out += ctx.connection->tls ? "https" : "http"; break;
        }
    }
    return arena.store(out);
}

void removeHopByHop(http::HeaderList& headers, bool keepUpgrade) {
    using http::FieldName;
    using http::fieldBit;
    // The fixed list, as ids: the codec classified every name once, so no name is read here.
    constexpr std::uint32_t kFixed =
        fieldBit(FieldName::Connection) | fieldBit(FieldName::KeepAlive) |
        fieldBit(FieldName::ProxyConnection) | fieldBit(FieldName::Te) |
        fieldBit(FieldName::Trailer) | fieldBit(FieldName::TransferEncoding) |
        fieldBit(FieldName::Upgrade) | fieldBit(FieldName::ProxyAuthenticate);
    // Fields named in Connection go first, while Connection is still there to read. A named
    // well-known field joins the id set; any other name is kept for a by-name compare.
    auto& fields = headers.fields();
    std::uint32_t drop = kFixed;
    std::array<std::string_view, 16> named{};
    std::size_t namedCount = 0;
    std::uint32_t present = 0;
    for (const auto& h : fields) {
        present |= fieldBit(h.id);
        if (h.id != FieldName::Connection) continue;
        std::string_view list = h.value;
        while (!list.empty() && namedCount < named.size()) {
            const auto comma = list.find(',');
            const std::string_view token = trim(list.substr(0, comma));
            if (!token.empty()) {
                const FieldName id = http::classifyFieldName(token);
                if (id != FieldName::Other)
                    drop |= fieldBit(id);
                else
                    named[namedCount++] = token;
            }
            if (comma == std::string_view::npos) break;
            list.remove_prefix(comma + 1);
        }
    }
    // Upgrade survives a 101 / an upgrade request, even when Connection names it.
    if (keepUpgrade) drop &= ~fieldBit(FieldName::Upgrade);
    if ((present & drop) == 0 && namedCount == 0) return;
    std::erase_if(fields, [&](const http::Header& h) {
        if (h.id != FieldName::Other) return (drop & fieldBit(h.id)) != 0;
        for (std::size_t i = 0; i < namedCount; ++i)
            if (http::iequals(h.name, named[i])) return true;
        return false;
    });
}

filter::FilterStatus ProxyHeadersFilter::onRequestHeaders(filter::RequestContext& ctx) {
    http::RequestHead& request = *ctx.request;
    auto& arena = request.arena;
    const bool upgrade = request.upgrade;
    removeHopByHop(request.headers, upgrade);
    if (upgrade) request.headers.add("Connection", "upgrade");
    request.headers.set("X-Request-Id", ctx.requestId);
    if (!ctx.connection->clientSubjectHeader.empty()) {
        // Only the proxy vouches for a client certificate: a client's own header never passes.
        request.headers.remove(ctx.connection->clientSubjectHeader);
        if (!ctx.connection->clientSubject.empty())
            request.headers.add(ctx.connection->clientSubjectHeader, ctx.connection->clientSubject);
    }
    const std::string_view client = ctx.connection->clientAddress;
    const std::string_view scheme = ctx.connection->tls ? "https" : "http";
    if (forwarded_.xForwarded) {
        // Append to a list a previous proxy started; trusting it is the security filter's job.
        if (const http::Header* xff = request.headers.find("X-Forwarded-For"))
            request.headers.set("X-Forwarded-For", concat(arena, {xff->value, ", ", client}));
        else
            request.headers.add("X-Forwarded-For", client);
        request.headers.set("X-Forwarded-Proto", scheme);
        if (!ctx.originalHost.empty()) request.headers.set("X-Forwarded-Host", ctx.originalHost);
    }
    if (forwarded_.forwarded) {
        const std::string_view element =
            isIPv6(client) ? concat(arena, {"for=\"[", client, "]\";proto=", scheme})
                           : concat(arena, {"for=", client, ";proto=", scheme});
        const std::string_view withHost =
            ctx.originalHost.empty() ? element
                                     : concat(arena, {element, ";host=\"", ctx.originalHost, "\""});
        if (const http::Header* fwd = request.headers.find("Forwarded"))
            request.headers.set("Forwarded", concat(arena, {fwd->value, ", ", withHost}));
        else
            request.headers.add("Forwarded", withHost);
    }
    if (forwarded_.via) {
        const std::string_view hop =
            request.version == http::Version::Http10 ? "1.0 proxy" : "1.1 proxy";
        if (const http::Header* via = request.headers.find("Via"))
            request.headers.set("Via", concat(arena, {via->value, ", ", hop}));
        else
            request.headers.add("Via", hop);
    }
    return filter::FilterStatus::Continue;
}

filter::FilterStatus ProxyHeadersFilter::onResponseHeaders(filter::RequestContext& ctx) {
    http::ResponseHead& response = *ctx.response;
    removeHopByHop(response.headers, response.status == 101);
    if (response.status == 101) response.headers.add("Connection", "upgrade");
    if (forwarded_.via) {
        const std::string_view hop =
            response.version == http::Version::Http10 ? "1.0 proxy" : "1.1 proxy";
        if (const http::Header* via = response.headers.find("Via"))
            response.headers.set("Via", concat(response.arena, {via->value, ", ", hop}));
        else
            response.headers.add("Via", hop);
    }
    if (!response.headers.has("X-Request-Id")) response.headers.add("X-Request-Id", ctx.requestId);
    return filter::FilterStatus::Continue;
}

RouteRewriteFilter::RouteRewriteFilter(const config::Route& route)
    : stripPrefix_(route.rewrite.stripPrefix),
      replacement_(route.rewrite.replacement),
      request_(compile(route.requestHeaders)),
      response_(compile(route.responseHeaders)) {
    if (!route.rewrite.regex.empty()) {
        hasRegex_ = true;
        regex_ = std::regex(route.rewrite.regex, std::regex::ECMAScript);  // validated at load
    }
}

unsigned RouteRewriteFilter::phases() const {
    unsigned bits = 0;
    if (!stripPrefix_.empty() || hasRegex_ || !request_.empty())
        bits |= filter::phaseBit(filter::Phase::RequestHeaders);
    if (!response_.empty()) bits |= filter::phaseBit(filter::Phase::ResponseHeaders);
    return bits;
}

RouteRewriteFilter::Rules RouteRewriteFilter::compile(const config::HeaderRules& rules) {
    Rules out;
    for (const auto& [n, v] : rules.set) out.set.emplace_back(n, ValueTemplate(v));
    for (const auto& [n, v] : rules.add) out.add.emplace_back(n, ValueTemplate(v));
    out.remove = rules.remove;
    return out;
}

void RouteRewriteFilter::apply(const Rules& rules, filter::RequestContext& ctx,
                               http::HeaderList& headers, http::StringArena& arena) {
    for (const auto& name : rules.remove) headers.remove(name);
    for (const auto& [name, value] : rules.set) headers.set(name, value.expand(ctx, arena));
    for (const auto& [name, value] : rules.add) headers.add(name, value.expand(ctx, arena));
}

filter::FilterStatus RouteRewriteFilter::onRequestHeaders(filter::RequestContext& ctx) {
    http::RequestHead& request = *ctx.request;
    std::string_view path = request.path;
    bool changed = false;
    std::string rewritten;
    if (!stripPrefix_.empty() && path.starts_with(stripPrefix_)) {
        path.remove_prefix(stripPrefix_.size());
        if (path.empty() || path.front() != '/') {
            rewritten = "/";
            rewritten += path;
        } else {
            rewritten = path;
        }
        changed = true;
    }
    if (hasRegex_ && path.size() <= routing::kMaxRegexInput) {
        const std::string input = changed ? rewritten : std::string(path);
        rewritten = std::regex_replace(input, regex_, replacement_,
                                       std::regex_constants::format_first_only);
        changed = true;
    }
    if (changed) {
        if (rewritten.empty() || rewritten.front() != '/') rewritten.insert(rewritten.begin(), '/');
        request.path = request.arena.store(rewritten);
        request.target = request.query.empty()
                             ? request.path
                             : concat(request.arena, {request.path, "?", request.query});
    }
    apply(request_, ctx, request.headers, request.arena);
    return filter::FilterStatus::Continue;
}

filter::FilterStatus RouteRewriteFilter::onResponseHeaders(filter::RequestContext& ctx) {
    apply(response_, ctx, ctx.response->headers, ctx.response->arena);
    return filter::FilterStatus::Continue;
}

}  // namespace proxy::rewrite
