#include "backend/vulkan/VulkanBackend.h"

#include "model/KvLayout.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "backend/vulkan/ForwardPass.h"
#include "backend/vulkan/RowsPass.h"
#include "config/Logger.h"

namespace vk_symbiote {

namespace {

constexpr uint64 kMaxBlock = uint64(64) << 20, kMinBlock = uint64(256) << 10;

// VulkanMemory's block size for a budget: small budgets get small blocks so that the
// reserved bytes track what is used (tests run with budgets of a few MB). A block size b
// serves the budgets [8b, 16b) (the largest from 8b up, the smallest below 16b).
uint64 block_size_for(uint64 budget) {
    if (budget == 0) return kMaxBlock;
    uint64 b = kMaxBlock;
    while (b > kMinBlock && b * 8 > budget) b >>= 1;
    return b;
}

Error prepare_error(ErrorCode code, const std::string& what) { return make_error(code, "vulkan prepare: " + what); }

}  // namespace

Expected<std::unique_ptr<VulkanBackend>> VulkanBackend::create(const VulkanOptions& opt) {
    std::unique_ptr<VulkanBackend> b(new VulkanBackend(opt));
    VulkanDeviceOptions dopt{opt.device_index, opt.force_integrated_gpu, opt.enable_validation};
    dopt.cooperative_matrix = opt.cooperative_matrix;
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

VulkanBackend::~VulkanBackend() = default;  // model_ goes first (waits for the device), then the device objects

uint64 VulkanBackend::host_bytes_estimate(const WeightProvider& w, uint32 n_ctx, uint32 n_batch, uint64 driver_bytes) {
    const auto& cfg = w.config();
    std::vector<uint64> seg(cfg.n_layer + 1, 0);
    for (const auto& t : w.registry().tensors()) {
        // A mixture's slot holds n_expert_used experts (VramPlan's expert places), not every one.
        if (!tensor_on_device(t.id.role) || tensor_role_is_norm(t.id.role) || t.id.expert >= int32(cfg.n_expert_used)) continue;
        seg[t.id.layer >= 0 ? uint32(t.id.layer) : cfg.n_layer] += t.byte_size + 4096;
    }
    const uint64 slot = *std::max_element(seg.begin(), seg.end());
    // Default slots (2) of staging, VulkanCompute's 2 x 8 MiB upload ring and its embedding
    // staging, the logits readback buffer, the hybrid path's CPU backend (f32 KV cache of
    // every layer in KV blocks + one token's activations), the paged pool's host copies of the
    // rope tables and its pass image, and the driver's own host memory (driver_bytes).
    const uint64 cpu = KvLayout::for_tokens(cfg, n_ctx).bytes() + (uint64(cfg.n_embd) * 4 + cfg.q_dim() * 2 + 2ull * cfg.kv_dim() + 2ull * cfg.n_ff) * 4 +
                       uint64(n_ctx) * 4 * 64;
    const uint64 paged = 2ull * n_ctx * cfg.n_rot * 4 + BatchRows::buffer_bytes(cfg, n_batch, n_ctx, kKvBlockPositions, 256);
    // With a pool, the rows split's CPU part of batched passes (BatchHybrid) instead: its CPU
    // backend's activations for n_batch rows, its exchange buffers and host copies.
    const uint64 E = cfg.n_embd, Q = cfg.q_dim(), KV = cfg.kv_dim(), F = cfg.n_ff, V = cfg.n_vocab;
    const uint64 batch = uint64(n_batch) * 4 *
                         (3 * E + 2 * Q + 2 * KV + 2 * F + 2 * std::max({E, Q + 2 * KV, F}) + 2 * std::max({E, Q, F, V}) + std::max({Q, F, E}) + V);
    return 2 * slot + (uint64(16) << 20) + uint64(n_batch) * cfg.n_embd * 4 + uint64(n_batch) * cfg.n_vocab * 4 + std::max(cpu, batch) + paged +
           DeviceMoe::host_bytes(cfg, n_batch) + driver_bytes;
}

// Every family's features run on the Vulkan kernels (a mixture of experts: DeviceMoe); post
// norms around an expert mixture are in no family and not in the kernels.
std::optional<std::string> VulkanBackend::unimplemented_feature(const ModelConfig& c) {
    if (c.is_moe() && c.has_post_norms) return "post norms around a mixture of experts";
    return std::nullopt;
}

const VramPlan& VulkanBackend::plan() const {
    static const VramPlan none;
    return model_ ? model_->w.plan : none;
}

uint64 VulkanBackend::weight_bytes_uploaded() const {
    if (!model_) return resident_uploaded_;
    return resident_uploaded_ + model_->shader_copied + (model_->ring ? model_->ring->bytes_uploaded() : 0);
}

uint64 VulkanBackend::prepared_upload_bytes() const { return model_ ? model_->dma.prepared_bytes() : 0; }

uint32 VulkanBackend::rows_split_index(uint32 cpu_heads) const {
    if (model_ && model_->rows) return model_->rows->split_index(cpu_heads);
    return std::min(cfg_.n_head_kv - 1, cpu_heads);
}

uint32 VulkanBackend::model_split(double cpu_rate, double bus_rate) const {
    if (hybrid_rows()) return rows_split_index(ComputeSplit::initial_cpu_layers(cfg_.n_head_kv, cpu_rate, bus_rate));
    return ComputeSplit::initial_cpu_layers(streamed_layer_count(), cpu_rate, bus_rate);
}

// ---- prepare ----

// The placement's budget: --vram-gb, but never more than the device offers (a larger promise
// could not be kept: allocations past the device's memory fail); 0: the device's own budget.
uint64 VulkanBackend::plan_budget_bytes() const {
    const uint64 device = dev_->device_local_budget();
    if (opt_.vram_budget_bytes == 0 || device == 0) return opt_.vram_budget_bytes ? opt_.vram_budget_bytes : device;
    return std::min(opt_.vram_budget_bytes, device);
}

ExpectedVoid VulkanBackend::prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    model_.reset();  // the last model's device memory goes before the new one's is allocated
    own_ = KvBlockTable{};
    if (n_ctx == 0 || n_batch == 0) return prepare_error(ErrorCode::InvalidArgument, "n_ctx and n_batch must be > 0");
    cfg_ = weights.config();
    if (auto f = unimplemented_feature(cfg_))
        return prepare_error(ErrorCode::Unsupported, "the Vulkan backend does not implement " + *f + " yet (" + cfg_.architecture + " model)");
    VKS_TRY(check_ranges(n_ctx, n_batch));
    if (auto r = build_model(weights, n_ctx, n_batch); !r) {
        model_.reset();
        return r;
    }
    n_ctx_ = n_ctx;
    n_batch_ = n_batch;
    pos_ = 0;
    total_gpu_ns_ = 0;
    counters_ = PassCounters{};
    return {};
}

ExpectedVoid VulkanBackend::check_ranges(uint32 n_ctx, uint32 n_batch) const {
    const uint64 max_range = dev_->caps().max_storage_buffer_range;
    uint32 kv_rows = 0;  // the largest layer cache
    for (uint32 l = 0; l < cfg_.n_layer; ++l) kv_rows = std::max(kv_rows, cfg_.kv_rows(l, n_ctx, n_batch));
    kv_rows = std::max(kv_rows, paged_geometry(n_ctx).positions);
    if (ModelBuffers::kv_cache_bytes(cfg_, kv_f16(), kv_rows) <= max_range && uint64(n_batch) * std::max(cfg_.n_vocab, cfg_.n_ff) * 4 <= max_range)
        return {};
    return prepare_error(ErrorCode::Unsupported, "n_ctx " + std::to_string(n_ctx) + " / n_batch " + std::to_string(n_batch) +
                                                     " make a KV-cache or activation buffer exceed maxStorageBufferRange (" +
                                                     std::to_string(max_range) + " bytes)");
}

ExpectedVoid VulkanBackend::build_model(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    model_ = std::make_unique<VulkanModel>(*dev_, cfg_, kv_f16());
    VulkanModel& m = *model_;
    auto budget = plan_placement(weights, n_ctx, n_batch);
    if (!budget) return budget.error();
    m.weights = &weights;
    // Rows split (hybrid decode): the GPU's rows of consecutive layers alternate between the
    // two halves of slot 0, uploaded from the imported provider memory. Paged caches (a pool):
    // the split's CPU part of batched passes (BatchHybrid) instead of HybridDecode's.
    const bool paged = m.buf.paged().positions > 0;
    // A mixture of experts splits whole layers only (the rows split has no expert kernels).
    // Caches in RAM: their layers' attention runs on the host (HostAttention) instead of a
    // hybrid CPU part, whose CPU backend would keep a second cache of every layer.
    const bool kv_ram = m.buf.any_kv_in_ram();
    const bool rows_wanted = opt_.hybrid && m.dma.zero_copy && opt_.hybrid_split != VulkanOptions::HybridSplit::Layers && cfg_.n_head_kv > 0 &&
                             !cfg_.is_moe() && !kv_ram;
    VKS_TRY(create_ring(rows_wanted));
    m.w.mark_streamed(cfg_.n_layer + 1);
    m.w.view_streamed(weights, *m.ring);
    VulkanContext c = ctx();
    if (m.dma.zero_copy) VKS_TRY(m.dma.import_streamed(c, weights, m.w));
    if (rows_wanted) {
        m.rows = std::make_unique<RowsSplit>(opt_, *dev_, m.cfg, m.w, m.dma, *m.ring);
        m.rows->pieces = paged;  // batched passes stream each layer's GPU rows in pieces
        m.rows->choose();
    }
    VKS_TRY(m.shader.setup(c, m.cfg, m.w, m.dma));
    VKS_TRY(upload_weights(weights));
    VKS_TRY(m.buf.create_device(c, n_ctx, n_batch));
    VKS_TRY(m.buf.create_host(c));
    if (cfg_.is_moe()) {
        auto moe = DeviceMoe::create(c, cfg_, n_batch);
        if (!moe) return moe.error();
        m.moe = std::move(*moe);
    }
    if (m.w.plan.expert_places > 0) {
        auto ec = ExpertCache::create(c, cfg_, m.w.plan, opt_.expert_half_life);
        if (!ec) return ec.error();
        m.experts = std::move(*ec);
    }
    if (m.w.plan.slots > 0 && opt_.hybrid && !paged && !kv_ram) VKS_TRY(setup_hybrid(weights, n_ctx));
    VKS_TRY(setup_host_attention(n_ctx, n_batch));
    if (paged) m.kv = std::make_unique<DeviceKvPool>(*compute_, m.buf, KvLayout::for_tokens(cfg_, m.buf.paged().positions));
    if (paged && m.rows_mode()) {
        auto bh = BatchHybrid::create(c, weights, cfg_, n_batch, m.rows->min_cpu_heads);
        if (!bh) return bh.error();
        m.batch = std::move(*bh);
    }
    VKS_TRY(setup_decode_ahead(weights, *budget));
    retire_resident_segments(weights);
    const uint64 reserved = mem_->device_stats().bytes_reserved;
    if (reserved > *budget)
        return prepare_error(ErrorCode::Internal, "reserved " + std::to_string(reserved) + " bytes of device memory, over the budget of " +
                                                      std::to_string(*budget) + " (planned " + std::to_string(m.w.plan.device_bytes) + ")");
    return {};
}

Expected<uint64> VulkanBackend::plan_placement(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    VulkanModel& m = *model_;
    m.w.list(weights, cfg_);
    VramPlanInput in;
    in.tensors = m.w.tensors;
    in.n_segments = cfg_.n_layer + 1;
    in.budget_bytes = plan_budget_bytes();
    // Zero-copy (DMA straight from the provider's RAM) when its memory is stable and page-aligned
    // and the device can import host memory. Automatic slots: 1 with zero-copy on a transfer
    // queue (copy and compute slowed each other when concurrent: the serial order was faster,
    // docs/tuning.md), else 2, so the host fills one slot while the GPU reads the other.
    const uint64 imp_align = dev_->caps().min_imported_host_pointer_alignment;
    const bool zero_copy_possible = opt_.allow_zero_copy && weights.stable_host_memory() && imp_align > 0 && weights.page_alignment() % imp_align == 0;
    in.slots = opt_.stream_slots ? opt_.stream_slots : (zero_copy_possible && dev_->has_transfer_queue() ? 1 : 2);
    in.max_piece_bytes = dev_->caps().max_storage_buffer_range;
    in.align = std::max<uint64>(256, dev_->caps().min_storage_buffer_offset_alignment);
    in.block_bytes = mem_->device_block_size();
    in.force_streaming = opt_.force_streaming;
    in.expert_places = cfg_.is_moe() ? cfg_.n_expert_used : 0;  // slots hold the chosen experts, not all
    m.buf.set_paged(paged_geometry(n_ctx));
    auto plan = plan_pool(in, n_ctx, n_batch);
    // Weights that stream get the hybrid decode's CPU part, which keeps one contiguous cache,
    // unless the pool was asked for (VulkanOptions::kv_pool_tokens).
    // A pool that cannot hold one context: contiguous caches, which may go to RAM by layer.
    const bool too_small = !plan && plan.error().code == ErrorCode::BudgetTooSmall;
    if (((plan && plan->slots > 0 && opt_.hybrid) || too_small) && opt_.kv_pool_tokens == 0 && m.buf.paged().positions) {
        m.buf.set_paged({});
        plan = plan_caches(in, n_ctx, n_batch);
    }
    if (!plan) return plan.error();
    m.w.plan = std::move(*plan);
    m.w.plan.kv = m.kv_place.summary();
    m.dma.zero_copy = m.w.plan.slots > 0 && zero_copy_possible;
    return in.budget_bytes;
}

Expected<VramPlan> VulkanBackend::plan_caches(VramPlanInput in, uint32 n_ctx, uint32 n_batch) {
    ModelBuffers& buf = model_->buf;
    buf.set_kv_in_ram({});
    model_->kv_place = place_kv(kv_costs(n_ctx, n_batch, in.block_bytes), UINT64_MAX);
    in.fixed_bytes = ModelBuffers::device_bytes(cfg_, kv_f16(), n_ctx, n_batch, mem_->device_block_size(), buf.paged());
    auto plan = plan_vram(in);
    if (!plan && plan.error().code == ErrorCode::BudgetTooSmall && !buf.paged().positions) {
        auto ram = plan_kv_in_ram(in, n_ctx, n_batch);
        if (ram || ram.error().code != ErrorCode::BudgetTooSmall) return ram;
    }
    if (!plan && plan.error().code == ErrorCode::BudgetTooSmall) {
        in.stated_minimum = runnable_minimum(in, n_ctx, n_batch);
        in.fixed_bytes = ModelBuffers::device_bytes(cfg_, kv_f16(), n_ctx, n_batch, mem_->device_block_size(), buf.paged(), buf.kv_in_ram_mask());
        plan = plan_vram(in);
    }
    return plan;
}

Expected<VramPlan> VulkanBackend::plan_pool(const VramPlanInput& in, uint32 n_ctx, uint32 n_batch) {
    ModelBuffers& buf = model_->buf;
    auto plan = plan_caches(in, n_ctx, n_batch);
    if (plan || plan.error().code != ErrorCode::BudgetTooSmall || !buf.paged().positions) return plan;
    ModelBuffers::Paged pg = buf.paged();
    const uint32 asked = pg.positions, P = pg.block_positions;
    auto with_blocks = [&](uint32 blocks) {
        pg.positions = blocks * P;
        buf.set_paged(pg);
        return plan_caches(in, n_ctx, n_batch);
    };
    // Binary search over whole blocks in [one context, asked): lo plans, hi does not.
    uint32 lo = (n_ctx + P - 1) / P, hi = asked / P;
    auto best = with_blocks(lo);
    if (!best || lo >= hi) return best;
    while (hi - lo > 1) {
        const uint32 mid = lo + (hi - lo) / 2;
        auto p = with_blocks(mid);
        (p ? lo : hi) = mid;
        if (p) best = std::move(p);
    }
    (void)with_blocks(lo);  // the geometry of the best plan
    VKS_LOG_INFO("the device KV pool holds " << lo * P << " positions (" << asked << " asked): what the VRAM budget leaves; more sequences wait");
    return best;
}

ModelBuffers::Paged VulkanBackend::paged_geometry(uint32 n_ctx) const {
    if (!kv_f16()) return {};
    // One layer's K (or V) rows are one buffer: at most maxStorageBufferRange bytes, whole blocks.
    const uint64 row = ModelBuffers::kv_cache_bytes(cfg_, true, 1), most = dev_->caps().max_storage_buffer_range / row / kKvBlockPositions * kKvBlockPositions;
    const KvLayout l = KvLayout::for_tokens(cfg_, std::min<uint64>(opt_.kv_pool_tokens ? opt_.kv_pool_tokens : n_ctx, std::max<uint64>(most, n_ctx)));
    return ModelBuffers::Paged{uint32(l.positions()), l.block_positions, std::max<uint64>(256, dev_->caps().min_storage_buffer_offset_alignment)};
}

// The smallest budget whose own block size (block_size_for) lets plan_vram succeed: the block
// size sets every buffer's rounding and the slack, so the minimum at the requested budget's
// block size is not what a run at that minimum gets (a larger budget, larger blocks).
uint64 VulkanBackend::runnable_minimum(VramPlanInput in, uint32 n_ctx, uint32 n_batch) const {
    uint64 best = UINT64_MAX;
    for (uint64 b = kMaxBlock; b >= kMinBlock; b >>= 1) {
        in.block_bytes = b;
        in.fixed_bytes = ModelBuffers::device_bytes(cfg_, kv_f16(), n_ctx, n_batch, b, model_->buf.paged(), model_->buf.kv_in_ram_mask());
        in.budget_bytes = UINT64_MAX / 4;  // the plan's minimum does not depend on the budget
        auto p = plan_vram(in);
        if (!p) continue;
        const uint64 lo = b == kMinBlock ? 1 : 8 * b, hi = b == kMaxBlock ? UINT64_MAX : 16 * b;
        const uint64 budget = std::max(p->minimum_budget_bytes, lo);
        if (budget < hi) best = std::min(best, budget);
    }
    return best;
}

ExpectedVoid VulkanBackend::check_budget(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    model_.reset();
    cfg_ = weights.config();
    if (auto f = unimplemented_feature(cfg_))
        return prepare_error(ErrorCode::Unsupported, "the Vulkan backend does not implement " + *f + " yet (" + cfg_.architecture + " model)");
    VKS_TRY(check_ranges(n_ctx, n_batch));
    model_ = std::make_unique<VulkanModel>(*dev_, cfg_, kv_f16());
    auto r = plan_placement(weights, n_ctx, n_batch);
    model_.reset();
    if (!r) return r.error();
    return {};
}

ExpectedVoid VulkanBackend::create_ring(bool half_slots) {
    VulkanModel& m = *model_;
    WeightStreamRingOptions ro;
    ro.slots = m.w.plan.slots;
    ro.slot_bytes = m.w.plan.slot_bytes;
    ro.staging = !m.dma.zero_copy;
    ro.half_slots = half_slots;
    ro.timestamps = opt_.enable_profiling;
    ro.timeline = opt_.kernel_profiling;  // --enable-profiling: when uploads and compute ran
    ro.fence_timeout_ns = opt_.fence_timeout_ns;
    auto ring = WeightStreamRing::create(*dev_, *mem_, ro);
    if (!ring) return ring.error();
    m.ring = std::move(*ring);
    return {};
}

ExpectedVoid VulkanBackend::upload_weights(WeightProvider& weights) {
    VulkanModel& m = *model_;
    VulkanContext c = ctx();
    for (size_t i = 0; i < m.w.tensors.size(); ++i)
        if (m.w.plan.tensors[i].resident) VKS_TRY(m.w.upload_resident(c, weights, i, resident_uploaded_));
    return m.w.vectors.upload(c, weights);
}

ExpectedVoid VulkanBackend::setup_hybrid(WeightProvider& weights, uint32 n_ctx) {
    VulkanModel& m = *model_;
    VulkanContext c = ctx();
    auto h = HybridDecode::create(c, weights, m.cfg, n_ctx, m.buf, counters_.kv_sync_bytes);
    if (!h) return h.error();
    m.hybrid = std::move(*h);
    const bool rows = m.rows_mode();
    // Rows: the split searches the CPU's KV heads in [minimum, n_head_kv - 1] (the GPU keeps one).
    const uint32 streamed = rows ? cfg_.n_head_kv - 1 - m.rows->min_cpu_heads : streamed_layer_count();
    // Fixed split (tests) or the oracle's measured search from the bandwidth model's guess: the
    // rates this backend measured in earlier runs, else the probed peaks, else half.
    const HardwareTelemetry t = telemetry_.snapshot();
    const double cpu_rate = t.cpu_weight_bps > 0 ? t.cpu_weight_bps : opt_.peak_host_memory_bps;
    const double bus_rate = t.host_to_device_bps > 0 ? t.host_to_device_bps : opt_.peak_host_to_device_bps;
    uint32 initial = model_split(cpu_rate, bus_rate);
    if (rows && opt_.hybrid_cpu_heads >= 0) initial = rows_split_index(uint32(opt_.hybrid_cpu_heads));
    if (!rows && opt_.hybrid_cpu_layers >= 0) initial = uint32(opt_.hybrid_cpu_layers);
    telemetry_.set_peaks(0, opt_.peak_host_to_device_bps, opt_.peak_host_memory_bps, 0);
    m.hybrid->split = std::make_unique<ComputeSplit>(streamed, initial);
    apply_split();
    return {};
}

// Whole segments resident in VRAM are never read from the provider again (the hybrid decode
// computes only streamed layers on the CPU): their RAM goes to streamed packs.
void VulkanBackend::retire_resident_segments(WeightProvider& weights) const {
    const DeviceWeights& w = model_->w;
    std::vector<TensorId> retired;
    for (const VramTensor& t : w.tensors)
        if (w.streamed.empty() || !w.streams(t.segment)) retired.push_back(t.id);
    weights.retire(retired);
}

void VulkanBackend::apply_split() {
    VulkanModel& m = *model_;
    HybridDecode& h = *m.hybrid;
    h.cpu_layer.assign(cfg_.n_layer, 0);
    if (!m.rows_mode()) return h.apply_layers(m.w, cfg_.n_layer);
    // Rows: the split counts the CPU's KV heads above the minimum.
    RowsSplit& rows = *m.rows;
    const uint32 heads = rows.min_cpu_heads + h.split->cpu_layers();
    if (heads != rows.cpu_heads || rows.order.empty()) {
        rows.cpu_heads = heads;
        rows.layout();
    }
    h.cpu_layers = 0;
}

// ---- forward ----

ExpectedVoid VulkanBackend::check_request(const ForwardRequest& req) const {
    if (!model_) return make_error(ErrorCode::InvalidArgument, "vulkan forward: prepare() was not called");
    if (!req.tokens || !req.logits || req.n_tokens == 0 || req.n_tokens > n_batch_)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: n_tokens " + std::to_string(req.n_tokens) +
                                                          " must be in [1, n_batch " + std::to_string(n_batch_) + "] with tokens and logits set");
    if (uint64(req.pos) + req.n_tokens > n_ctx_)
        return make_error(ErrorCode::InvalidArgument, "vulkan forward: positions up to " + std::to_string(req.pos + req.n_tokens) +
                                                          " exceed n_ctx " + std::to_string(n_ctx_));
    for (uint32 i = 0; i < req.n_tokens; ++i)
        if (req.tokens[i] >= cfg_.input_ids())
            return make_error(ErrorCode::InvalidArgument, "vulkan forward: token " + std::to_string(req.tokens[i]) + " >= n_vocab " +
                                                              std::to_string(cfg_.input_ids()));
    return check_rewind(req.pos);
}

