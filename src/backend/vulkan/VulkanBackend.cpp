#include "backend/vulkan/VulkanBackend.h"

#include "config/Logger.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "backend/cpu/CpuKernels.h"
#include "common/HalfFloat.h"

namespace vk_symbiote {

namespace {
// Kernel groups of a pass for StreamCopySchedule (stream_copies): per layer Q/K/V, O,
// gate/up, down; then the head.
enum CopyPart : uint32 { kCopyQkv = 0, kCopyO, kCopyGateUp, kCopyDown, kCopyParts };
constexpr uint32 copy_group(uint32 layer, CopyPart part) { return layer * kCopyParts + part; }
}  // namespace

namespace {

uint64 round_up(uint64 v, uint64 a) { return (v + a - 1) / a * a; }

// The embedding table stays on the host (rows fetched per token) unless it is also the
// output matrix; the head segment then reads it as the output.
bool tensor_on_device(const ModelConfig& cfg, TensorRole role) { return role != TensorRole::TokenEmbd || cfg.tied_output; }

// VulkanMemory's block size for a budget: small budgets get small blocks so that the
// reserved bytes track what is used (tests run with budgets of a few MB).
uint64 block_size_for(uint64 budget) {
    const uint64 max_block = uint64(64) << 20, min_block = uint64(256) << 10;
    if (budget == 0) return max_block;
    uint64 b = max_block;
    while (b > min_block && b * 8 > budget) b >>= 1;
    return b;
}

// Calls fn(slice, piece, r0, r1) for every overlap [r0, r1) of a provider slice (rows as
// they arrived from the packs) with a planned device piece.
template <class Fn>
ExpectedVoid for_each_overlap(const std::vector<WeightSlice>& slices, const std::vector<VramPiece>& pieces, Fn&& fn) {
    for (const auto& s : slices)
        for (const VramPiece& pc : pieces) {
            const uint64 r0 = std::max(s.row_begin, pc.row_begin), r1 = std::min(s.row_end, pc.row_begin + pc.rows);
            if (r0 < r1) VKS_TRY(fn(s, pc, r0, r1));
        }
    return {};
}

}  // namespace

Expected<std::unique_ptr<VulkanBackend>> VulkanBackend::create(const VulkanOptions& opt) {
    std::unique_ptr<VulkanBackend> b(new VulkanBackend(opt));
    VulkanDeviceOptions dopt{opt.device_index, opt.force_integrated_gpu, opt.enable_validation};
    auto d = VulkanDevice::create(dopt);
    if (!d) return d.error();
    b->dev_ = std::move(*d);
    auto m = VulkanMemory::create(*b->dev_, block_size_for(opt.vram_budget_bytes));
    if (!m) return m.error();
    b->mem_ = std::move(*m);
    auto c = VulkanCompute::create(*b->dev_, *b->mem_, uint64(8) << 20, 2, opt.enable_profiling);
    if (!c) return c.error();
    b->compute_ = std::move(*c);
    auto r = ShaderRuntime::create(*b->dev_, ShaderRuntimeOptions{opt.shader_dir, opt.pipeline_cache_path});
    if (!r) return r.error();
    b->rt_ = std::move(*r);
    if (opt.kernel_profiling && b->dev_->caps().timestamp_valid_bits > 0) VKS_TRY(b->rt_->set_kernel_profiling(true));
    const uint32 hw = std::max(1u, std::thread::hardware_concurrency());
    b->copy_pool_ = std::make_unique<cpu::ThreadPool>(opt.copy_threads ? opt.copy_threads : std::min(hw, 8u));
    return b;
}

VulkanBackend::~VulkanBackend() { release(); }

void VulkanBackend::release() {
    if (!mem_) return;
    vkDeviceWaitIdle(dev_->device());
    ring_.reset();
    cpu_.reset();
    mem_->destroy_buffer(x_down_);
    mem_->destroy_buffer(x_up_);
    mem_->destroy_buffer(logits_rb_);
    cpu_layer_.clear();
    cpu_layers_ = 0;
    split_.reset();
    pre_seg_ = -1;
    for (auto& b : imports_) mem_->release_import(b);
    imports_.clear();
    seg_copies_.clear();
    zero_copy_ = false;
    shader_stream_ = false;
    shader_copies_.clear();
    slot_copies_.clear();
    copy_groups_.clear();
    schedules_[0].reset();
    schedules_[1].reset();
    active_schedule_ = nullptr;
    shader_copied_ = 0;
    for (auto& b : buffers_) mem_->destroy_buffer(b);
    buffers_.clear();
    dweights_.clear();
    k_cache_.clear();
    v_cache_.clear();
    tensors_.clear();
    seg_streamed_.clear();
    plan_ = VramPlan{};
    weights_ = nullptr;
}

Expected<GpuBuffer> VulkanBackend::alloc(uint64 bytes) {
    auto b = mem_->create_buffer(bytes, MemoryKind::DeviceLocal);
    if (!b) return b.error();
    buffers_.push_back(*b);
    return *b;
}

uint64 VulkanBackend::fixed_device_bytes(uint32 n_ctx, uint32 n_batch) const {
    const uint64 blk = mem_->device_block_size();
    auto c = [&](uint64 bytes) { return vram_alloc_cost(bytes, blk); };
    const uint64 kv = 2ull * cfg_.n_layer * c(kv_cache_bytes(n_ctx)) + (kv_f16() ? 2 * c(uint64(n_batch) * cfg_.kv_dim() * 4) : 0);
    const uint64 act = c(uint64(n_ctx) * cfg_.n_rot * 4) + c(uint64(n_batch) * cfg_.n_embd * 4) * 2 + c(uint64(n_batch) * cfg_.q_dim() * 4) * 2 +
                       c(uint64(n_batch) * cfg_.n_ff * 4) + c(uint64(n_batch) * cfg_.n_vocab * 4) + c(16);
    const uint64 gamma = c(uint64(2 * cfg_.n_layer + 1) * cfg_.n_embd * 4);  // norm_f32_
    return kv + act + gamma;
}

uint64 VulkanBackend::host_bytes_estimate(const WeightProvider& w, uint32 n_ctx, uint32 n_batch, uint64 driver_bytes) {
    const auto& cfg = w.config();
    std::vector<uint64> seg(cfg.n_layer + 1, 0);
    for (const auto& t : w.registry().tensors()) {
        if (!tensor_on_device(cfg, t.id.role) || tensor_role_is_norm(t.id.role)) continue;
        seg[t.id.layer >= 0 ? uint32(t.id.layer) : cfg.n_layer] += t.byte_size + 4096;
    }
    const uint64 slot = *std::max_element(seg.begin(), seg.end());
    // Default slots (2) of staging, VulkanCompute's 2 x 8 MiB upload ring and its embedding
    // staging, the logits readback buffer, the hybrid path's CPU backend (f32 KV cache of
    // every layer + one token's activations), and the driver's own host memory (driver_bytes).
    const uint64 cpu = 2ull * cfg.n_layer * n_ctx * cfg.kv_dim() * 4 + (uint64(cfg.n_embd) * 4 + cfg.q_dim() * 2 + 2ull * cfg.n_ff) * 4 + uint64(n_ctx) * 4 * 64;
    return 2 * slot + (uint64(16) << 20) + uint64(n_batch) * cfg.n_embd * 4 + uint64(n_batch) * cfg.n_vocab * 4 + cpu + driver_bytes;
}

ExpectedVoid VulkanBackend::upload_resident(size_t ti) {
    const VramTensor& t = tensors_[ti];
    auto h = weights_->acquire(t.id);
    if (!h) return h.error();
    const WeightView& v = h->view();
    DeviceWeight dw{v.dtype, uint32(v.rows), uint32(v.cols), {}};
    for (const VramPiece& pc : plan_.tensors[ti].pieces) {
        auto b = alloc(pc.rows * t.row_bytes);
        if (!b) return b.error();
        VKS_TRY(for_each_overlap(v.slices, {pc}, [&](const WeightSlice& s, const VramPiece&, uint64 r0, uint64 r1) {
            const auto* src = static_cast<const char*>(s.data) + (r0 - s.row_begin) * t.row_bytes;
            return compute_->upload(src, (r1 - r0) * t.row_bytes, b->buffer, (r0 - pc.row_begin) * t.row_bytes);
        }));
        dw.pieces.push_back({b->buffer, uint32(pc.row_begin), uint32(pc.rows), 0, 0});
        resident_uploaded_ += pc.rows * t.row_bytes;
    }
    dweights_[{uint32(t.id.role), t.id.layer}] = std::move(dw);
    return {};
}

const DeviceWeight* VulkanBackend::device_weight(TensorId id) const {
    auto it = dweights_.find({uint32(id.role), id.layer});
    return it == dweights_.end() ? nullptr : &it->second;
}

ExpectedVoid VulkanBackend::prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    release();
    if (n_ctx == 0 || n_batch == 0) return make_error(ErrorCode::InvalidArgument, "vulkan prepare: n_ctx and n_batch must be > 0");
    cfg_ = weights.config();
    const uint64 max_range = dev_->caps().max_storage_buffer_range;
    const uint64 kv_bytes = kv_cache_bytes(n_ctx);
    if (kv_bytes > max_range || uint64(n_batch) * std::max(cfg_.n_vocab, cfg_.n_ff) * 4 > max_range)
        return make_error(ErrorCode::Unsupported, "vulkan prepare: n_ctx " + std::to_string(n_ctx) + " / n_batch " + std::to_string(n_batch) +
                                                      " make a KV-cache or activation buffer exceed maxStorageBufferRange (" +
                                                      std::to_string(max_range) + " bytes)");
    // Device tensors in use order: per layer (its registry order), then the head.
    for (const auto& t : weights.registry().tensors()) {
        if (!tensor_on_device(cfg_, t.id.role) || t.byte_size == 0) continue;
        if (t.id.role == TensorRole::Output && cfg_.tied_output) continue;
        const uint32 seg = t.id.layer >= 0 ? uint32(t.id.layer) : cfg_.n_layer;
        tensors_.push_back({t.id, t.rows, t.row_bytes(), seg, tensor_role_is_norm(t.id.role)});
    }
    std::stable_sort(tensors_.begin(), tensors_.end(), [](const VramTensor& a, const VramTensor& b) { return a.segment < b.segment; });
    seg_bytes_.assign(cfg_.n_layer + 1, 0);
    for (const VramTensor& t : tensors_) seg_bytes_[t.segment] += t.rows * t.row_bytes;
    VramPlanInput in;
    in.tensors = tensors_;
    in.n_segments = cfg_.n_layer + 1;
    in.fixed_bytes = fixed_device_bytes(n_ctx, n_batch);
    in.budget_bytes = opt_.vram_budget_bytes ? opt_.vram_budget_bytes : dev_->device_local_budget();
    // Streaming slots (0: automatic). DMA straight from the provider's RAM on a transfer
    // queue: 1, i.e. the upload of layer i + 1 follows the compute of layer i instead of
    // running beside it. Measured on an H100 (7B f16, pp512): concurrent copy and tensor-core
    // compute slowed each other so much (DMA 51 -> ~20 GB/s, compute 4.0 -> 8.3 ms per layer)
    // that the serial order was faster (1461 vs 1333 tokens/s at --vram-gb 4, 2017 vs 1785 at
    // 8), and the second slot's VRAM keeps one more layer resident. Through host staging: 2,
    // so the host fills one slot while the GPU reads the other.
    const uint64 imp_align = dev_->caps().min_imported_host_pointer_alignment;
    const bool zero_copy_possible = opt_.allow_zero_copy && weights.stable_host_memory() && imp_align > 0 && weights.page_alignment() % imp_align == 0;
    in.slots = opt_.stream_slots ? opt_.stream_slots : (zero_copy_possible && dev_->has_transfer_queue() ? 1 : 2);
    in.max_piece_bytes = max_range;
    in.align = std::max<uint64>(256, dev_->caps().min_storage_buffer_offset_alignment);
    in.block_bytes = mem_->device_block_size();
    in.force_streaming = opt_.force_streaming;
    auto plan = plan_vram(in);
    if (!plan) return plan.error();
    plan_ = std::move(*plan);
    weights_ = &weights;

