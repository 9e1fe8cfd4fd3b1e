// DraftLength: how many tokens to draft for the next verification pass, from what was
// measured. A draft of k tokens, each accepted with probability a (the measured acceptance
// per drafted token, given the ones before it were), yields 1 + a + ... + a^k = (1 - a^(k+1)) /
// (1 - a) tokens in expectation; the pass that verifies it computes k + 1 rows. The length
// chosen maximizes expected tokens per second: expected tokens / predicted pass time.
//
// PassCost predicts the time of a pass over r rows. A pass of one row (a plain decode step)
// is its own figure, since a backend may run it on another path (the Vulkan hybrid decode
// splits one row between the CPU and the GPU; several rows stream every weight to the GPU).
// Passes of several rows: t0 + t1 x r, a least-squares line through the measured ones (recent
// ones weigh more); while their sizes barely vary the slope is unknown and taken as 0 (a pass
// costs the same for 2 or 16 rows, as when weights stream). Either figure stands in for the
// other until both were measured. Drafting itself costs time too (a draft model's passes):
// record_draft() keeps the seconds per drafted token, added to a draft's pass. Drafting stops (k = 0) when a plain step is predicted to
// give more tokens per second than any draft; DraftLength::probe() then drafts now and then so
// that acceptance and the cost of a verification pass keep being measured.
// No clock here: the scheduler measures and records.
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class PassCost {
public:
    // A forward pass over `rows` tokens (all sequences) took `seconds`.
    void record(uint32 rows, double seconds);
    // Seconds predicted for a pass of `rows` tokens (1 before anything was recorded: only
    // ratios matter).
    double predict(uint32 rows) const;
    uint64 passes() const { return passes_; }
    // Drafting `tokens` tokens took `seconds` (all sequences of a step); 0 tokens: ignored.
    void record_draft(uint32 tokens, double seconds);
    // Seconds predicted for drafting k tokens and the pass verifying them (k + 1 rows).
    double predict_draft(uint32 k) const { return predict(k + 1) + draft_per_token_ * double(k); }

private:
    double predict_multi(uint32 rows) const;  // the line (passes_multi_ > 0)

    static constexpr double kDecay = 0.98;  // weight of the past per recorded pass
    double single_ = 0;                     // seconds of a one-row pass (moving average)
    double sw_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;  // weighted sums over (rows, seconds), rows >= 2
    uint64 passes_ = 0, passes_single_ = 0, passes_multi_ = 0;
    double draft_per_token_ = 0;  // seconds per drafted token (moving average; 0: none measured)
    uint64 drafts_ = 0;
};

class DraftLength {
public:
    DraftLength(uint32 min_len, uint32 max_len, bool adaptive) : min_(min_len), max_(max_len), adaptive_(adaptive) {}
    // A verification of `drafted` tokens accepted the first `accepted` of them (drafted > 0:
    // a probe is no longer due).
    void record(uint32 drafted, uint32 accepted);
    // Acceptance per drafted token: accepted / tried, where a token counts as tried when all
    // drafted tokens before it were accepted (recent verifications weigh more; 0.5 at first).
    double acceptance() const;
    // The draft length for the next pass: 0 (no draft: a plain step is predicted to be faster)
    // or in [max(1, min), max]; always max when not adaptive.
    uint32 choose(const PassCost& cost) const;
    // The best draft length of at least max(1, min) (what choose() would give if it had to draft).
    uint32 best_draft(const PassCost& cost) const;
    // The length to try for the next pass: choose(), or best_draft() once kProbeEvery steps
    // went without a draft (a probe, so that acceptance and the pass cost are measured again).
    // A probe stays due until record() sees a draft verified: a step whose lookup finds
    // nothing to draft does not use it up (an n-gram match is rare, and a probe consumed at a
    // step without one would leave the adaptive length at 0 for good).
    uint32 next(const PassCost& cost);
    // Steps without a verified draft after which choose()'s 0 is overruled, to measure again.
    static constexpr uint32 kProbeEvery = 16;
    // Expected tokens a pass verifying k drafted tokens yields at acceptance a.
    static double expected_tokens(double a, uint32 k);

private:
    static constexpr double kDecay = 0.9;
    uint32 min_, max_;
    bool adaptive_;
    double accepted_ = 1, tried_ = 2;  // the prior: one accepted of two tried
    uint32 plain_steps_ = 0;           // next() calls that gave 0 since a draft was last verified
};

}  // namespace vk_symbiote
