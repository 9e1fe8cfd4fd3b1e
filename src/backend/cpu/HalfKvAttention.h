// HalfKvAttention: causal attention of one token and one head over K / V rows stored as IEEE
// half (f16) bits, as the host keeps the caches that the VRAM budget sends to RAM
// (HostAttention): the values are f16-rounded as they enter any f16 cache, so storing the bits
// loses nothing and halves the RAM and the bytes each decode token reads. The same steps as
// cpu::attention_head (scores, soft-cap, softmax with the max subtracted, the weighted sum of
// V), the rows widened to f32 as they are read.
#pragma once

#include "backend/cpu/CpuKernels.h"

namespace vk_symbiote::cpu {

struct HalfKvArgs {
    const float* q = nullptr;   // (head_dim)
    const uint16* k = nullptr;  // row 0 of this head's K slice; rows kv_stride halves apart
    const uint16* v = nullptr;  // the same for V
    uint64 kv_stride = 0;       // halves between rows (kv_dim)
    uint32 n = 0;               // rows (positions) attended to
    uint32 head_dim = 0;
    float scale = 1.0f;
    float softcap = 0.0f;       // s = softcap * tanh(q.k * scale / softcap); 0: none
    float* scores = nullptr;    // scratch of n floats
    float* out = nullptr;       // (head_dim)
};

// out = sum_j softmax_j(score(q, k_j)) v_j over rows [0, n).
void attention_head_f16(const HalfKvArgs& a, KernelPath path = KernelPath::Auto);

}  // namespace vk_symbiote::cpu
