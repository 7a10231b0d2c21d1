#include "cache/cache_filter.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "compression/media_type.h"
#include "filter/stored_response.h"

namespace proxy::cache {
namespace {

using filter::FilterStatus;
using Readiness = filter::StoredResponse::Readiness;

Seconds nowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Seconds toSeconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Fields never stored: framing and hop-by-hop fields (the engine frames every answer itself),
// and what is made fresh for each answer (Age, Cache-Status, the request id).
bool notStoredField(std::string_view name) {
    static constexpr std::string_view kFields[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer",
        "Upgrade",    "Content-Length", "Age", "Cache-Status", "X-Request-Id", "Set-Cookie",
        "Set-Cookie2", "Proxy-Authenticate"};
    for (std::string_view f : kFields)
        if (http::iequals(f, name)) return true;
    return false;
}

// A 304 carries these of the stored response's fields (RFC 9110 15.4.5), plus Last-Modified.
bool sentWith304(std::string_view name) {
    static constexpr std::string_view kFields[] = {"Cache-Control", "Content-Location", "Date",
                                                   "ETag",          "Expires",          "Vary",
                                                   "Last-Modified", "Via"};
    for (std::string_view f : kFields)
        if (http::iequals(f, name)) return true;
    return false;
}

class RequestHeaders final : public HeaderSource {
public:
    explicit RequestHeaders(const http::HeaderList& h) : headers_(h) {}
    bool get(std::string_view name, std::string& out) const override {
        bool any = false;
        for (const http::Header& f : headers_.fields()) {
            if (!http::iequals(f.name, name)) continue;
            if (any) out += ", ";
            out += f.value;
            any = true;
        }
        return any;
    }

private:
    const http::HeaderList& headers_;
};

ResponseDirectives parseResponseDirectives(const http::HeaderList& headers) {
    ResponseDirectives cc;
    for (const http::Header& h : headers.fields())
        if (http::iequals(h.name, "Cache-Control")) parseResponseCacheControl(h.value, cc);
    return cc;
}

RequestDirectives parseRequestDirectives(const http::HeaderList& headers) {
    RequestDirectives cc;
    bool any = false;
    for (const http::Header& h : headers.fields())
        if (http::iequals(h.name, "Cache-Control")) {
            parseRequestCacheControl(h.value, cc);
            any = true;
        }
    // Pragma: no-cache counts only when there is no Cache-Control (RFC 9111 5.4).
    if (!any && headers.hasToken("Pragma", "no-cache")) cc.noCache = true;
    return cc;
}

std::uint32_t ageHeader(const http::HeaderList& headers) {
    const http::Header* h = headers.find("Age");
    if (h == nullptr) return 0;
    return parseDeltaSeconds(h->value).value_or(0);
}

// Weak comparison of entity tags (RFC 9110 8.8.3.2) of an If-None-Match list against one tag.
bool etagListMatches(std::string_view list, std::string_view etag) {
    auto opaque = [](std::string_view t) {
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (t.starts_with("W/")) t.remove_prefix(2);
        return t;
    };
    const std::string_view mine = opaque(etag);
    if (mine.size() < 2 || mine.front() != '"' || mine.back() != '"') return false;
    std::size_t i = 0;
    while (i <= list.size()) {
        std::size_t end = list.find(',', i);
        if (end == std::string_view::npos) end = list.size();
        const std::string_view item = opaque(list.substr(i, end - i));
        if (item == "*" || item == mine) return true;
        i = end + 1;
    }
    return false;
}

enum class Mode : std::uint8_t {
    Pass,        // forward, store nothing
    Invalidate,  // an unsafe method: a success drops the stored copies of the URL
    Lead,        // forward and store what comes back (this exchange leads the key's fill)
    Wait,        // another exchange fills the key: wait for it
    Serve,       // answer from `entry`
};

}  // namespace

bool storable(const StorableInputs& in, std::string_view& why) {
    static const ResponseDirectives kNoCc;
    const ResponseDirectives& cc = in.directives ? *in.directives : kNoCc;
    auto refuse = [&why](std::string_view reason) {
        why = reason;
        return false;
    };
    if (in.method != http::Method::Get) return refuse("method");
    switch (in.status) {
        case 200: case 203: case 204: case 300: case 301: case 302: case 307: case 308: case 404:
        case 405: case 410: case 414: case 501: break;
        default: return refuse("status");
    }
    if (in.request && in.request->noStore) return refuse("request no-store");
    if (cc.malformed) return refuse("malformed Cache-Control");
    if (cc.noStore) return refuse("no-store");
    if (cc.isPrivate) return refuse("private");
    if (in.authorization) {
        if (!in.allowAuthorized) return refuse("authorization");
        if (!cc.isPublic && !cc.sMaxAge && !cc.mustRevalidate) return refuse("authorization");
    }
    if (in.setCookie) return refuse("set-cookie");
    if (in.varyStar) return refuse("vary *");
    if (in.contentRange) return refuse("range");
    // A 302/307 is stored only with explicit freshness (not heuristically cacheable); the caller
    // folds that into hasLifetime.
    if (!in.hasLifetime && !(cc.noCache && in.hasValidator)) return refuse("no freshness");
    return true;
}

namespace {

class CacheState final : public filter::ExchangeState, public filter::StoredResponse {
public:
    CacheState(const CacheFilter& owner, filter::RequestContext& ctx)
        : cache_(owner.cache()), ctx_(ctx) {}
    ~CacheState() override { endFill(false); }