    // Zero-copy when the provider's memory is stable and page-aligned and the device can
    // import host memory; otherwise streamed weights go through host staging.
    zero_copy_ = plan_.slots > 0 && zero_copy_possible;
    WeightStreamRingOptions ro;
    ro.slots = plan_.slots;
    ro.slot_bytes = plan_.slot_bytes;
    ro.staging = !zero_copy_;
    // Rows split (hybrid decode): the GPU's rows of consecutive layers alternate between the
    // two halves of slot 0, uploaded from the imported provider memory.
    const bool rows_wanted = opt_.hybrid && zero_copy_ && opt_.hybrid_split != VulkanOptions::HybridSplit::Layers && cfg_.n_head_kv > 0;
    ro.half_slots = rows_wanted;
    ro.timestamps = opt_.enable_profiling;
    ro.timeline = opt_.kernel_profiling;  // --enable-profiling: when uploads and compute ran
    ro.fence_timeout_ns = opt_.fence_timeout_ns;
    auto ring = WeightStreamRing::create(*dev_, *mem_, ro);
    if (!ring) return ring.error();
    ring_ = std::move(*ring);
    // Streamed tensors: device views into their segment's slot (fixed per forward: the
    // k-th streaming segment of a pass always uses slot k % slots).
    seg_streamed_.assign(cfg_.n_layer + 1, {});
    uint32 k = 0;
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        for (size_t i = 0; i < tensors_.size(); ++i)
            if (tensors_[i].segment == seg && !plan_.tensors[i].resident) seg_streamed_[seg].push_back(i);
        if (seg_streamed_[seg].empty()) continue;
        const VkBuffer slot = ring_->slot_buffer(k++ % plan_.slots);
        for (size_t i : seg_streamed_[seg]) {
            const VramTensor& t = tensors_[i];
            const TensorDesc* d = weights.registry().find(t.id);
            DeviceWeight dw{d->dtype, uint32(t.rows), uint32(t.row_bytes / dtype_size(d->dtype)), {}};
            for (const VramPiece& pc : plan_.tensors[i].pieces)
                dw.pieces.push_back({slot, uint32(pc.row_begin), uint32(pc.rows), pc.slot_offset, round_up(pc.rows * t.row_bytes, 4)});
            dweights_[{uint32(t.id.role), t.id.layer}] = std::move(dw);
        }
    }
    if (zero_copy_) VKS_TRY(import_streamed(weights));
    rows_mode_ = false;
    min_cpu_heads_ = cpu_heads_ = 0;
    pending_heads_ = -1;
    rows_pre_ = -1;
    head_cpu_rows_ = 0;
    if (rows_wanted) {
        // The fewest CPU KV heads whose GPU share of every streamed segment fits half a slot.
        const uint32 G = cfg_.n_head_kv;
        uint32 m = 0;
        for (; m < G; ++m) {
            bool fits = true;
            for (uint32 seg = 0; seg <= cfg_.n_layer && fits; ++seg)
                if (!seg_streamed_[seg].empty()) fits = rows_gpu_bytes(seg, m) <= ring_->half_slot_bytes();
            if (fits) break;
        }
        min_cpu_heads_ = m;
        rows_mode_ = m < G;  // at m == n_head_kv every row is the CPU's: the layer split does that
        side_ = rows_mode_ ? std::make_unique<SideThread>() : nullptr;
        using PU = VulkanOptions::PromptUpload;
        rows_shader_ = opt_.rows_upload == PU::Shader ||
                       (opt_.rows_upload == PU::Auto && dev_->caps().vendor_id == 0x10DE && !dev_->caps().is_cpu);
        using RH = VulkanOptions::RowsHead;
        head_cpu_ = rows_mode_ && !seg_streamed_[cfg_.n_layer].empty() && (opt_.rows_head == RH::Cpu || (opt_.rows_head == RH::Auto && rows_shader_));
    }
    VKS_TRY(setup_shader_stream());
    for (size_t i = 0; i < tensors_.size(); ++i)
        if (plan_.tensors[i].resident) VKS_TRY(upload_resident(i));
    if (cfg_.tied_output) dweights_[{uint32(TensorRole::Output), -1}] = dweights_[{uint32(TensorRole::TokenEmbd), -1}];
    VKS_TRY(upload_norms_f32(weights));
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        auto kb = alloc(kv_bytes), vb = alloc(kv_bytes);
        if (!kb) return kb.error();
        if (!vb) return vb.error();
        k_cache_.push_back(*kb);
        v_cache_.push_back(*vb);
    }
    auto mk = [&](GpuBuffer& b, uint64 elems) -> ExpectedVoid {
        auto r = alloc(elems * 4);
        if (!r) return r.error();
        b = *r;
        return {};
    };
    if (kv_f16()) {
        VKS_TRY(mk(k_new_, uint64(n_batch) * cfg_.kv_dim()));  // (n_batch, kv_dim) f32: the forward's K rows
        VKS_TRY(mk(v_new_, uint64(n_batch) * cfg_.kv_dim()));  // (n_batch, kv_dim) f32: its V rows
    }
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
    // Decode round trips: the token's embedding row goes host -> x_ through x_up_ inside the
    // first command buffer, and the logits row device -> logits_rb_ inside the last one (no
    // separate upload / readback submission, each a queue round trip of the host).
    const uint64 xchg = std::max<uint64>({cfg_.n_embd, cfg_.q_dim(), cfg_.n_ff});  // floats of the largest exchanged part
    {
        auto up = mem_->create_buffer(xchg * 4, MemoryKind::HostStaging);
        if (!up) return up.error();
        x_up_ = *up;
        auto rb = mem_->create_buffer(uint64(cfg_.n_vocab) * 4, MemoryKind::HostReadback);
        if (!rb) return rb.error();
        logits_rb_ = *rb;
        xh_.assign(cfg_.n_embd, 0.0f);
    }
    if (plan_.slots > 0 && opt_.hybrid) {
        // Hybrid decode: a CPU backend computes some streamed layers from RAM (same KV precision).
        const uint32 hw = std::max(1u, std::thread::hardware_concurrency());
        cpu_ = std::make_unique<CpuBackend>(opt_.cpu_threads ? opt_.cpu_threads : hw, cpu::KernelPath::Auto,
                                            opt_.kv_f16_rounding ? KvPrecision::F16Rounded : KvPrecision::F32);
        cpu_->set_matvec_options(opt_.cpu_prefetch_bytes, opt_.cpu_batch);
        VKS_TRY(cpu_->prepare(weights, n_ctx, 1));
        auto dn = mem_->create_buffer(xchg * 4, MemoryKind::HostReadback);
        if (!dn) return dn.error();
        x_down_ = *dn;
        cpu_valid_.assign(size_t(cfg_.n_layer) * cfg_.n_head_kv, 0);
        gpu_valid_.assign(size_t(cfg_.n_layer) * cfg_.n_head_kv, 0);
        att_h_.assign(cfg_.q_dim(), 0.0f);
        h_h_.assign(cfg_.n_ff, 0.0f);
        logits_h_.assign(cfg_.n_vocab, 0.0f);
        // Rows: CPU KV heads in [min_cpu_heads_, n_head_kv - 1] (the GPU keeps at least one).
        const uint32 streamed = rows_mode_ ? cfg_.n_head_kv - 1 - min_cpu_heads_ : streamed_layer_count();
        // Fixed split (tests: hybrid_cpu_layers >= 0) or the oracle's measured search from
        // the bandwidth model's guess: the rates this backend measured in earlier runs, else
        // the probed peaks, else half.
        const HardwareTelemetry t = telemetry_.snapshot();
        const double cpu_rate = t.cpu_weight_bps > 0 ? t.cpu_weight_bps : opt_.peak_host_memory_bps;
        const double bus_rate = t.host_to_device_bps > 0 ? t.host_to_device_bps : opt_.peak_host_to_device_bps;
        // Rows: the split searches the CPU's KV heads above the minimum (streamed = the heads
        // that may move).
        uint32 initial = model_split(cpu_rate, bus_rate);
        if (rows_mode_ && opt_.hybrid_cpu_heads >= 0) initial = rows_split_index(uint32(opt_.hybrid_cpu_heads));
        if (!rows_mode_ && opt_.hybrid_cpu_layers >= 0) initial = uint32(opt_.hybrid_cpu_layers);
        telemetry_.set_peaks(0, opt_.peak_host_to_device_bps, opt_.peak_host_memory_bps, 0);
        split_ = std::make_unique<ComputeSplit>(streamed, initial);
        apply_split();
    } else {
        rows_mode_ = false;
    }
    // Whole segments resident in VRAM are never read from the provider again (the hybrid
    // decode computes only streamed layers on the CPU): their RAM goes to streamed packs.
    std::vector<TensorId> retired;
    for (size_t i = 0; i < tensors_.size(); ++i)
        if (seg_streamed_.empty() || seg_streamed_[tensors_[i].segment].empty()) retired.push_back(tensors_[i].id);
    weights.retire(retired);
    const uint64 reserved = mem_->device_stats().bytes_reserved;
    if (reserved > in.budget_bytes)
        return make_error(ErrorCode::Internal, "vulkan prepare: reserved " + std::to_string(reserved) + " bytes of device memory, over the budget of " +
                                                   std::to_string(in.budget_bytes) + " (planned " + std::to_string(plan_.device_bytes) + ")");
    n_ctx_ = n_ctx;
    n_batch_ = n_batch;
    pos_ = 0;
    total_gpu_ns_ = 0;
    vram_hits_ = vram_misses_ = 0;
    cpu_seconds_ = wait_seconds_ = 0;
    rows_waits_ = {};
    cpu_layer_runs_ = kv_sync_bytes_ = cpu_weight_bytes_ = 0;
    return {};
}

