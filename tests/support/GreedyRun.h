// Greedy generation of one sequence through a Scheduler on any backend, plain or with n-gram
// drafts, for the tests that compare the two (speculative decoding must not change a greedy
// token), and the copy-cycle models those tests run on (model/CopyCycle.h).
#pragma once

#include <string>
#include <vector>

#include "backend/Backend.h"
#include "model/LoadedModel.h"
#include "runtime/Sequence.h"

namespace vk_symbiote::test {

struct GreedyOutcome {
    std::vector<uint32> tokens;
    uint64 drafted = 0, accepted = 0;
    uint64 decode_passes = 0;  // passes after the prompt's (the first token comes from the prompt's)
};

// A greedy request of max_tokens tokens, EOS ignored; draft_max 0: plain decoding, else n-gram
// drafts of up to draft_max tokens, their length adaptive (DraftLength) or always draft_max.
SequenceRequest greedy_request(std::vector<uint32> prompt, uint32 max_tokens, uint32 draft_max, bool adaptive = false);

// run_greedy: greedy_request through a Scheduler. draft_max 0: plain decoding; else n-gram drafts of up to draft_max tokens, their length
// adaptive (DraftLength) or always draft_max. EOS ignored: max_tokens tokens come out. n_batch:
// the most rows per pass (the backend's prepare()). Fails the current test on a scheduler error.
GreedyOutcome run_greedy(Backend& be, const LoadedModel& m, const std::vector<uint32>& prompt, uint32 max_tokens, uint32 draft_max,
                         bool adaptive, uint32 n_batch = 64);

// A copy-cycle model of a generated shape (seed 1), written once per test process under tmp_dir().
Path copy_cycle_model(const std::string& shape, DType dtype, uint32 cycle);

// BOS, then the cycle `copies` times.
std::vector<uint32> cycle_prompt(const std::vector<uint32>& cycle, uint32 copies);

}  // namespace vk_symbiote::test