    Mode mode = Mode::Pass;
    std::string primary;
    std::string url;
    RequestDirectives requestCc;
    EntryPtr entry;              // what is served, or the stale copy being revalidated
    bool revalidating = false;   // the request went upstream with our validators
    std::string_view cacheStatusHeader;  // for a served entry: "hit", "stale", ...
    Seconds requestTime = 0;
    std::string bypassReason;
    // Storing:
    std::shared_ptr<CachedResponse> pending;
    std::string bodyCopy;  // the body as it streams to the first client
    bool storing = false;

    std::shared_ptr<Fill> fill;
    bool leader = false;
    // The client's conditionals, kept when the cache's own validators replace them upstream.
    bool conditionalsReplaced = false;
    std::vector<std::string> clientInm;
    std::optional<std::string> clientIms;

    void lead() {
        fill = cache_.joinFill(primary, leader);
        mode = leader ? Mode::Lead : Mode::Wait;
    }
    void endFill(bool stored) {
        if (leader && fill) cache_.finishFill(primary, fill, stored);
        leader = false;
        fill.reset();
    }

    // StoredResponse.
    Readiness poll() override {
        if (mode == Mode::Serve) return Readiness::Ready;
        if (mode != Mode::Wait) return Readiness::Upstream;
        if (fill && fill->state.load(std::memory_order_acquire) == Fill::Running)
            return Readiness::Wait;
        const bool filled = fill && fill->state.load(std::memory_order_acquire) == Fill::Stored;
        fill.reset();
        if (filled) {
            if (EntryPtr e = findEntry()) {
                const Seconds age = currentAge(e->age, nowSeconds());
                const UseInputs use{e->lifetime, age, &e->directives, &requestCc};
                if (usability(use) == Usability::Fresh) {
                    entry = std::move(e);
                    mode = Mode::Serve;
                    ctx_.cacheStatus = "collapsed";
                    cacheStatusHeader = "hit; collapsed";
                    cache_.counters().collapsed.fetch_add(1, std::memory_order_relaxed);
                    return Readiness::Ready;
                }
            }
        }
        // The fill stored nothing this request can use (not storable, another Vary variant):
        // forward, leading a fill of our own when nobody else does.
        lead();
        if (mode == Mode::Wait) {  // someone else just started one; do not chain waits
            fill.reset();
            mode = Mode::Pass;
        }
        ctx_.cacheStatus = "miss";
        cache_.counters().misses.fetch_add(1, std::memory_order_relaxed);
        return Readiness::Upstream;
    }
    std::chrono::milliseconds waitLimit() const override { return cache_.collapseTimeout(); }
    void giveUp() override {
        fill.reset();
        mode = Mode::Pass;
        ctx_.cacheStatus = "miss";
        bypassReason = "collapse wait timed out";
        cache_.counters().misses.fetch_add(1, std::memory_order_relaxed);
    }
    bool upstreamFailed() override {
        if (!entry || mode == Mode::Serve) return mode == Mode::Serve;
        const Seconds age = currentAge(entry->age, nowSeconds());
        if (!staleIfErrorAllows(entry->directives, entry->lifetime, age)) return false;
        serveStale();
        return true;
    }
    void serveStale() {
        endFill(false);
        storing = false;
        pending.reset();
        mode = Mode::Serve;
        ctx_.cacheStatus = "stale";
        cacheStatusHeader = "hit; detail=stale-if-error";
        cache_.counters().stale.fetch_add(1, std::memory_order_relaxed);
    }

