#include "engine/BackendSelector.h"

#include "bench/Probes.h"
#include "engine/OracleLine.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

#include "backend/cpu/CpuBackend.h"
#include "backend/cpu/CpuKernels.h"
#include "config/EnvKnob.h"
#include "config/Logger.h"
#include "memory/FileWeightProvider.h"
#include "memory/PackWeightProvider.h"
#include "engine/WeightProviderFactory.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"
#ifdef VKS_HAS_VULKAN
#include "backend/vulkan/VulkanBackend.h"
#endif

namespace vk_symbiote {

namespace {

constexpr double kBytesPerGB = 1024.0 * 1024.0 * 1024.0;  // budgets: 1 GB = 2^30 bytes (ConfigManager.h)

std::string fixed1(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v);
    return b;
}

uint32 choose_ctx(const ModelConfig& cfg, uint32 requested) {
    if (requested > 0) return requested;
    return std::min<uint32>(cfg.n_ctx_train, 2048);
}

// Options the product documents that this build accepts but does not act on yet: say so
// plainly instead of silently ignoring them.
void log_inactive_options(const ConfigManager& config) {
    const MemoryConfig& m = config.memory();
    const MemoryConfig d;
    if (m.max_packs_in_memory != d.max_packs_in_memory) VKS_LOG_WARN("max_packs_in_memory has no effect yet (the RAM budget bounds packs)");
    if (config.performance().scale_factor != PerformanceConfig{}.scale_factor) VKS_LOG_WARN("scale_factor has no effect yet");
}

}  // namespace

