#include "compression/CodecSamples.h"

#include "common/HalfFloat.h"

#include <cmath>
#include <cstring>
#include <random>

namespace vk_symbiote {

uint16 f32_to_bf16_bits(float f) { return f32_to_bf16(f); }

uint16 f32_to_f16_bits(float f) { return f32_to_f16(f); }

std::vector<uint8> convert_f32(const float* src, size_t n, DType dtype) {
    std::vector<uint8> out(n * dtype_size(dtype));
    if (dtype == DType::F32) {
        if (n) std::memcpy(out.data(), src, n * 4);
        return out;
    }
    for (size_t i = 0; i < n; ++i) {
        const uint16 h = dtype == DType::F16 ? f32_to_f16_bits(src[i]) : f32_to_bf16_bits(src[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

std::vector<uint8> normal_weights(size_t n, DType dtype, float sigma, uint64 seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return convert_f32(v.data(), n, dtype);
}

}  // namespace vk_symbiote
