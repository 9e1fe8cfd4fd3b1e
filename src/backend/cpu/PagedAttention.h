// PagedAttention: causal attention of one token and one head over a sequence's K / V rows
// stored in KV blocks (CpuKvStore): position j's row is blocks[j / P] + (j % P) x stride.
// The same operations in the same order as cpu::attention_head over contiguous rows (the
// soft-cap included), so the two give bit-identical results.
#pragma once

#include "backend/cpu/CpuKernels.h"

namespace vk_symbiote::cpu {

// The rows of one layer and one kind (K or V) of a sequence: blocks[b] points at the row
// of the block's first position.
struct PagedRows {
    const float* const* blocks = nullptr;
    uint32 block_positions = 0;
    uint64 stride = 0;  // floats between consecutive rows of a block (kv_dim)
};

struct PagedAttentionArgs {
    const float* q = nullptr;  // (head_dim)
    PagedRows k, v;
    uint64 col = 0;            // this head's first column in each row
    uint32 first = 0;          // positions [first, end) are attended to (a sliding window starts late)
    uint32 end = 0;
    uint32 head_dim = 0;
    float scale = 1.0f;
    float softcap = 0.0f;      // s = softcap * tanh(q.k * scale / softcap); 0: none
    float* scores = nullptr;   // scratch of end - first floats
    float* out = nullptr;      // (head_dim)
};

// out = sum_j softmax_j(score(q, k_j)) v_j over positions j in [first, end).
void paged_attention_head(const PagedAttentionArgs& a, KernelPath path = KernelPath::Auto);

}  // namespace vk_symbiote::cpu
