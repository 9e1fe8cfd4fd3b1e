// VulkanBackend: the Backend (prepare / forward / reset) on Vulkan compute, under a VRAM
// budget (vram_budget_bytes is a promise: every device buffer counts).
//
// prepare() plans placement (VramPlan): when weights + KV cache + activations fit, every
// weight is uploaded once (resident) and forward() is one submission; otherwise a
// resident set stays in VRAM and the other tensors stream through a ring of slots
// (WeightStreamRing) every forward pass: for each layer with streamed tensors the host
// acquires them from the WeightProvider (pinning their packs), copies them into the
// slot's staging memory with copy_threads threads, the slot is uploaded (transfer queue
// when there is one) and the layer's compute is submitted waiting for that upload, while
// the host already fills the next slot. Weight pieces are bound by (buffer, offset,
// range), so a slot holds a whole layer's streamed tensors.
//
// Embedding rows come from the WeightProvider (host) and are uploaded before the first
// submission. forward() waits for the last submission (with a timeout) and reads back
// the logits. Thread-safety: one caller at a time.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <utility>

#include "backend/Backend.h"
#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/ThreadPool.h"
#include "backend/vulkan/SideThread.h"
#include "backend/vulkan/StreamCopySchedule.h"
#include "backend/vulkan/VramPlan.h"
#include "oracle/ComputeSplit.h"
#include "oracle/HardwareTelemetry.h"
#include "backend/vulkan/VulkanCompute.h"
#include "backend/vulkan/VulkanOps.h"
#include "backend/vulkan/WeightStreamRing.h"

