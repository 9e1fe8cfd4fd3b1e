#include "backend/cpu/PagedAttention.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote::cpu {

namespace {

const float* paged_row(const PagedRows& r, uint32 j, uint64 col) {
    return r.blocks[j / r.block_positions] + uint64(j % r.block_positions) * r.stride + col;
}

}  // namespace

void paged_attention_head(const float* q, const PagedRows& k, const PagedRows& v, uint64 col, uint32 n_kv, uint32 head_dim, float scale,
                          float* scores, float* out, KernelPath path) {
    float mx = -INFINITY;
    for (uint32 j = 0; j < n_kv; ++j) {
        scores[j] = dot_f32(q, paged_row(k, j, col), head_dim, path) * scale;
        mx = std::max(mx, scores[j]);
    }
    double sum = 0.0;
    for (uint32 j = 0; j < n_kv; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
    }
    const float inv = sum > 0.0 ? float(1.0 / sum) : 0.0f;
    std::fill(out, out + head_dim, 0.0f);
    for (uint32 j = 0; j < n_kv; ++j) axpy_f32(scores[j] * inv, paged_row(v, j, col), out, head_dim, path);
}

}  // namespace vk_symbiote::cpu
