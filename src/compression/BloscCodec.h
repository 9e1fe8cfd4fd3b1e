// BloscCodec: c-blosc 1.x ("blosc2" is an alias: Debian 12 has no Blosc2), byte or bit shuffle
// at typesize = dtype size, then zstd or lz4. Payload: plain blosc buffers of at most
// kChunkBytes input each (blosc's headers describe them). Only the *_ctx entry points are
// used, so concurrent calls are safe; `threads` is blosc's own per call.
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
