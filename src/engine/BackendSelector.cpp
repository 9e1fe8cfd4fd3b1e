#include "engine/BackendSelector.h"

#include "probe/Probes.h"
#include "engine/OracleLine.h"

#include <cstdio>
#include <memory>
#include <thread>
#include <utility>

#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/CpuKernels.h"
#include "config/Logger.h"
#include "engine/BudgetCheck.h"
#include "memory/FileWeightProvider.h"
#include "packs/PackWeightProvider.h"
#include "model/LoadedModel.h"
#include "engine/WeightProviderFactory.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"
#ifdef VKS_HAS_VULKAN
#include "backend/vulkan/VulkanBackend.h"
#endif

namespace vk_symbiote {

namespace {

std::string fixed1(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

uint32 choose_ctx(const ModelConfig& cfg, uint32 requested) {
    if (requested > 0) return requested;
    return std::min<uint32>(cfg.n_ctx_train, 2048);
}

// Keys the product documents that this build does not act on: refused when they would
// change something (a silent no-op would mislead), a warning for the inert log switches.
ExpectedVoid check_inert_options(const ConfigManager& config) {
    if (const uint32 n = config.memory().max_packs_in_memory; n != MemoryConfig{}.max_packs_in_memory)
        return make_error(ErrorCode::InvalidArgument, "[memory] max_packs_in_memory = " + std::to_string(n) +
                                                          ": not supported (the RAM budget, --ram-gb, bounds the packs in memory); remove the key");
    if (const float f = config.performance().scale_factor; f != PerformanceConfig{}.scale_factor)
        return make_error(ErrorCode::InvalidArgument, "[performance] scale_factor = " + fixed1(f) +
                                                          ": not supported (each kernel's dispatch sizes are fixed per shader variant); remove the key");
    if (!config.logging().log_performance) VKS_LOG_WARN("log_performance has no effect yet (--stats prints the run's figures)");
    if (!config.logging().log_memory_usage) VKS_LOG_WARN("log_memory_usage has no effect yet (--stats prints the run's memory figures)");
    return {};
}

// The CPU matvecs' software prefetch: the [tuning] knob, else the path's default.
uint64 cpu_prefetch_bytes(const TuningConfig& t, uint64 path_default) {
    return t.cpu_prefetch_bytes >= 0 ? uint64(t.cpu_prefetch_bytes) : path_default;
}

// What the backend is chosen from: the model's weight bytes and shape, the context, and
// the RAM the backend holds besides weights under --ram-gb (the CPU path's KV cache and
// activations, or the Vulkan path's staging, whichever is larger: the choice of backend
// comes after the provider's).
struct ModelFacts {
    ModelConfig cfg;
    uint64 weight_bytes = 0;
    uint32 n_ctx = 0;
    uint64 backend_ram = 0;
};

ModelFacts model_facts(const std::shared_ptr<const LoadedModel>& model, const ConfigManager& config, uint32 n_batch) {
    ModelFacts f;
    f.weight_bytes = model->registry().total_bytes();
    f.cfg = model->config();
    f.n_ctx = choose_ctx(f.cfg, config.sampling().ctx_size);
    f.backend_ram = estimate_activation_kv_bytes(f.cfg, f.n_ctx, n_batch, config.memory().kv_pool_tokens);
#ifdef VKS_HAS_VULKAN
    if (config.performance().enable_gpu) {
        const auto probe = FileWeightProvider::open(model);  // the estimate reads shapes only: nothing loaded
        f.backend_ram = std::max(f.backend_ram, VulkanBackend::host_bytes_estimate(*probe, f.n_ctx, n_batch));
    }
#endif
    return f;
}

#ifdef VKS_HAS_VULKAN
using PromptUpload = VulkanOptions::PromptUpload;

// The [tuning] choices (validated by the option table: one of the listed spellings).
PromptUpload upload_choice(const std::string& v) {
    return v == "dma" ? PromptUpload::Dma : v == "shader" ? PromptUpload::Shader : PromptUpload::Auto;
}
VulkanOptions::HybridSplit split_choice(const std::string& v) {
    using HS = VulkanOptions::HybridSplit;
    return v == "rows" ? HS::Rows : v == "layers" ? HS::Layers : HS::Auto;
}
VulkanOptions::RowsHead head_choice(const std::string& v) {
    using RH = VulkanOptions::RowsHead;
    return v == "cpu" ? RH::Cpu : v == "split" ? RH::Split : RH::Auto;
}

// The [tuning] section's Vulkan knobs (defaults: VulkanOptions' own).
void apply_tuning(const TuningConfig& t, VulkanOptions& vo) {
    vo.kv_f16_rounding = t.kv_cache == "f16";  // llama.cpp's default f16 KV cache precision, as on the CPU path
    vo.cpu_prefetch_bytes = cpu_prefetch_bytes(t, vo.cpu_prefetch_bytes);
    vo.cpu_batch = t.cpu_batch;
    vo.allow_zero_copy = t.zero_copy;
    vo.cooperative_matrix = t.cooperative_matrix;
    vo.stream_slots = t.stream_slots;
    vo.hybrid_split = split_choice(t.hybrid_split);
    vo.rows_upload = upload_choice(t.rows_upload);
    vo.rows_head = head_choice(t.rows_head);
    vo.prompt_upload = upload_choice(t.prompt_upload);
    vo.matvec_small_lanes = t.matvec_lanes;
    vo.copy_workgroups = t.copy_groups;
    vo.rows_copy_workgroups = t.rows_copy_groups;
    vo.copy_chunk_bytes = uint64(t.copy_chunk_mb * MemoryConfig::kBytesPerMB);
    vo.copy_budget_scale = t.copy_budget;
    vo.hybrid_cpu_layers = t.cpu_layers;
    vo.hybrid_cpu_heads = t.cpu_heads;
}

VulkanOptions vulkan_options(const ConfigManager& config) {
    const PerformanceConfig& perf = config.performance();
    VulkanOptions vo;
    vo.device_index = perf.device_index;
    vo.force_integrated_gpu = perf.force_integrated_gpu;
    vo.shader_dir = perf.shader_dir;
    vo.pipeline_cache_path = perf.pipeline_cache_path;
    vo.spec.workgroup_size_x = perf.workgroup_size_x;
    vo.spec.workgroup_size_y = perf.workgroup_size_y;
    vo.spec.use_subgroup_ops = perf.use_subgroup_ops;
    vo.spec.use_fp16_math = perf.use_fp16_math;
    vo.vram_budget_bytes = config.memory().vram_budget_bytes();
    vo.enable_profiling = true;                   // timestamp queries feed total_gpu_time_ns / gpu_utilization_percent
    vo.kernel_profiling = perf.enable_profiling;  // per-kernel GPU time (timestamps around every dispatch)
    vo.cpu_threads = perf.threads;                // the hybrid decode's CPU part (0: every hardware thread)
    apply_tuning(config.tuning(), vo);
    return vo;
}

// A Vulkan backend prepared for the provider's model, or nullptr with a log line saying why
// the CPU path runs instead; an error only when the GPU is usable but the budget is too small.
Expected<std::unique_ptr<VulkanBackend>> try_vulkan(const Path& model_path, const ConfigManager& config, WeightProvider& provider, uint32 n_ctx,
                                                     uint32 n_batch) {
    auto vb = VulkanBackend::create(vulkan_options(config));
    if (!vb) {
        VKS_LOG_WARN("Vulkan unavailable, using the CPU path: " << vb.error().message);
        return std::unique_ptr<VulkanBackend>();
    }
    if ((*vb)->device().caps().is_cpu && config.performance().device_index < 0) {
        // A software rasteriser (lavapipe) runs the same shaders on the same cores far
        // slower than the native CPU path; use it only when asked for by index.
        VKS_LOG_INFO("the only Vulkan device is a CPU implementation (" << (*vb)->device_name()
                                                                        << "); using the native CPU path instead (--device-index N forces it)");
        return std::unique_ptr<VulkanBackend>();
    }
    if (auto w = vram_budget_warning(config.memory(), (*vb)->device().caps().device_local_bytes, (*vb)->device_name())) VKS_LOG_WARN(*w);
    // The benchmark's probed peaks for this machine, when cached: the hybrid split's first
    // guess (the backend's own measurements replace them as it runs).
    const Path dir = config.memory().cache_dir.empty() ? probe::default_cache_dir() : Path(config.memory().cache_dir);
    const OraclePeaks peaks = find_peaks(dir, (*vb)->device_name(), model_path, false);
    (*vb)->set_peaks(peaks.host_memory_gbps * 1e9, peaks.host_to_device_gbps * 1e9);
    auto r = (*vb)->prepare(provider, n_ctx, n_batch);
    if (!r && r.error().code == ErrorCode::BudgetTooSmall)
        return make_error(ErrorCode::BudgetTooSmall, r.error().message + " (or run on the CPU with --disable-gpu)");
    if (!r) {
        VKS_LOG_WARN("the model cannot run on the GPU, using the CPU path: " << r.error().message);
        return std::unique_ptr<VulkanBackend>();
    }
    return std::move(*vb);
}
#endif

// The CPU path: every forward pass reads every weight matrix once from RAM.
ExpectedVoid use_cpu(SelectedBackend& s, const ConfigManager& config, uint32 n_ctx, const std::string& how) {
    const uint32 threads = config.performance().threads ? config.performance().threads : std::max(1u, std::thread::hardware_concurrency());
    // K, V and Q rounded to f16 values as llama.cpp's default f16 KV cache does (the reference).
    auto cpu = std::make_unique<CpuBackend>(threads, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    cpu->set_matvec_options(cpu_prefetch_bytes(config.tuning(), cpu::kDefaultMatvecPrefetchBytes), config.tuning().cpu_batch);
    cpu->set_kv_pool_tokens(config.memory().kv_pool_tokens);
    VKS_TRY(cpu->prepare(*s.provider, n_ctx, s.n_batch));
    s.backend = std::move(cpu);
    s.backend_name = "cpu";
    s.description = "backend cpu (" + std::to_string(threads) + " threads), " + how + ", ctx " + std::to_string(n_ctx);
    return {};
}

}  // namespace

Expected<SelectedBackend> select_backend(std::shared_ptr<const LoadedModel> model, const ConfigManager& config) {
    VKS_TRY(check_inert_options(config));
    if (auto w = ram_budget_warning(config.memory(), physical_ram_bytes())) VKS_LOG_WARN(*w);
    SelectedBackend s;
    s.n_batch = config.performance().step_tokens;
    const ModelFacts facts = model_facts(model, config, s.n_batch);
    const Path model_path = model->path();
    std::string how;
    auto prov = open_weight_provider(std::move(model), config, facts.weight_bytes, facts.backend_ram, how);
    if (!prov) return prov.error();
    s.provider = std::move(*prov);
#ifdef VKS_HAS_VULKAN
    if (config.performance().enable_gpu) {
        auto vb = try_vulkan(model_path, config, *s.provider, facts.n_ctx, s.n_batch);
        if (!vb) return vb.error();
        if (*vb) {
            s.backend_name = "vulkan";
            s.description = "backend vulkan (" + (*vb)->device_name() + "), " + how + ", " + (*vb)->plan().summary() + ", ctx " + std::to_string(facts.n_ctx);
            s.backend = std::move(*vb);
            return s;
        }
    }
#else
    if (config.performance().enable_gpu) VKS_LOG_INFO("this build has no Vulkan backend; using the CPU path");
#endif
    VKS_TRY(use_cpu(s, config, facts.n_ctx, how));
    return s;
}

Expected<SelectedBackend> select_backend(const Path& model_path, const ConfigManager& config) {
    auto model = LoadedModel::open(model_path, false);
    if (!model) return model.error();
    return select_backend(std::move(*model), config);
}

}  // namespace vk_symbiote
