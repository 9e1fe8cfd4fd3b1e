#include "backend/vulkan/VulkanBackend.h"

#include <algorithm>
#include <cstring>

namespace vk_symbiote {

namespace {

// Rows per device piece so that a piece stays within maxStorageBufferRange; a multiple
// of 256 rows when possible so that pieces keep head boundaries.
uint64 rows_per_piece(uint64 row_bytes, uint64 max_range) {
    uint64 r = std::max<uint64>(max_range / row_bytes, 1);
    if (r >= 256) r = r / 256 * 256;
    return r;
}

bool tensor_on_device(const ModelConfig& cfg, TensorRole role) {
    // The embedding table stays on the host (rows fetched per token) unless it is also the output matrix.
    return role != TensorRole::TokenEmbd || cfg.tied_output;
}

}  // namespace

Expected<std::unique_ptr<VulkanBackend>> VulkanBackend::create(const VulkanOptions& opt) {
    std::unique_ptr<VulkanBackend> b(new VulkanBackend(opt));
    VulkanDeviceOptions dopt{opt.device_index, opt.force_integrated_gpu, opt.enable_validation};
    auto d = VulkanDevice::create(dopt);
    if (!d) return d.error();
    b->dev_ = std::move(*d);
    auto m = VulkanMemory::create(*b->dev_);
    if (!m) return m.error();
    b->mem_ = std::move(*m);
    auto c = VulkanCompute::create(*b->dev_, *b->mem_, uint64(8) << 20, 2, opt.enable_profiling);
    if (!c) return c.error();
    b->compute_ = std::move(*c);
    auto r = ShaderRuntime::create(*b->dev_, ShaderRuntimeOptions{opt.shader_dir, opt.pipeline_cache_path});
    if (!r) return r.error();
    b->rt_ = std::move(*r);
    return b;
}

VulkanBackend::~VulkanBackend() { release(); }

void VulkanBackend::release() {
    if (!mem_) return;
    vkDeviceWaitIdle(dev_->device());
    for (auto& b : buffers_) mem_->destroy_buffer(b);
    buffers_.clear();
    dweights_.clear();
    k_cache_.clear();
    v_cache_.clear();
}

Expected<GpuBuffer> VulkanBackend::alloc(uint64 bytes) {
    auto b = mem_->create_buffer(bytes, MemoryKind::DeviceLocal);
    if (!b) return b.error();
    buffers_.push_back(*b);
    return *b;
}

uint64 VulkanBackend::required_bytes(const WeightProvider& w, uint32 n_ctx, uint32 n_batch, uint64 max_range) {
    const auto& cfg = w.config();
    uint64 total = 0;
    for (const auto& t : w.registry().tensors()) {
        if (!tensor_on_device(cfg, t.id.role) || t.byte_size == 0) continue;
        if (t.id.role == TensorRole::Output && cfg.tied_output) continue;
        const uint64 rpp = rows_per_piece(t.row_bytes(), max_range);
        for (uint64 r = 0; r < t.rows; r += rpp) total += next_pow2(std::min(rpp, t.rows - r) * t.row_bytes());
    }
    const uint64 kv = 2ull * cfg.n_layer * next_pow2(uint64(n_ctx) * cfg.kv_dim() * 4);
    const uint64 act = next_pow2(uint64(n_ctx) * cfg.n_rot * 4) + next_pow2(uint64(n_batch) * cfg.n_embd * 4) * 2 + next_pow2(uint64(n_batch) * cfg.q_dim() * 4) * 2 +
                       next_pow2(uint64(n_batch) * cfg.n_ff * 4) + next_pow2(uint64(n_batch) * cfg.n_vocab * 4);
    return total + kv + act;
}

ExpectedVoid VulkanBackend::upload_tensor(WeightProvider& w, TensorId id) {
    auto h = w.acquire(id);
    if (!h) return h.error();
    const WeightView& v = h->view();
    const uint64 row_bytes = v.cols * dtype_size(v.dtype);
    DeviceWeight dw{v.dtype, uint32(v.rows), uint32(v.cols), {}};
    if (tensor_role_is_norm(id.role)) {
        // Norm vectors: one piece (the rmsnorm kernel reads it whole).
        auto b = alloc(v.rows * row_bytes);
        if (!b) return b.error();
        for (const auto& s : v.slices)
            VKS_TRY(compute_->upload(s.data, (s.row_end - s.row_begin) * row_bytes, b->buffer, s.row_begin * row_bytes));
        dw.pieces.push_back({b->buffer, 0, uint32(v.rows)});
    } else {
        const uint64 rpp = rows_per_piece(row_bytes, dev_->caps().max_storage_buffer_range);
        for (const auto& s : v.slices) {
            for (uint64 r = s.row_begin; r < s.row_end; r += rpp) {
                const uint64 rows = std::min(rpp, s.row_end - r);
                auto b = alloc(rows * row_bytes);
                if (!b) return b.error();
                const auto* src = static_cast<const char*>(s.data) + (r - s.row_begin) * row_bytes;
                VKS_TRY(compute_->upload(src, rows * row_bytes, b->buffer, 0));
                dw.pieces.push_back({b->buffer, uint32(r), uint32(rows)});
            }
        }
    }
    dweights_[{uint32(id.role), id.layer}] = std::move(dw);
    return {};
}

const DeviceWeight* VulkanBackend::device_weight(TensorId id) const {
    auto it = dweights_.find({uint32(id.role), id.layer});
    return it == dweights_.end() ? nullptr : &it->second;
}

ExpectedVoid VulkanBackend::prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    release();
    if (n_ctx == 0 || n_batch == 0) return make_error(ErrorCode::InvalidArgument, "vulkan prepare: n_ctx and n_batch must be > 0");
    weights_ = &weights;
    cfg_ = weights.config();
    const uint64 max_range = dev_->caps().max_storage_buffer_range;
    const uint64 need = required_bytes(weights, n_ctx, n_batch, max_range);
    const uint64 budget = opt_.vram_budget_bytes ? opt_.vram_budget_bytes : dev_->device_local_budget();
    if (need > budget)
        return make_error(ErrorCode::BudgetTooSmall, "vram budget " + std::to_string(budget >> 20) + " MiB is below the minimum of " +
                                                         std::to_string((need + (1 << 20) - 1) >> 20) + " MiB (" + std::to_string(need) +
                                                         " bytes: weights + KV cache + activations, all resident)");
    const uint64 kv_bytes = uint64(n_ctx) * cfg_.kv_dim() * 4;
    if (kv_bytes > max_range || uint64(n_batch) * std::max(cfg_.n_vocab, cfg_.n_ff) * 4 > max_range)
        return make_error(ErrorCode::Unsupported, "vulkan prepare: n_ctx " + std::to_string(n_ctx) + " / n_batch " + std::to_string(n_batch) +
                                                      " make a KV-cache or activation buffer exceed maxStorageBufferRange (" +
                                                      std::to_string(max_range) + " bytes)");
    for (const auto& t : weights.registry().tensors()) {
        if (!tensor_on_device(cfg_, t.id.role) || t.byte_size == 0) continue;
        if (t.id.role == TensorRole::Output && cfg_.tied_output) continue;
        VKS_TRY(upload_tensor(weights, t.id));
    }
    if (cfg_.tied_output) dweights_[{uint32(TensorRole::Output), -1}] = dweights_[{uint32(TensorRole::TokenEmbd), -1}];
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        auto k = alloc(kv_bytes), v = alloc(kv_bytes);
        if (!k) return k.error();
        if (!v) return v.error();
        k_cache_.push_back(*k);
        v_cache_.push_back(*v);
    }
    auto mk = [&](GpuBuffer& b, uint64 elems) -> ExpectedVoid {
        auto r = alloc(elems * 4);
        if (!r) return r.error();
        b = *r;
        return {};
    };
    VKS_TRY(mk(x_, uint64(n_batch) * cfg_.n_embd));      // (n_batch, n_embd) residual stream
    VKS_TRY(mk(xn_, uint64(n_batch) * cfg_.n_embd));     // (n_batch, n_embd) normed
    VKS_TRY(mk(q_, uint64(n_batch) * cfg_.q_dim()));     // (n_batch, q_dim)
    VKS_TRY(mk(att_, uint64(n_batch) * cfg_.q_dim()));   // (n_batch, q_dim) attention output
    VKS_TRY(mk(hb_, uint64(n_batch) * cfg_.n_ff));       // (n_batch, n_ff) silu(gate) * up
    VKS_TRY(mk(logits_, uint64(n_batch) * cfg_.n_vocab)); // (n_batch, n_vocab)
    VKS_TRY(mk(dummy_, 4));
    const auto table = rope_table(n_ctx, cfg_.n_rot, cfg_.rope_freq_base, cfg_.rope_freq_scale);
    VKS_TRY(mk(rope_table_, table.size()));  // (n_ctx, n_rot / 2, 2) cos / sin
    VKS_TRY(compute_->upload(table.data(), table.size() * 4, rope_table_.buffer, 0));
    n_ctx_ = n_ctx;
    n_batch_ = n_batch;
    pos_ = 0;
    total_gpu_ns_ = 0;
    return {};
}

