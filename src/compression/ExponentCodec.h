// ExponentCodec: lossless split of each float into its exponent byte (low entropy: weights
// cluster in a few binades; entropy-coded in blocks, method per block 0 raw, 1 zstd, 2 rans)
// and the rest (close to random, stored raw); bit-exact for every pattern. Exponent / rest:
// bf16 bits 14..7 / sign<<7|mantissa; f16 bits 15..8 / mantissa 7..0; f32 bits 30..23 /
// mantissa 7..0, 15..8, sign<<7|22..16. Payload: u32 block_elems | u64 n_elems | n_blocks x
// (u8 method, u32 csize) | exponent blocks | rest | size % dtype_size raw tail bytes.
// Each call owns its zstd contexts and scratch.
#pragma once

#include "compression/CompressionBackend.h"

namespace vk_symbiote {

class ExponentCodec final : public CompressionBackend {
public:
    // Elements per independently coded exponent block (256 KiB of exponents).
    static constexpr uint32 kBlockElems = 1u << 18;

    enum class Entropy { Rans, Zstd };
    // level: zstd level (Entropy::Zstd only), -1 = kDefaultZstdLevel.
    explicit ExponentCodec(Entropy entropy = Entropy::Rans, int level = -1);
    static constexpr int kDefaultZstdLevel = 19;

    std::string name() const override { return entropy_ == Entropy::Rans ? "exponent" : "exponent-zstd"; }
    CodecId id() const override { return CodecId::Exponent; }
    bool suits(DType) const override { return true; }
    ExpectedVoid encode_payload(std::span<const uint8> src, DType dtype, std::vector<uint8>& out) const override;
    ExpectedVoid decode_payload(std::span<const uint8> payload, DType dtype, std::span<uint8> dst) const override;

private:
    Entropy entropy_;
    int level_;
};

}  // namespace vk_symbiote