// norm_f32_: (2 * n_layer + 1, n_embd) f32: attn_norm, ffn_norm of each layer, then
// output_norm (see norm_offset), converted once from the model's dtype for the decode
// matvecs that apply the norm themselves (FusedNorm).
ExpectedVoid VulkanBackend::upload_norms_f32(WeightProvider& weights) {
    const uint32 E = cfg_.n_embd;
    std::vector<float> g(size_t(2 * cfg_.n_layer + 1) * E);
    auto put = [&](TensorId id, uint32 slot) -> ExpectedVoid {
        auto h = weights.acquire(id);
        if (!h) return h.error();
        const WeightView& v = h->view();
        if (v.rows * v.cols != E)
            return make_error(ErrorCode::Format, "vulkan prepare: norm weight of " + std::to_string(v.rows * v.cols) + " elements, n_embd " +
                                                     std::to_string(E));
        for (const WeightSlice& s : v.slices)
            row_to_f32(v.dtype, static_cast<const uint8*>(s.data), g.data() + size_t(slot) * E + s.row_begin * v.cols,
                       (s.row_end - s.row_begin) * v.cols);
        return {};
    };
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        VKS_TRY(put(TensorId{TensorRole::AttnNorm, int32(l)}, 2 * l));
        VKS_TRY(put(TensorId{TensorRole::FfnNorm, int32(l)}, 2 * l + 1));
    }
    VKS_TRY(put(TensorId{TensorRole::OutputNorm, -1}, 2 * cfg_.n_layer));
    auto b = alloc(g.size() * 4);
    if (!b) return b.error();
    norm_f32_ = *b;
    return compute_->upload(g.data(), g.size() * 4, norm_f32_.buffer, 0);
}

FusedNorm VulkanBackend::fused_norm(TensorRole role, uint32 layer) const {
    const uint32 slot = role == TensorRole::OutputNorm ? 2 * cfg_.n_layer : 2 * layer + (role == TensorRole::FfnNorm);
    return FusedNorm{norm_f32_.buffer, slot * cfg_.n_embd, cfg_.rms_eps};
}

ExpectedVoid VulkanBackend::import_streamed(WeightProvider& weights) {
    // One import per streamed slice, covering it up to the next multiple of the import
    // alignment (the provider guarantees that padding is readable).
    const uint64 align = dev_->caps().min_imported_host_pointer_alignment;
    seg_copies_.assign(cfg_.n_layer + 1, {});
    tensor_imports_.assign(tensors_.size(), {});
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg)
        for (size_t i : seg_streamed_[seg]) {
            const VramTensor& t = tensors_[i];
            auto h = weights.acquire(t.id);
            if (!h) return h.error();
            for (const auto& sl : h->view().slices) {
                const uint64 bytes = (sl.row_end - sl.row_begin) * t.row_bytes;
                auto b = mem_->import_host(const_cast<void*>(sl.data), (bytes + align - 1) / align * align);
                if (!b) return b.error();
                imports_.push_back(*b);
                tensor_imports_[i].push_back({b->buffer, sl.row_begin, sl.row_end});
                VKS_TRY(for_each_overlap({sl}, plan_.tensors[i].pieces, [&](const WeightSlice&, const VramPiece& pc, uint64 r0, uint64 r1) -> ExpectedVoid {
                    seg_copies_[seg].push_back({b->buffer, VkBufferCopy{(r0 - sl.row_begin) * t.row_bytes,
                                                                        pc.slot_offset + (r0 - pc.row_begin) * t.row_bytes, (r1 - r0) * t.row_bytes}});
                    return {};
                }));
            }
        }
    return {};
}

ExpectedVoid VulkanBackend::fill_slot(uint32 seg, void* staging) {
    // Pins every streamed tensor of the segment (their packs stay in RAM until copied),
    // then copies slices into the slot layout with the copy pool.
    struct Copy {
        const char* src;
        char* dst;
        uint64 bytes;
    };
    std::vector<WeightHandle> pins;
    std::vector<Copy> copies;
    for (size_t i : seg_streamed_[seg]) {
        const VramTensor& t = tensors_[i];
        auto h = weights_->acquire(t.id);
        if (!h) return h.error();
        VKS_TRY(for_each_overlap(h->view().slices, plan_.tensors[i].pieces, [&](const WeightSlice& s, const VramPiece& pc, uint64 r0, uint64 r1) -> ExpectedVoid {
            copies.push_back({static_cast<const char*>(s.data) + (r0 - s.row_begin) * t.row_bytes,
                              static_cast<char*>(staging) + pc.slot_offset + (r0 - pc.row_begin) * t.row_bytes, (r1 - r0) * t.row_bytes});
            return {};
        }));
        pins.push_back(std::move(*h));
    }
    // Chunks of at most 4 MiB so that the threads balance.
    constexpr uint64 kChunk = uint64(4) << 20;
    std::vector<Copy> chunks;
    for (const Copy& c : copies)
        for (uint64 o = 0; o < c.bytes; o += kChunk) chunks.push_back({c.src + o, c.dst + o, std::min(kChunk, c.bytes - o)});
    copy_pool_->run(uint32(chunks.size()), [&](uint32 task, uint32) { std::memcpy(chunks[task].dst, chunks[task].src, chunks[task].bytes); });
    return {};
}

ExpectedVoid VulkanBackend::record_layer(OpContext& c, uint32 l, uint32 n, uint32 pos) {
    auto W = [&](TensorRole r) -> const DeviceWeight& { return dweights_.at({uint32(r), int32(l)}); };
    const uint32 E = cfg_.n_embd, Q = cfg_.q_dim();
    ActView x{x_.buffer, 0, E}, xn{xn_.buffer, 0, E}, q{q_.buffer, 0, Q}, att{att_.buffer, 0, Q}, hb{hb_.buffer, 0, cfg_.n_ff};
    RopeConfig rope{pos, cfg_.head_dim, cfg_.n_rot, cfg_.rope_style == RopeStyle::NeoX, cfg_.rope_freq_base, cfg_.rope_freq_scale,
                    rope_table_.buffer, opt_.kv_f16_rounding};
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
    // Q, K, V are independent: no barrier between them. K and V go straight into the f32 cache rows [pos, pos + n),
    // or into k_new_ / v_new_, which the attention kernel stores into the f16 caches.
    // stream_copies: a shader-copy prompt pass records weight copies (later layers) here, to run beside the next kernels.
    VKS_TRY(stream_copies(c, copy_group(l, kCopyQkv)));
    VKS_TRY(op_matmul_rope(c, W(TensorRole::Wq), xa, q, n, rope, an));
    VKS_TRY(op_matmul_rope(c, W(TensorRole::Wk), xa, k_target(l, pos), n, rope, an));
    VKS_TRY(op_matmul(c, W(TensorRole::Wv), xa, v_target(l, pos), n, false, opt_.kv_f16_rounding, an));
    rt.barrier();
    VKS_TRY(op_attention(c, AttentionShape{n, pos, cfg_.n_head, cfg_.n_head_kv, cfg_.head_dim}, q, k_cache_[l].buffer,
                         v_cache_[l].buffer, att, k_new(), v_new()));
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

ExpectedVoid VulkanBackend::forward(const ForwardRequest& req) {
    if (!weights_) return make_error(ErrorCode::InvalidArgument, "vulkan forward: prepare() was not called");
    if (!req.tokens || !req.logits || req.n_tokens == 0 || req.n_tokens > n_batch_)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: n_tokens " + std::to_string(req.n_tokens) +
                                                          " must be in [1, n_batch " + std::to_string(n_batch_) + "] with tokens and logits set");
    if (uint64(req.pos) + req.n_tokens > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: positions up to " + std::to_string(req.pos + req.n_tokens) +
                                                          " exceed n_ctx " + std::to_string(n_ctx_));
    for (uint32 i = 0; i < req.n_tokens; ++i)
        if (req.tokens[i] >= cfg_.n_vocab)
            return make_error(ErrorCode::InvalidArgument, "vulkan forward: token " + std::to_string(req.tokens[i]) + " >= n_vocab " +
                                                              std::to_string(cfg_.n_vocab));
    using SClock = std::chrono::steady_clock;
    const auto t0 = SClock::now();
    const uint64 shader_before = shader_copied_;
    auto r = record_forward(req);
    const auto t_rec = SClock::now();
    // Always drain the ring: on error nothing may stay in flight or half recorded.
    auto f = ring_->finish();
    if (!r) return r;
    if (!f) return f;
    const auto t_fin = SClock::now();
    total_gpu_ns_ += ring_->last_gpu_time_ns();
    if (ring_->timeline_enabled() && plan_.slots > 0) {
        last_timeline_ = ring_->timeline();
        log_timeline(req.n_tokens);
    }
    record_telemetry(req.n_tokens, shader_before, ring_->timeline_enabled() && plan_.slots > 0);
    VKS_TRY(rt_->collect_kernel_times());  // no-op unless kernel_profiling
    const uint32 n_out = req.all_logits ? req.n_tokens : 1;
    if (n_out == 1) std::memcpy(req.logits, logits_rb_.mapped, size_t(cfg_.n_vocab) * 4);  // copied by the last submission
    else VKS_TRY(compute_->download(logits_, 0, req.logits, uint64(n_out) * cfg_.n_vocab * 4));
    pos_ = req.pos + req.n_tokens;
    if (req.n_tokens > kMatvecMaxTokens) {
        auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
        VKS_LOG_DEBUG("forward of " << req.n_tokens << " tokens: host " << ms(t0, t_rec) << " ms to record and submit, " << ms(t_rec, t_fin)
                                    << " ms more until the GPU finished (GPU time " << double(ring_->last_gpu_time_ns()) / 1e6 << " ms), "
                                    << ms(t_fin, SClock::now()) << " ms for the logits");
    }
    if (cpu_ && req.n_tokens == 1 && (rows_mode_ ? opt_.hybrid_cpu_heads : opt_.hybrid_cpu_layers) < 0) {
        // update_model: this decode token's time feeds the split search, with the bandwidth
        // model's split from the rates measured so far (the CPU's from its parts of layers,
        // the bus's from this backend's uploads) for the search's one re-seed.
        const HardwareTelemetry t = telemetry_.snapshot();
        const int64 guess = t.cpu_weight_bps > 0 && t.host_to_device_bps > 0 ? int64(model_split(t.cpu_weight_bps, t.host_to_device_bps)) : -1;
        if (split_->record_token(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), guess)) apply_split();
    }
    if (head_cpu_rows_ > 0) std::memcpy(req.logits, logits_h_.data(), size_t(head_cpu_rows_) * 4);  // the CPU's logits rows
    return prepare_next_upload(req.n_tokens);
}