ExpectedVoid VulkanBackend::record_layer(OpContext& c, uint32 l, uint32 n, uint32 pos) {
    auto W = [&](TensorRole r) -> const DeviceWeight& { return dweights_.at({uint32(r), int32(l)}); };
    const uint32 E = cfg_.n_embd, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    ActView x{x_.buffer, 0, E}, xn{xn_.buffer, 0, E}, q{q_.buffer, 0, Q}, att{att_.buffer, 0, Q}, hb{hb_.buffer, 0, cfg_.n_ff};
    RopeConfig rope{pos, cfg_.head_dim, cfg_.n_rot, cfg_.rope_style == RopeStyle::NeoX, cfg_.rope_freq_base, cfg_.rope_freq_scale,
                    rope_table_.buffer, opt_.kv_f16_rounding};
    auto& rt = c.rt;
    VKS_TRY(op_rmsnorm(c, W(TensorRole::AttnNorm), x, xn, E, n, cfg_.rms_eps));
    rt.barrier();
    // Q, K, V are independent: no barrier between them. K and V go straight into the cache rows [pos, pos + n).
    VKS_TRY(op_matmul_rope(c, W(TensorRole::Wq), xn, q, n, rope));
    VKS_TRY(op_matmul_rope(c, W(TensorRole::Wk), xn, ActView{k_cache_[l].buffer, pos * KV, KV}, n, rope));
    VKS_TRY(op_matmul(c, W(TensorRole::Wv), xn, ActView{v_cache_[l].buffer, pos * KV, KV}, n, false, opt_.kv_f16_rounding));
    rt.barrier();
    VKS_TRY(op_attention(c, AttentionShape{n, pos, cfg_.n_head, cfg_.n_head_kv, cfg_.head_dim}, q, k_cache_[l].buffer,
                         v_cache_[l].buffer, att));
    rt.barrier();
    VKS_TRY(op_matmul(c, W(TensorRole::Wo), att, x, n, true));  // x += Wo att (residual)
    rt.barrier();
    VKS_TRY(op_rmsnorm(c, W(TensorRole::FfnNorm), x, xn, E, n, cfg_.rms_eps));
    rt.barrier();
    VKS_TRY(op_swiglu(c, W(TensorRole::Wgate), W(TensorRole::Wup), xn, hb, n));
    rt.barrier();
    VKS_TRY(op_matmul(c, W(TensorRole::Wdown), hb, x, n, true));  // x += Wdown hb (residual)
    rt.barrier();
    return {};
}

