#include "backend/vulkan/RowsPass.h"

#include <chrono>
#include <cstring>

namespace vk_symbiote {

namespace {

using SClock = std::chrono::steady_clock;
double secs(SClock::time_point a, SClock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

RowsPass::RowsPass(VulkanContext& ctx, VulkanModel& m, PassCounters& counters, uint64& rows_ahead_passes, const ForwardRequest& req)
    : ctx_(ctx),
      m_(m),
      rows_(*m.rows),
      h_(*m.hybrid),
      counters_(counters),
      rows_ahead_passes_(rows_ahead_passes),
      req_(req),
      cfg_(m.cfg),
      kernels_(ctx, m.cfg, m.w, m.buf, m.shader, *m.ring, m.shader_copied),
      c_(kernels_.op_context()),
      E_(m.cfg.n_embd),
      F_(m.cfg.n_ff),
      V_(m.cfg.n_vocab),
      Q_(m.cfg.q_dim()),
      pos_(req.pos),
      gpu_stale_(m.cfg.n_embd) {}

ExpectedVoid RowsPass::run() {
    VKS_TRY(apply_pending_heads());
    if (m_.dma.pre_seg >= 0) {  // a whole layer uploaded ahead for a batch: not this pass's layout
        VKS_TRY(m_.ring->discard_upload(0));
        m_.dma.pre_seg = -1;
    }
    heads_ = rows_.cpu_heads;
    Qc_ = rows_.cpu_rows(TensorRole::Wq), Ec_ = rows_.cpu_rows(TensorRole::Wo), Fc_ = rows_.cpu_rows(TensorRole::Wgate);
    VKS_TRY(embedding_input(*m_.weights, cfg_, req_.tokens[0], m_.buf.xh.data()));
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg)
        if (m_.w.streams(seg) && !rows_.cpu_segment(seg)) streamed_.push_back(seg);
    S_ = uint32(streamed_.size());
    take_rows_ahead();
    // Shader copies: segment j's exchanges copy segment j + 1's rows (the phase's matrices)
    // into the other half; only the first segment is DMA.
    copies_from_ = rows_.shader ? 1 : S_;
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (!m_.w.streams(seg)) VKS_TRY(resident_segment(seg));
        else if (rows_.cpu_segment(seg)) VKS_TRY(cpu_head(seg));
        else if (seg == cfg_.n_layer) VKS_TRY(split_head(seg, half_of(j_)));
        else VKS_TRY(split_layer(seg, half_of(j_)));
    }
    return finish();
}

ExpectedVoid RowsPass::apply_pending_heads() {
    if (rows_.pending_heads < 0) return {};
    const uint32 m = rows_.min_cpu_heads + rows_.split_index(uint32(rows_.pending_heads));
    rows_.pending_heads = -1;
    if (m == rows_.cpu_heads) return {};
    if (rows_.pre >= 0) {
        VKS_TRY(m_.ring->discard_upload(uint32(rows_.pre)));
        rows_.pre = -1;
    }
    rows_.cpu_heads = m;
    rows_.layout();
    return {};
}

void RowsPass::take_rows_ahead() {
    if (!rows_.ahead && rows_.pre < 0) return;
    rows_ahead_passes_ += rows_.ahead;
    issued_ = 1;
    counters_.vram_misses += m_.w.streamed[streamed_[0]].size();
    rows_.ahead = false;
    rows_.pre = -1;
}

uint32 RowsPass::half_of(uint32 jj) const { return uint32(m_.ring->half_slot(0, (jj + rows_.parity) % 2)); }

ExpectedVoid RowsPass::resident_segment(uint32 seg) {
    VKS_TRY(open());
    VKS_TRY(x_to_gpu());
    if (seg < cfg_.n_layer) {
        VKS_TRY(h_.kv->sync(seg, pos_, 0, 0));
        VKS_TRY(kernels_.record_layer(c_, seg, 1, pos_));
        h_.kv->mark(seg, pos_, 1, 0, 0);
    } else {
        VKS_TRY(kernels_.record_head(c_, 0, 1));
        head_on_gpu_ = true;
    }
    host_current_ = false;
    return {};
}

// All logits rows from RAM. An empty recording marks the end of the GPU's part of the pass (its timer).
ExpectedVoid RowsPass::cpu_head(uint32 seg) {
    VKS_TRY(x_to_host());
    VKS_TRY(open());
    m_.ring->mark_forward_end(cmd_);
    VKS_TRY(m_.ring->submit(-1));
    cmd_ = VK_NULL_HANDLE;
    const auto t0 = SClock::now();
    VKS_TRY(h_.cpu->output_part(m_.buf.xh.data(), V_, h_.logits_h.data()));
    const double s = secs(t0, SClock::now());
    cpu_s_ += s;
    rows_.head_cpu_rows = V_;
    if (s > 0) ctx_.telemetry.record(TelemetryMeter::Rate::CpuWeight, m_.w.seg_bytes[seg], s);  // as a CPU layer's
    counters_.cpu_weight_bytes += m_.w.seg_bytes[seg];
    return {};
}

// A split segment's start: its rows' uploads, x back from resident segments before, and x's
// stale rows to the device.
ExpectedVoid RowsPass::begin_split(uint32) {
    const bool tq = m_.ring->uses_transfer_queue();
    if (tq) VKS_TRY(issue_until(j_ + 2));
    VKS_TRY(x_to_host());
    VKS_TRY(open());
    if (!tq) VKS_TRY(issue_until(j_ + 1));
    // Rows that shader copies wrote in earlier submissions: a barrier makes those writes
    // visible (its first scope covers earlier submissions on the queue).
    if (rows_.shader) ctx_.rt.barrier();
    VKS_TRY(x_to_gpu());
    layer_cpu_s_ = 0;
    return {};
}

// Logits rows [Vc, V) on the GPU (into logits_rb at their place), [0, Vc) on the CPU.
ExpectedVoid RowsPass::split_head(uint32 seg, uint32 half) {
    VKS_TRY(begin_split(seg));
    const uint32 Vc = rows_.cpu_rows(TensorRole::Output);
    const FusedNorm on = kernels_.fused_norm(TensorRole::OutputNorm, 0);
    const ActView x{m_.buf.x.buffer(), 0, E_};
    VKS_TRY(op_matmul(c_, rows_.gpu_part(TensorRole::Output, -1, half), x, ActView{m_.buf.logits.buffer(), 0, V_}, 1, false, false, &on));
    ctx_.rt.barrier();
    if (cfg_.final_softcap > 0.0f) {  // the GPU's rows; output_part caps the CPU's
        VKS_TRY(op_softcap(c_, ActView{m_.buf.logits.buffer(), Vc, V_}, V_ - Vc, cfg_.final_softcap));
        ctx_.rt.barrier();
    }
    VKS_TRY(m_.ring->record_copy_out(m_.buf.logits.buffer(), m_.buf.logits_rb.buffer(), uint64(V_ - Vc) * 4, uint64(Vc) * 4, uint64(Vc) * 4));
    m_.ring->mark_forward_end(cmd_);
    VKS_TRY(exchange(int32(half), 2, [&] { return h_.cpu->output_part(m_.buf.xh.data(), Vc, h_.logits_h.data()); }, nullptr));
    rows_.head_cpu_rows = Vc;
    ++j_;
    return {};
}

ExpectedVoid RowsPass::split_layer(uint32 seg, uint32 half) {
    VKS_TRY(begin_split(seg));
    seg_ = seg;  // for the recordings on the side thread
    half_ = half;
    VKS_TRY(h_.kv->sync(seg, pos_, heads_, heads_));
    const int32 L = int32(seg);
    float* xh = m_.buf.xh.data();
    const float* down = static_cast<const float*>(h_.x_down.mapped());
    auto* up = static_cast<float*>(m_.buf.x_up.mapped());
    VKS_TRY(attention_exchange(seg, half));
    // 2. wo (+ residual) on the whole attention output: x rows [Ec, E) on the GPU, [0, Ec) on the CPU.
    std::memcpy(up, h_.att_h.data(), size_t(Qc_) * 4);
    VKS_TRY(exchange(int32(half), 1, [&] { return cpu_output_rows({TensorRole::Wo, L}, h_.att_h.data()); }, [this] { return record_ffn(); }));
    VKS_TRY(join_output({TensorRole::PostAttnNorm, L}));
    // 3. gate / up: hidden units [Fc, F) on the GPU, [0, Fc) on the CPU.
    std::memcpy(up, xh, size_t(x_rows_up()) * 4);
    VKS_TRY(exchange(int32(half), 2, [&] { return h_.cpu->ffn_part(seg, xh, Fc_, h_.h_h.data()); },
                     [this] { return record_project(TensorRole::Wdown, m_.buf.hb.buffer(), Fc_, 3, ActView{m_.buf.hb.buffer(), 0, F_}); }));
    std::memcpy(h_.h_h.data() + Fc_, down, size_t(F_ - Fc_) * 4);
    // 4. down (+ residual) on the whole hidden vector: x rows [Ec, E) on the GPU, [0, Ec) on the CPU.
    std::memcpy(up, h_.h_h.data(), size_t(Fc_) * 4);
    VKS_TRY(exchange(int32(half), 3, [&] { return cpu_output_rows({TensorRole::Wdown, L}, h_.h_h.data()); }, nullptr));
    VKS_TRY(join_output({TensorRole::PostFfnNorm, L}));
    gpu_stale_ = x_rows_up();
    ++j_;
    account_cpu_layer(seg);
    return {};
}

// 1. Q / K / V and attention: query heads [heads * group, n_head) on the GPU, the others on the CPU.
ExpectedVoid RowsPass::attention_exchange(uint32 seg, uint32 half) {
    const int32 L = int32(seg);
    const LayerKernels::NormedX x{ActView{m_.buf.x.buffer(), 0, E_}, kernels_.fused_norm(TensorRole::AttnNorm, seg), true};
    const DeviceWeight wq = rows_.gpu_part(TensorRole::Wq, L, half), wk = rows_.gpu_part(TensorRole::Wk, L, half),
                       wv = rows_.gpu_part(TensorRole::Wv, L, half);
    VKS_TRY(kernels_.record_qkv(c_, seg, 1, pos_, x, LayerKernels::QkvWeights{wq, wk, wv}));
    VKS_TRY(shader_copies(j_, 0));  // no barrier after them: they run beside the kernels
    VKS_TRY(kernels_.record_attention(c_, seg, 1, pos_, heads_ * (cfg_.n_head / cfg_.n_head_kv)));
    VKS_TRY(m_.ring->record_copy_out(m_.buf.att.buffer(), h_.x_down.buffer(), uint64(Q_ - Qc_) * 4, uint64(Qc_) * 4, 0));
    VKS_TRY(exchange(int32(half), 0, [&] { return h_.cpu->attention_part(seg, m_.buf.xh.data(), pos_, heads_, h_.att_h.data()); },
                     [this] { return record_project(TensorRole::Wo, m_.buf.att.buffer(), Qc_, 1, ActView{m_.buf.att.buffer(), 0, Q_}); }));
    std::memcpy(h_.att_h.data() + Qc_, h_.x_down.mapped(), size_t(Q_ - Qc_) * 4);
    h_.kv->mark(seg, pos_, 1, heads_, heads_);
    return {};
}

uint32 RowsPass::x_rows_up() const { return cfg_.has_post_norms ? E_ : Ec_; }

ExpectedVoid RowsPass::cpu_output_rows(TensorId w, const float* in) {
    // Post norms need the whole output before it joins x: rows [0, Ec) into o_h, not into x.
    if (cfg_.has_post_norms) return h_.cpu->project_part(w, Ec_, in, h_.o_h.data(), false);
    return h_.cpu->project_part(w, Ec_, in, m_.buf.xh.data(), true);
}

ExpectedVoid RowsPass::join_output(TensorId post) {
    const float* down = static_cast<const float*>(h_.x_down.mapped());
    if (!cfg_.has_post_norms) {
        std::memcpy(m_.buf.xh.data() + Ec_, down, size_t(E_ - Ec_) * 4);  // the GPU added its rows to x
        return {};
    }
    std::memcpy(h_.o_h.data() + Ec_, down, size_t(E_ - Ec_) * 4);
    return h_.cpu->post_norm_part(post, h_.o_h.data(), m_.buf.xh.data());
}

// The CPU's share of this layer's weight bytes, for the split's measured rates.
void RowsPass::account_cpu_layer(uint32 seg) {
    uint64 cpu_bytes = 0;
    for (const VramTensor& t : m_.w.tensors)
        if (t.segment == seg && !t.norm) cpu_bytes += std::min<uint64>(t.rows, rows_.cpu_rows(t.id.role)) * t.row_bytes;
    if (layer_cpu_s_ > 0) ctx_.telemetry.record(TelemetryMeter::Rate::CpuWeight, cpu_bytes, layer_cpu_s_);
    counters_.cpu_weight_bytes += cpu_bytes;
    ++counters_.cpu_layer_runs;
}

ExpectedVoid RowsPass::finish() {
    for (const auto& t : m_.w.plan.tensors) counters_.vram_hits += t.resident;
    counters_.cpu_seconds += cpu_s_;
    counters_.wait_seconds += wait_s_;
    rows_.parity = (rows_.parity + S_) % 2;  // the next pass's first split segment takes half (S + parity) % 2
    rows_.ahead = copied_ahead_;
    if (!head_on_gpu_) return {};  // the head's exchange (or its CPU part's marker) submitted the last recording
    VKS_TRY(open());
    VKS_TRY(m_.ring->record_copy_out(m_.buf.logits.buffer(), m_.buf.logits_rb.buffer(), uint64(V_) * 4));
    m_.ring->mark_forward_end(cmd_);
    return m_.ring->submit(-1);
}

ExpectedVoid RowsPass::shader_copies(uint32 jj, uint8 phase) {
    const uint32 next = jj + 1;
    if (!rows_.shader || next > S_ || next < copies_from_) return {};
    // The last split segment copies the next pass's first one when it is a layer, whose four
    // exchanges carry the copies like any other layer's; not the head, whose single exchange
    // would then outlast its CPU part (the DMA after the pass stays).
    if (next == S_ && streamed_[S_ - 1] == cfg_.n_layer) return {};
    const uint32 seg = streamed_[next % S_], h = half_of(next);
    if (next == S_) copied_ahead_ = true;
    if (phase == 0) counters_.vram_misses += m_.w.streamed[seg].size();
    // 256 workgroups per copy by default: the decode kernels leave the GPU mostly idle, and the
    // copies must fill the bus within each exchange (docs/tuning.md).
    const uint32 groups = ctx_.opt.rows_copy_workgroups ? ctx_.opt.rows_copy_workgroups : 256;
    const WeightStreamRing& ring = *m_.ring;
    const auto& cs = rows_.copies[seg];
    for (size_t k = 0; k < cs.size(); ++k) {
        if (rows_.copy_phase[seg][k] != phase) continue;
        VKS_TRY(op_copy(c_, cs[k].src, cs[k].region.srcOffset, ring.slot_buffer(h), ring.slot_offset(h) + cs[k].region.dstOffset, cs[k].region.size, groups));
        m_.shader_copied += cs[k].region.size;
    }
    return {};
}

// With a transfer queue up to one segment ahead (into the other half, whose reader - the
// segment before - has finished); without one, at the start of the segment's first recording.
ExpectedVoid RowsPass::issue_until(uint32 upto) {
    upto = std::min(upto, copies_from_);
    for (; issued_ < upto && issued_ < S_; ++issued_) {
        const uint32 seg = streamed_[issued_], h = half_of(issued_);
        auto host = m_.ring->acquire_slot(h);
        if (!host) return host.error();
        VKS_TRY(m_.ring->upload_from(h, rows_.copies[seg]));
        counters_.vram_misses += m_.w.streamed[seg].size();
    }
    return {};
}

ExpectedVoid RowsPass::open() {
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

ExpectedVoid RowsPass::x_to_gpu() {
    if (gpu_stale_ == 0) return {};
    std::memcpy(m_.buf.x_up.mapped(), m_.buf.xh.data(), size_t(gpu_stale_) * 4);
    VKS_TRY(m_.ring->record_copy_in(m_.buf.x_up.buffer(), m_.buf.x.buffer(), uint64(gpu_stale_) * 4));
    gpu_stale_ = 0;
    return {};
}

ExpectedVoid RowsPass::x_to_host() {
    if (host_current_) return {};
    VKS_TRY(open());
    VKS_TRY(m_.ring->record_copy_out(m_.buf.x.buffer(), h_.x_down.buffer(), uint64(E_) * 4));
    VKS_TRY(m_.ring->submit(-1));
    cmd_ = VK_NULL_HANDLE;
    const auto t0 = SClock::now();
    VKS_TRY(m_.ring->wait_compute());
    wait_s_ += secs(t0, SClock::now());
    counters_.rows_waits[4] += secs(t0, SClock::now());
    std::memcpy(m_.buf.xh.data(), h_.x_down.mapped(), size_t(E_) * 4);
    host_current_ = true;
    return {};
}

template <class CpuPart>
ExpectedVoid RowsPass::exchange(int32 half, uint32 phase, CpuPart&& cpu_part, std::function<ExpectedVoid()> next) {
    VKS_TRY(m_.ring->submit(half));
    cmd_ = VK_NULL_HANDLE;
    const bool side = bool(next);
    if (side) rows_.side->start(std::move(next));
    const auto t0 = SClock::now();
    auto r = cpu_part();
    auto rec = side ? rows_.side->join() : ExpectedVoid{};  // joined also when the CPU part failed
    if (!r) return r;
    if (!rec) return rec;
    const auto t1 = SClock::now();
    VKS_TRY(m_.ring->wait_compute());
    const double w = secs(t1, SClock::now());
    cpu_s_ += secs(t0, t1);
    layer_cpu_s_ += secs(t0, t1);
    wait_s_ += w;
    counters_.rows_waits[phase] += w;
    return {};
}

// Recorded on the side thread: only references x_up, whose data is written after the merge.
// With post norms the GPU's output rows go to the host through xn, not into x (join_output).
ExpectedVoid RowsPass::record_project(TensorRole role, VkBuffer in, uint32 in_rows, uint8 phase, ActView in_view) {
    VKS_TRY(open());
    VKS_TRY(m_.ring->record_copy_in(m_.buf.x_up.buffer(), in, uint64(in_rows) * 4));
    VKS_TRY(shader_copies(j_, phase));
    const bool post = cfg_.has_post_norms;
    const VkBuffer out = post ? m_.buf.xn.buffer() : m_.buf.x.buffer();
    VKS_TRY(op_matmul(c_, rows_.gpu_part(role, int32(seg_), half_), in_view, ActView{out, 0, E_}, 1, !post));
    ctx_.rt.barrier();
    return m_.ring->record_copy_out(out, h_.x_down.buffer(), uint64(E_ - Ec_) * 4, uint64(Ec_) * 4, 0);
}

ExpectedVoid RowsPass::record_ffn() {
    const FusedNorm fn = kernels_.fused_norm(TensorRole::FfnNorm, seg_);
    const int32 L = int32(seg_);
    const uint32 half = half_;
    VKS_TRY(open());
    VKS_TRY(m_.ring->record_copy_in(m_.buf.x_up.buffer(), m_.buf.x.buffer(), uint64(x_rows_up()) * 4));  // the CPU's rows of x (all with post norms)
    VKS_TRY(shader_copies(j_, 2));
    VKS_TRY(op_swiglu(c_, rows_.gpu_part(TensorRole::Wgate, L, half), rows_.gpu_part(TensorRole::Wup, L, half), ActView{m_.buf.x.buffer(), 0, E_},
                      ActView{m_.buf.hb.buffer(), 0, F_}, 1, &fn, cfg_.activation));
    ctx_.rt.barrier();
    return m_.ring->record_copy_out(m_.buf.hb.buffer(), h_.x_down.buffer(), uint64(F_ - Fc_) * 4, uint64(Fc_) * 4, 0);
}

}  // namespace vk_symbiote
