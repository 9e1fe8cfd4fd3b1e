// PagedAttention: causal attention of one token and one head over a sequence's K / V rows
// stored in KV blocks (CpuKvStore): position j's row is blocks[j / P] + (j % P) x stride.
// The same operations in the same order as cpu::attention_head over contiguous rows, so
// the two give bit-identical results.
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

// out[head_dim] = sum_j softmax_j(q . k_j x scale) v_j over positions j < n_kv, with this
// head's columns starting at column `col` of each row; scores: scratch of n_kv floats.
void paged_attention_head(const float* q, const PagedRows& k, const PagedRows& v, uint64 col, uint32 n_kv, uint32 head_dim, float scale,
                          float* scores, float* out, KernelPath path = KernelPath::Auto);

}  // namespace vk_symbiote::cpu
