#include "backend/cpu/CpuBackend.h"

#include <algorithm>
#include <cmath>
#include <new>

namespace vk_symbiote {

namespace {

Error arg_error(const std::string& what) { return make_error(ErrorCode::InvalidArgument, "cpu backend: " + what); }

// x[n] = x rounded to the nearest f16 value (KvPrecision::F16Rounded).
void round_to_f16(float* x, uint64 n) {
    for (uint64 i = 0; i < n; ++i) x[i] = cpu::f16_to_f32(cpu::f32_to_f16(x[i]));
}

}  // namespace

CpuBackend::CpuBackend(uint32 n_threads, cpu::KernelPath path, KvPrecision kv) : pool_(n_threads), path_(cpu::resolve_path(path)), kv_precision_(kv) {}

std::string CpuBackend::name() const {
    return std::string("cpu (") + cpu::kernel_path_name(path_) + ", " + std::to_string(pool_.size()) + (pool_.size() == 1 ? " thread" : " threads") +
           (kv_precision_ == KvPrecision::F16Rounded ? ", f16-rounded kv)" : ")");
}

namespace {

// Per layer: cache rows and the offset of the layer's rows (floats) in the cache vectors.
void kv_layout(const ModelConfig& c, uint32 n_ctx, uint32 n_batch, std::vector<uint32>& rows, std::vector<uint64>& base) {
    rows.assign(c.n_layer, 0);
    base.assign(c.n_layer, 0);
    uint64 at = 0;
    for (uint32 l = 0; l < c.n_layer; ++l) {
        rows[l] = c.kv_rows(l, n_ctx, n_batch);
        base[l] = at;
        at += uint64(rows[l]) * c.kv_dim();
    }
}

// The tensors of each layer in registry (use) order; the last entry: the head's.
std::vector<std::vector<TensorId>> tensors_by_layer(const ModelConfig& c, const TensorRegistry& reg) {
    std::vector<std::vector<TensorId>> ids(c.n_layer + 1);
    for (const TensorDesc& d : reg.tensors()) {
        if (d.id.role == TensorRole::TokenEmbd) continue;
        ids[d.id.layer >= 0 ? uint32(d.id.layer) : c.n_layer].push_back(d.id);
    }
    return ids;
}

}  // namespace

ExpectedVoid CpuBackend::prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    if (n_ctx == 0) return arg_error("n_ctx must be at least 1");
    if (n_batch == 0) return arg_error("n_batch must be at least 1");
    const ModelConfig& c = weights.config();
    weights_ = nullptr;
    n_ctx_ = n_batch_ = n_past_ = 0;
    const uint64 kv = c.kv_rows_total(n_ctx, n_batch) * c.kv_dim();
    try {
        kv_layout(c, n_ctx, n_batch, kv_rows_, kv_base_);
        layer_ids_ = tensors_by_layer(c, weights.registry());
        k_cache_.assign(kv, 0.0f);
        v_cache_.assign(kv, 0.0f);
        x_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        xb_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        q_.assign(uint64(n_batch) * c.q_dim(), 0.0f);
        att_.assign(uint64(n_batch) * c.q_dim(), 0.0f);
        proj_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        const uint64 ff = c.is_moe() ? 0 : c.n_ff;  // MoeFfn holds the expert buffers
        gate_.assign(uint64(n_batch) * ff, 0.0f);
        up_.assign(uint64(n_batch) * ff, 0.0f);
        if (c.is_moe()) moe_.prepare(c, n_batch);
        vec_.assign(std::max(c.n_embd, c.q_dim()), 0.0f);
        scores_.assign(uint64(pool_.size()) * n_ctx, 0.0f);
    } catch (const std::bad_alloc&) {
        const uint64 bytes = 2 * kv * 4;
        return make_error(ErrorCode::OutOfMemory, "cpu backend: cannot allocate the KV cache (" + std::to_string(bytes) + " bytes for n_ctx " +
                                                      std::to_string(n_ctx) + ") and activations for n_batch " + std::to_string(n_batch));
    }
    cfg_ = c;
    weights_ = &weights;
    n_ctx_ = n_ctx;
    n_batch_ = n_batch;
    return {};
}

