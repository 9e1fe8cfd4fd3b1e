// LayerKernels: the GPU kernels of one transformer layer, or of the head, for n tokens at
// positions [pos, pos + n), recorded into the open command buffer. Weights come from
// DeviceWeights' views (resident or in a slot); a shader-copy prompt pass records its weight
// copies between the kernel groups (ShaderCopyStream).
#pragma once

#include "backend/vulkan/ModelBuffers.h"
#include "backend/vulkan/ShaderCopyStream.h"

namespace vk_symbiote {

class LayerKernels {
public:
    LayerKernels(const VulkanContext& ctx, const ModelConfig& cfg, const DeviceWeights& w, const ModelBuffers& buf, ShaderCopyStream& copies,
                 const WeightStreamRing& ring, uint64& copied)
        : ctx_(ctx), cfg_(cfg), w_(w), buf_(buf), copies_(copies), ring_(ring), copied_(copied) {}
    // The recording context of a forward pass.
    OpContext op_context() const;
    RopeConfig rope(uint32 pos) const;
    FusedNorm fused_norm(TensorRole role, uint32 layer) const { return w_.fused_norm(cfg_, role, layer); }
    ExpectedVoid record_layer(OpContext& c, uint32 layer, uint32 n, uint32 pos);
    // Output norm + output matrix into logits for n_out tokens from x row `first`.
    ExpectedVoid record_head(OpContext& c, uint32 first, uint32 n_out);

private:
    ExpectedVoid stream_copies(OpContext& c, uint32 group);
    const VulkanContext& ctx_;
    const ModelConfig& cfg_;
    const DeviceWeights& w_;
    const ModelBuffers& buf_;
    ShaderCopyStream& copies_;
    const WeightStreamRing& ring_;
    uint64& copied_;
};

}  // namespace vk_symbiote
