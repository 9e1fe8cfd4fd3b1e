// VulkanOptions: what the engine chooses for a VulkanBackend (device, budgets, placement and
// streaming modes, the hybrid CPU part). 0 / -1 / Auto: the backend's default.
#pragma once

#include "backend/vulkan/ShaderRuntime.h"
#include "backend/vulkan/VulkanOps.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Prompt batches of a layer whose KV cache is in RAM (StreamedKvAttention.h, --ram-kv-prompt):
// Gpu: attention on the GPU over the cache streamed in chunks, from 2 rows; Auto: the same from
// kStreamMinRows rows on a GPU (a CPU device such as lavapipe: as Cpu); Cpu: the host's
// attention (HostAttention) always.
enum class RamKvPrompt : uint8 { Auto, Gpu, Cpu };

struct VulkanOptions {
    int32 device_index = -1;
    bool force_integrated_gpu = false;
    Path shader_dir;              // hot reload source (empty: off)
    Path pipeline_cache_path;     // persistent VkPipelineCache (empty: none)
    ShaderSpecialization spec;
    bool enable_profiling = true;
    // Round Q, K and V to f16 (storage stays f32) as llama.cpp's default f16 KV cache does, to
    // compare with the reference at its own precision (CpuBackend's KvPrecision::F16Rounded).
    bool kv_f16_rounding = false;
    uint64 vram_budget_bytes = 0; // 0: the device-local budget reported by the device
    // The paged KV cache on the device (kv_pool(), forward_batch): positions of all sequences
    // together (--kv-pool-tokens; 0: n_ctx). Paged caches need f16 caches (kv_f16_rounding). A
    // placement with hybrid decode keeps one contiguous cache and runs one sequence at a time,
    // unless this is given: then batched passes keep the rows split's CPU part (BatchRowsPass,
    // its share sized per batch by BatchSplit) where the rows split applies, else run on the GPU.
    uint64 kv_pool_tokens = 0;
    uint32 stream_slots = 0;      // streaming slots when weights do not all fit (0: automatic, see prepare())
    bool force_streaming = false; // tests: stream every weight matrix even when all would fit
    // A mixture of experts' VRAM expert cache (ExpertCache): the half life, in tokens, of the
    // popularity that decides which experts stay (--expert-half-life, as the RAM tier's oracle).
    float expert_half_life = 16.0f;
    // Where a one-token pass routes a mixture-of-experts layer whose experts are all resident
    // (--moe-routing, DeviceMoe): Device = moe_route.comp and indirect expert dispatches in the
    // same submission; Host = the logits read back and routed by the host between two
    // submissions; Auto = Device for routers of at most kMoeAutoDeviceExperts experts (each
    // expert costs two dispatches, empty when unchosen). Streamed experts are always routed on the host.
    enum class MoeRouting : uint8 { Auto, Host, Device };
    MoeRouting moe_routing = MoeRouting::Auto;
    static constexpr uint32 kMoeAutoDeviceExperts = 64;
    uint32 copy_threads = 0;      // host threads copying streamed weights into staging (0: min(8, cores))
    bool allow_zero_copy = true;
    bool kernel_profiling = false;
    // How prompt batches (n_tokens > 1) stream zero-copy weights into the slots: Dma = transfer
    // queue, each layer's upload then its compute; Shader = copy.comp dispatches between the weight
    // kernels (StreamCopySchedule); Auto = Shader on NVIDIA (transfer queue time-sliced with compute).
    enum class PromptUpload : uint8 { Auto, Dma, Shader };
    PromptUpload prompt_upload = PromptUpload::Auto;
    // Shader-copy streaming: workgroups per copy dispatch, bytes per copy chunk, and the scale
    // of each kernel group's share of the copies (StreamCopySchedule); 0: the defaults.
    uint32 copy_workgroups = 0;
    uint64 copy_chunk_bytes = 0;
    double copy_budget_scale = 0;
    // Hybrid decode: when weights stream, a CPU backend computes some streamed layers from RAM
    // while the GPU streams the others. CPU layers: measured (-1) or fixed (>= 0, tests).
    bool hybrid = true;
    int32 hybrid_cpu_layers = -1;
    // Layers = whole streamed layers on the CPU or the GPU; Rows = every streamed layer split by
    // rows: the CPU takes the first hybrid_cpu_heads KV heads' share of every matrix from RAM, the
    // GPU the rest from half a slot (RowsSplit.h). Rows needs zero-copy; Auto = Rows where possible.
    enum class HybridSplit : uint8 { Auto, Layers, Rows };
    HybridSplit hybrid_split = HybridSplit::Auto;
    // Rows split: the GPU's rows arrive by copy.comp dispatches inside the exchanges (Shader) or
    // by transfer-queue uploads one layer ahead (Dma); Auto = Shader on NVIDIA.
    PromptUpload rows_upload = PromptUpload::Auto;
    // Rows split, a streamed output head: Cpu = all its rows on the CPU; Split = split like a
    // layer; Auto = Cpu where the rows are shader-copied, Split elsewhere.
    enum class RowsHead : uint8 { Auto, Cpu, Split };
    RowsHead rows_head = RowsHead::Auto;
    uint32 rows_copy_workgroups = 0;  // workgroups per rows-split copy dispatch (0: 256)
    uint32 matvec_small_lanes = 0;    // OpContext::matvec_small_lanes (0: its default)
    uint32 smalln_max_tokens = 64;    // OpContext::smalln_max_tokens (0: the small-N kernel off)
    uint32 smalln_block = 16;         // OpContext::smalln_block
    SmallNKernel smalln_kernel = SmallNKernel::Regs;  // OpContext::smalln_kernel
    PromptAttention prompt_attention = PromptAttention::Auto;  // OpContext::prompt_attention (--prompt-attn)
    // Decode recording (--fuse-decode): RMSNorms fused into the matvecs after them and the pass's
    // rows image copied inside its first command buffer; false: separate rmsnorm dispatches (and
    // barriers) and a waited upload of the rows image before the first submission (A/B).
    bool fuse_decode = true;
    // A one-row pass (decode token) records its GPU segments into one command buffer, one
    // submission, except where a streamed segment's upload or a host round trip (a mixture's
    // routing, host attention, a CPU layer) needs one; false: also a new submission at layer 1
    // and every 8th layer, so the GPU starts while the host records the rest (--decode-pipeline).
    bool decode_one_submission = false;
    // Greedy decode with the next token's pass queued before the last one ends (DecodeAhead.h):
    // with decode_one_submission, the paged pool and every weight resident (no CPU part, no
    // mixture, no cache in RAM, no kernel profiling, room in the VRAM budget for an f32 embedding
    // table); otherwise off (--decode-pipeline).
    bool decode_ahead = false;
    // Split-K ("flash decoding") attention (SplitKAttention.h): keys per chunk (at least
    // n_ctx / 64); dispatches of up to kSplitKMaxTokens rows whose longest row has more keys
    // run a workgroup per (head, row, chunk); 0: never (op_attention's workgroup per head and row).
    uint32 attn_split_k = 256;
    RamKvPrompt ram_kv_prompt = RamKvPrompt::Auto;
    int32 hybrid_cpu_heads = -1;  // Rows: KV heads per layer on the CPU, measured (-1) or fixed (tests; clamped to the minimum)
    // Probed peaks (bytes/s, 0: unknown) for the split's first guess before this backend has
    // measured its own rates (telemetry()).
    double peak_host_memory_bps = 0;
    double peak_host_to_device_bps = 0;
    uint32 cpu_threads = 0;       // CPU backend threads (0: all hardware threads)
    // The hybrid CPU part's matvecs (CpuBackend::set_matvec_options): no software prefetch by
    // default, as its reads run beside the bus's copies from the same memory (docs/tuning.md).
    uint64 cpu_prefetch_bytes = 0;
    bool cpu_batch = true;
    bool enable_validation = false;
    bool cooperative_matrix = true;  // false: never the tensor-core matmul (VulkanDeviceOptions)
    uint64 fence_timeout_ns = uint64(120) * 1000000000ull;
};

}  // namespace vk_symbiote