BackendStats CpuBackend::stats() {
    BackendStats s;
    s.n_layers = s.streamed_layers = s.decode_cpu_layers = cfg_.n_layer;  // every layer computed on the CPU from RAM
    if (!weights_) return s;
    // Every forward pass reads every weight matrix once (the embedding: its rows, not counted),
    // of a layer's experts the n_expert_used a token selects (in decode).
    uint64 experts = 0;
    for (const TensorDesc& d : weights_->registry().tensors()) {
        if (tensor_role_is_expert(d.id.role)) experts += d.byte_size;
        else if (d.id.role != TensorRole::TokenEmbd || cfg_.tied_output) s.cpu_weight_bytes_per_pass += d.byte_size;
    }
    if (cfg_.is_moe()) s.cpu_weight_bytes_per_pass += experts / cfg_.n_expert * cfg_.n_expert_used;
    return s;
}

ExpectedVoid CpuBackend::forward(const ForwardRequest& req) {
    if (!weights_) return arg_error("forward() called before prepare()");
    if (req.n_tokens == 0) return arg_error("forward() with n_tokens = 0");
    if (!req.tokens || !req.logits) return arg_error("forward() needs tokens and logits buffers");
    if (req.pos > n_past_)
        return arg_error("position " + std::to_string(req.pos) + " leaves a gap: the KV cache holds positions [0, " + std::to_string(n_past_) + ")");
    if (uint64(req.pos) + req.n_tokens > n_ctx_)
        return arg_error("positions [" + std::to_string(req.pos) + ", " + std::to_string(uint64(req.pos) + req.n_tokens) + ") exceed n_ctx " + std::to_string(n_ctx_));
    VKS_TRY(check_rewind(req.pos));
    for (uint32 i = 0; i < req.n_tokens; ++i)
        if (req.tokens[i] >= cfg_.n_vocab)
            return arg_error("token " + std::to_string(req.tokens[i]) + " at index " + std::to_string(i) + " is out of range (n_vocab " + std::to_string(cfg_.n_vocab) + ")");
    n_past_ = req.pos;  // positions past pos are overwritten from here on
    for (uint32 done = 0; done < req.n_tokens;) {
        const uint32 n = std::min(n_batch_, req.n_tokens - done);
        const bool last = done + n == req.n_tokens;
        float* logits = req.all_logits ? req.logits + uint64(done) * cfg_.n_vocab : (last ? req.logits : nullptr);
        VKS_TRY(forward_chunk(req.tokens + done, n, req.pos + done, req.all_logits, logits));
        done += n;
        n_past_ = req.pos + done;
    }
    return {};
}

ExpectedVoid CpuBackend::check_rewind(uint32 pos) const {
    if (pos >= n_past_ || !cfg_.has_sliding_layers()) return {};
    // The ring holds positions [n_past - rows, n_past); the token at pos needs [pos - window + 1, pos).
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        if (!cfg_.is_sliding(l)) continue;
        const uint32 held_from = n_past_ > kv_rows_[l] ? n_past_ - kv_rows_[l] : 0;
        const uint32 needed_from = pos + 1 > cfg_.sliding_window ? pos + 1 - cfg_.sliding_window : 0;
        if (needed_from < held_from)
            return arg_error("position " + std::to_string(pos) + " steps back past the sliding-window cache of layer " + std::to_string(l) +
                             " (it holds positions [" + std::to_string(held_from) + ", " + std::to_string(n_past_) + ")): reset and run the tokens again");
    }
    return {};
}

ExpectedVoid CpuBackend::forward_chunk(const uint32* tokens, uint32 n, uint32 pos, bool all, float* logits) {
    hint_layer(0);
    for (uint32 t = 0; t < n; ++t) {
        float* row = x_.data() + uint64(t) * cfg_.n_embd;
        VKS_TRY(weights_->embedding_row(tokens[t], row));
        if (cfg_.embd_scale != 1.0f)
            for (uint32 i = 0; i < cfg_.n_embd; ++i) row[i] *= cfg_.embd_scale;
    }
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        hint_layer(l + 1);
        VKS_TRY(attention_block(l, n, pos));
        VKS_TRY(ffn_block(l, n));
    }
    if (!logits) return {};
    return output_block(n, all, logits);
}

