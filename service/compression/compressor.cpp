#include "compression/compressor.h"

#include <zlib.h>

#include <algorithm>
#include <array>

namespace proxy::compression {

struct Compressor::Stream {
    z_stream z{};
    int windowBits = 0;  // as given to deflateInit2 (+16 for gzip)
    int memLevel = 0;
    int level = 0;
    bool initialized = false;
    ~Stream() {
        if (initialized) deflateEnd(&z);
    }
};

namespace {

// A thread's finished streams, ready for reuse; the thread's exit frees them.
struct StreamCache {
    std::array<std::unique_ptr<Compressor::Stream>, Compressor::kIdleStreams> idle;

    std::unique_ptr<Compressor::Stream> take(int windowBits, int memLevel, int level) {
        for (auto& s : idle)
            if (s && s->windowBits == windowBits && s->memLevel == memLevel && s->level == level)
                return std::move(s);
        return nullptr;
    }
    void give(std::unique_ptr<Compressor::Stream> stream) {
        for (auto& s : idle)
            if (!s) {
                s = std::move(stream);
                return;
            }
        // Full: replace the first slot, so a change of parameters does not pin old streams.
        idle[0] = std::move(stream);
    }
};

thread_local StreamCache streamCache;

}  // namespace

Compressor::~Compressor() { release(); }

std::unique_ptr<Compressor> Compressor::create(Coding coding, int level, std::uint64_t lengthHint) {
    if (coding == Coding::Identity) return nullptr;
    std::unique_ptr<Compressor> c(new Compressor());
    if (lengthHint > 0) {
        // Halve the window while the body fits in half of it (nginx's rule); 9 is zlib's minimum.
        while (lengthHint < (std::uint64_t{1} << (c->windowBits_ - 1)) && c->windowBits_ > 9) {
            --c->windowBits_;
            --c->memLevel_;
        }
        c->memLevel_ = std::max(c->memLevel_, 1);
    }
    if (coding == Coding::Gzip) c->windowBits_ += 16;  // zlib's switch for a gzip wrapper
    c->level_ = std::clamp(level, 1, 9);
    return c;
}

bool Compressor::acquire() {
    stream_ = streamCache.take(windowBits_, memLevel_, level_);
    if (stream_) return true;
    stream_ = std::make_unique<Stream>();
    if (deflateInit2(&stream_->z, level_, Z_DEFLATED, windowBits_, memLevel_, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        stream_.reset();
        return false;
    }
    stream_->initialized = true;
    stream_->windowBits = windowBits_;
    stream_->memLevel = memLevel_;
    stream_->level = level_;
    return true;
}

void Compressor::release() {
    if (!stream_) return;
    // A stream that ended cleanly, or was dropped mid-body, is reset and kept; a failed one is not.
    if (!failed_ && deflateReset(&stream_->z) == Z_OK) streamCache.give(std::move(stream_));
    stream_.reset();
}

std::optional<std::string_view> Compressor::compress(std::string_view input, Flush flush) {
    if (finished_ || failed_) return std::nullopt;
    if (!stream_ && flush == Flush::None && held_.size() + input.size() <= kHoldBack) {
        held_.append(input);
        bytesIn_ += input.size();
        return std::string_view(out_.data(), 0);
    }
    if (!stream_ && !acquire()) {
        failed_ = true;
        return std::nullopt;
    }
    std::string_view data = input;
    if (!held_.empty()) {
        held_.append(input);
        data = held_;
    }
    z_stream& z = stream_->z;
    // zlib's interface is not const-correct; it never writes through next_in.
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    const int mode = flush == Flush::Finish ? Z_FINISH : flush == Flush::Sync ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    // Room for this piece without growing in the usual case: deflateBound covers the worst case of
    // incompressible input and the wrapper; what zlib held back from earlier pieces may need more.
    std::size_t capacity = std::max<std::size_t>(out_.size(), 1024);
    capacity = std::max<std::size_t>(capacity, deflateBound(&z, static_cast<uLong>(data.size())) + 64);
    capacity = std::min(capacity, kMaxOutput);
    if (out_.size() < capacity) out_.resize(capacity);
    std::size_t used = 0;
    for (;;) {
        z.next_out = reinterpret_cast<Bytef*>(out_.data() + used);
        z.avail_out = static_cast<uInt>(out_.size() - used);
        const int rc = deflate(&z, mode);
        used = out_.size() - z.avail_out;
        if (rc == Z_STREAM_END) {
            finished_ = true;
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {  // Z_BUF_ERROR: no progress possible, not fatal
            failed_ = true;
            release();
            return std::nullopt;
        }
        // Done when the input is taken and zlib did not fill the buffer (so it has nothing more
        // to give for this flush mode); Finish goes on until Z_STREAM_END.
        if (z.avail_in == 0 && z.avail_out > 0 && mode != Z_FINISH) break;
        if (z.avail_out > 0 && rc == Z_BUF_ERROR) break;
        if (out_.size() >= kMaxOutput) {
            failed_ = true;
            release();
            return std::nullopt;
        }
        out_.resize(std::min(out_.size() * 2, kMaxOutput));
    }
    if (!held_.empty()) std::string().swap(held_);  // held once per body: give the memory back
    bytesIn_ += input.size();
    bytesOut_ += used;
    if (finished_) release();  // the next response on this thread can use it right away
    return std::string_view(out_.data(), used);
}

}  // namespace proxy::compression
