// BloscCodec: c-blosc 1.x (Debian 12 has no Blosc2; the product's "blosc2" option is an
// alias of this codec) with byte or bit shuffle at typesize = dtype size, then zstd or
// lz4 inside blosc.
//
// Payload: a sequence of plain blosc buffers, each compressing at most kChunkBytes of
// input (blosc 1.x caps one buffer near 2 GiB); blosc's own headers carry each chunk's
// sizes, compressor and shuffle mode, so decode needs no configuration.
//
// Thread-safety: only the *_ctx entry points are used (no global blosc state), so
// concurrent calls from several threads are safe. `threads` is blosc's internal
// thread count per call.
#pragma once

#include "compression/CompressionBackend.h"

namespace vk_symbiote {

enum class BloscShuffle { Byte, Bit };

class BloscCodec final : public CompressionBackend {
public:
    static constexpr uint64 kChunkBytes = uint64(1) << 30;

    // compressor: "zstd" or "lz4"; level 1..9 (blosc clevel), -1 = 5.
    BloscCodec(std::string name, std::string compressor, BloscShuffle shuffle, int level, int threads);

    std::string name() const override { return name_; }
    CodecId id() const override { return CodecId::Blosc; }
    bool suits(DType) const override { return true; }
    ExpectedVoid encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const override;
    ExpectedVoid decode_payload(std::span<const uint8> payload, DType dtype, std::span<uint8> dst) const override;

private:
    std::string name_;
    std::string compressor_;
    BloscShuffle shuffle_;
    int level_;
    int threads_;
};

}  // namespace vk_symbiote