ExpectedVoid CpuBackend::forward_layer(uint32 layer, float* x, uint32 n, uint32 pos) {
    if (!weights_) return arg_error("forward_layer() called before prepare()");
    if (layer >= cfg_.n_layer || n == 0 || n > n_batch_ || uint64(pos) + n > n_ctx_)
        return arg_error("forward_layer(" + std::to_string(layer) + ", n " + std::to_string(n) + ", pos " + std::to_string(pos) + ") out of range");
    const uint64 count = uint64(n) * cfg_.n_embd;
    std::copy(x, x + count, x_.begin());
    VKS_TRY(attention_block(layer, n, pos));
    VKS_TRY(ffn_block(layer, n));
    std::copy(x_.begin(), x_.begin() + count, x);
    return {};
}

void CpuBackend::hint_layer(uint32 layer) { weights_->hint_upcoming(layer_ids_[std::min(layer, cfg_.n_layer)]); }

ExpectedVoid CpuBackend::slice_args(const ProjectJob& j, const WeightView& v, std::vector<cpu::MatmulArgs>& out) const {
    const std::string name = tensor_name(j.id);
    if (v.rows != j.rows || v.cols != j.cols)
        return make_error(ErrorCode::Internal, "cpu backend: tensor '" + name + "' arrived as [" + std::to_string(v.rows) + " x " + std::to_string(v.cols) +
                                                   "], expected [" + std::to_string(j.rows) + " x " + std::to_string(j.cols) + "]");
    uint64 next = 0;
    for (const WeightSlice& s : v.slices) {
        if (s.row_begin != next || s.row_end <= s.row_begin || s.row_end > j.rows || !s.data)
            return make_error(ErrorCode::Internal, "cpu backend: tensor '" + name + "': slice rows [" + std::to_string(s.row_begin) + ", " +
                                                       std::to_string(s.row_end) + ") do not continue row " + std::to_string(next));
        next = s.row_end;
        if (s.row_begin >= j.row_end) continue;
        // Each slice computes its own output rows: columns [row_begin, row_end) of y.
        cpu::MatmulArgs a;
        a.w = s.data;
        a.dtype = v.dtype;
        a.rows = std::min(s.row_end, j.row_end) - s.row_begin;
        a.cols = j.cols;
        a.x = j.x;
        a.x_stride = j.x_stride;
        a.n_tok = j.n;
        a.y = j.y + s.row_begin;
        a.y_stride = j.y_stride;
        a.prefetch_bytes = prefetch_bytes_;
        out.push_back(a);
    }
    if (next != j.rows)
        return make_error(ErrorCode::Internal, "cpu backend: tensor '" + name + "': slices cover rows [0, " + std::to_string(next) + ") of " + std::to_string(j.rows));
    return {};
}

ExpectedVoid CpuBackend::project(TensorId id, uint64 rows, uint64 cols, const float* x, uint64 x_stride, uint32 n, float* y, uint64 y_stride,
                                 uint64 row_end) {
    return project_all({ProjectJob{id, rows, cols, x, x_stride, n, y, y_stride, row_end}});
}

ExpectedVoid CpuBackend::project_all(const std::vector<ProjectJob>& jobs) {
    std::vector<cpu::MatmulArgs> args;
    if (!weights_->stable_host_memory() || jobs.size() == 1) {
        // One tensor pinned at a time (a pack budget may hold only one layer's worth).
        for (const ProjectJob& j : jobs) {
            auto h = weights_->acquire(j.id);
            if (!h) return h.error();
            args.clear();
            VKS_TRY(slice_args(j, h->view(), args));
            cpu::matmul_batch(args.data(), args.size(), &pool_, path_, batch_);
        }  // h releases the pin here
        return {};
    }
    // RAM-resident weights: every tensor at once, in one pool run (matmul_batch).
    std::vector<WeightHandle> held;
    for (const ProjectJob& j : jobs) {
        auto h = weights_->acquire(j.id);
        if (!h) return h.error();
        VKS_TRY(slice_args(j, h->view(), args));
        held.push_back(std::move(*h));
    }
    cpu::matmul_batch(args.data(), args.size(), &pool_, path_, batch_);
    return {};
}