ExpectedVoid VulkanBackend::check_rewind(uint32 pos) const {
    if (pos >= pos_ || !cfg_.has_sliding_layers()) return {};
    // A sliding layer's ring holds positions [pos_ - rows, pos_); the token at pos needs [pos - window + 1, pos).
    for (uint32 l = 0; l < cfg_.n_layer; ++l) {
        if (!cfg_.is_sliding(l)) continue;
        const uint32 rows = model_->buf.kv_rows(l);
        const uint32 held_from = pos_ > rows ? pos_ - rows : 0, needed_from = pos + 1 > cfg_.sliding_window ? pos + 1 - cfg_.sliding_window : 0;
        if (needed_from < held_from)
            return make_error(ErrorCode::InvalidArgument, "vulkan forward: position " + std::to_string(pos) + " steps back past the sliding-window cache of layer " +
                                                              std::to_string(l) + " (it holds positions [" + std::to_string(held_from) + ", " +
                                                              std::to_string(pos_) + ")): reset and run the tokens again");
    }
    return {};
}

void VulkanBackend::reset() {
    pos_ = 0;
    if (model_ && model_->ahead) (void)drop_ahead();  // a lost device shows at the next forward
    if (KvBlockPool* pool = kv_pool()) pool->release(own_);
}

ExpectedVoid VulkanBackend::forward(const ForwardRequest& req) {
    VKS_TRY(check_request(req));
    if (model_->kv) return forward_own(req);
    using SClock = std::chrono::steady_clock;
    VulkanModel& m = *model_;
    WeightStreamRing& ring = *m.ring;
    const auto t0 = SClock::now();
    const uint64 shader_before = m.shader_copied;
    auto r = record_forward(req);
    const auto t_rec = SClock::now();
    VKS_TRY(finish_pass(std::move(r), req.n_tokens, shader_before));
    const auto t_fin = SClock::now();
    VKS_TRY(read_logits(req));
    pos_ = req.pos + req.n_tokens;
    if (req.n_tokens > kMatvecMaxTokens) {
        auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
        VKS_LOG_DEBUG("forward of " << req.n_tokens << " tokens: host " << ms(t0, t_rec) << " ms to record and submit, " << ms(t_rec, t_fin)
                                    << " ms more until the GPU finished (GPU time " << double(ring.last_gpu_time_ns()) / 1e6 << " ms), "
                                    << ms(t_fin, SClock::now()) << " ms for the logits");
    }
    if (m.hybrid && req.n_tokens == 1 && (m.rows_mode() ? opt_.hybrid_cpu_heads : opt_.hybrid_cpu_layers) < 0)
        update_split(std::chrono::duration<double>(SClock::now() - t0).count());
    if (m.rows && m.rows->head_cpu_rows > 0) std::memcpy(req.logits, m.hybrid->logits_h.data(), size_t(m.rows->head_cpu_rows) * 4);  // the CPU's logits rows
    return prepare_next_upload(req.n_tokens);
}

