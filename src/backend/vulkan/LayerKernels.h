// LayerKernels: the GPU kernels of one transformer layer, or of the head, for n tokens at
// positions [pos, pos + n), recorded into the open command buffer. Weights come from
// DeviceWeights' views (resident or in a slot); a shader-copy prompt pass records its weight
// copies between the kernel groups (ShaderCopyStream). The model family's features (biases,
// Q / K head norms, post norms, GELU, sliding windows, soft-caps) are recorded only for models
// that have them: a Llama layer is the same dispatches as ever.
#pragma once

#include "backend/vulkan/BatchRows.h"
#include "backend/vulkan/DeviceMoe.h"
#include "backend/vulkan/ModelBuffers.h"
#include "backend/vulkan/ShaderCopyStream.h"

namespace vk_symbiote {

class LayerKernels {
public:
    LayerKernels(const VulkanContext& ctx, const ModelConfig& cfg, const DeviceWeights& w, const ModelBuffers& buf, ShaderCopyStream& copies,
                 const WeightStreamRing& ring, uint64& copied)
        : ctx_(ctx), cfg_(cfg), w_(w), buf_(buf), copies_(copies), ring_(ring), copied_(copied) {}
    // A batched pass over the rows of several sequences (paged caches): rope and attention read
    // each row's position and sequence from the pass buffer (BatchRows); null: one sequence at pos.
    void set_rows(const BatchRows* rows) { rows_ = rows; }
    // The recording context of a forward pass.
    OpContext op_context() const;
    // Rope of layer `layer` for tokens from position pos: its table, base and scale.
    RopeConfig rope(uint32 layer, uint32 pos) const;
    // Whether a norm before n rows' weight kernels is fused into them: matvec-sized n, unless
    // --fuse-decode off (a separate rmsnorm into xn and a barrier).
    bool fuse_norm(const OpContext& c, uint32 n) const { return ctx_.opt.fuse_decode && fused_norm_applies(c, n); }
    // The norm `role` of `layer` (OutputNorm: any layer) in f32, as a kernel's gamma.
    FusedNorm fused_norm(TensorRole role, uint32 layer) const { return w_.fused_norm(cfg_, role, layer); }
    // A dense layer: the attention block, then the FFN (norm, gate / up, down into x).
    ExpectedVoid record_layer(OpContext& c, uint32 layer, uint32 n, uint32 pos);
    // Everything of a layer before its FFN: norm, Q / K / V, attention, x += Wo att.
    ExpectedVoid record_attention_block(OpContext& c, uint32 layer, uint32 n, uint32 pos);
    // A layer whose attention the host computes (KV cache in RAM: HostAttention), in two parts:
    // the norm and Q / K / V into q and k_new / v_new; then, once att holds the host's output,
    // x += Wo att and the FFN.
    ExpectedVoid record_qkv_block(OpContext& c, uint32 layer, uint32 n, uint32 pos);
    ExpectedVoid record_after_attention(OpContext& c, uint32 layer, uint32 n);
    // A mixture-of-experts FFN (DeviceMoe), first part: the FFN norm into xn and the router's
    // logits (n, n_expert) into moe.logits, then a barrier. The caller reads them back and
    // routes (moe.route(), table uploaded), then records the second part: the chosen experts
    // over their gathered rows and x += each token's weighted expert outputs.
    ExpectedVoid record_router(OpContext& c, uint32 layer, uint32 n, const DeviceMoe& moe);
    // The second part in three steps: xn rows gathered by expert (moe.table uploaded), the FFN
    // of some chosen experts over their rows (all at once, or a group at a time when their
    // streamed matrices take turns in the slot's expert places), then the weighted sum into x.
    ExpectedVoid record_expert_gather(OpContext& c, uint32 n, const DeviceMoe& moe);
    ExpectedVoid record_expert_ffn(OpContext& c, uint32 layer, const DeviceMoe& moe, const std::vector<DeviceMoe::ExpertRows>& experts);
    ExpectedVoid record_expert_combine(OpContext& c, uint32 n, const DeviceMoe& moe);
    // A one-token mixture-of-experts FFN routed on the device (every expert resident): the router,
    // moe_route.comp (choices of layer `layer`), every expert's gate / up and down as indirect
    // dispatches armed for the chosen experts only (expert e over xn into hg / yg row e), the
    // combine into x. No host wait: the layer records into the open command buffer.
    ExpectedVoid record_routed_ffn(OpContext& c, uint32 layer, const DeviceMoe& moe);
    // Output norm + output matrix into logits for n_out tokens from x row `first` (soft-capped
    // if the model says so).
    ExpectedVoid record_head(OpContext& c, uint32 first, uint32 n_out);
    // The same for the x rows `rows` (increasing) into logits rows [0, rows.size()): matvec-sized,
    // the head matvec with its fused norm over each run of consecutive rows in place; else each
    // run normed into xn, then one matmul. A row's logits are then computed as record_head
    // computes them for a batch of the same size class, whichever other rows a pass wants.
    ExpectedVoid record_head_rows(OpContext& c, const std::vector<uint32>& rows);

