// ShaderRuntime: compute pipelines addressed by (Kernel, weight dtype) + ShaderSpecialization,
// built from the embedded SPIR-V, cached in a VkPipelineCache, hot-reloaded from a shader
// directory (a .comp's mtime changes: its variants are recompiled with libshaderc and swapped
// at the next lookup; on a compile error the old pipeline stays). One descriptor set layout
// (6 storage buffers) and 128 bytes of push constants. Kernel profiling: a timestamp after
// every dispatch; a dispatch is charged the time since the previous timestamp of its command
// buffer (its exclusive share, barrier waits included). Not thread-safe (one recording thread).
#pragma once

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/vulkan/VulkanDevice.h"

namespace vk_symbiote {

// Model-family features a kernel is specialized for (ShaderSpecialization::features; the
// shaders' constant_id 4..7, common.glsl). None set: the Llama kernels, which pay nothing for them.
enum KernelFeature : uint32_t {
    kFeatureBias = 1,     // matvec / matmul: a row bias before rope and rounding (Q / K / V biases)
    kFeatureGelu = 2,     // SwiGLU kernels: gelu_tanh(gate) * up
    kFeatureSoftcap = 4,  // attention: soft-capped scores
    kFeatureWindow = 8,   // attention: sliding window over ring KV caches
};

struct ShaderSpecialization {
    uint32_t workgroup_size_x = 16;
    uint32_t workgroup_size_y = 16;
    bool use_subgroup_ops = true;  // subgroup reductions (else shared-memory trees)
    bool use_fp16_math = true;     // f16 products for f16 weights where the device has shaderFloat16
    uint32_t features = 0;         // KernelFeature bits; set per dispatch by the op that needs them
    // matvec.comp's small-N batches (constant_id 8, 9): tokens per workgroup and units per
    // thread row; 1, 1: one token per workgroup row (set per dispatch by VulkanOps).
    uint32_t batch_tokens = 1;
    uint32_t batch_units = 1;
    // The staged small-N kernel (constant_id 10, matvec.comp's XCH): x packets per chunk staged
    // in shared memory; 0: x read from global memory per weight packet (set by VulkanOps).
    uint32_t batch_chunk = 0;
    // The regs small-N kernel (constant_id 11, matvec.comp's REGS): 1 = the staged chunks are
    // prefetched into registers a chunk ahead (matvec_regs.glsl); 0: the staged kernel (set by VulkanOps).
    uint32_t batch_regs = 0;
    auto key() const {
        return std::tuple(workgroup_size_x, workgroup_size_y, use_subgroup_ops, use_fp16_math, features, batch_tokens, batch_units,
                          batch_chunk, batch_regs);
    }
};

// GPU time spent in one shader variant (e.g. "matvec_f16_fp16") over every collected
// recording: dispatches and nanoseconds (see the profiling note above).
struct KernelTiming {
    std::string name;
    uint64 dispatches = 0;
    uint64 total_ns = 0;
};

enum class Kernel : uint32 {
    Matvec = 0,      // y = W x per token (decode)
    MatvecRope,      // fused matvec + rope (Q, K)
    MatvecSwiglu,    // fused gate/up matvec + silu(gate) * up
    Matmul,          // tiled matrix-matrix (prompt batches)
    MatmulSwiglu,    // tiled gate/up + silu(gate) * up
    RmsNorm,
    Attention,       // "weight" dtype = the KV cache's: F32 or F16 (attention_f16)
    Add,             // weight dtype ignored
    MatmulCoop,      // tensor-core matrix-matrix, f16 weights (VulkanCapabilities::cooperative_matrix only)
    MatmulCoopSwiglu,  // tensor-core gate/up + silu(gate) * up, f16 weights (same)
    MatvecNorm,        // Matvec with RMSNorm of x fused in (decode; gamma f32 in binding 4)
    MatvecRopeNorm,    // MatvecRope with RMSNorm fused in
    MatvecSwigluNorm,  // MatvecSwiglu with RMSNorm fused in
    Copy,              // 16-byte copy by a few strided workgroups (weight dtype ignored: the f16 variant)
    RmsNormAdd,        // y += rmsnorm(x) * w, w f32 (post norms)
    HeadNorm,          // per-head RMSNorm + rope in place (Q / K head norms; f32 gamma)
    Softcap,           // y = cap * tanh(y / cap) in place
    AttentionPaged,    // attention over paged f16 KV caches, rows of several sequences (F16 only)
    Moe,               // mixture-of-experts row gather / weighted combine (MoeParams; weight dtype ignored)
    AttentionFlash,    // prompt attention by query blocks and shared K / V tiles (FlashAttention.h; F32 or F16 caches)
    AttentionFlashCoop,  // the same on tensor cores (F16 caches; VulkanCapabilities::cooperative_matrix only)
    AttentionFlashPaged,      // AttentionFlash over a paged pool: one sequence's chunk (F16 only)
    AttentionFlashCoopPaged,  // AttentionFlashCoop over a paged pool (F16 only; cooperative_matrix only)
    AttentionSplitK,   // attention.comp's SPLIT_K variant: per (head, chunk of keys) partials; dtype as Attention
    AttentionMerge,    // attention_merge.comp: the split-K chunks' log-sum-exp merge (F32)
    AttentionSplitKPaged,  // AttentionSplitK over paged f16 caches (F16 only)
    MoeRoute,          // a mixture-of-experts router's choice on the device (moe_route.comp; weight dtype ignored)
    Argmax,            // decode_ahead.comp ARGMAX: the greedy token id on the device (F32)
    EmbedRow,          // decode_ahead.comp EMBED_ROW: that token's embedding row into x (F32)
    AttentionStream,   // AttentionFlash over a RAM cache streamed in chunks (StreamedKvAttention.h; F32 or F16 rows)
    Count
};

const char* kernel_name(Kernel k);

// One storage-buffer binding: (buffer, byte offset, byte range).
struct BufferBinding {
    VkBuffer buffer = VK_NULL_HANDLE;
    uint64 offset = 0;
    uint64 range = VK_WHOLE_SIZE;
};
constexpr uint32 kNumBindings = 7;
constexpr uint32 kPushConstantBytes = 128;

struct ShaderRuntimeOptions {
    Path shader_dir;           // empty: no hot reload
    Path pipeline_cache_path;  // empty: in-memory cache only
};

class ShaderRuntime {
public:
    static Expected<std::unique_ptr<ShaderRuntime>> create(const VulkanDevice& dev, const ShaderRuntimeOptions& opt);
    ~ShaderRuntime();  // saves the pipeline cache (errors logged)
    ShaderRuntime(const ShaderRuntime&) = delete;
    ShaderRuntime& operator=(const ShaderRuntime&) = delete;

