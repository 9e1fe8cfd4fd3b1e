#include "compression/CodecSamples.h"

#include <cmath>
#include <cstring>
#include <random>

namespace vk_symbiote {

uint16 f32_to_bf16_bits(float f) {
    uint32 x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return uint16((x >> 16) | 0x40);  // quiet NaN, keep sign
    x += 0x7FFFu + ((x >> 16) & 1);                                          // round to nearest even
    return uint16(x >> 16);
}

uint16 f32_to_f16_bits(float f) {
    uint32 x;
    std::memcpy(&x, &f, 4);
    const uint32 sign = (x >> 16) & 0x8000u;
    const uint32 ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return uint16(sign | 0x7E00u);  // NaN
    if (ax >= 0x477FF000u) return uint16(sign | 0x7C00u);  // rounds to >= 65520: Inf
    if (ax < 0x38800000u) {                               // below 2^-14: f16 denormal or 0
        float a;
        std::memcpy(&a, &ax, 4);
        // a * 2^24 is the denormal's integer mantissa; the FPU rounds to nearest even.
        return uint16(sign | uint32(std::nearbyint(a * 16777216.0f)));
    }
    const uint32 mant = ax & 0x7FFFFFu;
    uint32 h = ((ax >> 23) - 112) << 10 | (mant >> 13);
    const uint32 rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // carry into the exponent is correct
    return uint16(sign | h);
}

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