    // What the weight kernels after a norm read: decode (matvec-sized n): the raw x with the
    // norm fused into the matvecs; batches: xn, normed into first.
    struct NormedX {
        ActView x;
        FusedNorm norm;
        bool fused = false;
        const FusedNorm* fused_norm() const { return fused ? &norm : nullptr; }
    };
    // The Q / K / V weights of a layer's projections: the whole tensors, or the GPU's rows of
    // them in a rows split (from row_begin, whole heads).
    struct QkvWeights {
        const DeviceWeight& q;
        const DeviceWeight& k;
        const DeviceWeight& v;
    };
    // Q into q and K / V into the layer's KV rows for n tokens at pos, with the biases, Q / K
    // head norms, rope and f16 rounding, then a barrier.
    ExpectedVoid record_qkv(OpContext& c, uint32 layer, uint32 n, uint32 pos, const NormedX& in, const QkvWeights& w);
    // Attention of query heads [head_begin, n_head) of n tokens at pos (a batched pass: the
    // rows' own positions, over the paged caches) into att (the layer's scale, soft-cap and
    // window), then a barrier.
    ExpectedVoid record_attention(OpContext& c, uint32 layer, uint32 n, uint32 pos, uint32 head_begin = 0);

    // The norm `role` of `layer` for n tokens of x: fused (decode) or recorded into xn with a barrier.
    Expected<NormedX> normed_x(OpContext& c, TensorRole role, uint32 layer, uint32 n);

private:
    ExpectedVoid stream_copies(OpContext& c, uint32 group);
    // record_routed_ffn's expert kernels, every expert's from the next slots of c.indirect.
    ExpectedVoid record_indirect_experts(OpContext& c, uint32 layer, const DeviceMoe& moe);
    // x += Wo att (the attention output) with the layer's post norm.
    ExpectedVoid record_attention_out(OpContext& c, uint32 layer, uint32 n);
    // The dense FFN: norm, gate / up, down into x.
    ExpectedVoid record_ffn(OpContext& c, uint32 layer, uint32 n);
    // x += W in for n tokens; with post norms x += rmsnorm(W in) * post (W in through xn). Then a barrier.
    ExpectedVoid record_residual(OpContext& c, const DeviceWeight& w, ActView in, TensorRole post, uint32 layer, uint32 n);
    // The Q / K head norms with rope of the heads the weights' rows start at, then a barrier.
    ExpectedVoid record_head_norms(OpContext& c, uint32 layer, uint32 n, uint32 pos, const QkvWeights& w);
    // Without the head (a device's part of a split model): x rows [first == 0, n) to the logits rows.
    ExpectedVoid record_x_out(OpContext& c, uint32 first, uint32 n);
    // Soft-cap of logits rows [0, n_out) if the model has one (then a barrier).
    ExpectedVoid record_softcap(OpContext& c, uint32 n_out);
    const VulkanContext& ctx_;
    const ModelConfig& cfg_;
    const DeviceWeights& w_;
    const ModelBuffers& buf_;
    ShaderCopyStream& copies_;
    const WeightStreamRing& ring_;
    uint64& copied_;
    const BatchRows* rows_ = nullptr;
};

}  // namespace vk_symbiote