void VulkanBackend::record_telemetry(uint32 n_tokens, uint64 shader_before, bool fresh_timeline) {
    const double gpu_s = double(ring_->last_gpu_time_ns()) * 1e-9;
    const bool cpu_layers = cpu_ && n_tokens == 1 && (cpu_layers_ > 0 || rows_mode_);
    if (gpu_s > 0 && !cpu_layers) {  // with CPU layers the GPU time includes the waits for them
        uint64 bytes = 0;
        for (uint64 b : seg_bytes_) bytes += b;
        telemetry_.record(TelemetryMeter::Rate::GpuWeight, bytes, gpu_s);
    }
    if (gpu_s > 0 && shader_copied_ > shader_before)
        telemetry_.record(TelemetryMeter::Rate::HostToDevice, shader_copied_ - shader_before, gpu_s);
    if (fresh_timeline)
        for (const StreamSpan& sp : last_timeline_)
            if (sp.kind == StreamSpan::Upload && sp.end_ns > sp.start_ns)
                telemetry_.record(TelemetryMeter::Rate::HostToDevice, sp.bytes, double(sp.end_ns - sp.start_ns) * 1e-9);
}

void VulkanBackend::log_timeline(uint32 n_tokens) const {
    const StreamOverlap o = stream_overlap(last_timeline_);
    VKS_LOG_DEBUG("stream timeline (" << n_tokens << " tokens): span " << o.span_ns / 1000 << " us, uploads " << o.uploads << " busy "
                                      << o.upload_ns / 1000 << " us, compute " << o.computes << " busy " << o.compute_ns / 1000
                                      << " us, both " << o.both_ns / 1000 << " us");
    for (const auto& s : last_timeline_)
        VKS_LOG_DEBUG("  " << (s.kind == StreamSpan::Upload ? "upload " : "compute") << " slot " << s.slot << " " << s.start_ns / 1000 << " .. "
                           << s.end_ns / 1000 << " us" << (s.bytes ? " " + std::to_string(s.bytes >> 20) + " MiB" : std::string()));
}

uint64 VulkanBackend::prepared_upload_bytes() const {
    uint64 b = 0;
    if (pre_seg_ >= 0)
        for (const auto& c : seg_copies_[uint32(pre_seg_)]) b += c.region.size;
    return b;
}

OpContext VulkanBackend::op_context() const {
    OpContext c{*rt_, opt_.spec, dummy_.buffer, dev_->caps().max_workgroup_count[0], dev_->caps().subgroup_size};
    if (opt_.matvec_small_lanes) c.matvec_small_lanes = opt_.matvec_small_lanes;
    return c;
}

ExpectedVoid VulkanBackend::prepare_next_upload(uint32 n_tokens) {
    // The first streamed segment's weights start crossing the bus now, while the caller
    // samples and submits the next forward (which would otherwise begin with the bus idle).
    // Only DMA from imported memory (no host copy to wait for) on a transfer queue, and only
    // when the next pass's first streamed GPU segment is known: the first streamed layer
    // unless the hybrid decode computes it on the CPU (then the next pass issues the first
    // GPU upload before that CPU layer anyway). Batches stream the same first segment.
    if (!zero_copy_ || !ring_ || plan_.slots == 0 || !ring_->uses_transfer_queue()) return {};
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (seg_streamed_[seg].empty()) continue;
        if (rows_mode_ && n_tokens == 1) {
            if (rows_cpu_segment(seg)) return {};  // no split layer streams: nothing to upload
            // Rows split after a decode step: the first streamed segment's GPU rows, into its half
            // (unless the last split segment's exchanges copied them already).
            if (rows_ahead_) return {};
            const uint32 h = uint32(ring_->half_slot(0, rows_parity_ % 2));
            auto host = ring_->acquire_slot(h);
            if (!host) return host.error();
            VKS_TRY(ring_->upload_from(h, rows_copies_[seg]));
            rows_pre_ = int32(h);
            return {};
        }
        if (cpu_ && seg < cfg_.n_layer && cpu_layer_[seg]) return {};
        auto host = ring_->acquire_slot(0);
        if (!host) return host.error();
        VKS_TRY(ring_->upload_from(0, seg_copies_[seg]));
        bind_slot(seg, 0);
        pre_seg_ = int32(seg);
        return {};
    }
    return {};
}

ExpectedVoid VulkanBackend::setup_shader_stream() {
    using PU = VulkanOptions::PromptUpload;
    shader_stream_ = false;
    if (!zero_copy_ || plan_.slots == 0) return {};
    const bool want = opt_.prompt_upload == PU::Shader || (opt_.prompt_upload == PU::Auto && dev_->caps().vendor_id == 0x10DE && !dev_->caps().is_cpu);
    if (!want) return {};
    // copy.comp binds source and destination at the copied offsets: both must meet the
    // storage-buffer offset alignment, sizes a multiple of 16 (true for real models: tensor
    // data is 32-byte aligned, slot pieces 256-byte aligned); otherwise the DMA path.
    const uint64 align = std::max<uint64>(dev_->caps().min_storage_buffer_offset_alignment, 16);
    const uint32 L = cfg_.n_layer;
    copy_groups_.assign(copy_group(L, kCopyQkv) + 1, {});
    shader_copies_.clear();
    slot_copies_.clear();
    auto group_of = [&](TensorRole r) -> int32 {
        switch (r) {
            case TensorRole::Wq: case TensorRole::Wk: case TensorRole::Wv: return kCopyQkv;
            case TensorRole::Wo: return kCopyO;
            case TensorRole::Wgate: case TensorRole::Wup: return kCopyGateUp;
            case TensorRole::Wdown: return kCopyDown;
            case TensorRole::Output: return kCopyQkv;  // the head's one group
            default: return -1;
        }
    };
    std::vector<int32> slot_of(L + 1, -1);
    for (uint32 seg = 0, k = 0; seg <= L; ++seg)
        if (!seg_streamed_[seg].empty()) slot_of[seg] = int32(k++ % plan_.slots);
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const VramTensor& t = tensors_[i];
        const int32 part = group_of(t.id.role);
        if (part < 0) continue;
        const uint32 g = copy_group(t.segment, t.segment < L ? CopyPart(part) : kCopyQkv);
        copy_groups_[g].weight_bytes += t.rows * t.row_bytes;
        if (!plan_.tensors[i].resident)
            for (const VramPiece& pc : plan_.tensors[i].pieces) {
                const uint64 b = uint64(slot_of[t.segment]) * plan_.slot_bytes + pc.slot_offset;
                copy_groups_[g].reads.push_back({b, b + pc.rows * t.row_bytes});
            }
    }
    for (uint32 seg = 0; seg <= L; ++seg)
        for (const auto& sc : seg_copies_[seg]) {
            if (sc.region.srcOffset % align || sc.region.dstOffset % align || sc.region.size % 16) {
                VKS_LOG_INFO("prompt streaming: DMA uploads (a streamed piece is not " << align << "-byte aligned for shader copies)");
                return {};
            }
            const uint64 b = uint64(slot_of[seg]) * plan_.slot_bytes + sc.region.dstOffset;
            const CopyRange dst{b, b + sc.region.size};
            // Consumer: the segment's first group that reads the range.
            const uint32 first = copy_group(seg, kCopyQkv), last = seg < L ? copy_group(seg, kCopyDown) : first;
            uint32 consumer = last;
            for (uint32 g = first; g <= last; ++g) {
                bool reads = false;
                for (const CopyRange& r : copy_groups_[g].reads) reads |= r.begin < dst.end && dst.begin < r.end;
                if (reads) {
                    consumer = g;
                    break;
                }
            }
            slot_copies_.push_back({consumer, dst, uint32(shader_copies_.size())});
            shader_copies_.push_back({sc.src, sc.region.srcOffset, uint32(slot_of[seg]), sc.region.dstOffset, seg});
        }
    shader_stream_ = true;
    VKS_LOG_INFO("prompt streaming: shader copies beside the weight kernels (" << shader_copies_.size() << " pieces per pass)");
    return {};
}

const StreamCopySchedule& VulkanBackend::copy_schedule(bool skip_first) {
    auto& s = schedules_[skip_first ? 1 : 0];
    if (!s) {
        // 16 MiB chunks by default: ~0.3 ms on a PCIe 5 bus, small beside one layer's kernels.
        const uint64 chunk = opt_.copy_chunk_bytes ? round_up(opt_.copy_chunk_bytes, 256) : uint64(16) << 20;
        std::vector<SlotCopy>& copies = schedule_copies_[skip_first ? 1 : 0];
        copies = slot_copies_;
        if (skip_first && !copies.empty()) {
            const uint32 first = shader_copies_[copies[0].source].segment;
            std::erase_if(copies, [&](const SlotCopy& c) { return shader_copies_[c.source].segment == first; });
        }
        s = std::make_unique<StreamCopySchedule>(copy_groups_, copies, chunk, opt_.copy_budget_scale > 0 ? opt_.copy_budget_scale : 1.0);
        VKS_LOG_DEBUG("prompt copy schedule" << (skip_first ? " (first segment uploaded ahead)" : "") << ": " << s->total_bytes() << " bytes, "
                                             << s->unoverlapped_bytes() << " behind a barrier");
    }
    return *s;
}

