#include "backend/vulkan/LayerKernels.h"

namespace vk_symbiote {

OpContext LayerKernels::op_context() const {
    OpContext c{ctx_.rt, ctx_.opt.spec, buf_.dummy.buffer(), ctx_.dev.caps().max_workgroup_count[0], ctx_.dev.caps().subgroup_size};
    if (ctx_.opt.matvec_small_lanes) c.matvec_small_lanes = ctx_.opt.matvec_small_lanes;
    return c;
}

RopeConfig LayerKernels::rope(uint32 pos) const {
    return RopeConfig{pos, cfg_.head_dim, cfg_.n_rot, cfg_.rope_style == RopeStyle::NeoX, cfg_.rope_freq_base, cfg_.rope_freq_scale,
                      buf_.rope_table.buffer(), ctx_.opt.kv_f16_rounding};
}

ExpectedVoid LayerKernels::stream_copies(OpContext& c, uint32 group) {
    // 4 workgroups by default: each copy workgroup holds an SM the prompt kernels then miss
    // (docs/tuning.md); 4 still keep enough loads in flight to fill the bus.
    const uint32 groups = ctx_.opt.copy_workgroups ? ctx_.opt.copy_workgroups : 4;
    return copies_.record(c, group, ring_, groups, copied_);
}

ExpectedVoid LayerKernels::record_layer(OpContext& c, uint32 l, uint32 n, uint32 pos) {
    auto W = [&](TensorRole r) -> const DeviceWeight& { return w_.at(r, int32(l)); };
    const uint32 E = cfg_.n_embd, Q = cfg_.q_dim();
    ActView x{buf_.x.buffer(), 0, E}, xn{buf_.xn.buffer(), 0, E}, q{buf_.q.buffer(), 0, Q}, att{buf_.att.buffer(), 0, Q}, hb{buf_.hb.buffer(), 0, cfg_.n_ff};
    const RopeConfig rope_cfg = rope(pos);
    auto& rt = c.rt;
    // Decode (matvec-sized n): the Q/K/V and SwiGLU matvecs apply the norms to the raw x
    // themselves (no rmsnorm dispatch, no barrier); batches normalize into xn first.
    const bool fuse = fused_norm_applies(n);
    const FusedNorm attn_norm = fused_norm(TensorRole::AttnNorm, l), ffn_norm = fused_norm(TensorRole::FfnNorm, l);
    const FusedNorm* an = fuse ? &attn_norm : nullptr;
    const FusedNorm* fn = fuse ? &ffn_norm : nullptr;
    const ActView xa = fuse ? x : xn;  // what the matvecs after a norm read
    if (!fuse) {
        VKS_TRY(op_rmsnorm(c, W(TensorRole::AttnNorm), x, xn, E, n, cfg_.rms_eps));
        rt.barrier();
    }
    // Q, K, V are independent: no barrier between them. K and V go straight into the f32 cache
    // rows [pos, pos + n), or into k_new / v_new, which the attention kernel stores into f16 caches.
    VKS_TRY(stream_copies(c, copy_group(l, kCopyQkv)));
    VKS_TRY(op_matmul_rope(c, W(TensorRole::Wq), xa, q, n, rope_cfg, an));
    VKS_TRY(op_matmul_rope(c, W(TensorRole::Wk), xa, buf_.k_target(l, pos), n, rope_cfg, an));
    VKS_TRY(op_matmul(c, W(TensorRole::Wv), xa, buf_.v_target(l, pos), n, false, ctx_.opt.kv_f16_rounding, an));
    rt.barrier();
    VKS_TRY(op_attention(c, AttentionShape{n, pos, cfg_.n_head, cfg_.n_head_kv, cfg_.head_dim}, q, buf_.k_cache[l].buffer(),
                         buf_.v_cache[l].buffer(), att, buf_.k_new_buffer(), buf_.v_new_buffer()));
    rt.barrier();
    VKS_TRY(stream_copies(c, copy_group(l, kCopyO)));
    VKS_TRY(op_matmul(c, W(TensorRole::Wo), att, x, n, true));  // x += Wo att (residual)
    rt.barrier();
    if (!fuse) {
        VKS_TRY(op_rmsnorm(c, W(TensorRole::FfnNorm), x, xn, E, n, cfg_.rms_eps));
        rt.barrier();
    }
    VKS_TRY(stream_copies(c, copy_group(l, kCopyGateUp)));
    VKS_TRY(op_swiglu(c, W(TensorRole::Wgate), W(TensorRole::Wup), xa, hb, n, fn));
    rt.barrier();
    VKS_TRY(stream_copies(c, copy_group(l, kCopyDown)));
    VKS_TRY(op_matmul(c, W(TensorRole::Wdown), hb, x, n, true));  // x += Wdown hb (residual)
    rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_head(OpContext& c, uint32 first, uint32 n_out) {
    const uint32 E = cfg_.n_embd, V = cfg_.n_vocab;
    // Matvec-sized n_out (decode; a batch's last token): the output norm fused into the head matvec.
    const bool fuse = fused_norm_applies(n_out);
    const FusedNorm out_norm = fused_norm(TensorRole::OutputNorm, 0);
    const ActView xo{buf_.x.buffer(), first * E, E}, xn{buf_.xn.buffer(), 0, E};
    if (!fuse) {
        VKS_TRY(op_rmsnorm(c, w_.at(TensorRole::OutputNorm, -1), xo, xn, E, n_out, cfg_.rms_eps));
        c.rt.barrier();
    }
    VKS_TRY(stream_copies(c, copy_group(cfg_.n_layer, kCopyQkv)));  // the head
    VKS_TRY(op_matmul(c, w_.at(TensorRole::Output, -1), fuse ? xo : xn, ActView{buf_.logits.buffer(), 0, V}, n_out, false, false,
                      fuse ? &out_norm : nullptr));
    c.rt.barrier();
    return {};
}

}  // namespace vk_symbiote
