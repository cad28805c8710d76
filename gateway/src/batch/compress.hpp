// zstd compression of batch payloads (optional, announced upstream in an MQTT 5 user property).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct ZSTD_CCtx_s;

namespace fogbridge {

// Keeps one compression context for reuse, which saves its setup per batch; not thread-safe.
class zstd_compressor final {
  public:
    explicit zstd_compressor(int level = 3);  // clamped to zstd's range

    // One zstd frame with the content size in its header. Throws std::bad_alloc if zstd cannot
    // allocate; any input is fine.
    std::string compress(std::string_view data);

  private:
    struct free_context {
        void operator()(ZSTD_CCtx_s* c) const;
    };
    std::unique_ptr<ZSTD_CCtx_s, free_context> context_;
    int level_;
};

// One-shot form of zstd_compressor::compress; thread-safe.
std::string zstd_compress(std::string_view data, int level);

// The decompressed frames, or nullopt when the input is not valid zstd or would exceed max_size.
std::optional<std::string> zstd_decompress(std::string_view data,
                                           std::size_t max_size = std::size_t{64} << 20U);

}  // namespace fogbridge