    std::uint64_t writeHead(http::ResponseHead& out) override {
        const CachedResponse& e = *entry;
        const Seconds age = currentAge(e.age, nowSeconds());
        const bool notModified = (e.status == 200) && clientConditionalMatches(e);
        out.status = notModified ? 304 : e.status;
        out.reason = notModified ? std::string_view("Not Modified") : std::string_view(e.reason);
        out.version = http::Version::Http11;
        for (const auto& [name, value] : e.headers) {
            if (notModified && !sentWith304(name)) continue;
            out.headers.add(name, value);
        }
        char digits[24];
        auto res = std::to_chars(digits, digits + sizeof(digits), age);
        out.headers.add("Age", out.arena.store({digits, static_cast<std::size_t>(res.ptr - digits)}));
        std::string status = "proxy; ";
        status += cacheStatusHeader.empty() ? std::string_view("hit") : cacheStatusHeader;
        status += "; ttl=";
        status += std::to_string(e.lifetime - age);
        out.headers.add("Cache-Status", out.arena.store(status));
        if (!ctx_.requestId.empty()) out.headers.add("X-Request-Id", ctx_.requestId);
        if (notModified) return 0;
        return e.body ? e.body->size() : 0;
    }
    std::string_view body(std::uint64_t offset) const override {
        if (!entry || !entry->body || offset >= entry->body->size()) return {};
        return std::string_view(*entry->body).substr(static_cast<std::size_t>(offset));
    }

    EntryPtr findEntry() {
        const RequestHeaders headers(ctx_.request->headers);
        return cache_.store().find(primary, [&](const CachedResponse& candidate) {
            if (candidate.vary.star) return false;
            if (candidate.vary.fields.empty()) return true;
            return varyValues(candidate.vary, headers) == candidate.vary;
        });
    }

private:
    bool clientConditionalMatches(const CachedResponse& e) const {
        // The client's own conditionals: as it sent them, even after a revalidation replaced them
        // with the cache's validators on the way upstream.
        std::vector<std::string_view> inm;
        std::optional<std::string_view> ims;
        if (conditionalsReplaced) {
            for (const std::string& v : clientInm) inm.push_back(v);
            if (clientIms) ims = *clientIms;
        } else {
            for (const http::Header& f : ctx_.request->headers.fields())
                if (http::iequals(f.name, "If-None-Match")) inm.push_back(f.value);
            if (const http::Header* h = ctx_.request->headers.find("If-Modified-Since")) ims = h->value;
        }
        for (std::string_view list : inm) {
            if (!e.etag.empty() && etagListMatches(list, e.etag)) return true;
            if (list.find('*') != std::string_view::npos && etagListMatches(list, "\"*\""))
                return true;
        }
        if (!inm.empty()) return false;  // If-Modified-Since is ignored when If-None-Match is present
        if (!ims || e.lastModified.empty()) return false;
        const auto since = parseHttpDate(*ims);
        const auto modified = parseHttpDate(e.lastModified);
        return since && modified && *modified <= *since;
    }

