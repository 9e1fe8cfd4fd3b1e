// BenchReport: what vk_symbiote_benchmark measured, the byte accounting that relates it
// to the machine's probed ceilings, and its two renderings (a readable table and JSON,
// documented field by field in docs/benchmark-json.md).
//
// Units everywhere: bytes, seconds / nanoseconds as named, GB/s = 1e9 bytes per second
// (decimal, as disk and bus vendors quote them), memory budgets in GiB (2^30, as the
// --vram-gb / --ram-gb options define them).
//
// Accounting model (per forward pass, then per token):
//   weight bytes a pass touches  W = every weight tensor once, except token_embd of which
//                                    only one row per token is read (unless the output is
//                                    tied to it, then the whole matrix is read as the lm head)
//   compute tiers (where the kernels read the weights from), they add up to W x passes:
//       vram = bytes already resident on the device       (bound: device memory bandwidth)
//       bus  = bytes uploaded host -> device for this run  (bound: host->device bandwidth)
//       ram  = bytes the CPU computed on, read from RAM    (bound: host memory bandwidth)
//   transport tier:
//       disk = bytes read from the model file (or pack cache) during the run; these land in
//              RAM first and are also counted in bus or ram    (bound: disk read bandwidth)
// Non-resident bound: the weight bytes per token not resident in VRAM (bus + ram) over the
// ceiling of the path they take: host->device bandwidth when the GPU streams them, host
// memory bandwidth when the CPU computes on them, the sum of both when both happen (the
// hybrid split of DESIGN.md finishes both parts together).
// The implied bound assumes the tiers overlap perfectly: time per token >= max over tiers of
// (tier bytes per token / tier ceiling), so max tokens/s = 1 / that. A tier with bytes but
// no probed ceiling (e.g. no Vulkan device) leaves the bound unknown (0) rather than guessed.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "probe/ProbeResults.h"
#include "vk_symbiote/Common.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

namespace vk_symbiote {
class TensorRegistry;
}