namespace vk_symbiote {

struct VulkanOptions {
    int32 device_index = -1;
    bool force_integrated_gpu = false;
    Path shader_dir;              // hot reload source (empty: off)
    Path pipeline_cache_path;     // persistent VkPipelineCache (empty: none)
    ShaderSpecialization spec;
    bool enable_profiling = true;
    // Round Q, K and V to f16 precision (storage stays f32), as llama.cpp's default f16 KV
    // cache does: for comparing with the reference at its own precision (CpuBackend's
    // KvPrecision::F16Rounded). Off: pure f32.
    bool kv_f16_rounding = false;
    uint64 vram_budget_bytes = 0; // 0: the device-local budget reported by the device
    uint32 stream_slots = 0;      // streaming slots when weights do not all fit (0: automatic, see prepare())
    bool force_streaming = false; // tests: stream every weight matrix even when all would fit
    uint32 copy_threads = 0;      // host threads copying streamed weights into staging (0: min(8, cores))
    bool allow_zero_copy = true;
    bool cooperative_matrix = true;  // the tensor-core prompt kernel where the device offers it
    bool kernel_profiling = false;
    // How prompt batches (n_tokens > 1) get streamed weights into the slots when they are DMA
    // sources (zero-copy imports): Dma = copies on the transfer queue, each layer's upload then
    // its compute; Shader = copy.comp dispatches recorded between the weight kernels, so the
    // bus works beside them (StreamCopySchedule); Auto = Shader on NVIDIA GPUs, whose transfer
    // queue the overlap probe measured time-sliced with compute, Dma elsewhere.
    enum class PromptUpload : uint8 { Auto, Dma, Shader };
    PromptUpload prompt_upload = PromptUpload::Auto;
    // Shader-copy streaming: workgroups per copy dispatch, bytes per copy chunk, and the scale
    // of each kernel group's share of the copies (StreamCopySchedule); 0: the defaults.
    uint32 copy_workgroups = 0;
    uint64 copy_chunk_bytes = 0;
    double copy_budget_scale = 0;
    // Hybrid decode: when weights stream, a CPU backend computes some streamed layers from
    // RAM while the GPU streams the others (x crosses the bus at each switch). The number of
    // CPU layers adapts to measured timings (-1) or is fixed (>= 0, tests).
    bool hybrid = true;
    int32 hybrid_cpu_layers = -1;
    // How the hybrid decode divides the streamed layers: Layers = whole layers on the CPU or
    // on the GPU (hybrid_cpu_layers); Rows = every streamed layer's matrices split by rows:
    // the CPU computes the rows of the first hybrid_cpu_heads KV heads' share (Q / K / V and
    // attention of those heads, that fraction of the rows of wo, gate, up, down and the
    // output matrix) from RAM while the GPU computes the rest from half a streaming slot,
    // the other half taking the next layer's upload (double buffering in the slot's VRAM),
    // and the parts are exchanged four times per layer (attention output, x, the FFN hidden
    // vector, x): both sides work on every layer and the bus streams only the GPU's rows.
    // Rows needs zero-copy streaming and a GPU share that fits half a slot (at least half
    // of the KV heads on the CPU); Auto = Rows where possible, else Layers.
    enum class HybridSplit : uint8 { Auto, Layers, Rows };
    HybridSplit hybrid_split = HybridSplit::Auto;
    // How the rows split streams the GPU's rows: Shader = copy.comp dispatches in each
    // exchange's command buffer copy the next split layer's rows of the same matrices (Q/K/V
    // during attention, wo during wo, ...) into the other half slot, beside the kernels;
    // Dma = transfer-queue uploads one layer ahead; Auto = Shader on NVIDIA GPUs (their
    // transfer queue time-slices with the compute queue, and the rows split submits four
    // times per layer), Dma elsewhere. The first split layer of a pass is always DMA (issued
    // after the previous decode step, while the host samples).
    PromptUpload rows_upload = PromptUpload::Auto;
    // Rows split, an output head that streams: Cpu = the CPU computes all of its rows from RAM
    // (then the head has no GPU rows to stream, and the last split layer's exchanges copy the
    // next pass's first split layer's rows into the free half: no upload to wait for after
    // the resident layers); Split = its rows split like a layer's; Auto = Cpu where the rows
    // are shader-copied (Rows upload Shader), Split elsewhere.
    enum class RowsHead : uint8 { Auto, Cpu, Split };
    RowsHead rows_head = RowsHead::Auto;
    uint32 rows_copy_workgroups = 0;  // workgroups per rows-split copy dispatch (0: 256)
    uint32 matvec_small_lanes = 0;    // OpContext::matvec_small_lanes (0: its default)
    // Layers in the first command buffer of a forward pass (then one every 8 layers): the GPU
    // starts on them while the host records the rest, instead of idling until 8 layers are
    // recorded (0: the first submission at layer 8 as well).
    uint32 first_submit_layers = 1;
    int32 hybrid_cpu_heads = -1;  // Rows: KV heads per layer on the CPU, measured (-1) or fixed (tests; clamped to the minimum)
    // Probed peaks (bytes/s, 0: unknown; vk_symbiote_benchmark's probe cache) for the split's
    // first guess before this backend has measured its own rates (telemetry()).
    double peak_host_memory_bps = 0;
    double peak_host_to_device_bps = 0;
    uint32 cpu_threads = 0;       // CPU backend threads (0: all hardware threads)
    // The hybrid CPU part's matvecs (CpuBackend::set_matvec_options): no software prefetch by
    // default, as its reads run beside the bus's copies from the same memory (H100 box, 7B,
    // --vram-gb 4, tg64, two pairs in one call, 16:15 UTC: 9.83 / 9.86 tokens/s without, 9.54 /
    // 9.46 with 1024 bytes, 8.40 with 2048); Q / K / V and gate / up grouped into one pool run.
    uint64 cpu_prefetch_bytes = 0;
    bool cpu_batch = true;
    bool enable_validation = false;
    uint64 fence_timeout_ns = uint64(120) * 1000000000ull;
};

class VulkanBackend final : public Backend {
public:
    static Expected<std::unique_ptr<VulkanBackend>> create(const VulkanOptions& opt);
    ~VulkanBackend() override;

    std::string name() const override { return "vulkan (" + dev_->caps().device_name + ")"; }
    ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) override;
    ExpectedVoid forward(const ForwardRequest& req) override;
    void reset() override { pos_ = 0; }
    uint32 n_ctx() const override { return n_ctx_; }
    BackendStats stats() override;  // VulkanBackendStats.cpp

