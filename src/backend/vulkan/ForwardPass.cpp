#include "backend/vulkan/ForwardPass.h"

#include <chrono>
#include <cstring>

#include "backend/cpu/MoeRouting.h"

namespace vk_symbiote {

namespace {

using SClock = std::chrono::steady_clock;
double secs(SClock::time_point a, SClock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

ForwardPass::ForwardPass(VulkanContext& ctx, VulkanModel& m, PassCounters& counters, const ForwardRequest& req, const BatchRows* rows,
                         AheadPass ahead)
    : ctx_(ctx),
      m_(m),
      counters_(counters),
      req_(req),
      rows_(rows),
      ahead_(ahead),
      n_(req.n_tokens),
      kernels_(ctx, m.cfg, m.w, m.buf, m.shader, *m.ring, m.shader_copied),
      c_(kernels_.op_context()),
      hybrid_(m.hybrid && req.n_tokens == 1),
      shader_pass_(m.shader.enabled() && req.n_tokens > 1),
      feed_(shader_pass_ ? static_cast<WeightFeed&>(m.shader) : m.dma),
      target_{ctx, *m.ring, *m.weights, m.w},
      x_on_host_(req.n_tokens == 1 && !ahead.queued) {
    kernels_.set_rows(rows);
}

ExpectedVoid ForwardPass::run() {
    const uint64 uploads_before = ctx_.compute.upload_calls();
    if (m_.moe) m_.moe->forget_choices();
    VKS_TRY(load_embeddings());
    VKS_TRY(upload_rows());
    VKS_TRY(plan_uploads());
    if (shader_pass_) m_.shader.begin_pass(ctx_.opt, first_ahead_);
    for (uint32 seg = 0; seg <= m_.cfg.n_layer; ++seg) VKS_TRY(hybrid_ && m_.hybrid->on_cpu(seg) ? cpu_layer(seg) : gpu_segment(seg));
    for (const auto& t : m_.w.plan.tensors) counters_.vram_hits += t.resident;
    if (hybrid_) {
        counters_.cpu_seconds += cpu_s_;
        counters_.wait_seconds += wait_s_;
        counters_.cpu_layer_runs += m_.hybrid->cpu_layers;
    }
    VKS_TRY(record_tail());
    if (device_routed_) choices_to_host();
    m_.ring->mark_forward_end(cmd_, ahead_.bank);
    VKS_TRY(m_.ring->submit(slot_));
    count_recording(uploads_before);
    return {};
}

ExpectedVoid ForwardPass::record_tail() {
    if (n_out() != 1) return {};
    VKS_TRY(m_.ring->record_copy_out(m_.buf.logits.buffer(), logits_rb().buffer(), uint64(m_.cfg.n_vocab) * 4));
    return m_.ahead ? m_.ahead->record_argmax(c_, *m_.ring, m_.buf.logits.buffer(), ahead_.bank) : ExpectedVoid{};
}

const DeviceBuffer& ForwardPass::rows_up() const { return ahead_.bank == 1 && m_.ahead ? m_.ahead->rows_up : m_.buf.pass_rows_up; }
const DeviceBuffer& ForwardPass::logits_rb() const { return ahead_.bank == 1 && m_.ahead ? m_.ahead->logits_rb : m_.buf.logits_rb; }

void ForwardPass::count_recording(uint64 uploads_before) {
    if (n_ != 1) return;
    const ShaderRuntime::RecordCounts& r = ctx_.rt.record_counts();
    counters_.last_decode = DecodeRecording{r.dispatches, r.barriers, m_.ring->forward_submissions(), ctx_.compute.upload_calls() - uploads_before, 0, 0};
}

// Embedding rows (host provider) -> x before the first submission. One token (decode): its
// row goes through xh / x_up like x coming back from a CPU layer.
ExpectedVoid ForwardPass::load_embeddings() {
    const uint32 E = m_.cfg.n_embd;
    if (ahead_.queued) return {};  // the device embeds the last pass's argmax
    if (n_ == 1) return embedding_input(*m_.weights, m_.cfg, req_.tokens[0], m_.buf.xh.data());
    std::vector<float> emb(size_t(n_) * E);
    for (uint32 i = 0; i < n_; ++i) VKS_TRY(embedding_input(*m_.weights, m_.cfg, req_.tokens[i], emb.data() + size_t(i) * E));
    return ctx_.compute.upload(emb.data(), emb.size() * 4, m_.buf.x.buffer(), 0);
}

ExpectedVoid ForwardPass::upload_rows() {
    if (!rows_) return {};
    const ModelBuffers& b = m_.buf;
    const std::vector<uint32> img = rows_->image(m_.cfg, b.n_batch(), b.paged().align, b.rope_host, b.rope_host_swa);
    // A queued pass copies inside its command buffer: an upload now could overwrite pass_rows
    // while the last pass still reads it.
    if (!ctx_.opt.fuse_decode && !ahead_.queued) return ctx_.compute.upload(img.data(), img.size() * 4, b.pass_rows.buffer(), 0);
    // Only the parts this pass fills (the image is laid out for n_batch rows): its rows' rope
    // rows (a sliding table's right after them) and the row info with the block tables.
    const uint64 rope = uint64(n_) * m_.cfg.n_rot * 4 * (b.rope_host_swa.empty() ? 1 : 2);
    const uint64 info = BatchRows::info_offset(m_.cfg, b.n_batch(), b.paged().align);
    rows_copy_ = {VkBufferCopy{0, 0, rope}, VkBufferCopy{info, info, uint64(img.size()) * 4 - info}};
    char* up = static_cast<char*>(rows_up().mapped());
    for (const VkBufferCopy& r : rows_copy_) std::memcpy(up + r.srcOffset, reinterpret_cast<const char*>(img.data()) + r.srcOffset, r.size);
    return {};
}

// Before the first kernels of the pass read them (CPU layers read neither): x from the host
// (the embedding row, or x after a CPU layer) and the rows image; each copy then a barrier.
ExpectedVoid ForwardPass::copy_inputs_in() {
    if (!rows_copy_.empty()) {
        if (ahead_.queued) VKS_TRY(m_.ring->record_pass_barrier());  // after the last pass, which may still run
        VKS_TRY(m_.ring->record_copy_in(rows_up().buffer(), m_.buf.pass_rows.buffer(), rows_copy_));
        rows_copy_.clear();
        if (ahead_.queued) {
            VKS_TRY(m_.ahead->record_embed(c_, m_.buf.x.buffer()));
            c_.rt.barrier();
        }
    }
    if (!x_on_host_) return {};
    const uint32 E = m_.cfg.n_embd;
    std::memcpy(m_.buf.x_up.mapped(), m_.buf.xh.data(), size_t(E) * 4);
    x_on_host_ = false;
    return m_.ring->record_copy_in(m_.buf.x_up.buffer(), m_.buf.x.buffer(), uint64(E) * 4);
}

uint32 ForwardPass::n_out() const {
    if (rows_) return uint32(rows_->out_rows().size());
    return req_.all_logits ? n_ : 1;
}

ExpectedVoid ForwardPass::plan_uploads() {
    for (uint32 seg = 0; seg <= m_.cfg.n_layer; ++seg)
        if (m_.w.streams(seg) && !(hybrid_ && m_.hybrid->on_cpu(seg))) gpu_streamed_.push_back(seg);
    slot_of_.assign(m_.cfg.n_layer + 1, -1);
    by_dma_.assign(m_.cfg.n_layer + 1, false);
    const int32 pre = m_.dma.pre_seg;
    if (pre < 0) return {};
    m_.dma.pre_seg = -1;
    if (gpu_streamed_.empty() || gpu_streamed_[0] != uint32(pre)) return m_.ring->discard_upload(0);
    slot_of_[uint32(pre)] = 0;  // the previous forward issued this pass's first upload into slot 0
    by_dma_[uint32(pre)] = true;
    counters_.vram_misses += m_.w.streamed[uint32(pre)].size();
    k_ = 1;
    first_ahead_ = true;
    return {};
}

ExpectedVoid ForwardPass::cpu_layer(uint32 seg) {
    const auto t0 = SClock::now();
    // After GPU layers (x on the device) or at the start of the pass (x is the embedding row in xh).
    if (!x_on_host_ || !started_) VKS_TRY(x_to_host(seg));
    const auto t1 = SClock::now();
    const uint32 G = m_.cfg.n_head_kv;
    HybridDecode& h = *m_.hybrid;
    VKS_TRY(h.kv->sync(seg, req_.pos, G, G));
    const auto t2 = SClock::now();
    const uint64 routed_before = m_.weights->routed_expert_bytes();
    VKS_TRY(h.cpu->forward_layer(seg, m_.buf.xh.data(), 1, req_.pos));
    // What the CPU read: the layer's dense part and, of a mixture's experts, the chosen ones.
    const uint64 read = m_.w.seg_bytes[seg] - m_.w.seg_expert_bytes[seg] + (m_.weights->routed_expert_bytes() - routed_before);
    ctx_.telemetry.record(TelemetryMeter::Rate::CpuWeight, read, secs(t2, SClock::now()));
    h.kv->mark(seg, req_.pos, 1, G, G);
    counters_.cpu_weight_bytes += read;
    if (m_.cfg.is_moe() && seg < m_.cfg.n_layer) counters_.expert_vram_misses += m_.cfg.n_expert_used;  // one token's chosen experts, from RAM
    cpu_s_ += secs(t1, SClock::now());
    wait_s_ += secs(t0, t1);
    return {};
}

ExpectedVoid ForwardPass::x_to_host(uint32 seg) {
    const uint64 bytes = uint64(m_.cfg.n_embd) * 4;
    if (cmd_ != VK_NULL_HANDLE) {
        VKS_TRY(m_.ring->record_copy_out(m_.buf.x.buffer(), m_.hybrid->x_down.buffer(), bytes));
        VKS_TRY(m_.ring->submit(slot_));
        cmd_ = VK_NULL_HANDLE;
    }
    VKS_TRY(upload_beside_cpu(seg));
    if (x_on_host_) return {};
    VKS_TRY(m_.ring->wait_compute());
    std::memcpy(m_.buf.xh.data(), m_.hybrid->x_down.mapped(), bytes);
    x_on_host_ = true;
    return {};
}

// The next GPU layers' weights start crossing the bus while the CPU works: zero-copy DMA only
// (from packs, the host would demand the next layer's packs ahead of this CPU layer's and the
// RAM tier could evict this layer's packs just before use). Upload k goes into slot k % slots,
// which the layer of upload k - slots read: issued once that layer was submitted (before seg).
ExpectedVoid ForwardPass::upload_beside_cpu(uint32 seg) {
    if (!m_.ring->uses_transfer_queue() || !m_.dma.zero_copy) return {};
    const uint32 slots = m_.w.plan.slots;
    while (k_ < gpu_streamed_.size() && slot_of_[gpu_streamed_[k_]] < 0 && (k_ < slots || gpu_streamed_[k_ - slots] < seg))
        VKS_TRY(feed(m_.dma, gpu_streamed_[k_]));
    return {};
}

ExpectedVoid ForwardPass::gpu_segment(uint32 seg) {
    const bool streams = m_.w.streams(seg);
    if (m_.hybrid && seg < m_.cfg.n_layer) VKS_TRY(m_.hybrid->kv->sync(seg, req_.pos, 0, 0));  // rows a CPU layer wrote
    // A segment whose weights come by an upload (this pass's, or one issued ahead) needs a
    // submission that waits for it; shader copies are in the command buffers themselves.
    VKS_TRY(open_recording(seg, streams && (feed_.uploads() || slot_of_[seg] >= 0)));
    VKS_TRY(copy_inputs_in());
    if (streams) VKS_TRY(bring_weights(seg));
    if (seg == m_.cfg.n_layer) return record_head();
    if (m_.host_att && m_.buf.kv_in_ram(seg)) VKS_TRY(host_attention_layer(seg));
    else VKS_TRY(m_.moe ? moe_layer(seg) : kernels_.record_layer(c_, seg, n_, req_.pos));
    if (m_.hybrid) m_.hybrid->kv->mark(seg, req_.pos, n_, 0, 0);
    return {};
}

bool ForwardPass::routed_on_device(uint32 l) const {
    using R = VulkanOptions::MoeRouting;
    const R r = ctx_.opt.moe_routing;
    const ModelConfig& c = m_.cfg;
    if (r == R::Host || n_ != 1 || m_.w.streams(l) || c.n_expert > cpu::kRouteMaxExperts || c.n_expert_used > cpu::kRouteMaxUsed) return false;
    return r == R::Device || c.n_expert <= VulkanOptions::kMoeAutoDeviceExperts;
}

void ForwardPass::choices_to_host() {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
}

// A mixture-of-experts layer. Routed on the device (routed_on_device): recorded like a dense
// layer, into the open command buffer. Else its router's logits come back to the host, which
// chooses the experts (DeviceMoe::route), then the chosen experts run in a second submission
// (more when a prompt's streamed experts outnumber the slot's expert places: streamed_experts).
// The slot the segment's weights are in stays marked as read by those submissions.
ExpectedVoid ForwardPass::moe_layer(uint32 l) {
    DeviceMoe& moe = *m_.moe;
    VKS_TRY(kernels_.record_attention_block(c_, l, n_, req_.pos));
    if (routed_on_device(l)) {
        VKS_TRY(kernels_.record_routed_ffn(c_, l, moe));
        moe.note_device_routed(l);
        counters_.expert_vram_hits += m_.cfg.n_expert_used;  // every expert resident
        device_routed_ = true;
        return {};
    }
    VKS_TRY(kernels_.record_router(c_, l, n_, moe));
    VKS_TRY(m_.ring->record_copy_out(moe.logits.buffer(), moe.logits_rb.buffer(), uint64(n_) * m_.cfg.n_expert * 4));
    const int32 slot = slot_;
    VKS_TRY(m_.ring->submit(slot));
    cmd_ = VK_NULL_HANDLE;
    VKS_TRY(m_.ring->wait_compute());
    const std::vector<uint32>& counts = moe.route(n_);
    m_.weights->experts_routed(l, counts, n_);
    VKS_TRY(open_recording(l, true));
    slot_ = slot;
    VKS_TRY(m_.ring->record_copy_in(moe.table_up.buffer(), moe.table.buffer(), moe.table_bytes()));
    VKS_TRY(kernels_.record_expert_gather(c_, n_, moe));
    if (m_.experts && m_.w.streams(l)) {
        if (!by_dma_[l] || slot_of_[l] < 0)
            return make_error(ErrorCode::Internal, "ForwardPass: streamed experts of layer " + std::to_string(l) + " without a DMA slot");
        VKS_TRY(streamed_experts(l, counts));
    } else {
        counters_.expert_vram_hits += moe.experts().size();  // every expert resident
        VKS_TRY(kernels_.record_expert_ffn(c_, l, moe, moe.experts()));
    }
    return kernels_.record_expert_combine(c_, n_, moe);
}

// The chosen experts of a streamed layer: those in the expert cache are read from their entries
// (hits); the others (misses) cross into the slot's k expert places, k at a time (a prompt may
// choose more: each further group is a submission of its own, waiting for its upload), and
// those the cache keeps are copied from their place into their entry after their kernels.
ExpectedVoid ForwardPass::streamed_experts(uint32 l, const std::vector<uint32>& counts) {
    const DeviceMoe& moe = *m_.moe;
    ExpertCache& cache = *m_.experts;
    const VramPlan& plan = m_.w.plan;
    const uint32 s = uint32(slot_of_[l]), k = plan.expert_places;
    std::vector<DeviceMoe::ExpertRows> group, misses;  // group: this submission's experts (first: the hits)
    for (const DeviceMoe::ExpertRows& r : moe.experts()) {
        const int32 e = cache.policy.entry(l, r.expert);
        if (e >= 0) m_.w.bind_expert(l, r.expert, cache.entry_buffer(uint32(e)), 0);
        (e >= 0 ? group : misses).push_back(r);
    }
    counters_.expert_vram_hits += group.size();
    counters_.expert_vram_misses += misses.size();
    std::vector<int32> keep(m_.cfg.n_expert, -1);  // the entry each kept miss goes to
    for (const ExpertResidency::Admission& a : cache.policy.route(l, counts, n_)) keep[a.expert] = int32(a.entry);
    for (size_t g = 0; g == 0 || g < misses.size(); g += k) {
        if (g > 0) {
            VKS_TRY(open_recording(l, true));  // submits the last group, which read the places
            slot_ = int32(s);
            group.clear();
        }
        std::vector<DmaStream::PlacedTensor> up;
        const size_t end = std::min(misses.size(), g + k);
        for (size_t j = g; j < end; ++j) {
            const uint64 place = plan.expert_base[l] + (j - g) * plan.expert_place_bytes;
            m_.w.bind_expert(l, misses[j].expert, m_.ring->slot_buffer(s), m_.ring->slot_offset(s) + place);
            for (size_t i : m_.w.experts[uint64(l) * m_.cfg.n_expert + misses[j].expert]) up.push_back({i, place});
            group.push_back(misses[j]);
        }
        VKS_TRY(m_.dma.feed_experts(target_, l, s, up));
        VKS_TRY(kernels_.record_expert_ffn(c_, l, moe, group));
        for (size_t j = g; j < end; ++j)
            if (const int32 e = keep[misses[j].expert]; e >= 0)
                cache.record_keep(cmd_, m_.ring->slot_buffer(s), m_.ring->slot_offset(s) + plan.expert_base[l] + (j - g) * plan.expert_place_bytes, uint32(e));
    }
    return {};
}

ExpectedVoid ForwardPass::host_attention_layer(uint32 l) {
    HostAttention& h = *m_.host_att;
    VKS_TRY(kernels_.record_qkv_block(c_, l, n_, req_.pos));
    // A prompt batch may attend on the GPU over the streamed cache; the host appends the rows.
    const bool gpu = m_.stream_att && m_.stream_att->takes(c_, n_);
    if (gpu) VKS_TRY(m_.stream_att->record(c_, *m_.ring, m_.buf, l, n_, req_.pos));
    VKS_TRY(h.record_download(*m_.ring, n_, !gpu));
    // The slot holding the layer's streamed weights stays marked as read by the second part.
    const int32 slot = slot_;
    VKS_TRY(m_.ring->submit(slot));
    cmd_ = VK_NULL_HANDLE;
    VKS_TRY(m_.ring->wait_compute());
    const auto t0 = SClock::now();
    VKS_TRY(gpu ? h.append(l, n_, req_.pos) : h.attend(l, n_, req_.pos));
    counters_.host_attention_seconds += secs(t0, SClock::now());
    VKS_TRY(open_recording(l, true));
    slot_ = slot;
    if (!gpu) VKS_TRY(h.record_upload(*m_.ring, n_));
    return kernels_.record_after_attention(c_, l, n_);
}

ExpectedVoid ForwardPass::record_head() {
    if (!rows_) return kernels_.record_head(c_, req_.all_logits ? 0 : n_ - 1, req_.all_logits ? n_ : 1);
    const std::vector<uint32>& out = rows_->out_rows();
    return out.empty() ? ExpectedVoid{} : kernels_.record_head_rows(c_, out);
}

ExpectedVoid ForwardPass::open_recording(uint32 seg, bool new_submission) {
    // Layer 1 and every 8th layer start a command buffer so the GPU starts while the host records
    // the rest; a decode token with decode_one_submission is one command buffer where no upload
    // or host round trip needs another (all resident: one submission, one fence wait).
    const bool one = n_ == 1 && ctx_.opt.decode_one_submission;
    const bool split = !one && seg > 0 && seg < m_.cfg.n_layer && (seg % 8 == 0 || seg == 1);
    if (cmd_ != VK_NULL_HANDLE && !new_submission && !split) return {};
    if (cmd_ != VK_NULL_HANDLE) VKS_TRY(m_.ring->submit(slot_));
    auto b = m_.ring->begin();
    if (!b) return b.error();
    if (!started_) {
        m_.ring->mark_forward_start(*b, ahead_.bank);  // before the runtime's first kernel timestamp
        ctx_.rt.begin(*b, ahead_.bank);
        started_ = true;
    } else {
        ctx_.rt.continue_recording(*b);
    }
    cmd_ = *b;
    slot_ = -1;
    return {};
}

ExpectedVoid ForwardPass::bring_weights(uint32 seg) {
    const bool ahead = slot_of_[seg] >= 0;  // uploaded (and bound) already
    if (!ahead) VKS_TRY(feed(feed_, seg));
    if (ahead || feed_.uploads()) slot_ = slot_of_[seg];
    return {};
}

ExpectedVoid ForwardPass::feed(WeightFeed& f, uint32 seg) {
    const uint32 s = k_ % m_.w.plan.slots;
    if (f.uploads() && k_ + 1 < gpu_streamed_.size()) {  // the provider may prefetch the next upload's packs
        std::vector<TensorId> next;
        for (size_t i : m_.w.streamed[gpu_streamed_[k_ + 1]])
            if (!DmaStream::routed(m_.w.tensors[i])) next.push_back(m_.w.tensors[i].id);  // experts: once routed
        m_.weights->hint_upcoming(next);
    }
    ++k_;
    VKS_TRY(f.feed(target_, seg, s));
    counters_.vram_misses += m_.w.streamed[seg].size();
    slot_of_[seg] = int32(s);
    by_dma_[seg] = f.uploads();
    return {};
}

}  // namespace vk_symbiote
