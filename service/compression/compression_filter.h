#pragma once
// Response compression as a route filter (config "compression"):
// - ResponseHeaders: decide (CompressionPolicy), edit the head, and start a Compressor kept as
//   the exchange's state; the engine then frames the body itself (ctx.responseLengthChanged).
// - ResponseBody: each piece goes through the compressor; the last call closes the stream.
//
// Rules, in order (docs/configuration.md, "compression"): never touch a response that already has
// a Content-Encoding, says Cache-Control: no-transform, is a range (206 or Content-Range), is not
// a 2xx, is a 204, or is a HEAD or 304 answer, or goes to a client that asked for no-transform; compress only the configured media types, and only
// when a known Content-Length is at least min_size. A response that passes those is
// "compressible": it gets Vary: Accept-Encoding whether or not this client's Accept-Encoding
// leads to compression, because a cache must not serve one client's form to another.

#include <cstdint>
#include <string>
#include <vector>

#include "compression/accept_encoding.h"
#include "compression/compressor.h"
#include "config/config.h"
#include "filter/filter.h"
#include "filter/request_context.h"
#include "http/message.h"

namespace proxy::compression {

struct Decision {
    bool compressible = false;         // add Vary: Accept-Encoding
    Coding coding = Coding::Identity;  // Identity: the body is sent as it came
    // A 304 to a client that would get the compressed form: its ETag is weakened as the 200's
    // was, so a cache revalidating its compressed copy keeps the validator it stored.
    bool weakenETag = false;
};

// The route's rules, compiled once from its config. Pure: decide() and applyHeaders() only look
// at and edit the message heads, so they are tested without a network.
class CompressionPolicy {
public:
    explicit CompressionPolicy(const config::Compression& config);

    Decision decide(const http::RequestHead& request, const http::ResponseHead& response) const;
    // Vary merged (not duplicated; "Vary: *" left alone); when compressing, Content-Encoding set,
    // Content-Length and Accept-Ranges dropped, and a strong ETag weakened (W/"..."), since the
    // bytes are no longer the origin's.
    static void applyHeaders(const Decision& decision, http::ResponseHead& response);

    int level() const { return level_; }

private:
    std::vector<std::string> types_;
    std::vector<Coding> formats_;
    std::uint64_t minSize_ = 0;
    int level_ = 6;
};

class CompressionFilter final : public filter::Filter {
public:
    explicit CompressionFilter(const config::Compression& config) : policy_(config) {}
    std::string_view name() const override { return "compression"; }
    unsigned phases() const override {
        return filter::phaseBit(filter::Phase::ResponseHeaders) |
               filter::phaseBit(filter::Phase::ResponseBody);
    }
    filter::FilterStatus onResponseHeaders(filter::RequestContext& ctx) override;
    // Close when zlib fails mid-body (out of memory): the client sees a cut connection, never a
    // body that looks complete but is not.
    filter::FilterStatus onResponseBody(filter::RequestContext& ctx, filter::BodyChunk& chunk) override;

private:
    CompressionPolicy policy_;
};

}  // namespace proxy::compression