ExpectedVoid VulkanBackend::forward(const ForwardRequest& req) {
    if (!weights_) return make_error(ErrorCode::InvalidArgument, "vulkan forward: prepare() was not called");
    if (!req.tokens || !req.logits || req.n_tokens == 0 || req.n_tokens > n_batch_)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: n_tokens " + std::to_string(req.n_tokens) +
                                                          " must be in [1, n_batch " + std::to_string(n_batch_) + "] with tokens and logits set");
    if (uint64(req.pos) + req.n_tokens > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: positions up to " + std::to_string(req.pos + req.n_tokens) +
                                                          " exceed n_ctx " + std::to_string(n_ctx_));
    const uint32 n = req.n_tokens, E = cfg_.n_embd, V = cfg_.n_vocab;
    for (uint32 i = 0; i < n; ++i)
        if (req.tokens[i] >= V)
            return make_error(ErrorCode::InvalidArgument, "vulkan forward: token " + std::to_string(req.tokens[i]) + " >= n_vocab " + std::to_string(V));
    auto cmd = compute_->begin();
    if (!cmd) return cmd.error();
    rt_->begin(*cmd);
    // Embedding rows (host provider) -> x, copied at the start of this command buffer.
    auto host = compute_->stage_in_command(uint64(n) * E * 4, x_.buffer, 0);
    if (!host) return host.error();
    for (uint32 i = 0; i < n; ++i) VKS_TRY(weights_->embedding_row(req.tokens[i], static_cast<float*>(*host) + size_t(i) * E));
    rt_->barrier();
    OpContext c{*rt_, opt_.spec, dummy_.buffer, dev_->caps().max_workgroup_count[0]};
    for (uint32 l = 0; l < cfg_.n_layer; ++l) VKS_TRY(record_layer(c, l, n, req.pos));
    const uint32 first = req.all_logits ? 0 : n - 1, n_out = req.all_logits ? n : 1;
    VKS_TRY(op_rmsnorm(c, dweights_.at({uint32(TensorRole::OutputNorm), -1}), ActView{x_.buffer, first * E, E},
                       ActView{xn_.buffer, 0, E}, E, n_out, cfg_.rms_eps));
    rt_->barrier();
    VKS_TRY(op_matmul(c, dweights_.at({uint32(TensorRole::Output), -1}), ActView{xn_.buffer, 0, E}, ActView{logits_.buffer, 0, V}, n_out, false));
    rt_->barrier();
    VKS_TRY(compute_->submit_and_wait(opt_.fence_timeout_ns));
    total_gpu_ns_ += compute_->last_gpu_time_ns();
    VKS_TRY(compute_->download(logits_, 0, req.logits, uint64(n_out) * V * 4));
    pos_ = req.pos + n;
    return {};
}

}  // namespace vk_symbiote