ExpectedVoid VulkanBackend::finish_pass(ExpectedVoid r, uint32 n_tokens, uint64 shader_before, uint32 bank) {
    VulkanModel& m = *model_;
    WeightStreamRing& ring = *m.ring;
    if (m.ahead) m.ahead->queued.active = false;  // finish() waits for it too
    auto f = ring.finish(bank);  // always drain the ring: on error nothing may stay in flight or half recorded
    if (!r) return r;
    if (!f) return f;
    if (m.moe) m.moe->learn_choices(*m.weights);  // the device-routed layers' choices, now readable
    total_gpu_ns_ += ring.last_gpu_time_ns();
    const bool fresh_timeline = ring.timeline_enabled() && m.w.plan.slots > 0;
    if (fresh_timeline) {
        last_timeline_ = ring.timeline();
        log_timeline(n_tokens);
    }
    record_telemetry(n_tokens, shader_before, fresh_timeline);
    return rt_->collect_kernel_times();  // no-op unless kernel_profiling
}

ExpectedVoid VulkanBackend::read_logits(const ForwardRequest& req) {
    const VulkanModel& m = *model_;
    const uint32 n_out = req.all_logits ? req.n_tokens : 1;
    if (n_out > 1) return compute_->download(m.buf.logits.get(), 0, req.logits, uint64(n_out) * cfg_.n_vocab * 4);
    std::memcpy(req.logits, m.buf.logits_rb.mapped(), size_t(cfg_.n_vocab) * 4);  // copied by the last submission
    return {};
}

