// MoeFfn: the feed-forward block of a mixture-of-experts layer on the CPU (ModelConfig::
// is_moe()), the function llama.cpp computes (its exp and divisions replaced by MoeRouting's):
//
//   r = Router x                      (n_expert) f32 router logits
//   S, w = route_token(r)             the n_expert_used chosen experts and their weights
//                                     (softmax, top k, renormalized: MoeRouting.h)
//   out = sum_{e in S} w_e down_e(act(gate_e x) * up_e x)
//
// Only the selected experts' weights are acquired, and the provider hears the router's
// choice before the first of them (WeightProvider::experts_routed), so a provider under a
// RAM budget reads only those. A prompt batch is grouped by expert: each selected expert's
// three matmuls run once over the rows of all the tokens routed to it.
#pragma once

#include <vector>

#include "backend/cpu/CpuKernels.h"
#include "backend/cpu/MoeRouting.h"
#include "backend/cpu/ProjectJob.h"
#include "memory/WeightProvider.h"
#include "model/ModelConfig.h"

namespace vk_symbiote::cpu {

class MoeFfn {
public:
    // Buffers for batches of up to n_batch tokens (std::bad_alloc when memory is short).
    void prepare(const ModelConfig& cfg, uint32 n_batch);
    // out (n, n_embd) = the layer's expert mixture of the FFN-normed input x (n, n_embd).
    // project runs the router's and the experts' projections (CpuBackend::project_all).
    ExpectedVoid forward(uint32 layer, const float* x, uint32 n, float* out, WeightProvider& weights, const ProjectFn& project);
    // Floats the buffers hold per token of a batch (for the RAM estimate).
    static uint64 floats_per_token(const ModelConfig& cfg);
    // Token t's choice in the last forward(): n_expert_used entries.
    const ExpertChoice* choice(uint32 t) const { return choices_.data() + uint64(t) * cfg_.n_expert_used; }

private:
    // Routes every token and groups the tokens by expert (tokens_of_).
    void route(uint32 n);
    // Expert e over the tokens routed to it, added to out with their weights.
    ExpectedVoid run_expert(uint32 layer, uint32 e, const float* x, uint32 n, float* out, const ProjectFn& project);

    ModelConfig cfg_;
    std::vector<float> logits_;                  // (n_batch, n_expert) router logits
    std::vector<ExpertChoice> choices_;          // (n_batch, n_expert_used)
    std::vector<std::vector<uint32>> tokens_of_; // (n_expert) tokens routed to each expert, ascending
    std::vector<std::vector<float>> weights_of_; // (n_expert) their weights, same order
    std::vector<float> xg_;                      // (n_batch, n_embd) gathered rows of one expert's tokens
    std::vector<float> gate_;                    // (n_batch, n_ff_expert) gate, then act(gate) * up
    std::vector<float> up_;                      // (n_batch, n_ff_expert)
    std::vector<float> yg_;                      // (n_batch, n_embd) the expert's output rows
};

}  // namespace vk_symbiote::cpu
