// PipelineCases: what the pipeline tests (tests/mpi) share: the options every rank gets, a
// --budgets entry that puts a rank on packs, every prompt position's logits through N ranks (the
// vks_pipeline_logits probe under mpirun), the reference check, `generate --pipeline --json`.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/ReferenceCase.h"

namespace vk_symbiote::test {

constexpr uint32 kCtx = 256;
constexpr uint64 kPack = 4096;  // --max-pack-mb 0.00390625

#define SKIP_WITHOUT_MPIRUN() \
    if (!have_mpirun()) GTEST_SKIP() << "no mpirun on PATH (apt-get install openmpi-bin libopenmpi-dev)"

// --model, --ctx-size kCtx, one thread, quiet, a pack cache in the tests' temporary folder.
std::string common_args(const std::string& model);
// A --budgets entry (RAM GiB : speed) that forces `model` through 4 KiB packs on its rank: the
// pack path's minimum (one I/O thread) plus a few packs; speed 3 / RAM gives it the weight of
// "0:3", so that it holds more layers than that minimum leaves room for.
std::string tiny_ram_entry(const std::string& model);
// Every prompt position's logits through `ranks` ranks, as the reference case's shape
// (prompt tokens, n_vocab); `extra`: more options; `log`: the run's output (stderr included).
// With --max-pack-mb in `extra`, some rank must stream its weights in packs, else none.
std::vector<float> pipeline_logits(const ReferenceCase& c, uint32 ranks, const std::string& extra, std::string* log = nullptr);
// Each position within the case's tolerance; the argmax where the reference's margin decides.
void expect_matches_reference(const ReferenceCase& c, const std::vector<float>& logits, const std::string& what);
// `vk_symbiote generate --pipeline --json --temperature 0` through `ranks` ranks: the document.
nlohmann::json generate_json(uint32 ranks, const std::string& model, const std::string& prompt, uint32 max_tokens, const std::string& extra);

// A short story in TinyStories' style that no reference case uses (held-out text) of
// `sentences` sentences (120: about 7 perplexity chunks of kCtx tokens of stories260K); written
// to the tests' temporary folder, its path returned.
Path heldout_text_file(int sentences);
// The number of the "PPL: x" line of a perplexity run's output; NaN when there is none.
double printed_ppl(const std::string& out);

}  // namespace vk_symbiote::test
