#include "engine/BackendSelector.h"

#include "probe/Probes.h"
#include "engine/OracleLine.h"

#include <cstdio>
#include <filesystem>
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
#include "engine/MultiDeviceSetup.h"
#endif

namespace vk_symbiote {
#ifdef VKS_HAS_VULKAN
using GpuBackend = VulkanBackend;
#else
using GpuBackend = Backend;  // never made: the CPU path only
#endif
}  // namespace vk_symbiote

namespace vk_symbiote {

namespace {

std::string fixed1(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
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

// Files the engine writes on its way out: a directory there is an error now, not a write
// that fails at exit beside a stray temporary file.
ExpectedVoid check_output_paths(const ConfigManager& config) {
    const std::string& p = config.performance().pipeline_cache_path;
    std::error_code ec;
    if (!p.empty() && std::filesystem::is_directory(p, ec))
        return make_error(ErrorCode::InvalidArgument, "[performance] pipeline_cache_path = " + p + ": is a directory; name a file in it (e.g. " +
                                                          (std::filesystem::path(p) / "pipelines.bin").string() + ")");
    return {};
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

// `gpu`: the Vulkan backend will run (its staging and driver count); else only the CPU's.
ModelFacts model_facts(const std::shared_ptr<const LoadedModel>& model, const ConfigManager& config, uint32 n_batch, bool gpu) {
    ModelFacts f;
    f.weight_bytes = model->registry().total_bytes();
    f.cfg = model->config();
    f.n_ctx = choose_ctx(f.cfg, config.sampling());
    f.backend_ram = estimate_activation_kv_bytes(f.cfg, f.n_ctx, n_batch, kv_pool_tokens(config, f.n_ctx));
#ifdef VKS_HAS_VULKAN
    if (gpu) {
        const auto probe = FileWeightProvider::open(model);  // the estimate reads shapes only: nothing loaded
        f.backend_ram = std::max(f.backend_ram, VulkanBackend::host_bytes_estimate(*probe, f.n_ctx, n_batch));
    }
#else
    (void)gpu;
#endif
    return f;
}

// The model's shapes as a pack provider shows them to the Vulkan placement (its memory
// moves: no zero-copy import), for the VRAM check made before a pack cache is built. It
// reads no weights.
class PackShapes final : public WeightProvider {
public:
    explicit PackShapes(const LoadedModel& m) : m_(m) {}
    const ModelConfig& config() const override { return m_.config(); }
    const TensorRegistry& registry() const override { return m_.registry(); }
    Expected<WeightHandle> acquire(TensorId) override { return make_error(ErrorCode::Internal, "PackShapes holds shapes only"); }
    ExpectedVoid embedding_row(uint32, float*) override { return make_error(ErrorCode::Internal, "PackShapes holds shapes only"); }

private:
    const LoadedModel& m_;
};

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
    vo.force_streaming = t.force_streaming;
    vo.cooperative_matrix = t.cooperative_matrix;
    vo.stream_slots = t.stream_slots;
    vo.hybrid_split = split_choice(t.hybrid_split);
    vo.rows_upload = upload_choice(t.rows_upload);
    vo.rows_head = head_choice(t.rows_head);
    vo.prompt_upload = upload_choice(t.prompt_upload);
    vo.matvec_small_lanes = t.matvec_lanes;
    vo.smalln_max_tokens = t.smalln_tokens;
    vo.smalln_block = t.smalln_block;
    vo.smalln_kernel = t.smalln_kernel == "lanes" ? SmallNKernel::Lanes : t.smalln_kernel == "staged" ? SmallNKernel::Staged : SmallNKernel::Regs;
    vo.fuse_decode = t.fuse_decode != "off";
    vo.moe_routing = t.moe_routing == "host"     ? VulkanOptions::MoeRouting::Host
                     : t.moe_routing == "device" ? VulkanOptions::MoeRouting::Device
                                                 : VulkanOptions::MoeRouting::Auto;
    vo.decode_one_submission = t.decode_pipeline == "on";
    vo.decode_ahead = t.decode_pipeline == "on";
    vo.prompt_attention = t.prompt_attn == "flash"     ? PromptAttention::Flash
                          : t.prompt_attn == "coop"    ? PromptAttention::Coop
                          : t.prompt_attn == "classic" ? PromptAttention::Classic
                                                       : PromptAttention::Auto;
    vo.attn_split_k = t.attn_split_k;
    vo.ram_kv_prompt = t.ram_kv_prompt == "gpu" ? RamKvPrompt::Gpu : t.ram_kv_prompt == "cpu" ? RamKvPrompt::Cpu : RamKvPrompt::Auto;
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
    vo.kv_pool_tokens = config.memory().kv_pool_tokens;  // the device pool's size (0: n_ctx)
    vo.expert_half_life = config.memory().expert_half_life;  // the VRAM expert cache's popularity
    vo.enable_profiling = true;                   // timestamp queries feed total_gpu_time_ns / gpu_utilization_percent
    vo.kernel_profiling = perf.enable_profiling;  // per-kernel GPU time (timestamps around every dispatch)
    vo.cpu_threads = thread_count(perf);          // the hybrid decode's CPU part
    apply_tuning(config.tuning(), vo);
    return vo;
}

// The Vulkan backend that will run, or nullptr with the reason in `why_not` (the CPU path
// runs instead): no usable device, or only a CPU implementation and no --device-index.
std::unique_ptr<VulkanBackend> open_vulkan(const ConfigManager& config, std::string& why_not) {
    auto vb = VulkanBackend::create(vulkan_options(config));
    if (!vb) {
        why_not = "Vulkan is unavailable (" + vb.error().message + ")";
        return nullptr;
    }
    if ((*vb)->device().caps().is_cpu && config.performance().device_index < 0) {
        // A software rasteriser (lavapipe) runs the same shaders on the same cores far
        // slower than the native CPU path; use it only when asked for by index.
        why_not = "the only Vulkan device, " + (*vb)->device_name() + ", is a CPU implementation (--device-index N runs it)";
        return nullptr;
    }
    if (auto w = vram_budget_warning(config.memory(), (*vb)->device().caps().device_local_bytes, (*vb)->device_name()); w && vram_budget_given(config.memory()))
        VKS_LOG_WARN(*w);
    return std::move(*vb);
}

// The VRAM budget against the placement of the planned weight source, before anything is
// built or uploaded.
ExpectedVoid check_vram(VulkanBackend& vb, const std::shared_ptr<const LoadedModel>& model, const WeightSource& source, uint32 n_ctx, uint32 n_batch) {
    ExpectedVoid r = source.packs ? vb.check_budget(PackShapes(*model), n_ctx, n_batch) : vb.check_budget(*FileWeightProvider::open(model), n_ctx, n_batch);
    if (!r && r.error().code == ErrorCode::BudgetTooSmall)
        return make_error(ErrorCode::BudgetTooSmall, r.error().message + " (or run on the CPU with --disable-gpu)");
    if (!r) VKS_LOG_DEBUG("VRAM check: " << r.error().message << " (prepare decides)");
    return {};
}

// Prepares `vb` for the provider's model: false with a warning when the model cannot run on
// the GPU for another reason than the budget (the CPU path runs it).
Expected<bool> prepare_vulkan(VulkanBackend& vb, const Path& model_path, const ConfigManager& config, WeightProvider& provider, uint32 n_ctx,
                              uint32 n_batch) {
    // The benchmark's probed peaks for this machine, when cached: the hybrid split's first
    // guess (the backend's own measurements replace them as it runs).
    const Path dir = config.memory().cache_dir.empty() ? probe::default_cache_dir() : Path(config.memory().cache_dir);
    const OraclePeaks peaks = find_peaks(dir, vb.device_name(), model_path, false);
    vb.set_peaks(peaks.host_memory_gbps * 1e9, peaks.host_to_device_gbps * 1e9);
    // Several sequences (serve --parallel N): a device pool of N contexts, batched passes.
    if (config.performance().parallel > 1) vb.set_kv_pool_tokens(kv_pool_tokens(config, n_ctx));
    auto r = vb.prepare(provider, n_ctx, n_batch);
    if (!r && r.error().code == ErrorCode::BudgetTooSmall)
        return make_error(ErrorCode::BudgetTooSmall, r.error().message + " (or run on the CPU with --disable-gpu)");
    if (!r) {
        VKS_LOG_WARN("the model cannot run on the GPU, using the CPU path: " << r.error().message);
        return false;
    }
    return true;
}
#endif

// Budgets nobody gave come from this machine (BudgetCheck.h), said in one line: RAM, and
// VRAM when a Vulkan backend runs (`vb`; its budget is set too).
ConfigManager with_machine_budgets(const ConfigManager& config, [[maybe_unused]] GpuBackend* vb) {
    ConfigManager c = config;
    MemoryConfig& m = c.memory();
    std::string line;
    if (!ram_budget_given(m)) {
        const uint64 avail = available_ram_bytes();
        if (const uint64 b = machine_budget(avail, kRamMarginFraction, kRamMinMargin)) {
            m.ram_budget_gb = double(b) / MemoryConfig::kBytesPerGB;
            line = machine_budget_text("--ram-gb", b, "available RAM", avail);
        }
    }
#ifdef VKS_HAS_VULKAN
    if (vb && !vram_budget_given(m)) {
        const uint64 free = vb->device().device_local_budget();
        if (const uint64 b = machine_budget(free, kVramMarginFraction, kVramMinMargin)) {
            m.vram_budget_gb = double(b) / MemoryConfig::kBytesPerGB;
            vb->set_vram_budget(m.vram_budget_bytes());
            line += (line.empty() ? "" : ", ") + machine_budget_text("--vram-gb", b, "free on " + vb->device_name(), free);
        }
    }
#endif
    if (!line.empty()) VKS_LOG_INFO("budgets from this machine: " << line << "; --ram-gb / --vram-gb choose them");
    return c;
}

#ifdef VKS_HAS_VULKAN
// --devices: the layers across several devices (MultiDeviceSetup), each under its own budget (a
// device without one: its free memory less the margin). No CPU fallback: the devices were asked for.
Expected<SelectedBackend> select_multi(std::shared_ptr<const LoadedModel> model, const ConfigManager& given, SelectedBackend s) {
    auto mb = open_devices(given, vulkan_options(given));
    if (!mb) return mb.error();
    MultiDeviceBackend& m = **mb;
    for (uint32 d = 0; d < m.device_count() && !vram_budget_given(given.memory()); ++d)
        if (const uint64 b = machine_budget(m.part(d).device().device_local_budget(), kVramMarginFraction, kVramMinMargin)) m.part(d).set_vram_budget(b);
    const ConfigManager config = with_machine_budgets(given, nullptr);
    const ModelFacts facts = model_facts(model, config, s.n_batch, true);
    auto source = plan_weight_source(*model, config, facts.weight_bytes, facts.backend_ram * m.device_count());
    if (!source) return source.error();
    ExpectedVoid fits = source->packs ? m.check_budget(PackShapes(*model), facts.n_ctx, s.n_batch) : m.check_budget(*FileWeightProvider::open(model), facts.n_ctx, s.n_batch);
    if (!fits) return fits.error();
    std::string how;
    auto prov = open_weight_provider(std::move(model), config, *source, how);
    if (!prov) return prov.error();
    s.provider = std::move(*prov);
    for (uint32 d = 0; d < m.device_count() && config.performance().parallel > 1; ++d) m.part(d).set_kv_pool_tokens(kv_pool_tokens(config, facts.n_ctx));
    VKS_TRY(m.prepare(*s.provider, facts.n_ctx, s.n_batch));
    s.backend_name = "vulkan";
    s.description = "backend " + m.name() + ", " + how + ", " + m.summary() + ", ctx " + std::to_string(facts.n_ctx);
    s.backend = std::move(*mb);
    return s;
}
#endif

// The CPU path: every forward pass reads every weight matrix once from RAM.
ExpectedVoid use_cpu(SelectedBackend& s, const ConfigManager& config, uint32 n_ctx, const std::string& why, const std::string& how) {
    const uint32 threads = thread_count(config.performance());
    // K, V and Q rounded to f16 values as llama.cpp's default f16 KV cache does (the reference).
    auto cpu = std::make_unique<CpuBackend>(threads, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    cpu->set_matvec_options(cpu_prefetch_bytes(config.tuning(), cpu::kDefaultMatvecPrefetchBytes), config.tuning().cpu_batch);
    cpu->set_kv_pool_tokens(kv_pool_tokens(config, n_ctx));
    VKS_TRY(cpu->prepare(*s.provider, n_ctx, s.n_batch));
    s.backend = std::move(cpu);
    s.backend_name = "cpu";
    s.description = "backend cpu (" + std::to_string(threads) + " threads" + (why.empty() ? "" : ": " + why) + "), " + how + ", ctx " + std::to_string(n_ctx);
    return {};
}

}  // namespace

// --ctx-size N: N; 0: the model's trained context; unset: that, at most 2048 (a default
// that keeps the KV cache of long-context models small). Beyond the trained context the
// model was never trained on those positions: a warning.
uint32 choose_ctx(const ModelConfig& cfg, const SamplingConfig& s) {
    const uint32 trained = cfg.n_ctx_train ? cfg.n_ctx_train : 2048;
    const uint32 n = s.ctx_size > 0 ? s.ctx_size : s.ctx_size_set ? trained : std::min<uint32>(trained, 2048);
    if (n > trained) VKS_LOG_WARN("--ctx-size " << n << " is beyond the model's trained context of " << trained << " tokens: output past it degrades");
    return n;
}

// Positions of the paged KV cache: --kv-pool-tokens, else a full context per --parallel sequence.
uint64 kv_pool_tokens(const ConfigManager& config, uint32 n_ctx) {
    const uint64 set = config.memory().kv_pool_tokens;
    return set > 0 ? set : uint64(n_ctx) * std::max<uint32>(config.performance().parallel, 1);
}

// The CPU matvecs' software prefetch: the [tuning] knob, else the path's default.
uint64 cpu_prefetch_bytes(const TuningConfig& t, uint64 path_default) {
    return t.cpu_prefetch_bytes >= 0 ? uint64(t.cpu_prefetch_bytes) : path_default;
}

// The order keeps refusals before work: the backend is chosen (its RAM needs depend on it),
// both budgets are checked, and only then is a pack cache built and weights uploaded.
Expected<SelectedBackend> select_backend(std::shared_ptr<const LoadedModel> model, const ConfigManager& given) {
    VKS_TRY(check_inert_options(given));
    VKS_TRY(check_output_paths(given));
    if (auto w = ram_budget_warning(given.memory(), physical_ram_bytes()); w && ram_budget_given(given.memory())) VKS_LOG_WARN(*w);
    SelectedBackend s;
    s.n_batch = given.performance().step_tokens;
#ifdef VKS_HAS_VULKAN
    if (multi_device_requested(given) && given.performance().enable_gpu) return select_multi(std::move(model), given, std::move(s));
#endif
    std::string why_cpu = given.performance().enable_gpu ? "" : "--disable-gpu";
#ifdef VKS_HAS_VULKAN
    std::unique_ptr<GpuBackend> vb = given.performance().enable_gpu ? open_vulkan(given, why_cpu) : nullptr;
#else
    std::unique_ptr<GpuBackend> vb;
    if (given.performance().enable_gpu) why_cpu = "this build has no Vulkan backend";
#endif
    const ConfigManager config = with_machine_budgets(given, vb.get());
    const ModelFacts facts = model_facts(model, config, s.n_batch, vb != nullptr);
    auto source = plan_weight_source(*model, config, facts.weight_bytes, facts.backend_ram);
    if (!source) return source.error();
#ifdef VKS_HAS_VULKAN
    if (vb) VKS_TRY(check_vram(*vb, model, *source, facts.n_ctx, s.n_batch));
#endif
    const Path model_path = model->path();
    std::string how;
    auto prov = open_weight_provider(std::move(model), config, *source, how);
    if (!prov) return prov.error();
    s.provider = std::move(*prov);
#ifdef VKS_HAS_VULKAN
    if (vb) {
        auto ok = prepare_vulkan(*vb, model_path, config, *s.provider, facts.n_ctx, s.n_batch);
        if (!ok) return ok.error();
        if (*ok) {
            s.backend_name = "vulkan";
            s.description = "backend vulkan (" + vb->device_name() + "), " + how + ", " + vb->plan().summary() + ", ctx " + std::to_string(facts.n_ctx);
            s.backend = std::move(vb);
            return s;
        }
        why_cpu = "the model cannot run on " + vb->device_name();
    }
#endif
    VKS_TRY(use_cpu(s, config, facts.n_ctx, why_cpu, how));
    return s;
}

#ifdef VKS_HAS_VULKAN
std::unique_ptr<VulkanBackend> open_stage_device(const ConfigManager& config, std::string& why_not) {
    if (!config.performance().enable_gpu) {
        why_not = "--disable-gpu";
        return nullptr;
    }
    auto vb = open_vulkan(config, why_not);
    if (vb) (void)with_machine_budgets(config, vb.get());  // sets the device's budget when --vram-gb is not given
    return vb;
}

Expected<bool> prepare_stage_device(VulkanBackend& vb, const Path& model_path, const ConfigManager& config, WeightProvider& layers, uint32 n_ctx,
                                    uint32 n_batch) {
    return prepare_vulkan(vb, model_path, config, layers, n_ctx, n_batch);
}
#endif

Expected<SelectedBackend> select_backend(const Path& model_path, const ConfigManager& config) {
    auto model = LoadedModel::open(model_path, false);
    if (!model) return model.error();
    return select_backend(std::move(*model), config);
}

}  // namespace vk_symbiote
