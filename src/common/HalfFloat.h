// Scalar conversions between f32 and the 16-bit weight types (IEEE f16, bfloat16), the
// one definition every layer uses (CPU kernels, pack providers, codecs, model generator).
// f32 -> 16-bit rounds to nearest even; NaN stays NaN, Inf stays Inf, f16 subnormals are
// produced and read exactly. Vectorized row conversions live in backend/cpu/CpuKernels.
#pragma once

#include <cmath>
#include <cstring>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

namespace half_detail {
inline uint32 f2u(float f) { uint32 u; std::memcpy(&u, &f, 4); return u; }
inline float u2f(uint32 u) { float f; std::memcpy(&f, &u, 4); return f; }
}  // namespace half_detail

inline float f16_to_f32(uint16 h) {
    using half_detail::u2f;
    uint32 sign = uint32(h >> 15) << 31;
    uint32 exp = (h >> 10) & 0x1f;
    uint32 mant = h & 0x3ff;
    if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
        float v = std::ldexp(float(mant), -24);
        return sign ? -v : v;
    }
    if (exp == 31) return u2f(sign | 0x7f800000u | (mant << 13));  // Inf / NaN (payload kept)
    return u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

inline uint16 f32_to_f16(float f) {
    using half_detail::f2u;
    using half_detail::u2f;
    // Maratyszcza's FP16 algorithm (also ggml's): the two multiplications round the
    // mantissa to 10 bits with the FPU's round-to-nearest-even, including subnormals.
    const float scale_to_inf = u2f(0x77800000u);   // 2^112
    const float scale_to_zero = u2f(0x08800000u);  // 2^-110
    float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
    const uint32 w = f2u(f);
    const uint32 shl1_w = w + w;
    const uint32 sign = w & 0x80000000u;
    uint32 bias = shl1_w & 0xff000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = u2f((bias >> 1) + 0x07800000u) + base;
    const uint32 bits = f2u(base);
    const uint32 exp_bits = (bits >> 13) & 0x00007c00u;
    const uint32 mantissa_bits = bits & 0x00000fffu;
    const uint32 nonsign = exp_bits + mantissa_bits;
    return uint16((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

inline float bf16_to_f32(uint16 b) { return half_detail::u2f(uint32(b) << 16); }

inline uint16 f32_to_bf16(float f) {
    uint32 u = half_detail::f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16((u >> 16) | 0x40);  // NaN: force quiet
    return uint16((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}

// One row of n values of type dt (unaligned bytes) converted to f32: out[n].
inline void row_to_f32(DType dt, const uint8* src, float* out, uint64 n) {
    if (dt == DType::F32) {
        std::memcpy(out, src, n * 4);
        return;
    }
    for (uint64 i = 0; i < n; ++i) {
        uint16 h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
}

}  // namespace vk_symbiote
