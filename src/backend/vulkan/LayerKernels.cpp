#include "backend/vulkan/LayerKernels.h"

#include <algorithm>

#include "backend/vulkan/MoeRoute.h"
#include "backend/vulkan/SplitKAttention.h"

namespace vk_symbiote {

namespace {

// The rows of v from token `first` on.
ActView from_token(ActView v, uint32 first) { return ActView{v.buffer, v.offset + first * v.stride, v.stride}; }

// Keys of the longest row of a batched pass (each row sees its positions up to its own, or a window of them).
uint32 longest_row(const BatchRows& rows, uint32 window) {
    uint32 keys = 0;
    for (uint32 r = 0; r < rows.n_rows(); ++r) keys = std::max(keys, window ? std::min(window, rows.position(r) + 1) : rows.position(r) + 1);
    return keys;
}

}  // namespace

OpContext LayerKernels::op_context() const {
    OpContext c{ctx_.rt, ctx_.opt.spec, buf_.dummy.buffer(), ctx_.dev.caps().max_workgroup_count[0], ctx_.dev.caps().subgroup_size};
    if (ctx_.opt.matvec_small_lanes) c.matvec_small_lanes = ctx_.opt.matvec_small_lanes;
    c.smalln_max_tokens = ctx_.opt.smalln_max_tokens;
    c.smalln_block = ctx_.opt.smalln_block;
    c.smalln_kernel = ctx_.opt.smalln_kernel;
    c.prompt_attention = ctx_.opt.prompt_attention;
    return c;
}

RopeConfig LayerKernels::rope(uint32 l, uint32 pos) const {
    if (rows_) {  // each row's (cos, sin) gathered at its position: rows [0, n), a sliding layer's own table's from n
        const uint32 pos0 = buf_.rope_table_swa && cfg_.is_sliding(l) ? rows_->n_rows() : 0;
        return RopeConfig{pos0, cfg_.head_dim, cfg_.n_rot, cfg_.rope_style == RopeStyle::NeoX, cfg_.rope_base(l), cfg_.rope_scale(l),
                          buf_.pass_rows.buffer(), ctx_.opt.kv_f16_rounding};
    }
    return RopeConfig{pos, cfg_.head_dim, cfg_.n_rot, cfg_.rope_style == RopeStyle::NeoX, cfg_.rope_base(l), cfg_.rope_scale(l),
                      buf_.rope_table_of(l), ctx_.opt.kv_f16_rounding};
}

ExpectedVoid LayerKernels::stream_copies(OpContext& c, uint32 group) {
    // 4 workgroups by default: each copy workgroup holds an SM the prompt kernels then miss
    // (docs/tuning.md); 4 still keep enough loads in flight to fill the bus.
    const uint32 groups = ctx_.opt.copy_workgroups ? ctx_.opt.copy_workgroups : 4;
    return copies_.record(c, group, ring_, groups, copied_);
}

Expected<LayerKernels::NormedX> LayerKernels::normed_x(OpContext& c, TensorRole role, uint32 l, uint32 n) {
    const uint32 E = cfg_.n_embd;
    NormedX in{ActView{buf_.x.buffer(), 0, E}, fused_norm(role, l), fuse_norm(c, n)};
    if (in.fused) return in;
    VKS_TRY(op_rmsnorm(c, w_.at(role, int32(l)), in.x, ActView{buf_.xn.buffer(), 0, E}, E, n, cfg_.rms_eps));
    c.rt.barrier();
    in.x = ActView{buf_.xn.buffer(), 0, E};
    return in;
}

ExpectedVoid LayerKernels::record_layer(OpContext& c, uint32 l, uint32 n, uint32 pos) {
    VKS_TRY(record_attention_block(c, l, n, pos));
    return record_ffn(c, l, n);
}

ExpectedVoid LayerKernels::record_ffn(OpContext& c, uint32 l, uint32 n) {
    auto W = [&](TensorRole r) -> const DeviceWeight& { return w_.at(r, int32(l)); };
    auto fn = normed_x(c, TensorRole::FfnNorm, l, n);
    if (!fn) return fn.error();
    const ActView hb{buf_.hb.buffer(), 0, cfg_.n_ff};
    VKS_TRY(stream_copies(c, copy_group(l, kCopyGateUp)));
    VKS_TRY(op_swiglu(c, W(TensorRole::Wgate), W(TensorRole::Wup), fn->x, hb, n, fn->fused_norm(), cfg_.activation));
    c.rt.barrier();
    VKS_TRY(stream_copies(c, copy_group(l, kCopyDown)));
    return record_residual(c, W(TensorRole::Wdown), hb, TensorRole::PostFfnNorm, l, n);
}

ExpectedVoid LayerKernels::record_attention_block(OpContext& c, uint32 l, uint32 n, uint32 pos) {
    VKS_TRY(record_qkv_block(c, l, n, pos));
    VKS_TRY(record_attention(c, l, n, pos));
    return record_attention_out(c, l, n);
}

ExpectedVoid LayerKernels::record_qkv_block(OpContext& c, uint32 l, uint32 n, uint32 pos) {
    auto W = [&](TensorRole r) -> const DeviceWeight& { return w_.at(r, int32(l)); };
    auto an = normed_x(c, TensorRole::AttnNorm, l, n);
    if (!an) return an.error();
    // Q, K, V are independent: no barrier between them. K and V go straight into the f32 cache
    // rows [pos, pos + n), or into k_new / v_new, which the attention kernel stores into f16 caches.
    VKS_TRY(stream_copies(c, copy_group(l, kCopyQkv)));
    return record_qkv(c, l, n, pos, *an, QkvWeights{W(TensorRole::Wq), W(TensorRole::Wk), W(TensorRole::Wv)});
}

ExpectedVoid LayerKernels::record_after_attention(OpContext& c, uint32 l, uint32 n) {
    VKS_TRY(record_attention_out(c, l, n));
    return record_ffn(c, l, n);
}

ExpectedVoid LayerKernels::record_attention_out(OpContext& c, uint32 l, uint32 n) {
    VKS_TRY(stream_copies(c, copy_group(l, kCopyO)));
    return record_residual(c, w_.at(TensorRole::Wo, int32(l)), ActView{buf_.att.buffer(), 0, cfg_.q_dim()}, TensorRole::PostAttnNorm, l, n);
}

ExpectedVoid LayerKernels::record_router(OpContext& c, uint32 l, uint32 n, const DeviceMoe& moe) {
    const uint32 E = cfg_.n_embd;
    // xn is normed even in decode: the router and every chosen expert read it.
    VKS_TRY(op_rmsnorm(c, w_.at(TensorRole::FfnNorm, int32(l)), ActView{buf_.x.buffer(), 0, E}, ActView{buf_.xn.buffer(), 0, E}, E, n, cfg_.rms_eps));
    c.rt.barrier();
    VKS_TRY(stream_copies(c, copy_group(l, kCopyGateUp)));
    VKS_TRY(op_matmul(c, w_.at(TensorRole::Router, int32(l)), ActView{buf_.xn.buffer(), 0, E}, ActView{moe.logits.buffer(), 0, cfg_.n_expert}, n, false));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_expert_gather(OpContext& c, uint32 n, const DeviceMoe& moe) {
    const uint32 E = cfg_.n_embd;
    VKS_TRY(op_moe_gather(c, ActView{buf_.xn.buffer(), 0, E}, ActView{moe.xg.buffer(), 0, E}, E, n * cfg_.n_expert_used, moe.table.buffer(), 0));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_expert_ffn(OpContext& c, uint32 l, const DeviceMoe& moe, const std::vector<DeviceMoe::ExpertRows>& experts) {
    const uint32 E = cfg_.n_embd, F = cfg_.n_ff_expert;
    const int32 L = int32(l);
    // The chosen experts are independent: no barrier between their dispatches.
    for (const DeviceMoe::ExpertRows& r : experts) {
        const int32 X = int32(r.expert);
        VKS_TRY(op_swiglu(c, w_.at({TensorRole::ExpGate, L, X}), w_.at({TensorRole::ExpUp, L, X}), ActView{moe.xg.buffer(), r.first_row * E, E},
                          ActView{moe.hg.buffer(), r.first_row * F, F}, r.rows, nullptr, cfg_.activation));
    }
    c.rt.barrier();
    VKS_TRY(stream_copies(c, copy_group(l, kCopyDown)));
    for (const DeviceMoe::ExpertRows& r : experts)
        VKS_TRY(op_matmul(c, w_.at({TensorRole::ExpDown, L, int32(r.expert)}), ActView{moe.hg.buffer(), r.first_row * F, F},
                          ActView{moe.yg.buffer(), r.first_row * E, E}, r.rows, false));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_expert_combine(OpContext& c, uint32 n, const DeviceMoe& moe) {
    const uint32 E = cfg_.n_embd;
    VKS_TRY(op_moe_combine(c, ActView{moe.yg.buffer(), 0, E}, ActView{buf_.x.buffer(), 0, E}, E, n, cfg_.n_expert_used, moe.table.buffer(),
                           moe.combine_offset()));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_routed_ffn(OpContext& c, uint32 l, const DeviceMoe& moe) {
    VKS_TRY(record_router(c, l, 1, moe));
    const uint32 n = moe.slot_count(), first = l * n;  // the layer's own slots
    const MoeRouteBuffers b{ActView{moe.logits.buffer(), 0, cfg_.n_expert}, moe.table.buffer(), moe.choices.buffer(), moe.slots.buffer(), moe.args.buffer(),
                            n, first};
    VKS_TRY(op_moe_route(c, cfg_, 1, b, moe.combine_offset(), l * cfg_.n_expert_used));
    c.rt.barrier_indirect();
    // The slots are the host's requests, read by the routing kernel once submitted: all of them
    // written now (the unused ones empty) are what that submission sees.
    IndirectSlots ind{moe.args.buffer(), static_cast<uint32*>(moe.slots.mapped()), first, n, 0, 0};
    c.indirect = &ind;
    auto r = record_indirect_experts(c, l, moe);
    c.indirect = nullptr;
    VKS_TRY(r);
    std::fill(ind.slots + 4ull * (first + ind.next), ind.slots + 4ull * (first + n), 0u);
    return record_expert_combine(c, 1, moe);
}

ExpectedVoid LayerKernels::record_indirect_experts(OpContext& c, uint32 l, const DeviceMoe& moe) {
    const uint32 E = cfg_.n_embd, F = cfg_.n_ff_expert;
    const int32 L = int32(l);
    const ActView xn{buf_.xn.buffer(), 0, E};
    for (uint32 e = 0; e < cfg_.n_expert; ++e) {  // independent: no barrier between them
        c.indirect->expert = e;
        VKS_TRY(op_swiglu(c, w_.at({TensorRole::ExpGate, L, int32(e)}), w_.at({TensorRole::ExpUp, L, int32(e)}), xn, ActView{moe.hg.buffer(), e * F, F}, 1,
                          nullptr, cfg_.activation));
    }
    c.rt.barrier();
    for (uint32 e = 0; e < cfg_.n_expert; ++e) {
        c.indirect->expert = e;
        VKS_TRY(op_matmul(c, w_.at({TensorRole::ExpDown, L, int32(e)}), ActView{moe.hg.buffer(), e * F, F}, ActView{moe.yg.buffer(), e * E, E}, 1, false));
    }
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_qkv(OpContext& c, uint32 l, uint32 n, uint32 pos, const NormedX& in, const QkvWeights& w) {
    const int32 L = int32(l);
    const bool biased = cfg_.has_qkv_bias, head_norms = cfg_.has_qk_norm;
    const RowBias bq = biased ? w_.vectors.bias({TensorRole::BiasQ, L}) : RowBias{}, bk = biased ? w_.vectors.bias({TensorRole::BiasK, L}) : RowBias{},
                  bv = biased ? w_.vectors.bias({TensorRole::BiasV, L}) : RowBias{};
    const FusedNorm* norm = in.fused_norm();
    const ActView q{buf_.q.buffer(), 0, cfg_.q_dim()};
    // Rope is fused into the Q / K projections unless head norms come between (record_head_norms).
    if (head_norms) VKS_TRY(op_matmul(c, w.q, in.x, q, n, false, false, norm, biased ? &bq : nullptr));
    else VKS_TRY(op_matmul_rope(c, w.q, in.x, q, n, rope(l, pos), norm, biased ? &bq : nullptr));
    const ModelBuffers::KvTargets kv = buf_.kv_targets(l, pos, n);
    for (uint32 i = 0; i < kv.count; ++i) {
        const ModelBuffers::KvTarget& r = kv.run[i];
        const ActView xr = from_token(in.x, r.first);
        if (head_norms) VKS_TRY(op_matmul(c, w.k, xr, r.k, r.n, false, false, norm, biased ? &bk : nullptr));
        else VKS_TRY(op_matmul_rope(c, w.k, xr, r.k, r.n, rope(l, pos + r.first), norm, biased ? &bk : nullptr));
        VKS_TRY(op_matmul(c, w.v, xr, r.v, r.n, false, ctx_.opt.kv_f16_rounding, norm, biased ? &bv : nullptr));
    }
    c.rt.barrier();
    return head_norms ? record_head_norms(c, l, n, pos, w) : ExpectedVoid{};
}

ExpectedVoid LayerKernels::record_head_norms(OpContext& c, uint32 l, uint32 n, uint32 pos, const QkvWeights& w) {
    const uint32 hd = cfg_.head_dim, q_head0 = w.q.row_begin / hd, kv_head0 = w.k.row_begin / hd;
    const ActView q{buf_.q.buffer(), q_head0 * hd, cfg_.q_dim()};
    VKS_TRY(op_head_norm_rope(c, fused_norm(TensorRole::AttnQNorm, l), q, cfg_.n_head - q_head0, n, rope(l, pos)));
    const ModelBuffers::KvTargets kv = buf_.kv_targets(l, pos, n);
    for (uint32 i = 0; i < kv.count; ++i) {
        const ModelBuffers::KvTarget& r = kv.run[i];
        const ActView k{r.k.buffer, r.k.offset + kv_head0 * hd, r.k.stride};
        VKS_TRY(op_head_norm_rope(c, fused_norm(TensorRole::AttnKNorm, l), k, cfg_.n_head_kv - kv_head0, r.n, rope(l, pos + r.first)));
    }
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_attention(OpContext& c, uint32 l, uint32 n, uint32 pos, uint32 head_begin) {
    AttentionShape s{n, pos, cfg_.n_head, cfg_.n_head_kv, cfg_.head_dim, head_begin};
    s.scale = cfg_.attention_scale();
    s.softcap = cfg_.attn_softcap;
    if (cfg_.is_sliding(l)) {
        s.window = cfg_.sliding_window;
        s.kv_rows = buf_.kv_rows(l);
    }
    const ActView q{buf_.q.buffer(), 0, cfg_.q_dim()}, att{buf_.att.buffer(), 0, cfg_.q_dim()};
    PagedKv paged;
    if (rows_) {
        const auto& pg = buf_.paged();
        paged = PagedKv{BufferBinding{buf_.pass_rows.buffer(), buf_.pass_info_offset(), VK_WHOLE_SIZE}, pg.block_positions, rows_->n_chunks() == 1};
        s.pos0 = 0;
        s.kv_rows = 0;
    }
    const uint32 chunk = split_k_chunk_keys(ctx_.opt.attn_split_k, buf_.n_ctx());
    const SplitKPlan split = split_k_plan(s, chunk, rows_ && n <= kSplitKMaxTokens ? longest_row(*rows_, s.window) : 0);
    if (split.split() && buf_.attn_partials)  // long contexts, few rows: split-K over more workgroups
        VKS_TRY(op_attention_split_k(c, s, split, q, buf_.k_cache[l].buffer(), buf_.v_cache[l].buffer(), att, buf_.attn_partials.buffer(),
                                     buf_.k_new_buffer(), buf_.v_new_buffer(), rows_ ? &paged : nullptr));
    else
        VKS_TRY(op_attention(c, s, q, buf_.k_cache[l].buffer(), buf_.v_cache[l].buffer(), att, buf_.k_new_buffer(), buf_.v_new_buffer(),
                             rows_ ? &paged : nullptr));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_residual(OpContext& c, const DeviceWeight& w, ActView in, TensorRole post, uint32 l, uint32 n) {
    const uint32 E = cfg_.n_embd;
    const ActView x{buf_.x.buffer(), 0, E};
    if (!cfg_.has_post_norms) {
        VKS_TRY(op_matmul(c, w, in, x, n, true));  // x += W in (residual)
        c.rt.barrier();
        return {};
    }
    // The block's whole output is normed before it joins the residual: W in -> xn first.
    const ActView o{buf_.xn.buffer(), 0, E};
    VKS_TRY(op_matmul(c, w, in, o, n, false));
    c.rt.barrier();
    VKS_TRY(op_rmsnorm_add(c, fused_norm(post, l), o, x, E, n));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_head(OpContext& c, uint32 first, uint32 n_out) {
    const uint32 E = cfg_.n_embd, V = cfg_.n_vocab;
    if (!cfg_.head) return record_x_out(c, first, n_out);
    // Matvec-sized n_out (decode; a batch's last token): the output norm fused into the head matvec.
    const bool fuse = fuse_norm(c, n_out);
    const FusedNorm out_norm = fused_norm(TensorRole::OutputNorm, 0);
    const ActView xo{buf_.x.buffer(), first * E, E}, xn{buf_.xn.buffer(), 0, E}, logits{buf_.logits.buffer(), 0, V};
    if (!fuse) {
        VKS_TRY(op_rmsnorm(c, w_.at(TensorRole::OutputNorm, -1), xo, xn, E, n_out, cfg_.rms_eps));
        c.rt.barrier();
    }
    VKS_TRY(stream_copies(c, copy_group(cfg_.n_layer, kCopyQkv)));  // the head
    VKS_TRY(op_matmul(c, w_.at(TensorRole::Output, -1), fuse ? xo : xn, logits, n_out, false, false, fuse ? &out_norm : nullptr));
    c.rt.barrier();
    return record_softcap(c, n_out);
}

ExpectedVoid LayerKernels::record_head_rows(OpContext& c, const std::vector<uint32>& rows) {
    const uint32 E = cfg_.n_embd, V = cfg_.n_vocab, n_out = uint32(rows.size());
    if (!cfg_.head) {  // a part without the head: every row of x out, in order
        for (uint32 i = 0; i < n_out; ++i)
            if (rows[i] != i) return make_error(ErrorCode::InvalidArgument, "a device's part of a split model passes every row on: row " + std::to_string(i) + " is missing");
        return record_x_out(c, 0, n_out);
    }
    const DeviceWeight& out = w_.at(TensorRole::Output, -1);
    // Runs of consecutive rows [i, i + run): the dispatches of one run read x in place.
    auto runs = [&](auto&& fn) -> ExpectedVoid {
        for (uint32 i = 0, run = 1; i < n_out; i += run) {
            for (run = 1; i + run < n_out && rows[i + run] == rows[i] + run;) ++run;
            VKS_TRY(fn(i, run));
        }
        return {};
    };
    const ActView xn{buf_.xn.buffer(), 0, E};
    uint32 n_runs = 0;
    VKS_TRY(runs([&](uint32, uint32) -> ExpectedVoid {
        ++n_runs;
        return {};
    }));
    // The norm is fused into the head only for one run: each fused run reads the whole output
    // matrix, the normed rows gathered into xn read it once.
    const bool fuse = fuse_norm(c, n_out) && n_runs == 1;
    if (!fuse) {  // the runs normed into xn rows [0, n_out)
        VKS_TRY(runs([&](uint32 i, uint32 run) {
            return op_rmsnorm(c, w_.at(TensorRole::OutputNorm, -1), ActView{buf_.x.buffer(), rows[i] * E, E}, ActView{buf_.xn.buffer(), i * E, E}, E, run, cfg_.rms_eps);
        }));
        c.rt.barrier();
    }
    VKS_TRY(stream_copies(c, copy_group(cfg_.n_layer, kCopyQkv)));  // the head
    if (fuse) {  // matvec-sized, one run: the output norm fused into the head matvec
        const FusedNorm norm = fused_norm(TensorRole::OutputNorm, 0);
        VKS_TRY(op_matmul(c, out, ActView{buf_.x.buffer(), rows[0] * E, E}, ActView{buf_.logits.buffer(), 0, V}, n_out, false, false, &norm));
    } else {
        VKS_TRY(op_matmul(c, out, xn, ActView{buf_.logits.buffer(), 0, V}, n_out, false));
    }
    c.rt.barrier();
    return record_softcap(c, n_out);
}

// A part of a split model without the head (ModelConfig::head): x rows [0, n) -> logits rows
// [0, n) (n_vocab == n_embd), for the next device. The next device needs every row, and from
// offset 0 the copy's bindings are aligned (copy.comp binds byte ranges, no row offsets).
ExpectedVoid LayerKernels::record_x_out(OpContext& c, uint32 first, uint32 n) {
    if (first != 0) return make_error(ErrorCode::InvalidArgument, "a device's part of a split model passes every row on, from row 0 (asked from " + std::to_string(first) + ")");
    VKS_TRY(op_copy(c, buf_.x.buffer(), 0, buf_.logits.buffer(), 0, uint64(n) * cfg_.n_embd * 4, 256));
    c.rt.barrier();
    return {};
}

ExpectedVoid LayerKernels::record_softcap(OpContext& c, uint32 n_out) {
    if (cfg_.final_softcap <= 0.0f) return {};
    VKS_TRY(op_softcap(c, ActView{buf_.logits.buffer(), 0, cfg_.n_vocab}, n_out * cfg_.n_vocab, cfg_.final_softcap));
    c.rt.barrier();
    return {};
}

}  // namespace vk_symbiote
