// MoeRouting: the router's choice of a mixture-of-experts layer (ModelConfig::is_moe()), as one
// exact sequence of f32 operations that the GPU's routing kernel (shaders/moe_route.comp)
// repeats operation for operation, so that host and device routing choose the same experts
// with the same weights, bit for bit, on any Vulkan device (whose f32 add, sub and mul are
// correctly rounded; its exp and division are not, so neither is used):
//
//   m   = max_e r_e                         r: (n_expert) f32 router logits
//   x_e = route_exp(r_e - m),  s = sum_e x_e (in expert order)
//   p_e = route_div(x_e, s)                 the softmax
//   S   = the n_expert_used largest r_e     ties: the lower expert first (the softmax is
//                                           monotone: these are the largest p_e)
//   w_e = p_e / sum_{S} p (route_div, expert_weights_norm; the sum in the order of S),
//         times expert_weights_scale
//
// Both families route so: Mixtral (softmax, top k, renormalized) and qwen3moe (the same with
// norm_topk_prob as expert_weights_norm). This file is compiled without floating-point
// contraction (no fused multiply-add) so that every operation rounds as written.
#pragma once

#include "model/ModelConfig.h"

namespace vk_symbiote::cpu {

// One expert a token uses and its weight in the token's FFN output.
struct ExpertChoice {
    uint32 expert = 0;
    float weight = 0;
};

// Largest router width and choice the device kernel takes (its shared flags and registers).
constexpr uint32 kRouteMaxExperts = 256;
constexpr uint32 kRouteMaxUsed = 16;

// exp(x) for x <= 0 within a few 1e-8 relative: 0 below -80 (and for NaN); else x = k ln2 + f
// (Cody-Waite, |f| <= ln2 / 2), exp(f) by its Taylor series to f^7, times 2^k.
float route_exp(float x);
// a / b for b > 0 (normal): a times a Newton reciprocal of b, corrected by the exactly
// computed residual a - q b (Dekker's product); within an ulp or two, exact for a / (2 a).
float route_div(float a, float b);

// The router's choice for one token: logits[n_expert] -> out[n_expert_used], largest
// logit first (see above). Pure.
void route_token(const float* logits, const ModelConfig& cfg, ExpertChoice* out);

}  // namespace vk_symbiote::cpu
