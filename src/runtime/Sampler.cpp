#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace vk_symbiote {

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

uint32 Sampler::argmax(const float* logits, uint32 n) {
    uint32 best = 0;
    for (uint32 i = 1; i < n; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

void Sampler::apply_penalties(float* logits, uint32 n, const std::vector<uint32>& history) const {
    const bool any = p_.repeat_penalty != 1.0f || p_.frequency_penalty != 0.0f || p_.presence_penalty != 0.0f;
    if (!any || p_.repeat_last_n == 0) return;
    std::unordered_map<uint32, uint32> count;  // token -> occurrences in the window
    const size_t start = history.size() > p_.repeat_last_n ? history.size() - p_.repeat_last_n : 0;
    for (size_t i = start; i < history.size(); ++i)
        if (history[i] < n) ++count[history[i]];
    for (const auto& [t, c] : count) {
        // Repetition (CTRL style, as llama.cpp): divide positive logits, multiply the others.
        logits[t] = logits[t] <= 0 ? logits[t] * p_.repeat_penalty : logits[t] / p_.repeat_penalty;
        logits[t] -= float(c) * p_.frequency_penalty + p_.presence_penalty;
    }
}

uint32 Sampler::sample(float* logits, uint32 n, const std::vector<uint32>& history) {
    apply_penalties(logits, n, history);
    if (p_.temperature <= 0.0f) return argmax(logits, n);
    const std::vector<double> pr = distribution(logits, n);
    std::discrete_distribution<size_t> dist(pr.begin(), pr.end());
    return cand_[dist(rng_)].second;
}

uint32 Sampler::verify(float* logits, uint32 n, const std::vector<uint32>& history, uint32 draft) {
    apply_penalties(logits, n, history);
    if (p_.temperature <= 0.0f) return argmax(logits, n);
    // The draft is a point mass q = 1 at `draft`: accept with min(1, p / q) = p(draft); on
    // rejection draw from norm(max(0, p - q)), i.e. p without the draft, renormalized.
    std::vector<double> pr = distribution(logits, n);
    double p_draft = 0;
    for (size_t i = 0; i < cand_.size(); ++i)
        if (cand_[i].second == draft) p_draft = pr[i];
    if (std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p_draft) return draft;
    for (size_t i = 0; i < cand_.size(); ++i)
        if (cand_[i].second == draft) pr[i] = 0;
    std::discrete_distribution<size_t> dist(pr.begin(), pr.end());
    return cand_[dist(rng_)].second;
}

std::vector<double> Sampler::distribution(const float* logits, uint32 n) {
    cand_.resize(n);
    for (uint32 i = 0; i < n; ++i) cand_[i] = {logits[i], i};
    auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    size_t k = (p_.top_k > 0 && p_.top_k < n) ? p_.top_k : n;
    std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.end(), by_logit);
    cand_.resize(k);

    // Softmax over the survivors (unscaled) for top-p / min-p, as llama.cpp does before temperature.
    auto softmax = [&](float temp) {
        std::vector<double> pr(cand_.size());
        double mx = cand_[0].first, sum = 0;
        for (size_t i = 0; i < cand_.size(); ++i) sum += pr[i] = std::exp((cand_[i].first - mx) / temp);
        for (auto& x : pr) x /= sum;
        return pr;
    };
    if (p_.top_p < 1.0f) {
        auto pr = softmax(1.0f);
        double cum = 0;
        size_t keep = cand_.size();
        for (size_t i = 0; i < pr.size(); ++i) {
            cum += pr[i];
            if (cum >= p_.top_p) { keep = i + 1; break; }
        }
        cand_.resize(std::max<size_t>(keep, 1));
    }
    if (p_.min_p > 0.0f) {
        auto pr = softmax(1.0f);
        double thr = pr[0] * p_.min_p;
        size_t keep = 1;
        while (keep < pr.size() && pr[keep] >= thr) ++keep;
        cand_.resize(keep);
    }
    return softmax(p_.temperature);
}

}  // namespace vk_symbiote