void CpuBackend::kv_jobs(uint32 l, TensorRole role, const float* x, uint32 n, uint32 pos, uint64 row_end, std::vector<ProjectJob>& jobs) {
    const uint64 E = cfg_.n_embd, KV = cfg_.kv_dim();
    const TensorId id{role, int32(l)};
    float* (CpuBackend::*row)(uint32, uint32) = role == TensorRole::Wk ? &CpuBackend::k_row : &CpuBackend::v_row;
    // Tokens [0, first) fill the rows up to the ring's end, the rest start again at row 0.
    const uint32 first = std::min<uint32>(n, kv_rows_[l] - pos % kv_rows_[l]);
    jobs.push_back({id, KV, E, x, E, first, (this->*row)(l, pos), KV, row_end});
    if (first < n) jobs.push_back({id, KV, E, x + uint64(first) * E, E, n - first, (this->*row)(l, pos + first), KV, row_end});
}

ExpectedVoid CpuBackend::load_vector(TensorId id, uint64 n) {
    auto h = weights_->acquire(id);
    if (!h) return h.error();
    const WeightView& v = h->view();
    if (v.rows != 1 || v.cols != n || n > vec_.size() || v.slices.size() != 1 || !v.slices[0].data)
        return make_error(ErrorCode::Internal, "cpu backend: vector tensor '" + tensor_name(id) + "' must arrive as one slice of " + std::to_string(n) + " values");
    cpu::convert_to_f32(v.dtype, v.slices[0].data, vec_.data(), n, path_);
    return {};
}

ExpectedVoid CpuBackend::attention_block(uint32 l, uint32 n, uint32 pos) {
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim();
    VKS_TRY(attention_heads(l, x_.data(), n, pos, cfg_.n_head_kv));
    VKS_TRY(project({TensorRole::Wo, int32(l)}, E, Q, att_.data(), Q, n, proj_.data(), E));
    const TensorId post{TensorRole::PostAttnNorm, int32(l)};
    return add_residual(n, cfg_.has_post_norms ? &post : nullptr);
}

ExpectedVoid CpuBackend::add_residual(uint32 n, const TensorId* norm) {
    const uint64 E = cfg_.n_embd;
    if (norm) {
        VKS_TRY(load_vector(*norm, E));
        for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(proj_.data() + t * E, vec_.data(), proj_.data() + t * E, E, cfg_.rms_eps);
    }
    for (uint32 t = 0; t < n; ++t) cpu::add_inplace(x_.data() + t * E, proj_.data() + t * E, E);
    return {};
}

ExpectedVoid CpuBackend::attention_heads(uint32 l, const float* x, uint32 n, uint32 pos, uint32 kv_heads) {
    const int32 L = int32(l);
    const uint32 hd = cfg_.head_dim, heads = kv_heads * (cfg_.n_head / cfg_.n_head_kv);
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim();
    VKS_TRY(load_vector({TensorRole::AttnNorm, L}, E));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x + t * E, vec_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    // q -> q_ (n, Q); k and v go straight into the cache rows of [pos, pos + n) of layer l.
    std::vector<ProjectJob> jobs{{{TensorRole::Wq, L}, Q, E, xb_.data(), E, n, q_.data(), Q, uint64(heads) * hd}};
    kv_jobs(l, TensorRole::Wk, xb_.data(), n, pos, uint64(kv_heads) * hd, jobs);
    kv_jobs(l, TensorRole::Wv, xb_.data(), n, pos, uint64(kv_heads) * hd, jobs);
    VKS_TRY(project_all(jobs));
    VKS_TRY(qkv_extras(l, n, pos, heads, kv_heads));
    rope_and_round(l, n, pos, heads, kv_heads);
    if (heads > 0) attention_core(l, n, pos, heads);
    return {};
}

