#include "backend/cpu/PagedAttention.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote::cpu {

namespace {

const float* paged_row(const PagedRows& r, uint32 j, uint64 col) {
    return r.blocks[j / r.block_positions] + uint64(j % r.block_positions) * r.stride + col;
}

}  // namespace

void paged_attention_head(const PagedAttentionArgs& a, KernelPath path) {
    // With a soft-cap the scale is divided by the cap first, as llama.cpp's flash attention does.
    const float s_scale = a.softcap > 0.0f ? a.scale / a.softcap : a.scale;
    const uint32 n = a.end - a.first;
    float mx = -INFINITY;
    for (uint32 i = 0; i < n; ++i) {
        float s = dot_f32(a.q, paged_row(a.k, a.first + i, a.col), a.head_dim, path) * s_scale;
        if (a.softcap > 0.0f) s = a.softcap * std::tanh(s);
        a.scores[i] = s;
        mx = std::max(mx, s);
    }
    double sum = 0.0;
    for (uint32 i = 0; i < n; ++i) {
        a.scores[i] = std::exp(a.scores[i] - mx);
        sum += a.scores[i];
    }
    const float inv = sum > 0.0 ? float(1.0 / sum) : 0.0f;
    std::fill(a.out, a.out + a.head_dim, 0.0f);
    for (uint32 i = 0; i < n; ++i) axpy_f32(a.scores[i] * inv, paged_row(a.v, a.first + i, a.col), a.out, a.head_dim, path);
}

}  // namespace vk_symbiote::cpu