ExpectedVoid VulkanBackend::stream_copies(OpContext& c, uint32 group) {
    if (!active_schedule_) return {};
    const auto& is = active_schedule_->before(group);
    const auto& copies = schedule_copies_[active_schedule_ == schedules_[1].get() ? 1 : 0];
    // 4 workgroups by default. Measured on the H100 (7B f16, --vram-gb 4, pp512, one call):
    // 2 / 4 / 6 / 8 / 12 / 16 / 32 / 64 workgroups gave 2106 / 2207 / 2206 / 2156 / 1995 / 1807 /
    // 1740 / 1674 tokens/s (16 MiB chunks; 64 MiB: 1827 with 4). Each copy workgroup holds an SM
    // the prompt kernels (about one wave of workgroups each) then miss; 4 still keep enough
    // loads in flight to fill the bus.
    const uint32 groups = opt_.copy_workgroups ? opt_.copy_workgroups : 4;
    const uint32 forced = active_schedule_->forced(group);
    for (size_t i = 0; i < is.size(); ++i) {
        const ShaderCopy& sc = shader_copies_[copies[is[i].copy].source];
        VKS_TRY(op_copy(c, sc.src, sc.src_offset + is[i].offset, ring_->slot_buffer(sc.slot), sc.dst_offset + is[i].offset, is[i].bytes, groups));
        shader_copied_ += is[i].bytes;
        if (i + 1 == forced) c.rt.barrier();  // these are read by the group itself
    }
    return {};
}

void VulkanBackend::bind_slot(uint32 seg, uint32 slot) {
    const VkBuffer b = ring_->slot_buffer(slot);
    for (size_t i : seg_streamed_[seg])
        for (auto& pc : dweights_[{uint32(tensors_[i].id.role), tensors_[i].id.layer}].pieces) pc.buffer = b;
}

uint32 VulkanBackend::rows_split_index(uint32 cpu_heads) const {
    return std::min(cfg_.n_head_kv - 1, std::max(cpu_heads, min_cpu_heads_)) - min_cpu_heads_;
}

uint32 VulkanBackend::model_split(double cpu_rate, double bus_rate) const {
    if (rows_mode_) return rows_split_index(ComputeSplit::initial_cpu_layers(cfg_.n_head_kv, cpu_rate, bus_rate));
    return ComputeSplit::initial_cpu_layers(streamed_layer_count(), cpu_rate, bus_rate);
}

uint32 VulkanBackend::streamed_layer_count() const {
    uint32 n = 0;
    for (uint32 l = 0; l < cfg_.n_layer && l < seg_streamed_.size(); ++l) n += !seg_streamed_[l].empty();
    return n;
}

void VulkanBackend::apply_split() {
    cpu_layer_.assign(cfg_.n_layer, 0);
    if (rows_mode_) {
        // Rows: the split counts the CPU's KV heads above the minimum.
        const uint32 m = min_cpu_heads_ + split_->cpu_layers();
        if (m != cpu_heads_ || rows_order_.empty()) {
            cpu_heads_ = m;
            layout_rows();
        }
        cpu_layers_ = 0;
        return;
    }
    // The oracle's split is over the streamed layers in use order; map it onto layers.
    const auto& mask = split_->cpu_mask();
    for (uint32 l = 0, j = 0; l < cfg_.n_layer; ++l)
        if (!seg_streamed_[l].empty()) cpu_layer_[l] = mask[j++];
    cpu_layers_ = split_->cpu_layers();
}

ExpectedVoid VulkanBackend::sync_kv(uint32 l, uint32 upto, uint32 cpu_heads, uint32 gpu_from) {
    // Per KV head g the rows [0, min(cv, gv)) are valid on both sides and [min, max) on the
    // side with the larger count (every row was written by one side, the other one marked).
    const uint32 G = cfg_.n_head_kv, hd = cfg_.head_dim;
    const uint64 KV = cfg_.kv_dim();
    uint32* cv = cpu_valid_.data() + size_t(l) * G;
    uint32* gv = gpu_valid_.data() + size_t(l) * G;
    uint32 lo = upto;
    bool to_cpu = false, to_gpu = false;
    for (uint32 g = 0; g < G; ++g) {
        if (g < cpu_heads && cv[g] < upto) {
            if (gv[g] < upto) return make_error(ErrorCode::Internal, "hybrid KV sync: rows of layer " + std::to_string(l) + " head " + std::to_string(g) + " valid on neither side");
            lo = std::min(lo, cv[g]);
            to_cpu = true;
        }
        if (g >= gpu_from && gv[g] < upto) {
            if (cv[g] < upto) return make_error(ErrorCode::Internal, "hybrid KV sync: rows of layer " + std::to_string(l) + " head " + std::to_string(g) + " valid on neither side");
            lo = std::min(lo, gv[g]);
            to_gpu = true;
        }
    }
    if (!to_cpu && !to_gpu) return {};
    // Device rows [lo, upto) come down whole; the CPU takes its heads' columns from them, and
    // the device gets them back with the CPU-valid columns of its stale heads merged in. When
    // the CPU's rows replace every column of [lo, upto) (a GPU layer after CPU layers), nothing
    // needs to come down first: one upload, no download round trip.
    bool keep_device = to_cpu;
    for (uint32 g = 0; g < G && !keep_device; ++g) keep_device = g < gpu_from || gv[g] > lo;
    const uint64 rows = upto - lo, off = uint64(lo) * KV, eb = kv_f16() ? 2 : 4;  // eb: bytes per device element
    std::vector<float> tmp(rows * KV);
    std::vector<uint16> half(kv_f16() ? rows * KV : 0);  // f16 caches: the device's words, converted on the host
    for (int v = 0; v < 2; ++v) {
        GpuBuffer& dev = v ? v_cache_[l] : k_cache_[l];
        float* host = cpu_->kv_cache(l, v);
        if (keep_device) {
            if (kv_f16()) {
                VKS_TRY(compute_->download(dev, off * eb, half.data(), rows * KV * eb));
                cpu::convert_to_f32(DType::F16, half.data(), tmp.data(), rows * KV);  // vectorized: a prompt's rows at the first split step
            } else {
                VKS_TRY(compute_->download(dev, off * eb, tmp.data(), rows * KV * eb));
            }
            kv_sync_bytes_ += rows * KV * eb;
        }
        for (uint32 g = 0; g < G; ++g) {
            if (g < cpu_heads)
                for (uint64 r = cv[g]; r < upto; ++r) std::memcpy(host + r * KV + g * hd, tmp.data() + (r - lo) * KV + g * hd, size_t(hd) * 4);
            if (g >= gpu_from)
                for (uint64 r = gv[g]; r < upto; ++r) std::memcpy(tmp.data() + (r - lo) * KV + g * hd, host + r * KV + g * hd, size_t(hd) * 4);
        }
        if (to_gpu) {
            if (kv_f16()) {
                for (uint64 i = 0; i < rows * KV; ++i) half[i] = f32_to_f16(tmp[i]);  // exact: the CPU's values are f16-rounded
                VKS_TRY(compute_->upload(half.data(), rows * KV * eb, dev.buffer, off * eb));
            } else {
                VKS_TRY(compute_->upload(tmp.data(), rows * KV * eb, dev.buffer, off * eb));
            }
            kv_sync_bytes_ += rows * KV * eb;
        }
    }
    for (uint32 g = 0; g < G; ++g) {
        if (g < cpu_heads) cv[g] = std::max(cv[g], upto);
        if (g >= gpu_from) gv[g] = std::max(gv[g], upto);
    }
    return {};
}

void VulkanBackend::mark_kv(uint32 l, uint32 pos, uint32 n, uint32 cpu_heads, uint32 gpu_from) {
    const uint32 G = cfg_.n_head_kv;
    uint32* cv = cpu_valid_.data() + size_t(l) * G;
    uint32* gv = gpu_valid_.data() + size_t(l) * G;
    for (uint32 g = 0; g < G; ++g) {
        if (g < cpu_heads) {
            cv[g] = pos + n;
            gv[g] = std::min(gv[g], pos);
        } else if (g >= gpu_from) {
            gv[g] = pos + n;
            cv[g] = std::min(cv[g], pos);
        }
    }
}

ExpectedVoid VulkanBackend::record_head(OpContext& c, uint32 first, uint32 n_out) {
    const uint32 E = cfg_.n_embd, V = cfg_.n_vocab;
    // Matvec-sized n_out (decode; a batch's last token): the output norm fused into the head matvec.
    const bool fuse = fused_norm_applies(n_out);
    const FusedNorm out_norm = fused_norm(TensorRole::OutputNorm, 0);
    const ActView xo{x_.buffer, first * E, E}, xn{xn_.buffer, 0, E};
    if (!fuse) {
        VKS_TRY(op_rmsnorm(c, dweights_.at({uint32(TensorRole::OutputNorm), -1}), xo, xn, E, n_out, cfg_.rms_eps));
        rt_->barrier();
    }
    VKS_TRY(stream_copies(c, copy_group(cfg_.n_layer, kCopyQkv)));  // the head
    VKS_TRY(op_matmul(c, dweights_.at({uint32(TensorRole::Output), -1}), fuse ? xo : xn, ActView{logits_.buffer, 0, V}, n_out, false, false,
                      fuse ? &out_norm : nullptr));
    rt_->barrier();
    return {};
}

