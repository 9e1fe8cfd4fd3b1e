// HybridDecode: when weights stream, a CPU backend computes part of every decode token from
// RAM while the GPU streams and computes the rest (x crosses the bus at each switch). The
// split is either whole streamed layers (cpu_layer) or rows of every streamed layer
// (RowsSplit); ComputeSplit searches its size from measured token times.
#pragma once

#include <memory>
#include <vector>

#include "backend/vulkan/DeviceWeights.h"
#include "backend/vulkan/HybridKv.h"
#include "oracle/ComputeSplit.h"

namespace vk_symbiote {

class HybridDecode {
public:
    // A CPU backend over the same weights (same KV precision) and the exchange buffers.
    static Expected<std::unique_ptr<HybridDecode>> create(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg, uint32 n_ctx,
                                                           ModelBuffers& buf, uint64& kv_sync_bytes);
    // Layers split: the oracle's split over the streamed layers in use order, onto layers.
    void apply_layers(const DeviceWeights& w, uint32 n_layer);
    bool on_cpu(uint32 seg) const { return seg < cpu_layer.size() && cpu_layer[seg]; }

    std::unique_ptr<CpuBackend> cpu;
    std::unique_ptr<HybridKv> kv;
    std::unique_ptr<ComputeSplit> split;  // CPU layers, or the rows split's CPU KV heads above the minimum
    std::vector<uint8> cpu_layer;         // per layer: computed on the CPU in decode
    uint32 cpu_layers = 0;
    DeviceBuffer x_down;                  // (max(n_embd, q_dim, n_ff)) f32: device -> host
    std::vector<float> att_h, h_h, logits_h;  // (q_dim), (n_ff), (n_vocab) host parts of the rows split
    std::vector<float> o_h;                   // (n_embd) rows split with post norms: a block's output before its norm
};

}  // namespace vk_symbiote