// This decode token's time feeds the split search, with the bandwidth model's split from the
// rates measured so far (the CPU's from its parts of layers, the bus's from this backend's
// uploads) for the search's one re-seed.
void VulkanBackend::update_split(double token_seconds) {
    const HardwareTelemetry t = telemetry_.snapshot();
    const int64 guess = t.cpu_weight_bps > 0 && t.host_to_device_bps > 0 ? int64(model_split(t.cpu_weight_bps, t.host_to_device_bps)) : -1;
    if (model_->hybrid->split->record_token(token_seconds, guess)) apply_split();
}

ExpectedVoid VulkanBackend::record_forward(const ForwardRequest& req) {
    VulkanModel& m = *model_;
    VulkanContext c = ctx();
    if (m.rows) m.rows->head_cpu_rows = 0;
    if (m.rows_mode() && req.n_tokens == 1) return RowsPass(c, m, counters_, rows_ahead_passes_, req).run();
    VKS_TRY(leave_rows());
    return ForwardPass(c, m, counters_, req).run();
}

ExpectedVoid VulkanBackend::leave_rows() {
    if (!model_->rows) return {};
    RowsSplit& rows = *model_->rows;
    rows.ahead = false;  // this pass streams whole layers over the rows copied ahead
    if (rows.pre < 0) return {};
    // GPU rows uploaded ahead for a decode: this pass streams whole layers over them.
    WeightStreamRing& ring = *model_->ring;
    VKS_TRY(ring.discard_upload(uint32(rows.pre)));
    auto done = ring.acquire_slot(uint32(rows.pre));
    if (!done) return done.error();
    rows.pre = -1;
    return {};
}

