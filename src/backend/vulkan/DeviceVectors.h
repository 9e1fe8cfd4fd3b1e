// DeviceVectors: every vector tensor of a model (the norm weights, and the family's Q / K / V
// biases, Q / K head norms and post norms) converted once to f32 into one device buffer, which
// the kernels read at element offsets: fused norms (gamma), row biases, head norms, post norms.
// Each vector starts at a multiple of 4 floats (the matvec's 16-byte gamma loads). The family
// vectors are not device tensors of the VRAM plan: this table is their only device copy.
#pragma once

#include <map>
#include <utility>

#include "backend/vulkan/DeviceBuffer.h"
#include "backend/vulkan/VulkanContext.h"
#include "backend/vulkan/VulkanOps.h"
#include "memory/WeightProvider.h"
#include "model/TensorRegistry.h"

namespace vk_symbiote {

class DeviceVectors {
public:
    // Floats of the table for `cfg` (the VRAM plan counts it before anything is uploaded).
    static uint64 table_floats(const ModelConfig& cfg);
    // Reads every vector tensor of `weights` once, converts it to f32 and uploads the table.
    ExpectedVoid upload(VulkanContext& ctx, WeightProvider& weights);

    // The norm weights `id` as a kernel's gamma (a fused norm, post norm or head norm).
    FusedNorm norm(TensorId id, float eps) const { return FusedNorm{buffer_.buffer(), offset(id), eps}; }
    // The bias `id` (BiasQ / BiasK / BiasV) of weight rows from row 0.
    RowBias bias(TensorId id) const { return RowBias{buffer_.buffer(), offset(id)}; }
    uint32 offset(TensorId id) const { return offsets_.at({uint32(id.role), id.layer}); }
    VkBuffer buffer() const { return buffer_.buffer(); }

private:
    DeviceBuffer buffer_;
    std::map<std::pair<uint32, int32>, uint32> offsets_;  // (role, layer) -> element offset
};

}  // namespace vk_symbiote