namespace vk_symbiote::bench {

// The probed ceilings the accounting relates the run to (src/probe, below the engine).
using probe::Bandwidth;
using probe::ProbeResults;
using probe::Throughput;
using probe::probes_from_json;
using probe::to_json;

// Version of the JSON layout; bump when a field changes meaning or is removed.
inline constexpr int kReportSchemaVersion = 1;

// Counters of one timed run (deltas over the run, not process totals); the pack-read figures
// (PackReadStats: PerformanceMetrics deltas, the thread count and read mode at the end).
struct RunSample : PackReadStats {
    uint64 tokens = 0;          // prompt tokens (pp) or generated tokens (tg) in the timed span
    double seconds = 0;         // timed span: whole evaluate() (pp) / first -> last token (tg)
    double tokens_per_second = 0;
    double ttft_ms = 0;         // request -> first sampled token (tg; par: median over the sequences; 0 for pp)
    // par: the decode rate of one sequence ((its tokens - 1) / its first -> last token), median
    // over the sequences; 0 for pp / tg.
    double per_sequence_tokens_per_second = 0;
    // Counter deltas over the timed span (pp: the evaluate() call; tg: from the first token
    // to the last, i.e. the passes after the prompt pass, whose time is TTFT, not timed).
    uint64 forward_passes = 0;  // PerformanceMetrics::total_inferences delta
    uint64 disk_bytes = 0;      // PerformanceMetrics::weight_bytes_disk delta
    uint64 uploaded_bytes = 0;  // PerformanceMetrics::weight_bytes_uploaded delta
    uint64 peak_vram_bytes = 0;
    uint64 peak_rss_bytes = 0;
    uint64 ram_pack_hits = 0;     // PerformanceMetrics deltas (0 when weights are not in packs)
    uint64 ram_pack_misses = 0;
    uint64 vram_pack_hits = 0;
    uint64 vram_pack_misses = 0;
    uint64 expert_hits = 0;       // mixture of experts: chosen experts the oracle had predicted
    uint64 expert_misses = 0;
    uint64 expert_vram_hits = 0;    // chosen experts VRAM-resident / streamed or on the CPU (Vulkan)
    uint64 expert_vram_misses = 0;
    uint64 gpu_time_ns = 0;       // PerformanceMetrics::total_gpu_time_ns delta (0 on the CPU)
    uint64 cpu_weight_bytes = 0;  // PerformanceMetrics::weight_bytes_cpu delta (hybrid decode: the CPU's share)
    uint64 routed_expert_bytes = 0;  // PerformanceMetrics::weight_bytes_experts_routed delta (the chosen experts)
};

struct Stats {
    double median = 0, min = 0, max = 0;
};
// Median (mean of the two middle values for an even count), min and max; zeros if empty.
Stats summarize(std::vector<double> values);

// Inputs of the accounting for one run, everything in bytes / counts over the run.
struct PassTraffic {
    bool gpu_compute = false;      // kernels ran on the Vulkan device
    uint64 weight_bytes_touched = 0;  // W above summed over the run's passes
    uint64 forward_passes = 0;
    uint64 tokens = 0;
    uint64 disk_bytes = 0;
    uint64 uploaded_bytes = 0;
    // Bytes the CPU computed on from RAM during a GPU run (hybrid decode: CPU layers or the
    // CPU's rows; PerformanceMetrics::weight_bytes_cpu); the rest not uploaded counts as VRAM.
    uint64 cpu_compute_bytes = 0;
};

// Bytes per token from each tier; see the accounting model at the top of the file.
struct TierBytes {
    double vram = 0, bus = 0, ram = 0, disk = 0;
    double total_compute() const { return vram + bus + ram; }
};
TierBytes split_tiers(const PassTraffic& t);

// W summed over `passes` forward passes that together process `tokens` tokens: every dense
// matrix once per pass, the embedding's rows per token, and of a mixture's experts the chosen
// ones (routed_expert_bytes: PerformanceMetrics::weight_bytes_experts_routed over the passes).
uint64 weight_bytes_touched(const TensorRegistry& reg, uint64 passes, uint64 tokens, uint64 routed_expert_bytes = 0);

struct TierFigure {
    double bytes_per_token = 0;
    double achieved_gbps = 0;       // bytes_per_token x tokens/s
    double ceiling_gbps = 0;        // probed (0 = unknown)
    double max_tokens_per_second = 0;  // ceiling / bytes_per_token (0 = no bytes or unknown)
};

struct NonResidentBound {
    double bytes_per_token = 0;          // bus + ram
    double ceiling_gbps = 0;             // host->device, host memory, or their sum (0 = unknown)
    std::string ceiling;                 // "host_to_device", "host_memory", "host_to_device+host_memory", ""
    double bound_tokens_per_second = 0;  // ceiling / bytes per token (0 = no bytes or unknown)
    double fraction_of_bound = 0;        // achieved tokens/s / bound
};

struct Accounting {
    TierFigure vram, bus, ram, disk;
    NonResidentBound non_resident;
    double weight_bytes_per_token = 0;  // vram + bus + ram
    double weight_bytes_per_pass = 0;   // the same per forward pass (per step: every sequence of a par pass shares it)
    double bound_tokens_per_second = 0; // 0 = unknown (a tier with bytes lacks a ceiling)
    std::string bound_tier;             // the slowest tier ("ram", "bus", ...), "" if unknown
    double fraction_of_bound = 0;       // achieved tokens/s / bound
};
Accounting compute_accounting(const PassTraffic& traffic, double tokens_per_second, const ProbeResults& probes);

// Pack cache hits / misses summed over a workload's timed repetitions; rate = hits / (hits +
// misses), 0 when the tier saw no requests.
struct PackCacheFigures {
    uint64 ram_hits = 0, ram_misses = 0, vram_hits = 0, vram_misses = 0;
    double ram_hit_rate = 0, vram_hit_rate = 0;
    // Mixture of experts: chosen experts predicted before their router ran (the oracle's
    // expert-prediction hit rate).
    uint64 expert_hits = 0, expert_misses = 0;
    double expert_hit_rate = 0;
    // Mixture of experts on the Vulkan device: chosen experts found resident in VRAM.
    uint64 expert_vram_hits = 0, expert_vram_misses = 0;
    double expert_vram_hit_rate = 0;
};
PackCacheFigures pack_cache_figures(const std::vector<RunSample>& samples);

// GPU time of one shader variant over a workload's timed repetitions (--enable-profiling).
struct KernelFigure {
    std::string name;
    uint64 dispatches = 0;
    uint64 total_ns = 0;
    double ns_per_token = 0;           // total_ns / tokens the passes processed
    double fraction_of_gpu_time = 0;   // total_ns / the workload's GPU time (0 if unknown)
};
// after - before per kernel name (engine metrics snapshots), largest total first; kernels
// without dispatches in between are left out.
std::vector<KernelFigure> kernel_figures(const std::vector<KernelTime>& before, const std::vector<KernelTime>& after, uint64 tokens,
                                         uint64 gpu_time_ns);

struct WorkloadResult {
    std::string name;            // "pp512", "tg128", "par16x128"
    std::string kind;            // "pp", "tg" or "par" (parallel generations)
    uint32 n_tokens = 0;         // requested (par: per sequence)
    uint32 parallel = 0;         // par: sequences generating at once (0 otherwise)
    std::string scheduling;      // par: PerformanceMetrics::scheduling (batched, or one at a time)
    Stats per_sequence_tokens_per_second;  // par: over the repetitions' per-sequence medians
    std::vector<RunSample> samples;
    Stats tokens_per_second;
    Stats ttft_ms;
    Accounting accounting;       // from the median sample
    PackCacheFigures pack_cache;
    uint64 gpu_time_ns = 0;      // over the timed repetitions
    std::vector<KernelFigure> kernels;  // empty unless profiling is on (Vulkan)
    // The last pass's stream timeline (profiling on, weights streaming; else 0): span, upload
    // busy, compute busy, both busy (PerformanceMetrics::stream_*), ns.
    uint64 stream_span_ns = 0, stream_upload_ns = 0, stream_compute_ns = 0, stream_overlap_ns = 0;
    DecodeRecording decode_recording;  // the last one-row pass of the workload (Vulkan; PerformanceMetrics::decode_recording)
};

struct ModelInfo {
    std::string path;
    std::string name;
    std::string architecture;
    std::string generated_shape;  // preset name if the benchmark generated it, else ""
    std::string dtype;            // dominant weight dtype, e.g. "f16"
    uint64 file_bytes = 0;
    uint64 weight_bytes = 0;      // distinct weight bytes (TensorRegistry::total_bytes)
    uint32 n_layer = 0, n_embd = 0, n_vocab = 0;
    std::vector<uint32> copy_cycle;  // a copy-cycle model's cycle (model/CopyCycle.h: its greedy text), else empty
};

struct RunConfigInfo {
    std::string backend;          // PerformanceMetrics::backend
    std::string description;      // VulkanSymbioteEngine::describe()
    double vram_budget_gib = 0;
    double ram_budget_gib = 0;
    bool gpu_enabled = true;
    uint32 threads = 0;
    uint32 repetitions = 0;
    std::string placement;        // PerformanceMetrics::placement, e.g. "all in VRAM"
    bool kernel_profiling = false; // --enable-profiling
    // Several devices (--devices): one line per device and test, e.g. "tg device 1 (<device name> (1)):
    // layers [16, 32), 8 resident, 8 streamed; peak 3.9 of 4.0 GiB; 1.02 GB uploaded per token".
    std::vector<std::string> devices;
};

// Speculative decoding (SpeculativeBench.h). A verification pass over 1 + k rows: one
// sequence's last token and k drafted tokens, all rows' logits; k = 0 is a plain decode pass.
struct VerifyPassFigure {
    uint32 k = 0;
    Stats ms;  // wall time of the pass, over the repetitions
};
// One generation on the repetitive workload, plain or with n-gram drafts (medians of the reps
// for tokens/s; the rest from the median repetition).
struct NgramRunFigure {
    std::string name;              // "plain" or "ngram"
    Stats tokens_per_second;       // generated tokens after the first / first -> last token
    double tokens_per_pass = 0;    // decode tokens / decode passes
    uint64 drafted = 0, accepted = 0;
    double draft_ms = 0, verify_ms = 0;
    // Of the run's generated tokens after the first, those the n-gram lookup over the context
    // before them (prompt + generated) would have drafted correctly as its first token: what
    // any drafting can win on this workload (0: the continuation repeats nothing of its
    // context, as with a random-weight model that does not copy its prompt).
    uint32 lookup_hits = 0, generated = 0;
    bool same_as_plain = true;  // greedy: the drafted run's tokens are the plain run's
};
struct SpeculativeFigures {
    std::vector<VerifyPassFigure> verify;  // --verify-k
    uint32 ngram_prompt_tokens = 0;
    std::string ngram_prompt;              // what the prompt is, e.g. "the model's copy cycle (16 tokens) x 8"
    std::vector<NgramRunFigure> ngram;     // --ngram: plain, then drafted
};

struct BenchReport {
    std::string tool_version;
    std::string started_at;       // UTC, ISO 8601
    ModelInfo model;
    RunConfigInfo config;
    ProbeResults probes;
    std::vector<WorkloadResult> workloads;
    uint64 peak_vram_bytes = 0;   // over the whole benchmark
    uint64 peak_rss_bytes = 0;
    // RSS of the process just before the first engine (code, the Vulkan driver, what the
    // probes left): not the engine's. The RAM budget promises the engine's growth over it
    // (PackWeightProvider: peak RSS growth <= budget + kFixedOverheadBytes). 0: unknown.
    uint64 rss_before_engine_bytes = 0;
    // File-backed resident pages (RssFile) after the workloads less before the first engine:
    // code (the GPU driver's libraries, loaded by the engine) and host memory the driver maps
    // through its device file (NVIDIA: the host-visible staging buffers). Shown so that the
    // growth's anonymous part can be told apart.
    uint64 rss_file_growth_bytes = 0;
    uint64 weight_bytes_vram_resident = 0;  // PerformanceMetrics, after the workloads
    SpeculativeFigures speculative;
};

nlohmann::json to_json(const BenchReport& r);
// The human-readable report (several aligned tables, ends with a newline).
std::string format_table(const BenchReport& r);
// Rows as an aligned table: left-aligned first column (and last, if last_left), right-aligned
// others, two spaces between, a rule under the header row.
std::string render(const std::vector<std::vector<std::string>>& rows, bool last_left = false);

}  // namespace vk_symbiote::bench
