// RouterSkew: generated mixtures of experts whose routers prefer a few experts, as trained
// routers do (random routers choose almost uniformly, which hides what an expert cache is
// worth). The mechanism is a "massive activation", as real models have: dimension 0 of every
// embedding row holds a constant A, large enough to stay a strongly positive entry of the
// residual stream through every layer, and each router reads it through its column 0. In
// layer l the experts are ranked by a seeded permutation; the expert of rank j gets column-0
// weight skew * (1 - j / (n_expert - 1)) * s_l, with s_l chosen from the residual's expected
// growth so that the hottest expert's logit rises by about `skew` times the spread the
// router's random logits would have over independent inputs. Random models' hidden states are
// correlated across tokens, so on wide models the effect is stronger than that (skew 1 already
// concentrates a Mixtral-wide router on a few experts; a 64-wide one needs about 8). skew 0:
// no massive activation, the random routers alone.
#pragma once

#include <vector>

#include "model/ModelConfig.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct RouterSkewValues {
    float massive = 0.0f;                        // token_embd column 0 (every row)
    std::vector<std::vector<float>> router_col0; // (n_layer, n_expert) column 0 of each router
};

// weight_std: the standard deviation of the generated matrices' values. skew >= 0;
// cfg.is_moe() (checked).
RouterSkewValues router_skew_values(const ModelConfig& cfg, float skew, float weight_std, uint64 seed);

}  // namespace vk_symbiote