ExpectedVoid VulkanBackend::record_forward(const ForwardRequest& req) {
    const uint32 n = req.n_tokens, E = cfg_.n_embd, V = cfg_.n_vocab;
    head_cpu_rows_ = 0;
    if (rows_mode_ && n == 1) return record_forward_rows(req);
    rows_ahead_ = false;  // this pass streams whole layers over the rows copied ahead
    if (rows_pre_ >= 0) {  // GPU rows uploaded ahead for a decode: this pass streams whole layers over them
        VKS_TRY(ring_->discard_upload(uint32(rows_pre_)));
        auto done = ring_->acquire_slot(uint32(rows_pre_));
        if (!done) return done.error();
        rows_pre_ = -1;
    }
    // Embedding rows (host provider) -> x before the first submission.
    // One token (decode): its row goes through xh_ / x_up_ like x coming back from a CPU layer.
    std::vector<float> emb;
    if (n == 1) {
        VKS_TRY(weights_->embedding_row(req.tokens[0], xh_.data()));
    } else {
        emb.resize(size_t(n) * E);
        for (uint32 i = 0; i < n; ++i) VKS_TRY(weights_->embedding_row(req.tokens[i], emb.data() + size_t(i) * E));
        VKS_TRY(compute_->upload(emb.data(), emb.size() * 4, x_.buffer, 0));
    }

    OpContext c = op_context();
    // Hybrid (decode only): some streamed layers run on the CPU from RAM while the GPU
    // side streams and computes the others; x crosses the bus at every switch.
    const bool hybrid = cpu_ && n == 1;
    auto on_cpu = [&](uint32 seg) { return hybrid && seg < cfg_.n_layer && cpu_layer_[seg]; };
    std::vector<uint32> gpu_streamed;  // GPU segments that stream, in order
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg)
        if (!seg_streamed_[seg].empty() && !on_cpu(seg)) gpu_streamed.push_back(seg);
    std::vector<int32> slot_of(cfg_.n_layer + 1, -1);  // upload issued for the segment, in this slot
    uint32 k = 0;                                       // uploads issued so far
    // Shader-copy prompt pass: copy.comp dispatches between the kernels stream the weights
    // (stream_copies); only an upload the previous forward issued ahead is waited for.
    const bool shader_pass = shader_stream_ && n > 1;
    bool first_ahead = false;
    if (pre_seg_ >= 0) {
        // The previous forward already issued this pass's first upload (into slot 0).
        if (!gpu_streamed.empty() && gpu_streamed[0] == uint32(pre_seg_)) {
            slot_of[uint32(pre_seg_)] = 0;
            vram_misses_ += seg_streamed_[uint32(pre_seg_)].size();
            k = 1;
            first_ahead = true;
        } else {
            VKS_TRY(ring_->discard_upload(0));
        }
        pre_seg_ = -1;
    }
    auto issue_upload = [&](uint32 seg) -> Expected<int32> {
        if (slot_of[seg] >= 0) return slot_of[seg];
        const uint32 s = k % plan_.slots;
        if (k + 1 < gpu_streamed.size()) {
            std::vector<TensorId> next;
            for (size_t i : seg_streamed_[gpu_streamed[k + 1]]) next.push_back(tensors_[i].id);
            weights_->hint_upcoming(next);
        }
        ++k;
        auto host = ring_->acquire_slot(s);
        if (!host) return host.error();
        if (zero_copy_) {
            VKS_TRY(ring_->upload_from(s, seg_copies_[seg]));
        } else {
            VKS_TRY(fill_slot(seg, *host));
            VKS_TRY(ring_->upload(s, plan_.segment_stream_bytes[seg]));
        }
        bind_slot(seg, s);
        vram_misses_ += seg_streamed_[seg].size();
        slot_of[seg] = int32(s);
        return int32(s);
    };
    struct ActiveSchedule {  // set for the recording of this pass only (also on errors)
        const StreamCopySchedule*& p;
        ~ActiveSchedule() { p = nullptr; }
    } active{active_schedule_};
    if (shader_pass) active_schedule_ = &copy_schedule(first_ahead);
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    bool started = false;
    int32 slot = -1;           // the slot the open command buffer waits for
    bool x_on_host = n == 1;   // x was last written by the CPU or is the embedding row (xh_)
    double cpu_s = 0, wait_s = 0;
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (on_cpu(seg)) {
            const auto t0 = std::chrono::steady_clock::now();
            // After GPU layers (x on the device) or at the start of the pass (x is the embedding row in xh_).
            if (!x_on_host || !started) {
                if (cmd != VK_NULL_HANDLE) {
                    VKS_TRY(ring_->record_copy_out(x_.buffer, x_down_.buffer, uint64(E) * 4));
                    VKS_TRY(ring_->submit(slot));
                    cmd = VK_NULL_HANDLE;
                }
                // The next GPU layers' weights start crossing the bus while the CPU works:
                // zero-copy DMA only. From packs, the host would first demand that layer's
                // packs ahead of this CPU layer's, and the RAM tier (Belady from the last
                // demanded pack) would evict this layer's packs as "furthest" just before
                // use: on a model larger than RAM that re-read most of it from disk per token.
                // Upload k (gpu_streamed[k], the first GPU layer not issued yet) goes into slot
                // k % slots, which the layer of upload k - slots read: issued once that layer
                // is recorded and submitted (before seg; acquire_slot waits for it to finish).
                // One slot: the next GPU layer, as soon as the previous streamed one ran. More
                // slots: the next ones too, so the copy engine streams them back to back under
                // the CPU runs instead of only during the run just before each (GPU box: a
                // 404 MB upload took 8 ms against 5-7 ms per CPU layer).
                if (ring_->uses_transfer_queue() && zero_copy_)
                    while (k < gpu_streamed.size() && slot_of[gpu_streamed[k]] < 0 && (k < plan_.slots || gpu_streamed[k - plan_.slots] < seg)) {
                        auto u = issue_upload(gpu_streamed[k]);
                        if (!u) return u.error();
                    }
                if (!x_on_host) {
                    VKS_TRY(ring_->wait_compute());
                    std::memcpy(xh_.data(), x_down_.mapped, size_t(E) * 4);
                    x_on_host = true;
                }
            }
            const auto t1 = std::chrono::steady_clock::now();
            const uint32 G = cfg_.n_head_kv;
            VKS_TRY(sync_kv(seg, req.pos, G, G));
            const auto t2 = std::chrono::steady_clock::now();
            VKS_TRY(cpu_->forward_layer(seg, xh_.data(), 1, req.pos));
            telemetry_.record(TelemetryMeter::Rate::CpuWeight, seg_bytes_[seg], std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count());
            mark_kv(seg, req.pos, 1, G, G);
            cpu_weight_bytes_ += seg_bytes_[seg];
            cpu_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
            wait_s += std::chrono::duration<double>(t1 - t0).count();
            continue;
        }
        const bool streams = !seg_streamed_[seg].empty();
        if (cpu_ && seg < cfg_.n_layer) VKS_TRY(sync_kv(seg, req.pos, 0, 0));  // rows a CPU layer wrote
        // A new submission starts at every streaming segment (it waits for that upload), after
        // the first first_submit_layers layers (the GPU starts on them while the host records
        // the next ones) and every 8 layers after that.
        const bool split = seg > 0 && seg < cfg_.n_layer && (seg % 8 == 0 || seg == opt_.first_submit_layers);
        // Shader-copy pass: the copies are in the command buffers themselves; only a segment
        // uploaded ahead by DMA needs a submission that waits for it.
        const bool new_submission = shader_pass ? streams && slot_of[seg] >= 0 : streams;
        if (cmd == VK_NULL_HANDLE || new_submission || split) {
            if (cmd != VK_NULL_HANDLE) VKS_TRY(ring_->submit(slot));
            auto b = ring_->begin();
            if (!b) return b.error();
            if (!started) {
                ring_->mark_forward_start(*b);  // before the runtime's first kernel timestamp
                rt_->begin(*b);
                started = true;
            } else {
                rt_->continue_recording(*b);
            }
            cmd = *b;
            slot = -1;
        }
        if (x_on_host) {
            std::memcpy(x_up_.mapped, xh_.data(), size_t(E) * 4);
            VKS_TRY(ring_->record_copy_in(x_up_.buffer, x_.buffer, uint64(E) * 4));
            x_on_host = false;
        }
        if (streams && shader_pass) {
            if (slot_of[seg] >= 0) {
                slot = slot_of[seg];  // uploaded ahead (bound then)
            } else {
                slot_of[seg] = int32(k % plan_.slots);
                bind_slot(seg, k++ % plan_.slots);
                vram_misses_ += seg_streamed_[seg].size();
            }
        } else if (streams) {
            auto s = issue_upload(seg);
            if (!s) return s.error();
            slot = *s;
        }
        if (seg < cfg_.n_layer) {
            VKS_TRY(record_layer(c, seg, n, req.pos));
            if (cpu_) mark_kv(seg, req.pos, n, 0, 0);
        } else {
            VKS_TRY(record_head(c, req.all_logits ? 0 : n - 1, req.all_logits ? n : 1));
        }
    }
    for (const auto& t : plan_.tensors) vram_hits_ += t.resident;
    if (hybrid) {
        cpu_seconds_ += cpu_s;
        wait_seconds_ += wait_s;
        cpu_layer_runs_ += cpu_layers_;
    }
    if (!req.all_logits || n == 1) VKS_TRY(ring_->record_copy_out(logits_.buffer, logits_rb_.buffer, uint64(V) * 4));
    ring_->mark_forward_end(cmd);
    return ring_->submit(slot);
}

// ---- Hybrid decode, rows split ----

uint32 VulkanBackend::cpu_rows(TensorRole role, uint32 m) const {
    const uint32 G = cfg_.n_head_kv, group = cfg_.n_head / G, hd = cfg_.head_dim;
    switch (role) {
        case TensorRole::Wq: return m * group * hd;
        case TensorRole::Wk:
        case TensorRole::Wv: return m * hd;
        case TensorRole::Wo:
        case TensorRole::Wdown: return uint32(uint64(cfg_.n_embd) * m / G);
        case TensorRole::Wgate:
        case TensorRole::Wup: return uint32(uint64(cfg_.n_ff) * m / G);
        case TensorRole::Output: return uint32(uint64(cfg_.n_vocab) * m / G);
        default: return 0;
    }
}

uint64 VulkanBackend::rows_gpu_bytes(uint32 seg, uint32 m) const {
    const uint64 align = std::max<uint64>(256, dev_->caps().min_storage_buffer_offset_alignment);
    uint64 b = 0;
    for (size_t i : seg_streamed_[seg]) {
        const VramTensor& t = tensors_[i];
        const uint64 piece = (t.rows - std::min<uint64>(t.rows, cpu_rows(t.id.role, m))) * t.row_bytes;
        if (piece > dev_->caps().max_storage_buffer_range) return ~uint64(0);  // one piece per tensor
        b += round_up(piece, align);
    }
    return b;
}

