// VulkanBackend's batched passes over the device KV pool: forward_batch (B rows of several
// sequences), forward() on the backend's own sequence in the pool, and with the rows split the
// choice between BatchRowsPass (a CPU share of every streamed matrix, sized for B rows by
// BatchSplit) and ForwardPass (every streamed layer whole over the bus).
#include <cstring>
#include <sstream>

#include "backend/vulkan/BatchRowsPass.h"
#include "backend/vulkan/ForwardPass.h"
#include "backend/vulkan/VulkanBackend.h"
#include "config/Logger.h"

namespace vk_symbiote {

ExpectedVoid VulkanBackend::forward_own(const ForwardRequest& req) {
    if (req.pos > own_.n_pos)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: position " + std::to_string(req.pos) + " leaves a gap: the KV cache holds positions [0, " +
                                                          std::to_string(own_.n_pos) + ")");
    auto w = model_->kv->pool().prepare_write(own_, req.pos, req.pos + req.n_tokens);
    if (!w) return make_error(ErrorCode::OutOfMemory, "vulkan forward: the device KV pool cannot hold positions up to " +
                                                          std::to_string(req.pos + req.n_tokens) + " (" + w.error().message + "; raise --kv-pool-tokens)");
    VKS_TRY(forward_batch({SeqChunk{&own_, req.tokens, req.n_tokens, req.pos, req.all_logits, req.logits}}));
    pos_ = req.pos + req.n_tokens;
    return {};
}

ExpectedVoid VulkanBackend::forward_batch(const std::vector<SeqChunk>& chunks) {
    if (!model_ || !model_->kv)
        return make_error(ErrorCode::Unsupported, name() + ": no paged KV cache in this placement (hybrid decode or f32 caches): one sequence at a time");
    VKS_TRY(model_->kv->take_error());
    VKS_TRY(rows_.bind(chunks, cfg_, n_ctx_, n_batch_, model_->kv->pool().layout()));
    VulkanModel& m = *model_;
    if (m.rows) m.rows->head_cpu_rows = 0;
    VKS_TRY(leave_rows());
    if (m.batch && choose_batch_heads(rows_.n_rows()) > 0) return forward_batch_rows();
    if (m.batch) m.batch->last_heads = 0;
    note_one_row(kOneRowGpu);
    if (m.ahead) return forward_ahead(chunks);
    const ForwardRequest req{rows_.tokens().data(), rows_.n_rows(), 0, false, nullptr};
    const uint64 shader_before = m.shader_copied;
    VulkanContext c = ctx();
    auto r = ForwardPass(c, m, counters_, req, &rows_).run();
    VKS_TRY(finish_pass(std::move(r), req.n_tokens, shader_before));
    VKS_TRY(read_batch_logits());
    return prepare_next_upload(req.n_tokens);
}

namespace {

// Weight bytes a batched rows pass divides between the CPU and the bus: the streamed matrices of
// its split segments (BatchSplit's S).
uint64 split_bytes(const VulkanModel& m) {
    uint64 b = 0;
    for (uint32 seg = 0; seg < m.w.streamed.size(); ++seg)
        if (!m.rows->cpu_segment(seg))
            for (size_t i : m.w.streamed[seg]) b += m.w.tensors[i].norm ? 0 : m.w.tensors[i].rows * m.w.tensors[i].row_bytes;
    return b;
}

// The chosen split for B rows and what the model predicts of it, e.g. "the CPU computes 11 of
// 32 KV heads' rows ... (CPU share 34.4%, GPU 65.6%); predicted pass 95.2 ms: CPU 95.0 ms at ...".
std::string describe_split(const BatchSplit& split, uint32 n_rows, uint32 heads, uint32 G, double bus_fallback, uint64 bytes) {
    const BatchSplit::Prediction p = split.predict(n_rows, heads, bus_fallback, bytes);
    std::ostringstream o;
    o.precision(3);
    if (heads > 0)
        o << "the CPU computes " << heads << " of " << G << " KV heads' rows of every streamed matrix (CPU share " << 100.0 * heads / G << "%, GPU "
          << 100.0 * (G - heads) / G << "%)";
    else
        o << "every streamed layer crosses the bus whole (no CPU share)";
    o << "; predicted pass " << p.pass_s() * 1e3 << " ms of " << double(bytes) / 1e9 << " GB: CPU " << p.cpu_s * 1e3 << " ms at "
      << split.cpu_rate(n_rows) / 1e9 << " GB/s for this many rows, bus " << p.bus_s * 1e3 << " ms at " << split.bus_rate(bus_fallback) / 1e9
      << " GB/s";
    return o.str();
}

// What a one-row pass on `path` does, against the serial decode (RowsPass) of the same placement.
std::string one_row_text(VulkanBackend::OneRowPath path, uint32 heads, uint32 G) {
    if (path == VulkanBackend::kOneRowGpu) return "every layer on the GPU (no CPU share: resident, or streamed whole over the bus)";
    std::ostringstream o;
    o << "the rows split, the CPU computing " << heads << " of " << G << " KV heads' rows of every streamed matrix, the GPU's rows "
      << (path == VulkanBackend::kOneRowShader ? "copied by copy.comp inside the exchanges (the serial decode's copy mode)" : "uploaded by DMA")
      << "; attention of every head on the GPU over the pool (the serial decode attends the CPU's heads from RAM), five submissions per "
         "split layer (the serial decode: four)";
    return o.str();
}

}  // namespace

void VulkanBackend::note_one_row(OneRowPath path) {
    if (rows_.n_rows() != 1) return;
    ++counters_.one_row_passes[path];
    if (counters_.one_row_path == int32(path)) return;
    counters_.one_row_path = int32(path);
    if (model_->w.plan.slots == 0) return;  // all resident: one path only, not worth a line
    VKS_LOG_INFO("one-row batched pass (one sequence's decode step over the KV pool): " << one_row_text(path, batch_cpu_heads(), cfg_.n_head_kv));
}

uint32 VulkanBackend::choose_batch_heads(uint32 n_rows) {
    VulkanModel& m = *model_;
    RowsSplit& rows = *m.rows;
    BatchHybrid& h = *m.batch;
    const HardwareTelemetry t = telemetry_.snapshot();
    const double bus = t.host_to_device_bps > 0 ? t.host_to_device_bps : opt_.peak_host_to_device_bps;
    h.split.seed_cpu_rate(t.cpu_weight_bps > 0 ? t.cpu_weight_bps : opt_.peak_host_memory_bps);
    // A fixed share is clamped to [1, G - 1] above the layout's minimum (0 heads: a pass of whole layers).
    const uint32 heads = opt_.hybrid_cpu_heads >= 0 ? std::max(1u, rows.min_cpu_heads + rows.split_index(uint32(opt_.hybrid_cpu_heads)))
                                                    : h.split.cpu_heads(n_rows, bus);
    if (heads > 0 && heads != rows.cpu_heads) {
        rows.cpu_heads = heads;
        rows.layout();
    }
    auto [it, fresh] = h.logged.emplace(BatchSplit::row_class(n_rows), heads);
    if (fresh || it->second != heads)
        VKS_LOG_INFO("batched pass of " << n_rows << " rows: " << describe_split(h.split, n_rows, heads, cfg_.n_head_kv, bus, split_bytes(m)));
    it->second = heads;
    h.last_heads = heads;
    return heads;
}

ExpectedVoid VulkanBackend::forward_batch_rows() {
    VulkanModel& m = *model_;
    if (m.dma.pre_seg >= 0) {  // a whole layer uploaded ahead by a pass of whole layers: not this pass's layout
        VKS_TRY(m.ring->discard_upload(0));
        m.dma.pre_seg = -1;
    }
    const uint64 shader_before = m.shader_copied;
    VulkanContext c = ctx();
    BatchRowsPass pass(c, m, *m.batch, counters_, rows_);
    auto r = pass.run();
    VKS_TRY(finish_pass(std::move(r), rows_.n_rows(), shader_before));
    note_one_row(pass.shader_copies() ? kOneRowShader : kOneRowDma);
    m.batch->split.record_cpu(rows_.n_rows(), pass.cpu_weight_bytes(), pass.cpu_seconds());
    const HardwareTelemetry t = telemetry_.snapshot();
    m.batch->split.record_bus(pass.bus_bytes(), pass.gpu_side_seconds(), pass.bus_bound(),
                              t.host_to_device_bps > 0 ? t.host_to_device_bps : opt_.peak_host_to_device_bps);
    if (!rows_.out_rows().empty()) rows_.scatter_logits(m.batch->logits.data(), cfg_.n_vocab);
    return {};  // no upload ahead: the next pass may take another share (layout)
}

ExpectedVoid VulkanBackend::read_batch_logits(uint32 bank) {
    const uint64 n_out = rows_.out_rows().size(), V = cfg_.n_vocab;
    if (n_out == 0) return {};
    batch_logits_.resize(n_out * V);
    const DeviceBuffer& rb = bank == 1 && model_->ahead ? model_->ahead->logits_rb : model_->buf.logits_rb;
    if (n_out == 1) std::memcpy(batch_logits_.data(), rb.mapped(), V * 4);  // copied by the last submission
    else VKS_TRY(compute_->download(model_->buf.logits.get(), 0, batch_logits_.data(), n_out * V * 4));
    rows_.scatter_logits(batch_logits_.data(), cfg_.n_vocab);
    return {};
}

}  // namespace vk_symbiote
