// SpeculativeBench: the benchmark's speculative-decoding measurements.
//
//   --verify-k K,...  the time of one verification pass over 1 + k rows (k = 0 added: a plain
//                     decode pass) for each k: evaluate() of 1 + k tokens with every row's
//                     logits, from an empty cache (a verification pass after a short context
//                     differs only in the attention over that context). From the medians, the
//                     tokens/s speculative decoding would give at acceptance 0.5 / 0.7 / 0.9
//                     per drafted token: (1 - a^(k+1)) / (1 - a) tokens per pass of time t(k);
//                     the report labels them computed.
//   --ngram N         the repetitive workload: a prompt of 32 tokens said 4 times (or --prompt
//                     text; on a copy-cycle model, model/CopyCycle.h, its cycle said at least twice
//                     and to 128 tokens or more, so the greedy text goes on repeating the prompt:
//                     a random-weight model's text repeats nothing, so there nothing is accepted),
//                     N tokens generated greedily plain and then with n-gram drafts
//                     (--draft-max, --draft-ngram-size...), in the same engine: measured tokens/s,
//                     tokens per decode pass, drafted / accepted tokens, time drafting / verifying.
//                     With --draft-model the drafts come from the draft model (the run named "model").
#pragma once

#include <string>
#include <vector>

#include "bench/BenchReport.h"
#include "bench/Workload.h"

namespace vk_symbiote::bench {

Expected<std::vector<VerifyPassFigure>> run_verify_sweep(VulkanSymbioteEngine& engine, const std::vector<uint32>& ks, const WorkloadOptions& opts);
// prompt_text: the workload's prompt (empty: the synthetic repetitive one, from `cycle` when the
// model has one: ModelInfo::copy_cycle).
Expected<std::vector<NgramRunFigure>> run_ngram_workload(VulkanSymbioteEngine& engine, uint32 n_tokens, const std::string& prompt_text,
                                                         const std::vector<uint32>& cycle, const WorkloadOptions& opts, uint32& prompt_tokens);
// The repetitive prompt (BOS first when the model has one): the cycle said
// repetitive_prompt_copies(cycle.size()) times, or without a cycle 32 benchmark tokens said 4 times.
std::vector<uint32> repetitive_prompt(const VulkanSymbioteEngine& engine, uint64 seed, const std::vector<uint32>& cycle = {});
// Copies of a cycle of n tokens in the prompt: at least 2, and enough for 128 tokens.
uint32 repetitive_prompt_copies(size_t n);
// The prompt's length with BOS (an upper bound before the model's tokenizer is known).
uint32 repetitive_prompt_tokens(size_t cycle_size);
// The report's words for the prompt, e.g. "the model's copy cycle (16 tokens) x 8".
std::string repetitive_prompt_description(const std::string& prompt_text, size_t cycle_size);

nlohmann::json to_json(const SpeculativeFigures& f);
// The two tables (empty when nothing was measured); computed rates say so.
std::string speculative_tables(const SpeculativeFigures& f);

}  // namespace vk_symbiote::bench