    // GPU time of the last forward / of every forward since prepare (0 when profiling is
    // off or the compute queue has no timestamps).
    uint64 last_gpu_time_ns() const { return ring_ ? ring_->last_gpu_time_ns() : 0; }
    uint64 total_gpu_time_ns() const { return total_gpu_ns_; }
    std::string device_name() const { return dev_->caps().device_name; }
    const VulkanDevice& device() const { return *dev_; }
    // Device memory obtained from vkAllocateMemory (bytes_reserved) and sub-allocated.
    AllocatorStats device_memory_stats() const { return mem_->device_stats(); }
    ShaderRuntime& shaders() { return *rt_; }
    // Where tensor `id` lives on the device (nullptr before prepare / unknown); streamed
    // tensors point into their streaming slot.
    const DeviceWeight* device_weight(TensorId id) const;
    // The placement chosen by prepare().
    const VramPlan& plan() const { return plan_; }
    // True when streamed weights are copied by DMA from the provider's memory (no staging).
    bool zero_copy_streaming() const { return zero_copy_; }
    // True when prompt batches stream by shader copies beside the kernels (PromptUpload).
    bool shader_copy_streaming() const { return shader_stream_; }
    // Weight bytes copied host -> device: once for resident weights (by prepare) and per
    // forward for streamed ones, since prepare().
    uint64 weight_bytes_uploaded() const { return resident_uploaded_ + shader_copied_ + (ring_ ? ring_->bytes_uploaded() : 0); }
    // Bytes of the upload the last forward issued for the next one (in weight_bytes_uploaded
    // already; 0 when none is pending).
    uint64 prepared_upload_bytes() const;
    // Tensor uses served from VRAM (resident) / that had to be streamed, since prepare().
    uint64 vram_hits() const { return vram_hits_; }
    uint64 vram_misses() const { return vram_misses_; }
    // Host memory the Vulkan driver itself takes once the engine creates its device (its heaps,
    // command and descriptor pools, pipeline compilation at its peak), counted under --ram-gb.
    // H100 box (NVIDIA 580, 16 threads), 13B f16 with --ram-gb 16 before this reserve: the
    // engine's RSS growth peaked at 16.06 GiB: about 61 MiB over the budget, 37 MiB over it
    // with the 24 MiB allowance (PackWeightProvider::kFixedOverheadBytes); twice that here.
    static constexpr uint64 kDriverHostBytes = uint64(128) << 20;
    // Host memory the backend holds besides weights (staging slots, upload and readback
    // buffers, the hybrid CPU part) at most, plus driver_bytes for the driver's own, for the
    // RAM budget: an upper bound computed before prepare(). Tests that load the driver before
    // their baseline pass 0.
    static uint64 host_bytes_estimate(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch, uint64 driver_bytes = kDriverHostBytes);
    // Hybrid decode: streamed layers currently computed on the CPU, and since prepare():
    // CPU seconds in them, host seconds waiting for the GPU side before them, KV bytes synced.
    uint32 hybrid_cpu_layers() const { return cpu_layers_; }
    // Rows split in use (HybridSplit::Rows took effect) and its current CPU share: KV heads
    // of n_head_kv per streamed layer (and the same fraction of every matrix's rows).
    bool hybrid_rows() const { return rows_mode_; }
    bool hybrid_rows_shader_copies() const { return rows_mode_ && rows_shader_; }
    bool hybrid_head_on_cpu() const { return rows_mode_ && head_cpu_; }
    // Rows split decode passes whose first split segment's rows the previous pass copied (no DMA).
    uint64 hybrid_rows_copied_ahead() const { return rows_ahead_passes_; }
    uint32 hybrid_cpu_heads() const { return rows_mode_ ? cpu_heads_ : 0; }
    uint32 hybrid_min_cpu_heads() const { return min_cpu_heads_; }
    uint32 model_kv_heads() const { return cfg_.n_head_kv; }
    // Tests: a fixed row split from the next decode on (clamped to [minimum, n_head_kv]).
    void set_hybrid_cpu_heads(uint32 kv_heads);
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
    const ComputeSplit* hybrid_split() const { return split_.get(); }
    // The hybrid decode's CPU backend (null without hybrid decode).
    const CpuBackend* hybrid_cpu() const { return cpu_.get(); }
    double hybrid_cpu_seconds() const { return cpu_seconds_; }
    double hybrid_wait_seconds() const { return wait_seconds_; }
    // Rows split: host seconds waiting for the GPU after the CPU's part of each exchange (0:
    // attention, 1: wo, 2: gate / up and the head, 3: down) and for x after resident layers (4:
    // before the first split layer, or before a CPU head after resident layers), since prepare().
    const std::array<double, 5>& hybrid_rows_waits() const { return rows_waits_; }
    uint64 hybrid_cpu_layer_runs() const { return cpu_layer_runs_; }
    uint64 hybrid_cpu_weight_bytes() const { return cpu_weight_bytes_; }  // weight bytes of those runs
    uint32 streamed_layer_count() const;  // layers with at least one streamed tensor
    // The hybrid split as ComputeSplit's index: rows, `cpu_heads` KV heads on the CPU clamped to
    // [min_cpu_heads_, n_head_kv - 1], less the minimum; model_split: the bandwidth model's
    // split for these rates (rows: n_head_kv * cpu / (cpu + bus) heads; layers: that share of
    // the streamed layers).
    uint32 rows_split_index(uint32 cpu_heads) const;
    uint32 model_split(double cpu_rate, double bus_rate) const;
    uint64 kv_sync_bytes() const { return kv_sync_bytes_; }
    // With kernel profiling and streamed weights: when the last forward's uploads and
    // compute submissions ran (WeightStreamRing timeline; empty otherwise). Also logged at DEBUG.
    const std::vector<StreamSpan>& stream_timeline() const { return last_timeline_; }

private:
    explicit VulkanBackend(VulkanOptions opt) : opt_(std::move(opt)) {}
    Expected<GpuBuffer> alloc(uint64 bytes);
    ExpectedVoid upload_resident(size_t t);
    ExpectedVoid fill_slot(uint32 segment, void* staging);
    ExpectedVoid import_streamed(WeightProvider& weights);
    ExpectedVoid upload_norms_f32(WeightProvider& weights);  // -> norm_f32_
    FusedNorm fused_norm(TensorRole role, uint32 layer) const;  // AttnNorm / FfnNorm of `layer`, or OutputNorm
    void bind_slot(uint32 segment, uint32 slot);
    // Shader-copy streaming of prompt passes: the schedule of a pass that streams every
    // streamed segment (skip_first: the first one's upload was issued by the previous forward),
    // and the copies recorded before kernel group `group` (seg * 4 + {QKV, O, gate/up, down};
    // n_layer * 4: the head) of the pass being recorded.
    ExpectedVoid setup_shader_stream();
    const StreamCopySchedule& copy_schedule(bool skip_first);
    ExpectedVoid stream_copies(OpContext& c, uint32 group);
    void apply_split();  // split_ -> cpu_layer_
    ExpectedVoid prepare_next_upload(uint32 n_tokens);
    // KV rows [0, upto) of layer `layer`: the CPU's cache gets KV heads [0, cpu_heads) and the
    // device's heads [gpu_from, n_head_kv) valid (rows the other side computed are copied);
    // mark_kv: rows [pos, pos + n) were just written by the CPU for heads [0, cpu_heads) and
    // by the GPU for heads [gpu_from, n_head_kv).
    ExpectedVoid sync_kv(uint32 layer, uint32 upto, uint32 cpu_heads, uint32 gpu_from);
    void mark_kv(uint32 layer, uint32 pos, uint32 n, uint32 cpu_heads, uint32 gpu_from);
    // Rows split: the CPU's rows of matrix `role` at the current share, the GPU's part of a
    // tensor (rows [cpu rows, rows) in its half slot, or of its resident copy), the layout
    // of every streamed segment's GPU rows in its half slot, and the decode pass.
    uint32 cpu_rows(TensorRole role, uint32 kv_heads) const;
    uint32 cpu_rows(TensorRole role) const { return cpu_rows(role, cpu_heads_); }
    DeviceWeight gpu_part(TensorRole role, int32 layer, uint32 half) const;  // half: a ring slot index
    void layout_rows();
    // The head (output norm + output matrix, all on the GPU) into logits_ for n_out tokens from x row `first`.
    ExpectedVoid record_head(OpContext& c, uint32 first, uint32 n_out);
    ExpectedVoid record_forward_rows(const ForwardRequest& req);
    uint64 rows_gpu_bytes(uint32 segment, uint32 kv_heads) const;  // half-slot bytes of a segment's GPU rows
    ExpectedVoid record_layer(OpContext& c, uint32 layer, uint32 n, uint32 pos);
    ExpectedVoid record_forward(const ForwardRequest& req);
    uint64 fixed_device_bytes(uint32 n_ctx, uint32 n_batch) const;
    void release();
    void log_timeline(uint32 n_tokens) const;
    // Feeds telemetry_ after a forward (see telemetry()).
    void record_telemetry(uint32 n_tokens, uint64 shader_before, bool fresh_timeline);

