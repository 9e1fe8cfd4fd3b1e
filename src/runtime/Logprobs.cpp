#include "runtime/Logprobs.h"

#include <algorithm>
#include <cmath>

namespace vk_symbiote {

namespace {
// log(sum(exp(logits))) computed around the maximum, so no term overflows.
double log_sum_exp(const float* logits, uint32 n) {
    const float mx = *std::max_element(logits, logits + n);
    double sum = 0;
    for (uint32 i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - mx);
    return mx + std::log(sum);
}
}  // namespace

TokenLogprob token_logprobs(const float* logits, uint32 n, uint32 token, uint32 k) {
    TokenLogprob lp;
    lp.token = token;
    if (n == 0 || token >= n) return lp;
    const double log_z = log_sum_exp(logits, n);
    lp.logprob = float(logits[token] - log_z);
    std::vector<std::pair<float, uint32>> order(n);  // (logit, id)
    for (uint32 i = 0; i < n; ++i) order[i] = {logits[i], i};
    const uint32 keep = std::min(k, n);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    for (uint32 i = 0; i < keep; ++i) lp.top.emplace_back(order[i].second, float(order[i].first - log_z));
    return lp;
}

}  // namespace vk_symbiote
