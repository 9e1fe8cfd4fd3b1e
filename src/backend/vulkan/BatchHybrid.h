// BatchHybrid: the hybrid CPU part of batched passes over a KV pool (BatchRowsPass): a CPU
// backend over the same weights that computes the rows split's CPU rows of every streamed
// matrix for all B rows of a pass, the exchange buffers between host and device, and the
// split's per-B model (BatchSplit). The pool on the device holds every head's K / V and runs
// all of the attention, so the CPU side keeps no KV cache (unlike HybridDecode's one
// sequence, whose CPU heads attend from RAM).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "backend/cpu/CpuBackend.h"
#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VulkanContext.h"
#include "oracle/BatchSplit.h"

namespace vk_symbiote {

struct BatchHybrid {
    // n_batch: the most rows of a pass; min_heads: RowsSplit::min_cpu_heads.
    static Expected<std::unique_ptr<BatchHybrid>> create(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg, uint32 n_batch,
                                                          uint32 min_heads);
    BatchHybrid(const ModelConfig& cfg, uint32 min_heads) : split(cfg.n_head_kv, min_heads) {}

    std::unique_ptr<CpuBackend> cpu;  // prepared for n_batch rows; its KV cache is one unused block
    BatchSplit split;
    DeviceBuffer up;    // (n_batch, max(n_embd, q_dim + 2 kv_dim, n_ff)) f32, host -> device
    DeviceBuffer down;  // (n_batch, max(n_embd, q_dim, n_ff, n_vocab)) f32, device -> host
    std::vector<float> x;       // (n_batch, n_embd) the residual stream while the host holds it
    std::vector<float> part;    // (n_batch, max(q_dim + 2 kv_dim, n_embd, n_ff, n_vocab)) the CPU's rows of a matrix
    std::vector<float> full;    // (n_batch, max(q_dim, n_ff, n_embd)) an assembled input or output (attention, hidden, post-norm block)
    std::vector<float> logits;  // (n_out, n_vocab) the pass's logits rows (BatchRows::out_rows order)
    uint32 last_heads = 0;      // CPU KV heads of the last batched pass (0: every layer streamed whole)
    std::map<uint32, uint32> logged;  // row class -> the CPU heads last logged for it (a class's first split and each change)
};

}  // namespace vk_symbiote
