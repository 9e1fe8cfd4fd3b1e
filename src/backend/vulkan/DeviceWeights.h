// DeviceWeights: the model's weight tensors as the device sees them. `tensors` lists them in
// use order (per layer, then the head), `plan` places each (resident or streamed, VramPlan),
// and `views` says where the kernels read each one: resident tensors in their own buffers
// (owned here, uploaded once), streamed ones in a ring slot (rebound per pass by bind_slot).
// Every vector tensor is also in `vectors` (f32), where the family's biases and extra norms
// live only.
#pragma once

#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/DeviceVectors.h"
#include "backend/vulkan/VramPlan.h"
#include "backend/vulkan/VulkanContext.h"
#include "backend/vulkan/VulkanOps.h"
#include "backend/vulkan/WeightStreamRing.h"
#include "backend/Backend.h"

namespace vk_symbiote {

uint64 round_up(uint64 v, uint64 a);

// A device tensor of the VRAM plan: the matrices and the norms before attention, the FFN and
// the head. The embedding table stays on the host (rows fetched per token); a tied output is
// the Output tensor, which the registry binds to the embedding table's bytes (and the pack
// planner serves as the head's packs). The family's vectors (biases, Q / K head norms, post
// norms) are read from DeviceVectors only.
bool tensor_on_device(TensorRole role);

// Calls fn(slice, piece, r0, r1) for every overlap [r0, r1) of a provider slice (rows as
// they arrived from the packs) with a planned device piece.
template <class Fn>
ExpectedVoid for_each_overlap(const std::vector<WeightSlice>& slices, const std::vector<VramPiece>& pieces, Fn&& fn) {
    for (const auto& s : slices)
        for (const VramPiece& pc : pieces) {
            const uint64 r0 = std::max(s.row_begin, pc.row_begin), r1 = std::min(s.row_end, pc.row_begin + pc.rows);
            if (r0 < r1) VKS_TRY(fn(s, pc, r0, r1));
        }
    return {};
}

class DeviceWeights {
public:
    // Lists the device tensors of `weights` in use order (fills tensors, seg_bytes).
    void list(const WeightProvider& weights, const ModelConfig& cfg);
    // With `plan` set: per segment, the tensors that stream.
    void mark_streamed(uint32 n_segments);
    // Streamed tensors: views into their segment's slot (the k-th streaming segment of a pass
    // uses slot k % slots).
    void view_streamed(const WeightProvider& weights, const WeightStreamRing& ring);
    ExpectedVoid upload_resident(VulkanContext& ctx, WeightProvider& weights, size_t i, uint64& uploaded);
    // The norm `role` of `layer` (AttnNorm / FfnNorm / a family norm; OutputNorm: any layer) in
    // f32 from `vectors`, as a kernel's gamma.
    FusedNorm fused_norm(const ModelConfig& cfg, TensorRole role, uint32 layer) const;
    void bind_slot(uint32 segment, VkBuffer slot);
    // A streamed expert's views at `base` in `buffer` (its slot's expert place, or its expert
    // cache entry): each piece at base + its offset in the place (VramPlan).
    void bind_expert(uint32 layer, uint32 expert, VkBuffer buffer, uint64 base);

    const DeviceWeight& at(TensorRole role, int32 layer) const { return views.at(key(TensorId{role, layer})); }
    const DeviceWeight& at(TensorId id) const { return views.at(key(id)); }  // an expert's matrix: id.expert
    const DeviceWeight* find(TensorId id) const;
    bool streams(uint32 segment) const { return !streamed[segment].empty(); }
    uint32 streamed_layer_count(uint32 n_layer) const;  // layers with at least one streamed tensor

    std::vector<VramTensor> tensors;               // device tensors in use order (plan input)
    VramPlan plan;
    std::vector<std::vector<size_t>> streamed;     // per segment: indexes into tensors that stream
    std::vector<uint64> seg_bytes;                 // per segment: weight bytes (all its tensors)
    std::vector<uint64> seg_expert_bytes;          // per segment: of those, every expert's (a pass reads the chosen ones)
    std::vector<std::vector<size_t>> experts;      // (n_layer * n_expert): each expert's tensors (indexes into tensors)
    uint32 n_expert = 0;                           // experts a layer (0: dense model)
    using ViewKey = std::tuple<uint32, int32, int32>;  // (role, layer, expert)
    static ViewKey key(TensorId id) { return {uint32(id.role), id.layer, id.expert}; }
    std::map<ViewKey, DeviceWeight> views;         // where the kernels read each tensor
    DeviceVectors vectors;                         // every vector tensor in f32

private:
    std::vector<DeviceBuffer> resident_;           // pieces of resident tensors
};

}  // namespace vk_symbiote
