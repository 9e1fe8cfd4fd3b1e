#include "oracle/ExpertPopularity.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

ExpertPopularity::ExpertPopularity(uint32 n_layer, uint32 n_expert, uint32 n_used, float half_life_tokens)
    : n_layer_(n_layer), n_expert_(n_expert), n_used_(std::min(n_used, n_expert)) {
    VKS_CHECK(half_life_tokens > 0.0f, "ExpertPopularity: half life must be positive");
    keep_per_token_ = std::pow(0.5, 1.0 / double(half_life_tokens));
    const float prior = n_expert ? float(n_used_) / float(n_expert) : 0.0f;
    p_.assign(uint64(n_layer) * n_expert, prior);
    hot_.assign(uint64(n_layer) * n_expert, 0);
    for (uint32 l = 0; l < n_layer; ++l) rank(l);
}

void ExpertPopularity::record(uint32 layer, const std::vector<uint32>& counts, uint32 n_tokens) {
    if (layer >= n_layer_ || counts.size() != n_expert_ || n_tokens == 0) return;
    // n tokens of equal age: p <- keep^n p + (1 - keep^n) (share of the batch that chose e).
    const double keep = std::pow(keep_per_token_, double(n_tokens));
    float* p = p_.data() + uint64(layer) * n_expert_;
    for (uint32 e = 0; e < n_expert_; ++e) {
        const double share = double(std::min(counts[e], n_tokens)) / double(n_tokens);
        p[e] = float(keep * p[e] + (1.0 - keep) * share);
    }
    rank(layer);
}

void ExpertPopularity::rank(uint32 layer) {
    std::vector<uint32> order(n_expert_);
    for (uint32 e = 0; e < n_expert_; ++e) order[e] = e;
    const float* p = p_.data() + uint64(layer) * n_expert_;
    std::partial_sort(order.begin(), order.begin() + n_used_, order.end(), [p](uint32 a, uint32 b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    uint8* hot = hot_.data() + uint64(layer) * n_expert_;
    std::fill(hot, hot + n_expert_, uint8(0));
    for (uint32 i = 0; i < n_used_; ++i) hot[order[i]] = 1;
}

}  // namespace vk_symbiote