void VulkanBackend::layout_rows() {
    // Streamed segment j (in pass order) uses half j % 2 of slot 0; in it, each streamed
    // tensor's rows [cpu rows, rows) at an aligned offset, copied from the imported slices.
    const uint64 align = std::max<uint64>(256, dev_->caps().min_storage_buffer_offset_alignment);
    rows_order_.assign(cfg_.n_layer + 1, -1);
    rows_ahead_ = false;  // rows copied ahead were laid out for the old share
    rows_copies_.assign(cfg_.n_layer + 1, {});
    rows_copy_phase_.assign(cfg_.n_layer + 1, {});
    rows_pieces_.clear();
    // Shader copies bind both ends at the copied offsets (storage-buffer offset alignment, sizes
    // a multiple of 16); a layout that breaks that streams by DMA.
    const uint64 sc_align = std::max<uint64>(dev_->caps().min_storage_buffer_offset_alignment, 16);
    bool shader_ok = true;
    auto phase_of = [](TensorRole r) -> uint8 {
        switch (r) {
            case TensorRole::Wo: return 1;
            case TensorRole::Wgate: case TensorRole::Wup: case TensorRole::Output: return 2;
            case TensorRole::Wdown: return 3;
            default: return 0;  // Q / K / V
        }
    };
    uint32 j = 0;
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (seg_streamed_[seg].empty() || rows_cpu_segment(seg)) continue;
        const uint32 h = uint32(ring_->half_slot(0, j % 2));  // both halves start 256-byte aligned
        rows_order_[seg] = int32(j++);
        uint64 off = 0;
        for (size_t i : seg_streamed_[seg]) {
            const VramTensor& t = tensors_[i];
            const uint64 r0 = std::min<uint64>(t.rows, cpu_rows(t.id.role)), bytes = (t.rows - r0) * t.row_bytes;
            rows_pieces_[{uint32(t.id.role), t.id.layer}] = WeightPiece{ring_->slot_buffer(h), uint32(r0), uint32(t.rows - r0), off, round_up(bytes, 4)};
            for (const ImportedRows& im : tensor_imports_[i]) {
                const uint64 a = std::max(r0, im.row_begin), e = im.row_end;
                if (a >= e) continue;
                const VkBufferCopy r{(a - im.row_begin) * t.row_bytes, off + (a - r0) * t.row_bytes, (e - a) * t.row_bytes};
                // The head's rows are copied during all four exchanges of the layer before, in
                // shares of a layer's bytes per exchange (Q/K/V 1/4, wo 1/12, gate/up 1/2... of
                // 7B: 25 / 8 / 45 / 22 %), so that no exchange's copies outlast its CPU part.
                const double share[4] = {0.25, 0.08, 0.45, 0.22};
                uint64 done = 0;
                for (uint8 ph = 0; ph < 4; ++ph) {
                    if (t.id.role != TensorRole::Output && ph != phase_of(t.id.role)) continue;
                    uint64 part = r.size - done;
                    if (t.id.role == TensorRole::Output && ph < 3) part = std::min(part, uint64(double(r.size) * share[ph]) / 256 * 256);
                    if (part == 0) continue;
                    const VkBufferCopy pr{r.srcOffset + done, r.dstOffset + done, part};
                    rows_copies_[seg].push_back({im.buffer, pr});
                    rows_copy_phase_[seg].push_back(ph);
                    shader_ok = shader_ok && pr.srcOffset % sc_align == 0 && (ring_->slot_offset(h) + pr.dstOffset) % sc_align == 0 && pr.size % 16 == 0;
                    done += part;
                }
            }
            off += round_up(bytes, align);
        }
    }
    if (rows_shader_ && !shader_ok) {
        VKS_LOG_INFO("rows split: DMA uploads (a streamed piece is not " << sc_align << "-byte aligned for shader copies)");
        rows_shader_ = false;
    }
}

DeviceWeight VulkanBackend::gpu_part(TensorRole role, int32 layer, uint32 half) const {
    DeviceWeight d = dweights_.at({uint32(role), layer});
    d.row_begin = cpu_rows(role);
    if (auto it = rows_pieces_.find({uint32(role), layer}); it != rows_pieces_.end()) {
        d.pieces = {it->second};
        d.pieces[0].buffer = ring_->slot_buffer(half);
        d.pieces[0].offset += ring_->slot_offset(half);
    }
    return d;  // resident: its own pieces, computed from row_begin on
}

void VulkanBackend::set_hybrid_cpu_heads(uint32 kv_heads) { pending_heads_ = int32(kv_heads); }