// The first streamed segment's weights start crossing the bus now, while the caller samples
// and submits the next forward. Only DMA from imported memory on a transfer queue, and only
// when the next pass's first streamed GPU segment is known (not a hybrid CPU layer).
ExpectedVoid VulkanBackend::prepare_next_upload(uint32 n_tokens) {
    VulkanModel& m = *model_;
    if (!m.dma.zero_copy || !m.ring || m.w.plan.slots == 0 || !m.ring->uses_transfer_queue()) return {};
    uint32 seg = 0;
    while (seg <= cfg_.n_layer && !m.w.streams(seg)) ++seg;
    if (seg > cfg_.n_layer) return {};
    if (m.rows_mode() && n_tokens == 1 && !m.kv) {
        RowsSplit& rows = *m.rows;
        // Nothing when no split layer streams or the last split segment's exchanges copied the rows already.
        if (rows.cpu_segment(seg) || rows.ahead) return {};
        const uint32 h = uint32(m.ring->half_slot(0, rows.parity % 2));
        auto host = m.ring->acquire_slot(h);
        if (!host) return host.error();
        VKS_TRY(m.ring->upload_from(h, rows.copies[seg]));
        rows.pre = int32(h);
        return {};
    }
    if (m.hybrid && m.hybrid->on_cpu(seg)) return {};
    VulkanContext c = ctx();
    FeedTarget target{c, *m.ring, *m.weights, m.w};
    VKS_TRY(m.dma.feed(target, seg, 0));
    m.dma.pre_seg = int32(seg);
    return {};
}

