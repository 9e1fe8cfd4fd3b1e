// CodecSamples: deterministic weight-like buffers for codec tests and the codec
// benchmark (tools/vk_symbiote_codec_bench): f32 -> f16 / bf16 conversion (round to
// nearest even, Inf/NaN kept) and N(0, sigma) weights drawn from a seeded generator.
// Not used by the inference path.
#pragma once

#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

uint16 f32_to_f16_bits(float f);
uint16 f32_to_bf16_bits(float f);

// `n` f32 values converted to `dtype`, as bytes (n * dtype_size(dtype)).
std::vector<uint8> convert_f32(const float* src, size_t n, DType dtype);

// `n` values drawn from N(0, sigma^2) with a fixed seed, stored as `dtype`.
std::vector<uint8> normal_weights(size_t n, DType dtype, float sigma, uint64 seed);

}  // namespace vk_symbiote
