#include "backend/cpu/MoeRouting.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <vector>

namespace vk_symbiote::cpu {

namespace {

// Veltkamp's split of v into hi + lo, each of at most 12 significant bits (products exact).
void split(float v, float& hi, float& lo) {
    const float c = 4097.0f * v;
    hi = c - (c - v);
    lo = v - hi;
}

// 1 / b by three Newton steps from the bit-pattern estimate (b > 0, normal).
float route_recip(float b) {
    float y = std::bit_cast<float>(0x7EF311C3u - std::bit_cast<uint32>(b));
    for (int i = 0; i < 3; ++i) y = y * (2.0f - b * y);
    return y;
}

// The constants as f32 bit patterns (moe_route.comp uses the same bits): log2(e); ln 2 in two
// parts (the first of 9 bits: k times it is exact); 1 / 7!, 1 / 6!, ..., 1 / 3!.
float bits(uint32 b) { return std::bit_cast<float>(b); }
const float kLog2e = bits(0x3FB8AA3B), kLn2Hi = bits(0x3F318000), kLn2Lo = bits(0xB95E8083);
const float kC7 = bits(0x39500D01), kC6 = bits(0x3AB60B61), kC5 = bits(0x3C088889), kC4 = bits(0x3D2AAAAB), kC3 = bits(0x3E2AAAAB);

}  // namespace

float route_exp(float x) {
    if (!(x >= -80.0f)) return 0.0f;
    const float k = std::floor(x * kLog2e + 0.5f);
    const float f = (x - k * kLn2Hi) - k * kLn2Lo;
    float p = kC7;
    p = p * f + kC6;
    p = p * f + kC5;
    p = p * f + kC4;
    p = p * f + kC3;
    p = p * f + 0.5f;
    p = p * f + 1.0f;
    p = p * f + 1.0f;
    return p * std::bit_cast<float>(uint32(int32(k) + 127) << 23);  // 2^k, k in [-116, 0]: normal
}

float route_div(float a, float b) {
    const float y = route_recip(b), q = a * y, prod = q * b;
    float qh, ql, bh, bl;
    split(q, qh, ql);
    split(b, bh, bl);
    const float err = ((qh * bh - prod) + qh * bl + ql * bh) + ql * bl;  // q b = prod + err exactly
    const float r = (a - prod) - err;
    return q + r * y;
}

void route_token(const float* logits, const ModelConfig& cfg, ExpertChoice* out) {
    const uint32 X = cfg.n_expert, k = cfg.n_expert_used;
    const float mx = *std::max_element(logits, logits + X);
    float sum = 0.0f;
    for (uint32 e = 0; e < X; ++e) sum += route_exp(logits[e] - mx);
    std::vector<uint32> order(X);
    for (uint32 e = 0; e < X; ++e) order[e] = e;
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](uint32 a, uint32 b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    std::vector<float> p(k);  // the chosen experts' softmax
    float chosen = 0.0f;
    for (uint32 i = 0; i < k; ++i) chosen += p[i] = route_div(route_exp(logits[order[i]] - mx), sum);
    for (uint32 i = 0; i < k; ++i) {
        const float w = cfg.expert_weights_norm ? route_div(p[i], chosen) : p[i];
        out[i] = {order[i], w * cfg.expert_weights_scale};
    }
}

}  // namespace vk_symbiote::cpu
