// PipelineBench: the benchmark under mpirun (`mpirun -np N vk_symbiote_benchmark --pipeline
// -p P -n G ...`): one prompt of P tokens and G greedy generated tokens through the pipeline
// (PipelineStage), then rank 0 prints prompt and generation tokens/s and every rank's report
// (PipelineReport: placement, weight bytes per token from RAM and disk, time computing and in
// communication, the pipeline bubble); --json: one document. One repetition, no probes.
// --parallel S (one value): S sequences of distinct P-token prompts and G greedy tokens each,
// as micro-batches in flight together (PipelineBatch), so the ranks work at once; the report
// gives the whole run's tokens/s, every sequence's tokens (--json) and the bubble per rank.
#pragma once

#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {
class ConfigManager;
}

namespace vk_symbiote::bench {

// The process's exit status (errors end every rank).
int run_pipeline_bench(const ConfigManager& cfg, const Path& model, uint32 n_prompt, uint32 n_gen, const std::vector<uint32>& parallel);

}  // namespace vk_symbiote::bench
