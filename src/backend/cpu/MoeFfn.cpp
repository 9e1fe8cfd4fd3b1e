#include "backend/cpu/MoeFfn.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace vk_symbiote::cpu {

uint64 MoeFfn::floats_per_token(const ModelConfig& c) {
    // logits, choices (two words each), gathered x, gate, up, expert output.
    return c.n_expert + 2ull * c.n_expert_used + 2ull * c.n_embd + 2ull * c.n_ff_expert;
}

void MoeFfn::prepare(const ModelConfig& c, uint32 n_batch) {
    cfg_ = c;
    logits_.assign(uint64(n_batch) * c.n_expert, 0.0f);
    choices_.assign(uint64(n_batch) * c.n_expert_used, ExpertChoice{});
    tokens_of_.assign(c.n_expert, {});
    weights_of_.assign(c.n_expert, {});
    xg_.assign(uint64(n_batch) * c.n_embd, 0.0f);
    gate_.assign(uint64(n_batch) * c.n_ff_expert, 0.0f);
    up_.assign(uint64(n_batch) * c.n_ff_expert, 0.0f);
    yg_.assign(uint64(n_batch) * c.n_embd, 0.0f);
}

void MoeFfn::route(uint32 n) {
    for (uint32 e = 0; e < cfg_.n_expert; ++e) {
        tokens_of_[e].clear();
        weights_of_[e].clear();
    }
    const uint32 k = cfg_.n_expert_used;
    for (uint32 t = 0; t < n; ++t) {
        ExpertChoice* c = choices_.data() + uint64(t) * k;
        route_token(logits_.data() + uint64(t) * cfg_.n_expert, cfg_, c);
        for (uint32 i = 0; i < k; ++i) {
            tokens_of_[c[i].expert].push_back(t);
            weights_of_[c[i].expert].push_back(c[i].weight);
        }
    }
}

ExpectedVoid MoeFfn::forward(uint32 l, const float* x, uint32 n, float* out, WeightProvider& weights, const ProjectFn& project) {
    const uint64 E = cfg_.n_embd, X = cfg_.n_expert;
    if (n == 0 || uint64(n) * X > logits_.size())
        return make_error(ErrorCode::InvalidArgument, "moe ffn: a batch of " + std::to_string(n) + " tokens (prepared for " +
                                                          std::to_string(logits_.size() / std::max<uint64>(X, 1)) + ")");
    VKS_TRY(project({{{TensorRole::Router, int32(l)}, X, E, x, E, n, logits_.data(), X}}));
    route(n);
    std::vector<uint32> counts(X);
    for (uint32 e = 0; e < X; ++e) counts[e] = uint32(tokens_of_[e].size());
    weights.experts_routed(l, counts, n);
    std::fill(out, out + uint64(n) * E, 0.0f);
    for (uint32 e = 0; e < X; ++e)
        if (counts[e] > 0) VKS_TRY(run_expert(l, e, x, n, out, project));
    return {};
}

ExpectedVoid MoeFfn::run_expert(uint32 l, uint32 e, const float* x, uint32 n, float* out, const ProjectFn& project) {
    const uint64 E = cfg_.n_embd, F = cfg_.n_ff_expert;
    const std::vector<uint32>& toks = tokens_of_[e];
    const uint32 m = uint32(toks.size());
    // The tokens' rows, gathered unless they are all n tokens in order (always so in decode).
    const float* xs = x;
    if (m < n) {
        for (uint32 i = 0; i < m; ++i) std::memcpy(xg_.data() + uint64(i) * E, x + uint64(toks[i]) * E, E * sizeof(float));
        xs = xg_.data();
    }
    const int32 L = int32(l), X = int32(e);
    VKS_TRY(project({{{TensorRole::ExpGate, L, X}, F, E, xs, E, m, gate_.data(), F}, {{TensorRole::ExpUp, L, X}, F, E, xs, E, m, up_.data(), F}}));
    for (uint32 i = 0; i < m; ++i) {
        if (cfg_.activation == FfnActivation::GeluTanh) geglu(gate_.data() + uint64(i) * F, up_.data() + uint64(i) * F, F);
        else swiglu(gate_.data() + uint64(i) * F, up_.data() + uint64(i) * F, F);
    }
    VKS_TRY(project({{{TensorRole::ExpDown, L, X}, E, F, gate_.data(), F, m, yg_.data(), E}}));
    for (uint32 i = 0; i < m; ++i) axpy_f32(weights_of_[e][i], yg_.data() + uint64(i) * E, out + uint64(toks[i]) * E, E);
    return {};
}

}  // namespace vk_symbiote::cpu
