// CpuSimd: the x86 building blocks that the CPU kernels (CpuKernels) and the batched weight
// product (CpuGemm) share, so that both sum a row's dot product with the same operations in the
// same order: a one-token matvec and a prompt batch give each token bitwise the same result.
// AVX2 + FMA + F16C (target attribute; callers check cpu_has_avx2() at run time).
#pragma once

#include "common/HalfFloat.h"
#include "vk_symbiote/Common.h"

#if defined(__x86_64__) || defined(__i386__)
#define VKS_X86 1
#include <immintrin.h>
#define VKS_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

namespace vk_symbiote::cpu {

namespace scalar {

// Element i of a row of weights of dtype D, as f32 (exact: f16 and bf16 widen without rounding).
template <DType D>
inline float load1(const void* w, uint64 i) {
    if constexpr (D == DType::F32) return static_cast<const float*>(w)[i];
    else if constexpr (D == DType::F16) return f16_to_f32(static_cast<const uint16*>(w)[i]);
    else return bf16_to_f32(static_cast<const uint16*>(w)[i]);
}

}  // namespace scalar

#ifdef VKS_X86
namespace avx2 {

// Weights [i, i + 8) of a row of dtype D as 8 floats.
template <DType D>
VKS_AVX2 inline __m256 load8(const void* w, uint64 i) {
    if constexpr (D == DType::F32) {
        return _mm256_loadu_ps(static_cast<const float*>(w) + i);
    } else if constexpr (D == DType::F16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16*>(w) + i)));
    } else {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16*>(w) + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
}

VKS_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// The end of every row dot product: a0 holds the lane sums of the even 8-column blocks, a1
// those of the odd ones (each block's products fused-added in column-block order); their sum,
// reduced, plus the columns [c, cols) past the last full 8-block, one at a time in order
// (finish_tail: the panel product reduces its lanes with vector adds of the same pairs).
template <DType D>
VKS_AVX2 inline float finish_tail(float s, const void* wr, const float* x, uint64 c, uint64 cols) {
    for (; c < cols; ++c) s += scalar::load1<D>(wr, c) * x[c];
    return s;
}
template <DType D>
VKS_AVX2 inline float finish_dot(__m256 a0, __m256 a1, const void* wr, const float* x, uint64 c, uint64 cols) {
    return finish_tail<D>(hsum(_mm256_add_ps(a0, a1)), wr, x, c, cols);
}

}  // namespace avx2
#endif

}  // namespace vk_symbiote::cpu