    // Returns VK_NULL_HANDLE on failure (last_error() says why). Hot reload is checked here.
    VkPipeline get_pipeline(Kernel k, DType weights, const ShaderSpecialization& spec);
    VkPipeline get_fused_matmul_rope_pipeline(const ShaderSpecialization& spec, DType weights = DType::F32) {
        return get_pipeline(Kernel::MatvecRope, weights, spec);
    }
    VkPipeline get_attention_pipeline(const ShaderSpecialization& spec) { return get_pipeline(Kernel::Attention, DType::F32, spec); }
    VkPipeline get_feedforward_pipeline(const ShaderSpecialization& spec, DType weights = DType::F32, bool batched = false) {
        return get_pipeline(batched ? Kernel::MatmulSwiglu : Kernel::MatvecSwiglu, weights, spec);
    }
    VkPipeline get_rms_norm_pipeline(const ShaderSpecialization& spec, DType weights = DType::F32) {
        return get_pipeline(Kernel::RmsNorm, weights, spec);
    }
    // The specialization actually used for `spec` on this device (subgroups / fp16 math
    // turned off where unsupported).
    ShaderSpecialization effective(const ShaderSpecialization& spec) const;
    uint32 max_workgroup_invocations() const { return dev_.caps().max_workgroup_invocations; }
    uint32 max_shared_memory_bytes() const { return dev_.caps().max_shared_memory_bytes; }
    // The tensor-core kernels (Kernel::MatmulCoop*) can be built: get_pipeline refuses them
    // otherwise (their SPIR-V capability would fail pipeline creation).
    bool cooperative_matrix() const { return dev_.caps().cooperative_matrix; }

    // Recording: begin() sets the command buffer the calls below record into and recycles
    // the descriptor sets of the previous recording (rewritten by make_descriptor_set: its
    // command buffers must have finished).
    // With kernel profiling on, timings of the previous recording that were not collected
    // are dropped.
    // bank (0 or 1): the descriptor sets it rewrites are those of the previous recording of the
    // same bank, whose command buffers must have finished; the other bank's may still run.
    void begin(VkCommandBuffer cmd, uint32 bank = 0);
    // Continues the same recording in another command buffer (a forward pass split into
    // several submissions): the descriptor sets made since begin() stay valid until the
    // next begin(), so every command buffer of the recording must finish before that.
    void continue_recording(VkCommandBuffer cmd);