void VulkanBackend::record_telemetry(uint32 n_tokens, uint64 shader_before, bool fresh_timeline) {
    const VulkanModel& m = *model_;
    const double gpu_s = double(m.ring->last_gpu_time_ns()) * 1e-9;
    const bool cpu_layers = (m.hybrid && n_tokens == 1 && (m.hybrid->cpu_layers > 0 || m.rows_mode())) || (m.batch && m.batch->last_heads > 0);
    if (gpu_s > 0 && !cpu_layers) {  // with CPU layers the GPU time includes the waits for them
        uint64 bytes = 0;
        for (uint64 b : m.w.seg_bytes) bytes += b;
        telemetry_.record(TelemetryMeter::Rate::GpuWeight, bytes, gpu_s);
    }
    if (gpu_s > 0 && m.shader_copied > shader_before) telemetry_.record(TelemetryMeter::Rate::HostToDevice, m.shader_copied - shader_before, gpu_s);
    if (fresh_timeline)
        for (const StreamSpan& sp : last_timeline_)
            if (sp.kind == StreamSpan::Upload && sp.end_ns > sp.start_ns)
                telemetry_.record(TelemetryMeter::Rate::HostToDevice, sp.bytes, double(sp.end_ns - sp.start_ns) * 1e-9);
}

}  // namespace vk_symbiote
