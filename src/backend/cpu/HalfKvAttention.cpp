#include "backend/cpu/HalfKvAttention.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/CpuSimd.h"

namespace vk_symbiote::cpu {

namespace {

float dot_scalar(const float* q, const uint16* k, uint32 n) {
    float s = 0.0f;
    for (uint32 i = 0; i < n; ++i) s += q[i] * f16_to_f32(k[i]);
    return s;
}

void axpy_scalar(float a, const uint16* v, float* out, uint32 n) {
    for (uint32 i = 0; i < n; ++i) out[i] += a * f16_to_f32(v[i]);
}

#ifdef VKS_X86
VKS_AVX2 float dot_avx2(const float* q, const uint16* k, uint32 n) {
    __m256 acc = _mm256_setzero_ps();
    uint32 i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), avx2::load8<DType::F16>(k, i), acc);
    float s = avx2::hsum(acc);
    for (; i < n; ++i) s += q[i] * f16_to_f32(k[i]);
    return s;
}

VKS_AVX2 void axpy_avx2(float a, const uint16* v, float* out, uint32 n) {
    const __m256 av = _mm256_set1_ps(a);
    uint32 i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_fmadd_ps(av, avx2::load8<DType::F16>(v, i), _mm256_loadu_ps(out + i)));
    for (; i < n; ++i) out[i] += a * f16_to_f32(v[i]);
}
#endif

}  // namespace

void attention_head_f16(const HalfKvArgs& a, KernelPath path) {
    const bool simd = resolve_path(path) == KernelPath::Avx2;
    auto dot = [&](const uint16* k) {
#ifdef VKS_X86
        if (simd) return dot_avx2(a.q, k, a.head_dim);
#endif
        return dot_scalar(a.q, k, a.head_dim);
    };
    // With a soft-cap the scale is divided by the cap first, as llama.cpp's flash attention does.
    const float s_scale = a.softcap > 0.0f ? a.scale / a.softcap : a.scale;
    float mx = -INFINITY;
    for (uint32 j = 0; j < a.n; ++j) {
        float s = dot(a.k + uint64(j) * a.kv_stride) * s_scale;
        if (a.softcap > 0.0f) s = a.softcap * std::tanh(s);
        a.scores[j] = s;
        mx = std::max(mx, s);
    }
    double sum = 0.0;
    for (uint32 j = 0; j < a.n; ++j) {
        a.scores[j] = std::exp(a.scores[j] - mx);
        sum += a.scores[j];
    }
    const float inv = sum > 0.0 ? float(1.0 / sum) : 0.0f;
    std::fill(a.out, a.out + a.head_dim, 0.0f);
    for (uint32 j = 0; j < a.n; ++j) {
        const uint16* v = a.v + uint64(j) * a.kv_stride;
#ifdef VKS_X86
        if (simd) {
            axpy_avx2(a.scores[j] * inv, v, a.out, a.head_dim);
            continue;
        }
#endif
        axpy_scalar(a.scores[j] * inv, v, a.out, a.head_dim);
    }
}

}  // namespace vk_symbiote::cpu
