#include "model/RouterSkew.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace vk_symbiote {

namespace {

// What one layer adds to a residual entry, roughly, for random matrices of std s on an input
// of unit mean square: attention s sqrt(n_embd) values through Wo (s sqrt(q_dim)); an expert
// gate * up of about s^2 n_embd / 2 through down (s sqrt(n_ff_expert)).
double layer_increment(const ModelConfig& c, double s) {
    const double attn = s * std::sqrt(double(c.q_dim())) * s * std::sqrt(double(c.n_embd));
    const double ffn = s * std::sqrt(double(c.n_ff_expert)) * s * s * double(c.n_embd) / 2.0;
    return std::max(s, std::sqrt(attn * attn + ffn * ffn));
}

}  // namespace

RouterSkewValues router_skew_values(const ModelConfig& c, float skew, float weight_std, uint64 seed) {
    VKS_CHECK(c.is_moe() && skew >= 0.0f, "router_skew_values: a mixture of experts and skew >= 0");
    RouterSkewValues v;
    v.router_col0.assign(c.n_layer, std::vector<float>(c.n_expert, 0.0f));
    if (skew == 0.0f) return v;
    const double s = weight_std, E = c.n_embd, r = layer_increment(c, s);
    // A: twice the residual's typical entry after the last layer.
    const double A = 2.0 * std::sqrt(double(c.n_layer)) * r;
    v.massive = float(A);
    std::mt19937_64 rng(seed ^ 0x5ce3ull);
    std::vector<uint32> rank(c.n_expert);
    for (uint32 l = 0; l < c.n_layer; ++l) {
        // What layer l's FFN norm makes of dimension 0 (x0, the norm weights are about 1) when
        // the other entries have the mean square of an embedding plus l and a half layers;
        // the router's random logits then vary with s |x without dimension 0|.
        const double others = s * s + (double(l) + 0.5) * r * r;
        const double x0 = std::min(A / std::sqrt(A * A / E + others), 0.999 * std::sqrt(E));
        const double unit = skew * s * std::sqrt(E - x0 * x0) / x0;  // column-0 weight per unit of rank share
        std::iota(rank.begin(), rank.end(), 0u);
        for (uint32 i = c.n_expert; i-- > 1;) std::swap(rank[i], rank[rng() % (i + 1)]);  // Fisher-Yates, the same on every platform
        for (uint32 j = 0; j < c.n_expert; ++j) {
            const double share = c.n_expert > 1 ? 1.0 - double(j) / double(c.n_expert - 1) : 1.0;
            v.router_col0[l][rank[j]] = float(unit * share);
        }
    }
    return v;
}

}  // namespace vk_symbiote