ExpectedVoid VulkanBackend::record_forward_rows(const ForwardRequest& req) {
    using SClock = std::chrono::steady_clock;
    auto secs = [](SClock::time_point a, SClock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    const uint32 E = cfg_.n_embd, F = cfg_.n_ff, V = cfg_.n_vocab, G = cfg_.n_head_kv, Q = cfg_.q_dim();
    const uint32 pos = req.pos, group = cfg_.n_head / G;
    if (pending_heads_ >= 0) {  // set_hybrid_cpu_heads(): a new layout (the upload made ahead is void)
        const uint32 m = min_cpu_heads_ + rows_split_index(uint32(pending_heads_));
        pending_heads_ = -1;
        if (m != cpu_heads_) {
            if (rows_pre_ >= 0) {
                VKS_TRY(ring_->discard_upload(uint32(rows_pre_)));
                rows_pre_ = -1;
            }
            cpu_heads_ = m;
            layout_rows();
        }
    }
    if (pre_seg_ >= 0) {  // a whole layer uploaded ahead for a batch: not this pass's layout
        VKS_TRY(ring_->discard_upload(0));
        pre_seg_ = -1;
    }
    const uint32 m = cpu_heads_;
    const uint32 Qc = cpu_rows(TensorRole::Wq), Ec = cpu_rows(TensorRole::Wo), Fc = cpu_rows(TensorRole::Wgate);
    VKS_TRY(weights_->embedding_row(req.tokens[0], xh_.data()));
    OpContext c = op_context();
    std::vector<uint32> streamed;  // streamed segments in pass order
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg)
        if (!seg_streamed_[seg].empty() && !rows_cpu_segment(seg)) streamed.push_back(seg);
    // Uploads of streamed[0, issued): with a transfer queue up to one segment ahead (into the
    // other half, whose reader - the segment before - has finished); without one, recorded
    // at the start of the segment's first command buffer.
    const uint32 S = uint32(streamed.size());
    auto half_of = [&](uint32 jj) { return uint32(ring_->half_slot(0, (jj + rows_parity_) % 2)); };  // jj == S: the next pass's first
    uint32 issued = 0;
    if (rows_ahead_ || rows_pre_ >= 0) {  // copied by the last pass's exchanges, or uploaded after it
        rows_ahead_passes_ += rows_ahead_;
        issued = 1;
        vram_misses_ += seg_streamed_[streamed[0]].size();
        rows_ahead_ = false;
        rows_pre_ = -1;
    }
    bool copied_ahead = false;
    const bool tq = ring_->uses_transfer_queue();
    // Shader copies: segment j's exchanges copy segment j + 1's rows (the phase's matrices) into
    // the other half; only the first segment is DMA.
    const uint32 copies_from = rows_shader_ ? 1 : uint32(streamed.size());
    // 256 workgroups per copy: the decode kernels leave the GPU mostly idle, and the copies must
    // fill the bus within each exchange. H100, 7B f16, --vram-gb 4, tg64 in one call (10:13 UTC):
    // 4 / 16 / 64 workgroups gave 8.75 / 8.97 / 10.03 tokens/s; a later call (faster CPU
    // matvecs, 10:22 UTC) 64 / 128: 9.99 / 10.18; another (10:28 UTC) 128 / 256: 10.79 / 11.19.
    const uint32 groups = opt_.rows_copy_workgroups ? opt_.rows_copy_workgroups : 256;
    auto shader_copies = [&](uint32 jj, uint8 phase) -> ExpectedVoid {
        const uint32 next = jj + 1;
        if (!rows_shader_ || next > S || next < copies_from) return {};
        // The last split segment copies the next pass's first one (into the other half) when it
        // is a layer, whose four exchanges carry the copies like any other layer's; not the head,
        // whose single exchange would then outlast its CPU part (H100, 7B, --vram-gb 4, 11:00 UTC
        // call: 2.4-6.2 ms per token of waits there against 1.2 ms saved before the first split
        // layer; the DMA after the pass stays).
        if (next == S && streamed[S - 1] == cfg_.n_layer) return {};
        const uint32 seg = streamed[next % S], h = half_of(next);
        if (next == S) copied_ahead = true;
        if (phase == 0) vram_misses_ += seg_streamed_[seg].size();
        const auto& cs = rows_copies_[seg];
        for (size_t k = 0; k < cs.size(); ++k) {
            if (rows_copy_phase_[seg][k] != phase) continue;
            VKS_TRY(op_copy(c, cs[k].src, cs[k].region.srcOffset, ring_->slot_buffer(h), ring_->slot_offset(h) + cs[k].region.dstOffset, cs[k].region.size, groups));
            shader_copied_ += cs[k].region.size;
        }
        return {};
    };
    auto issue_until = [&](uint32 upto) -> ExpectedVoid {
        upto = std::min(upto, copies_from);
        for (; issued < upto && issued < streamed.size(); ++issued) {
            const uint32 seg = streamed[issued], h = half_of(issued);
            auto host = ring_->acquire_slot(h);
            if (!host) return host.error();
            VKS_TRY(ring_->upload_from(h, rows_copies_[seg]));
            vram_misses_ += seg_streamed_[seg].size();
        }
        return {};
    };
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    bool started = false;
    auto open = [&]() -> ExpectedVoid {
        if (cmd != VK_NULL_HANDLE) return {};
        auto b = ring_->begin();
        if (!b) return b.error();
        if (!started) {
            ring_->mark_forward_start(*b);
            rt_->begin(*b);
            started = true;
        } else {
            rt_->continue_recording(*b);
        }
        cmd = *b;
        return {};
    };
    // x: the host's xh_ is current after every split segment; the device's x_ then has rows
    // [0, gpu_stale) older (the CPU's rows), sent down before the device reads x again.
    uint32 gpu_stale = E;
    bool host_current = true;
    auto x_to_gpu = [&]() -> ExpectedVoid {
        if (gpu_stale == 0) return {};
        std::memcpy(x_up_.mapped, xh_.data(), size_t(gpu_stale) * 4);
        VKS_TRY(ring_->record_copy_in(x_up_.buffer, x_.buffer, uint64(gpu_stale) * 4));
        gpu_stale = 0;
        return {};
    };
    // Submits the open recording (reading half slot `half`), runs the CPU's part meanwhile,
    // then waits for the device's part (in x_down_).
    double cpu_s = 0, wait_s = 0, layer_cpu_s = 0;
    // `next` (optional) records the next exchange's command buffer on side_ meanwhile.
    auto exchange = [&](int32 half, uint32 phase, auto&& cpu_part, std::function<ExpectedVoid()> next) -> ExpectedVoid {
        VKS_TRY(ring_->submit(half));
        cmd = VK_NULL_HANDLE;
        const bool side = bool(next);
        if (side) side_->start(std::move(next));
        const auto t0 = SClock::now();
        auto r = cpu_part();
        auto rec = side ? side_->join() : ExpectedVoid{};  // joined also when the CPU part failed
        if (!r) return r;
        if (!rec) return rec;
        const auto t1 = SClock::now();
        VKS_TRY(ring_->wait_compute());
        const double w = secs(t1, SClock::now());
        cpu_s += secs(t0, t1);
        layer_cpu_s += secs(t0, t1);
        wait_s += w;
        rows_waits_[phase] += w;
        return {};
    };
    const float* down = static_cast<const float*>(x_down_.mapped);
    // x back to the host after resident segments (the device's x is then the current one).
    auto x_to_host = [&]() -> ExpectedVoid {
        if (host_current) return {};
        VKS_TRY(open());
        VKS_TRY(ring_->record_copy_out(x_.buffer, x_down_.buffer, uint64(E) * 4));
        VKS_TRY(ring_->submit(-1));
        cmd = VK_NULL_HANDLE;
        const auto t0 = SClock::now();
        VKS_TRY(ring_->wait_compute());
        wait_s += secs(t0, SClock::now());
        rows_waits_[4] += secs(t0, SClock::now());
        std::memcpy(xh_.data(), down, size_t(E) * 4);
        host_current = true;
        return {};
    };
    const ActView x{x_.buffer, 0, E}, q{q_.buffer, 0, Q}, att{att_.buffer, 0, Q}, hb{hb_.buffer, 0, F};
    bool head_on_gpu = false;
    uint32 j = 0;  // streamed segments done
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (seg_streamed_[seg].empty()) {
            // Resident segment: the GPU alone, on the whole x.
            VKS_TRY(open());
            VKS_TRY(x_to_gpu());
            if (seg < cfg_.n_layer) {
                VKS_TRY(sync_kv(seg, pos, 0, 0));
                VKS_TRY(record_layer(c, seg, 1, pos));
                mark_kv(seg, pos, 1, 0, 0);
            } else {
                VKS_TRY(record_head(c, 0, 1));
                head_on_gpu = true;
            }
            host_current = false;
            continue;
        }
        if (rows_cpu_segment(seg)) {
            // The streamed head on the CPU alone (rows_head): all logits rows from RAM. An empty
            // recording marks the end of the GPU's part of the pass (its timer).
            VKS_TRY(x_to_host());
            VKS_TRY(open());
            ring_->mark_forward_end(cmd);
            VKS_TRY(ring_->submit(-1));
            cmd = VK_NULL_HANDLE;
            const auto t0 = SClock::now();
            VKS_TRY(cpu_->output_part(xh_.data(), V, logits_h_.data()));
            const double s = secs(t0, SClock::now());
            cpu_s += s;
            head_cpu_rows_ = V;
            if (s > 0) telemetry_.record(TelemetryMeter::Rate::CpuWeight, seg_bytes_[seg], s);  // as a CPU layer's
            cpu_weight_bytes_ += seg_bytes_[seg];
            continue;
        }
        const uint32 half = half_of(j);
        if (tq) VKS_TRY(issue_until(j + 2));
        VKS_TRY(x_to_host());  // x comes back from the resident segments before
        VKS_TRY(open());
        if (!tq) VKS_TRY(issue_until(j + 1));
        // This segment's rows, when shader copies wrote them, in earlier submissions: a barrier
        // makes those writes visible (its first scope covers earlier submissions on the queue).
        if (rows_shader_) rt_->barrier();
        VKS_TRY(x_to_gpu());
        layer_cpu_s = 0;
        if (seg == cfg_.n_layer) {
            // The head: logits rows [Vc, V) on the GPU (into logits_rb_ at their place), [0, Vc) on the CPU.
            const uint32 Vc = cpu_rows(TensorRole::Output);
            const FusedNorm on = fused_norm(TensorRole::OutputNorm, 0);
            VKS_TRY(op_matmul(c, gpu_part(TensorRole::Output, -1, half), x, ActView{logits_.buffer, 0, V}, 1, false, false, &on));
            rt_->barrier();
            VKS_TRY(ring_->record_copy_out(logits_.buffer, logits_rb_.buffer, uint64(V - Vc) * 4, uint64(Vc) * 4, uint64(Vc) * 4));
            ring_->mark_forward_end(cmd);
            VKS_TRY(exchange(half, 2, [&] { return cpu_->output_part(xh_.data(), Vc, logits_h_.data()); }, nullptr));
            head_cpu_rows_ = Vc;
            ++j;
            continue;
        }
        const int32 L = int32(seg);
        VKS_TRY(sync_kv(seg, pos, m, m));
        RopeConfig rope{pos, cfg_.head_dim, cfg_.n_rot, cfg_.rope_style == RopeStyle::NeoX, cfg_.rope_freq_base, cfg_.rope_freq_scale,
                        rope_table_.buffer, opt_.kv_f16_rounding};
        const FusedNorm an = fused_norm(TensorRole::AttnNorm, seg), fn = fused_norm(TensorRole::FfnNorm, seg);
        // The recordings of exchanges 2-4: each runs on side_ while the CPU computes its part of
        // the exchange before (they only reference x_up_, whose data is written after the merge).
        // Exchanges 2 and 4 (x rows [Ec, E) += W rows . in, after the CPU's part of `in` arrived).
        auto rec_project = [&](TensorRole role, VkBuffer in, uint32 in_rows, uint8 phase, ActView in_view) -> ExpectedVoid {
            VKS_TRY(open());
            VKS_TRY(ring_->record_copy_in(x_up_.buffer, in, uint64(in_rows) * 4));
            VKS_TRY(shader_copies(j, phase));
            VKS_TRY(op_matmul(c, gpu_part(role, L, half), in_view, x, 1, true));
            rt_->barrier();
            return ring_->record_copy_out(x_.buffer, x_down_.buffer, uint64(E - Ec) * 4, uint64(Ec) * 4, 0);
        };
        auto rec_wo = [&]() { return rec_project(TensorRole::Wo, att_.buffer, Qc, 1, att); };
        auto rec_down = [&]() { return rec_project(TensorRole::Wdown, hb_.buffer, Fc, 3, hb); };
        auto rec_ffn = [&]() -> ExpectedVoid {
            VKS_TRY(open());
            VKS_TRY(ring_->record_copy_in(x_up_.buffer, x_.buffer, uint64(Ec) * 4));  // the CPU's rows of x
            VKS_TRY(shader_copies(j, 2));
            VKS_TRY(op_swiglu(c, gpu_part(TensorRole::Wgate, L, half), gpu_part(TensorRole::Wup, L, half), x, hb, 1, &fn));
            rt_->barrier();
            return ring_->record_copy_out(hb_.buffer, x_down_.buffer, uint64(F - Fc) * 4, uint64(Fc) * 4, 0);
        };
        // 1. Q / K / V and attention: query heads [m * group, n_head) on the GPU, the others on the CPU.
        VKS_TRY(op_matmul_rope(c, gpu_part(TensorRole::Wq, L, half), x, q, 1, rope, &an));
        VKS_TRY(op_matmul_rope(c, gpu_part(TensorRole::Wk, L, half), x, k_target(seg, pos), 1, rope, &an));
        VKS_TRY(op_matmul(c, gpu_part(TensorRole::Wv, L, half), x, v_target(seg, pos), 1, false, opt_.kv_f16_rounding, &an));
        rt_->barrier();
        VKS_TRY(shader_copies(j, 0));  // no barrier after them: they run beside the kernels
        VKS_TRY(op_attention(c, AttentionShape{1, pos, cfg_.n_head, G, cfg_.head_dim, m * group}, q, k_cache_[seg].buffer, v_cache_[seg].buffer, att,
                             k_new(), v_new()));
        rt_->barrier();
        VKS_TRY(ring_->record_copy_out(att_.buffer, x_down_.buffer, uint64(Q - Qc) * 4, uint64(Qc) * 4, 0));
        VKS_TRY(exchange(half, 0, [&] { return cpu_->attention_part(seg, xh_.data(), pos, m, att_h_.data()); }, rec_wo));
        std::memcpy(att_h_.data() + Qc, down, size_t(Q - Qc) * 4);
        mark_kv(seg, pos, 1, m, m);
        // 2. wo (+ residual) on the whole attention output: x rows [Ec, E) on the GPU, [0, Ec) on the CPU.
        std::memcpy(x_up_.mapped, att_h_.data(), size_t(Qc) * 4);
        VKS_TRY(exchange(half, 1, [&] { return cpu_->project_part({TensorRole::Wo, L}, Ec, att_h_.data(), xh_.data(), true); }, rec_ffn));
        std::memcpy(xh_.data() + Ec, down, size_t(E - Ec) * 4);
        // 3. gate / up: hidden units [Fc, F) on the GPU, [0, Fc) on the CPU.
        std::memcpy(x_up_.mapped, xh_.data(), size_t(Ec) * 4);
        VKS_TRY(exchange(half, 2, [&] { return cpu_->ffn_part(seg, xh_.data(), Fc, h_h_.data()); }, rec_down));
        std::memcpy(h_h_.data() + Fc, down, size_t(F - Fc) * 4);
        // 4. down (+ residual) on the whole hidden vector: x rows [Ec, E) on the GPU, [0, Ec) on the CPU.
        std::memcpy(x_up_.mapped, h_h_.data(), size_t(Fc) * 4);
        VKS_TRY(exchange(half, 3, [&] { return cpu_->project_part({TensorRole::Wdown, L}, Ec, h_h_.data(), xh_.data(), true); }, nullptr));
        std::memcpy(xh_.data() + Ec, down, size_t(E - Ec) * 4);
        gpu_stale = Ec;
        ++j;
        // The CPU's share of this layer's weight bytes, for the split's measured rates.
        uint64 cpu_bytes = 0;
        for (const VramTensor& t : tensors_)
            if (t.segment == seg && !t.norm) cpu_bytes += std::min<uint64>(t.rows, cpu_rows(t.id.role)) * t.row_bytes;
        if (layer_cpu_s > 0) telemetry_.record(TelemetryMeter::Rate::CpuWeight, cpu_bytes, layer_cpu_s);
        cpu_weight_bytes_ += cpu_bytes;
        ++cpu_layer_runs_;
    }
    for (const auto& t : plan_.tensors) vram_hits_ += t.resident;
    cpu_seconds_ += cpu_s;
    wait_seconds_ += wait_s;
    rows_parity_ = (rows_parity_ + S) % 2;  // the next pass's first split segment takes half (S + parity) % 2
    rows_ahead_ = copied_ahead;
    if (!head_on_gpu) return {};  // the head's exchange (or its CPU part's marker) submitted the last recording
    VKS_TRY(open());
    VKS_TRY(ring_->record_copy_out(logits_.buffer, logits_rb_.buffer, uint64(V) * 4));
    ring_->mark_forward_end(cmd);
    return ring_->submit(-1);
}

}  // namespace vk_symbiote
