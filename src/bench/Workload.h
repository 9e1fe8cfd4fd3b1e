// Workload: the timed runs of vk_symbiote_benchmark against a created engine.
//
//   pp N: evaluate() of N prompt tokens from an empty cache (logits of every position),
//         tokens/s = N / wall time of the call.
//   tg N: generate_tokens() from a one-token prompt (BOS), greedy, max_tokens N; tokens/s
//         = (generated - 1) / (last token time - first token time), i.e. decode passes only.
//         EOS is ignored: every run generates N tokens.
//   par S x N: S generations (prompt: BOS and one token of their own), greedy, N tokens each,
//         submitted at once and stepped to the end (VulkanSymbioteEngine::submit / step):
//         aggregate tokens/s = all generated tokens / (submission -> last token), TTFT and
//         the per-sequence decode rate as medians over the sequences.
// Each run takes PerformanceMetrics before/after deltas (forward passes, disk / uploaded bytes)
// and feeds the tier accounting of BenchReport.h with the weight bytes the passes touched.
//
// Not thread-safe: drives the engine, which is single-threaded per session.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench/BenchReport.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {
class VulkanSymbioteEngine;
class TensorRegistry;
}  // namespace vk_symbiote

namespace vk_symbiote::bench {

struct WorkloadOptions {
    uint32 repetitions = 3;
    bool warmup = true;   // one untimed run first (loads weights, warms caches)
    uint64 seed = 1234;   // prompt token ids
    std::function<void(const std::string&)> log;  // one line per repetition (may be empty)
};

// n prompt token ids in [first_regular, n_vocab): no control tokens, fixed by seed.
std::vector<uint32> benchmark_tokens(uint32 n_vocab, uint32 n, uint64 seed, uint32 first_regular = 3);

Expected<WorkloadResult> run_prompt_processing(VulkanSymbioteEngine& engine, const TensorRegistry& reg, uint32 n_tokens,
                                               const WorkloadOptions& opts, const ProbeResults& probes);
Expected<WorkloadResult> run_generation(VulkanSymbioteEngine& engine, const TensorRegistry& reg, uint32 n_tokens,
                                        const WorkloadOptions& opts, const ProbeResults& probes);
Expected<WorkloadResult> run_parallel_generation(VulkanSymbioteEngine& engine, const TensorRegistry& reg, uint32 n_sequences, uint32 n_tokens,
                                                 const WorkloadOptions& opts, const ProbeResults& probes);

}  // namespace vk_symbiote::bench