ExpectedVoid CpuBackend::qkv_extras(uint32 l, uint32 n, uint32 pos, uint32 heads, uint32 kv_heads) {
    const int32 L = int32(l);
    const uint32 hd = cfg_.head_dim;
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim(), qn = uint64(heads) * hd, kn = uint64(kv_heads) * hd;
    if (cfg_.has_qkv_bias) {
        VKS_TRY(load_vector({TensorRole::BiasQ, L}, Q));
        for (uint32 t = 0; t < n; ++t) cpu::add_inplace(q_.data() + t * Q, vec_.data(), qn);
        VKS_TRY(load_vector({TensorRole::BiasK, L}, KV));
        for (uint32 t = 0; t < n; ++t) cpu::add_inplace(k_row(l, pos + t), vec_.data(), kn);
        VKS_TRY(load_vector({TensorRole::BiasV, L}, KV));
        for (uint32 t = 0; t < n; ++t) cpu::add_inplace(v_row(l, pos + t), vec_.data(), kn);
    }
    if (cfg_.has_qk_norm) {
        // One RMSNorm per head over head_dim, the same weights for every head.
        VKS_TRY(load_vector({TensorRole::AttnQNorm, L}, hd));
        for (uint32 t = 0; t < n; ++t)
            for (uint32 h = 0; h < heads; ++h) cpu::rmsnorm(q_.data() + t * Q + h * hd, vec_.data(), q_.data() + t * Q + h * hd, hd, cfg_.rms_eps);
        VKS_TRY(load_vector({TensorRole::AttnKNorm, L}, hd));
        for (uint32 t = 0; t < n; ++t)
            for (uint32 h = 0; h < kv_heads; ++h) cpu::rmsnorm(k_row(l, pos + t) + h * hd, vec_.data(), k_row(l, pos + t) + h * hd, hd, cfg_.rms_eps);
    }
    return {};
}

void CpuBackend::rope_and_round(uint32 l, uint32 n, uint32 pos, uint32 heads, uint32 kv_heads) {
    const uint32 hd = cfg_.head_dim;
    const uint64 Q = cfg_.q_dim();
    const float* factors = cfg_.rope_freq_factors.empty() ? nullptr : cfg_.rope_freq_factors.data();
    const cpu::RopeParams rp{hd, cfg_.n_rot, cfg_.rope_base(l), cfg_.rope_scale(l), cfg_.rope_style, factors};
    for (uint32 t = 0; t < n; ++t) {
        float* k = k_row(l, pos + t);
        cpu::rope(q_.data() + t * Q, heads, pos + t, rp);
        cpu::rope(k, kv_heads, pos + t, rp);
        if (kv_precision_ == KvPrecision::F16Rounded) {
            round_to_f16(k, uint64(kv_heads) * hd);
            round_to_f16(v_row(l, pos + t), uint64(kv_heads) * hd);
            round_to_f16(q_.data() + t * Q, uint64(heads) * hd);
        }
    }
}

void CpuBackend::kv_runs(uint32 l, uint32 p, uint32 g, cpu::KvRun runs[2]) {
    // Positions [first, p]: all of them, or the window's; in a ring they may wrap once.
    const uint32 W = cfg_.sliding_window, R = kv_rows_[l], hd = cfg_.head_dim;
    const uint32 first = cfg_.is_sliding(l) && p + 1 > W ? p + 1 - W : 0;
    const uint32 n_kv = p - first + 1, r0 = first % R, n0 = std::min(n_kv, R - r0);
    const uint64 KV = cfg_.kv_dim(), off = uint64(g) * hd;
    runs[0] = {k_cache(l) + uint64(r0) * KV + off, v_cache(l) + uint64(r0) * KV + off, n0};
    runs[1] = {k_cache(l) + off, v_cache(l) + off, n_kv - n0};
}

void CpuBackend::attention_core(uint32 l, uint32 n, uint32 pos, uint32 n_heads) {
    // One work item per (token, head): token t attends to positions [0 or its window's first, pos + t].
    const uint32 hd = cfg_.head_dim, group = cfg_.n_head / cfg_.n_head_kv, H = n_heads ? n_heads : cfg_.n_head;
    const uint64 Q = cfg_.q_dim();
    auto item = [&](uint64 i, uint32 worker) {
        const uint32 t = uint32(i / H), h = uint32(i % H);
        cpu::AttentionArgs a;
        a.q = q_.data() + t * Q + uint64(h) * hd;
        kv_runs(l, pos + t, h / group, a.runs);
        a.kv_stride = cfg_.kv_dim();
        a.head_dim = hd;
        a.scale = cfg_.attention_scale();
        a.softcap = cfg_.attn_softcap;
        a.scores = scores_.data() + uint64(worker) * n_ctx_;
        a.out = att_.data() + t * Q + uint64(h) * hd;
        cpu::attention_head(a, path_);
    };
    const uint64 items = uint64(n) * H;
    const uint64 work = items * (uint64(pos) + n) * hd;  // ~multiply-adds
    if (pool_.size() == 1 || work < (uint64(1) << 15)) {
        for (uint64 i = 0; i < items; ++i) item(i, 0);
        return;
    }
    pool_.parallel_for(items, 1, [&](uint64 b, uint64 e, uint32 w) {
        for (uint64 i = b; i < e; ++i) item(i, w);
    });
}

