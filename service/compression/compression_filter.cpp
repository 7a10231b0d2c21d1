#include "compression/compression_filter.h"

#include "compression/media_type.h"

namespace proxy::compression {
namespace {

// One exchange's compressor. Streaming bodies (chunked or until close: server-sent events, long
// polls, progressive pages) are sync-flushed at every piece the origin delivers, so compression
// never holds back bytes the origin has sent; a body with a Content-Length lets zlib choose.
struct CompressionState final : filter::ExchangeState {
    std::unique_ptr<Compressor> compressor;
    Compressor::Flush eachPiece = Compressor::Flush::None;
};

bool is2xxWithBody(int status) { return status >= 200 && status < 300 && status != 204 && status != 206; }

}  // namespace

CompressionPolicy::CompressionPolicy(const config::Compression& config)
    : types_(config.types), minSize_(config.minSize), level_(static_cast<int>(config.level)) {
    for (const std::string& name : config.formats)
        if (const auto coding = codingFromName(name); coding && *coding != Coding::Identity)
            formats_.push_back(*coding);
}

Decision CompressionPolicy::decide(const http::RequestHead& request,
                                   const http::ResponseHead& response) const {
    Decision d;
    const bool head = request.method == http::Method::Head;
    const bool notModified = response.status == 304;
    if (!notModified && !is2xxWithBody(response.status)) return d;
    if (response.headers.has("Content-Encoding")) return d;  // encoded by the origin already
    if (response.headers.has("Content-Range")) return d;
    if (response.headers.hasToken("Cache-Control", "no-transform")) return d;
    const http::Header* type = response.headers.find("Content-Type");
    if (type == nullptr || !mediaTypeMatches(type->value, types_)) return d;
    // A known length: the body's (Content-Length framing), or the one a HEAD or 304 reports.
    const bool lengthKnown = response.framing == http::BodyFraming::ContentLength ||
                             ((head || notModified) && response.headers.has("Content-Length"));
    if (lengthKnown && (response.contentLength == 0 || response.contentLength < minSize_)) return d;
    if (!head && !notModified && response.framing == http::BodyFraming::None) return d;
    d.compressible = true;
    if (head) return d;  // headers only: Vary, nothing to compress
    // A client may ask intermediaries not to transform what it gets (RFC 9111 5.2.1.6).
    if (request.headers.hasToken("Cache-Control", "no-transform")) return d;

    AcceptEncoding accepted;
    for (const http::Header& h : request.headers.fields())
        if (http::iequals(h.name, "Accept-Encoding")) parseAcceptEncoding(h.value, accepted);
    const Coding coding = chooseCoding(accepted, formats_);
    if (notModified)
        d.weakenETag = coding != Coding::Identity;
    else
        d.coding = coding;
    return d;
}

void CompressionPolicy::applyHeaders(const Decision& decision, http::ResponseHead& response) {
    if (!decision.compressible) return;
    http::HeaderList& headers = response.headers;
    const bool varyAll = headers.hasToken("Vary", "*");
    if (!varyAll && !headers.hasToken("Vary", "Accept-Encoding")) {
        bool merged = false;
        for (http::Header& h : headers.fields()) {
            if (!http::iequals(h.name, "Vary")) continue;
            std::string_view value = h.value;
            while (!value.empty() && (value.back() == ',' || value.back() == ' ')) value.remove_suffix(1);
            h.value = value.empty() ? std::string_view("Accept-Encoding")
                                    : response.arena.store(std::string(value) + ", Accept-Encoding");
            merged = true;
            break;
        }
        if (!merged) headers.add("Vary", "Accept-Encoding");
    }
    if (decision.coding != Coding::Identity) {
        headers.add("Content-Encoding", codingName(decision.coding));
        headers.remove("Content-Length");
        headers.remove("Accept-Ranges");  // byte ranges of the compressed form are not offered
    } else if (!decision.weakenETag) {
        return;
    }
    for (http::Header& h : headers.fields())
        if (http::iequals(h.name, "ETag") && h.value.starts_with('"'))
            h.value = response.arena.store("W/" + std::string(h.value));
}

filter::FilterStatus CompressionFilter::onResponseHeaders(filter::RequestContext& ctx) {
    if (ctx.request == nullptr || ctx.response == nullptr) return filter::FilterStatus::Continue;
    Decision d = policy_.decide(*ctx.request, *ctx.response);
    if (d.coding != Coding::Identity) {
        const http::ResponseHead& response = *ctx.response;
        const bool lengthKnown = response.framing == http::BodyFraming::ContentLength;
        auto state = std::make_unique<CompressionState>();
        state->compressor =
            Compressor::create(d.coding, policy_.level(), lengthKnown ? response.contentLength : 0);
        if (state->compressor == nullptr) {
            d.coding = Coding::Identity;  // no compressor for this coding: send it as it came
        } else {
            state->eachPiece = lengthKnown ? Compressor::Flush::None : Compressor::Flush::Sync;
            ctx.setState(this, std::move(state));
            ctx.responseLengthChanged = true;
        }
    }
    CompressionPolicy::applyHeaders(d, *ctx.response);
    return filter::FilterStatus::Continue;
}

filter::FilterStatus CompressionFilter::onResponseBody(filter::RequestContext& ctx,
                                                       filter::BodyChunk& chunk) {
    auto* state = static_cast<CompressionState*>(ctx.state(this));  // only this filter sets it
    if (state == nullptr) return filter::FilterStatus::Continue;
    const auto out = state->compressor->compress(
        chunk.data, chunk.last ? Compressor::Flush::Finish : state->eachPiece);
    if (!out) return filter::FilterStatus::Close;
    chunk.data = *out;
    return filter::FilterStatus::Continue;
}

}  // namespace proxy::compression