    // Per-kernel GPU time. Device error when turning it on for a compute queue without
    // timestamps (timestamp_valid_bits == 0). Takes effect at the next begin().
    ExpectedVoid set_kernel_profiling(bool on);
    bool kernel_profiling() const { return profiling_; }
    // Reads the timestamps of the current recording and adds them to kernel_times(). Call
    // it after every command buffer of the recording has completed (after the last
    // submission's fence); once per recording (a second call adds nothing). No-op when
    // profiling is off. Device error when a query result is not available.
    ExpectedVoid collect_kernel_times();
    // Totals since the runtime was created or reset_kernel_times(), in first-use order.
    const std::vector<KernelTiming>& kernel_times() const { return kernel_times_; }
    void reset_kernel_times();
    Expected<VkDescriptorSet> make_descriptor_set(const std::array<BufferBinding, kNumBindings>& b);
    void push_constants(const void* data, uint32 size);
    void dispatch_compute(VkPipeline pipeline, VkDescriptorSet set, uint32_t gx, uint32_t gy = 1, uint32_t gz = 1);
    // The same with the group counts read by the device from `args` at byte `offset` (a
    // VkDispatchIndirectCommand, written by an earlier kernel: barrier_indirect() between).
    void dispatch_indirect(VkPipeline pipeline, VkDescriptorSet set, VkBuffer args, uint64 offset);
    // Compute-write -> compute-read/write (and transfer) dependency.
    void barrier();
    // barrier() that also orders the writes before the indirect dispatches' reads of their counts.
    void barrier_indirect();
    // What the current recording (since begin(), its continuations included) holds: one
    // forward pass's dispatches and barriers (a decode token's figure under --stats).
    struct RecordCounts {
        uint64 dispatches = 0;
        uint64 barriers = 0;
    };
    const RecordCounts& record_counts() const { return counts_; }
    VkCommandBuffer command_buffer() const { return cmd_; }

    ExpectedVoid save_pipeline_cache() const;
    const std::string& last_error() const { return last_error_; }
    uint64 reload_count() const { return reloads_; }

private:
    struct Variant {
        std::string name, source;
        std::vector<std::string> defines;
        std::vector<uint32> spirv;
        uint64 generation = 0;  // bumped on every successful reload
    };
    explicit ShaderRuntime(const VulkanDevice& dev) : dev_(dev) {}
    ExpectedVoid init(const ShaderRuntimeOptions& opt);
    ExpectedVoid create_layouts();
    ExpectedVoid create_cache(const Path& path);
    void index_variants();
    int32 variant_index(Kernel k, DType weights, bool fp16) const;
    void check_reload();
    // Next timestamp query slot of this recording (resetting a new pool when the current
    // one is full); VK_NULL_HANDLE pool when a pool could not be created (last_error_ says).
    std::pair<VkQueryPool, uint32> next_query();
    void write_timestamp(int32 variant, uint32 batch = 1);
    void count_dispatch(VkPipeline pipeline);  // the record counts and, profiling, a timestamp
    Expected<std::vector<uint32>> compile(const Variant& v, const std::string& text) const;
    Expected<VkPipeline> build(const Variant& v, const ShaderSpecialization& spec);

    const VulkanDevice& dev_;
    ShaderRuntimeOptions opt_;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    std::vector<Variant> variants_;
    // [kernel][dtype slot][fp16] -> variant index or -1
    std::array<std::array<std::array<int32, 2>, 3>, size_t(Kernel::Count)> table_{};
    std::map<std::tuple<int32, uint64, uint32, uint32, bool, bool, uint32, uint32, uint32, uint32, uint32>, VkPipeline> pipelines_;
    std::vector<VkPipeline> retired_;  // replaced by a reload; may still be in a recorded command buffer
    std::map<std::string, std::filesystem::file_time_type> mtimes_;
    static constexpr uint32 kSetsPerPool = 1024;
    static constexpr uint32 kSetsPerChunk = 64;  // sets allocated per vkAllocateDescriptorSets call
    VkDescriptorUpdateTemplate update_template_ = VK_NULL_HANDLE;
    // Two banks of pools, so that a recording can be made while the previous one still runs
    // (begin's bank; DecodeAhead). Sets allocated from pools[i] (whole chunks), reused by every
    // recording of the bank.
    struct SetBank {
        std::vector<VkDescriptorPool> pools;
        std::vector<std::vector<VkDescriptorSet>> sets;
    };
    std::array<SetBank, 2> banks_;
    uint32 bank_ = 0;       // this recording's bank
    uint32 pool_used_ = 0;  // pools[0 .. pool_used_] of the bank hold this recording's sets
    uint32 pool_next_ = 0;  // next unused set of sets[pool_used_]
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    RecordCounts counts_;  // of the current recording
    std::string last_error_;
    uint64 reloads_ = 0;

    // Kernel profiling. A recording's timestamps, in recording order; variant -1 marks the
    // start of a command buffer.
    struct Stamp {
        VkQueryPool pool;
        uint32 query;
        int32 variant;
        uint32 batch = 1;  // ShaderSpecialization::batch_tokens of the dispatch's pipeline
    };
    static constexpr uint32 kQueriesPerPool = 4096;
    bool profiling_ = false;
    bool recording_profiled_ = false;  // profiling was on at this recording's begin()
    std::vector<VkQueryPool> query_pools_;
    uint32 query_pools_used_ = 0;      // pools [0, used) hold this recording's queries
    uint32 query_next_ = kQueriesPerPool;  // next free query in query_pools_[used - 1]
    std::vector<Stamp> stamps_;
    std::map<VkPipeline, std::pair<int32, uint32>> pipeline_variant_;  // every pipeline built -> its variant, batch_tokens
    std::vector<KernelTiming> kernel_times_;
    std::map<std::string, size_t> kernel_index_;     // name -> index in kernel_times_
};

}  // namespace vk_symbiote
