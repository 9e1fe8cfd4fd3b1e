// NoneCodec: stores the pack bytes as they are (frame + checksum only). The baseline
// every other codec is measured against, and what a pack that does not shrink uses.
#pragma once

#include "compression/CompressionBackend.h"

namespace vk_symbiote {

class NoneCodec final : public CompressionBackend {
public:
    std::string name() const override { return "none"; }
    CodecId id() const override { return CodecId::None; }
    bool suits(DType) const override { return true; }
    ExpectedVoid encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const override;
    ExpectedVoid decode_payload(std::span<const uint8> payload, DType dtype, std::span<uint8> dst) const override;
};

}  // namespace vk_symbiote