    Cache& cache_;  // not owned; the filter's
    filter::RequestContext& ctx_;  // not owned; the exchange this state belongs to
};

}  // namespace

CacheFilter::CacheFilter(const config::RouteCache& config, Cache& cache)
    : cache_(cache),
      ttlOverrides_(config.ttlOverrides),
      defaultTtl_(config.defaultTtlSeconds),
      bypassCookies_(config.bypassCookies),
      bypassHeaders_(config.bypassHeaders),
      allowAuthorized_(config.allowAuthorized),
      tagHeader_(config.tagHeader) {
    keyRules_.ignoreQuery = config.keyIgnoreQuery;
    keyRules_.queryInclude = config.keyQueryInclude;
    keyRules_.queryIgnore = config.keyQueryIgnore;
    keyRules_.headers = config.keyHeaders;
    keyRules_.cookies = config.keyCookies;
}

std::optional<Seconds> CacheFilter::lifetimeFor(std::string_view path, const http::ResponseHead& r,
                                                const ResponseDirectives& cc,
                                                const AgeInputs& age) const {
    const http::Header* type = r.headers.find("Content-Type");
    for (const config::CacheTtlRule& rule : ttlOverrides_) {
        if (!rule.pathPrefix.empty() && !path.starts_with(rule.pathPrefix)) continue;
        if (!rule.contentType.empty() &&
            (type == nullptr ||
             !compression::mediaTypeMatches(type->value, std::span(&rule.contentType, 1))))
            continue;
        return static_cast<Seconds>(rule.seconds);
    }
    FreshnessInputs in;
    in.status = r.status;
    in.directives = &cc;
    in.date = age.date;
    in.responseTime = age.responseTime;
    if (const http::Header* expires = r.headers.find("Expires")) {
        in.hasExpires = true;
        in.expires = parseHttpDate(expires->value);
        // Two different Expires lines: treat as already expired (RFC 9111 4.2.1).
        for (const http::Header& h : r.headers.fields())
            if (http::iequals(h.name, "Expires") && h.value != expires->value) in.expires.reset();
    }
    if (const http::Header* lm = r.headers.find("Last-Modified")) in.lastModified = parseHttpDate(lm->value);
    const Lifetime l = freshnessLifetime(in);
    switch (l.source) {
        case LifetimeSource::SMaxAge:
        case LifetimeSource::MaxAge:
        case LifetimeSource::Expires: return l.seconds;
        case LifetimeSource::Heuristic:
            if (defaultTtl_ > 0) return static_cast<Seconds>(defaultTtl_);
            if (r.status == 302 || r.status == 307) return std::nullopt;
            return l.seconds;
        case LifetimeSource::None:
            if (defaultTtl_ > 0 && (heuristicallyCacheable(r.status) || cc.isPublic))
                return static_cast<Seconds>(defaultTtl_);
            return std::nullopt;
    }
    return std::nullopt;
}

FilterStatus CacheFilter::onRequestHeaders(filter::RequestContext& ctx) {
    http::RequestHead& request = *ctx.request;
    auto state = std::make_unique<CacheState>(*this, ctx);
    CacheState& s = *state;
    s.requestTime = toSeconds(ctx.wallStart);
    const bool tls = ctx.connection != nullptr && ctx.connection->tls;
    const std::string_view host = ctx.originalHost.empty() ? request.host : ctx.originalHost;
    const std::string_view path = ctx.originalPath.empty() ? request.path : ctx.originalPath;
    s.url = urlKey(tls, host, path, request.query, keyRules_);
    ctx.setState(this, std::move(state));
    ctx.stored = &s;

    auto bypass = [&](std::string_view why) {
        s.mode = Mode::Pass;
        s.bypassReason = why;
        ctx.cacheStatus = "bypass";
        cache_.counters().bypassed.fetch_add(1, std::memory_order_relaxed);
        return FilterStatus::Continue;
    };
    if (request.method != http::Method::Get && request.method != http::Method::Head) {
        // Unsafe methods invalidate the URL's stored copies on success (RFC 9111 4.4).
        const bool safe = request.method == http::Method::Options || request.method == http::Method::Trace;
        if (!safe) s.mode = Mode::Invalidate;
        ctx.cacheStatus = "bypass";
        s.bypassReason = "method";
        cache_.counters().bypassed.fetch_add(1, std::memory_order_relaxed);
        return FilterStatus::Continue;
    }
    if (request.framing != http::BodyFraming::None) return bypass("request body");
    if (request.upgrade) return bypass("upgrade");
    if (request.headers.has("Authorization") && !allowAuthorized_) return bypass("authorization");
    if (request.headers.has("Range")) return bypass("range");
    for (const std::string& name : bypassHeaders_)
        if (request.headers.has(name)) return bypass("bypass header");
    if (!bypassCookies_.empty()) {
        std::string cookies, value;
        RequestHeaders(request.headers).get("Cookie", cookies);
        for (const std::string& name : bypassCookies_)
            if (findCookie(cookies, name, value)) return bypass("bypass cookie");
    }

    s.requestCc = parseRequestDirectives(request.headers);
    s.primary = primaryKey(s.url, keyRules_, RequestHeaders(request.headers));

    EntryPtr found = s.findEntry();
    const Seconds now = nowSeconds();
    if (found) {
        const Seconds age = currentAge(found->age, now);
        const UseInputs use{found->lifetime, age, &found->directives, &s.requestCc};
        const Usability u = usability(use);
        if (u == Usability::Fresh || u == Usability::StaleAllowed) {
            s.entry = std::move(found);
            s.mode = Mode::Serve;
            const bool fresh = u == Usability::Fresh;
            ctx.cacheStatus = fresh ? "hit" : "stale";
            s.cacheStatusHeader = fresh ? "hit" : "hit; detail=max-stale";
            (fresh ? cache_.counters().hits : cache_.counters().stale).fetch_add(1, std::memory_order_relaxed);
            return FilterStatus::Serve;
        }
        if (s.requestCc.onlyIfCached) {
            ctx.local = {504, "only-if-cached: no fresh stored response"};
            ctx.cacheStatus = "miss";
            return FilterStatus::Respond;
        }
        // Stale (or the client insists on validation). stale-while-revalidate: while another
        // request revalidates, the rest get the stale copy at once.
        s.entry = found;
        s.lead();
        if (!s.leader && staleWhileRevalidateAllows(found->directives, found->lifetime, age) &&
            !s.requestCc.noCache) {
            s.fill.reset();
            s.mode = Mode::Serve;
            ctx.cacheStatus = "stale";
            s.cacheStatusHeader = "hit; detail=stale-while-revalidate";
            cache_.counters().stale.fetch_add(1, std::memory_order_relaxed);
            return FilterStatus::Serve;
        }
        if (!s.leader) {
            // Wait for the other revalidation, then use what it stored.
            return FilterStatus::Serve;
        }
        if (s.requestCc.noStore) s.endFill(false);
        // Our own validators replace the client's: the cache answers the client's conditional
        // itself from whatever comes back.
        if (!found->etag.empty() || !found->lastModified.empty()) {
            for (const http::Header& h : request.headers.fields())
                if (http::iequals(h.name, "If-None-Match")) s.clientInm.emplace_back(h.value);
            if (const http::Header* h = request.headers.find("If-Modified-Since"))
                s.clientIms = std::string(h->value);
            s.conditionalsReplaced = true;
            request.headers.remove("If-None-Match");
            request.headers.remove("If-Modified-Since");
            if (!found->etag.empty()) request.headers.add("If-None-Match", found->etag);
            if (!found->lastModified.empty()) request.headers.add("If-Modified-Since", found->lastModified);
            s.revalidating = true;
        }
        ctx.cacheStatus = "expired";
        cache_.counters().expired.fetch_add(1, std::memory_order_relaxed);
        if (s.mode != Mode::Lead) s.mode = Mode::Pass;
        return FilterStatus::Continue;
    }
    if (s.requestCc.onlyIfCached) {
        ctx.local = {504, "only-if-cached: nothing stored"};
        ctx.cacheStatus = "miss";
        return FilterStatus::Respond;
    }
    if (request.method == http::Method::Head || s.requestCc.noStore) {
        ctx.cacheStatus = "miss";
        cache_.counters().misses.fetch_add(1, std::memory_order_relaxed);
        return FilterStatus::Continue;  // Pass: nothing to store
    }
    s.lead();
    if (s.mode == Mode::Wait) return FilterStatus::Serve;  // collapsed: poll() decides
    ctx.cacheStatus = "miss";
    cache_.counters().misses.fetch_add(1, std::memory_order_relaxed);
    return FilterStatus::Continue;
}

FilterStatus CacheFilter::onResponseHeaders(filter::RequestContext& ctx) {
    auto* s = static_cast<CacheState*>(ctx.state(this));
    if (s == nullptr) return FilterStatus::Continue;
    http::ResponseHead& r = *ctx.response;
    auto addStatus = [&](std::string_view text) {
        r.headers.add("Cache-Status", r.arena.store(std::string("proxy; ") + std::string(text)));
    };
    auto fwdStatus = [&](std::string_view fwd) {
        std::string t = "fwd=" + std::string(fwd) + "; fwd-status=" + std::to_string(r.status);
        return t;
    };

    if (s->mode == Mode::Invalidate) {
        if (r.status < 400) {
            const std::string url = s->url;
            const std::size_t n = cache_.store().erase([&](const CachedResponse& e) { return e.url == url; });
            cache_.counters().invalidated.fetch_add(n, std::memory_order_relaxed);
        }
        addStatus("fwd=method");
        return FilterStatus::Continue;
    }
    if (s->mode == Mode::Pass && s->entry == nullptr) {
        addStatus(s->bypassReason.empty() ? fwdStatus("miss") : "fwd=bypass");
        return FilterStatus::Continue;
    }
    const Seconds now = nowSeconds();

    // A revalidation's answer.
    if (s->entry && s->revalidating && r.status == 304) {
        auto refreshed = std::make_shared<CachedResponse>(*s->entry);
        for (const http::Header& h : r.headers.fields()) {
            if (notStoredField(h.name) || http::iequals(h.name, "Content-Encoding") ||
                http::iequals(h.name, "Content-Type"))
                continue;
            std::erase_if(refreshed->headers, [&](const auto& f) { return http::iequals(f.first, h.name); });
        }
        for (const http::Header& h : r.headers.fields()) {
            if (notStoredField(h.name) || http::iequals(h.name, "Content-Encoding") ||
                http::iequals(h.name, "Content-Type"))
                continue;
            refreshed->headers.emplace_back(std::string(h.name), std::string(h.value));
        }
        http::HeaderList merged;
        for (const auto& [k, v] : refreshed->headers) merged.add(k, v);
        refreshed->directives = parseResponseDirectives(merged);
        refreshed->age = {s->requestTime, now, std::nullopt, ageHeader(r.headers)};
        if (const std::string* date = refreshed->header("Date")) refreshed->age.date = parseHttpDate(*date);
        http::ResponseHead asStored;
        asStored.status = refreshed->status;
        asStored.headers = merged;
        const std::string_view path = ctx.originalPath.empty() ? ctx.request->path : ctx.originalPath;
        refreshed->lifetime = lifetimeFor(path, asStored, refreshed->directives, refreshed->age).value_or(0);
        if (const std::string* etag = refreshed->header("ETag")) refreshed->etag = *etag;
        if (const std::string* lm = refreshed->header("Last-Modified")) refreshed->lastModified = *lm;
        const bool keep = !refreshed->directives.noStore && !refreshed->directives.isPrivate &&
                          !refreshed->directives.malformed;
        if (keep) {
            cache_.store().insert(refreshed);
        } else {
            const std::string key = refreshed->primaryKey;
            cache_.store().erase([&](const CachedResponse& e) { return e.primaryKey == key; });
        }
        s->endFill(keep);
        s->entry = std::move(refreshed);
        s->mode = Mode::Serve;
        ctx.cacheStatus = "revalidated";
        s->cacheStatusHeader = "fwd=stale; fwd-status=304";
        cache_.counters().revalidated.fetch_add(1, std::memory_order_relaxed);
        return FilterStatus::Serve;
    }
    // The origin failed: a stale copy may stand in (stale-if-error).
    if (s->entry && (r.status == 500 || r.status == 502 || r.status == 503 || r.status == 504) &&
        staleIfErrorAllows(s->entry->directives, s->entry->lifetime, currentAge(s->entry->age, now))) {
        s->serveStale();
        return FilterStatus::Serve;
    }
    const std::string_view fwd = s->entry ? "stale" : "miss";
    if (s->mode != Mode::Lead) {
        addStatus(fwdStatus(fwd));
        return FilterStatus::Continue;
    }

    // A new response: store it if it may be.
    ResponseDirectives cc = parseResponseDirectives(r.headers);
    AgeInputs age{s->requestTime, now, std::nullopt, ageHeader(r.headers)};
    if (const http::Header* date = r.headers.find("Date")) age.date = parseHttpDate(date->value);
    const std::string_view path = ctx.originalPath.empty() ? ctx.request->path : ctx.originalPath;
    const std::optional<Seconds> lifetime = lifetimeFor(path, r, cc, age);
    std::vector<std::string_view> varyLines;
    for (const http::Header& h : r.headers.fields())
        if (http::iequals(h.name, "Vary")) varyLines.push_back(h.value);
    const VaryValues names = varyNames(varyLines);

    StorableInputs in;
    in.method = ctx.request->method;
    in.status = r.status;
    in.directives = &cc;
    in.request = &s->requestCc;
    in.authorization = ctx.request->headers.has("Authorization");
    in.allowAuthorized = allowAuthorized_;
    in.setCookie = r.headers.has("Set-Cookie");
    in.varyStar = names.star;
    in.contentRange = r.headers.has("Content-Range");
    in.hasLifetime = lifetime.has_value();
    in.hasValidator = r.headers.has("ETag") || r.headers.has("Last-Modified");
    std::string_view why;
    bool ok = storable(in, why);
    if (ok && r.framing == http::BodyFraming::ContentLength && r.contentLength > cache_.maxObjectBytes()) {
        ok = false;
        why = "too large";
        cache_.counters().tooLarge.fetch_add(1, std::memory_order_relaxed);
    }
    if (!ok) {
        if (why != "too large") cache_.counters().notStorable.fetch_add(1, std::memory_order_relaxed);
        if (s->entry) {
            // The origin no longer lets this be stored: drop the stale copy it replaces.
            const CachedResponse* old = s->entry.get();
            cache_.store().erase([old](const CachedResponse& e) { return &e == old; });
        }
        s->endFill(false);
        s->mode = Mode::Pass;
        addStatus(fwdStatus(fwd) + "; detail=" + std::string(why == "too large" ? "too-large" : "uncacheable"));
        return FilterStatus::Continue;
    }

    auto entry = std::make_shared<CachedResponse>();
    entry->primaryKey = s->primary;
    entry->url = s->url;
    entry->vary = varyValues(names, RequestHeaders(ctx.request->headers));
    entry->status = r.status;
    entry->reason = std::string(r.reason);
    for (const http::Header& h : r.headers.fields()) {
        if (notStoredField(h.name)) continue;
        entry->headers.emplace_back(std::string(h.name), std::string(h.value));
    }
    entry->directives = cc;
    entry->age = age;
    entry->lifetime = *lifetime;
    if (const http::Header* etag = r.headers.find("ETag")) entry->etag = std::string(etag->value);
    if (const http::Header* lm = r.headers.find("Last-Modified")) entry->lastModified = std::string(lm->value);
    if (!tagHeader_.empty()) {
        for (const http::Header& h : r.headers.fields()) {
            if (!http::iequals(h.name, tagHeader_)) continue;
            std::string_view rest = h.value;
            while (!rest.empty()) {
                const std::size_t comma = rest.find(',');
                std::string_view tag = rest.substr(0, comma);
                while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
                while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
                if (!tag.empty()) entry->tags.emplace_back(tag);
                if (comma == std::string_view::npos) break;
                rest.remove_prefix(comma + 1);
            }
        }
    }
    s->pending = std::move(entry);
    s->storing = true;
    if (r.framing == http::BodyFraming::ContentLength)
        s->bodyCopy.reserve(static_cast<std::size_t>(r.contentLength));
    addStatus(fwdStatus(fwd) + "; stored");
    if (r.framing == http::BodyFraming::None || ctx.request->method == http::Method::Head) {
        // No body will pass the body hook: store now.
        s->pending->body = std::make_shared<const std::string>();
        const bool stored = cache_.store().insert(std::move(s->pending));
        if (stored) cache_.counters().stored.fetch_add(1, std::memory_order_relaxed);
        s->storing = false;
        s->endFill(stored);
    }
    return FilterStatus::Continue;
}

FilterStatus CacheFilter::onResponseBody(filter::RequestContext& ctx, filter::BodyChunk& chunk) {
    auto* s = static_cast<CacheState*>(ctx.state(this));
    if (s == nullptr || !s->storing) return FilterStatus::Continue;
    if (s->bodyCopy.size() + chunk.data.size() > cache_.maxObjectBytes()) {
        // Over the object limit: this one passes through uncached.
        s->storing = false;
        s->pending.reset();
        std::string().swap(s->bodyCopy);
        s->endFill(false);
        cache_.counters().tooLarge.fetch_add(1, std::memory_order_relaxed);
        return FilterStatus::Continue;
    }
    s->bodyCopy.append(chunk.data);
    if (chunk.last) {
        s->pending->body = std::make_shared<const std::string>(std::move(s->bodyCopy));
        const bool stored = cache_.store().insert(std::move(s->pending));
        if (stored) cache_.counters().stored.fetch_add(1, std::memory_order_relaxed);
        s->storing = false;
        s->endFill(stored);
    }
    return FilterStatus::Continue;
}

}  // namespace proxy::cache
