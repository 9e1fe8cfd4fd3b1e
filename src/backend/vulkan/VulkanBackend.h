// VulkanBackend: the Backend (prepare / forward / reset) on Vulkan compute under a VRAM budget
// (every device buffer counts). prepare() plans placement (VramPlan) and builds the model's
// device state (VulkanModel): resident weights once; the others stream through slots every
// pass (DmaStream, ShaderCopyStream), and a CPU part may take some of the streamed work from
// RAM (HybridDecode: whole layers, RowsSplit: rows). forward() records the pass (ForwardPass,
// or RowsPass for a rows-split decode) and reads back the logits. One caller at a time.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>

#include "backend/vulkan/BatchRows.h"
#include "backend/vulkan/VulkanModel.h"
#include "backend/vulkan/VulkanOptions.h"

namespace vk_symbiote {

class VulkanBackend final : public Backend {
public:
    static Expected<std::unique_ptr<VulkanBackend>> create(const VulkanOptions& opt);
    ~VulkanBackend() override;

    std::string name() const override { return "vulkan (" + dev_->caps().device_name + ")"; }
    ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) override;
    // prepare()'s placement alone, nothing allocated or uploaded: BudgetTooSmall (stating the
    // smallest --vram-gb that runs) when the VRAM budget cannot hold `weights`' model. The
    // engine asks before it builds a pack cache, so that a refused run does no work.
    ExpectedVoid check_budget(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch);
    // The VRAM budget from here on (the engine's default from the device's free memory; before
    // check_budget / prepare). The allocator's block size stays the one create() chose.
    void set_vram_budget(uint64 bytes) { opt_.vram_budget_bytes = bytes; }
    // The budget prepare() plans under: the one set, capped by the device's own (bytes).
    uint64 vram_budget_bytes() const { return plan_budget_bytes(); }
    // Positions of the device KV pool the next prepare() sizes (VulkanOptions::kv_pool_tokens).
    void set_kv_pool_tokens(uint64 tokens) { opt_.kv_pool_tokens = tokens; }
    // With a paged cache (kv_pool()), the backend's own sequence in its blocks: req.pos <= the
    // positions it holds (later ones are dropped).
    ExpectedVoid forward(const ForwardRequest& req) override;
    void reset() override;
    uint32 n_ctx() const override { return n_ctx_; }
    // The paged KV cache on the device (DeviceKvPool): in placements without hybrid decode, with
    // f16 caches (VulkanOptions::kv_pool_tokens); nullptr otherwise (one sequence at a time).
    KvBlockPool* kv_pool() override { return model_ && model_->kv ? &model_->kv->pool() : nullptr; }
    // One pass over the rows of every chunk (BatchRows): the weights once for all rows, each
    // row's rope and attention at its own sequence's position and blocks.
    ExpectedVoid forward_batch(const std::vector<SeqChunk>& chunks) override;
    // Copies positions [0, n) of every layer's K / V from block src to block dst of the device
    // pool (KvBlockPool::CopyBlock), for a pool that hands out this backend's blocks from
    // outside (MultiDeviceBackend: one pool over every device's blocks); a failure is returned
    // by the next forward_batch. Nothing without a pool.
    void copy_kv_block(uint32 src, uint32 dst, uint32 n) {
        if (model_ && model_->kv) model_->kv->copy_block(src, dst, n);
    }
    // Blocks copied on write in the device pool since prepare() (0 without one).
    uint64 kv_block_copies() const { return model_ && model_->kv ? model_->kv->copies() : 0; }
    BackendStats stats() override;  // VulkanBackendStats.cpp

