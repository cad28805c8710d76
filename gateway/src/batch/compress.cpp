#include "batch/compress.hpp"

#include <zstd.h>

#include <algorithm>
#include <new>

namespace fogbridge {
namespace {

int clamp_level(int level) { return std::clamp(level, ZSTD_minCLevel(), ZSTD_maxCLevel()); }

struct free_dctx {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

}  // namespace

void zstd_compressor::free_context::operator()(ZSTD_CCtx_s* c) const { ZSTD_freeCCtx(c); }

zstd_compressor::zstd_compressor(int level)
    : context_(ZSTD_createCCtx()), level_(clamp_level(level)) {
    if (!context_) throw std::bad_alloc();
}

std::string zstd_compressor::compress(std::string_view data) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    const std::size_t n =
        ZSTD_compressCCtx(context_.get(), out.data(), out.size(), data.data(), data.size(), level_);
    // With a ZSTD_compressBound buffer the only possible failure is memory.
    if (ZSTD_isError(n) != 0U) throw std::bad_alloc();
    out.resize(n);
    return out;
}

std::string zstd_compress(std::string_view data, int level) {
    return zstd_compressor(level).compress(data);
}

std::optional<std::string> zstd_decompress(std::string_view data, std::size_t max_size) {
    const std::unique_ptr<ZSTD_DCtx, free_dctx> context(ZSTD_createDCtx());
    if (!context) return std::nullopt;
    std::string out;
    std::string chunk(ZSTD_DStreamOutSize(), '\0');
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    std::size_t left = 1;  // 0 once a frame is complete and fully flushed
    while (true) {
        ZSTD_outBuffer o{chunk.data(), chunk.size(), 0};
        left = ZSTD_decompressStream(context.get(), &o, &in);
        if (ZSTD_isError(left) != 0U || out.size() + o.pos > max_size) return std::nullopt;
        out.append(chunk.data(), o.pos);
        // A buffer not filled up with all input consumed means nothing more is coming.
        if (in.pos == in.size && o.pos < o.size) break;
    }
    if (left != 0) return std::nullopt;  // truncated frame, or no input at all
    return out;
}

}  // namespace fogbridge