    VulkanOptions opt_;
    std::unique_ptr<VulkanDevice> dev_;
    std::unique_ptr<VulkanMemory> mem_;
    std::unique_ptr<VulkanCompute> compute_;
    std::unique_ptr<ShaderRuntime> rt_;
    WeightProvider* weights_ = nullptr;
    ModelConfig cfg_;
    std::map<std::pair<uint32, int32>, DeviceWeight> dweights_;
    std::vector<VramTensor> tensors_;              // device tensors in use order (plan input)
    VramPlan plan_;
    std::vector<std::vector<size_t>> seg_streamed_; // per segment: indexes into tensors_ that stream
    std::unique_ptr<WeightStreamRing> ring_;
    // Zero-copy streaming: the provider's host memory of streamed tensors imported once
    // (VK_EXT_external_memory_host); per segment, the copies from it into the slot.
    bool zero_copy_ = false;
    int32 pre_seg_ = -1;  // segment whose upload into slot 0 a finished forward issued for the next one
    std::vector<GpuBuffer> imports_;
    std::vector<std::vector<WeightStreamRing::SourceCopy>> seg_copies_;
    // Shader-copy streaming (prompt passes): every streamed copy of a pass, in slot space
    // (slot * slot_bytes + offset), the kernel groups' reads, and the two schedules.
    struct ShaderCopy {
        VkBuffer src = VK_NULL_HANDLE;
        uint64 src_offset = 0;
        uint32 slot = 0;
        uint64 dst_offset = 0;  // within the slot
        uint32 segment = 0;
    };
    bool shader_stream_ = false;
    std::vector<ShaderCopy> shader_copies_;
    std::vector<SlotCopy> slot_copies_;
    std::vector<CopyGroup> copy_groups_;
    std::unique_ptr<StreamCopySchedule> schedules_[2];
    std::vector<SlotCopy> schedule_copies_[2];  // the copies each schedule indexes
    const StreamCopySchedule* active_schedule_ = nullptr;  // during a shader-copy pass
    uint64 shader_copied_ = 0;
    // Hybrid decode state.
    std::unique_ptr<CpuBackend> cpu_;
    std::unique_ptr<ComputeSplit> split_;        // the oracle's CPU / GPU split of streamed layers
    std::vector<uint8> cpu_layer_;               // per layer: computed on the CPU in decode
    uint32 cpu_layers_ = 0;
    std::vector<uint32> cpu_valid_, gpu_valid_;  // per (layer, KV head): KV rows [0, n) valid on that side
    GpuBuffer x_down_, x_up_;                    // (max(n_embd, q_dim, n_ff)) f32: device -> host / host -> device
    // Rows split state: the CPU's KV heads per layer (its minimum: the GPU's rows must fit
    // half a slot), per segment its half slot (-1: not streamed) and the GPU rows' layout
    // (tensor index -> piece in the half; copies from the imported memory), the imported
    // slices of every streamed tensor, host vectors of the exchanged activations.
    bool rows_mode_ = false;
    uint32 cpu_heads_ = 0, min_cpu_heads_ = 0;
    int32 pending_heads_ = -1;                   // set_hybrid_cpu_heads() for the next decode
    // Half slots alternate along the split segments of a pass (segment j: half (j + parity) % 2)
    // and, with an odd count of them, between passes (parity flips), so the last split segment
    // of a pass and the first of the next one use different halves: the last one's exchanges
    // copy the next pass's first rows (rows_ahead_) instead of a DMA that would time-slice with
    // the resident layers' kernels.
    std::vector<int32> rows_order_;              // per segment: its index among the split segments (-1: resident)
    uint32 rows_parity_ = 0;
    bool rows_ahead_ = false;                    // the first split segment's rows are in its half (copied by the last pass)
    uint64 rows_ahead_passes_ = 0;
    std::map<std::pair<uint32, int32>, WeightPiece> rows_pieces_;  // (role, layer) of a streamed tensor -> its GPU rows (offset within a half)
    std::vector<std::vector<WeightStreamRing::SourceCopy>> rows_copies_;
    std::vector<std::vector<uint8>> rows_copy_phase_;  // per segment, per copy: the exchange (0-3) whose command buffer copies it
    bool rows_shader_ = false;                           // rows_upload took Shader
    bool head_cpu_ = false;                              // rows split: the streamed head computed on the CPU alone (rows_head)
    OpContext op_context() const;                        // the recording context of a forward pass
    bool rows_cpu_segment(uint32 seg) const { return head_cpu_ && seg == cfg_.n_layer; }  // no GPU rows in the rows split
    struct ImportedRows {
        VkBuffer buffer = VK_NULL_HANDLE;
        uint64 row_begin = 0, row_end = 0;
    };
    std::vector<std::vector<ImportedRows>> tensor_imports_;  // per tensors_ index
    int32 rows_pre_ = -1;                        // half slot holding the first streamed segment's GPU rows, uploaded ahead (-1: none)
    std::vector<float> att_h_, h_h_, logits_h_;  // (q_dim), (n_ff), (n_vocab) host parts
    uint32 head_cpu_rows_ = 0;
    std::array<double, 5> rows_waits_{};
    std::unique_ptr<SideThread> side_;           // records the next exchange while the CPU computes                   // logits rows [0, n) the CPU computed in the last forward
    GpuBuffer logits_rb_;                        // (n_vocab) f32: the one logits row a forward returns, device -> host
    std::vector<float> xh_;                      // x while the CPU computes
    double cpu_seconds_ = 0, wait_seconds_ = 0;
    uint64 cpu_layer_runs_ = 0, kv_sync_bytes_ = 0, cpu_weight_bytes_ = 0;
    std::vector<uint64> seg_bytes_;              // per segment: weight bytes (all its tensors)
    std::unique_ptr<cpu::ThreadPool> copy_pool_;
    uint64 resident_uploaded_ = 0, vram_hits_ = 0, vram_misses_ = 0;
    std::vector<GpuBuffer> buffers_;  // everything this backend allocated
    std::vector<GpuBuffer> k_cache_, v_cache_;  // per layer: (n_ctx, kv_dim) f32, or f16 pairs when kv_f16()
    // f16 KV caches (kv_f16_rounding: the values are f16-rounded anyway, as llama.cpp's default
    // cache): half the VRAM of f32 ones. The K / V matmuls then write the forward's tokens' rows
    // as f32 into k_new_ / v_new_ (n_batch, kv_dim), and the attention kernel stores them.
    GpuBuffer k_new_, v_new_;
    bool kv_f16() const { return opt_.kv_f16_rounding && cfg_.head_dim % 2 == 0; }  // for the model of prepare()
    uint64 kv_cache_bytes(uint32 n_ctx) const { return uint64(n_ctx) * cfg_.kv_dim() * (kv_f16() ? 2 : 4); }
    // Where a forward's K / V rows go, and the attention's new-row buffers (null with f32 caches).
    ActView k_target(uint32 l, uint32 pos) const { return kv_f16() ? ActView{k_new_.buffer, 0, cfg_.kv_dim()} : ActView{k_cache_[l].buffer, pos * cfg_.kv_dim(), cfg_.kv_dim()}; }
    ActView v_target(uint32 l, uint32 pos) const { return kv_f16() ? ActView{v_new_.buffer, 0, cfg_.kv_dim()} : ActView{v_cache_[l].buffer, pos * cfg_.kv_dim(), cfg_.kv_dim()}; }
    VkBuffer k_new() const { return kv_f16() ? k_new_.buffer : VK_NULL_HANDLE; }
    VkBuffer v_new() const { return kv_f16() ? v_new_.buffer : VK_NULL_HANDLE; }
    GpuBuffer x_, xn_, q_, att_, hb_, logits_, dummy_, rope_table_;
    GpuBuffer norm_f32_;  // (2 * n_layer + 1, n_embd) f32 norm weights for FusedNorm (upload_norms_f32)
    uint32 n_ctx_ = 0, n_batch_ = 0, pos_ = 0;
    uint64 total_gpu_ns_ = 0;
    std::vector<StreamSpan> last_timeline_;
    TelemetryMeter telemetry_;
};

}  // namespace vk_symbiote