    // GPU time of the last forward / of every forward since prepare (0 when profiling is
    // off or the compute queue has no timestamps).
    uint64 last_gpu_time_ns() const { return model_ && model_->ring ? model_->ring->last_gpu_time_ns() : 0; }
    uint64 total_gpu_time_ns() const { return total_gpu_ns_; }
    std::string device_name() const { return dev_->caps().device_name; }
    int32 device_index() const { return opt_.device_index; }  // as asked (-1: the automatic choice)
    const VulkanDevice& device() const { return *dev_; }
    // Device memory obtained from vkAllocateMemory (bytes_reserved) and sub-allocated.
    AllocatorStats device_memory_stats() const { return mem_->device_stats(); }
    ShaderRuntime& shaders() { return *rt_; }
    // Where tensor `id` lives on the device (nullptr before prepare / unknown); streamed
    // tensors point into their streaming slot.
    const DeviceWeight* device_weight(TensorId id) const { return model_ ? model_->w.find(id) : nullptr; }
    // The placement chosen by prepare().
    const VramPlan& plan() const;
    // Where each layer's KV cache lives (empty before prepare()), and the seconds the host spent
    // on the attention of the layers in RAM since prepare().
    const KvPlacement& kv_placement() const;
    double host_attention_seconds() const { return counters_.host_attention_seconds; }
    // Prompt rows of RAM-cache layers attended on the GPU over the streamed cache
    // (StreamedKvAttention, --ram-kv-prompt; one per row and layer), and the cache bytes it
    // streamed, since prepare().
    uint64 ram_kv_gpu_rows() const { return model_ && model_->stream_att ? model_->stream_att->rows_attended() : 0; }
    uint64 ram_kv_streamed_bytes() const { return model_ && model_->stream_att ? model_->stream_att->bytes_streamed() : 0; }
    // True when streamed weights are copied by DMA from the provider's memory (no staging).
    bool zero_copy_streaming() const { return model_ && model_->dma.zero_copy; }
    // True when prompt batches stream by shader copies beside the kernels (PromptUpload).
    bool shader_copy_streaming() const { return model_ && model_->shader.enabled(); }
    // Weight bytes copied host -> device: once for resident weights (by prepare) and per
    // forward for streamed ones, since prepare().
    uint64 weight_bytes_uploaded() const;
    // Bytes of the upload the last forward issued for the next one (in weight_bytes_uploaded
    // already; 0 when none is pending).
    uint64 prepared_upload_bytes() const;
    // Tensor uses served from VRAM (resident) / that had to be streamed, since prepare().
    uint64 vram_hits() const { return counters_.vram_hits; }
    uint64 vram_misses() const { return counters_.vram_misses; }
    uint64 expert_vram_hits() const { return counters_.expert_vram_hits; }
    uint64 expert_vram_misses() const { return counters_.expert_vram_misses; }
    // The last one-row pass's dispatches, barriers, submissions and waited uploads.
    const DecodeRecording& last_decode_recording() const { return counters_.last_decode; }
    // Host memory the Vulkan driver itself takes once the engine creates its device (its heaps,
    // command and descriptor pools, pipeline compilation at its peak), counted under --ram-gb.
    // Twice the overshoot measured without this reserve (docs/tuning.md).
    static constexpr uint64 kDriverHostBytes = uint64(128) << 20;
    // Host memory the backend holds besides weights (staging slots, upload and readback
    // buffers, the hybrid CPU part) at most, plus driver_bytes for the driver's own, for the
    // RAM budget: an upper bound computed before prepare(). Tests that load the driver before
    // their baseline pass 0.
    static uint64 host_bytes_estimate(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch, uint64 driver_bytes = kDriverHostBytes);
    // The first feature of the model that the Vulkan kernels do not implement yet (today: a
    // mixture of experts); nullopt when the backend runs the model. prepare() refuses such a
    // model: "the Vulkan backend does not implement <feature> yet"; the engine then runs the CPU path.
    static std::optional<std::string> unimplemented_feature(const ModelConfig& cfg);
    // Hybrid decode: streamed layers currently computed on the CPU, and since prepare():
    // CPU seconds in them, host seconds waiting for the GPU side before them, KV bytes synced.
    uint32 hybrid_cpu_layers() const { return model_ && model_->hybrid ? model_->hybrid->cpu_layers : 0; }
    // Rows split in use (HybridSplit::Rows took effect) and its current CPU share: KV heads
    // of n_head_kv per streamed layer (and the same fraction of every matrix's rows).
    bool hybrid_rows() const { return model_ && model_->rows_mode(); }
    bool hybrid_rows_shader_copies() const { return hybrid_rows() && model_->rows->shader; }
    bool hybrid_head_on_cpu() const { return hybrid_rows() && model_->rows->head_cpu; }
    // Rows split decode passes whose first split segment's rows the previous pass copied (no DMA).
    uint64 hybrid_rows_copied_ahead() const { return rows_ahead_passes_; }
    uint32 hybrid_cpu_heads() const { return hybrid_rows() ? model_->rows->cpu_heads : 0; }
    uint32 hybrid_min_cpu_heads() const { return model_ && model_->rows ? model_->rows->min_cpu_heads : 0; }
    uint32 model_kv_heads() const { return cfg_.n_head_kv; }
    // Tests: a fixed row split from the next decode on (clamped to [minimum, n_head_kv]).
    void set_hybrid_cpu_heads(uint32 kv_heads) {
        if (model_ && model_->rows) model_->rows->pending_heads = int32(kv_heads);
    }
    // What this backend measured while it ran (the VitalityOracle's HardwareTelemetry), kept
    // across prepare() calls: CPU weight bytes per second of each hybrid CPU layer, GPU weight
    // bytes per GPU second of each pass without CPU layers (streaming waits included),
    // host->device bytes per second of each timed transfer-queue upload (--enable-profiling)
    // and of each shader-copy prompt pass (copied bytes over the pass's GPU time: a lower
    // bound, the copies run beside the kernels). Peaks: VulkanOptions'. prepare() seeds the
    // hybrid split with ComputeSplit::initial_cpu_layers(measured or peak rates).
    HardwareTelemetry telemetry() const { return telemetry_.snapshot(); }
    // The probed peaks (VulkanOptions::peak_*), when known only once the device is (before prepare()).
    void set_peaks(double host_memory_bps, double host_to_device_bps) {
        opt_.peak_host_memory_bps = host_memory_bps;
        opt_.peak_host_to_device_bps = host_to_device_bps;
    }
    uint64 telemetry_samples(TelemetryMeter::Rate r) const { return telemetry_.samples(r); }
    // The oracle's split search (null without hybrid decode).
    const ComputeSplit* hybrid_split() const { return model_ && model_->hybrid ? model_->hybrid->split.get() : nullptr; }
    // The hybrid decode's CPU backend (null without hybrid decode).
    const CpuBackend* hybrid_cpu() const { return model_ && model_->hybrid ? model_->hybrid->cpu.get() : nullptr; }
    // With a pool and the rows split: the CPU part of batched passes (BatchHybrid), and the CPU KV
    // heads of the last batched pass (0: it streamed every layer whole).
    const CpuBackend* hybrid_batch_cpu() const { return model_ && model_->batch ? model_->batch->cpu.get() : nullptr; }
    uint32 batch_cpu_heads() const { return model_ && model_->batch ? model_->batch->last_heads : 0; }
    // One-row batched passes (a scheduler step with one decode row) since prepare(), by path:
    // [kOneRowShader] the rows split streaming the GPU's rows by copy.comp inside the exchanges
    // (the serial decode's copy mode), [kOneRowDma] the rows split by DMA, [kOneRowGpu] every
    // layer on the GPU (no CPU share). Where weights stream, each change of path is logged at INFO.
    enum OneRowPath : uint32 { kOneRowShader = 0, kOneRowDma = 1, kOneRowGpu = 2 };
    const std::array<uint64, 3>& one_row_passes() const { return counters_.one_row_passes; }
    double hybrid_cpu_seconds() const { return counters_.cpu_seconds; }
    double hybrid_wait_seconds() const { return counters_.wait_seconds; }
    // Rows split: host seconds waiting for the GPU after the CPU's part of each exchange (0:
    // attention, 1: wo, 2: gate / up and the head, 3: down) and for x after resident layers (4:
    // before the first split layer, or before a CPU head after resident layers), since prepare().
    const std::array<double, 5>& hybrid_rows_waits() const { return counters_.rows_waits; }
    uint64 hybrid_cpu_layer_runs() const { return counters_.cpu_layer_runs; }
    uint64 hybrid_cpu_weight_bytes() const { return counters_.cpu_weight_bytes; }  // weight bytes of those runs
    uint32 streamed_layer_count() const { return model_ ? model_->w.streamed_layer_count(cfg_.n_layer) : 0; }  // layers with at least one streamed tensor
    // The hybrid split as ComputeSplit's index: rows, `cpu_heads` KV heads on the CPU clamped to
    // [minimum, n_head_kv - 1], less the minimum; model_split: the bandwidth model's
    // split for these rates (rows: n_head_kv * cpu / (cpu + bus) heads; layers: that share of
    // the streamed layers).
    uint32 rows_split_index(uint32 cpu_heads) const;
    uint32 model_split(double cpu_rate, double bus_rate) const;
    uint64 kv_sync_bytes() const { return counters_.kv_sync_bytes; }
    // With kernel profiling and streamed weights: when the last forward's uploads and
    // compute submissions ran (WeightStreamRing timeline; empty otherwise). Also logged at DEBUG.
    const std::vector<StreamSpan>& stream_timeline() const { return last_timeline_; }

private:
    uint64 plan_budget_bytes() const;
    explicit VulkanBackend(VulkanOptions opt) : opt_(std::move(opt)) {}
    VulkanContext ctx() { return {opt_, *dev_, *mem_, *compute_, *rt_, *copy_pool_, telemetry_}; }
    ExpectedVoid check_ranges(uint32 n_ctx, uint32 n_batch) const;
    ExpectedVoid build_model(WeightProvider& weights, uint32 n_ctx, uint32 n_batch);
    Expected<uint64> plan_placement(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch);  // -> the budget
    // plan_vram for `in` with the caches of model_->buf's geometry (the stated minimum on
    // BudgetTooSmall). Contiguous caches the budget cannot hold go to RAM by layer
    // (plan_kv_in_ram); model_->kv_place says where each layer's cache lives.
    Expected<VramPlan> plan_caches(VramPlanInput in, uint32 n_ctx, uint32 n_batch);
    // VulkanKvPlacement.cpp: each layer's KV cache costs at this block size, which may leave
    // VRAM (KvPlacement); the plan with the caches that do not fit in RAM (model_->buf's mask).
    std::vector<KvLayerCost> kv_costs(uint32 n_ctx, uint32 n_batch, uint64 block) const;
    Expected<VramPlan> plan_kv_in_ram(VramPlanInput in, uint32 n_ctx, uint32 n_batch);
    // The host's attention of the layers whose caches are in RAM (HostAttention), if any.
    ExpectedVoid setup_host_attention(uint32 n_ctx, uint32 n_batch);
    // plan_caches, and with paged caches the VRAM budget cannot hold: the largest pool (whole
    // blocks, at least one context) that plans; model_->buf keeps the geometry planned.
    Expected<VramPlan> plan_pool(const VramPlanInput& in, uint32 n_ctx, uint32 n_batch);
    // The paged caches' geometry for this model (positions 0: f32 caches, which stay contiguous).
    ModelBuffers::Paged paged_geometry(uint32 n_ctx) const;
    uint64 runnable_minimum(VramPlanInput in, uint32 n_ctx, uint32 n_batch) const;
    ExpectedVoid create_ring(bool half_slots);
    ExpectedVoid upload_weights(WeightProvider& weights);
    ExpectedVoid setup_hybrid(WeightProvider& weights, uint32 n_ctx);
    void retire_resident_segments(WeightProvider& weights) const;
    bool kv_f16() const { return opt_.kv_f16_rounding && cfg_.head_dim % 2 == 0; }  // for the model of prepare()
    void apply_split();  // the split search's current split -> the layers or rows split
    ExpectedVoid check_request(const ForwardRequest& req) const;
    // With sliding layers: refuses a step back past what their rings still hold (as the CPU backend).
    ExpectedVoid check_rewind(uint32 pos) const;
    ExpectedVoid record_forward(const ForwardRequest& req);
    ExpectedVoid forward_own(const ForwardRequest& req);  // forward() in the paged cache
    // After a pass was recorded (r: how): drains the ring, then its GPU time (bank: its queries,
    // DecodeAhead), timeline and telemetry.
    ExpectedVoid finish_pass(ExpectedVoid r, uint32 n_tokens, uint64 shader_before, uint32 bank = 0);
    // The last batched pass's logits rows -> its chunks (one row: from bank's readback).
    ExpectedVoid read_batch_logits(uint32 bank = 0);
    // VulkanBackendAhead.cpp (DecodeAhead, --decode-pipeline on): why this placement cannot queue
    // a token ahead ("": it can), under `budget`; the setup once the model is built.
    std::string ahead_refusal(uint64 budget) const;
    ExpectedVoid setup_decode_ahead(WeightProvider& weights, uint64 budget);
    ExpectedVoid forward_ahead(const std::vector<SeqChunk>& chunks);  // forward_batch's pass, rows_ bound
    bool ahead_matches(const std::vector<SeqChunk>& chunks) const;
    ExpectedVoid queue_ahead(const SeqChunk& c, uint32 after_bank);
    ExpectedVoid drop_ahead();  // waits for the queued pass and drops it (none: nothing)
    ExpectedVoid finish_ahead(ExpectedVoid r, uint32 cmd, uint32 bank, uint64 shader_before);
    // With a pool and the rows split (BatchHybrid): the CPU KV heads for a pass of n_rows rows
    // (fixed: VulkanOptions::hybrid_cpu_heads; else BatchSplit's model), laid out; 0: whole layers.
    uint32 choose_batch_heads(uint32 n_rows);
    ExpectedVoid forward_batch_rows();  // the bound rows_ through BatchRowsPass
    void note_one_row(OneRowPath path);  // counts a one-row pass's path (nothing for more rows)
    ExpectedVoid read_logits(const ForwardRequest& req);
    ExpectedVoid leave_rows();  // a pass of whole layers after rows-split ones
    ExpectedVoid prepare_next_upload(uint32 n_tokens);
    void update_split(double token_seconds);
    void log_timeline(uint32 n_tokens) const;
    // Feeds telemetry_ after a forward (see telemetry()).
    void record_telemetry(uint32 n_tokens, uint64 shader_before, bool fresh_timeline);

    VulkanOptions opt_;
    std::unique_ptr<VulkanDevice> dev_;
    std::unique_ptr<VulkanMemory> mem_;
    std::unique_ptr<VulkanCompute> compute_;
    std::unique_ptr<ShaderRuntime> rt_;
    std::unique_ptr<cpu::ThreadPool> copy_pool_;
    TelemetryMeter telemetry_;
    ModelConfig cfg_;                      // of the last prepare()
    std::unique_ptr<VulkanModel> model_;   // null before a successful prepare()
    PassCounters counters_;                // since prepare()
    uint64 rows_ahead_passes_ = 0;         // since creation
    uint64 resident_uploaded_ = 0;         // since creation
    uint32 n_ctx_ = 0, n_batch_ = 0, pos_ = 0;
    KvBlockTable own_;                     // forward()'s sequence in the paged cache
    BatchRows rows_;                       // the last batched pass's rows
    std::vector<float> batch_logits_;      // (rows wanted, n_vocab) of the last batched pass
    uint64 total_gpu_ns_ = 0;
    std::vector<StreamSpan> last_timeline_;
};

}  // namespace vk_symbiote
