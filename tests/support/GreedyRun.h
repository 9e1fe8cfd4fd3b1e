// Greedy generation of one sequence through a Scheduler on any backend, plain or with n-gram
// drafts, for the tests that compare the two (speculative decoding must not change a greedy
// token), and the copy-cycle models those tests run on (model/CopyCycle.h).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backend/Backend.h"
#include "model/LoadedModel.h"
#include "runtime/Sequence.h"
#include "support/ReferenceCase.h"

namespace vk_symbiote {
class KvBlockPool;
class Scheduler;
}

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

// The prefix-sharing pair the scheduler tests run on every backend (stories260K's vocabulary):
// A, a 21-token prompt (one full KV block and 5 positions of the next) with 10 greedy tokens,
// its KV cache kept, is submitted and one step computes its prompt; B, A's prompt and one token
// more with 10 greedy tokens, is submitted from A's cache (all 21 positions cached: checked).
struct PrefixPair {
    uint64 a = 0, b = 0;                    // the sequences' ids (0: not submitted, after a failed EXPECT)
    std::vector<uint32> prompt_a, prompt_b;  // to run each alone for comparison
};
PrefixPair submit_prefix_pair(Scheduler& s);

// The full-pool pair on a pool of 4 blocks (64 positions): A, 10 tokens with 30 greedy ones,
// and B, A's first 6 with 30, cannot both run. A runs, B waits (the pool never over-full)
// until A has finished, after more than 10 steps (checked); then the caller runs B.
struct WaitingPair {
    uint64 a = 0, b = 0;                    // the sequences' ids (0: not submitted, after a failed EXPECT)
    std::vector<uint32> prompt_a, prompt_b;
};
WaitingPair run_until_second_starts(Scheduler& s, const KvBlockPool& pool);

// The batch of mixed lengths the scheduler tests run a reference case as: its prompt (n_gen
// greedy tokens), its first 2 tokens (n_gen + 3) and the prompt twice, BOS once (n_gen - 2);
// n_gen: the reference's greedy length, at least 8. Submitted to `s` together and stepped to
// the end (every step carrying a sequence, `pool` never over-full): 3 sequences shared a
// pass, and each finished by length with the tokens `alone` gives its request. The ids, in
// that order.
std::vector<uint64> run_mixed_batch(Scheduler& s, const KvBlockPool& pool, const ReferenceCase& rc,
                                    const std::function<std::vector<uint32>(const SequenceRequest&)>& alone);

// A copy-cycle model of a generated shape (seed 1), written once per test process under tmp_dir().
Path copy_cycle_model(const std::string& shape, DType dtype, uint32 cycle);

// BOS, then the cycle `copies` times.
std::vector<uint32> cycle_prompt(const std::vector<uint32>& cycle, uint32 copies);

}  // namespace vk_symbiote::test
