// StagePlan: which contiguous range of layers each rank of a pipeline holds (pure arithmetic,
// no MPI, unit-tested). Rank 0 also holds the embedding, the last rank the output norm and
// the head; only activations (f32 rows of n_embd per token) cross between ranks.
//
// The rule (docs/pipeline.md): rank r's share of the layers is proportional to its weight
// w_r = (VRAM GiB + RAM GiB) x speed_r, where the budgets and the speed come from --budgets
// "V:R[:S],V:R[:S],..." (one entry per rank; speed 1 when left out), else every rank's own
// --vram-gb / --ram-gb with speed 1. Layers go out by cumulative rounding, so the ranges are
// contiguous, cover [0, n_layer) and every rank has at least one layer.
#pragma once

#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::pipeline {

// One rank's budgets (GiB, as --vram-gb / --ram-gb) and relative speed.
struct RankBudget {
    double vram_gb = 0;
    double ram_gb = 0;
    double speed = 1;
    double weight() const { return (vram_gb + ram_gb) * speed; }
};

// Layers [first, end) of one rank.
struct LayerRange {
    uint32 first = 0;
    uint32 end = 0;
    uint32 count() const { return end - first; }
};

// "4:16,8:32:2" -> {4 GiB VRAM, 16 GiB RAM, speed 1}, {8, 32, speed 2}. InvalidArgument naming
// --budgets and the entry for anything else (a missing field, a negative or non-finite
// number, a speed of 0).
Expected<std::vector<RankBudget>> parse_budgets(const std::string& text);

// The ranges of n_layer layers over budgets.size() ranks. InvalidArgument when there are more
// ranks than layers or every weight is 0.
Expected<std::vector<LayerRange>> plan_stages(uint32 n_layer, const std::vector<RankBudget>& budgets);

}  // namespace vk_symbiote::pipeline
