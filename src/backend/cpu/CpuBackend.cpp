#include "backend/cpu/CpuBackend.h"

#include <algorithm>
#include <cmath>
#include <new>

#include "backend/cpu/PagedAttention.h"

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
    own_ = KvBlockTable{};
    VKS_TRY(kv_.allocate(KvLayout::for_tokens(c, kv_tokens_ ? kv_tokens_ : n_ctx)));
    try {
        layer_ids_ = tensors_by_layer(c, weights.registry());
        x_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        xb_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        q_.assign(uint64(n_batch) * c.q_dim(), 0.0f);
        k_.assign(uint64(n_batch) * c.kv_dim(), 0.0f);
        v_.assign(uint64(n_batch) * c.kv_dim(), 0.0f);
        att_.assign(uint64(n_batch) * c.q_dim(), 0.0f);
        proj_.assign(uint64(n_batch) * c.n_embd, 0.0f);
        const uint64 ff = c.is_moe() ? 0 : c.n_ff;  // MoeFfn holds the expert buffers
        gate_.assign(uint64(n_batch) * ff, 0.0f);
        up_.assign(uint64(n_batch) * ff, 0.0f);
        if (c.is_moe()) moe_.prepare(c, n_batch);
        vec_.assign(std::max(c.n_embd, c.q_dim()), 0.0f);
        scores_.assign(uint64(pool_.size()) * n_ctx, 0.0f);
        row_chunk_.assign(n_batch, 0);
        row_pos_.assign(n_batch, 0);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "cpu backend: cannot allocate the activations for n_batch " + std::to_string(n_batch) + " and n_ctx " +
                                                      std::to_string(n_ctx));
    }
    cfg_ = c;
    weights_ = &weights;
    n_ctx_ = n_ctx;
    n_batch_ = n_batch;
    return {};
}

void CpuBackend::reset() {
    if (weights_) kv_.pool().release(own_);
    n_past_ = 0;
}

ExpectedVoid CpuBackend::reserve_kv(uint32 end) {
    if (!weights_) return arg_error("reserve_kv() called before prepare()");
    if (end > n_ctx_) return arg_error("reserve_kv: " + std::to_string(end) + " positions exceed n_ctx " + std::to_string(n_ctx_));
    if (own_.n_pos >= end) return {};
    // Grows without dropping: the co-processor's rows past n_past() may be valid.
    return kv_.pool().prepare_write(own_, own_.n_pos, end);
}

BackendStats CpuBackend::stats() {
    BackendStats s;
    s.n_layers = s.streamed_layers = s.decode_cpu_layers = cfg_.n_layer;  // every layer computed on the CPU from RAM
    if (!weights_) return s;
    // Every forward pass reads every dense weight matrix once (the embedding: its rows, not
    // counted); of a mixture's experts only the chosen ones, which the provider counts
    // (WeightProvider::routed_expert_bytes; the engine adds them).
    for (const TensorDesc& d : weights_->registry().tensors())
        if (!tensor_role_is_expert(d.id.role) && (d.id.role != TensorRole::TokenEmbd || cfg_.tied_output)) s.cpu_weight_bytes_per_pass += d.byte_size;
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
        auto chunk = own_chunk(req.tokens + done, n, req.pos + done);
        if (!chunk) return chunk.error();
        chunk->all_logits = req.all_logits;
        chunk->logits = req.all_logits ? req.logits + uint64(done) * cfg_.n_vocab : (last ? req.logits : nullptr);
        VKS_TRY(run_pass({*chunk}));
        done += n;
        n_past_ = req.pos + done;
    }
    return {};
}

Expected<SeqChunk> CpuBackend::own_chunk(const uint32* tokens, uint32 n, uint32 pos) {
    VKS_TRY(reserve_kv(pos + n));
    SeqChunk c;
    c.kv = &own_;
    c.tokens = tokens;
    c.n_tokens = n;
    c.pos = pos;
    return c;
}

