// ExpertPopularity: what the routers of a mixture-of-experts model chose over recent tokens,
// per layer and expert, as an exponential moving average of "this token chose expert e":
// popularity(l, e) estimates the probability that the next token routes to e in layer l. Each
// token's weight halves every half_life tokens; before any token every expert has the uniform
// prior n_used / n_expert. The VitalityOracle predicts a layer's experts from it before the
// layer's router runs, and ranks a resident expert's expected next use by it.
// Decisions only: no I/O, no locks, no clock (the owner locks).
#pragma once

#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ExpertPopularity {
public:
    ExpertPopularity() = default;
    // half_life_tokens > 0.
    ExpertPopularity(uint32 n_layer, uint32 n_expert, uint32 n_used, float half_life_tokens);

    bool empty() const { return n_expert_ == 0; }
    uint32 n_expert() const { return n_expert_; }
    uint32 n_used() const { return n_used_; }
    // A batch of n_tokens tokens went through layer `layer`'s router: counts[e] (n_expert
    // entries) of them chose expert e. The batch counts as n_tokens tokens of equal age.
    void record(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens);
    // Estimated probability that a token chooses expert e in `layer`, in [0, 1].
    float popularity(uint32 layer, uint32 expert) const { return p_[uint64(layer) * n_expert_ + expert]; }
    // True for the n_used most popular experts of `layer` (ties: the lower index): the
    // experts predicted for its next router run.
    bool hot(uint32 layer, uint32 expert) const { return hot_[uint64(layer) * n_expert_ + expert] != 0; }

private:
    void rank(uint32 layer);  // recomputes hot_ of one layer

    uint32 n_layer_ = 0, n_expert_ = 0, n_used_ = 0;
    double keep_per_token_ = 1.0;  // 0.5^(1 / half_life)
    std::vector<float> p_;         // (n_layer, n_expert)
    std::vector<uint8> hot_;       // (n_layer, n_expert) 1: among the n_used most popular
};

}  // namespace vk_symbiote
