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

ExpectedVoid CpuBackend::prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    if (n_ctx == 0) return arg_error("n_ctx must be at least 1");
    if (n_batch == 0) return arg_error("n_batch must be at least 1");
    const ModelConfig& c = weights.config();
    weights_ = nullptr;
    n_ctx_ = n_batch_ = n_past_ = 0;
    const uint64 kv = uint64(c.n_layer) * n_ctx * c.kv_dim();
    try {
        k_cache_.assign(kv, 0.0f);
        v_cache_.assign(kv, 0.0f);
        x_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        xb_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        q_.assign(uint64(n_batch) * c.q_dim(), 0.0f);
        att_.assign(uint64(n_batch) * c.q_dim(), 0.0f);
        proj_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        gate_.assign(uint64(n_batch) * c.n_ff, 0.0f);
        up_.assign(uint64(n_batch) * c.n_ff, 0.0f);
        norm_w_.assign(c.n_embd, 0.0f);
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
    // Every forward pass reads every weight matrix once (the embedding: its rows, not counted).
    for (const TensorDesc& d : weights_->registry().tensors())
        if (d.id.role != TensorRole::TokenEmbd || cfg_.tied_output) s.cpu_weight_bytes_per_pass += d.byte_size;
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

ExpectedVoid CpuBackend::forward_chunk(const uint32* tokens, uint32 n, uint32 pos, bool all, float* logits) {
    hint_layer(0);
    for (uint32 t = 0; t < n; ++t) VKS_TRY(weights_->embedding_row(tokens[t], x_.data() + uint64(t) * cfg_.n_embd));
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

void CpuBackend::hint_layer(uint32 layer) {
    std::vector<TensorId> ids;
    if (layer < cfg_.n_layer) {
        for (TensorRole r : {TensorRole::AttnNorm, TensorRole::Wq, TensorRole::Wk, TensorRole::Wv, TensorRole::Wo, TensorRole::FfnNorm, TensorRole::Wgate,
                             TensorRole::Wup, TensorRole::Wdown})
            ids.push_back({r, int32(layer)});
    } else {
        ids = {{TensorRole::OutputNorm, -1}, {TensorRole::Output, -1}};
    }
    weights_->hint_upcoming(ids);
}

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

ExpectedVoid CpuBackend::project_all(std::initializer_list<ProjectJob> jobs) {
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

ExpectedVoid CpuBackend::load_norm(TensorId id) {
    auto h = weights_->acquire(id);
    if (!h) return h.error();
    const WeightView& v = h->view();
    if (v.rows != 1 || v.cols != cfg_.n_embd || v.slices.size() != 1 || !v.slices[0].data)
        return make_error(ErrorCode::Internal, "cpu backend: norm tensor '" + tensor_name(id) + "' must arrive as one slice of " + std::to_string(cfg_.n_embd) + " values");
    cpu::convert_to_f32(v.dtype, v.slices[0].data, norm_w_.data(), cfg_.n_embd, path_);
    return {};
}

ExpectedVoid CpuBackend::attention_block(uint32 l, uint32 n, uint32 pos) {
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim();
    VKS_TRY(attention_heads(l, x_.data(), n, pos, cfg_.n_head_kv));
    VKS_TRY(project({TensorRole::Wo, int32(l)}, E, Q, att_.data(), Q, n, proj_.data(), E));
    for (uint32 t = 0; t < n; ++t) cpu::add_inplace(x_.data() + t * E, proj_.data() + t * E, E);
    return {};
}

ExpectedVoid CpuBackend::attention_heads(uint32 l, const float* x, uint32 n, uint32 pos, uint32 kv_heads) {
    const int32 L = int32(l);
    const uint32 hd = cfg_.head_dim, heads = kv_heads * (cfg_.n_head / cfg_.n_head_kv);
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    VKS_TRY(load_norm({TensorRole::AttnNorm, L}));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x + t * E, norm_w_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    // q -> q_ (n, Q); k and v go straight into the cache rows [pos, pos + n) of layer l.
    VKS_TRY(project_all({{{TensorRole::Wq, L}, Q, E, xb_.data(), E, n, q_.data(), Q, uint64(heads) * hd},
                         {{TensorRole::Wk, L}, KV, E, xb_.data(), E, n, k_cache(l) + uint64(pos) * KV, KV, uint64(kv_heads) * hd},
                         {{TensorRole::Wv, L}, KV, E, xb_.data(), E, n, v_cache(l) + uint64(pos) * KV, KV, uint64(kv_heads) * hd}}));
    cpu::RopeParams rp{cfg_.head_dim, cfg_.n_rot, cfg_.rope_freq_base, cfg_.rope_freq_scale, cfg_.rope_style};
    for (uint32 t = 0; t < n; ++t) {
        float* k = k_cache(l) + uint64(pos + t) * KV;
        cpu::rope(q_.data() + t * Q, heads, pos + t, rp);
        cpu::rope(k, kv_heads, pos + t, rp);
        if (kv_precision_ == KvPrecision::F16Rounded) {
            round_to_f16(k, uint64(kv_heads) * hd);
            round_to_f16(v_cache(l) + uint64(pos + t) * KV, uint64(kv_heads) * hd);
            round_to_f16(q_.data() + t * Q, uint64(heads) * hd);
        }
    }
    if (heads > 0) attention_core(l, n, pos, heads);
    return {};
}

void CpuBackend::attention_core(uint32 l, uint32 n, uint32 pos, uint32 n_heads) {
    // One work item per (token, head): token t attends to cache rows [0, pos + t].
    const uint32 hd = cfg_.head_dim, group = cfg_.n_head / cfg_.n_head_kv, H = n_heads ? n_heads : cfg_.n_head;
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    const float scale = 1.0f / std::sqrt(float(hd));
    const float* kc = k_cache(l);
    const float* vc = v_cache(l);
    auto item = [&](uint64 i, uint32 worker) {
        const uint32 t = uint32(i / H), h = uint32(i % H), g = h / group;
        cpu::attention_head(q_.data() + t * Q + uint64(h) * hd, kc + uint64(g) * hd, vc + uint64(g) * hd, KV, pos + t + 1, hd, scale,
                            scores_.data() + uint64(worker) * n_ctx_, att_.data() + t * Q + uint64(h) * hd, path_);
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
    VKS_TRY(ffn_hidden(l, x_.data(), n, F));
    VKS_TRY(project({TensorRole::Wdown, int32(l)}, E, F, gate_.data(), F, n, proj_.data(), E));
    for (uint32 t = 0; t < n; ++t) cpu::add_inplace(x_.data() + t * E, proj_.data() + t * E, E);
    return {};
}

ExpectedVoid CpuBackend::ffn_hidden(uint32 l, const float* x, uint32 n, uint64 units) {
    const int32 L = int32(l);
    const uint64 E = cfg_.n_embd, F = cfg_.n_ff;
    VKS_TRY(load_norm({TensorRole::FfnNorm, L}));
    for (uint32 t = 0; t < n; ++t) cpu::rmsnorm(x + t * E, norm_w_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    VKS_TRY(project_all({{{TensorRole::Wgate, L}, F, E, xb_.data(), E, n, gate_.data(), F, units},
                         {{TensorRole::Wup, L}, F, E, xb_.data(), E, n, up_.data(), F, units}}));
    for (uint32 t = 0; t < n; ++t) cpu::swiglu(gate_.data() + t * F, up_.data() + t * F, units);
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
    // proj_ holds n_batch * n_embd floats: enough for the rows of wo / down (n_embd).
    if (rows > proj_.size()) return arg_error("project_part: accumulating " + std::to_string(rows) + " rows");
    VKS_TRY(project(id, R, C, x, C, 1, proj_.data(), R, rows));
    cpu::add_inplace(y, proj_.data(), rows);
    return {};
}

ExpectedVoid CpuBackend::output_part(const float* x, uint64 rows, float* logits) {
    if (!weights_) return arg_error("output_part() called before prepare()");
    if (rows > cfg_.n_vocab) return arg_error("output_part: " + std::to_string(rows) + " rows of " + std::to_string(cfg_.n_vocab));
    if (rows == 0) return {};
    const uint64 E = cfg_.n_embd;
    VKS_TRY(load_norm({TensorRole::OutputNorm, -1}));
    cpu::rmsnorm(x, norm_w_.data(), xb_.data(), E, cfg_.rms_eps);
    return project({TensorRole::Output, -1}, cfg_.n_vocab, E, xb_.data(), E, 1, logits, cfg_.n_vocab, rows);
}

ExpectedVoid CpuBackend::output_block(uint32 n, bool all, float* logits) {
    const uint64 E = cfg_.n_embd, V = cfg_.n_vocab;
    const uint32 first = all ? 0 : n - 1;  // rows of x_ that produce logits
    VKS_TRY(load_norm({TensorRole::OutputNorm, -1}));
    for (uint32 t = first; t < n; ++t) cpu::rmsnorm(x_.data() + t * E, norm_w_.data(), xb_.data() + t * E, E, cfg_.rms_eps);
    return project({TensorRole::Output, -1}, V, E, xb_.data() + first * E, E, n - first, logits, V);
}

}  // namespace vk_symbiote