ExpectedVoid CpuBackend::check_chunks(const std::vector<SeqChunk>& chunks) const {
    if (!weights_) return arg_error("forward_batch() called before prepare()");
    uint64 total = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
        const SeqChunk& c = chunks[i];
        const std::string at = "forward_batch: chunk " + std::to_string(i) + ": ";
        if (!c.kv || !c.tokens || c.n_tokens == 0) return arg_error(at + "needs a block table and at least one token");
        if (uint64(c.pos) + c.n_tokens > n_ctx_)
            return arg_error(at + "positions [" + std::to_string(c.pos) + ", " + std::to_string(uint64(c.pos) + c.n_tokens) + ") exceed n_ctx " + std::to_string(n_ctx_));
        if (c.kv->n_pos < c.pos + c.n_tokens || uint64(c.kv->blocks.size()) * kv_.layout().block_positions < c.kv->n_pos)
            return arg_error(at + "its block table does not cover positions [0, " + std::to_string(c.pos + c.n_tokens) + ") (KvBlockPool::prepare_write first)");
        for (uint32 b : c.kv->blocks)
            if (b >= kv_.layout().n_blocks) return arg_error(at + "block " + std::to_string(b) + " is not in the pool");
        for (uint32 t = 0; t < c.n_tokens; ++t)
            if (c.tokens[t] >= cfg_.n_vocab)
                return arg_error(at + "token " + std::to_string(c.tokens[t]) + " at index " + std::to_string(t) + " is out of range (n_vocab " + std::to_string(cfg_.n_vocab) + ")");
        for (size_t j = 0; j < i; ++j)
            if (chunks[j].kv == c.kv) return arg_error(at + "the same block table as chunk " + std::to_string(j));
        total += c.n_tokens;
    }
    if (chunks.empty() || total > n_batch_)
        return arg_error("forward_batch: " + std::to_string(total) + " tokens in " + std::to_string(chunks.size()) + " chunks (1 to n_batch " + std::to_string(n_batch_) + ")");
    return {};
}

ExpectedVoid CpuBackend::forward_batch(const std::vector<SeqChunk>& chunks) {
    VKS_TRY(check_chunks(chunks));
    return run_pass(chunks);
}

void CpuBackend::bind_rows(const std::vector<SeqChunk>& chunks) {
    chunks_ = chunks;
    uint32 r = 0;
    for (uint32 c = 0; c < chunks.size(); ++c)
        for (uint32 t = 0; t < chunks[c].n_tokens; ++t, ++r) {
            row_chunk_[r] = c;
            row_pos_[r] = chunks[c].pos + t;
        }
}

ExpectedVoid CpuBackend::run_pass(const std::vector<SeqChunk>& chunks) {
    bind_rows(chunks);
    uint32 n = 0;
    hint_layer(0);
    for (const SeqChunk& c : chunks)
        for (uint32 t = 0; t < c.n_tokens; ++t, ++n) {
            float* row = x_.data() + uint64(n) * cfg_.n_embd;
            VKS_TRY(weights_->embedding_row(c.tokens[t], row));
            if (cfg_.embd_scale != 1.0f)
                for (uint32 i = 0; i < cfg_.n_embd; ++i) row[i] *= cfg_.embd_scale;
        }
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        hint_layer(l + 1);
        VKS_TRY(attention_block(l, n));
        VKS_TRY(ffn_block(l, n));
    }
    return output_rows(chunks);
}

