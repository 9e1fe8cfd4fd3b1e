// DeviceMoe: the device side of a mixture-of-experts FFN (ModelConfig::is_moe()) on Vulkan.
// A layer's FFN runs in two submissions with the routing on the host between them:
//   GPU: FFN norm -> xn, router logits (n, n_expert) -> logits -> logits_rb (the only readback:
//        n_expert floats a token)
//   host: route(): cpu::route_token chooses each token's experts exactly as the CPU backend
//        (softmax, top k, ties to the lower expert, renormalized); the tables go to table_up
//   GPU: gather xn rows by expert -> xg; per chosen expert act(gate x) * up x -> hg and
//        down -> yg over its rows only; x += each token's weighted expert outputs (combine)
// Only the chosen experts' matrices are read by the kernels; a prompt's rows are grouped by
// expert (one gate/up and one down dispatch per chosen expert over all of its tokens).
#pragma once

#include <memory>
#include <vector>

#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VulkanContext.h"
#include "model/ModelConfig.h"

namespace vk_symbiote {

class DeviceMoe {
public:
    // An expert the last route() chose and its rows [first_row, first_row + rows) of xg / hg / yg.
    struct ExpertRows {
        uint32 expert = 0, first_row = 0, rows = 0;
    };
    // Device bytes of the buffers for batches of n_batch tokens, as VramPlan counts them
    // (block: the allocator's block size); 0 for a dense model.
    static uint64 device_bytes(const ModelConfig& cfg, uint32 n_batch, uint64 block);
    // Host-visible bytes (the readback and the table staging); 0 for a dense model.
    static uint64 host_bytes(const ModelConfig& cfg, uint32 n_batch);
    static Expected<std::unique_ptr<DeviceMoe>> create(VulkanContext& ctx, const ModelConfig& cfg, uint32 n_batch);

    // Routes n tokens from logits_rb (their router logits, after the submission that copied
    // them finished) and writes the tables into table_up; returns the tokens per expert
    // (n_expert), as WeightProvider::experts_routed takes them.
    const std::vector<uint32>& route(uint32 n);
    const std::vector<ExpertRows>& experts() const { return experts_; }  // ascending expert
    uint64 table_bytes() const { return uint64(table_words_) * 4; }      // of table_up to upload
    // Element offset in `table` of the combine pairs (the gather rows come first).
    uint32 combine_offset() const { return n_batch_ * cfg_.n_expert_used; }

    DeviceBuffer logits;     // (n_batch, n_expert) f32 router logits
    DeviceBuffer logits_rb;  // the same, host readback
    // uints: (n_batch k) gather rows (the token of each grouped row), then per token its k
    // (grouped row, f32 weight bits) pairs in ascending expert order (k = n_expert_used)
    DeviceBuffer table;
    DeviceBuffer table_up;   // the same, host staging
    DeviceBuffer xg, yg;     // (n_batch k, n_embd) gathered normed rows / expert outputs
    DeviceBuffer hg;         // (n_batch k, n_ff_expert) act(gate) * up

private:
    DeviceMoe(const ModelConfig& cfg, uint32 n_batch) : cfg_(cfg), n_batch_(n_batch) {}
    ModelConfig cfg_;
    uint32 n_batch_ = 0;
    uint32 table_words_ = 0;
    std::vector<uint32> counts_;           // (n_expert) tokens routed to each expert
    std::vector<ExpertRows> experts_;      // the chosen experts, ascending
};

}  // namespace vk_symbiote