ExpectedVoid CpuBackend::ffn_block(uint32 l, uint32 n) {
    const uint64 E = cfg_.n_embd, F = cfg_.n_ff;
    if (cfg_.is_moe()) {
        VKS_TRY(moe_block(l, n));
    } else {
        VKS_TRY(ffn_hidden(l, x_.data(), n, F));
        VKS_TRY(project({TensorRole::Wdown, int32(l)}, E, F, gate_.data(), F, n, proj_.data(), E));
    }
    const TensorId post{TensorRole::PostFfnNorm, int32(l)};
    return add_residual(n, cfg_.has_post_norms ? &post : nullptr);
}

ExpectedVoid CpuBackend::moe_block(uint32 l, uint32 n) {
    const uint64 E = cfg_.n_embd;
    VKS_TRY(load_vector({TensorRole::FfnNorm, int32(l)}, E));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x_.data() + t * E, vec_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    return moe_.forward(l, xb_.data(), n, proj_.data(), *weights_, [this](const std::vector<ProjectJob>& jobs) { return project_all(jobs); });
}

ExpectedVoid CpuBackend::ffn_hidden(uint32 l, const float* x, uint32 n, uint64 units) {
    const int32 L = int32(l);
    const uint64 E = cfg_.n_embd, F = cfg_.n_ff;
    VKS_TRY(load_vector({TensorRole::FfnNorm, L}, E));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x + t * E, vec_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    VKS_TRY(project_all({{{TensorRole::Wgate, L}, F, E, xb_.data(), E, n, gate_.data(), F, units},
                         {{TensorRole::Wup, L}, F, E, xb_.data(), E, n, up_.data(), F, units}}));
    for (uint32 t = 0; t < n; ++t) {
        if (cfg_.activation == FfnActivation::GeluTanh) cpu::geglu(gate_.data() + t * F, up_.data() + t * F, units);
        else cpu::swiglu(gate_.data() + t * F, up_.data() + t * F, units);
    }
    return {};
}

std::pair<uint64, uint64> CpuBackend::matrix_shape(TensorRole role) const {
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim(), KV = cfg_.kv_dim(), F = cfg_.n_ff;
    switch (role) {
        case TensorRole::Wq: return {Q, E};
        case TensorRole::Wk:
        case TensorRole::Wv: return {KV, E};
        case TensorRole::Wo: return {E, Q};
        case TensorRole::Wgate:
        case TensorRole::Wup: return {F, E};
        case TensorRole::Wdown: return {E, F};
        case TensorRole::Output: return {cfg_.n_vocab, E};
        default: return {0, 0};
    }
}

ExpectedVoid CpuBackend::check_part(uint32 layer, const char* what) const {
    if (!weights_) return arg_error(std::string(what) + " called before prepare()");
    if (layer >= cfg_.n_layer) return arg_error(std::string(what) + ": layer " + std::to_string(layer) + " out of range");
    return {};
}

ExpectedVoid CpuBackend::attention_part(uint32 l, const float* x, uint32 pos, uint32 kv_heads, float* att) {
    VKS_TRY(check_part(l, "attention_part"));
    if (kv_heads > cfg_.n_head_kv || pos >= n_ctx_)
        return arg_error("attention_part: " + std::to_string(kv_heads) + " KV heads at position " + std::to_string(pos) + " out of range");
    const uint32 hd = cfg_.head_dim, heads = kv_heads * (cfg_.n_head / cfg_.n_head_kv);
    VKS_TRY(attention_heads(l, x, 1, pos, kv_heads));
    std::copy(att_.begin(), att_.begin() + uint64(heads) * hd, att);
    return {};
}

