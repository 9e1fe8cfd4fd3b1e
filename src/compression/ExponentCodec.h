// ExponentCodec: lossless codec for floating-point weights that splits every value into
// its exponent byte (low entropy: weights cluster in a few binades) and the remaining
// sign + mantissa bits (close to random). Only the exponent stream is entropy-coded,
// in independent blocks, with our order-0 rANS (RansCoder: within ~0.5% of the order-0
// entropy) or zstd (level 19 gets within ~2%; lower zstd levels waste 10-25% on spurious
// matches); the rest is stored raw. Pure bit manipulation, so it
// is bit-exact for every pattern (NaN payloads, Inf, denormals, -0).
//
//   dtype  exponent byte                  rest (stored raw, per element)
//   bf16   bits 14..7 (the 8-bit exponent) 1 byte: sign << 7 | mantissa (7 bits)
//   f16    bits 15..8 (sign, exp5, m9..8)  1 byte: mantissa bits 7..0
//   f32    bits 30..23 (the 8-bit exponent) 3 bytes: mantissa 7..0, 15..8, sign << 7 | 22..16
//
// Payload (little-endian):
//   u32 block_elems | u64 n_elems | n_blocks x (u8 method, u32 csize) | exponent blocks
//   | rest | tail
// method: 0 raw (csize == block length), 1 zstd, 2 rans. A block the coder does not
// shrink is stored raw.
// `tail` is the size % dtype_size bytes after the last whole element, raw.
//
// Thread-safety: each call owns its zstd contexts and scratch.
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