Expected<SelectedBackend> select_backend(const Path& model_path, const ConfigManager& config) {
    log_inactive_options(config);
    // Software prefetch in the CPU's decode matvecs (CpuBackend::set_matvec_options): on the
    // CPU path, where the CPU alone reads host memory (H100 box, 7B f16, --disable-gpu tg16,
    // two pairs in one call, 16:15 UTC: 6.10 / 6.08 tokens/s without, 6.48 / 6.41 with 1024
    // bytes); not beside the GPU's copies (VulkanOptions::cpu_prefetch_bytes).
    // A/B knobs: VK_SYMBIOTE_CPU_PREFETCH=N bytes on either path (0: none);
    // VK_SYMBIOTE_CPU_BATCH=0 runs the CPU's Q / K / V and gate / up matvecs one pool run each
    // instead of one run per group (cpu::matmul_batch).
    int64 prefetch = -1, batch = 1;
    VKS_TRY(env_whole_number("VK_SYMBIOTE_CPU_PREFETCH", 0, 65536, "a byte count", prefetch));
    VKS_TRY(env_whole_number("VK_SYMBIOTE_CPU_BATCH", 0, 1, "0 or 1", batch));
    SelectedBackend s;
    const PerformanceConfig& perf = config.performance();
    // Weight bytes from a quick header read (the provider re-validates everything).
    auto probe = FileWeightProvider::open(model_path);
    if (!probe) return probe.error();
    const uint64 model_bytes = (*probe)->registry().total_bytes();
    const ModelConfig cfg = (*probe)->config();
    const uint32 n_ctx = choose_ctx(cfg, config.sampling().ctx_size);
    s.n_batch = 512;
    // RAM the backend holds besides weights, under --ram-gb: the CPU path's KV cache and
    // activations, or the Vulkan path's staging (whichever is larger: the choice of backend
    // comes after the provider).
    uint64 backend_ram = estimate_activation_kv_bytes(cfg, n_ctx, s.n_batch);
#ifdef VKS_HAS_VULKAN
    if (perf.enable_gpu) backend_ram = std::max(backend_ram, VulkanBackend::host_bytes_estimate(**probe, n_ctx, s.n_batch));
#endif
    probe->reset();

    std::string how;
    auto prov = open_weight_provider(model_path, config, model_bytes, backend_ram, how, s.fill_memory_metrics, s.reset_counters);
    if (!prov) return prov.error();
    s.provider = std::move(*prov);

#ifdef VKS_HAS_VULKAN
    if (perf.enable_gpu) {
        VulkanOptions vo;
        vo.device_index = perf.device_index;
        vo.force_integrated_gpu = perf.force_integrated_gpu;
        vo.shader_dir = perf.shader_dir;
        vo.pipeline_cache_path = perf.pipeline_cache_path;
        vo.spec.workgroup_size_x = perf.workgroup_size_x;
        vo.spec.workgroup_size_y = perf.workgroup_size_y;
        vo.spec.use_subgroup_ops = perf.use_subgroup_ops;
        vo.spec.use_fp16_math = perf.use_fp16_math;
        vo.vram_budget_bytes = uint64(config.memory().vram_budget_gb * kBytesPerGB);
        vo.enable_profiling = true;  // timestamp queries feed total_gpu_time_ns / gpu_utilization_percent
        vo.kv_f16_rounding = true;   // llama.cpp's default f16 KV cache precision, as on the CPU path
        vo.kernel_profiling = perf.enable_profiling;  // per-kernel GPU time (timestamps around every dispatch)
        vo.cpu_threads = perf.threads;                // the hybrid decode's CPU part (0: every hardware thread)
        if (prefetch >= 0) vo.cpu_prefetch_bytes = uint64(prefetch);
        vo.cpu_batch = batch == 1;
        // A/B knob: VK_SYMBIOTE_NO_ZERO_COPY=1 streams RAM-resident weights through host staging
        // instead of DMA from the imported provider memory.
        if (const char* z = std::getenv("VK_SYMBIOTE_NO_ZERO_COPY"); z && std::string(z) == "1") vo.allow_zero_copy = false;
        // A/B knob: VK_SYMBIOTE_STREAM_SLOTS=N (1-8) streaming slots instead of 2 (each holds a
        // layer's streamed weights; more slots let uploads run further ahead, at the cost of VRAM
        // the resident set would use).
        int64 slots = vo.stream_slots;
        VKS_TRY(env_whole_number("VK_SYMBIOTE_STREAM_SLOTS", 1, 8, "a slot count", slots));
        vo.stream_slots = uint32(slots);
        // A/B knobs with named values: VK_SYMBIOTE_HYBRID_SPLIT=rows|layers|auto (how the hybrid
        // decode divides the streamed layers; VulkanOptions::HybridSplit, auto = rows where
        // possible), VK_SYMBIOTE_ROWS_UPLOAD and VK_SYMBIOTE_PROMPT_UPLOAD=dma|shader|auto (how the
        // rows split / prompt batches stream weights; auto = shader copies on NVIDIA, DMA elsewhere),
        // VK_SYMBIOTE_ROWS_HEAD=cpu|split|auto (VulkanOptions::RowsHead).
        auto named = [](const char* name, auto& out, std::initializer_list<std::pair<const char*, std::decay_t<decltype(out)>>> values) -> ExpectedVoid {
            const char* z = std::getenv(name);
            if (!z || !*z) return {};
            std::string expected;
            for (const auto& [text, value] : values) {
                if (std::string(z) == text) {
                    out = value;
                    return {};
                }
                expected += (expected.empty() ? "" : ", ") + std::string(text);
            }
            return make_error(ErrorCode::InvalidArgument, std::string(name) + "=" + z + ": expected one of " + expected);
        };
        using HS = VulkanOptions::HybridSplit;
        using PU = VulkanOptions::PromptUpload;
        VKS_TRY(named("VK_SYMBIOTE_HYBRID_SPLIT", vo.hybrid_split, {{"rows", HS::Rows}, {"layers", HS::Layers}, {"auto", HS::Auto}}));
        VKS_TRY(named("VK_SYMBIOTE_ROWS_UPLOAD", vo.rows_upload, {{"dma", PU::Dma}, {"shader", PU::Shader}, {"auto", PU::Auto}}));
        // VK_SYMBIOTE_KV_CACHE=f32 (A/B against the default f16 caches): f32 K / V values on the GPU and in the hybrid CPU part.
        VKS_TRY(named("VK_SYMBIOTE_KV_CACHE", vo.kv_f16_rounding, {{"f16", true}, {"f32", false}}));
        VKS_TRY(named("VK_SYMBIOTE_ROWS_HEAD", vo.rows_head, {{"cpu", VulkanOptions::RowsHead::Cpu}, {"split", VulkanOptions::RowsHead::Split}, {"auto", VulkanOptions::RowsHead::Auto}}));
        VKS_TRY(named("VK_SYMBIOTE_PROMPT_UPLOAD", vo.prompt_upload, {{"dma", PU::Dma}, {"shader", PU::Shader}, {"auto", PU::Auto}}));
        // A/B knobs of shader-copy streaming: VK_SYMBIOTE_COPY_GROUPS (workgroups per copy),
        // VK_SYMBIOTE_COPY_CHUNK_MB (MiB per copy chunk), VK_SYMBIOTE_COPY_BUDGET (scale of each
        // kernel group's share of the copies).
        auto positive = [](const char* name, double max, double& out) -> ExpectedVoid {
            const char* z = std::getenv(name);
            if (!z || !*z) return {};
            char* end = nullptr;
            const double v = std::strtod(z, &end);
            if (*end || !(v > 0) || v > max) return make_error(ErrorCode::InvalidArgument, std::string(name) + "=" + z + ": expected a number in (0, " + std::to_string(int(max)) + "]");
            out = v;
            return {};
        };
        double groups = 0, chunk_mb = 0, budget = 0, rows_groups = 0, mv_lanes = 0;
        // VK_SYMBIOTE_MATVEC_LANES=N: lanes per unit of the matvecs of fewer than 8192 units (default 64).
        VKS_TRY(positive("VK_SYMBIOTE_MATVEC_LANES", 1024, mv_lanes));
        vo.matvec_small_lanes = uint32(mv_lanes);
        VKS_TRY(positive("VK_SYMBIOTE_COPY_GROUPS", 4096, groups));
        VKS_TRY(positive("VK_SYMBIOTE_ROWS_COPY_GROUPS", 4096, rows_groups));  // rows split copies
        vo.rows_copy_workgroups = uint32(rows_groups);
        VKS_TRY(positive("VK_SYMBIOTE_COPY_CHUNK_MB", 1024, chunk_mb));
        VKS_TRY(positive("VK_SYMBIOTE_COPY_BUDGET", 100, budget));
        vo.copy_workgroups = uint32(groups);
        vo.copy_chunk_bytes = uint64(chunk_mb * 1048576.0);
        vo.copy_budget_scale = budget;
        // A count knob (unset: out unchanged): a whole number in [0, 100000].
        auto count = [](const char* name, const char* what, int32& out) -> ExpectedVoid {
            int64 v = out;
            VKS_TRY(env_whole_number(name, 0, 100000, what, v));
            out = int32(v);
            return {};
        };
        // A/B knobs instead of the measured search: VK_SYMBIOTE_CPU_LAYERS=N fixes the hybrid
        // decode's split at N streamed layers on the CPU (0: every streamed layer on the GPU),
        // VK_SYMBIOTE_CPU_HEADS=N the rows split at N KV heads per streamed layer on the CPU
        // (clamped to the split's range: at least the half-slot minimum, at most all but one).
        VKS_TRY(count("VK_SYMBIOTE_CPU_LAYERS", "a layer count", vo.hybrid_cpu_layers));
        VKS_TRY(count("VK_SYMBIOTE_CPU_HEADS", "a KV head count", vo.hybrid_cpu_heads));
        // VK_SYMBIOTE_FIRST_SUBMIT=N: layers in a forward pass's first command buffer (0: 8, as the later ones).
        int32 first_submit = -1;
        VKS_TRY(count("VK_SYMBIOTE_FIRST_SUBMIT", "a layer count", first_submit));
        auto vb = VulkanBackend::create(vo);
        if (!vb) {
            VKS_LOG_WARN("Vulkan unavailable, using the CPU path: " << vb.error().message);
        } else if ((*vb)->device().caps().is_cpu && perf.device_index < 0) {
            // A software rasteriser (lavapipe) runs the same shaders on the same cores far
            // slower than the native CPU path; use it only when asked for by index.
            VKS_LOG_INFO("the only Vulkan device is a CPU implementation (" << (*vb)->device_name()
                                                                            << "); using the native CPU path instead (--device-index N forces it)");
        } else {
            // The benchmark's probed peaks for this machine, when cached: the hybrid split's
            // first guess (the backend's own measurements replace them as it runs).
            const Path dir = config.memory().cache_dir.empty() ? bench::default_cache_dir() : Path(config.memory().cache_dir);
            const OraclePeaks peaks = find_peaks(dir, (*vb)->device_name(), model_path, false);
            (*vb)->set_peaks(peaks.host_memory_gbps * 1e9, peaks.host_to_device_gbps * 1e9);
            auto r = (*vb)->prepare(*s.provider, n_ctx, s.n_batch);
            if (!r && r.error().code == ErrorCode::BudgetTooSmall)
                return make_error(ErrorCode::BudgetTooSmall, r.error().message + " (or run on the CPU with --disable-gpu)");
            if (r) {
                VulkanBackend* raw = vb->get();
                s.gpu_time_ns = [raw] { return raw->total_gpu_time_ns(); };
                // Counters since the last reset_performance_metrics(): uploads (resident weights
                // once, streamed ones every forward) and VRAM tier hits / misses.
                struct Base {
                    uint64 uploaded = 0, hits = 0, misses = 0, cpu = 0;
                };
                auto base = std::make_shared<Base>();
                const std::string placement = raw->plan().summary();  // fixed once prepared
                s.fill_memory_metrics = [raw, base, placement, host = std::move(s.fill_memory_metrics)](PerformanceMetrics& m) {
                    if (host) host(m);
                    m.weight_bytes_uploaded = raw->weight_bytes_uploaded() - base->uploaded;
                    m.vram_pack_hits = raw->vram_hits() - base->hits;
                    m.vram_pack_misses = raw->vram_misses() - base->misses;
                    m.weight_bytes_vram_resident = raw->plan().resident_weight_bytes;
                    m.weight_bytes_cpu = raw->hybrid_cpu_weight_bytes() - base->cpu;
                    m.n_layers = uint32(raw->plan().segment_stream_bytes.size()) - 1;
                    m.vram_resident_layers = raw->plan().resident_layers;
                    m.streamed_layers = raw->streamed_layer_count();
                    m.decode_cpu_layers = raw->hybrid_cpu_layers();
                    m.decode_cpu_kv_heads = raw->hybrid_cpu_heads();
                    m.decode_head_on_cpu = raw->hybrid_head_on_cpu();
                    m.decode_kv_heads = raw->hybrid_rows() ? raw->model_kv_heads() : 0;
                    const HardwareTelemetry t = raw->telemetry();
                    m.telemetry_cpu_weight_gbps = t.cpu_weight_bps * 1e-9;
                    m.telemetry_gpu_weight_gbps = t.gpu_weight_bps * 1e-9;
                    m.telemetry_host_to_device_gbps = t.host_to_device_bps * 1e-9;
                    m.placement = placement;
                    if (raw->hybrid_cpu_layer_runs() > 0)
                        m.placement += "; hybrid decode: " +
                                       (raw->hybrid_rows() ? "rows split, the CPU's share of every streamed layer " + std::to_string(raw->hybrid_cpu_heads()) +
                                                                 " of " + std::to_string(raw->model_kv_heads()) + " KV heads now (at least " +
                                                                 std::to_string(raw->hybrid_min_cpu_heads()) + "), "
                                                           : std::to_string(raw->hybrid_cpu_layers()) + " streamed layers on the CPU now, ") +
                                       std::to_string(raw->hybrid_cpu_layer_runs()) + " CPU layer runs, " +
                                       std::to_string(int(raw->hybrid_cpu_seconds() * 1000)) + " ms CPU, " +
                                       std::to_string(int(raw->hybrid_wait_seconds() * 1000)) + " ms waiting for the GPU side";
                    if (raw->hybrid_rows() && raw->hybrid_cpu_layer_runs() > 0) {
                        const auto& w = raw->hybrid_rows_waits();
                        m.placement += " (after attention / wo / gate-up / down / for x after resident layers: " + std::to_string(int(w[0] * 1000)) + " / " +
                                       std::to_string(int(w[1] * 1000)) + " / " + std::to_string(int(w[2] * 1000)) + " / " + std::to_string(int(w[3] * 1000)) +
                                       " / " + std::to_string(int(w[4] * 1000)) + " ms)";
                    }
                    if (const ComputeSplit* sp = raw->hybrid_split(); sp && raw->hybrid_cpu_layer_runs() > 0)
                        m.placement += "; split search: best " + std::to_string(sp->best_cpu_layers()) + " of " + std::to_string(sp->streamed_layers()) +
                                       " at " + fixed1(sp->best_token_seconds() * 1e3) + " ms/token" +
                                       (sp->settled() ? ", settled" : ", exploring") + " after " + std::to_string(sp->changes()) + " changes" +
                                       (sp->reseeded() ? " (re-seeded from the measured rates)" : "");
                    const StreamOverlap so = stream_overlap(raw->stream_timeline());
                    m.stream_span_ns = so.span_ns;
                    m.stream_upload_busy_ns = so.upload_ns;
                    m.stream_compute_busy_ns = so.compute_ns;
                    m.stream_overlap_ns = so.both_ns;
                    m.kernel_times.clear();
                    for (const auto& k : raw->shaders().kernel_times()) m.kernel_times.push_back({k.name, k.dispatches, k.total_ns});
                    m.peak_vram_bytes = std::max<uint64>(m.peak_vram_bytes, raw->device_memory_stats().bytes_reserved);
                };
                s.reset_counters = [raw, base, host = std::move(s.reset_counters)] {
                    if (host) host();
                    *base = {raw->weight_bytes_uploaded(), raw->vram_hits(), raw->vram_misses(), raw->hybrid_cpu_weight_bytes()};
                };
                s.backend_name = "vulkan";
                s.description = "backend vulkan (" + raw->device_name() + "), " + how + ", " + placement + ", ctx " + std::to_string(n_ctx);
                s.backend = std::move(*vb);
                return s;
            }
            VKS_LOG_WARN("the model cannot run on the GPU, using the CPU path: " << r.error().message);
        }
    }
#else
    if (perf.enable_gpu) VKS_LOG_INFO("this build has no Vulkan backend; using the CPU path");
#endif
    uint32 threads = perf.threads ? perf.threads : std::max(1u, std::thread::hardware_concurrency());
    // K, V and Q rounded to f16 values as llama.cpp's default f16 KV cache does (the reference).
    auto cpu = std::make_unique<CpuBackend>(threads, cpu::KernelPath::Auto, KvPrecision::F16Rounded);
    cpu->set_matvec_options(prefetch >= 0 ? uint64(prefetch) : cpu::kDefaultMatvecPrefetchBytes, batch == 1);
    VKS_TRY(cpu->prepare(*s.provider, n_ctx, s.n_batch));
    // Every forward pass reads every weight matrix once (the embedding: its rows, not counted).
    uint64 per_pass = 0;
    for (const TensorDesc& d : s.provider->registry().tensors())
        if (d.id.role != TensorRole::TokenEmbd || s.provider->config().tied_output) per_pass += d.byte_size;
    const uint32 n_layer = s.provider->config().n_layer;
    s.fill_memory_metrics = [per_pass, n_layer, host = std::move(s.fill_memory_metrics)](PerformanceMetrics& m) {
        if (host) host(m);
        m.weight_bytes_cpu = per_pass * m.total_inferences;
        m.n_layers = n_layer;
        m.streamed_layers = m.decode_cpu_layers = n_layer;  // every layer computed on the CPU from RAM
    };
    s.backend = std::move(cpu);
    s.backend_name = "cpu";
    s.description = "backend cpu (" + std::to_string(threads) + " threads), " + how + ", ctx " + std::to_string(n_ctx);
    return s;
}

}  // namespace vk_symbiote
