#include "backend/vulkan/BatchRowsPass.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "backend/cpu/CpuKernels.h"

namespace vk_symbiote {

namespace {

using SClock = std::chrono::steady_clock;
double secs(SClock::time_point a, SClock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// The share of the copies of the piece after a layer's first piece (Q / K / V and Wo) made in
// the Q / K / V exchange; the rest in the wo exchange: Q / K / V hold 3 of those 4 matrices'
// bytes in Llama shapes, so each exchange's copies about match its CPU part.
constexpr double kQkvCopyShare = 0.75;

// Byte `frac` of a piece's copies, moved back to a 256-byte step from the start of the copy it
// falls in (copy.comp's alignment holds at such steps).
uint64 cut_at(const std::vector<WeightStreamRing::SourceCopy>& cs, double frac) {
    uint64 total = 0;
    for (const auto& c : cs) total += c.region.size;
    if (frac >= 1.0) return total;
    const uint64 want = uint64(double(total) * frac);
    uint64 at = 0;
    for (const auto& c : cs) {
        if (want < at + c.region.size) return at + (want - at) / 256 * 256;
        at += c.region.size;
    }
    return total;
}

}  // namespace

BatchRowsPass::BatchRowsPass(VulkanContext& ctx, VulkanModel& m, BatchHybrid& h, PassCounters& counters, const BatchRows& rows)
    : ctx_(ctx),
      m_(m),
      rows_(*m.rows),
      h_(h),
      counters_(counters),
      batch_(rows),
      cfg_(m.cfg),
      kernels_(ctx, m.cfg, m.w, m.buf, m.shader, *m.ring, m.shader_copied),
      c_(kernels_.op_context()),
      B_(rows.n_rows()),
      E_(m.cfg.n_embd),
      F_(m.cfg.n_ff),
      V_(m.cfg.n_vocab),
      Q_(m.cfg.q_dim()),
      KV_(m.cfg.kv_dim()),
      gpu_stale_(m.cfg.n_embd) {
    kernels_.set_rows(&rows);
}

ExpectedVoid BatchRowsPass::run() {
    Qc_ = rows_.cpu_rows(TensorRole::Wq), Kc_ = rows_.cpu_rows(TensorRole::Wk), Ec_ = rows_.cpu_rows(TensorRole::Wo);
    Fc_ = rows_.cpu_rows(TensorRole::Wgate);
    copies_ = B_ == 1 && rows_.shader && rows_.piece_shader_ok;
    const ModelBuffers& b = m_.buf;
    const std::vector<uint32> img = batch_.image(cfg_, b.n_batch(), b.paged().align, b.rope_host, b.rope_host_swa);
    VKS_TRY(ctx_.compute.upload(img.data(), img.size() * 4, b.pass_rows.buffer(), 0));
    for (uint32 r = 0; r < B_; ++r) VKS_TRY(embedding_input(*m_.weights, cfg_, batch_.tokens()[r], h_.x.data() + uint64(r) * E_));
    S_ = rows_.piece_count();
    for (uint32 seg = 0; seg < cfg_.n_layer; ++seg) VKS_TRY(m_.w.streams(seg) ? split_layer(seg) : resident_segment(seg));
    VKS_TRY(head(cfg_.n_layer));
    for (const auto& t : m_.w.plan.tensors) counters_.vram_hits += t.resident;
    counters_.cpu_seconds += cpu_s_;
    counters_.wait_seconds += wait_s_;
    counters_.cpu_weight_bytes += cpu_bytes_;
    rows_.parity = (rows_.parity + S_) % 2;  // the next pass's first piece takes half (S + parity) % 2
    return {};
}

uint32 BatchRowsPass::half_of(uint32 k) const { return uint32(m_.ring->half_slot(0, (k + rows_.parity) % 2)); }

int32 BatchRowsPass::piece_half(uint32 seg, uint32 p) const {
    const int32 k = rows_.piece_index(seg, p);
    return k < 0 ? -1 : int32(half_of(uint32(k)));
}

ExpectedVoid BatchRowsPass::resident_segment(uint32 seg) {
    VKS_TRY(open());
    VKS_TRY(x_to_gpu());
    VKS_TRY(kernels_.record_layer(c_, seg, B_, 0));
    host_current_ = false;
    return {};
}

// Piece p of split segment seg starts: its upload (with the next piece's on a transfer queue,
// whose half the piece before last has left), x back from resident segments before, a recording
// open (which records the upload without a transfer queue), x's stale columns to the device.
ExpectedVoid BatchRowsPass::begin_split(uint32 seg, uint32 p, bool x_up) {
    const int32 k = rows_.piece_index(seg, p);
    const bool tq = m_.ring->uses_transfer_queue();
    if (tq && k >= 0) VKS_TRY(issue_until(uint32(k) + 2));
    VKS_TRY(x_to_host());
    VKS_TRY(open());
    if (!tq && k >= 0) VKS_TRY(issue_until(uint32(k) + 1));
    // Copies of this piece in earlier submissions: a barrier makes their writes visible (its
    // first scope covers earlier submissions on the queue). The next piece's copies run beside
    // this piece's kernels (a layer's first piece: the Q / K / V share here, the rest with wo).
    if (k >= 0 && by_copy(uint32(k))) ctx_.rt.barrier();
    if (k >= 0 && by_copy(uint32(k) + 1)) VKS_TRY(copy_piece(uint32(k) + 1, 0.0, p == 0 ? kQkvCopyShare : 1.0));
    return x_up ? x_to_gpu() : ExpectedVoid{};
}

// Pieces: 0 (Q / K / V, Wo) for exchanges 1-3, 1 (gate / up) for 4, 2 (down) for 5.
ExpectedVoid BatchRowsPass::split_layer(uint32 seg) {
    const int32 h0 = piece_half(seg, 0), h2 = piece_half(seg, 2);
    VKS_TRY(begin_split(seg, 0));
    VKS_TRY(qkv_exchange(seg, h0));
    VKS_TRY(attention_exchange(seg));
    VKS_TRY(output_exchange(TensorRole::Wo, seg, h0, ActView{m_.buf.att.buffer(), 0, Q_}, h_.full.data(), TensorRole::PostAttnNorm));
    VKS_TRY(begin_split(seg, 1));
    VKS_TRY(ffn_exchange(seg, piece_half(seg, 1)));
    VKS_TRY(begin_split(seg, 2));
    VKS_TRY(output_exchange(TensorRole::Wdown, seg, h2, ActView{m_.buf.hb.buffer(), 0, F_}, h_.full.data(), TensorRole::PostFfnNorm));
    cpu_bytes_ += cpu_share_bytes(seg);
    counters_.vram_misses += m_.w.streamed[seg].size();
    ++counters_.cpu_layer_runs;
    return {};
}

// 1. The GPU's Q / K / V rows into q and k_new / v_new; the CPU's into h.part: q (B, Qc), k, v (B, Kc).
ExpectedVoid BatchRowsPass::qkv_exchange(uint32 seg, int32 half) {
    const int32 L = int32(seg);
    auto xn = kernels_.normed_x(c_, TensorRole::AttnNorm, seg, B_);
    if (!xn) return xn.error();
    const DeviceWeight wq = gpu_part(TensorRole::Wq, L, half), wk = gpu_part(TensorRole::Wk, L, half), wv = gpu_part(TensorRole::Wv, L, half);
    VKS_TRY(kernels_.record_qkv(c_, seg, B_, 0, *xn, LayerKernels::QkvWeights{wq, wk, wv}));
    float* q = h_.part.data();
    float* k = q + uint64(B_) * Qc_;
    float* v = k + uint64(B_) * Kc_;
    // Each row's position: the pass image's row info is not kept on the host, so take it from the rows.
    std::vector<uint32> pos(B_);
    for (uint32 r = 0; r < B_; ++r) pos[r] = batch_.position(r);
    return exchange(half, [&] { return h_.cpu->qkv_rows(seg, h_.x.data(), B_, pos.data(), rows_.cpu_heads, q, k, v); });
}

// 2. The CPU's rows beside the GPU's, attention of every head over the pool, att to the host (h.full).
ExpectedVoid BatchRowsPass::attention_exchange(uint32 seg) {
    VKS_TRY(open());
    std::memcpy(h_.up.mapped(), h_.part.data(), uint64(B_) * (Qc_ + 2ull * Kc_) * 4);
    VKS_TRY(rows_in(0, m_.buf.q.buffer(), Q_, 0, Qc_, B_));
    VKS_TRY(rows_in(uint64(B_) * Qc_, m_.buf.k_new_buffer(), KV_, 0, Kc_, B_));
    VKS_TRY(rows_in(uint64(B_) * (Qc_ + Kc_), m_.buf.v_new_buffer(), KV_, 0, Kc_, B_));
    VKS_TRY(kernels_.record_attention(c_, seg, B_, 0));
    VKS_TRY(m_.ring->record_copy_out(m_.buf.att.buffer(), h_.down.buffer(), uint64(B_) * Q_ * 4));
    VKS_TRY(exchange(-1, [] { return ExpectedVoid{}; }));
    std::memcpy(h_.full.data(), h_.down.mapped(), uint64(B_) * Q_ * 4);
    return {};
}

ExpectedVoid BatchRowsPass::output_exchange(TensorRole role, uint32 seg, int32 half, ActView in_dev, const float* in_host, TensorRole post) {
    const bool pn = cfg_.has_post_norms;
    const VkBuffer out = pn ? m_.buf.xn.buffer() : m_.buf.x.buffer();
    VKS_TRY(open());
    const int32 k0 = rows_.piece_index(seg, 0);
    if (role == TensorRole::Wo && k0 >= 0 && by_copy(uint32(k0) + 1)) VKS_TRY(copy_piece(uint32(k0) + 1, kQkvCopyShare, 1.0));
    if (role == TensorRole::Wdown) {  // the CPU's units beside the GPU's in hb
        for (uint32 r = 0; r < B_; ++r) std::memcpy(static_cast<float*>(h_.up.mapped()) + uint64(r) * Fc_, in_host + uint64(r) * F_, uint64(Fc_) * 4);
        VKS_TRY(rows_in(0, m_.buf.hb.buffer(), F_, 0, Fc_, B_));
    }
    VKS_TRY(op_matmul(c_, gpu_part(role, int32(seg), half), in_dev, ActView{out, 0, E_}, B_, !pn));
    ctx_.rt.barrier();
    VKS_TRY(m_.ring->record_copy_out(out, h_.down.buffer(), uint64(B_) * E_ * 4));
    float* part = h_.part.data();  // (B, Ec)
    VKS_TRY(exchange(half, [&] { return h_.cpu->project_rows({role, int32(seg)}, Ec_, in_host, B_, part); }));
    const float* down = static_cast<const float*>(h_.down.mapped());
    const TensorId post_id{post, int32(seg)};
    for (uint32 r = 0; r < B_; ++r) {
        float* x = h_.x.data() + uint64(r) * E_;
        const float* d = down + uint64(r) * E_;
        const float* p = part + uint64(r) * Ec_;
        if (!pn) {
            cpu::add_inplace(x, p, Ec_);                                     // the CPU's rows join x here,
            std::memcpy(x + Ec_, d + Ec_, uint64(E_ - Ec_) * 4);           // the GPU added its rows on the device
            continue;
        }
        std::vector<float> o(d, d + E_);  // the block's output: CPU rows [0, Ec), GPU rows [Ec, E)
        std::memcpy(o.data(), p, uint64(Ec_) * 4);
        VKS_TRY(h_.cpu->post_norm_part(post_id, o.data(), x));
    }
    gpu_stale_ = pn ? E_ : Ec_;
    return {};
}

// 4. Hidden units: the GPU's [Fc, F) into hb, the CPU's [0, Fc); both assembled in h.full (B, F).
ExpectedVoid BatchRowsPass::ffn_exchange(uint32 seg, int32 half) {
    const int32 L = int32(seg);
    auto xn = kernels_.normed_x(c_, TensorRole::FfnNorm, seg, B_);
    if (!xn) return xn.error();
    VKS_TRY(op_swiglu(c_, gpu_part(TensorRole::Wgate, L, half), gpu_part(TensorRole::Wup, L, half), xn->x,
                      ActView{m_.buf.hb.buffer(), 0, F_}, B_, xn->fused_norm(), cfg_.activation));
    ctx_.rt.barrier();
    VKS_TRY(m_.ring->record_copy_out(m_.buf.hb.buffer(), h_.down.buffer(), uint64(B_) * F_ * 4));
    float* part = h_.part.data();  // (B, Fc)
    VKS_TRY(exchange(half, [&] { return h_.cpu->ffn_rows(seg, h_.x.data(), B_, Fc_, part); }));
    std::memcpy(h_.full.data(), h_.down.mapped(), uint64(B_) * F_ * 4);
    for (uint32 r = 0; r < B_; ++r) std::memcpy(h_.full.data() + uint64(r) * F_, part + uint64(r) * Fc_, uint64(Fc_) * 4);
    return {};
}

ExpectedVoid BatchRowsPass::head(uint32 seg) {
    if (batch_.out_rows().empty()) return end_pass();
    if (!m_.w.streams(seg)) return resident_head();
    if (rows_.cpu_segment(seg)) return split_head(-1, V_);
    VKS_TRY(begin_split(seg, RowsSplit::piece_of(TensorRole::Output), false));  // the head uploads the out rows of x itself
    return split_head(piece_half(seg, RowsSplit::piece_of(TensorRole::Output)), rows_.cpu_rows(TensorRole::Output));
}

ExpectedVoid BatchRowsPass::split_head(int32 half, uint32 Vc) {
    VKS_TRY(x_to_host());
    const std::vector<uint32>& out = batch_.out_rows();
    const uint32 n = uint32(out.size());
    float* xo = h_.full.data();  // (n, E) the out rows of x
    for (uint32 i = 0; i < n; ++i) std::memcpy(xo + uint64(i) * E_, h_.x.data() + uint64(out[i]) * E_, uint64(E_) * 4);
    h_.logits.resize(uint64(n) * V_);
    float* part = h_.part.data();  // (n, Vc)
    if (Vc == V_) {
        VKS_TRY(end_pass());
        const auto t0 = SClock::now();
        VKS_TRY(h_.cpu->output_rows_part(xo, n, V_, part));
        cpu_s_ += secs(t0, SClock::now());
        std::memcpy(h_.logits.data(), part, uint64(n) * V_ * 4);
        cpu_bytes_ += m_.w.seg_bytes[cfg_.n_layer];
        return {};
    }
    VKS_TRY(open());
    std::memcpy(h_.up.mapped(), xo, uint64(n) * E_ * 4);
    VKS_TRY(m_.ring->record_copy_in(h_.up.buffer(), m_.buf.x.buffer(), uint64(n) * E_ * 4));  // x rows [0, n): the out rows
    // The output norm: fused into the matmul (matvec-sized n) or into xn (its weights are layer -1's).
    LayerKernels::NormedX xn{ActView{m_.buf.x.buffer(), 0, E_}, kernels_.fused_norm(TensorRole::OutputNorm, 0), fused_norm_applies(c_, n)};
    if (!xn.fused) {
        VKS_TRY(op_rmsnorm(c_, m_.w.at(TensorRole::OutputNorm, -1), xn.x, ActView{m_.buf.xn.buffer(), 0, E_}, E_, n, cfg_.rms_eps));
        ctx_.rt.barrier();
        xn.x = ActView{m_.buf.xn.buffer(), 0, E_};
    }
    VKS_TRY(op_matmul(c_, gpu_part(TensorRole::Output, -1, half), xn.x, ActView{m_.buf.logits.buffer(), 0, V_}, n, false, false, xn.fused_norm()));
    ctx_.rt.barrier();
    VKS_TRY(m_.ring->record_copy_out(m_.buf.logits.buffer(), h_.down.buffer(), uint64(n) * V_ * 4));
    m_.ring->mark_forward_end(cmd_);
    VKS_TRY(exchange(half, [&] { return h_.cpu->output_rows_part(xo, n, Vc, part); }));
    const float* down = static_cast<const float*>(h_.down.mapped());
    for (uint32 i = 0; i < n; ++i) {
        float* l = h_.logits.data() + uint64(i) * V_;
        std::memcpy(l, part + uint64(i) * Vc, uint64(Vc) * 4);
        std::memcpy(l + Vc, down + uint64(i) * V_ + Vc, uint64(V_ - Vc) * 4);
        if (cfg_.final_softcap > 0.0f) cpu::softcap(l + Vc, V_ - Vc, cfg_.final_softcap);  // output_rows_part capped the CPU's
    }
    cpu_bytes_ += cpu_share_bytes(cfg_.n_layer);
    counters_.vram_misses += m_.w.streamed[cfg_.n_layer].size();
    return {};
}

ExpectedVoid BatchRowsPass::resident_head() {
    const std::vector<uint32>& out = batch_.out_rows();
    VKS_TRY(open());
    VKS_TRY(x_to_gpu());
    VKS_TRY(kernels_.record_head_rows(c_, out));
    VKS_TRY(m_.ring->record_copy_out(m_.buf.logits.buffer(), h_.down.buffer(), uint64(out.size()) * V_ * 4));
    m_.ring->mark_forward_end(cmd_);
    VKS_TRY(exchange(-1, [] { return ExpectedVoid{}; }));
    h_.logits.assign(static_cast<const float*>(h_.down.mapped()), static_cast<const float*>(h_.down.mapped()) + uint64(out.size()) * V_);
    return {};
}

ExpectedVoid BatchRowsPass::end_pass() {
    VKS_TRY(open());
    m_.ring->mark_forward_end(cmd_);
    VKS_TRY(m_.ring->submit(-1));
    cmd_ = VK_NULL_HANDLE;
    return {};
}

// The CPU's share of a split segment's weight bytes (its rows of every matrix).
uint64 BatchRowsPass::cpu_share_bytes(uint32 seg) const {
    uint64 bytes = 0;
    for (const VramTensor& t : m_.w.tensors)
        if (t.segment == seg && !t.norm) bytes += std::min<uint64>(t.rows, rows_.cpu_rows(t.id.role)) * t.row_bytes;
    return bytes;
}

template <class CpuPart>
ExpectedVoid BatchRowsPass::exchange(int32 half, CpuPart&& cpu_part) {
    VKS_TRY(m_.ring->submit(half));
    cmd_ = VK_NULL_HANDLE;
    const auto t0 = SClock::now();
    auto r = cpu_part();
    const auto t1 = SClock::now();
    auto w = m_.ring->wait_compute();  // also when the CPU part failed: nothing may stay in flight unseen
    if (!r) return r;
    if (!w) return w;
    cpu_s_ += secs(t0, t1);
    wait_s_ += secs(t1, SClock::now());
    if (half >= 0) {
        upload_wait_s_ += secs(t1, SClock::now());
        gpu_side_s_ += secs(t0, SClock::now());
    }
    return {};
}

ExpectedVoid BatchRowsPass::open() {
    if (cmd_ != VK_NULL_HANDLE) return {};
    auto b = m_.ring->begin();
    if (!b) return b.error();
    if (!started_) {
        m_.ring->mark_forward_start(*b);
        ctx_.rt.begin(*b);
        started_ = true;
    } else {
        ctx_.rt.continue_recording(*b);
    }
    cmd_ = *b;
    return {};
}

ExpectedVoid BatchRowsPass::rows_in(uint64 up_floats, VkBuffer dst, uint32 stride, uint32 col, uint32 cols, uint32 n) {
    if (cols == 0) return {};
    if (cols == stride) return m_.ring->record_copy_in(h_.up.buffer(), dst, uint64(n) * cols * 4, up_floats * 4, uint64(col) * 4);
    std::vector<VkBufferCopy> regions(n);
    for (uint32 r = 0; r < n; ++r) regions[r] = {(up_floats + uint64(r) * cols) * 4, (uint64(r) * stride + col) * 4, uint64(cols) * 4};
    return m_.ring->record_copy_in(h_.up.buffer(), dst, regions);
}

ExpectedVoid BatchRowsPass::x_to_gpu() {
    if (gpu_stale_ == 0) return {};
    auto* up = static_cast<float*>(h_.up.mapped());
    for (uint32 r = 0; r < B_; ++r) std::memcpy(up + uint64(r) * gpu_stale_, h_.x.data() + uint64(r) * E_, uint64(gpu_stale_) * 4);
    VKS_TRY(rows_in(0, m_.buf.x.buffer(), E_, 0, gpu_stale_, B_));
    gpu_stale_ = 0;
    return {};
}

ExpectedVoid BatchRowsPass::x_to_host() {
    if (host_current_) return {};
    VKS_TRY(open());
    VKS_TRY(m_.ring->record_copy_out(m_.buf.x.buffer(), h_.down.buffer(), uint64(B_) * E_ * 4));
    VKS_TRY(exchange(-1, [] { return ExpectedVoid{}; }));
    std::memcpy(h_.x.data(), h_.down.mapped(), uint64(B_) * E_ * 4);
    host_current_ = true;
    return {};
}

ExpectedVoid BatchRowsPass::issue_until(uint32 upto) {
    for (; issued_ < upto && issued_ < S_; ++issued_) {
        if (by_copy(issued_)) continue;
        const uint32 h = half_of(issued_);
        auto host = m_.ring->acquire_slot(h);
        if (!host) return host.error();
        VKS_TRY(m_.ring->upload_from(h, rows_.piece_copies[issued_]));
        for (const auto& c : rows_.piece_copies[issued_]) bus_bytes_ += c.region.size;
    }
    return {};
}

DeviceWeight BatchRowsPass::gpu_part(TensorRole role, int32 layer, int32 half) const {
    return rows_.gpu_part(role, layer, uint32(std::max(half, 0)));  // half < 0: the tensor is resident
}

bool BatchRowsPass::by_copy(uint32 k) const { return copies_ && k > 0 && k < S_ && rows_.piece_segment[k] < cfg_.n_layer; }

ExpectedVoid BatchRowsPass::copy_piece(uint32 k, double lo, double hi) {
    const auto& cs = rows_.piece_copies[k];
    const uint64 a0 = cut_at(cs, lo), e0 = cut_at(cs, hi);
    const uint32 h = half_of(k);
    const WeightStreamRing& ring = *m_.ring;
    // As many workgroups as the serial decode's copies (RowsPass::shader_copies; docs/tuning.md).
    const uint32 groups = ctx_.opt.rows_copy_workgroups ? ctx_.opt.rows_copy_workgroups : 256;
    uint64 at = 0;
    for (const auto& c : cs) {
        const uint64 a = std::max(at, a0), e = std::min(at + c.region.size, e0);
        if (a < e) {
            VKS_TRY(op_copy(c_, c.src, c.region.srcOffset + (a - at), ring.slot_buffer(h), ring.slot_offset(h) + c.region.dstOffset + (a - at), e - a, groups));
            m_.shader_copied += e - a;
            bus_bytes_ += e - a;
        }
        at += c.region.size;
    }
    return {};
}

}  // namespace vk_symbiote