ExpectedVoid CpuBackend::forward_layer(uint32 layer, float* x, uint32 n, uint32 pos) {
    if (!weights_) return arg_error("forward_layer() called before prepare()");
    if (layer >= cfg_.n_layer || n == 0 || n > n_batch_ || uint64(pos) + n > n_ctx_)
        return arg_error("forward_layer(" + std::to_string(layer) + ", n " + std::to_string(n) + ", pos " + std::to_string(pos) + ") out of range");
    auto chunk = own_chunk(nullptr, n, pos);
    if (!chunk) return chunk.error();
    bind_rows({*chunk});
    const uint64 count = uint64(n) * cfg_.n_embd;
    std::copy(x, x + count, x_.begin());
    VKS_TRY(attention_block(layer, n));
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

ExpectedVoid CpuBackend::load_vector(TensorId id, uint64 n) {
    auto h = weights_->acquire(id);
    if (!h) return h.error();
    const WeightView& v = h->view();
    if (v.rows != 1 || v.cols != n || n > vec_.size() || v.slices.size() != 1 || !v.slices[0].data)
        return make_error(ErrorCode::Internal, "cpu backend: vector tensor '" + tensor_name(id) + "' must arrive as one slice of " + std::to_string(n) + " values");
    cpu::convert_to_f32(v.dtype, v.slices[0].data, vec_.data(), n, path_);
    return {};
}

ExpectedVoid CpuBackend::attention_block(uint32 l, uint32 n) {
    const uint64 E = cfg_.n_embd, Q = cfg_.q_dim();
    VKS_TRY(attention_heads(l, x_.data(), n, cfg_.n_head_kv));
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

ExpectedVoid CpuBackend::attention_heads(uint32 l, const float* x, uint32 n, uint32 kv_heads) {
    VKS_TRY(qkv_heads(l, x, n, kv_heads));
    const uint32 heads = kv_heads * (cfg_.n_head / cfg_.n_head_kv);
    store_kv(l, n, uint64(kv_heads) * cfg_.head_dim);  // each K / V row into its sequence's block
    if (heads > 0) attention_core(l, n, heads);
    return {};
}

ExpectedVoid CpuBackend::qkv_extras(uint32 l, uint32 n, uint32 heads, uint32 kv_heads) {
    const int32 L = int32(l);
    const uint32 hd = cfg_.head_dim;
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim(), qn = uint64(heads) * hd, kn = uint64(kv_heads) * hd;
    if (cfg_.has_qkv_bias) {
        VKS_TRY(load_vector({TensorRole::BiasQ, L}, Q));
        for (uint32 t = 0; t < n; ++t) cpu::add_inplace(q_.data() + t * Q, vec_.data(), qn);
        VKS_TRY(load_vector({TensorRole::BiasK, L}, KV));
        for (uint32 t = 0; t < n; ++t) cpu::add_inplace(k_.data() + t * KV, vec_.data(), kn);
        VKS_TRY(load_vector({TensorRole::BiasV, L}, KV));
        for (uint32 t = 0; t < n; ++t) cpu::add_inplace(v_.data() + t * KV, vec_.data(), kn);
    }
    if (cfg_.has_qk_norm) {
        // One RMSNorm per head over head_dim, the same weights for every head.
        VKS_TRY(load_vector({TensorRole::AttnQNorm, L}, hd));
        for (uint32 t = 0; t < n; ++t)
            for (uint32 h = 0; h < heads; ++h) cpu::rmsnorm(q_.data() + t * Q + h * hd, vec_.data(), q_.data() + t * Q + h * hd, hd, cfg_.rms_eps);
        VKS_TRY(load_vector({TensorRole::AttnKNorm, L}, hd));
        for (uint32 t = 0; t < n; ++t)
            for (uint32 h = 0; h < kv_heads; ++h) cpu::rmsnorm(k_.data() + t * KV + h * hd, vec_.data(), k_.data() + t * KV + h * hd, hd, cfg_.rms_eps);
    }
    return {};
}

void CpuBackend::rope_and_round(uint32 l, uint32 n, uint32 heads, uint32 kv_heads) {
    const uint32 hd = cfg_.head_dim;
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    const float* factors = cfg_.rope_freq_factors.empty() ? nullptr : cfg_.rope_freq_factors.data();
    const cpu::RopeParams rp{hd, cfg_.n_rot, cfg_.rope_base(l), cfg_.rope_scale(l), cfg_.rope_style, factors};
    for (uint32 t = 0; t < n; ++t) {
        float* k = k_.data() + t * KV;
        cpu::rope(q_.data() + t * Q, heads, row_pos_[t], rp);
        cpu::rope(k, kv_heads, row_pos_[t], rp);
        if (kv_precision_ == KvPrecision::F16Rounded) {
            round_to_f16(k, uint64(kv_heads) * hd);
            round_to_f16(v_.data() + t * KV, uint64(kv_heads) * hd);
            round_to_f16(q_.data() + t * Q, uint64(heads) * hd);
        }
    }
}

void CpuBackend::store_kv(uint32 l, uint32 n, uint64 cols) {
    const uint64 KV = cfg_.kv_dim();
    for (uint32 t = 0; t < n; ++t) {
        const KvBlockTable& kv = *chunks_[row_chunk_[t]].kv;
        std::copy(k_.data() + t * KV, k_.data() + t * KV + cols, kv_.row(kv, l, false, row_pos_[t]));
        std::copy(v_.data() + t * KV, v_.data() + t * KV + cols, kv_.row(kv, l, true, row_pos_[t]));
    }
}

void CpuBackend::bind_blocks(uint32 l) {
    kblk_.clear();
    vblk_.clear();
    blk_off_.clear();
    for (const SeqChunk& c : chunks_) {
        blk_off_.push_back(kblk_.size());
        for (uint32 b : c.kv->blocks) {
            kblk_.push_back(kv_.row(b, l, false, 0));
            vblk_.push_back(kv_.row(b, l, true, 0));
        }
    }
}

void CpuBackend::attention_core(uint32 l, uint32 n, uint32 n_heads) {
    // One work item per (row, head): the row at position p attends to its own sequence's
    // positions [0 or its window's first, p].
    const uint32 hd = cfg_.head_dim, group = cfg_.n_head / cfg_.n_head_kv, H = n_heads ? n_heads : cfg_.n_head;
    const uint32 W = cfg_.is_sliding(l) ? cfg_.sliding_window : 0, P = kv_.layout().block_positions;
    const uint64 Q = cfg_.q_dim(), KV = cfg_.kv_dim();
    bind_blocks(l);
    auto item = [&](uint64 i, uint32 worker) {
        const uint32 t = uint32(i / H), h = uint32(i % H), p = row_pos_[t];
        const uint64 off = blk_off_[row_chunk_[t]];
        cpu::PagedAttentionArgs a;
        a.q = q_.data() + t * Q + uint64(h) * hd;
        a.k = {kblk_.data() + off, P, KV};
        a.v = {vblk_.data() + off, P, KV};
        a.col = uint64(h / group) * hd;
        a.first = W && p + 1 > W ? p + 1 - W : 0;
        a.end = p + 1;
        a.head_dim = hd;
        a.scale = cfg_.attention_scale();
        a.softcap = cfg_.attn_softcap;
        a.scores = scores_.data() + uint64(worker) * n_ctx_;
        a.out = att_.data() + t * Q + uint64(h) * hd;
        cpu::paged_attention_head(a, path_);
    };
    const uint64 items = uint64(n) * H;
    uint64 work = 0;  // ~multiply-adds
    for (uint32 t = 0; t < n; ++t) work += (uint64(row_pos_[t]) + 1) * H * hd;
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
    // Rows over the pool: a prompt's n x n_ff exponentials would otherwise run on one thread while the others wait.
    pool_.parallel_for(n, 1, [&](uint64 t0, uint64 t1, uint32) {
        for (uint64 t = t0; t < t1; ++t) {
            if (cfg_.activation == FfnActivation::GeluTanh) cpu::geglu(gate_.data() + t * F, up_.data() + t * F, units);
            else cpu::swiglu(gate_.data() + t * F, up_.data() + t * F, units);
        }
    });
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
    auto chunk = own_chunk(nullptr, 1, pos);
    if (!chunk) return chunk.error();
    bind_rows({*chunk});
    VKS_TRY(attention_heads(l, x, 1, kv_heads));
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

ExpectedVoid CpuBackend::output_rows(const std::vector<SeqChunk>& chunks) {
    const uint64 E = cfg_.n_embd, V = cfg_.n_vocab;
    // The rows that produce logits, normed into xb_ in order; `dest` the buffer of each.
    std::vector<float*> dest;
    uint32 r = 0;
    VKS_TRY(load_vector({TensorRole::OutputNorm, -1}, E));
    for (const SeqChunk& c : chunks) {
        for (uint32 t = 0; t < c.n_tokens; ++t, ++r) {
            if (!c.logits || (!c.all_logits && t + 1 < c.n_tokens)) continue;
            cpu::rmsnorm(x_.data() + r * E, vec_.data(), xb_.data() + dest.size() * E, E, cfg_.rms_eps);
            dest.push_back(c.logits + (c.all_logits ? uint64(t) * V : 0));
        }
    }
    if (dest.empty()) return {};
    const uint32 m = uint32(dest.size());
    // Consecutive rows of one buffer (a single chunk wants logits): written in place.
    bool in_place = true;
    for (uint32 i = 1; i < m; ++i) in_place = in_place && dest[i] == dest[0] + uint64(i) * V;
    if (in_place) {
        VKS_TRY(project({TensorRole::Output, -1}, V, E, xb_.data(), E, m, dest[0], V));
        if (cfg_.final_softcap > 0.0f) cpu::softcap(dest[0], uint64(m) * V, cfg_.final_softcap);
        return {};
    }
    try {
        if (logits_.size() < uint64(m) * V) logits_.resize(uint64(m) * V);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "cpu backend: cannot allocate logits for " + std::to_string(m) + " rows");
    }
    VKS_TRY(project({TensorRole::Output, -1}, V, E, xb_.data(), E, m, logits_.data(), V));
    if (cfg_.final_softcap > 0.0f) cpu::softcap(logits_.data(), uint64(m) * V, cfg_.final_softcap);
    for (uint32 i = 0; i < m; ++i) std::copy(logits_.data() + uint64(i) * V, logits_.data() + uint64(i + 1) * V, dest[i]);
    return {};
}

}  // namespace vk_symbiote
