// ZfpCodec: libzfp reversible mode over f32 data as one 1-D array; payload u64 zfp_bytes |
// zfp stream | size % 4 raw trailing bytes. libzfp's reader has no bounds checks, so decode
// reads from a zero-padded copy and reports a stream that overran zfp_bytes as corrupt.
// Every call opens its own zfp_stream.
#pragma once

#include "compression/CompressionBackend.h"

namespace vk_symbiote {

class ZfpCodec final : public CompressionBackend {
public:
    std::string name() const override { return "zfp"; }
    CodecId id() const override { return CodecId::Zfp; }
    bool suits(DType t) const override { return t == DType::F32; }
    ExpectedVoid encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const override;
    ExpectedVoid decode_payload(std::span<const uint8> payload, DType dtype, std::span<uint8> dst) const override;
};

}  // namespace vk_symbiote