ExpectedVoid CpuBackend::ffn_part(uint32 l, const float* x, uint64 units, float* h) {
    VKS_TRY(check_part(l, "ffn_part"));
    if (cfg_.is_moe()) return arg_error("ffn_part: a mixture-of-experts layer has no dense FFN rows to split");
    if (units > cfg_.n_ff) return arg_error("ffn_part: " + std::to_string(units) + " units of " + std::to_string(cfg_.n_ff));
    VKS_TRY(ffn_hidden(l, x, 1, units));
    std::copy(gate_.begin(), gate_.begin() + units, h);
    return {};
}

ExpectedVoid CpuBackend::project_part(TensorId id, uint64 rows, const float* x, float* y, bool accumulate) {
    if (!weights_) return arg_error("project_part() called before prepare()");
    const auto [R, C] = matrix_shape(id.role);
    if (R == 0 || rows > R) return arg_error("project_part: rows " + std::to_string(rows) + " of '" + tensor_name(id) + "'");
    if (rows == 0) return {};
    if (!accumulate) return project(id, R, C, x, C, 1, y, R, rows);
    if (cfg_.has_post_norms && (id.role == TensorRole::Wo || id.role == TensorRole::Wdown))
        return arg_error("project_part: '" + tensor_name(id) + "' cannot accumulate into the residual: this " + cfg_.architecture +
                         " model norms the whole output first (post norms)");
    // proj_ holds n_batch * n_embd floats: enough for the rows of wo / down (n_embd).
    if (rows > proj_.size()) return arg_error("project_part: accumulating " + std::to_string(rows) + " rows");
    VKS_TRY(project(id, R, C, x, C, 1, proj_.data(), R, rows));
    cpu::add_inplace(y, proj_.data(), rows);
    return {};
}

ExpectedVoid CpuBackend::post_norm_part(TensorId norm, const float* o, float* x) {
    if (!weights_) return arg_error("post_norm_part() called before prepare()");
    const bool post = norm.role == TensorRole::PostAttnNorm || norm.role == TensorRole::PostFfnNorm;
    if (!post || !cfg_.has_post_norms || norm.layer < 0 || uint32(norm.layer) >= cfg_.n_layer)
        return arg_error("post_norm_part: '" + tensor_name(norm) + "' is not a post norm of this " + cfg_.architecture + " model");
    const uint64 E = cfg_.n_embd;
    VKS_TRY(load_vector(norm, E));
    cpu::rmsnorm(o, vec_.data(), proj_.data(), E, cfg_.rms_eps);  // as add_residual
    cpu::add_inplace(x, proj_.data(), E);
    return {};
}

ExpectedVoid CpuBackend::output_part(const float* x, uint64 rows, float* logits) {
    if (!weights_) return arg_error("output_part() called before prepare()");
    if (rows > cfg_.n_vocab) return arg_error("output_part: " + std::to_string(rows) + " rows of " + std::to_string(cfg_.n_vocab));
    if (rows == 0) return {};
    const uint64 E = cfg_.n_embd;
    VKS_TRY(load_vector({TensorRole::OutputNorm, -1}, E));
    cpu::rmsnorm(x, vec_.data(), xb_.data(), E, cfg_.rms_eps);
    VKS_TRY(project({TensorRole::Output, -1}, cfg_.n_vocab, E, xb_.data(), E, 1, logits, cfg_.n_vocab, rows));
    if (cfg_.final_softcap > 0.0f) cpu::softcap(logits, rows, cfg_.final_softcap);
    return {};
}

ExpectedVoid CpuBackend::output_block(uint32 n, bool all, float* logits) {
    const uint64 E = cfg_.n_embd, V = cfg_.n_vocab;
    const uint32 first = all ? 0 : n - 1;  // rows of x_ that produce logits
    VKS_TRY(load_vector({TensorRole::OutputNorm, -1}, E));
    for (uint32 t = first; t < n; ++t) cpu::rmsnorm(x_.data() + t * E, vec_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    VKS_TRY(project({TensorRole::Output, -1}, V, E, xb_.data() + first * E, E, n - first, logits, V));
    if (cfg_.final_softcap > 0.0f) cpu::softcap(logits, uint64(n - first) * V, cfg_.final_softcap);
    return {};
}

}  // namespace vk_symbiote
