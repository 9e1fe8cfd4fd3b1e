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
// Device routing (--moe-routing, ForwardPass::routed_on_device): a one-token pass over a layer
// whose experts are all resident routes in one submission with no host wait:
//   GPU: FFN norm -> xn, router logits, moe_route.comp: the host's choice (cpu::route_token,
//        the same operations, bit for bit) into the combine pairs of `table`, the choices into
//        `choices` and the armed (chosen) or emptied (others) group counts into `args`
//   GPU: every expert's gate/up and down as indirect dispatches from `args` (an unchosen one's
//        are empty: only the chosen experts' matrices are read), expert e's rows at row e of
//        hg / yg; the combine as above
// and once the pass finished, learn_choices() hands the choices to the provider (popularity).
// Layers whose experts stream keep the host routing: it must know which experts to upload.
#pragma once

#include <memory>
#include <vector>

#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VulkanContext.h"
#include "memory/WeightProvider.h"
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
    // Host-visible bytes (the readbacks and the stagings); 0 for a dense model.
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
    DeviceBuffer xg, yg;     // (max(n_batch k, n_expert), n_embd) gathered normed rows / expert outputs
    DeviceBuffer hg;         // (max(n_batch k, n_expert), n_ff_expert) act(gate) * up
    // Device routing: (n_layer, kSlotsPerExpert n_expert) indirect dispatches, 4 uints each:
    // `args` their group counts (x, y, z; the routing kernel's output), `slots` (host-visible)
    // what the recording asked for (x, y, z, expert); slot_count() a layer.
    DeviceBuffer args, slots;
    DeviceBuffer choices;    // (n_layer, n_expert_used) the device-routed token's experts, host-visible
    static constexpr uint32 kSlotsPerExpert = 4;  // gate/up and down dispatches (more: pieces)
    uint32 slot_count() const { return kSlotsPerExpert * cfg_.n_expert; }

    // Layer l was routed on the device in the pass being recorded (forget_choices: at its start).
    void note_device_routed(uint32 l) { device_routed_.push_back(l); }
    void forget_choices() { device_routed_.clear(); }
    // After the pass finished: the device-routed layers' choices to weights.experts_routed(),
    // in layer order (as the host routing reports them); then forgets them.
    void learn_choices(WeightProvider& weights);

private:
    DeviceMoe(const ModelConfig& cfg, uint32 n_batch) : cfg_(cfg), n_batch_(n_batch) {}
    ModelConfig cfg_;
    uint32 n_batch_ = 0;
    uint32 table_words_ = 0;
    std::vector<uint32> counts_;           // (n_expert) tokens routed to each expert
    std::vector<ExpertRows> experts_;      // the chosen experts, ascending
    std::vector<uint32> device_routed_;    // layers routed on the device in the last pass
};

}  // namespace vk_symbiote
